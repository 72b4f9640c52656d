"""Large-model path: Newton-CG, CG standard errors and Lanczos bounds against dense oracles.

The oracle for the p = 500 ridge-penalized logistic regression is the dense
pipeline (``hj.fit``: exact Hessian, trust-region Newton, Cholesky inverse,
NumPy ``eigvalsh``). Tolerances come from the methods' own error estimates:

* estimates: to first order x - x* = H^-1 g, so two points whose gradients
  are g_a, g_b differ by at most (||g_a|| + ||g_b||) / lambda_min;
* CG variances: e'x_k = e'H^-1 e - ||x - x_k||_H^2 <= ... short by at most
  rtol^2 cond(H) relative (Galerkin property), plus rounding of order
  cond(H) eps in both CG and the dense inverse;
* Lanczos: an eigenvalue lies within the residual bound of each Ritz value,
  plus the rounding of the products, sqrt(n) eps ||H||.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj
from hessjax.krylov import lanczos_extremes, lanczos_start, steihaug_cg
from hessjax.matrix_free import (
    LANCZOS_RTOL,
    LARGE_MODEL_THRESHOLD,
    EigenBounds,
    LargeFitResult,
    SelectedSE,
    extreme_eigenvalues,
    fit_large,
    selected_se,
)
from hessjax import minimize_newton_cg

EPS = np.finfo(np.float64).eps


def se_tolerance(kappa: float, n: int, rtol: float = float(np.sqrt(EPS))) -> float:
    """Relative SE tolerance of a CG solve against a dense inverse.

    CG's variance is short by at most rtol^2 kappa (half that for the SE);
    rounding contributes about sqrt(n) kappa eps to both CG and the dense inverse.
    """
    return 0.5 * rtol**2 * kappa + np.sqrt(n) * kappa * EPS


_NEGATED = {}


def negated(loglik):
    """-sum(loglik), one function object per loglik (so hj.hessian compiles it once)."""
    if loglik not in _NEGATED:
        _NEGATED[loglik] = lambda p, *d: -jnp.sum(loglik(p, *d))
    return _NEGATED[loglik]


def dense_se(params, *data, loglik):
    """sqrt(diag(inv(H))) with H = hj.hessian of the negative log-likelihood, and cond(H)."""
    H = np.asarray(hj.hessian(negated(loglik), params, *data))
    lam = np.linalg.eigvalsh(H)
    return np.sqrt(np.diag(np.linalg.inv(H))), lam[-1] / lam[0], H


def ridge_logistic(params, X, y, lam):
    eta = X @ params["beta"]
    penalty = 0.5 * lam * jnp.sum(params["beta"] ** 2)
    return jnp.sum(y * eta - jnp.logaddexp(0.0, eta)) - penalty


@pytest.fixture(scope="module")
def ridge():
    """p = 500 coefficients, N = 2000 observations, and the dense fit as the oracle."""
    rng = np.random.default_rng(20240605)
    n_obs, p = 2000, 500
    X = rng.standard_normal((n_obs, p))
    beta = rng.normal(0.0, 2.0 / np.sqrt(p), p)
    y = (rng.uniform(size=n_obs) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(np.float64)
    data = (X, y, 1.0)
    init = {"beta": np.zeros(p)}
    dense = hj.fit(ridge_logistic, init, *data)
    se, _, H = dense_se(dense.params, *data, loglik=ridge_logistic)
    eigenvalues = np.linalg.eigvalsh(H)
    return dict(data=data, init=init, dense=dense, H=H, se=se, eigenvalues=eigenvalues, p=p)


# ----------------------------------------------------------------------------------------
# against the dense pipeline
# ----------------------------------------------------------------------------------------


def test_fit_large_matches_dense_fit_on_ridge_logistic(ridge):
    which = list(range(0, 500, 50))
    res = fit_large(ridge_logistic, ridge["init"], *ridge["data"], which=which)
    dense = ridge["dense"]
    assert isinstance(res, LargeFitResult)
    assert bool(res.converged) and bool(res.hessian_is_pd) and bool(res.is_valid)
    assert not bool(res.is_saddle)
    # First order: both points are within ||g|| / lambda_min of the maximizer.
    lam_min = ridge["eigenvalues"][0]
    bound = (np.linalg.norm(res.grad["beta"]) + np.linalg.norm(dense.grad["beta"])) / lam_min
    assert np.linalg.norm(res.estimate - dense.estimate) <= bound
    assert np.max(np.abs(res.estimate - dense.estimate)) <= 1e-8 * np.max(np.abs(dense.estimate))
    assert res.se.names == tuple(f"beta[{i}]" for i in which)
    # The SEs against the dense inverse at fit_large's own estimate.
    se, kappa, _ = dense_se(res.params, *ridge["data"], loglik=ridge_logistic)
    np.testing.assert_allclose(res.se.se, se[which], rtol=se_tolerance(kappa, ridge["p"]))
    assert res.newton_decrement <= hj.diagnostics.decrement_tolerance
    assert "Certified maximum" in str(res) and "beta[450]" in str(res)


def test_selected_se_matches_inverse_of_dense_hessian(ridge):
    dense = ridge["dense"]
    which = [0, 3, 77, 101, 250, 251, 333, 404, 470, 499]
    rtol = 1e-7
    out = selected_se(ridge_logistic, dense.params, *ridge["data"], which=which, rtol=rtol)
    assert isinstance(out, SelectedSE)
    assert np.all(out.converged) and not np.any(out.indefinite)
    assert np.all(out.residual <= rtol * (1 + 1e-3))  # recomputed residual, not the recurrence
    reference = ridge["se"][which]
    kappa = ridge["eigenvalues"][-1] / ridge["eigenvalues"][0]
    np.testing.assert_allclose(out.se, reference, rtol=se_tolerance(kappa, ridge["p"], rtol))
    # CG only underestimates the variance (Galerkin lower bound), up to rounding.
    assert np.all(out.se <= reference * (1 + np.sqrt(ridge["p"]) * kappa * EPS))


def test_selected_se_of_a_whole_leaf_by_name(ridge):
    dense = ridge["dense"]
    out = selected_se(ridge_logistic, dense.params, *ridge["data"], which="beta")
    assert out.names == tuple(hj.param_names(dense.params))
    kappa = ridge["eigenvalues"][-1] / ridge["eigenvalues"][0]
    np.testing.assert_allclose(out.se, ridge["se"], rtol=se_tolerance(kappa, ridge["p"]))


def test_extreme_eigenvalues_match_eigvalsh_within_error_bounds(ridge):
    dense = ridge["dense"]
    lam = ridge["eigenvalues"]
    eig = extreme_eigenvalues(ridge_logistic, dense.params, *ridge["data"])
    assert isinstance(eig, EigenBounds)
    assert bool(eig.converged) and int(eig.steps) == 80
    rounding = np.sqrt(ridge["p"]) * EPS * lam[-1]
    assert abs(eig.min_eigenvalue - lam[0]) <= eig.min_error + rounding
    assert abs(eig.max_eigenvalue - lam[-1]) <= eig.max_error + rounding
    assert abs(eig.max_eigenvalue - lam[-1]) <= LANCZOS_RTOL * lam[-1]
    # Ritz values lie inside the spectrum (Cauchy interlacing).
    assert lam[0] - rounding <= eig.min_eigenvalue and eig.max_eigenvalue <= lam[-1] + rounding
    spread = (eig.min_error + rounding) / lam[0] + (eig.max_error + rounding) / lam[-1]
    np.testing.assert_allclose(eig.condition_number, lam[-1] / lam[0], rtol=spread)


def test_few_lanczos_steps_report_large_error_not_false_convergence(ridge):
    dense = ridge["dense"]
    lam = ridge["eigenvalues"]
    eig = extreme_eigenvalues(ridge_logistic, dense.params, *ridge["data"], k=20)
    assert not bool(eig.converged)
    rounding = np.sqrt(ridge["p"]) * EPS * lam[-1]
    assert lam[0] - rounding <= eig.min_eigenvalue <= lam[0] + eig.min_error
    assert lam[-1] - eig.max_error <= eig.max_eigenvalue <= lam[-1] + rounding


# ----------------------------------------------------------------------------------------
# the Newton-CG optimizer
# ----------------------------------------------------------------------------------------


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("x0", [[-1.2, 1.0], [-1.2, 1.0] * 5], ids=["n=2", "n=10"])
def test_newton_cg_reaches_rosenbrock_minimum(x0):
    res = minimize_newton_cg(rosenbrock, np.array(x0))
    assert bool(res.success) and int(res.status) == hj.Status.SUCCESS
    assert res.inv_hessian is None and int(res.nhev) > 0
    # Near x* = 1 the error is H^-1 g; the smallest eigenvalue of the
    # Rosenbrock Hessian at x* is above 0.3 for these n.
    assert np.linalg.norm(res.x - 1.0) <= np.linalg.norm(res.grad) / 0.3 + 16 * EPS
    assert res.fun <= 1e-20


def saddle(p):
    x, y = p[0], p[1]
    return x**2 - y**2 + y**4


def test_newton_cg_escapes_saddle_point():
    # From (1, 0) the gradient never has a y component: CG steps land exactly
    # on the saddle (0, 0), where only the Lanczos curvature check sees the
    # negative eigenvalue -2 and steps along it.
    res = minimize_newton_cg(saddle, np.array([1.0, 0.0]))
    assert bool(res.success)
    x, y = res.x
    # Closed form: minima at (0, +-1/sqrt(2)), f = -1/4, Hessian diag(2, 4).
    g = np.linalg.norm(res.grad)
    assert abs(x) <= g / 2.0 + EPS and abs(abs(y) - 1 / np.sqrt(2)) <= g / 4.0 + EPS
    assert abs(res.fun + 0.25) <= 4 * EPS
    # A gradient-only method stays on the saddle, where the gradient vanishes.
    bfgs = hj.minimize(saddle, np.array([1.0, 0.0]), method="bfgs")
    assert float(bfgs.x[1]) == 0.0


def test_steihaug_subproblem_interior_boundary_and_negative_curvature():
    A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
    g = np.array([1.0, -2.0, 0.5])
    with jax.enable_x64(True):
        hvp = lambda v: jnp.asarray(A) @ v  # noqa: E731
        newton = -np.linalg.solve(A, g)
        inner = steihaug_cg(hvp, jnp.asarray(g), 10.0, 1e-12, 3)
        np.testing.assert_allclose(inner.step, newton, rtol=1e-12)
        assert not bool(inner.boundary)
        np.testing.assert_allclose(inner.predicted, -(g @ newton + 0.5 * newton @ A @ newton), rtol=1e-12)
        radius = 0.1 * np.linalg.norm(newton)
        short = steihaug_cg(hvp, jnp.asarray(g), radius, 1e-12, 3)
        assert bool(short.boundary) and abs(np.linalg.norm(short.step) - radius) <= 4 * EPS * radius
        indefinite = np.diag([1.0, -1.0, 2.0])
        neg = steihaug_cg(lambda v: jnp.asarray(indefinite) @ v, jnp.asarray([0.0, 1.0, 0.0]), 2.0, 1e-12, 3)
        assert bool(neg.negative_curvature)
        np.testing.assert_allclose(neg.step, [0.0, -2.0, 0.0], atol=4 * EPS)
        assert float(neg.predicted) == pytest.approx(2.0 + 2.0, rel=4 * EPS)  # -(g'p + p'Hp/2)


def test_lanczos_breakdown_on_repeated_eigenvalues_is_exact():
    d = np.array([1.0, 5.0, 1.0, 5.0, 1.0])  # two distinct eigenvalues: invariant after 2 steps
    with jax.enable_x64(True):
        ritz = lanczos_extremes(lambda v: jnp.asarray(d) * v, lanczos_start(5), 5)
    assert int(ritz.steps) == 2
    assert abs(float(ritz.min_value) - 1.0) <= 8 * EPS and abs(float(ritz.max_value) - 5.0) <= 8 * 5 * EPS
    assert float(ritz.min_error) <= 8 * 5 * EPS and float(ritz.max_error) <= 8 * 5 * EPS


# ----------------------------------------------------------------------------------------
# trouble: indefinite and flat information
# ----------------------------------------------------------------------------------------


def quadratic_loglik(b, A):
    return -0.5 * b @ (A @ b)


def test_cg_on_indefinite_information_gives_nan_flag_and_warning():
    A = np.diag([2.0, 1.0, -1.0])
    with pytest.warns(hj.HessianWarning, match=r"x\[2\]"):
        out = selected_se(quadratic_loglik, np.zeros(3), A, which=[0, 2])
    assert out.names == ("x[0]", "x[2]")
    assert np.isnan(out.se[1]) and bool(out.indefinite[1]) and not bool(out.converged[1])
    # CG never meets the negative direction solving for x[0]: a finite SE
    # there does not certify H; the eigenvalue bounds do.
    assert out.se[0] == pytest.approx(np.sqrt(0.5), rel=4 * EPS) and not bool(out.indefinite[0])
    eig = extreme_eigenvalues(quadratic_loglik, np.zeros(3), A)
    assert float(eig.min_eigenvalue) == pytest.approx(-1.0, rel=8 * EPS)
    assert "not positive definite" in str(out)


def unidentified_loglik(p, y):
    return -0.5 * (y - p["a"] - p["b"]) ** 2


def test_fit_large_on_unidentified_model_flags_and_warns():
    y = np.array([1.0, 2.0, 3.0])
    with pytest.warns(hj.HessianWarning, match="numerically singular"):
        res = fit_large(unidentified_loglik, {"a": 0.0, "b": 0.0}, y)
    assert bool(res.converged) and not bool(res.hessian_is_pd) and not bool(res.is_valid)
    assert np.all(np.isnan(res.se.se))
    assert float(res.params["a"] + res.params["b"]) == pytest.approx(2.0, rel=8 * EPS)
    assert "NOT a certified maximum" in str(res)


# ----------------------------------------------------------------------------------------
# names and input validation
# ----------------------------------------------------------------------------------------


def small_loglik(p, y):
    return -0.5 * jnp.sum((y[:, None] - p["beta"]) ** 2) - 0.5 * p["log_s"] ** 2


SMALL = {"beta": np.zeros(5), "log_s": 0.0}
SMALL_Y = np.arange(4.0)


def test_which_accepts_names_indices_and_leaves():
    out = selected_se(small_loglik, SMALL, SMALL_Y, which="beta[3]")
    assert out.names == ("beta[3]",) and out.index.tolist() == [3]
    assert out.se[0] == pytest.approx(0.5, rel=4 * EPS)  # 1 / sqrt(n)
    mixed = selected_se(small_loglik, SMALL, SMALL_Y, which=["log_s", 0, np.int64(4)])
    assert mixed.names == ("log_s", "beta[0]", "beta[4]") and mixed.index.tolist() == [5, 0, 4]
    leaf = selected_se(small_loglik, SMALL, SMALL_Y, which="beta")
    assert leaf.names == tuple(f"beta[{i}]" for i in range(5))
    assert selected_se(small_loglik, SMALL, SMALL_Y).names == tuple(hj.param_names(SMALL))


@pytest.mark.parametrize(
    "which, error, match",
    [
        ("gamma", ValueError, "which='gamma' is not a parameter name"),
        ("beta[9]", ValueError, "Did you mean"),
        (6, ValueError, "out of range"),
        (-1, ValueError, "out of range"),
        ([], ValueError, "empty"),
        (1.5, TypeError, "`which`"),
        ([0, 1.5], TypeError, "`which` entries"),
        (np.array([True, False]), TypeError, "flatnonzero"),
    ],
)
def test_bad_which_raises_before_compiling(which, error, match):
    with pytest.raises(error, match=match):
        selected_se(small_loglik, SMALL, SMALL_Y, which=which)


def test_which_is_required_above_the_threshold():
    n = LARGE_MODEL_THRESHOLD + 1
    with pytest.raises(ValueError, match=r"`which` is required"):
        fit_large(lambda b: -0.5 * jnp.sum(b**2), np.zeros(n))
    with pytest.raises(ValueError, match=r"`which` is required"):
        selected_se(lambda b: -0.5 * jnp.sum(b**2), np.zeros(n))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: selected_se(small_loglik, SMALL, SMALL_Y, rtol=0.0), "`rtol`"),
        (lambda: selected_se(small_loglik, SMALL, SMALL_Y, rtol=1.0), "`rtol`"),
        (lambda: selected_se(small_loglik, SMALL, SMALL_Y, maxiter=0), "`maxiter`"),
        (lambda: extreme_eigenvalues(small_loglik, SMALL, SMALL_Y, k=0), "`k`"),
        (lambda: extreme_eigenvalues(small_loglik, SMALL, SMALL_Y, k=7), "`k`"),
        (lambda: fit_large(small_loglik, SMALL, SMALL_Y, gtol=-1.0), "`gtol`"),
        (lambda: fit_large(small_loglik, SMALL, SMALL_Y, max_steps=1.5), "`max_steps`"),
        (lambda: fit_large(small_loglik, SMALL, SMALL_Y, lanczos_steps=100), "`lanczos_steps`"),
        (lambda: minimize_newton_cg(rosenbrock, np.zeros(2), max_cg_steps=0), "`max_cg_steps`"),
        (lambda: minimize_newton_cg(rosenbrock, np.zeros(2), initial_radius=-1.0), "`initial_radius`"),
    ],
)
def test_bad_options_raise_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------
# jit, vmap, tracing
# ----------------------------------------------------------------------------------------


def poisson_loglik(p, X, y):
    eta = X @ p["beta"]
    return y * eta - jnp.exp(eta)


def test_fit_large_under_vmap_over_datasets_matches_dense_fits():
    rng = np.random.default_rng(3)
    n_obs, k, batch = 200, 4, 6
    X = np.column_stack([np.ones(n_obs), rng.standard_normal((n_obs, k - 1))]) * 0.5
    ys = rng.poisson(np.exp(X @ np.array([0.5, 0.2, -0.3, 0.1])), size=(batch, n_obs)).astype(float)
    init = {"beta": np.zeros(k)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no HessjaxWarning (or any other) inside the traced calls
        with jax.enable_x64(True):
            yj = jnp.asarray(ys)
            fits = jax.jit(jax.vmap(lambda y: fit_large(poisson_loglik, init, X, y)))(yj)
            ses = jax.vmap(lambda y: selected_se(poisson_loglik, init, X, y, which=[1, 3]))(yj)
            eigs = jax.vmap(lambda y: extreme_eigenvalues(poisson_loglik, init, X, y))(yj)
    assert isinstance(fits, LargeFitResult) and np.asarray(fits.se.se).shape == (batch, k)
    assert np.all(np.asarray(fits.is_valid))
    assert "batch of 6 fits" in str(fits)
    for i in (0, batch - 1):
        dense = hj.fit(poisson_loglik, init, X, ys[i])
        lam = np.linalg.eigvalsh(dense.hessian)
        estimate = np.asarray(fits.params["beta"])[i]
        g = np.linalg.norm(np.asarray(fits.grad["beta"])[i]) + np.linalg.norm(dense.grad["beta"])
        assert np.linalg.norm(estimate - dense.estimate) <= g / lam[0]
        se, kappa, _ = dense_se({"beta": estimate}, X, ys[i], loglik=poisson_loglik)
        np.testing.assert_allclose(np.asarray(fits.se.se)[i], se, rtol=se_tolerance(kappa, k))
        # Batched and single calls at the same point: the same CG, other rounding.
        se0, kappa0, _ = dense_se(init, X, ys[i], loglik=poisson_loglik)
        at_zero = selected_se(poisson_loglik, init, X, ys[i], which=[1, 3])
        np.testing.assert_allclose(np.asarray(ses.se)[i], at_zero.se, rtol=2 * se_tolerance(kappa0, k))
        one = extreme_eigenvalues(poisson_loglik, init, X, ys[i])
        rounding = np.sqrt(k) * EPS * float(one.max_eigenvalue)
        bound = float(one.max_error) + float(np.asarray(eigs.max_error)[i]) + 2 * rounding
        assert abs(float(np.asarray(eigs.max_eigenvalue)[i]) - float(one.max_eigenvalue)) <= bound


TRACES = []


def traced_loglik(p, X, y):
    TRACES.append(1)
    return poisson_loglik(p, X, y)


def test_fit_large_does_not_retrace_on_new_data_of_the_same_shape():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 3)) * 0.3
    init = {"beta": np.zeros(3)}

    def new_y():
        return rng.poisson(1.0, 50).astype(float)

    fit_large(traced_loglik, init, X, new_y())
    selected_se(traced_loglik, init, X, new_y(), which=[0])
    count = len(TRACES)
    fit_large(traced_loglik, init, X, new_y())
    selected_se(traced_loglik, init, X, new_y(), which=[2])  # another index, same count
    assert len(TRACES) == count
    extreme_eigenvalues(traced_loglik, init, X, new_y())
    count = len(TRACES)
    extreme_eigenvalues(traced_loglik, init, X, new_y())
    assert len(TRACES) == count


def test_dense_fit_refuses_huge_models_and_points_to_fit_large():
    # 12000 parameters: six dense 12000 x 12000 float64 matrices exceed 4 GiB.
    with pytest.raises(hj.HessianMemoryError, match="fit_large"):
        hj.fit(lambda b, y: -0.5 * jnp.sum((y - b) ** 2), np.zeros(12000), np.ones(12000))
