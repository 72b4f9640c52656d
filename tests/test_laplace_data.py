"""Random effects by the Laplace approximation on two classic real data sets.

Data (both from Rdatasets, https://github.com/vincentarelbundock/Rdatasets, commit 1dcc2bf,
copied unchanged):

- ``data/dietox.csv`` (``csv/geepack/dietox.csv``, R package geepack): weights of 72 pigs
  weighed weekly for 12 weeks (861 rows). Gaussian random-intercept model
  ``Weight ~ Time + (1 | Pig)``; its marginal is Gaussian, so the Laplace approximation is
  exact and statsmodels' ``MixedLM`` (ML, not REML) is an independent reference.
- ``data/cbpp.csv`` (``csv/lme4/cbpp.csv``, R package lme4): contagious bovine
  pleuropneumonia, 15 herds in 4 periods (56 rows). Binomial GLMM
  ``cbind(incidence, size - incidence) ~ period + (1 | herd)``, lme4's standard ``glmer``
  example, whose default (``nAGQ = 1``) is the Laplace approximation.

References for cbpp: lme4's printed summary (4 decimals: fixed effects -1.3983, -0.9919,
-1.1282, -1.5797; herd variance 0.4123; logLik -92.0), and the full-precision Laplace
estimates from glmmML, glmmADMB and lme4.0 that lme4's own ``tests/glmer-1.R`` checks
``glmer`` against (``all.equal(..., tol = 4e-5)``); for adaptive Gauss-Hermite quadrature
with 25 nodes, that file's ``nAGQ = 25`` fixed effects and deviance (100.010030538022, checked
there to 1e-9). Then, to rounding, an independent Laplace in NumPy/SciPy (one scalar Newton
per herd) evaluated at hessjax's estimate, its gradient there (the optimum), its sdreport
variance of the herd modes, and numdifftools' Richardson-extrapolated Hessian of it against
hessjax's exact one.
"""

from __future__ import annotations

import csv
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit, gammaln, xlogy

import hessjax as hj

DATA = Path(__file__).resolve().parent / "data"
EPS = np.finfo(float).eps
LOG2PI = float(np.log(2 * np.pi))


# --------------------------------------------------------------------------- dietox (LMM)


def _read_dietox():
    with open(DATA / "dietox.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    pig = np.array([int(r["Pig"]) for r in rows])
    weight = np.array([float(r["Weight"]) for r in rows])
    time = np.array([float(r["Time"]) for r in rows])
    return pig, weight, time


def dietox_joint(p, u, y, t, g):
    """log p(y, u): Weight = a + b Time + u_pig + e, u ~ N(0, tau^2), e ~ N(0, sigma^2)."""
    s, tau = jnp.exp(p["log_sigma"]), jnp.exp(p["log_tau"])
    r = y - p["intercept"] - p["slope"] * t - u[g]
    return (jnp.sum(-0.5 * (r / s) ** 2 - jnp.log(s) - 0.5 * LOG2PI)
            + jnp.sum(-0.5 * (u / tau) ** 2 - jnp.log(tau) - 0.5 * LOG2PI))


@pytest.fixture(scope="module")
def dietox():
    pig, y, t = _read_dietox()
    pigs, g = np.unique(pig, return_inverse=True)
    init = {"intercept": 15.0, "slope": 6.0, "log_sigma": 1.0, "log_tau": 1.5}
    res = hj.fit_laplace(dietox_joint, init, np.zeros(pigs.size), y, t, g)
    return pigs, res


def test_dietox_data_file():
    pig, y, t = _read_dietox()
    assert y.shape == (861,) and np.unique(pig).size == 72
    assert t.min() == 1 and t.max() == 12 and np.all(np.isfinite(y))


def test_dietox_random_intercept_model_matches_statsmodels_mixedlm(dietox):
    smf = pytest.importorskip("statsmodels.formula.api")
    pd = pytest.importorskip("pandas")
    pigs, res = dietox
    assert bool(res.diagnostics.is_valid)
    frame = pd.read_csv(DATA / "dietox.csv")
    # statsmodels' default stop leaves its variance components ~1.6e-6 (relative) from the
    # optimum and its SEs ~7e-7; at gtol=1e-10 the two agree to 1e-13 (log-likelihood, fixed
    # effects), 5e-10 (variances), 2e-10 (SEs), 1e-11 (BLUPs), and the tolerances below leave
    # at least ~20x room above those measured differences.
    sm = smf.mixedlm("Weight ~ Time", frame, groups=frame["Pig"]).fit(reml=False, method="bfgs", gtol=1e-10)
    assert sm.converged
    p = res.params
    assert float(res.loglik) == pytest.approx(sm.llf, rel=1e-12)
    np.testing.assert_allclose([p["intercept"], p["slope"]], sm.fe_params.to_numpy(), rtol=1e-10)
    # Variance components: sigma^2 = statsmodels' scale, tau^2 = its cov_re.
    assert np.exp(2 * p["log_sigma"]) == pytest.approx(sm.scale, rel=1e-8)
    assert np.exp(2 * p["log_tau"]) == pytest.approx(float(sm.cov_re.to_numpy()[0, 0]), rel=1e-8)
    # Fixed-effect SEs (statsmodels: inverse of its analytic Hessian) and the predicted
    # random intercepts (BLUPs at the MLE).
    np.testing.assert_allclose([res.se["intercept"], res.se["slope"]], sm.bse_fe.to_numpy(), rtol=1e-8)
    blup = np.array([sm.random_effects[k].iloc[0] for k in pigs])
    np.testing.assert_allclose(res.random, blup, rtol=0, atol=1e-9 * np.max(np.abs(blup)))


# --------------------------------------------------------------------------- cbpp (GLMM)

# lme4's printed glmer summary (Laplace), 4 decimals.
LME4_FIXEF = np.array([-1.3983, -0.9919, -1.1282, -1.5797])
LME4_HERD_VARIANCE = 0.4123
LME4_LOGLIK = -92.0
# Full-precision Laplace fits recorded in lme4's tests/glmer-1.R, which checks glmer against
# them with all.equal(tol = 4e-5) (mean relative difference).
GLMER_1_R = {
    "glmmML": [-1.39853234657711, -0.992336901732793, -1.12867036466201, -1.58030977686564],
    "glmmADMB": [-1.39853810064827, -0.99233330126975, -1.12867317840779, -1.58031150854503],
    "lme4.0": [-1.39853505102576, -0.992334712470269, -1.12867541092127, -1.58037389566025],
}

# glmer(..., nAGQ = 25) in tests/glmer-1.R: fixed effects (lme4a, checked with tol = 5e-4)
# and deviance (checked with tol = 1e-9).
GLMER_1_R_NAGQ25 = [-1.39922533406847, -0.991407294757321, -1.12782184600404, -1.57946627431248]
GLMER_1_R_NAGQ25_DEVIANCE = 100.010030538022


def _read_cbpp():
    table = np.loadtxt(DATA / "cbpp.csv", delimiter=",", skiprows=1)
    _, herd, incidence, size, period = table.T
    herd = herd.astype(int) - 1
    X = np.column_stack([np.ones(len(table))] + [(period == k).astype(float) for k in (2, 3, 4)])
    log_choose = gammaln(size + 1) - gammaln(incidence + 1) - gammaln(size - incidence + 1)
    return incidence, size, X, herd, log_choose


def cbpp_joint(p, u, k, n, X, herd, log_choose):
    """log p(y, u): logit P(case) = X beta + u_herd, u ~ N(0, sd^2); lme4's logLik includes
    log choose(size, incidence), so it is included here too."""
    eta = X @ p["beta"] + u[herd]
    sd = jnp.exp(p["log_sd"])
    return (jnp.sum(log_choose + k * eta - n * jnp.logaddexp(0.0, eta))
            + jnp.sum(-0.5 * (u / sd) ** 2 - jnp.log(sd) - 0.5 * LOG2PI))


def numpy_laplace(theta, k, n, X, herd, log_choose):
    """An independent Laplace marginal in NumPy: the herds are independent given theta, so
    the marginal is a sum of one-dimensional Laplace approximations, each at the herd's mode
    found by scalar Newton. Returns (marginal, modes, h) with h = -d2 joint / du2 at the modes."""
    beta, log_sd = np.asarray(theta[:4]), theta[4]
    var = np.exp(2 * log_sd)
    xb = X @ beta
    n_herds = herd.max() + 1
    total, modes, curvature = 0.0, np.zeros(n_herds), np.zeros(n_herds)
    for j in range(n_herds):
        m = herd == j
        u = 0.0
        for _ in range(100):
            pr = expit(xb[m] + u)
            step = (np.sum(k[m] - n[m] * pr) - u / var) / (np.sum(n[m] * pr * (1 - pr)) + 1 / var)
            u += step
            if abs(step) < 1e-15:
                break
        eta = xb[m] + u
        pr = expit(eta)
        h = np.sum(n[m] * pr * (1 - pr)) + 1 / var
        joint = (np.sum(log_choose[m] + k[m] * eta - n[m] * np.logaddexp(0.0, eta))
                 - 0.5 * u**2 / var - 0.5 * np.log(2 * np.pi * var))
        total += joint + 0.5 * np.log(2 * np.pi) - 0.5 * np.log(h)
        modes[j], curvature[j] = u, h
    return total, modes, curvature


@pytest.fixture(scope="module")
def cbpp():
    data = _read_cbpp()
    n_herds = data[3].max() + 1
    res = hj.fit_laplace(cbpp_joint, {"beta": np.zeros(4), "log_sd": 0.0}, np.zeros(n_herds), *data)
    return data, res


@pytest.fixture(scope="module")
def cbpp_richardson(cbpp):
    """numdifftools' Richardson-extrapolated Hessian (and its error estimate) of the negative
    NumPy marginal at hessjax's estimate."""
    nd = pytest.importorskip("numdifftools")
    data, res = cbpp
    out = nd.Hessian(lambda t: -numpy_laplace(t, *data)[0], full_output=True)(res.estimate)
    return np.asarray(out[0]), np.asarray(out[1])


def test_cbpp_data_file():
    k, n, X, herd, _ = _read_cbpp()
    assert k.shape == (56,) and herd.max() == 14 and np.all(k <= n)
    assert X.sum(axis=0).tolist() == [56.0, 14.0, 14.0, 13.0]  # period 1: 15 rows


def test_cbpp_binomial_glmm_matches_lme4_glmer(cbpp):
    _, res = cbpp
    assert bool(res.diagnostics.is_valid)
    assert res.names == ("beta[0]", "beta[1]", "beta[2]", "beta[3]", "log_sd")
    beta = res.params["beta"]
    # glmer's optimizer tolerances and 4-decimal printing: agreement to ~1e-3.
    np.testing.assert_allclose(beta, LME4_FIXEF, rtol=0, atol=1e-3)
    assert np.exp(2 * res.params["log_sd"]) == pytest.approx(LME4_HERD_VARIANCE, abs=1e-3)
    assert float(res.loglik) == pytest.approx(LME4_LOGLIK, abs=0.05)
    # lme4's own full-precision references, with its own criterion (R's all.equal).
    for name, reference in GLMER_1_R.items():
        reference = np.asarray(reference)
        mean_relative = np.mean(np.abs(beta - reference)) / np.mean(np.abs(reference))
        assert mean_relative < 4e-5, name
    # Measured: mean relative 2e-6 (glmmML, glmmADMB), 1.3e-5 (lme4.0); the two tightest
    # (glmmML, glmmADMB) agree with hessjax to ~4e-6 elementwise.
    for name in ("glmmML", "glmmADMB"):
        np.testing.assert_allclose(beta, GLMER_1_R[name], rtol=1e-5, err_msg=name)


def test_cbpp_matches_an_independent_numpy_laplace(cbpp, cbpp_richardson):
    nd = pytest.importorskip("numdifftools")
    data, res = cbpp
    theta = res.estimate
    value, modes, h = numpy_laplace(theta, *data)
    # The same approximation, the same constant: equal to rounding (measured: identical).
    assert float(res.loglik) == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(res.random, modes, rtol=0, atol=1e-10)
    # hessjax's estimate is the NumPy marginal's maximizer: the Newton step there, with
    # numdifftools' gradient and Hessian of the NumPy marginal, is below 1e-8 (measured 5e-13).
    fd_hess, _ = cbpp_richardson
    fd_grad = nd.Gradient(lambda t: -numpy_laplace(t, *data)[0])(theta)
    assert np.max(np.abs(np.linalg.solve(fd_hess, fd_grad))) < 1e-8
    # sdreport, independently: Var(u_hat) = 1/h + J cov J', J = d u_hat / d theta by
    # Richardson extrapolation, cov = the inverse of the Richardson Hessian.
    J = nd.Jacobian(lambda t: numpy_laplace(t, *data)[1])(theta)
    var = np.diag(1.0 / h) + J @ np.linalg.inv(fd_hess) @ J.T
    # Measured: 3e-12 relative.
    np.testing.assert_allclose(res.random_se, np.sqrt(np.diag(var)), rtol=1e-8)


def test_cbpp_exact_marginal_hessian_matches_richardson_fd(cbpp, cbpp_richardson):
    _, res = cbpp
    fd, error = cbpp_richardson
    H = np.asarray(res.hessian)
    # numdifftools' own error estimate bounds the FD error (measured: max |H - FD| 2e-10 to
    # 4e-10, max error estimate 6e-10 to 8e-10, each element within ~1.3x its own estimate,
    # |H| <= 24); add rounding of the exact Hessian.
    tol = 10 * np.max(error) + 1e3 * EPS * np.max(np.abs(fd))
    np.testing.assert_allclose(H, fd, rtol=0, atol=tol)
    np.testing.assert_allclose(res.se_vector, np.sqrt(np.diag(np.linalg.inv(fd))), rtol=1e-8)


def test_cbpp_adaptive_gauss_hermite_matches_lme4_nagq25():
    data = _read_cbpp()
    k, n, _, herd, log_choose = data
    res = hj.fit_laplace(cbpp_joint, {"beta": np.zeros(4), "log_sd": 0.0}, np.zeros(herd.max() + 1), *data,
                         n_quadrature=25)
    assert bool(res.diagnostics.is_valid)
    # Measured: 5e-6 relative at most (lme4's own check: 5e-4).
    np.testing.assert_allclose(res.params["beta"], GLMER_1_R_NAGQ25, rtol=2e-5)
    # lme4's GLMM deviance is -2 (logLik - the saturated binomial logLik); measured: 1.3e-11.
    saturated = np.sum(log_choose + xlogy(k, k / n) + xlogy(n - k, 1 - k / n))
    deviance = -2.0 * (float(res.loglik) - saturated)
    assert deviance == pytest.approx(GLMER_1_R_NAGQ25_DEVIANCE, rel=1e-9)
