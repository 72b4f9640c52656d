"""False "NOT VALID": a real optimum must not be rejected.

Rounding-limited gradients (statsmodels' star98 binomial GLM against R's glm),
estimates found elsewhere (SciPy's BFGS at its default gtol, certified with
``max_steps=0``), and well-posed small-sample models whose likelihood is
visibly skewed but whose Wald intervals are still usable. Each is compared with
an independent truth (R via statsmodels' stored results, closed forms).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import hessjax as hj


def binomial_glm_loglik(beta, X, successes, trials):
    eta = X @ beta
    return successes * eta - trials * jnp.logaddexp(0.0, eta)


def test_star98_rounding_limited_gradient_is_valid_and_matches_r():
    sm = pytest.importorskip("statsmodels.api")
    results_glm = pytest.importorskip("statsmodels.genmod.tests.results.results_glm")
    data = sm.datasets.star98.load()
    endog = np.asarray(data.endog, dtype=np.float64)
    X = sm.add_constant(np.asarray(data.exog, dtype=np.float64), prepend=False)
    successes, trials = endog[:, 0], endog.sum(axis=1)
    ref = results_glm.Star98()
    res = hj.fit(binomial_glm_loglik, np.zeros(X.shape[1]), X, successes, trials)
    d = res.diagnostics
    assert bool(d.is_valid) and bool(d.converged)
    # R's glm digits: estimates to 1e-8 relative (the observation), SEs as stored
    # (10 significant digits in results_glm).
    np.testing.assert_allclose(res.estimate, ref.params, rtol=1e-7)
    np.testing.assert_allclose(res.se_vector, ref.bse, rtol=1e-6)
    assert float(d.newton_step_se) < 1e-6


def _logistic_problem(seed=0, n=300):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 3)) * np.array([1.0, 10.0, 0.1])
    X = np.column_stack([np.ones(n), Z])
    eta = X @ np.array([-0.5, 0.8, 0.05, 3.0])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    return X, y


def logistic_loglik(beta, X, y):
    eta = X @ beta
    return y * eta - jnp.logaddexp(0.0, eta)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scipy_bfgs_estimate_at_default_gtol_is_certified(seed):
    X, y = _logistic_problem(seed)

    def nll(b):
        eta = X @ b
        return -np.sum(y * eta - np.logaddexp(0.0, eta))

    def grad(b):
        return -X.T @ (y - 1 / (1 + np.exp(-(X @ b))))

    scipy_res = scipy.optimize.minimize(nll, np.zeros(4), jac=grad, method="BFGS")
    at = hj.fit(logistic_loglik, scipy_res.x, X, y, max_steps=0)  # any warning fails the test
    d = at.diagnostics
    assert bool(d.is_valid) and bool(d.converged)
    # How far SciPy's point is from the maximum, in SEs: against hessjax's own optimum.
    full = hj.fit(logistic_loglik, np.zeros(4), X, y)
    gap = np.max(np.abs(scipy_res.x - full.estimate) / full.se_vector)
    assert gap < 1e-3
    # The Newton step bounds the distance (to second order): same order as the measured gap.
    assert float(d.newton_step_se) <= 2 * gap + 1e-12
    assert "SE from the maximum" in str(d)


def test_a_point_far_from_the_maximum_says_how_far_in_ses():
    X, y = _logistic_problem(0)
    full = hj.fit(logistic_loglik, np.zeros(4), X, y)
    off = full.estimate + 0.5 * full.se_vector * np.array([1.0, 0, 0, 0])
    with pytest.warns(hj.ConvergenceWarning, match="SE from the maximum"):
        at = hj.fit(logistic_loglik, off, X, y, max_steps=0)
    d = at.diagnostics
    assert not bool(d.is_valid)
    # Off by 0.5 SE in one coordinate: the Newton step says ~0.5 SE.
    np.testing.assert_allclose(float(d.newton_step_se), 0.5, rtol=0.1)
    assert "standard errors short of the maximum" in str(d)


def normal_loglik(p, y):
    sigma = jnp.exp(p["log_sigma"])
    return -0.5 * ((y - p["mu"]) / sigma) ** 2 - p["log_sigma"]


def test_small_samples_are_valid_across_seeds():
    """Normal (mu, log sigma) with n = 5: the log-likelihood of log sigma is visibly
    skewed, but every one of 200 datasets is a valid maximum (closed-form SEs)."""
    rng = np.random.default_rng(4)
    ys = rng.normal(2.0, 3.0, size=(200, 5))
    fits = hj.fit_batch(normal_loglik, {"log_sigma": 0.0, "mu": 0.0}, ys, progress=False)
    assert fits.batch_summary.valid == 200
    sigma_hat = ys.std(axis=1)
    np.testing.assert_allclose(np.asarray(fits.se["mu"]), sigma_hat / np.sqrt(5), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(fits.se["log_sigma"]), 1 / np.sqrt(10), rtol=1e-8)


@pytest.mark.parametrize("total, n", [(1.0, 1.0), (3.0, 5.0), (12.0, 4.0)])
def test_poisson_log_rate_small_counts_is_valid(total, n):
    # Poisson counts summing to `total` over n units, log rate: se = 1/sqrt(total).
    res = hj.fit(lambda t, s, n: s * t - n * jnp.exp(t), np.array(0.0), total, n)
    assert bool(res.diagnostics.is_valid)
    np.testing.assert_allclose(float(res.params), np.log(total / n), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(res.se), 1 / np.sqrt(total), rtol=1e-9)


def test_exponential_log_rate_n5_is_valid():
    x = np.array([0.3, 1.2, 0.05, 2.2, 0.8])
    res = hj.fit(lambda t, x: t - jnp.exp(t) * x, np.array(0.0), x)
    assert bool(res.diagnostics.is_valid)
    np.testing.assert_allclose(float(res.params), np.log(5 / x.sum()), rtol=1e-10)
    np.testing.assert_allclose(float(res.se), 1 / np.sqrt(5), rtol=1e-9)


@pytest.mark.parametrize("kind", ["decay", "line"])
def test_noise_free_least_squares_is_converged_and_valid(kind):
    """Exact data: the answer is exact, the residuals are rounding noise, so the
    decrement measures only noise; the Newton step within rounding of x certifies it."""
    x = np.linspace(0.0, 4.0, 40)
    if kind == "decay":
        y, truth = 2.0 * np.exp(-0.7 * x), np.array([2.0, 0.7])
        residuals = lambda b, x, y: y - b[0] * jnp.exp(-b[1] * x)  # noqa: E731
    else:
        y, truth = 0.1 + 0.3 * x, np.array([0.1, 0.3])
        residuals = lambda b, x, y: y - b[0] - b[1] * x  # noqa: E731
    res = hj.least_squares(residuals, np.array([1.0, 0.1]), x, y)  # any warning fails the test
    np.testing.assert_allclose(res.estimate, truth, rtol=1e-14)
    assert bool(res.converged) and bool(res.diagnostics.is_valid)


def test_curved_valley_nist_lanczos3_is_valid_in_fit_and_fit_batch():
    """Ill-conditioned sum of exponentials: the straight Wald line leaves the curved
    valley (drops 1e4 times the prediction on both sides); re-fitting the other
    parameters at the probes shows a nearly quadratic profile. fit, least_squares and
    fit_batch must agree that the fit is valid, at NIST's certified values."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "data"))
    from nist_nls import NIST_NLS

    d = NIST_NLS["Lanczos3"]
    x, y = np.asarray(d["x"], dtype=np.float64), np.asarray(d["y"], dtype=np.float64)

    def model(b, x):
        return b[0] * jnp.exp(-b[1] * x) + b[2] * jnp.exp(-b[3] * x) + b[4] * jnp.exp(-b[5] * x)

    def loglik(p, x, y):
        return -0.5 * jnp.sum((y - model(p["b"], x)) ** 2) / jnp.exp(2 * p["ls"]) - y.size * p["ls"]

    init = {"b": np.asarray(d["start1"], dtype=np.float64), "ls": np.log(np.std(y))}
    res = hj.fit(loglik, init, x, y)
    assert bool(res.diagnostics.is_valid)
    np.testing.assert_allclose(np.asarray(res.params["b"]), d["certified_params"], rtol=1e-8)
    ratio = np.asarray(res.diagnostics.quadratic_ratio)
    assert np.all((ratio > 0.5) & (ratio < 2.0))  # the re-fitted profile is nearly quadratic
    ys = np.stack([y, y])
    fits = hj.fit_batch(loglik, init, x, ys, in_axes=(None, 0), progress=False)
    assert fits.batch_summary.valid == 2
