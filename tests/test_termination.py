"""Termination: the reported status must match the point the solver stopped at.

Regression tests for issue 10, each named after the bug it pins:

A. Trust-region Newton declared non-stationary points converged when the
   Hessian vanished (least absolute deviations, linear objectives): the
   Newton step along a zero-curvature direction was taken as 0, "resolved".
B. ``least_squares`` on noise-free data returned the exact answer as STALLED:
   the residuals are rounding noise there, so the angle test cannot pass.
C. A finite objective with a non-finite gradient or Hessian (the ``jnp.where``
   pitfall of the JAX FAQ) spun to ``max_steps`` instead of saying so.

Every expected number is a closed form computed here, not by hessjax.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

EPS = float(np.finfo(np.float64).eps)
S = hj.Status


# ------------------------------------------------------------------ A: Newton


# Least absolute deviations: every residual y_i - b0 - b1 x_i is positive at
# b = 0, so the gradient there is exactly (-n, -sum x_i) = (-5, -10) and the
# Hessian is exactly 0 (the objective is piecewise linear).
LAD_X = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
LAD_Y = np.array([1.0, 3.2, 4.9, 7.1, 9.0])
LAD_GRAD_AT_0 = np.array([-LAD_X.size, -LAD_X.sum()])


def least_absolute_deviations(b, x, y):
    return jnp.sum(jnp.abs(y - b[0] - b[1] * x))


def test_newton_lad_stays_at_x0_is_not_success():
    # max_steps=0 reports what terminate() says at x0: before the fix, SUCCESS.
    with pytest.warns(hj.ConvergenceWarning, match="MAX_STEPS"):
        at_x0 = hj.minimize(least_absolute_deviations, np.zeros(2), LAD_X, LAD_Y,
                            method="newton", max_steps=0)
    assert int(at_x0.status) == S.MAX_STEPS
    np.testing.assert_array_equal(np.asarray(at_x0.grad), LAD_GRAD_AT_0)
    assert float(at_x0.fun) == LAD_Y.sum()

    # A full run moves off x0 and, the objective being non-smooth at its
    # minimum, never passes the gradient test: it must not claim success.
    with pytest.warns(hj.ConvergenceWarning):
        res = hj.minimize(least_absolute_deviations, np.zeros(2), LAD_X, LAD_Y, method="newton")
    assert not bool(res.success)
    assert int(res.status) in (S.STALLED, S.MAX_STEPS)
    assert float(res.fun) < LAD_Y.sum()


@pytest.mark.parametrize(
    "objective, gradient",
    [
        (lambda x: jnp.sum(x), np.array([1.0, 1.0])),
        (lambda x: x[0] + 0.0 * x[1] ** 2, np.array([1.0, 0.0])),
    ],
    ids=["sum", "x0_plus_zero_curvature"],
)
def test_newton_linear_objective_is_not_success(objective, gradient):
    # The Hessian is exactly 0 and the gradient exactly `gradient` everywhere:
    # no minimum exists, at x0 or anywhere.
    with pytest.warns(hj.ConvergenceWarning, match="MAX_STEPS"):
        at_x0 = hj.minimize(objective, np.zeros(2), method="newton", max_steps=0)
    assert int(at_x0.status) == S.MAX_STEPS
    np.testing.assert_array_equal(np.asarray(at_x0.grad), gradient)

    with pytest.warns(hj.ConvergenceWarning):
        res = hj.minimize(objective, np.zeros(2), method="newton", max_steps=50)
    assert not bool(res.success)
    np.testing.assert_array_equal(np.asarray(res.grad), gradient)
    assert float(res.fun) < 0.0  # it went downhill, as far as 50 steps allow


QUADRATIC_A = np.array([[4.0, 1.0], [1.0, 3.0]])
QUADRATIC_C = np.array([1.5, -2.0])


def test_newton_quadratic_still_converges():
    def quadratic(x):
        d = x - QUADRATIC_C
        return 0.5 * d @ QUADRATIC_A @ d

    res = hj.minimize(quadratic, np.zeros(2), method="newton")
    assert bool(res.success) and int(res.status) == S.SUCCESS
    # One exact Newton step solves a quadratic; rounding of the 2x2 solve
    # (condition number ~2.6) leaves a few ulps.
    np.testing.assert_allclose(np.asarray(res.x), QUADRATIC_C, rtol=16 * EPS, atol=0)


def test_newton_flat_direction_with_zero_gradient_still_converges():
    # Zero curvature along x[1] but also an exactly zero gradient there (the
    # hard case): nothing to resolve, so the minimum in x[0] is a success.
    res = hj.minimize(lambda x: (x[0] - 3.0) ** 2 + 0.0 * x[1], np.array([0.0, 5.0]),
                      method="newton")
    assert bool(res.success)
    np.testing.assert_allclose(np.asarray(res.x), [3.0, 5.0], rtol=4 * EPS, atol=0)


# --------------------------------------------------------- B: least squares

# Noise-free data: the residuals at the solution are the rounding of y and of
# the model, |r_i| <~ eps max|y|. The accuracy the optimizer can promise is
# its own step test (the next Gauss–Newton step within 16 ulps of x), plus the
# change of the least-squares solution that fitting that rounding causes
# (another few ulps for these well-conditioned two-parameter problems).
NOISE_FREE_RTOL = 32 * EPS


def _decay(b, x, y):
    return y - b[0] * jnp.exp(-b[1] * x)


def _line(b, x, y):
    return y - (b[0] + b[1] * x)


@pytest.mark.parametrize(
    "residuals, truth, curve, init",
    [
        (_decay, np.array([2.0, 0.7]), lambda b, x: b[0] * np.exp(-b[1] * x), np.array([1.0, 0.1])),
        (_line, np.array([0.1, 0.3]), lambda b, x: b[0] + b[1] * x, np.zeros(2)),
    ],
    ids=["exponential_decay", "straight_line"],
)
def test_least_squares_noise_free_data_converges(residuals, truth, curve, init):
    x = np.linspace(0.0, 4.0, 40)
    y = curve(truth, x)
    res = hj.least_squares(residuals, init, x, y)  # no ConvergenceWarning (errors here)
    assert int(res.optimizer.status) == S.SUCCESS
    assert bool(res.converged)
    np.testing.assert_allclose(res.estimate, truth, rtol=NOISE_FREE_RTOL, atol=0)
    # The residuals are at the rounding level of the data.
    assert float(res.rss) <= x.size * (EPS * np.max(np.abs(y))) ** 2


# ------------------------------------------------- C: non-finite derivatives


def entropy_penalty(p):
    # p log p with the convention 0 log 0 = 0, written with the single-where
    # pitfall: at p_i = 0 the value is finite but d/dp of the discarded
    # branch, log(p) + 1 = -inf, times the zero cotangent gives a NaN gradient.
    return jnp.sum(jnp.where(p > 0, p * jnp.log(p), 0.0)) + jnp.sum((p - 0.5) ** 2)


ENTROPY_X0 = np.array([0.0, 0.25])


@pytest.mark.parametrize("method", ["bfgs", "newton"])
def test_where_pitfall_nan_gradient_stops_at_once(method):
    with pytest.warns(hj.ConvergenceWarning, match="NONFINITE_DERIVATIVE"):
        res = hj.minimize(entropy_penalty, ENTROPY_X0, method=method)
    assert int(res.status) == S.NONFINITE_DERIVATIVE
    assert res.message == S.NONFINITE_DERIVATIVE.message
    assert int(res.nit) == 0
    np.testing.assert_array_equal(np.asarray(res.x), ENTROPY_X0)
    expected_f = 0.25 * np.log(0.25) + 0.25 + 0.0625
    assert float(res.fun) == pytest.approx(expected_f, rel=4 * EPS)
    grad = np.asarray(res.grad)
    assert np.isnan(grad[0])
    assert grad[1] == pytest.approx(np.log(0.25) + 1.0 + 2 * (0.25 - 0.5), rel=4 * EPS)


def power_penalty(p):
    # (p_0)^1.5 for p_0 > 0, else 0: at p_0 = 0 the value and the gradient
    # (1.5 p^0.5 = 0) are finite, but the second derivative 0.75 p^-0.5 is
    # inf, and inf * 0 = NaN: a finite gradient with a NaN Hessian row.
    return jnp.where(p[0] > 0, p[0] ** 1.5, 0.0) + (p[0] - 1.0) ** 2 + (p[1] - 2.0) ** 2


def test_newton_nan_hessian_with_finite_gradient_stops_at_once():
    # Before the fix: every step rejected until MAX_STEPS, without moving.
    with pytest.warns(hj.ConvergenceWarning, match="NONFINITE_DERIVATIVE"):
        res = hj.minimize(power_penalty, np.zeros(2), method="newton")
    assert int(res.status) == S.NONFINITE_DERIVATIVE
    assert int(res.nit) == 0
    assert float(res.fun) == 5.0
    np.testing.assert_array_equal(np.asarray(res.grad), [-2.0, -4.0])


def test_status_values_keep_their_numbers():
    assert [(s.name, int(s)) for s in S] == [
        ("SUCCESS", 0), ("MAX_STEPS", 1), ("LINE_SEARCH_FAILED", 2), ("NONFINITE", 3),
        ("STALLED", 4), ("NONFINITE_DERIVATIVE", 5),
    ]
    assert "double where" in S.NONFINITE_DERIVATIVE.message
    assert "jnp.where(x > 0, jnp.log(safe), 0.0)" in S.NONFINITE_DERIVATIVE.message


def dict_power_penalty(p):
    # Only p["b"][1] enters the non-differentiable branch (see power_penalty).
    b = p["b"]
    return jnp.sum(p["a"] ** 2) + jnp.sum(b**2) + jnp.where(b[1] > 0, b[1] ** 1.5, 0.0)


def test_hessian_warns_once_naming_nonfinite_rows():
    params = {"a": np.array([1.0, 2.0]), "b": np.array([1.0, 0.0])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hess = np.asarray(hj.hessian(dict_power_penalty, params))
    hessjax_warnings = [w for w in caught if issubclass(w.category, hj.HessjaxWarning)]
    assert len(hessjax_warnings) == 1
    warning = hessjax_warnings[0]
    assert warning.category is hj.HessianWarning
    assert warning.filename == __file__  # attributed to the caller's line
    message = str(warning.message)
    assert "b[1]" in message and "a[0]" not in message and "b[0]" not in message
    assert "jnp.where(x > 0, jnp.log(safe), 0.0)" in message
    # Order a[0], a[1], b[0], b[1]: only the last row is not finite; the rest
    # is the closed form 2 I.
    assert hj.param_names(params) == ["a[0]", "a[1]", "b[0]", "b[1]"]
    assert not np.any(np.isfinite(hess[3]))
    np.testing.assert_array_equal(hess[:3], 2.0 * np.eye(4)[:3])


def test_hessian_no_warning_when_f_is_not_finite():
    # f = sum sqrt(p) is NaN at p = -1: a non-finite Hessian is expected there.
    hess = np.asarray(hj.hessian(lambda p: jnp.sum(jnp.sqrt(p)), np.array([-1.0, 4.0])))
    assert not np.isfinite(hess[0, 0])


def test_hessian_no_warning_under_jit():
    params = {"a": np.array([1.0, 2.0]), "b": np.array([1.0, 0.0])}
    with jax.enable_x64(True):
        hess = jax.jit(lambda p: hj.hessian(dict_power_penalty, p))(params)
    assert not np.all(np.isfinite(np.asarray(hess)))


def test_hessian_check_evaluates_f_only_when_not_finite():
    traces = []

    def counted(p, c):
        traces.append(None)
        return jnp.sum(jnp.where(p > c, (p - c) ** 1.5, 0.0)) + jnp.sum(p**2)

    hj.hessian(counted, np.array([2.0, 3.0]), 1.0)  # finite: the Hessian's traces only
    finite_traces = len(traces)
    hj.hessian(counted, np.array([2.0, 3.0]), 1.0)
    assert len(traces) == finite_traces  # nothing recompiled or re-evaluated
    with pytest.warns(hj.HessianWarning, match=r"x\[1\]"):
        hj.hessian(counted, np.array([2.0, 1.0]), 1.0)  # same shapes: no new Hessian trace
    assert len(traces) == finite_traces + 1  # f itself, traced once for the check


def sqrt_rate_residuals(b, x, y):
    # sqrt(b1) at b1 = 0 is 0, but its derivative 1/(2 sqrt(b1)) is inf: the
    # residuals are finite and the Jacobian column of b1 is -inf * x.
    return y - b[0] - jnp.sqrt(b[1]) * x


def test_least_squares_nonfinite_jacobian_names_the_parameter():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = 1.0 + 2.0 * x
    with pytest.warns(hj.ConvergenceWarning, match="NONFINITE_DERIVATIVE") as record:
        res = hj.least_squares(sqrt_rate_residuals, np.array([1.0, 0.0]), x, y)
    assert int(res.optimizer.status) == S.NONFINITE_DERIVATIVE
    assert int(res.optimizer.nit) == 0
    np.testing.assert_array_equal(res.residuals, 2.0 * x)  # y - 1 - 0 * x
    messages = [str(w.message) for w in record if w.category is hj.ConvergenceWarning]
    # Only the rate enters the singular sqrt; the intercept's derivative is finite.
    assert any("not finite in x[1]." in m for m in messages), messages
