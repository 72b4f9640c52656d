"""``fit(..., bounds=, fixed=)``: parameters with bounds and parameters held fixed.

Every number is checked against a truth computed without hessjax:

1. Closed forms. Exponential rate: 1/ybar, SE rate/sqrt(n). Binomial 25/25 and
   0/25 (Bernoulli trials) with p in (0, 1): the estimate sits on the bound, SE
   NaN, one BoundaryWarning, and the 95% profile interval is [exp(-q/n), 1]
   (and [0, 1 - exp(-q/n)]), q = chi2_1(0.95)/2. Normal linear regression with
   sigma and one coefficient bounded below by 0 and another coefficient fixed:
   OLS with that coefficient's term moved to the response (QR), sigma^2 = rss/n,
   SE(beta) = sqrt(diag(sigma^2 (X'X)^-1)), SE(sigma) = sigma/sqrt(2n), and the
   maximized log-likelihood -n/2 (log(2 pi sigma^2) + 1).
2. The delta method through the map: the bounded fit equals the fit of the same
   model with those parameters unbounded, in natural coordinates.
3. iminuit (``limits``, ``fixed``, ``errordef=0.5``, MIGRAD/HESSE/MINOS) on a
   zero-inflated Poisson with the inflation 2.5 SE above its bound 0; lmfit
   (``min``, ``vary=False``) on the regression of 1.
4. Invalid bounds/fixed raise before anything is traced.
5. fit_batch, bootstrap, coverage_study and ``hessjax check`` with bounds/fixed:
   per-dataset fits, the exact bootstrap distribution of a binomial proportion,
   the exact coverage of the binomial Wald interval, closed forms.
6. A variance component at zero (y ~ N(mu, s2 + v), s2 known): an estimate on
   the bound is never VALID and never has a finite SE.
7. The docs' example (docs/constraints.md) runs and its numbers are the closed forms.

Two tests are regression tests for bugs this file found (fixed): the profile interval
of an estimate on a one-sided bound whose log-likelihood is quadratic on the natural
scale, and contradictory bounds/fixed specifications that were accepted silently.

Tolerances. EPS is float64's unit roundoff, GTOL = EPS^(2/3) the optimizer's
default relative-gradient tolerance. hessjax's certificate bounds the distance of
its estimate from the maximum: ``newton_step_se`` = sqrt(g'H^-1 g), the Newton
step in standard-error units (computed on the free coordinates; the monotone map
changes it only to second order). So an estimate is within newton_step_se SEs of
the exact maximum, plus the rounding of the log-likelihood's gradient (an n-term
sum: at most n eps of its terms' magnitude, n^1.5 eps SEs for the models here,
see ``rounding_se``). An estimate ON a bound sits at z = +-inf in free
coordinates, where the optimizer stops by its gradient test
|g_z| max(|z|, 1) <= GTOL max(|f|, 1); with g_z = dloglik/dx * dx/dz this gives
an exact bound on the distance of x from the bound (``stop_distance``).
Anchors' tolerances are stated where they are used.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import linalg, optimize, stats
from scipy.special import gammaln as sp_gammaln

import hessjax as hj
from hessjax.warnings import BoundaryWarning, HessjaxWarning

EPS = np.finfo(np.float64).eps
GTOL = EPS ** (2.0 / 3.0)  # hessjax's default gtol (hessjax._precision.default_gtol)
Q95 = 0.5 * stats.chi2.ppf(0.95, 1)  # the profile-likelihood drop of a 95% interval
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "constraints.md"
# conf_int(method="profile") stops when the profile drop misses Q95 by at most
# 1e-9 max(Q95, 1) (hessjax.profile._ENDPOINT_RTOL): the endpoint then lies within
# that drop divided by the profile's slope there.
PROFILE_DROP_TOL = 1e-9 * max(Q95, 1.0)


# -- helpers -------------------------------------------------------------------------------
def recorded(call, *args, **kwargs):
    """``(result, warnings)``: ``call``'s result and the warnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call(*args, **kwargs)
    return out, [(w.category, str(w.message)) for w in caught]


def step_se(fit) -> float:
    """The certificate's distance from the maximum in SE units (on the free coordinates)."""
    base = fit if fit.free_fit is None else fit.free_fit
    return float(base.diagnostics.newton_step_se)


def rounding_se(n: int) -> float:
    """Rounding of an estimate in SE units: the gradient is an n-term sum with error
    at most n eps times the sum of its terms' magnitudes, about n |term| for the
    i.i.d. models here; dividing by the information (n / SE^2) and by the SE leaves
    n eps sqrt(n) SEs (a worst-case bound, sqrt(n) above the typical error)."""
    return n**1.5 * EPS


def stop_distance(f: float, z: float, dloglik_dx: float, dx_dz_over_distance: float = 1.0) -> float:
    """Largest distance from its bound at which the gradient test stops a run-off to z = +-inf.

    |g_z| max(|z|, 1) <= GTOL max(|f|, 1), g_z = dloglik/dx * dx/dz, and dx/dz =
    distance * ``dx_dz_over_distance``: 1 for the log map, 1 - distance/width for
    the logit map (1 to within 1e-13 next to a bound, which the callers use).
    """
    return GTOL * max(abs(f), 1.0) / (max(abs(z), 1.0) * abs(dloglik_dx) * dx_dz_over_distance)


def ols_with_fixed(X, y, fixed_col, fixed_value):
    """Closed-form Gaussian MLE with coefficient ``fixed_col`` held at ``fixed_value``:
    (estimates of the free columns, SEs, sigma, rss, cond of the free design),
    by Householder QR (X'X is never formed)."""
    free = [j for j in range(X.shape[1]) if j != fixed_col]
    Xf, yf = X[:, free], y - fixed_value * X[:, fixed_col]
    q, r = np.linalg.qr(Xf)
    beta = linalg.solve_triangular(r, q.T @ yf)
    rss = float(np.sum((yf - Xf @ beta) ** 2))
    n = X.shape[0]
    sigma2 = rss / n
    r_inv = linalg.solve_triangular(r, np.eye(r.shape[0]))
    se = np.sqrt(sigma2 * np.sum(r_inv**2, axis=1))  # diag((R'R)^-1) = row norms of R^-1
    return beta, se, np.sqrt(sigma2), rss, float(np.linalg.cond(Xf))


# -- models ----------------------------------------------------------------------------------
def exp_loglik(p, y):
    return jnp.log(p["rate"]) - p["rate"] * y


def bernoulli_loglik(p, y):
    return jax.scipy.special.xlogy(y, p["p"]) + jax.scipy.special.xlog1py(1.0 - y, -p["p"])


def regression_loglik(p, X, y):
    r = y - X @ p["beta"]
    return -0.5 * (r / p["sigma"]) ** 2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2.0 * jnp.pi)


def zip_loglik(p, y, t):
    """Zero-inflated Poisson with exposure t: mean lam t^gamma, inflation pi."""
    mu = p["lam"] * t ** p["gamma"]
    poisson = y * jnp.log(mu) - mu - jax.scipy.special.gammaln(y + 1.0)
    zero = jnp.log(p["pi"] + (1.0 - p["pi"]) * jnp.exp(-mu))
    return jnp.where(y == 0, zero, jnp.log1p(-p["pi"]) + poisson)


def zip_nll_numpy(y, t):
    """The same model in NumPy/SciPy, for iminuit (independent of JAX)."""

    def nll(lam, pi, gamma):
        mu = lam * t**gamma
        poisson = y * np.log(mu) - mu - sp_gammaln(y + 1.0)
        zero = np.log(pi + (1.0 - pi) * np.exp(-mu))
        return -float(np.sum(np.where(y == 0, zero, np.log1p(-pi) + poisson)))

    return nll


def varcomp_loglik(p, y, s2):
    """y ~ N(mu, s2 + v) with s2 known: v is a variance component, bounded below by 0."""
    tau = s2 + p["v"]
    return -0.5 * jnp.log(2.0 * jnp.pi * tau) - 0.5 * (y - p["mu"]) ** 2 / tau


# -- fixtures: each compiles once per module -----------------------------------------------
N_EXP = 40
N_BERN = 25
REG_FIXED_VALUE = 0.4  # beta[1], held fixed (the true value is 0.5)


@pytest.fixture(scope="module")
def exp_fit():
    y = np.random.default_rng(1).exponential(2.0, N_EXP)
    return y, hj.fit(exp_loglik, {"rate": 1.0}, y, bounds={"rate": (0.0, None)})


@pytest.fixture(scope="module")
def docs_example():
    """The executable section of docs/constraints.md: the 25/25 binomial (BoundaryWarning)."""
    text = DOCS.read_text()
    section = text[text.index("## An estimate on a bound"):]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "docs/constraints.md lost its example"
    namespace: dict = {}
    printed = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        namespace["print"] = lambda *a, **k: printed.append(" ".join(map(str, a)))
        for block in blocks:
            exec(compile(block, str(DOCS), "exec"), namespace)
    namespace["_warnings"] = [(w.category, str(w.message)) for w in caught]
    namespace["_printed"] = printed
    namespace["_text"] = section
    return namespace


@pytest.fixture(scope="module")
def binomial(docs_example):
    """25/25 (the docs' fit), 0/25, and their profile intervals; same function and
    shapes as the docs, so nothing recompiles."""
    loglik = docs_example["loglik"]
    assert loglik(dict(p=0.3), 1.0) == pytest.approx(np.log(0.3))  # the docs' model is Bernoulli
    out = {"all": (docs_example["res"], docs_example["_warnings"])}
    out["none"] = recorded(hj.fit, loglik, {"p": 0.5}, np.zeros(N_BERN), bounds={"p": (0.0, 1.0)})
    for key in ("all", "none"):
        res, _ = out[key]
        out[key + "_profile"] = recorded(res.conf_int, method="profile")
    return out


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(3)
    n = 60
    x = rng.uniform(-1.0, 1.0, n)
    X = np.column_stack([np.ones(n), x, x**2])
    y = X @ np.array([1.0, 0.5, 0.25]) + 0.3 * rng.normal(size=n)
    init = {"beta": np.array([0.0, REG_FIXED_VALUE, 0.1]), "sigma": 1.0}
    bounded = hj.fit(regression_loglik, init, X, y,
                     bounds={"sigma": (0.0, None), "beta[2]": (0.0, None)}, fixed="beta[1]")
    natural = hj.fit(regression_loglik, init, X, y, fixed="beta[1]")  # sigma, beta[2] unbounded
    return X, y, bounded, natural


@pytest.fixture(scope="module")
def zip_model():
    rng = np.random.default_rng(0)
    n = 300
    t = rng.uniform(0.5, 2.0, n)
    y = np.where(rng.uniform(size=n) < 0.1, 0, rng.poisson(1.5 * t)).astype(float)
    init = {"lam": 1.0, "pi": 0.3, "gamma": 1.0}
    res = hj.fit(zip_loglik, init, y, t, bounds={"lam": (0.0, None), "pi": (0.0, 1.0)}, fixed="gamma")
    # pi's likelihood is skewed near its bound: profile and Wald differ (IntervalWarning).
    profile, caught = recorded(res.conf_int, method="profile")
    return y, t, res, profile, caught


# == 1. closed forms =========================================================================
def test_exponential_rate_with_lower_bound_is_the_closed_form(exp_fit):
    y, res = exp_fit
    rate = 1.0 / y.mean()
    se = rate / np.sqrt(N_EXP)  # observed information n / rate^2 at the MLE
    assert bool(res.diagnostics.is_valid) and not res.diagnostics.at_bound.any()
    tol = step_se(res) + rounding_se(N_EXP)
    assert abs(float(res.params["rate"]) - rate) <= tol * se
    # SE = rate / sqrt(n) moves with the estimate: relative error = relative error of rate.
    assert abs(float(res.se["rate"]) / se - 1) <= tol * se / rate + N_EXP * EPS
    assert res.fixed == () and res.n_free == 1
    np.testing.assert_allclose(res.cov, [[float(res.se["rate"]) ** 2]], rtol=2 * EPS, atol=0)


@pytest.mark.parametrize("case, bound", [("all", 1.0), ("none", 0.0)])
def test_binomial_on_its_bound(binomial, case, bound):
    res, caught = binomial[case]
    p = float(res.params["p"])
    d = res.diagnostics
    # On the bound to within where the gradient test stops the run-off (logit map:
    # g_z = dloglik/dp * p (1 - p), dloglik/dp = 25 / p at 25/25 (-25 / (1 - p) at 0/25).
    # The reported p is rounded to a double next to the bound: + eps |bound|.
    z = float(res.free_fit.params[0])
    assert abs(p - bound) <= stop_distance(float(res.loglik), z, N_BERN) + EPS * bound
    assert abs(p - bound) > 0  # a free coordinate never reaches the bound itself
    assert np.isnan(float(res.se["p"])) and np.isnan(res.cov).all()
    assert d.at_bound.tolist() == [True] and d.bound_value.tolist() == [bound]
    assert not bool(d.is_valid)
    assert len(caught) == 1 and caught[0][0] is BoundaryWarning
    assert "p is on its bound" in caught[0][1]
    assert "NOT VALID" in res.summary() and "p is on a bound" in res.summary()
    with pytest.warns(HessjaxWarning):  # Wald intervals of an invalid fit are flagged
        assert np.isnan(res.conf_int()).all()


@pytest.mark.parametrize("case", ["all", "none"])
def test_binomial_profile_interval_is_one_sided_closed_form(binomial, case):
    (interval,), caught = binomial[case + "_profile"]
    # The profile log-likelihood of 25/25 is 25 log p (max 0): it drops by q at
    # p = exp(-q/25), and never on the other side (the bound). 0/25 mirrors it.
    inner = np.exp(-Q95 / N_BERN)
    truth = [inner, 1.0] if case == "all" else [0.0, -np.expm1(-Q95 / N_BERN)]
    slope = N_BERN / inner  # |d/dp 25 log p| at the endpoint
    tol = PROFILE_DROP_TOL / slope + 4 * EPS
    assert abs(interval[0] - truth[0]) <= tol and abs(interval[1] - truth[1]) <= tol
    # The bound end is the bound itself, exactly.
    assert interval[1] == 1.0 if case == "all" else interval[0] == 0.0
    assert caught == []  # endpoints found; no Wald interval to disagree with (SE NaN)


def test_regression_with_bound_and_fixed_coefficient_is_ols_with_it_fixed(regression):
    X, y, res, _ = regression
    n = X.shape[0]
    beta, se_beta, sigma, rss, cond = ols_with_fixed(X, y, 1, REG_FIXED_VALUE)
    assert hj.param_names(res.params) == ["beta[0]", "beta[1]", "beta[2]", "sigma"]
    assert bool(res.diagnostics.is_valid) and not res.diagnostics.at_bound.any()
    assert 1.5 < beta[1] / se_beta[1] < 2.5  # beta[2] (the second free column) is near its bound 0
    est, se = res.estimate, res.se_vector
    # Distance to the maximum (certificate) + the estimate's rounding + the closed
    # form's own (backward-stable QR: n eps cond(X_free) relative).
    tol_se = step_se(res) + rounding_se(n) + n * EPS * cond
    truth_est = np.array([beta[0], REG_FIXED_VALUE, beta[1], sigma])
    truth_se = np.array([se_beta[0], 0.0, se_beta[1], sigma / np.sqrt(2 * n)])
    free = [0, 2, 3]
    assert np.all(np.abs(est[free] - truth_est[free]) <= tol_se * truth_se[free])
    assert est[1] == REG_FIXED_VALUE and se[1] == 0.0  # fixed: the init value, exactly
    # The SEs scale with sigma (relative error tol_se / sqrt(2n) from the estimate)
    # and carry the inverse's rounding, n eps cond(X_free)^2.
    np.testing.assert_allclose(se[free], truth_se[free], rtol=tol_se + n * EPS * cond**2, atol=0)
    loglik = -0.5 * n * (np.log(2 * np.pi * sigma**2) + 1.0)
    # Off by second order in the estimate's error, and by the rounding of an n-term
    # sum of terms of magnitude <= r^2/(2 sigma^2) + |log sigma| + log(2 pi)/2 each.
    r = y - X @ truth_est[:3]
    terms = np.sum(0.5 * (r / sigma) ** 2 + abs(np.log(sigma)) + 0.5 * np.log(2 * np.pi))
    assert abs(float(res.loglik) - loglik) <= n * EPS * terms + 0.5 * tol_se**2 * 3


def test_fixed_parameter_bookkeeping(regression):
    X, y, res, _ = regression
    assert res.fixed == ("beta[1]",) and res.n_free == 3
    assert res.free_fit.names == ("beta[0]", "beta[2]", "sigma")
    cov = np.asarray(res.cov)
    assert np.all(cov[1, :] == 0.0) and np.all(cov[:, 1] == 0.0)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(cov[np.ix_([0, 2, 3], [0, 2, 3])]) > 0)
    # AIC/BIC count the estimated parameters only (statsmodels' definitions).
    assert float(res.aic) == pytest.approx(-2 * float(res.loglik) + 2 * 3, rel=4 * EPS)
    assert float(res.bic) == pytest.approx(-2 * float(res.loglik) + 3 * np.log(X.shape[0]), rel=4 * EPS)
    # The free coordinates: beta[0] as is, log(beta[2] - 0), log(sigma - 0).
    z = np.asarray(res.free_fit.params)
    np.testing.assert_allclose(z, [res.estimate[0], np.log(res.estimate[2]), np.log(res.estimate[3])],
                               rtol=4 * EPS, atol=0)
    row = next(line for line in res.summary().splitlines() if line.startswith("beta[1]"))
    assert "fixed" in row


def test_nonnegative_coefficient_on_its_bound_has_the_closed_form_profile_interval(regression):
    """beta[2] >= 0 with its OLS value negative: the MLE is 0, and with beta[0] and sigma
    profiled out, rss(b) = rss_min + (b - b_ols)^2 / V22 (V = (X_free'X_free)^-1), so the
    profile log-likelihood -n/2 log rss(b) drops by q at rss(b) = rss(0) exp(2q/n).

    Regression test (bug found here, fixed): conf_int(method="profile") did not find the unbounded-side end of a parameter
    that is on a one-sided (log-map) bound when its log-likelihood is quadratic on
    the natural scale (a mean, a regression coefficient). hessjax.profile searches
    on z = log(beta[2] - 0) from the Wald half-width of z, ~1e5 for an estimate on
    the bound (z ~ -27, SE_z ~ 1e5): the first probes overflow (exp(z) = inf), and
    where -exp(2z) is finite, Newton on it advances ~0.5 a step (f/f' = 1/2), so the
    40 outer steps run out. The end comes back wrong with converged=False and an
    IntervalWarning "the profile endpoints of beta[2] could not be located": here
    [0, 1.2e-12] (the estimate itself) instead of [0, 0.148]. Minimal reproduction
    (one parameter):
        def ll(p, y): return -0.5 * (y - p["mu"]) ** 2
        y = np.random.default_rng(0).normal(-0.3, 1.0, 40)
        res = hj.fit(ll, {"mu": 1.0}, y, bounds={"mu": (0.0, None)})
        hj.profile_intervals(res).intervals  # [[0, 1.2e79]]
        # truth: [0, ybar + sqrt(ybar^2 + 2q/n)] = [0, 0.1149]
    """
    X, y, _, _ = regression
    n = X.shape[0]
    y_neg = y - 0.6 * X[:, 2]  # the same design; beta[2]'s OLS estimate becomes negative
    init = {"beta": np.array([0.0, REG_FIXED_VALUE, 0.1]), "sigma": 1.0}
    res, caught = recorded(hj.fit, regression_loglik, init, X, y_neg,  # compiled already
                           bounds={"sigma": (0.0, None), "beta[2]": (0.0, None)}, fixed="beta[1]")
    beta, _, _, rss_min, _ = ols_with_fixed(X, y_neg, 1, REG_FIXED_VALUE)
    assert beta[1] < 0
    assert [c for c, _ in caught] == [BoundaryWarning] and "beta[2] is on its bound 0" in caught[0][1]
    assert res.diagnostics.at_bound.tolist() == [False, True, False] and np.isnan(float(res.se["beta"][2]))
    Xf = X[:, [0, 2]]
    v22 = np.linalg.inv(Xf.T @ Xf)[1, 1]
    rss = lambda b: rss_min + (b - beta[1]) ** 2 / v22  # noqa: E731
    upper = beta[1] + np.sqrt((rss(0.0) * np.exp(2 * Q95 / n) - rss_min) * v22)
    slope = n * (upper - beta[1]) / (v22 * rss(upper))  # |d/db (-n/2 log rss(b))| there
    interval, caught = recorded(res.conf_int, method="profile")
    # sigma, profiled with beta[2] held on its bound: -n log s - rss(0) / (2 s^2) drops by q.
    s_hat = np.sqrt(rss(0.0) / n)
    drop = lambda s: n * np.log(s / s_hat) + rss(0.0) / (2 * s**2) - n / 2 - Q95  # noqa: E731
    for end, bracket in zip(interval[3], ((0.5 * s_hat, s_hat), (s_hat, 2 * s_hat))):
        truth = optimize.brentq(drop, *bracket, xtol=1e-15, rtol=4 * EPS)
        slope_s = abs(n / truth - rss(0.0) / truth**3)
        assert abs(end - truth) <= PROFILE_DROP_TOL / slope_s + 8 * EPS * truth
    assert interval[2, 0] == 0.0  # the bound itself
    # The closed form's own rounding: rss(0) exp(2q/n) - rss_min cancels, relative
    # eps rss(0) / difference, halved by the square root.
    cancel = 4 * EPS * rss(0.0) * np.exp(2 * Q95 / n) / (rss(0.0) * np.exp(2 * Q95 / n) - rss_min)
    tol = PROFILE_DROP_TOL / slope + cancel * (upper - beta[1]) + 4 * EPS * upper
    assert abs(interval[2, 1] - upper) <= tol, interval[2]
    # (sigma's profile and Wald intervals do differ by > 10%: that IntervalWarning is right.)
    assert not [m for _, m in caught if "could not be located" in m], caught


# == 2. the delta method through the map =======================================================
def test_bounded_fit_equals_natural_scale_fit(regression):
    """sigma and beta[2] through log maps vs. directly in natural coordinates: the same
    maximum, and J H_z^-1 J' = H_x^-1 there (the map's second-derivative term is
    multiplied by the gradient, zero at the maximum)."""
    X, _, bounded, natural = regression
    assert bool(natural.diagnostics.is_valid)
    se = natural.se_vector
    tol = step_se(bounded) + step_se(natural) + 2 * rounding_se(X.shape[0])
    free = se > 0
    assert np.all(np.abs(bounded.estimate - natural.estimate)[free] <= tol * se[free])
    np.testing.assert_array_equal(bounded.estimate[~free], natural.estimate[~free])
    # Covariances, entrywise in units of sqrt(C_ii C_jj).
    scale = np.sqrt(np.outer(se, se))
    diff = np.abs(np.asarray(bounded.cov) - np.asarray(natural.cov))
    assert np.all(diff[np.ix_(free, free)] <= tol * scale[np.ix_(free, free)])
    assert np.all(np.asarray(bounded.cov)[~free] == 0.0)


# == 3. iminuit and lmfit ======================================================================
@pytest.fixture(scope="module")
def minuit(zip_model):
    iminuit = pytest.importorskip("iminuit")
    y, t, _, _, _ = zip_model
    m = iminuit.Minuit(zip_nll_numpy(y, t), lam=1.0, pi=0.3, gamma=1.0)
    m.errordef = iminuit.Minuit.LIKELIHOOD  # 0.5: a negative log-likelihood
    m.limits["lam"] = (0.0, None)
    m.limits["pi"] = (0.0, 1.0)
    m.fixed["gamma"] = True
    m.strategy = 2
    m.tol = 1e-6  # MIGRAD stops at EDM < 0.002 tol errordef = 1e-9
    m.migrad()
    m.hesse()
    m.minos(cl=0.95)
    assert m.valid and m.accurate
    return m


NAMES_ZIP = ("gamma", "lam", "pi")  # hessjax's (sorted dict keys) order


def test_zip_setup_has_a_parameter_near_a_bound(zip_model):
    _, _, res, profile, _ = zip_model
    assert res.names == NAMES_ZIP and res.fixed == ("gamma",) and res.n_free == 2
    assert bool(res.diagnostics.is_valid) and not res.diagnostics.at_bound.any()
    pi, se = float(res.params["pi"]), float(res.se["pi"])
    assert 2.0 < pi / se < 3.0  # near its bound 0, not on it
    assert 0.0 < profile[2, 0] < pi  # the interval stays inside (0, 1)
    np.testing.assert_array_equal(profile[0], [1.0, 1.0])  # fixed: [value, value]


def test_estimates_and_hesse_covariance_match_iminuit(zip_model, minuit):
    _, _, res, _, _ = zip_model
    m = minuit
    idx = [NAMES_ZIP.index(k) for k in ("lam", "pi")]
    est, se = res.estimate[idx], res.se_vector[idx]
    assert float(res.params["gamma"]) == m.values["gamma"] == 1.0
    # Estimates: MIGRAD's EDM = g'Vg/2 with V = H^-1 (errordef 0.5), so its Newton
    # distance is sqrt(2 EDM) SEs; hessjax's is newton_step_se. Both gradients and
    # MIGRAD's V are approximate to ~1e-3 relative (numerical derivatives), hence 2x.
    distance = 2 * (np.sqrt(2 * m.fmin.edm) + step_se(res))
    assert np.all(np.abs(np.array([m.values["lam"], m.values["pi"]]) - est) <= distance * se)
    # HESSE differentiates numerically: central second differences in MINUIT's internal
    # (sqrt / arcsin) coordinates with steps set so that the function changes by
    # aimsag = sqrt(eps2) (|F| + up) (Minuit2 MnHesse), ~0.4 SE here; the truncation
    # error d^2 F''''/(12 F'') of such steps is O(d^2 / n) ~ 1e-4 for n = 300
    # observations, and strategy 2 iterates until g2 changes by < 2%. 1e-3 of
    # sqrt(C_ii C_jj) bounds it; measured: 3e-5.
    cov_m = np.array(m.covariance)[:2, :2]  # iminuit's order: lam, pi (gamma fixed: zeros)
    cov_h = np.asarray(res.cov)[np.ix_(idx, idx)]
    assert np.max(np.abs(cov_m - cov_h) / np.outer(se, se)) <= 1e-3
    assert np.all(np.array(m.covariance)[2] == 0.0) and np.all(np.asarray(res.cov)[0] == 0.0)


def test_iminuit_errors_of_limited_parameters_are_not_the_delta_method(zip_model, minuit):
    """``Minuit.errors`` of a limited parameter maps the internal +-1 sigma interval
    through the transform and averages the two half-widths (Minuit2
    MnUserTransformation::Int2extError), so it differs from sqrt(diag(covariance))
    (the delta method, as hessjax) by second-order terms: 2e-3 for pi here. From
    hessjax's SE and MINUIT's documented transform, the same number follows."""
    _, _, res, _, _ = zip_model
    pi, se = float(res.params["pi"]), float(res.se["pi"])
    # MINUIT's double-limit transform: pi = (sin(u) + 1) / 2 on (0, 1).
    u = np.arcsin(2.0 * pi - 1.0)
    se_u = se / abs(0.5 * np.cos(u))
    ext = lambda w: (np.sin(w) + 1.0) / 2.0  # noqa: E731
    expected = 0.5 * (abs(ext(u + se_u) - pi) + abs(ext(u - se_u) - pi))
    assert abs(minuit.errors["pi"] / expected - 1) <= 1e-3  # HESSE's accuracy, as above
    assert abs(minuit.errors["pi"] / se - 1) > 1e-3  # a real difference, not noise


def test_profile_intervals_match_minos(zip_model, minuit):
    _, _, res, profile, caught = zip_model
    for name in ("lam", "pi"):
        i = NAMES_ZIP.index(name)
        me = minuit.merrors[name]
        assert me.is_valid and not me.at_lower_limit and not me.at_upper_limit
        minos = np.array([minuit.values[name] + me.lower, minuit.values[name] + me.upper])
        # MINOS (Minuit2 MnFunctionCross) accepts a crossing when the function is within
        # 0.01 up of its target and the crossing moved by < 0.01 of its step (the
        # HESSE error): 1% of each half-width is MINOS's own tolerance. Measured: 1e-6.
        tol = 0.01 * np.abs([me.lower, me.upper])
        assert np.all(np.abs(profile[i] - minos) <= tol), (name, profile[i], minos)
    assert [c for c, _ in caught] in ([], [hj.IntervalWarning])


@pytest.fixture(scope="module")
def lmfit_fits(regression):
    lmfit = pytest.importorskip("lmfit")
    X, y, _, _ = regression
    x = X[:, 1]
    params = lmfit.Parameters()
    params.add("b0", value=0.0)
    params.add("b1", value=REG_FIXED_VALUE, vary=False)
    params.add("b2", value=0.1, min=0.0)

    def residual(p):
        return y - (p["b0"] + p["b1"] * x + p["b2"] * x**2)

    # Default method: MINPACK's lmdif on MINUIT-style transformed parameters.
    leastsq = lmfit.minimize(residual, params, ftol=1e-14, xtol=1e-14)
    # least_squares: SciPy's TRF with the bounds themselves; Jacobian at the solution.
    trf = lmfit.minimize(residual, params, method="least_squares")
    return leastsq, trf


def test_lmfit_estimates_and_curve_fit_convention_errors(regression, lmfit_fits):
    X, y, res, _ = regression
    n = X.shape[0]
    leastsq, trf = lmfit_fits
    beta, se_beta, sigma, rss, cond = ols_with_fixed(X, y, 1, REG_FIXED_VALUE)
    se_h = res.se_vector[[0, 2]]
    for out in (leastsq, trf):
        assert out.success and out.nvarys == 2
        assert out.params["b1"].value == REG_FIXED_VALUE and out.params["b1"].stderr in (None, 0)
    # leastsq stops by ftol: the last step's predicted decrease of the RSS, m^2 s^2
    # for a Newton distance of m SEs, is below ftol RSS, so m <= sqrt(ftol (n - p)).
    m = np.sqrt(1e-14 * (n - 2)) + step_se(res)
    est_l = np.array([leastsq.params["b0"].value, leastsq.params["b2"].value])
    assert np.all(np.abs(est_l - res.estimate[[0, 2]]) <= m * se_h)
    # TRF's two-point Jacobian of a linear residual is exact up to rounding: an entry is
    # off by at most E_ij = 2 eps (|y_i| + |fit_i|) / h_j, h_j = sqrt(eps) max(1, |b_j|).
    # The estimate solves J_fd'r = 0, so it is off by |(J'J)^-1| |E|'|r|; J'J is off by
    # |E|'|J| + |J|'|E| (relative to sqrt(diag x diag)), and the covariance by that
    # times the condition number of the scaled J'J (half of it for the SEs).
    x = X[:, 1]
    J = -np.column_stack([np.ones(n), x**2])
    b = np.array([trf.params["b0"].value, trf.params["b2"].value])
    scale = np.abs(y) + np.abs(y - trf.residual)
    E = 2 * np.sqrt(EPS) * scale[:, None] / np.maximum(1.0, np.abs(b))[None, :]
    gram = J.T @ J
    est_tol = np.abs(np.linalg.inv(gram)) @ (E.T @ np.abs(trf.residual))
    assert np.all(np.abs(b - res.estimate[[0, 2]]) <= est_tol + step_se(res) * se_h)
    # lmfit's errors follow curve_fit: s^2 (J'J)^-1 with s^2 = rss / (n - nvarys);
    # the likelihood's are sigma_ML^2 (J'J)^-1, sigma_ML^2 = rss / n (linear model).
    d = np.sqrt(gram.diagonal())
    perturbation = 2 * np.max((E.T @ np.abs(J)) / np.outer(d, d))
    rtol = 0.5 * perturbation * np.linalg.cond(gram / np.outer(d, d)) + step_se(res)
    se_t = np.array([trf.params["b0"].stderr, trf.params["b2"].stderr])
    np.testing.assert_allclose(se_t, se_h * np.sqrt(n / (n - 2)), rtol=rtol, atol=0)


# == 4. errors before compiling ================================================================
def _never_called(p, y):
    raise AssertionError("loglik was traced: bounds/fixed must be validated first")


@pytest.mark.parametrize(
    "init, kwargs, error, match",
    [
        ({"s": -1.0}, dict(bounds={"s": (0.0, None)}), ValueError, r"init for s is -1, outside its bounds"),
        ({"p": 0.0}, dict(bounds={"p": (0.0, 1.0)}), ValueError, r"init for p is 0, on its bounds"),
        ({"p": 1.0}, dict(bounds={"p": (0.0, 1.0)}), ValueError, r"init for p is 1, on its bounds"),
        ({"b": np.array([1.0, -2.0])}, dict(bounds={"b": (0.0, None)}), ValueError, r"init for b\[1\]"),
        ({"b": np.array([1.0, -2.0])}, dict(bounds={"b[1]": (None, -3.0)}), ValueError, r"init for b\[1\]"),
        ({"a": 1.0, "b": 2.0}, dict(bounds={"c": (0.0, None)}), ValueError,
         r"unknown parameter 'c'; the parameters are: a, b"),
        ({"b": np.zeros(3)}, dict(fixed="b[3]"), ValueError,
         r"unknown parameter 'b\[3\]'.*b\[0\], b\[1\], b\[2\]"),
        ({"a": 1.0}, dict(bounds={"a": (0.0,)}), ValueError, r"must be a pair"),
        ({"a": 1.0}, dict(bounds={"a": 0.0}), ValueError, r"must be a pair"),
        ({"a": 1.0}, dict(bounds={"a": ("0", None)}), ValueError, r"lower bound must be a number or None"),
        ({"a": 1.0}, dict(bounds={"a": (True, None)}), ValueError, r"lower bound must be a number or None"),
        ({"a": 1.0}, dict(bounds={"a": (2.0, 2.0)}), ValueError, r"lower bound must be below the upper"),
        ({"a": 1.0}, dict(bounds={"a": (3.0, 2.0)}), ValueError, r"lower bound must be below the upper"),
        ({"a": 1.0}, dict(bounds={"a": (float("nan"), None)}), ValueError, r"lower bound is NaN"),
        ({"a": 1.0}, dict(bounds={"a": (None, np.nan)}), ValueError, r"upper bound is NaN"),
        ({"a": 1.0}, dict(bounds=[("a", (0.0, None))]), TypeError, r"`bounds` must be a dict"),
        ({"a": 1.0}, dict(fixed=[0]), TypeError, r"`fixed` must be a parameter name or a sequence of names"),
        ({"a": 1.0}, dict(fixed=3), TypeError, r"`fixed` must be a parameter name"),
        ({"a": 1.0}, dict(bounds={0: (0.0, None)}), TypeError, r"names parameters by string"),
        ({"a": 1.0, "b": 2.0}, dict(fixed=("a", "b")), ValueError, r"every parameter is in `fixed`"),
        ({"b": np.zeros(2)}, dict(fixed="b"), ValueError, r"every parameter is in `fixed`"),
    ],
)
def test_invalid_bounds_and_fixed_raise_before_tracing(init, kwargs, error, match):
    with pytest.raises(error, match=match):
        hj.fit(_never_called, init, np.zeros(3), **kwargs)
    with pytest.raises(error, match=match):
        hj.fit_batch(_never_called, init, np.zeros((2, 3)), **kwargs)


@pytest.mark.parametrize(
    "bounds, fixed, init_b1",
    [
        ({"b": (0.0, None), "b[1]": (None, 5.0)}, None, -1.0),
        ({"b": (0.0, None), "b[1]": (None, 5.0)}, None, 6.0),
        ({"b[1]": (None, 5.0), "b": (0.0, None)}, None, -1.0),
        ({"b[1]": (None, 5.0), "b": (0.0, None)}, None, 6.0),
        ({"b": (0.0, None)}, "b[1]", -1.0),
    ],
)
def test_contradictory_specifications_raise(bounds, fixed, init_b1):
    """Regression test (bug found here, fixed; cases 1, 4 and 5 failed):
    constraints.build_constraints let a later entry of ``bounds`` silently replace an
    earlier one for the same element, so {"b": (0, None), "b[1]": (None, 5)} gives b[1]
    the bounds (None, 5) - its lower bound 0 is dropped - and the same dict in the
    other order gives (0, None), the upper bound dropped. Either raising on an element
    named twice, or intersecting to (0, 5), would make init b[1] = -1 and = 6 both
    invalid here; today one of each pair is accepted (and then traced). Likewise a
    fixed element whose init value is outside its own bounds is accepted silently
    (the last case). All five cases should raise ValueError before tracing."""
    with pytest.raises(ValueError):
        hj.fit(_never_called, {"b": np.array([1.0, init_b1])}, np.zeros(3), bounds=bounds, fixed=fixed)


def test_an_infinite_bound_is_an_open_side():
    """``inf`` is a number and means the same as None: the other side still binds."""
    with pytest.raises(ValueError, match="outside its bounds"):
        hj.fit(_never_called, {"a": -1.0}, np.zeros(3), bounds={"a": (0.0, np.inf)})


# == 5. batches, bootstrap, coverage, CLI ======================================================
BATCH_K = np.array([0, 1, 5, 10, 12, 20, 24, 25])  # successes out of 25; 0 and 25 on the bounds
CHUNK = len(BATCH_K)  # fit_batch and coverage_study share one compiled program


def bernoulli_data(k: np.ndarray) -> np.ndarray:
    return (np.arange(N_BERN)[None, :] < np.asarray(k)[:, None]).astype(float)


@pytest.fixture(scope="module")
def bernoulli_batch(docs_example):
    loglik = docs_example["loglik"]
    batch, caught = recorded(hj.fit_batch, loglik, {"p": 0.5}, bernoulli_data(BATCH_K),
                             bounds={"p": (0.0, 1.0)}, chunk_size=CHUNK)
    singles = [recorded(hj.fit, loglik, {"p": 0.5}, y, bounds={"p": (0.0, 1.0)})[0]
               for y in bernoulli_data(BATCH_K)]
    return batch, caught, singles


def test_fit_batch_with_bounds_equals_single_fits_and_closed_forms(bernoulli_batch):
    batch, caught, singles = bernoulli_batch
    p_hat = BATCH_K / N_BERN
    interior = (BATCH_K > 0) & (BATCH_K < N_BERN)
    at = np.asarray(batch.diagnostics.at_bound)[:, 0]
    np.testing.assert_array_equal(at, ~interior)
    np.testing.assert_array_equal(np.asarray(batch.diagnostics.is_valid), interior)
    np.testing.assert_array_equal(np.asarray(batch.diagnostics.bound_value)[~interior, 0], p_hat[~interior])
    assert len(caught) == 1 and issubclass(caught[0][0], HessjaxWarning)  # one, for the two on a bound
    est, se = np.asarray(batch.params["p"]), np.asarray(batch.se["p"])
    for i, one in enumerate(singles):
        assert bool(one.diagnostics.at_bound[0]) == at[i]
        if interior[i]:
            # Each is within its certified distance of the same maximum.
            se_i = np.sqrt(p_hat[i] * (1 - p_hat[i]) / N_BERN)  # the closed form
            tol = step_se(one) + step_se(batch[i]) + rounding_se(N_BERN)
            assert abs(est[i] - float(one.params["p"])) <= tol * se_i
            assert abs(est[i] - p_hat[i]) <= (step_se(batch[i]) + rounding_se(N_BERN)) * se_i
            # SE = sqrt(p(1-p)/n): relative error ~ |dp| / min(p, 1-p).
            rel = tol * se_i / min(p_hat[i], 1 - p_hat[i]) + 8 * EPS
            assert abs(se[i] / se_i - 1) <= rel and abs(float(one.se["p"]) / se_i - 1) <= rel
        else:
            assert np.isnan(se[i]) and np.isnan(float(one.se["p"]))
            bound_stop = stop_distance(float(batch.loglik[i]), float(batch.free_fit.params[i, 0]), N_BERN)
            bound_stop += EPS * p_hat[i]  # p is rounded to a double next to the bound
            assert abs(est[i] - p_hat[i]) <= bound_stop
            assert abs(float(one.params["p"]) - p_hat[i]) <= bound_stop


def test_bootstrap_of_a_bounded_fit(docs_example):
    """Resampling 10 successes in 25 trials: a replicate is K*/25, K* ~ Binomial(25, 0.4),
    whose SD is exactly sqrt(p(1-p)/n), the exact-Hessian SE. The sample SD of B
    replicates has relative Monte Carlo SE sqrt((kurtosis - 1) / (4B))."""
    loglik = docs_example["loglik"]
    k, n_boot = 10, 2000
    res = hj.fit(loglik, {"p": 0.5}, bernoulli_data([k])[0], bounds={"p": (0.0, 1.0)})
    boot = hj.bootstrap(res, n_boot=n_boot, key=0)
    reps = boot.replicates[:, 0]
    assert np.all(np.isfinite(reps)) and np.all((reps > 0.0) & (reps < 1.0))
    # Every replicate is a proportion k*/25 (to its certified distance from it).
    np.testing.assert_allclose(reps, np.round(reps * N_BERN) / N_BERN, atol=1e-9, rtol=0)
    p = k / N_BERN
    exact = np.sqrt(p * (1 - p) / N_BERN)
    kurtosis = 3.0 + (1 - 6 * p * (1 - p)) / (N_BERN * p * (1 - p))
    mc = np.sqrt((kurtosis - 1.0) / (4.0 * n_boot))
    assert abs(boot.se[0] / exact - 1) <= 4 * mc
    assert boot.exact_se[0] == pytest.approx(exact, rel=1e-9)


def test_coverage_study_with_bounds_hessian_only(docs_example, bernoulli_batch):
    loglik = docs_example["loglik"]
    n_rep, p = 1000, 0.3

    def simulate(key, params):
        return (jax.random.bernoulli(key, params["p"], (N_BERN,)).astype(jnp.float64),)

    with pytest.raises(ValueError, match=r"methods=\('hessian',\) only"):
        hj.coverage_study(simulate, loglik, {"p": p}, n_rep=4, key=0, methods=("hessian", "robust"),
                          bounds={"p": (0.0, 1.0)})
    study = hj.coverage_study(simulate, loglik, {"p": p}, n_rep=n_rep, key=0, methods=("hessian",),
                              bounds={"p": (0.0, 1.0)}, chunk_size=CHUNK)
    est = study.estimates["hessian"][:, 0]
    k = np.round(est * N_BERN)
    np.testing.assert_allclose(est, k / N_BERN, atol=1e-9, rtol=0)
    # Recomputed from the estimates: the Wald interval of k/25 covers 0.3 or not;
    # k = 0 or 25 sits on a bound and does not count.
    z = stats.norm.ppf(0.975)
    usable = (k > 0) & (k < N_BERN)
    ph = k / N_BERN
    covered = np.abs(ph - p) <= z * np.sqrt(ph * (1 - ph) / N_BERN)
    assert study.coverage["hessian"][0] == pytest.approx(covered[usable].mean(), abs=1e-12)
    # ... and the exact coverage of that interval, over Binomial(25, 0.3):
    kk = np.arange(1, N_BERN)
    pk = stats.binom.pmf(kk, N_BERN, p)
    hit = np.abs(kk / N_BERN - p) <= z * np.sqrt(kk / N_BERN * (1 - kk / N_BERN) / N_BERN)
    exact = np.sum(pk * hit) / np.sum(pk)
    mc = np.sqrt(exact * (1 - exact) / usable.sum())
    assert abs(study.coverage["hessian"][0] - exact) <= 4 * mc


def test_cli_check_reads_bounds_and_fixed(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=50)
    y = 1.0 + 0.5 * x + 0.8 * rng.normal(size=50)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    model = tmp_path / "MODEL.py"
    model.write_text(textwrap.dedent(f"""
        import numpy as np, jax.numpy as jnp
        x, y = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
        def loglik(p, x, y):
            r = (y - p["mu"] - p["slope"] * x) / p["sigma"]
            return -0.5 * r ** 2 - jnp.log(p["sigma"])
        init = {{"mu": 0.0, "sigma": 1.0, "slope": 0.5}}
        data = (x, y)
        bounds = {{"sigma": (0.0, None)}}
        fixed = ("slope",)
    """))
    env = dict(os.environ, HESSJAX_NO_COMPILATION_CACHE="1")
    proc = subprocess.run([sys.executable, "-m", "hessjax", "check", str(model), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["valid"] and out["names"] == ["mu", "sigma", "slope"]
    r = y - 0.5 * x
    mu, sigma, n = r.mean(), np.sqrt(np.mean((r - r.mean()) ** 2)), len(y)
    se = np.array([sigma / np.sqrt(n), sigma / np.sqrt(2 * n), 0.0])
    tol = np.sqrt(out["diagnostics"]["newton_decrement"]) + rounding_se(n)
    assert np.all(np.abs(np.array(out["estimate"]) - [mu, sigma, 0.5]) <= tol * se)
    np.testing.assert_allclose(out["se"], se, rtol=tol + n * EPS, atol=0)


# == 6. a variance component at zero ===========================================================
S2 = 1.0


@pytest.fixture(scope="module")
def varcomp():
    y = np.random.default_rng(11).normal(0.5, 1.0, size=(12, 30))
    fits, caught = recorded(hj.fit_batch, varcomp_loglik, {"mu": 0.0, "v": 0.5}, y, S2,
                            in_axes=(0, None), bounds={"v": (0.0, None)})
    return y, fits, caught


def test_variance_component_on_its_bound_is_never_valid(varcomp):
    y, fits, caught = varcomp
    n = y.shape[1]
    m2 = y.var(axis=1)  # the ML variance: v_hat = max(0, m2 - s2), mu_hat = ybar
    # No dataset is near the threshold, where at_bound could go either way.
    se_v = m2 * np.sqrt(2.0 / n)
    assert np.min(np.abs(m2 - S2) / se_v) > 0.05
    on = m2 < S2
    assert 3 <= on.sum() <= len(on) - 2  # both kinds present
    d = fits.diagnostics
    idx_v = fits.names.index("v")
    at = np.asarray(d.at_bound)[:, idx_v]
    np.testing.assert_array_equal(at, on)
    v, se = np.asarray(fits.params["v"]), np.asarray(fits.se["v"])
    mu, se_mu = np.asarray(fits.params["mu"]), np.asarray(fits.se["mu"])
    # The certificate is never VALID for an estimate on its bound, and its SE is never finite.
    assert not np.any(np.asarray(d.is_valid)[on]) and np.all(np.isnan(se[on]))
    assert np.all(np.isnan(np.asarray(fits.cov)[on][:, idx_v, :]))
    np.testing.assert_array_equal(np.asarray(d.bound_value)[on, idx_v], 0.0)
    assert len(caught) == 1  # one summary warning for the batch
    for i in np.flatnonzero(on):
        # Where the gradient test stops the run-off: dloglik/dv at 0 = n (m2 - s2) / (2 s2^2).
        slope = n * (m2[i] - S2) / (2 * S2**2)
        z = float(fits.free_fit.params[i, fits.free_fit.names.index("v")])
        assert 0.0 < v[i] <= stop_distance(float(fits.loglik[i]), z, slope)
        text = fits[i].summary()
        assert "NOT VALID" in text and "v is on a bound" in text
        # mu is still estimated, with the variance on its bound: ybar, sqrt(s2 / n).
        tol = step_se(fits[i]) + rounding_se(n)
        assert abs(mu[i] - y[i].mean()) <= tol * np.sqrt(S2 / n)
        assert abs(se_mu[i] / np.sqrt(S2 / n) - 1) <= tol + n * EPS
    for i in np.flatnonzero(~on):
        assert bool(d.is_valid[i]) and not at[i]
        tol = step_se(fits[i]) + rounding_se(n)
        assert abs(v[i] - (m2[i] - S2)) <= tol * se_v[i]
        # SE(tau) = tau sqrt(2/n) at tau = m2; relative error from the estimate: tol sqrt(2/n).
        assert abs(se[i] / se_v[i] - 1) <= tol * np.sqrt(2.0 / n) + n * EPS
        assert abs(se_mu[i] / np.sqrt(m2[i] / n) - 1) <= tol + n * EPS


def test_single_fit_of_a_variance_at_zero_warns_once(varcomp):
    y, fits, _ = varcomp
    i = int(np.argmin(y.var(axis=1)))
    one, caught = recorded(hj.fit, varcomp_loglik, {"mu": 0.0, "v": 0.5}, y[i], S2, bounds={"v": (0.0, None)})
    assert [c for c, _ in caught] == [BoundaryWarning] and "v is on its bound 0" in caught[0][1]
    assert not bool(one.diagnostics.is_valid) and np.isnan(float(one.se["v"]))
    # The one-sided profile interval [0, v_u]: mu is profiled out exactly (ybar for
    # every v), -n/2 log(s2 + v) - S / (2 (s2 + v)), S = sum (y - ybar)^2, drops by q at v_u.
    n, S = y.shape[1], np.sum((y[i] - y[i].mean()) ** 2)
    prof = lambda v: -0.5 * n * np.log(S2 + v) - S / (2 * (S2 + v))  # noqa: E731
    upper = optimize.brentq(lambda v: prof(0.0) - prof(v) - Q95, 0.0, 10.0, xtol=1e-15, rtol=4 * EPS)
    slope = abs(-0.5 * n / (S2 + upper) + S / (2 * (S2 + upper) ** 2))
    interval, caught = recorded(one.conf_int, method="profile")
    names = list(one.names)
    assert interval[names.index("v"), 0] == 0.0
    assert abs(interval[names.index("v"), 1] - upper) <= PROFILE_DROP_TOL / slope + 8 * EPS * upper
    assert not [m for _, m in caught if "could not be located" in m], caught


# == 7. the docs ==============================================================================
def test_docs_example_numbers_are_the_closed_forms(docs_example):
    res = docs_example["res"]
    text = docs_example["_text"]
    inner = np.exp(-Q95 / N_BERN)
    # The page quotes the closed-form interval ends, to six digits.
    assert f"{inner:.6f}" in text and f"{-np.expm1(-Q95 / N_BERN):.6f}" in text
    assert [c for c, _ in docs_example["_warnings"]] == [BoundaryWarning]
    assert bool(res.diagnostics.at_bound[0]) and not bool(res.diagnostics.is_valid)
    # What the page prints is what the code prints.
    for line in docs_example["_printed"]:
        assert line.split("\n")[0].strip() in text.replace("# ", ""), line


def test_bounds_under_vmap_say_to_use_fit_batch():
    def ll(p, y):
        return -0.5 * ((y - p["mu"]) / p["s"]) ** 2 - jnp.log(p["s"])

    Y = np.random.default_rng(0).normal(size=(3, 20))
    with jax.enable_x64(True), pytest.raises(TypeError, match="fit_batch"):
        jax.vmap(lambda y: hj.fit(ll, {"mu": 0.0, "s": 1.0}, y, bounds={"s": (0.0, None)}).params)(Y)
