"""Misdiagnoses: the certificate names the real cause and the parameter.

NaN derivatives of a finite log-likelihood (the JAX FAQ's ``jnp.where`` pitfall),
non-finite data, a negative log-likelihood passed to ``fit`` by mistake, and
overflow at a probe point that is not a boundary of the parameter space.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import gammaln

import hessjax as hj


def zip_loglik_with_where_pitfall(p, y):
    """Zero-inflated Poisson; the y > 0 branch holds log(y * lam) - log(y * lam), whose
    value is discarded at y = 0 by jnp.where but whose derivative (0/0) is not."""
    pi, lam = jax.nn.sigmoid(p["logit_pi"]), jnp.exp(p["log_lam"])
    zero = jnp.log(pi + (1 - pi) * jnp.exp(-lam))
    pos = jnp.log1p(-pi) + y * jnp.log(lam) - lam - gammaln(y + 1)
    pitfall = jnp.where(y > 0, jnp.log(y * lam) - jnp.log(y * lam), 0.0)
    return jnp.where(y == 0, zero, pos) + pitfall


def test_nan_derivatives_of_a_finite_loglik_name_the_parameter():
    y = np.random.default_rng(2).poisson(2.0, 200).astype(float)
    init = {"log_lam": 0.0, "logit_pi": -1.0}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", hj.HessjaxWarning)
        res = hj.fit(zip_loglik_with_where_pitfall, init, y)
    assert np.isfinite(float(res.loglik))
    d = res.diagnostics
    assert not bool(d.is_valid)
    np.testing.assert_array_equal(np.asarray(d.nonfinite_derivative), [True, False])
    assert str(d).startswith("NOT VALID: the log-likelihood is finite but its derivatives are not for log_lam")
    assert "double where" in str(d)
    # It stops at once instead of spinning to max_steps.
    assert int(res.optimizer.nit) <= 1
    messages = " ".join(str(w.message) for w in record)
    assert "log_lam" in messages and "max_steps" not in messages


def test_non_finite_data_is_a_value_error_naming_the_argument():
    y = np.random.default_rng(0).normal(size=30)
    y[[3, 17]] = np.nan

    def loglik(p, y):
        return -0.5 * (y - p["mu"]) ** 2

    with pytest.raises(ValueError, match=r"data argument 1 \(`y`\) has 2 non-finite value\(s\).*index 3, 17"):
        hj.fit(loglik, {"mu": 0.0}, y)


def test_non_finite_data_masked_by_the_model_is_fitted():
    y = np.random.default_rng(0).normal(size=30)
    y[[3, 17]] = np.nan

    def masked(p, y):
        ok = jnp.isfinite(y)
        return jnp.where(ok, -0.5 * (jnp.where(ok, y, 0.0) - p["mu"]) ** 2, 0.0)

    res = hj.fit(masked, {"mu": 0.0}, y)
    np.testing.assert_allclose(float(res.params["mu"]), np.nanmean(y), rtol=1e-12)
    np.testing.assert_allclose(float(res.se["mu"]), 1 / np.sqrt(28), rtol=1e-12)


def test_negative_loglik_passed_by_mistake_says_fit_maximizes():
    y = np.random.default_rng(0).normal(3.0, 2.0, size=50)

    def negloglik(p, y):  # what scipy.optimize.minimize wants, passed to fit by mistake
        return jnp.sum(0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 + p["log_sigma"])

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", hj.HessjaxWarning)
        res = hj.fit(negloglik, {"log_sigma": 0.0, "mu": 0.0}, y)
    d = res.diagnostics
    assert not bool(d.is_valid) and bool(d.grows_without_bound)
    assert "negative log-likelihood" in str(d).splitlines()[0]
    assert any("fit MAXIMIZES" in str(w.message) for w in record)
    # The same function negated is a valid fit at the closed-form MLE.
    fixed = hj.fit(lambda p, y: -negloglik(p, y), {"log_sigma": 0.0, "mu": 0.0}, y)
    np.testing.assert_allclose(float(fixed.params["mu"]), y.mean(), rtol=1e-12)


def test_failed_fit_of_a_bounded_loglik_is_not_called_unbounded():
    # Too few steps: not converged, but the loglik is bounded (no "negative loglik" hint).
    y = np.random.default_rng(0).normal(3.0, 2.0, size=50)
    with pytest.warns(hj.ConvergenceWarning):
        res = hj.fit(
            lambda p, y: -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"],
            {"log_sigma": 0.0, "mu": 0.0}, y, max_steps=2,
        )
    assert not bool(res.diagnostics.grows_without_bound)


def test_overflow_at_a_probe_is_not_a_boundary_near_collinear_poisson():
    """Two covariates correlated 0.999999: the +-1.96 SE coordinate probe overflowed
    exp(eta) and raised a BoundaryWarning; the fit is a valid maximum (statsmodels)."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    n = 500
    z = rng.normal(size=n)
    X = np.column_stack([np.ones(n), z + 1e-3 * rng.normal(size=n), z + 1e-3 * rng.normal(size=n)])
    y = rng.poisson(np.exp(0.5 + 0.3 * z)).astype(float)
    res = hj.fit(lambda b, X, y: y * (X @ b) - jnp.exp(X @ b), np.zeros(3), X, y)  # no warning
    assert bool(res.diagnostics.is_valid)
    np.testing.assert_array_equal(np.asarray(res.diagnostics.at_boundary), [False] * 3)
    with warnings.catch_warnings():  # statsmodels' own convergence test is too strict here
        warnings.simplefilter("ignore")
        ref = sm.Poisson(y, X).fit(method="newton", tol=1e-14, disp=0)
    np.testing.assert_allclose(res.estimate, ref.params, rtol=1e-7)
    np.testing.assert_allclose(res.se_vector, ref.bse, rtol=1e-7)
