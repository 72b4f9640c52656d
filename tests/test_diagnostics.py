"""The optimum certificate (``FitResult.diagnostics``): flags, numbers and named
directions, against independent NumPy computations and known-answer models.

Tolerances follow ``tests/test_fit.py``: Hessian entries of a summed objective
carry a rounding error of about ``HESSIAN_OPS * n * eps`` relative to the
diagonal scale; eigenvalues of a symmetric matrix are perturbed by at most the
perturbation's 2-norm (Weyl), so computed eigenvalues agree to about
``p * eps * |lambda_max|`` in absolute terms.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj


def mixture_negloglik(params, y):
    """Negative log-likelihood of a two-component normal mixture."""
    log_w = jax.nn.log_sigmoid(params["logit_w"])
    log_1mw = jax.nn.log_sigmoid(-params["logit_w"])
    mu, log_s = params["mu"], params["log_s"]
    l1 = jax.scipy.stats.norm.logpdf(y, mu[0], jnp.exp(log_s[0]))
    l2 = jax.scipy.stats.norm.logpdf(y, mu[1], jnp.exp(log_s[1]))
    return -jnp.sum(jnp.logaddexp(log_w + l1, log_1mw + l2))


def simulate_mixture(seed: int = 0, n: int = 600) -> np.ndarray:
    """Bimodal data: half from N(-2, 1), half from N(2, 1)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-2.0, 1.0, n // 2), rng.normal(2.0, 1.0, n - n // 2)])
from problems import POISSON, SCALED

EPS = float(np.finfo(np.float64).eps)
HESSIAN_OPS = 16.0


# --------------------------------------------------------------------------------------
# Module-level log-likelihoods
# --------------------------------------------------------------------------------------
def sum_identified_loglik(p, y):
    """y ~ N(a + b, 1): only a + b is identified."""
    return -0.5 * (y - p["a"] - p["b"]) ** 2


def mixture_loglik(p, y):
    """The demo's two-component mixture, as a log-likelihood (fit maximizes)."""
    return -mixture_negloglik(p, y)


def bernoulli_loglik(p, k, n):
    """Binomial proportion on its natural scale; NaN outside (0, 1)."""
    prob = p["p"]
    inside = (prob > 0.0) & (prob < 1.0)
    safe = jnp.where(inside, prob, 0.5)
    return jnp.where(inside, k * jnp.log(safe) + (n - k) * jnp.log1p(-safe), jnp.nan)


def poisson_loglik(p, X, y):
    eta = X @ p["beta"]
    return y * eta - jnp.exp(eta)


def least_squares_loglik(p, X, y):
    return -0.5 * (y - X @ p["beta"]) ** 2


# --------------------------------------------------------------------------------------
# Flat direction: y ~ N(a + b, 1)
# --------------------------------------------------------------------------------------
Y_AB = np.array([1.0, 2.0, 3.0, 0.5, 2.5])


@pytest.fixture(scope="module")
def unidentified():
    with pytest.warns(hj.HessianWarning) as record:
        res = hj.fit(sum_identified_loglik, {"a": 0.0, "b": 0.0}, Y_AB)
    return res, record


def test_unidentified_flags(unidentified):
    res, record = unidentified
    assert len(record) == 1
    message = str(record[0].message)
    assert "standard errors are NaN" in message and "a and b" in message
    d = res.diagnostics
    assert bool(d.converged)
    assert not bool(d.hessian_is_pd)
    assert not bool(d.is_valid)
    assert not bool(d.is_saddle)
    assert np.isnan(float(d.newton_decrement))
    assert math.isinf(float(d.condition_number))
    # H = n [[1, 1], [1, 1]]: eigenvalues 0 and 2n.
    n = Y_AB.size
    np.testing.assert_allclose(np.asarray(res.hessian), n * np.ones((2, 2)), rtol=4 * EPS)
    assert abs(float(d.min_eigenvalue)) <= 4 * 2 * EPS * 2 * n
    np.testing.assert_allclose(float(d.max_eigenvalue), 2 * n, rtol=8 * EPS)


def test_unidentified_standard_errors_are_nan(unidentified):
    res, _ = unidentified
    assert np.all(np.isnan(res.se_vector))
    assert np.isnan(float(res.se["a"])) and np.isnan(float(res.se["b"]))
    assert np.all(np.isnan(np.asarray(res.cov)))
    assert np.all(np.isnan(res.conf_int()))
    assert np.all(np.isnan(np.asarray(res.delta(lambda p: p["a"] + p["b"]).se)))


def test_unidentified_direction_is_named(unidentified):
    res, _ = unidentified
    d = res.diagnostics
    directions = d.directions()
    assert len(directions) == 1
    text = directions[0]
    assert re.match(r"^0\.707 (a - 0\.707 b|b - 0\.707 a): flat", text), text
    assert "identified" in text and "a and b" in text
    # The scaled eigenvector of the smallest eigenvalue is (1, -1)/sqrt(2).
    lam = np.asarray(d.scaled_eigenvalues)
    v = np.asarray(d.scaled_eigenvectors)[:, np.argmin(lam)]
    np.testing.assert_allclose(np.abs(v), [1 / math.sqrt(2)] * 2, rtol=8 * EPS)
    assert v[0] * v[1] < 0
    np.testing.assert_allclose(np.sort(lam), [0.0, 2.0], atol=8 * EPS)


def test_unidentified_report(unidentified):
    res, _ = unidentified
    text = str(res.diagnostics)
    assert text.startswith("NOT VALID")
    assert "singular" in text
    assert re.search(r"0\.707 (a - 0\.707 b|b - 0\.707 a)", text)
    assert "a and b are not separately identified" in text
    assert "NOT VALID" in res.summary()


# --------------------------------------------------------------------------------------
# The mixture saddle
# --------------------------------------------------------------------------------------
Y_MIX = simulate_mixture()
MIX_START = {"logit_w": 0.0, "mu": np.array([0.5, 0.5]), "log_s": np.array([0.0, 0.0])}


def test_mixture_newton_reaches_strict_maximum():
    res = hj.fit(mixture_loglik, MIX_START, Y_MIX)
    d = res.diagnostics
    assert bool(d.is_valid) and bool(d.hessian_is_pd) and not bool(d.is_saddle)
    assert d.directions() == []
    assert str(d).startswith("VALID")
    # Half the data from N(-2, 1), half from N(2, 1): each mean is estimated from
    # about 300 points, sd ~ 1/sqrt(300) ~ 0.06; 5 sd.
    mu = np.sort(np.asarray(res.params["mu"]))
    np.testing.assert_allclose(mu, [-2.0, 2.0], atol=5 / math.sqrt(300))
    np.testing.assert_allclose(np.asarray(res.params["log_s"]), 0.0, atol=5 / math.sqrt(2 * 300))
    assert abs(float(res.params["logit_w"])) <= 5 * 2 / math.sqrt(600)
    assert np.all(np.isfinite(res.se_vector))


def test_mixture_bfgs_stops_at_the_saddle_and_is_flagged():
    with pytest.warns(hj.HessianWarning, match="saddle") as record:
        res = hj.fit(mixture_loglik, MIX_START, Y_MIX, method="bfgs")
    assert len(record) == 1
    d = res.diagnostics
    assert bool(d.converged)  # the gradient test passes: BFGS cannot tell
    assert bool(d.is_saddle)
    assert not bool(d.is_valid) and not bool(d.hessian_is_pd)
    assert float(d.min_eigenvalue) < 0
    assert np.all(np.isnan(res.se_vector))

    # The saddle is the single-Gaussian fit: both means at the sample mean, both
    # log_s at log(std(y)), logit_w anywhere (it stays at 0 by symmetry). Bound on
    # the distance: one (minimum-norm) Newton step from the returned point.
    x = res.estimate
    g = np.concatenate([np.ravel(res.grad[k]) for k in ("log_s", "logit_w", "mu")])
    step = np.linalg.lstsq(np.asarray(res.hessian), g, rcond=None)[0]
    tol = 2 * np.abs(step) + HESSIAN_OPS * Y_MIX.size * EPS * 10
    expected = np.array([np.log(np.std(Y_MIX))] * 2 + [0.0] + [np.mean(Y_MIX)] * 2)
    assert res.names == ("log_s[0]", "log_s[1]", "logit_w", "mu[0]", "mu[1]")
    np.testing.assert_array_less(np.abs(x - expected), tol)

    directions = d.directions()
    negative = [t for t in directions if "negative curvature" in t]
    assert len(negative) == 1
    assert "mu[0]" in negative[0] and "mu[1]" in negative[0]
    assert re.match(r"^0\.70\d mu\[[01]\] - 0\.70\d mu\[[01]\]", negative[0]), negative[0]
    # The mixing weight is exactly unidentified when both components coincide.
    assert any("logit_w" in t and "flat" in t for t in directions)
    text = str(d)
    assert text.startswith("NOT VALID: a saddle point")
    assert "mu[0]" in text and "mu[1]" in text


# --------------------------------------------------------------------------------------
# Boundary: a proportion on its natural scale
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1.0, 19.0])
def test_wald_interval_crossing_the_boundary_is_flagged(k):
    n = 20.0
    with pytest.warns(hj.BoundaryWarning, match="p"):
        res = hj.fit(bernoulli_loglik, {"p": 0.3}, k, n)
    p_hat = k / n
    np.testing.assert_allclose(float(res.params["p"]), p_hat, rtol=1e-10)
    # Observed information n / (p (1 - p)) at the MLE.
    np.testing.assert_allclose(float(res.se["p"]), math.sqrt(p_hat * (1 - p_hat) / n), rtol=1e-9)
    with pytest.warns(hj.IntervalWarning, match="p"):  # Wald intervals of an invalid fit warn
        ci = res.conf_int()[0]
    assert ci[0] < 0 or ci[1] > 1  # the Wald interval really leaves (0, 1)
    d = res.diagnostics
    np.testing.assert_array_equal(np.asarray(d.at_boundary), [True])
    # The maximum itself is strict, but the Wald interval built from it is not usable:
    # the certificate says so (NOT VALID, with the parameter and the fix).
    assert bool(d.hessian_is_pd) and bool(d.converged)
    assert not bool(d.is_valid)
    assert [name for name, kind, _ in d.wald_failures()] == ["p"]
    text = str(d)
    assert text.startswith("NOT VALID: the log-likelihood is not quadratic")
    assert "p: the log-likelihood is not defined (NaN)" in text and "profile" in text


def test_interior_proportion_is_not_flagged():
    res = hj.fit(bernoulli_loglik, {"p": 0.3}, 10.0, 20.0)  # any warning fails the test
    np.testing.assert_array_equal(np.asarray(res.diagnostics.at_boundary), [False])
    np.testing.assert_allclose(float(res.params["p"]), 0.5, rtol=1e-10)
    np.testing.assert_allclose(float(res.se["p"]), math.sqrt(0.25 / 20), rtol=1e-9)
    assert bool(res.diagnostics.is_valid) and res.diagnostics.wald_failures() == []


# --------------------------------------------------------------------------------------
# Numbers of the certificate against NumPy
# --------------------------------------------------------------------------------------
def _check_certificate_numbers(res):
    d = res.diagnostics
    H = np.asarray(res.hessian)
    p = H.shape[0]
    g = np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(res.grad)])
    # Scaled information and its condition number (NumPy's 2-norm condition number of
    # an SPD matrix is lambda_max / lambda_min).
    dsc = np.sqrt(np.diag(H))
    S = H / np.outer(dsc, dsc)
    cond = np.linalg.cond(S)
    # Relative error of lambda_min is about p eps lambda_max / lambda_min = p eps cond.
    np.testing.assert_allclose(float(d.condition_number), cond, rtol=HESSIAN_OPS * p * EPS * cond)
    np.testing.assert_allclose(np.asarray(d.scaled_eigenvalues), np.linalg.eigvalsh(S),
                               rtol=0, atol=HESSIAN_OPS * p * EPS * np.max(np.abs(np.linalg.eigvalsh(S))))
    # Raw eigenvalues (Weyl: absolute error p eps |lambda_max|).
    lam = np.linalg.eigvalsh(H)
    atol = HESSIAN_OPS * p * EPS * np.max(np.abs(lam))
    assert abs(float(d.min_eigenvalue) - lam[0]) <= atol
    assert abs(float(d.max_eigenvalue) - lam[-1]) <= atol
    # Newton decrement g' H^-1 g (sign of g irrelevant), relative error ~ cond eps.
    dec = g @ np.linalg.solve(H, g)
    np.testing.assert_allclose(float(d.newton_decrement), dec, rtol=HESSIAN_OPS * p * EPS * cond)
    assert float(d.grad_norm) == np.max(np.abs(g))
    return cond, lam


def test_certificate_numbers_badly_scaled_regression():
    """Raw condition ~1e12 from units alone; the scaled one (what the certificate
    judges) is near 1."""
    X, y = SCALED.data()
    res = hj.fit(least_squares_loglik, {"beta": np.zeros(3)}, X, y)
    assert bool(res.diagnostics.is_valid)
    cond, lam = _check_certificate_numbers(res)
    assert lam[-1] / lam[0] > 1e10
    assert cond < 10
    np.testing.assert_allclose(np.asarray(res.hessian), X.T @ X, rtol=HESSIAN_OPS * y.size * EPS)


def test_certificate_numbers_poisson_and_early_stop():
    """Converged and stopped after one step: decrement, eigenvalues and condition
    number against NumPy, and the early stop flagged."""
    X, y = POISSON.data()
    init = {"beta": np.zeros(X.shape[1])}
    res = hj.fit(poisson_loglik, init, X, y)
    assert bool(res.diagnostics.is_valid)
    _check_certificate_numbers(res)

    with pytest.warns(hj.ConvergenceWarning) as record:
        early = hj.fit(poisson_loglik, init, X, y, max_steps=1)
    assert len(record) == 1
    assert "converged=False" in str(record[0].message)
    d = early.diagnostics
    assert not bool(early.converged) and not bool(d.converged)
    assert not bool(d.is_valid)
    assert bool(d.hessian_is_pd)  # Poisson information is PD everywhere
    assert not bool(early.optimizer.success)
    assert int(early.optimizer.nit) == 1
    _check_certificate_numbers(early)
    # Away from the maximum the returned gradient is that of the log-likelihood (not of
    # its negative): X'(y - mu), and the log-likelihood is sum(y eta - mu).
    eta = X @ np.asarray(early.params["beta"])
    mu = np.exp(eta)
    n = y.size
    score = X.T @ (y - mu)
    np.testing.assert_array_less(np.abs(np.asarray(early.grad["beta"]) - score),
                                 HESSIAN_OPS * n * EPS * (np.abs(X).T @ (np.abs(y) + mu)))
    terms = y * eta - mu
    assert abs(float(early.loglik) - np.sum(terms)) <= HESSIAN_OPS * n * EPS * np.sum(np.abs(terms))
    # ... and the information X' diag(mu) X.
    H = (X * mu[:, None]).T @ X
    dsc = np.sqrt(np.diag(H))
    np.testing.assert_array_less(np.abs(np.asarray(early.hessian) - H),
                                 HESSIAN_OPS * n * EPS * np.outer(dsc, dsc))
    # One step from zero is far from the maximum: the decrement is well above tolerance.
    assert float(d.newton_decrement) > math.sqrt(EPS)
    # The verdict says how far from the maximum, in SEs: at most sqrt(decrement).
    assert str(d).startswith("NOT VALID: the estimate is")
    assert 0 < float(d.newton_step_se) <= np.sqrt(float(d.newton_decrement)) * (1 + 1e-12)
    # Early SEs are still computed (the information is PD) but flagged.
    assert np.all(np.isfinite(early.se_vector))


def test_early_stop_bfgs_flagged():
    X, y = POISSON.data()
    with pytest.warns(hj.ConvergenceWarning):
        res = hj.fit(poisson_loglik, {"beta": np.zeros(X.shape[1])}, X, y, method="bfgs", max_steps=1)
    assert not bool(res.converged) and not bool(res.diagnostics.is_valid)


def test_non_convergence_is_reported_alongside_a_singular_information():
    """Two troubles at once (no convergence, information not PD): ``fit`` documents
    one warning subclass per kind of trouble, so both must be issued; the
    HessianWarning alone does not tell the user that the optimizer never converged
    (here a + b = 0 is nowhere near the maximum a + b = mean(y) = 1.8)."""
    import warnings

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", hj.HessjaxWarning)
        res = hj.fit(sum_identified_loglik, {"a": 0.0, "b": 0.0}, Y_AB, max_steps=0)
    assert not bool(res.converged) and not bool(res.diagnostics.hessian_is_pd)
    categories = {w.category for w in record}
    assert hj.HessianWarning in categories
    assert hj.ConvergenceWarning in categories, [str(w.message) for w in record]
