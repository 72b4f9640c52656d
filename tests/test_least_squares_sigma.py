"""``least_squares(..., sigma=, absolute_sigma=)``: weighted least squares (issue 13).

Truths, each independent of hessjax:

1. A weighted linear model against the closed-form WLS estimate
   beta = (X'WX)^-1 X'Wy, W = diag(sigma^-2), and its covariance (X'WX)^-1
   (``absolute_sigma=True``) or chi2/dof (X'WX)^-1 (False), evaluated by
   Householder QR of the weighted design.
2. A nonlinear model (exponential decay with heteroscedastic errors) against
   ``scipy.optimize.curve_fit(..., sigma=s, absolute_sigma=...)``'s ``pcov``,
   and its exact observed information against hand-derived second derivatives.
3. Scale invariance: a scalar sigma changes nothing with ``absolute_sigma=False``
   and scales the errors by sigma / s with True.
4. Input validation, before anything is traced.
5. ``sigma`` and ``absolute_sigma`` are data: new values never retrace.
6. The docs' example (docs/least_squares.md) runs and its claims hold.

Tolerances. EPS is float64's unit roundoff, KAPPA the condition number of the
column-scaled weighted Jacobian (what both the QR truth and hessjax's SVD see:
their rounding errors are column-wise). A covariance computed backward-stably
from a Jacobian has relative error O(nobs EPS KAPPA^2) (the inverse of J'J, whose
condition number is KAPPA^2; Higham, *Accuracy and Stability*, ch. 20), measured
entrywise in units of sqrt(C_ii C_jj) so that near-zero covariances are judged
on the scale of the matrix. ``least_squares`` stops when the cosine of the
angle between the weighted residuals and the column space of J is below GTOL,
so its estimate is within GTOL ||r_w|| (J'J)^-1_ii^(1/2) of the minimizer in
coordinate i (the Gauss–Newton step V S^-1 U'r with ||U'r|| <= GTOL ||r||).
"""

from __future__ import annotations

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg, optimize, stats

import hessjax as hj
from hessjax.warnings import PrecisionWarning

EPS = np.finfo(np.float64).eps
GTOL = EPS ** (2 / 3)  # least_squares' documented default angle tolerance
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "least_squares.md"


# -- truths ------------------------------------------------------------------------------
def scaled_condition(jac: np.ndarray) -> float:
    """Condition number of ``jac`` with unit columns."""
    return float(np.linalg.cond(jac / np.linalg.norm(jac, axis=0)))


def inverse_gram(jac: np.ndarray) -> np.ndarray:
    """(J'J)^-1 = R^-1 R^-T from Householder QR: J'J is never formed."""
    r = np.linalg.qr(jac, mode="r")
    r_inv = linalg.solve_triangular(r, np.eye(r.shape[0]))
    return r_inv @ r_inv.T


def covariance_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max_ij |A_ij - E_ij| / sqrt(E_ii E_jj): entrywise, on the scale of the matrix."""
    d = np.sqrt(np.diag(expected))
    return float(np.max(np.abs(np.asarray(actual) - expected) / np.outer(d, d)))


def rounding_tolerance(nobs: int, kappa: float) -> float:
    """Backward-stable (J'J)^-1 from either side: nobs EPS KAPPA^2, both sides' errors."""
    return 2.0 * nobs * EPS * kappa**2


def weighted_least_squares(X, y, s, absolute_sigma):
    """Closed-form WLS: estimate, covariance, chi-square, and the conditioning."""
    Xw, yw = X / s[:, None], y / s
    q, r = np.linalg.qr(Xw)
    beta = linalg.solve_triangular(r, q.T @ yw)  # = (X'WX)^-1 X'Wy
    chi2 = float(np.sum((yw - Xw @ beta) ** 2))
    cov = inverse_gram(Xw)  # = (X'WX)^-1
    if not absolute_sigma:
        cov = cov * chi2 / (X.shape[0] - X.shape[1])
    return beta, cov, chi2, scaled_condition(Xw)


# -- 1. weighted linear model ----------------------------------------------------------------
def linear_residuals(beta, X, y):
    return y - X @ beta


def linear_data(seed=7, nobs=40):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 4.0, nobs)
    X = np.column_stack([np.ones(nobs), x, np.sin(x)])
    s = 0.05 + 0.2 * rng.uniform(size=nobs)  # heteroscedastic, known
    y = X @ np.array([1.0, -0.5, 2.0]) + s * rng.normal(size=nobs)
    return X, y, s


@pytest.mark.parametrize("absolute_sigma", [False, True])
@pytest.mark.parametrize("kind", ["per-observation", "scalar"])
def test_weighted_linear_model_matches_closed_form(kind, absolute_sigma):
    X, y, s = linear_data()
    nobs = X.shape[0]
    sigma = s if kind == "per-observation" else 0.3
    s_vector = np.broadcast_to(sigma, (nobs,)).astype(float)
    beta, cov, chi2, kappa = weighted_least_squares(X, y, s_vector, absolute_sigma)

    res = hj.least_squares(linear_residuals, np.zeros(3), X, y, sigma=sigma, absolute_sigma=absolute_sigma)

    tol = rounding_tolerance(nobs, kappa)
    # In units of sqrt((X'WX)^-1_ii): the stopping angle plus rounding.
    se_unit = np.sqrt(np.diag(inverse_gram(X / s_vector[:, None])))
    beta_err = np.max(np.abs(res.estimate - beta) / se_unit)
    assert beta_err <= GTOL * np.sqrt(chi2) + tol
    assert covariance_error(res.cov, cov) <= tol
    np.testing.assert_allclose(res.se, np.sqrt(np.diag(cov)), rtol=tol, atol=0)
    # Weighted quantities: chi-square, reduced chi-square, weighted residuals.
    # chi2 is stationary at the estimate, so only rounding of r_w (relative EPS to
    # the size of the terms it cancels) enters.
    terms = np.abs(y / s_vector) + np.abs(X / s_vector[:, None]) @ np.abs(beta)
    chi2_tol = 2.0 * nobs * EPS * float(np.sum(terms**2)) / chi2 + tol
    np.testing.assert_allclose(res.rss, chi2, rtol=chi2_tol)
    np.testing.assert_allclose(res.s2, chi2 / (nobs - 3), rtol=chi2_tol)
    np.testing.assert_allclose(res.rss, np.sum(res.residuals**2), rtol=nobs * EPS)
    np.testing.assert_allclose(res.jacobian, -X / s_vector[:, None], rtol=EPS, atol=0)
    assert res.weighted and res.absolute_sigma is absolute_sigma


@pytest.mark.parametrize("absolute_sigma", [False, True])
def test_sigma_none_is_unweighted_nist_convention(absolute_sigma):
    """sigma=None keeps s^2 (X'X)^-1; with absolute_sigma=True it is sigma = 1: (X'X)^-1."""
    X, y, _ = linear_data()
    nobs = X.shape[0]
    beta, cov, chi2, kappa = weighted_least_squares(X, y, np.ones(nobs), absolute_sigma)
    res = hj.least_squares(linear_residuals, np.zeros(3), X, y, absolute_sigma=absolute_sigma)
    assert covariance_error(res.cov, cov) <= rounding_tolerance(nobs, kappa)
    assert not res.weighted and res.absolute_sigma is absolute_sigma
    assert res.summary().startswith("Nonlinear least squares: rss = ")


def test_absolute_sigma_intervals_use_normal_quantiles():
    X, y, s = linear_data()
    known = hj.least_squares(linear_residuals, np.zeros(3), X, y, sigma=s, absolute_sigma=True)
    relative = hj.least_squares(linear_residuals, np.zeros(3), X, y, sigma=s)
    z, t = stats.norm.ppf(0.975), stats.t.ppf(0.975, relative.dof)
    for res, q in ((known, z), (relative, t)):
        expected = np.column_stack([res.estimate - q * res.se, res.estimate + q * res.se])
        np.testing.assert_allclose(res.conf_int(), expected, rtol=EPS)
    assert known.summary().startswith("Weighted nonlinear least squares (absolute sigma): chi2 = ")
    assert "se (J^TJ, abs.)" in known.summary()
    assert relative.summary().startswith("Weighted nonlinear least squares (relative sigma): chi2 = ")


# -- 2. nonlinear model: curve_fit and the exact information ---------------------------------
def decay_residuals(b, x, y):
    return y - (b[0] * jnp.exp(-b[1] * x) + b[2])


def decay_model(x, a, k, c):
    return a * np.exp(-k * x) + c


def decay_jacobian(x, a, k, c):
    """d model / d (a, k, c), by hand."""
    e = np.exp(-k * x)
    return np.column_stack([e, -a * x * e, np.ones_like(x)])


def decay_data(seed=7, nobs=50):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 5.0, nobs)
    s = 0.02 + 0.08 * x  # errors growing along x
    return x, decay_model(x, 2.0, 0.9, 0.3) + s * rng.normal(size=nobs), s


DECAY_INIT = np.array([1.0, 0.5, 0.0])


def gauss_newton_covariance(b, x, y, s, absolute_sigma):
    """curve_fit's definition from the analytic Jacobian at ``b``, and the conditioning."""
    jw = decay_jacobian(x, *b) / s[:, None]
    cov = inverse_gram(jw)
    if not absolute_sigma:
        chi2 = np.sum(((y - decay_model(x, *b)) / s) ** 2)
        cov = cov * chi2 / (x.size - b.size)
    return cov, scaled_condition(jw)


@pytest.mark.parametrize("absolute_sigma", [False, True])
def test_nonlinear_model_matches_curve_fit(absolute_sigma):
    x, y, s = decay_data()
    nobs = x.size
    res = hj.least_squares(decay_residuals, DECAY_INIT, x, y, sigma=s, absolute_sigma=absolute_sigma)
    # MINPACK lmder with the exact Jacobian and its tightest tolerances: its pcov
    # is then exact at its own estimate, which still stops ~1e-7 SE short of the
    # minimizer (its ftol/xtol tests cannot resolve further): that gap, not
    # rounding, limits the agreement.
    popt, pcov = optimize.curve_fit(
        decay_model, x, y, p0=DECAY_INIT, sigma=s, absolute_sigma=absolute_sigma, jac=decay_jacobian,
        method="lm", ftol=1e-15, xtol=1e-15, gtol=1e-15,
    )
    at_curve_fit, kappa = gauss_newton_covariance(popt, x, y, s, absolute_sigma)
    at_hessjax, _ = gauss_newton_covariance(res.estimate, x, y, s, absolute_sigma)
    tol = rounding_tolerance(nobs, kappa)
    # The oracle computes what we think it does, and so does hessjax, each at its estimate.
    assert covariance_error(pcov, at_curve_fit) <= tol
    assert covariance_error(res.cov, at_hessjax) <= tol
    # So hessjax and curve_fit differ by what moving from one estimate to the
    # other changes in the covariance, and by rounding; no more.
    explained = covariance_error(at_hessjax, at_curve_fit)
    assert covariance_error(res.cov, pcov) <= explained + 2 * tol
    se_cf = np.sqrt(np.diag(pcov))
    assert np.max(np.abs(res.se - se_cf) / se_cf) <= explained + 2 * tol
    # The gap itself: curve_fit's distance to the minimizer, its Gauss–Newton
    # step (first order exact; the second-order term is its square, ~1e-14).
    jw = decay_jacobian(x, *popt) / s[:, None]
    rw = (y - decay_model(x, *popt)) / s
    se_unit = np.sqrt(np.diag(inverse_gram(jw)))
    step = np.linalg.lstsq(jw, rw, rcond=None)[0]
    chi2 = np.sum(rw**2)
    gap = np.max(np.abs(res.estimate - popt) / se_unit)
    assert gap <= 1.01 * np.max(np.abs(step) / se_unit) + GTOL * np.sqrt(chi2) + tol
    assert explained < 1e-6  # curve_fit did converge tightly: the comparison is informative


@pytest.mark.parametrize("absolute_sigma", [False, True])
def test_se_mle_is_inverse_exact_weighted_information(absolute_sigma):
    """cov_mle = tau^2 (J_w'J_w + sum_i r_w,i d2 r_w,i)^-1, tau^2 = chi2/n or 1, second
    derivatives of a exp(-k x) + c by hand (d2/da dk = -x e, d2/dk2 = a x^2 e)."""
    x, y, s = decay_data()
    nobs = x.size
    res = hj.least_squares(decay_residuals, DECAY_INIT, x, y, sigma=s, absolute_sigma=absolute_sigma)
    a, k, c = res.estimate
    e = np.exp(-k * x)
    rw = (y - decay_model(x, a, k, c)) / s
    jw = -decay_jacobian(x, a, k, c) / s[:, None]  # of r_w = (y - model) / s
    curvature = np.zeros((3, 3))
    curvature[0, 1] = curvature[1, 0] = np.sum(rw * x * e / s)  # r_w d2r_w/da dk
    curvature[1, 1] = np.sum(rw * -a * x**2 * e / s)
    hessian = jw.T @ jw + curvature
    tau2 = 1.0 if absolute_sigma else np.sum(rw**2) / nobs
    expected = tau2 * np.linalg.inv(hessian)
    d = np.sqrt(np.diag(hessian))
    kappa_h = float(np.linalg.cond(hessian / np.outer(d, d)))
    # Sums of nobs terms (relative error nobs EPS) amplified by the inverse (kappa_h).
    tol = 2.0 * nobs * EPS * kappa_h
    np.testing.assert_allclose(res.hessian, hessian, rtol=0, atol=tol * np.max(np.abs(hessian)))
    assert covariance_error(res.cov_mle, expected) <= tol
    assert bool(res.diagnostics.is_valid)


# -- 3. scale invariance -------------------------------------------------------------------
@pytest.mark.parametrize("scale", [3.7, 1e-3, 1e4])
def test_scalar_sigma_scale_invariance(scale):
    """Relative errors: a common sigma changes nothing. Absolute: se = sigma * se_1 / s.

    The iteration is the same in exact arithmetic (the angle test, MINPACK's
    column scaling and radius are invariant to the scale of r), so the results
    differ by rounding of the covariance only.
    """
    x, y, _ = decay_data()
    nobs = x.size
    base = hj.least_squares(decay_residuals, DECAY_INIT, x, y)
    relative = hj.least_squares(decay_residuals, DECAY_INIT, x, y, sigma=scale)
    known = hj.least_squares(decay_residuals, DECAY_INIT, x, y, sigma=scale, absolute_sigma=True)
    tol = rounding_tolerance(nobs, scaled_condition(base.jacobian))
    np.testing.assert_allclose(relative.estimate, base.estimate, rtol=tol)
    np.testing.assert_allclose(relative.se, base.se, rtol=tol)
    np.testing.assert_allclose(relative.se_mle, base.se_mle, rtol=tol)
    np.testing.assert_allclose(relative.rss, base.rss / scale**2, rtol=tol)
    np.testing.assert_allclose(known.se, scale * base.se / np.sqrt(base.s2), rtol=tol)
    np.testing.assert_allclose(known.se_mle, scale * base.se_mle / np.sqrt(base.rss / nobs), rtol=tol)


# -- 4. input validation -------------------------------------------------------------------
TRACES = {"count": 0}


def counted_residuals(beta, X, y):
    TRACES["count"] += 1  # runs only while JAX traces
    return y - X @ beta


FIX = "pass the standard deviations of the observations"


@pytest.mark.parametrize(
    "sigma, match",
    [
        (0.0, "`sigma` must be positive, got 0.0 at index 0"),
        (-1.0, "`sigma` must be positive"),
        (np.nan, "`sigma` must be finite"),
        (np.inf, "`sigma` must be finite"),
        (np.r_[np.ones(20), 0.0, np.ones(19)], "`sigma` must be positive, got 0.0 at index 20"),
        (np.r_[np.ones(39), np.nan], "`sigma` must be finite, got nan at index 39"),
        (np.ones((40, 1)), r"`sigma` must be a scalar or a 1-D array, got shape \(40, 1\)"),
        (np.eye(40), "covariance matrix"),
        ("0.1", "`sigma` must be real numbers"),
        (1j, "`sigma` must be real numbers"),
        (True, "`sigma` must be numbers"),
        ([0.1, None], "`sigma` must be real numbers"),
    ],
)
def test_bad_sigma_raises_before_tracing(sigma, match):
    X, y, _ = linear_data()
    before = TRACES["count"]
    with pytest.raises(ValueError, match=match) as info:
        hj.least_squares(counted_residuals, np.zeros(3), X, y, sigma=sigma)
    assert FIX in str(info.value)
    assert TRACES["count"] == before, "sigma must be checked before the residuals are traced"


@pytest.mark.parametrize("length", [0, 1, 39, 41])
def test_sigma_of_wrong_length_raises(length):
    X, y, _ = linear_data()
    with pytest.raises(ValueError, match=f"`sigma` has {length} values but .* returned 40 residuals") as info:
        hj.least_squares(counted_residuals, np.zeros(3), X, y, sigma=np.ones(length))
    assert FIX in str(info.value)


@pytest.mark.parametrize("absolute_sigma", ["yes", 1, 0, None, np.array([True])])
def test_absolute_sigma_must_be_a_bool(absolute_sigma):
    X, y, s = linear_data()
    before = TRACES["count"]
    with pytest.raises(ValueError, match="`absolute_sigma` must be True or False") as info:
        hj.least_squares(counted_residuals, np.zeros(3), X, y, sigma=s, absolute_sigma=absolute_sigma)
    assert "pass absolute_sigma=True when `sigma` holds the true standard deviations" in str(info.value)
    assert TRACES["count"] == before


def test_float32_sigma_warns_and_is_promoted():
    X, y, s = linear_data()
    with pytest.warns(PrecisionWarning, match="`sigma` had less than float64 precision"):
        res = hj.least_squares(linear_residuals, np.zeros(3), X, y, sigma=s.astype(np.float32))
    s32 = s.astype(np.float32).astype(np.float64)
    _, cov, _, kappa = weighted_least_squares(X, y, s32, False)
    assert covariance_error(res.cov, cov) <= rounding_tolerance(X.shape[0], kappa)


# -- 5. no retracing -----------------------------------------------------------------------
RETRACES = {"count": 0}


def residuals_for_retrace(beta, X, y):
    RETRACES["count"] += 1  # runs only while JAX traces
    return y - X @ beta


def test_new_sigma_values_do_not_retrace():
    X, y, s = linear_data(nobs=37)  # a length used nowhere else in this module
    hj.least_squares(residuals_for_retrace, np.zeros(3), X, y, sigma=s)
    first = RETRACES["count"]
    assert first >= 1
    for sigma, absolute_sigma in [(2.0 * s, False), (s[::-1], True), (0.5, False), (3, True), (None, False)]:
        res = hj.least_squares(residuals_for_retrace, np.zeros(3), X, y, sigma=sigma, absolute_sigma=absolute_sigma)
        assert RETRACES["count"] == first, f"retraced for sigma={sigma!r}, absolute_sigma={absolute_sigma}"
        expected = np.broadcast_to(1.0 if sigma is None else sigma, (37,)).astype(float)
        _, cov, _, kappa = weighted_least_squares(X, y, expected, absolute_sigma)
        assert covariance_error(res.cov, cov) <= rounding_tolerance(37, kappa)


def test_vmap_over_sigma_matches_separate_fits():
    x, y, s = decay_data()
    sigmas = np.stack([s, 2.0 * s[::-1]])
    with jax.enable_x64(True):
        batch = jax.vmap(
            lambda sigma: hj.least_squares(decay_residuals, DECAY_INIT, x, y, sigma=sigma, absolute_sigma=True)
        )(jnp.asarray(sigmas))
    for i, sigma in enumerate(sigmas):
        one = hj.least_squares(decay_residuals, DECAY_INIT, x, y, sigma=sigma, absolute_sigma=True)
        tol = rounding_tolerance(x.size, scaled_condition(one.jacobian))
        np.testing.assert_allclose(np.asarray(batch.se)[i], one.se, rtol=tol)
        np.testing.assert_allclose(np.asarray(batch.rss)[i], one.rss, rtol=tol)


# -- 6. the docs' example ------------------------------------------------------------------
def test_docs_sigma_section_runs_and_its_claims_hold(capsys):
    text = DOCS.read_text()
    section = text[text.index("## Known measurement errors"):]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict = {}
    for block in blocks[1:]:  # the first shows the call signature only
        exec(compile(block, str(DOCS), "exec"), namespace)
    rel, ab, known, scaled = (namespace[k] for k in ("rel", "ab", "known", "scaled"))
    tol = rounding_tolerance(rel.nobs, scaled_condition(ab.jacobian))
    np.testing.assert_allclose(ab.se, rel.se / np.sqrt(rel.s2), rtol=tol)
    # The standard errors of this model change by less than 0.5 (relative) per SE
    # the estimate moves (0.2-0.4 by hand from the analytic information), so two
    # fits agree to half the distance between their estimates, in SE units.
    sensitivity = 0.5
    # curve_fit's default ftol = 1.49e-8 on the relative decrease of chi2 = d^2
    # (d in SE units) stops it within d <= sqrt(ftol * chi2) of the minimizer.
    se_cf = np.sqrt(np.diag(namespace["pcov"]))
    d_cf = np.sqrt(1.49012e-8 * ab.rss)
    assert np.max(np.abs(ab.se - se_cf) / se_cf) <= sensitivity * d_cf + tol
    # hj.fit and least_squares: each certificate bounds its distance to the maximum.
    for fitted, ls, se in ((known, ab, known.se), (scaled, rel, scaled.se["b"])):
        d = float(fitted.diagnostics.newton_step_se) + float(ls.diagnostics.newton_step_se)
        np.testing.assert_allclose(se, ls.se_mle, rtol=sensitivity * d + tol)
