"""``hj.fit``: estimates, observed information, covariance, SEs, intervals, sandwich,
delta method and reports, each against an independent truth (closed forms, SciPy,
hand-written NumPy).

Tolerances
----------
Every log-likelihood here is a sum of ``n`` terms of a few floating-point
operations, so a derivative entry carries a rounding error of at most about
``HESSIAN_OPS * n * eps`` relative to the sum of the absolute values of its
terms (Higham's gamma_n bound), the same factor ``tests/test_minimize.py`` uses.
Where an optimizer stops short of the exact maximum, the distance is bounded by
the Newton decrement lambda^2 = g' H^-1 g: one Newton step is -H^-1 g, and by
Cauchy-Schwarz its i-th component is at most se_i * lambda. ``2 * se * lambda``
(the factor 2 covering the non-quadratic remainder) is therefore a justified
bound on how far a converged estimate may sit from the exact maximum.

Log-likelihoods are defined at module level so compilations are shared across
tests (hessjax caches them per function object and data shape).
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import pytest
from scipy import stats

import hessjax as hj
from problems import POISSON

EPS = float(np.finfo(np.float64).eps)
HESSIAN_OPS = 16.0
Z975 = float(stats.norm.ppf(0.975))


# --------------------------------------------------------------------------------------
# Module-level log-likelihoods
# --------------------------------------------------------------------------------------
def normal_loglik(p, y):
    """Per-observation N(mu, exp(log_sigma)^2) log-density."""
    mu, log_sigma = p["mu"], p["log_sigma"]
    z = (y - mu) * jnp.exp(-log_sigma)
    return -log_sigma - 0.5 * jnp.log(2.0 * jnp.pi) - 0.5 * z**2


def normal_loglik_total(p, y):
    """The same model returning the summed (scalar) log-likelihood."""
    return jnp.sum(normal_loglik(p, y))


def unit_variance_loglik(mu, y):
    """Per-observation N(mu, 1) log-density up to a constant (mean-only model)."""
    return -0.5 * (y - mu) ** 2


def poisson_loglik(p, X, y):
    """Per-observation Poisson regression (log link) log-likelihood."""
    eta = X @ p["beta"]
    return y * eta - jnp.exp(eta) - jsp.gammaln(y + 1.0)


def regression_loglik(p, X, y):
    """Per-observation Gaussian linear regression, dict params with an array and a scalar leaf."""
    sigma = jnp.exp(p["log_sigma"])
    r = (y - X @ p["beta"]) / sigma
    return -p["log_sigma"] - 0.5 * jnp.log(2.0 * jnp.pi) - 0.5 * r**2


def sum_identified_loglik(p, y):
    """y ~ N(a + b, 1): only a + b is identified."""
    return -0.5 * (y - p["a"] - p["b"]) ** 2


def matrix_loglik(p, y):
    """Returns a 2-D array: invalid output."""
    return -0.5 * (y[:, None] - p[None, :]) ** 2


TRACES = {"count": 0}


def traced_normal_loglik(p, y):
    """normal_loglik with a trace counter in its (Python) body."""
    TRACES["count"] += 1
    return normal_loglik(p, y)


# --------------------------------------------------------------------------------------
# Data and closed forms
# --------------------------------------------------------------------------------------
def assert_close_scaled(actual, desired, rtol):
    """|actual - desired| <= rtol * sqrt(|d_ii d_jj|) entry-wise (d = diag(desired)).

    The right measure for symmetric matrices whose off-diagonal entries can be
    rounding-sized: errors are relative to the matrix's own scale in each pair of
    coordinates, not to an entry that happens to be near zero.
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    d = np.sqrt(np.abs(np.diag(desired)))
    np.testing.assert_array_less(np.abs(actual - desired), rtol * np.outer(d, d) + np.finfo(float).tiny)


def normal_data(seed: int, n: int = 200, mu: float = 3.0, sigma: float = 2.0) -> np.ndarray:
    return mu + sigma * np.random.default_rng(seed).standard_normal(n)


def normal_mle(y: np.ndarray) -> dict:
    return {"mu": float(np.mean(y)), "log_sigma": float(np.log(np.sqrt(np.mean((y - y.mean()) ** 2))))}


def normal_information(mu: float, log_sigma: float, y: np.ndarray) -> np.ndarray:
    """Analytic Hessian of the negative log-likelihood at any point, order (log_sigma, mu)."""
    s2 = math.exp(2.0 * log_sigma)
    r = y - mu
    h_ll = 2.0 * np.sum(r**2) / s2
    h_lm = 2.0 * np.sum(r) / s2
    return np.array([[h_ll, h_lm], [h_lm, y.size / s2]])


def location_tolerance(y: np.ndarray) -> dict:
    """Rounding bound on the computed maximizer of the normal log-likelihood.

    mu: the score sum(y - mu)/s^2 is a sum of n terms, so its rounding error is
    at most about n eps sum|r_i|/s^2, moving the root by that over the
    curvature n/s^2, i.e. eps sum|r_i|; each term's own rounding adds
    eps (|y_i| + |mu|). NumPy's mean carries the same kind of error.
    log_sigma: the score sum(z_i^2 - 1) over the curvature 2n gives eps sum(1 + z_i^2)/2.
    A factor 4 covers the two computations being compared.
    """
    ybar = np.mean(y)
    z2 = (y - ybar) ** 2 / np.mean((y - ybar) ** 2)
    return {
        "mu": 4.0 * EPS * np.sum(np.abs(y) + abs(ybar)),
        "log_sigma": 4.0 * EPS * np.sum(1.0 + z2),
    }


def stop_tolerance(res) -> np.ndarray:
    """2 se_i sqrt(newton_decrement): bound on the distance left by the optimizer."""
    return 2.0 * res.se_vector * math.sqrt(max(float(res.diagnostics.newton_decrement), 0.0))


def normal_offset(res, y: np.ndarray) -> float:
    """Relative change of the normal model's information between the returned point and the MLE.

    H_mumu = n exp(-2 log_sigma) and H_ll = 2 sum(r^2) exp(-2 log_sigma) move by
    relative 2 dlog_sigma (+ 2 dmu sum|r| / sum r^2 <= 2 dmu / sigma); the factor 4
    leaves room for the second-order remainder. The offsets themselves are bounded by
    test_normal_mle_estimates_match_closed_form.
    """
    truth = normal_mle(y)
    dmu = abs(float(res.params["mu"]) - truth["mu"])
    dls = abs(float(res.params["log_sigma"]) - truth["log_sigma"])
    return 4.0 * (dmu / math.exp(truth["log_sigma"]) + dls)


Y200 = normal_data(seed=2)


@pytest.fixture(scope="module")
def normal_fits():
    """The normal MLE with both optimizers (one compilation each)."""
    return {method: hj.fit(normal_loglik, {"mu": 0.0, "log_sigma": 0.0}, Y200, method=method)
            for method in ("newton", "bfgs")}


# --------------------------------------------------------------------------------------
# Normal MLE: every output against its closed form
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["newton", "bfgs"])
def test_normal_mle_estimates_match_closed_form(normal_fits, method):
    res = normal_fits[method]
    y, n = Y200, Y200.size
    truth = normal_mle(y)
    assert bool(res.converged) and bool(res.diagnostics.is_valid)
    assert res.names == ("log_sigma", "mu")
    assert res.nobs == n
    assert res.covariance_method == "cholesky"
    rounding = location_tolerance(y)
    stop = dict(zip(res.names, stop_tolerance(res)))
    for name in ("mu", "log_sigma"):
        assert isinstance(res.params[name], np.ndarray) and res.params[name].dtype == np.float64
        assert abs(float(res.params[name]) - truth[name]) <= rounding[name] + stop[name], name


@pytest.mark.parametrize("method", ["newton", "bfgs"])
def test_normal_mle_information_covariance_and_se(normal_fits, method):
    res = normal_fits[method]
    y, n = Y200, Y200.size
    truth = normal_mle(y)
    sigma_hat = math.exp(truth["log_sigma"])
    mu, log_sigma = float(res.params["mu"]), float(res.params["log_sigma"])

    # Exact Hessian of -loglik at the returned point against its analytic form there:
    # entry-wise rounding of sums of n terms, relative to the diagonal scale.
    H = np.asarray(res.hessian)
    assert H.shape == (2, 2) and H.dtype == np.float64
    H_true = normal_information(mu, log_sigma, y)
    scale = np.sqrt(np.outer(np.diag(H_true), np.diag(H_true)))
    tol = HESSIAN_OPS * n * EPS
    np.testing.assert_array_less(np.abs(H - H_true), tol * scale)

    # ... and against diag(2n, n/sigma^2) at the MLE: the returned point is within
    # (rounding + stop) of the MLE, which moves the off-diagonal 2 sum(r)/s^2 by
    # 2 n dmu/s^2 and the diagonal by relative 2 dlog_sigma.
    offset = normal_offset(res, y)
    H_mle = np.diag([2.0 * n, n / sigma_hat**2])
    assert_close_scaled(H, H_mle, tol + offset)

    # Covariance = inverse information (cond ~ 1 after scaling), SEs closed form.
    cov = np.asarray(res.cov)
    np.testing.assert_allclose(cov @ H, np.eye(2), rtol=0, atol=HESSIAN_OPS * EPS)
    assert_close_scaled(cov, np.linalg.inv(H), HESSIAN_OPS * EPS)
    assert cov[0, 1] == cov[1, 0]
    se = res.se
    assert set(se) == {"mu", "log_sigma"}
    np.testing.assert_allclose(float(se["mu"]), sigma_hat / math.sqrt(n), rtol=tol + offset)
    np.testing.assert_allclose(float(se["log_sigma"]), 1.0 / math.sqrt(2.0 * n), rtol=tol + offset)
    np.testing.assert_array_equal(res.se_vector, [se["log_sigma"], se["mu"]])

    # Correlation: the identity up to the (rounding-sized) off-diagonal information.
    corr = np.asarray(res.corr)
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=4 * EPS)
    assert abs(corr[0, 1]) <= tol + offset

    # Log-likelihood against SciPy at the returned point.
    ref_terms = stats.norm.logpdf(y, mu, math.exp(log_sigma))
    assert abs(float(res.loglik) - np.sum(ref_terms)) <= HESSIAN_OPS * n * EPS * np.sum(np.abs(ref_terms))
    # Gradient (of the log-likelihood) is a pytree like init and about zero.
    assert set(res.grad) == {"mu", "log_sigma"}


@pytest.mark.parametrize("method", ["newton", "bfgs"])
def test_normal_mle_far_from_origin_is_certified(method):
    """A normal mean of 3000 with sd 1 (n = 200): the optimizer reaches the MLE to
    working precision (Newton decrement ~1e-24, the closed form to rounding), so the
    fit must be certified, without a ConvergenceWarning.

    Float64 resolves mu only to ulp(3000) ~ 4.5e-13, so the smallest attainable
    score is about H * ulp = (n / s^2) * 4.5e-13 ~ 1e-10, and a relative-gradient
    test scaled by |mu| = 3000 and |loglik| ~ 290 cannot go below ~1e-9: a stopping
    rule that ignores the resolution of x can never pass here.
    """
    import warnings

    y = normal_data(seed=3, n=200, mu=3000.0, sigma=1.0)
    truth = normal_mle(y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", hj.HessjaxWarning)
        res = hj.fit(normal_loglik, {"mu": 2900.0, "log_sigma": 0.0}, y, method=method)
    rounding = location_tolerance(y)
    for name in ("mu", "log_sigma"):
        assert abs(float(res.params[name]) - truth[name]) <= rounding[name], name
    np.testing.assert_allclose(float(res.se["mu"]), math.exp(truth["log_sigma"]) / math.sqrt(y.size),
                               rtol=HESSIAN_OPS * y.size * EPS + normal_offset(res, y))
    assert float(res.diagnostics.newton_decrement) <= EPS
    messages = [str(w.message) for w in record]
    assert messages == [], messages
    assert bool(res.converged) and bool(res.diagnostics.is_valid)


def test_normal_mle_methods_agree(normal_fits):
    newton, bfgs = normal_fits["newton"], normal_fits["bfgs"]
    floor = np.array([location_tolerance(Y200)[k] for k in newton.names])
    tol = stop_tolerance(newton) + stop_tolerance(bfgs) + floor
    np.testing.assert_array_less(np.abs(newton.estimate - bfgs.estimate), tol)
    # Each method's SEs are within (rounding + its offset from the MLE) of the closed form.
    rel = 2 * HESSIAN_OPS * Y200.size * EPS + normal_offset(newton, Y200) + normal_offset(bfgs, Y200)
    np.testing.assert_allclose(bfgs.se_vector, newton.se_vector, rtol=rel)
    np.testing.assert_allclose(float(bfgs.loglik), float(newton.loglik), rtol=HESSIAN_OPS * Y200.size * EPS)


# --------------------------------------------------------------------------------------
# Delta method
# --------------------------------------------------------------------------------------
def test_delta_sigma_natural_scale(normal_fits):
    res = normal_fits["newton"]
    n = Y200.size
    sigma_hat = math.exp(float(res.params["log_sigma"]))
    d = res.delta(lambda p: jnp.exp(p["log_sigma"]))
    assert isinstance(d, hj.DeltaResult)
    np.testing.assert_allclose(float(d.value), sigma_hat, rtol=4 * EPS)
    # se(sigma) = sigma * se(log_sigma) = sigma_hat / sqrt(2n) at the MLE.
    np.testing.assert_allclose(float(d.se), sigma_hat * float(res.se["log_sigma"]), rtol=8 * EPS)
    np.testing.assert_allclose(float(d.se), sigma_hat / math.sqrt(2.0 * n),
                               rtol=HESSIAN_OPS * n * EPS + normal_offset(res, Y200))
    assert np.shape(d.jacobian) == (1, 2)
    np.testing.assert_allclose(np.asarray(d.jacobian), [[sigma_hat, 0.0]], rtol=4 * EPS, atol=0)


def test_delta_vector_quantity_against_hand_jacobian(normal_fits):
    res = normal_fits["newton"]
    mu = float(res.params["mu"])
    sigma = math.exp(float(res.params["log_sigma"]))
    d = res.delta(lambda p: {"mean": p["mu"], "cv": jnp.exp(p["log_sigma"]) / p["mu"]})
    # Output order: ravel_pytree of {"cv", "mean"}; input order (log_sigma, mu).
    J = np.array([[sigma / mu, -sigma / mu**2], [0.0, 1.0]])
    assert np.shape(d.jacobian) == (2, 2)
    np.testing.assert_allclose(np.asarray(d.jacobian), J, rtol=8 * EPS, atol=0)
    cov = J @ np.asarray(res.cov) @ J.T
    np.testing.assert_allclose(np.asarray(d.cov), cov, rtol=32 * EPS)
    assert set(d.value) == {"mean", "cv"} and set(d.se) == {"mean", "cv"}
    np.testing.assert_allclose(float(d.value["cv"]), sigma / mu, rtol=4 * EPS)
    np.testing.assert_allclose(float(d.value["mean"]), mu, rtol=0)
    np.testing.assert_allclose(float(d.se["mean"]), float(res.se["mu"]), rtol=4 * EPS)
    np.testing.assert_allclose(float(d.se["cv"]), math.sqrt(cov[0, 0]), rtol=32 * EPS)


def test_delta_jacobian_shape_non_square(normal_fits):
    res = normal_fits["newton"]
    d = res.delta(lambda p: jnp.stack([p["mu"], jnp.exp(p["log_sigma"]), p["mu"] + p["log_sigma"]]))
    assert np.shape(d.jacobian) == (3, 2)
    assert np.shape(d.cov) == (3, 3)
    assert np.shape(d.se) == (3,)
    np.testing.assert_allclose(np.asarray(d.jacobian)[2], [1.0, 1.0], rtol=0)
    se_sum = math.sqrt(float(np.sum(res.cov)))
    np.testing.assert_allclose(float(d.se[2]), se_sum, rtol=8 * EPS)


def test_delta_rejects_non_callable(normal_fits):
    with pytest.raises(TypeError, match="callable"):
        normal_fits["newton"].delta(3.0)


# --------------------------------------------------------------------------------------
# Wald intervals
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", [0.95, 0.9, 0.5])
def test_wald_interval_is_estimate_plus_minus_z_se(normal_fits, level):
    res = normal_fits["newton"]
    ci = res.conf_int(level)
    assert isinstance(ci, np.ndarray) and ci.shape == (2, 2) and ci.dtype == np.float64
    z = stats.norm.ppf(0.5 + level / 2)
    est, se = res.estimate, res.se_vector
    np.testing.assert_allclose(ci[:, 0], est - z * se, rtol=4 * EPS)
    np.testing.assert_allclose(ci[:, 1], est + z * se, rtol=4 * EPS)
    np.testing.assert_array_equal(res.conf_int(), res.conf_int(0.95, method="wald"))


@pytest.mark.parametrize("level", [1.5, 1.0, 0.0, -0.1, float("nan")])
def test_conf_int_level_validation(normal_fits, level):
    with pytest.raises(ValueError, match="level"):
        normal_fits["newton"].conf_int(level)


def test_conf_int_unknown_method(normal_fits):
    with pytest.raises(ValueError, match="method"):
        normal_fits["newton"].conf_int(0.95, method="bootstrap")


# --------------------------------------------------------------------------------------
# Sandwich covariance
# --------------------------------------------------------------------------------------
def test_robust_cov_close_to_model_cov_when_well_specified():
    """For the correctly specified normal model the sandwich and H^-1 agree to sampling error.

    At the MLE, with z_i the standardized residuals (sum z = 0, sum z^2 = n):
    * var(mu): sandwich sum(r^2)/n^2 = s^2/n exactly equals the model variance;
    * var(log_sigma): ratio sandwich/model = mean((z^2 - 1)^2)/2, mean 1 and
      standard deviation sqrt(Var((z^2-1)^2)/n)/2 = sqrt(56/n)/2 (normal moments
      E z^8 = 105, E z^6 = 15, E z^4 = 3);
    * correlation: sum(z^3 - z)/(n sqrt 2), mean 0, sd sqrt(E(z^3 - z)^2 / (2n)) = sqrt(10/(2n)).
    Five standard deviations.
    """
    n = 20_000
    y = normal_data(seed=11, n=n)
    res = hj.fit(normal_loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
    robust = res.robust_cov()
    assert isinstance(robust, np.ndarray) and robust.shape == (2, 2)
    cov = np.asarray(res.cov)
    rounding = HESSIAN_OPS * n * EPS
    # index 0 = log_sigma, 1 = mu
    np.testing.assert_allclose(robust[1, 1], cov[1, 1], rtol=rounding)
    assert abs(robust[0, 0] / cov[0, 0] - 1.0) <= 5 * math.sqrt(56.0 / n) / 2
    assert abs(robust[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1])) <= 5 * math.sqrt(10.0 / (2 * n))

    # Exact closed form of the same sandwich from the data (no sampling argument).
    mu, s = float(res.params["mu"]), math.exp(float(res.params["log_sigma"]))
    z = (y - mu) / s
    scores = np.column_stack([z**2 - 1.0, z / s])
    H_inv = np.linalg.inv(normal_information(mu, math.log(s), y))
    expected = H_inv @ (scores.T @ scores) @ H_inv
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    np.testing.assert_array_less(np.abs(robust - expected), 4 * rounding * scale)


def test_robust_cov_mean_only_closed_form():
    y = np.array([0.0, 1.0, 5.0, -2.5, 3.25, 7.0, 0.125])
    n = y.size
    res = hj.fit(unit_variance_loglik, 0.0, y)
    assert res.names == ("x",)
    np.testing.assert_allclose(float(res.params), np.mean(y), rtol=8 * n * EPS)
    np.testing.assert_allclose(np.asarray(res.cov), [[1.0 / n]], rtol=8 * EPS)
    expected = np.sum((y - y.mean()) ** 2) / n**2
    robust = res.robust_cov()
    assert robust.shape == (1, 1)
    np.testing.assert_allclose(robust[0, 0], expected, rtol=HESSIAN_OPS * n * EPS)


def test_robust_cov_needs_per_observation_loglik():
    res = hj.fit(normal_loglik_total, {"mu": 0.0, "log_sigma": 0.0}, Y200)
    assert res.nobs is None
    with pytest.raises(ValueError, match="per-observation") as info:
        res.robust_cov()
    assert "1-D" in str(info.value)


def test_robust_cov_poisson_regression_against_numpy():
    X, y = POISSON.data()
    n, k = X.shape
    res = hj.fit(poisson_loglik, {"beta": np.zeros(k)}, X, y)
    assert bool(res.diagnostics.is_valid)
    beta = np.asarray(res.params["beta"])
    mu = np.exp(X @ beta)
    H = (X * mu[:, None]).T @ X
    e = y - mu
    meat = (X * (e**2)[:, None]).T @ X
    H_inv = np.linalg.inv(H)
    expected = H_inv @ meat @ H_inv
    # Entries of H and the meat: sums of n terms (HESSIAN_OPS n eps relative to the
    # diagonal scale); the inverse amplifies by the scaled condition number, and the
    # sandwich holds three such factors.
    d = np.sqrt(np.diag(H))
    cond = np.linalg.cond(H / np.outer(d, d))
    tol = 3.0 * cond * HESSIAN_OPS * n * EPS
    np.testing.assert_array_less(np.abs(np.asarray(res.hessian) - H), tol * np.outer(d, d))
    robust = res.robust_cov()
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    np.testing.assert_array_less(np.abs(robust - expected), tol * scale)
    # Genuinely different from the model covariance here (Poisson data, so close but not equal).
    assert not np.allclose(robust, np.asarray(res.cov), rtol=1e-6)


# --------------------------------------------------------------------------------------
# Pytree parameters, names, nobs
# --------------------------------------------------------------------------------------
def regression_data(seed=5, n=120):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal(n), rng.uniform(-1, 1, n)])
    y = X @ np.array([1.0, -0.5, 2.0]) + 0.7 * rng.standard_normal(n)
    return X, y


def test_pytree_params_regression_closed_form():
    X, y = regression_data()
    n = y.size
    init = {"beta": np.zeros(3), "log_sigma": 0.0}
    res = hj.fit(regression_loglik, init, X, y)
    assert res.names == ("beta[0]", "beta[1]", "beta[2]", "log_sigma")
    assert res.nobs == n
    assert jax.tree_util.tree_structure(res.se) == jax.tree_util.tree_structure(init)
    assert jax.tree_util.tree_structure(res.params) == jax.tree_util.tree_structure(init)
    assert np.shape(res.se["beta"]) == (3,) and np.shape(res.se["log_sigma"]) == ()
    assert np.shape(res.grad["beta"]) == (3,) and np.shape(res.grad["log_sigma"]) == ()

    # Closed form: OLS, sigma^2 = RSS/n, cov(beta) = sigma^2 (X'X)^-1, se(log sigma) = 1/sqrt(2n).
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    s2 = np.sum((y - X @ beta) ** 2) / n
    se_beta = np.sqrt(s2 * np.diag(np.linalg.inv(X.T @ X)))
    stop = stop_tolerance(res)
    d = np.sqrt(np.diag(X.T @ X))
    cond = np.linalg.cond(X.T @ X / np.outer(d, d))
    rounding = HESSIAN_OPS * n * EPS * cond
    np.testing.assert_array_less(np.abs(res.params["beta"] - beta), stop[:3] + rounding * se_beta * 10)
    np.testing.assert_allclose(res.se["beta"], se_beta, rtol=rounding + 1e-12)
    np.testing.assert_allclose(float(res.se["log_sigma"]), 1 / math.sqrt(2 * n), rtol=rounding + 1e-12)
    np.testing.assert_allclose(float(res.params["log_sigma"]), 0.5 * math.log(s2),
                               rtol=0, atol=float(stop[3]) + rounding)
    # The covariance between beta and log_sigma vanishes at the MLE (X'r = 0).
    cov = np.asarray(res.cov)
    assert np.all(np.abs(cov[:3, 3]) <= (rounding + 1e-12) * se_beta / math.sqrt(2 * n))


def test_nobs_none_for_scalar_loglik():
    res = hj.fit(normal_loglik_total, {"mu": 0.0, "log_sigma": 0.0}, Y200)
    assert res.nobs is None
    per_obs = hj.fit(normal_loglik, {"mu": 0.0, "log_sigma": 0.0}, Y200)
    assert per_obs.nobs == Y200.size
    # Same model, same numbers.
    np.testing.assert_allclose(res.estimate, per_obs.estimate, rtol=1e-12)
    np.testing.assert_allclose(res.se_vector, per_obs.se_vector, rtol=1e-12)
    assert "nobs" not in res.summary().splitlines()[0]
    assert f"nobs = {Y200.size}" in per_obs.summary()


# --------------------------------------------------------------------------------------
# Data as arguments: one compilation, correct answers for each dataset
# --------------------------------------------------------------------------------------
def test_second_dataset_same_shape_no_retrace():
    y1 = normal_data(seed=21, n=50, mu=-1.0, sigma=0.5)
    y2 = normal_data(seed=22, n=50, mu=4.0, sigma=3.0)
    init = {"mu": 0.0, "log_sigma": 0.0}
    r1 = hj.fit(traced_normal_loglik, init, y1)
    traced = TRACES["count"]
    assert traced > 0
    r2 = hj.fit(traced_normal_loglik, init, y2)
    assert TRACES["count"] == traced, "the second fit on same-shaped data retraced loglik"
    for res, y in ((r1, y1), (r2, y2)):
        truth = normal_mle(y)
        rounding = location_tolerance(y)
        stop = dict(zip(res.names, stop_tolerance(res)))
        for name in ("mu", "log_sigma"):
            assert abs(float(res.params[name]) - truth[name]) <= rounding[name] + stop[name]
        np.testing.assert_allclose(float(res.se["mu"]), math.exp(truth["log_sigma"]) / math.sqrt(y.size),
                                   rtol=HESSIAN_OPS * y.size * EPS + normal_offset(res, y))
    assert abs(float(r1.params["mu"]) - float(r2.params["mu"])) > 1.0
    # The data travel with each result.
    np.testing.assert_array_equal(np.asarray(r1.data[0]), y1)
    np.testing.assert_array_equal(np.asarray(r2.data[0]), y2)


# --------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------
Y5 = np.array([0.5, 1.5, 1.0, 2.0, 0.0])


def _row(summary: str, name: str) -> list[str]:
    for line in summary.splitlines():
        tokens = line.split()
        if tokens and tokens[0] == name:
            return tokens
    raise AssertionError(f"no row for {name!r} in\n{summary}")


def test_summary_names_verdict_and_html(normal_fits):
    res = normal_fits["newton"]
    text = res.summary()
    for name in res.names:
        assert name in text
    assert "VALID: a strict local maximum" in text
    assert "NOT VALID" not in text
    assert repr(res) == text
    html = res._repr_html_()
    assert "<table" in html and "</table>" in html
    for name in res.names:
        assert f"<td>{name}</td>" in html


def test_summary_rounds_estimate_to_se_precision():
    # mu = 1, se(mu) = sqrt(0.5/5) = 0.3162: two significant SE digits -> 2 decimals
    # for the estimate and interval, 3 for the SE.
    res = hj.fit(normal_loglik, {"mu": 0.0, "log_sigma": 0.0}, Y5)
    se = math.sqrt(0.5 / 5)
    p = 2 * stats.norm.sf(1.0 / se)
    assert _row(res.summary(), "mu") == [
        "mu", "1.00", "0.316", f"{1.0 / se:.2f}", f"{p:.3g}",
        f"{1.0 - Z975 * se:.2f}", f"{1.0 + Z975 * se:.2f}",
    ]
    assert _row(res.summary(), "mu")[5:] == ["0.38", "1.62"]
    # Same data in units of 1e-3: se 3.16e-4 -> 5 decimals for the estimate, 6 for the SE.
    small = hj.fit(normal_loglik, {"mu": 0.0, "log_sigma": -5.0}, 1e-3 * Y5)
    row = _row(small.summary(), "mu")
    assert row[1:3] == ["0.00100", "0.000316"]
    # A 90% summary uses the 90% interval.
    row90 = _row(res.summary(level=0.9), "mu")
    z90 = stats.norm.ppf(0.95)
    assert row90[5:] == [f"{1.0 - z90 * se:.2f}", f"{1.0 + z90 * se:.2f}"]
    assert "[90%" in res.summary(level=0.9)
    for r in (res, small):
        _assert_printed_to_se_precision(r)


def _assert_printed_to_se_precision(res):
    """Each printed estimate and interval end is the value rounded at (or below) the
    second significant digit of its SE: off by at most half a unit there, <= 0.05 se."""
    text = res.summary()
    ci = res.conf_int()
    for i, name in enumerate(res.names):
        row = _row(text, name)
        se = res.se_vector[i]
        for printed, value in ((row[1], res.estimate[i]), (row[5], ci[i, 0]), (row[6], ci[i, 1])):
            assert abs(float(printed) - value) <= 0.05 * se, (name, printed, value, se, text)


def test_summary_large_estimates_keep_se_precision():
    """|estimate| >= 1e6 with an SE of ~730: the estimate and interval must still be
    printed to the SE's precision (not to 4 significant digits, which here rounds the
    estimate by more than the SE and prints both interval ends alike)."""
    y = normal_data(seed=3, n=200, mu=1234567.0, sigma=1e4)
    res = hj.fit(normal_loglik, {"mu": 1.2e6, "log_sigma": 9.0}, y)
    assert bool(res.diagnostics.is_valid)
    _assert_printed_to_se_precision(res)


# --------------------------------------------------------------------------------------
# Pseudo-inverse covariance (on request, flagged)
# --------------------------------------------------------------------------------------
def test_pinv_covariance_on_singular_model_is_flagged():
    y = np.array([1.0, 2.0, 3.0, 4.5])
    n = y.size
    with pytest.warns(hj.HessianWarning, match="pseudo-inverse"):
        res = hj.fit(sum_identified_loglik, {"a": 0.0, "b": 0.0}, y, covariance="pinv")
    assert res.covariance_method == "pinv"
    assert not bool(res.diagnostics.hessian_is_pd)
    assert not bool(res.diagnostics.is_valid)
    cov = np.asarray(res.cov)
    assert np.all(np.isfinite(cov))
    # H = n [[1, 1], [1, 1]]; its pseudo-inverse is [[1, 1], [1, 1]] / (4n).
    np.testing.assert_allclose(np.asarray(res.hessian), n * np.ones((2, 2)), rtol=4 * EPS)
    np.testing.assert_allclose(cov, np.ones((2, 2)) / (4 * n), rtol=HESSIAN_OPS * EPS)
    np.testing.assert_allclose(cov, np.linalg.pinv(np.asarray(res.hessian)), rtol=HESSIAN_OPS * EPS)
    # The identified combination a + b is the sample mean, up to where the optimizer's
    # relative-gradient test (max |g_i| max(|x_i|, 1) / max(|f|, 1) <= eps^(2/3)) lets
    # it stop: |g| = n |a + b - ybar|.
    x = max(abs(float(res.params["a"])), abs(float(res.params["b"])), 1.0)
    stop = EPS ** (2 / 3) * max(abs(float(res.loglik)), 1.0) / (n * x)
    rounding = HESSIAN_OPS * n * EPS * np.max(np.abs(y))
    assert abs(float(res.params["a"] + res.params["b"]) - np.mean(y)) <= stop + rounding
    text = res.summary()
    assert "PSEUDO-INVERSE" in text
    assert "NOT VALID" in text
    assert "pseudo-inverse" in res._repr_html_().lower()


def test_default_covariance_on_singular_model_is_nan():
    y = np.array([1.0, 2.0, 3.0, 4.5])
    with pytest.warns(hj.HessianWarning):
        res = hj.fit(sum_identified_loglik, {"a": 0.0, "b": 0.0}, y)
    assert res.covariance_method == "cholesky"
    assert np.all(np.isnan(np.asarray(res.cov)))
    assert "PSEUDO-INVERSE" not in res.summary()


# --------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance", ["inverse", "PINV", None, "sandwich"])
def test_invalid_covariance_argument(covariance):
    with pytest.raises(ValueError, match="covariance"):
        hj.fit(normal_loglik, {"mu": 0.0, "log_sigma": 0.0}, Y200, covariance=covariance)


def test_loglik_returning_2d_is_rejected():
    with pytest.raises(ValueError, match=re.escape("(4, 2)")):
        hj.fit(matrix_loglik, np.zeros(2), np.arange(4.0))
