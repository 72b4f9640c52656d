"""Bootstrap SEs: equal to the exact SEs (well specified) or the sandwich
(misspecified) within Monte Carlo error."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj


def poisson_loglik(beta, X, y):
    eta = X @ beta
    return y * eta - jnp.exp(eta)


def normal_reg_loglik(p, x, y):
    s = jnp.exp(p["log_sigma"])
    return -0.5 * ((y - p["a"] - p["b"] * x) / s) ** 2 - p["log_sigma"]


def _tolerance(boot, n):
    # Monte Carlo SD of a bootstrap SE (relative) plus the O(n^-1/2) sampling
    # difference between two consistent SE estimators; 4 SD.
    return 4 * np.sqrt(boot.mc_se_relative**2 + 1.0 / n)


def test_nonparametric_matches_exact_se_when_well_specified():
    rng = np.random.default_rng(0)
    n = 2000
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.poisson(np.exp(X @ np.array([0.5, 0.3, -0.2]))).astype(float)
    fit = hj.fit(poisson_loglik, np.zeros(3), X, y)
    boot = hj.bootstrap(fit, n_boot=1000, key=jax.random.key(1))
    assert boot.failed_fraction == 0.0 and boot.replicates.shape == (1000, 3)
    np.testing.assert_allclose(boot.se / fit.se_vector, 1.0, atol=_tolerance(boot, n))
    np.testing.assert_allclose(boot.exact_se, fit.se_vector)
    # Percentile intervals bracket the estimate and have about the Wald width.
    wald = fit.conf_int()
    assert np.all(boot.intervals[:, 0] < fit.estimate) and np.all(boot.intervals[:, 1] > fit.estimate)
    width_ratio = np.diff(boot.intervals, axis=1)[:, 0] / np.diff(wald, axis=1)[:, 0]
    np.testing.assert_allclose(width_ratio, 1.0, atol=0.15)
    text = str(boot)
    assert "Nonparametric bootstrap: 1000 refits, 0.0% failed" in text and "x[2]" in text


def test_nonparametric_matches_sandwich_when_misspecified():
    # Heteroskedastic errors fitted with a constant-variance normal model: the
    # exact-Hessian SE of the slope is wrong; the sandwich and the bootstrap agree.
    rng = np.random.default_rng(2)
    n = 1500
    x = rng.uniform(0, 2, n)
    y = 1.0 + 2.0 * x + (0.1 + 3 * np.abs(x - 1) ** 3) * rng.normal(size=n)
    init = {"a": 0.0, "b": 0.0, "log_sigma": 0.0}
    fit = hj.fit(normal_reg_loglik, init, x, y)
    robust_se = np.sqrt(np.diag(fit.robust_cov()))
    boot = hj.bootstrap(fit, n_boot=1000, key=3)
    names = list(fit.names)
    b = names.index("b")
    tol = _tolerance(boot, n)
    assert abs(boot.se[b] / robust_se[b] - 1) < tol
    # ...and the test can fail: the model-based SE is far off the sandwich.
    assert abs(fit.se_vector[b] / robust_se[b] - 1) > 2 * tol


def test_parametric_bootstrap_and_reproducibility():
    def loglik(p, y):
        return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]

    def simulate(key, p):
        return p["mu"] + jnp.exp(p["log_sigma"]) * jax.random.normal(key, (300,))

    y = np.random.default_rng(4).normal(3.0, 1.5, 300)
    fit = hj.fit(loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
    boot = hj.bootstrap(fit, n_boot=800, key=5, kind="parametric", simulate=simulate)
    # Closed forms: SE(mu) = sigma_hat / sqrt(n), SE(log_sigma) = 1 / sqrt(2n).
    np.testing.assert_allclose(boot.se / fit.se_vector, 1.0, atol=_tolerance(boot, 300))
    again = hj.bootstrap(fit, n_boot=800, key=5, kind="parametric", simulate=simulate)
    np.testing.assert_array_equal(again.replicates, boot.replicates)
    other = hj.bootstrap(fit, n_boot=800, key=6, kind="parametric", simulate=simulate)
    assert not np.array_equal(other.replicates, boot.replicates)


def test_inline_lambda_loglik_survives_for_bootstrap_and_robust_cov():
    y = np.random.default_rng(7).normal(size=200)
    fit = hj.fit(lambda mu, y: -0.5 * (y - mu) ** 2, 0.0, y)
    import gc

    gc.collect()
    boot = hj.bootstrap(fit, n_boot=200, key=0)
    assert np.isfinite(boot.se).all()
    np.testing.assert_allclose(fit.robust_cov()[0, 0], np.var(y) / 200, rtol=1e-12)


def test_bootstrap_input_errors():
    y = np.random.default_rng(8).normal(size=50)
    scalar = hj.fit(lambda mu, y: -0.5 * jnp.sum((y - mu) ** 2), 0.0, y)
    with pytest.raises(ValueError, match="per-observation"):
        hj.bootstrap(scalar, n_boot=10, key=0)
    per_obs = hj.fit(lambda mu, y: -0.5 * (y - mu) ** 2, 0.0, y)
    with pytest.raises(ValueError, match="key"):
        hj.bootstrap(per_obs, n_boot=10)
    with pytest.raises(TypeError, match="key"):
        hj.bootstrap(per_obs, n_boot=10, key="seed")
    with pytest.raises(ValueError, match="simulate"):
        hj.bootstrap(per_obs, n_boot=10, key=0, kind="parametric")
    with pytest.raises(ValueError, match="kind"):
        hj.bootstrap(per_obs, n_boot=10, key=0, kind="jackknife")
    with pytest.raises(ValueError, match="n_boot"):
        hj.bootstrap(per_obs, n_boot=1, key=0)
    with pytest.raises(TypeError, match="FitResult"):
        hj.bootstrap(np.zeros(3), n_boot=10, key=0)


def test_refits_that_run_off_to_infinity_are_kept_counted_and_warned_about():
    """Separation in a resample: the refit is not a certified maximum (its slope runs off).
    It stays in the replicates (dropping it would bias the SE down), and the result and one
    warning say how many there are."""
    x = np.linspace(-2.0, 2.0, 20)
    y = (x > 0).astype(float)
    y[[9, 10]] = y[[10, 9]]  # two overlapping points: resamples without both are separated

    def logit(p, x, y):
        eta = p["a"] + p["b"] * x
        return y * eta - jnp.logaddexp(0.0, eta)

    fit = hj.fit(logit, {"a": 0.0, "b": 0.0}, x, y)
    assert bool(fit.diagnostics.is_valid)
    with pytest.warns(hj.ConvergenceWarning, match="not certified maxima"):
        boot = hj.bootstrap(fit, n_boot=40, key=1)
    runaway = np.sum(np.abs(boot.replicates[:, 1]) > 20 * abs(fit.estimate[1]))
    assert runaway >= 1
    assert boot.uncertified_fraction * np.sum(np.isfinite(boot.replicates[:, 0])) >= runaway
    assert "not certified (kept)" in str(boot)
