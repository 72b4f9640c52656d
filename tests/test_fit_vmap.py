"""``fit`` is pure: jax.vmap over datasets gives one batched FitResult."""

import jax
import jax.numpy as jnp
import numpy as np

import hessjax as hj


def normal_loglik(p, y):
    s = jnp.exp(p["log_sigma"])
    return -0.5 * ((y - p["mu"]) / s) ** 2 - p["log_sigma"]


def test_vmapped_fit_matches_closed_forms_and_single_fits():
    y = np.random.default_rng(0).normal(1.0, 2.0, (64, 50))
    init = {"mu": 0.0, "log_sigma": 0.0}
    with jax.enable_x64(True):
        batched = jax.jit(jax.vmap(lambda data: hj.fit(normal_loglik, init, data)))(jnp.asarray(y))
    assert isinstance(batched, hj.FitResult)
    assert np.all(np.asarray(batched.diagnostics.is_valid))
    mu, se_mu = np.asarray(batched.params["mu"]), np.asarray(batched.se["mu"])
    sigma_hat = y.std(axis=1)
    # Closed forms: mean and sigma_hat / sqrt(n); the optimizer stops at a
    # relative gradient of eps^(2/3), so the estimate is exact to ~1e-9 SE.
    np.testing.assert_allclose(mu, y.mean(axis=1), atol=1e-9 * se_mu.max())
    np.testing.assert_allclose(se_mu, sigma_hat / np.sqrt(50), rtol=1e-8)
    one = hj.fit(normal_loglik, init, y[3])
    np.testing.assert_allclose(mu[3], one.params["mu"], rtol=1e-10)
    h = np.asarray(batched.hessian)[3]
    np.testing.assert_allclose(h, one.hessian, rtol=1e-10, atol=1e-10 * np.abs(h).max())
    assert "batch of 64 fits" in repr(batched)
    assert "64 valid" in str(batched.diagnostics)
