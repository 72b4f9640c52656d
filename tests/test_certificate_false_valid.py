"""False "VALID": estimates whose standard errors cannot be used must be NOT VALID.

The kinds users report (statsmodels/iminuit/TMB/glmmTMB trackers): separation in
logistic regression, a variance component at zero on the log scale, a probability
pinned at its bound through a logit, a degenerate optimum whose Hessian vanishes.
Each is certified by one check - the log-likelihood at +-1 and +-1.96 SE along
each parameter's Wald direction against the quadratic model's t^2/2 - so the
cases here include variants (other seeds, thresholds, models of the same kind)
to show the check is not tuned to the issue's inputs. Every invalid case is
paired with a well-posed control of the same model that must stay VALID and
match an independent truth (closed form or statsmodels).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj
from hessjax.cli import main as cli_main


def logistic_loglik(beta, X, y):
    eta = X @ beta
    return y * eta - jnp.logaddexp(0.0, eta)


def binomial_logit_loglik(t, k, n):
    return k * jax.nn.log_sigmoid(t) + (n - k) * jax.nn.log_sigmoid(-t)


def one_way_loglik(p, y):
    """Balanced one-way random-effects normal model, random effects integrated out:
    group means ybar_j ~ N(mu, sigma^2/m + tau^2), within-group SS ~ sigma^2 chi2_{g(m-1)}."""
    m = y.shape[1]
    s2, t2 = jnp.exp(2 * p["log_sigma"]), jnp.exp(2 * p["log_tau"])
    ybar = jnp.mean(y, axis=1)
    ss = jnp.sum((y - ybar[:, None]) ** 2, axis=1)
    v = s2 / m + t2
    return -0.5 * (m - 1) * jnp.log(s2) - ss / (2 * s2) - 0.5 * jnp.log(v) - (ybar - p["mu"]) ** 2 / (2 * v)


def fit_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hj.HessjaxWarning)
        return hj.fit(*args, **kwargs)


def _separation_design(threshold=0.0, n=40):
    x = np.linspace(-2.0, 2.0, n)
    return np.column_stack([np.ones(n), x]), (x > threshold).astype(float)


# --------------------------------------------------------------------------------------
# 1. Separation: the MLE is at infinity
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["newton", "bfgs"])
def test_complete_separation_is_not_valid(method):
    X, y = _separation_design()
    with pytest.warns(hj.HessjaxWarning):
        res = hj.fit(logistic_loglik, np.zeros(2), X, y, method=method)
    d = res.diagnostics
    assert not bool(d.is_valid)
    text = str(d)
    assert text.startswith("NOT VALID")
    # The reason names a running-off estimate, never "not separately identified".
    assert "infinity" in text and "not separately identified" not in text
    if bool(d.hessian_is_pd):
        assert "x[1]" in [name for name, kind, _ in d.wald_failures() if kind == "flat"]


def test_quasi_complete_and_multivariate_separation_are_not_valid():
    # Quasi-complete: a tie at the threshold with both outcomes.
    x = np.concatenate([np.linspace(-2, 2, 41), [0.0]])
    y = np.concatenate([(np.linspace(-2, 2, 41) > 0).astype(float), [1.0]])
    y[20] = 0.0  # x = 0 appears with y = 0 and y = 1
    X = np.column_stack([np.ones_like(x), x])
    assert not bool(fit_quietly(logistic_loglik, np.zeros(2), X, y).diagnostics.is_valid)
    # Three covariates, separated by the second (other covariates random).
    rng = np.random.default_rng(7)
    Z = rng.normal(size=(120, 3))
    X3 = np.column_stack([np.ones(120), Z])
    y3 = (Z[:, 1] > 0.3).astype(float)
    res = fit_quietly(logistic_loglik, np.zeros(4), X3, y3)
    assert not bool(res.diagnostics.is_valid)


def test_check_cli_exits_1_on_separation(tmp_path, capsys):
    model = tmp_path / "separated.py"
    model.write_text(
        "import numpy as np, jax.numpy as jnp\n"
        "x = np.linspace(-2, 2, 40)\n"
        "data = (np.column_stack([np.ones(40), x]), (x > 0).astype(float))\n"
        "init = np.zeros(2)\n"
        "def loglik(b, X, y):\n"
        "    eta = X @ b\n"
        "    return y * eta - jnp.logaddexp(0.0, eta)\n"
    )
    assert cli_main(["check", str(model)]) == 1
    out = capsys.readouterr().out
    assert "RESULT: NOT VALID" in out


def _separated(x, y) -> bool:
    """1-D logistic regression with intercept: (quasi-)separated iff a threshold splits y."""
    return bool(x[y == 0].max() <= x[y == 1].min() or x[y == 1].max() <= x[y == 0].min())


def test_fit_batch_counts_separated_fits_as_invalid():
    """The issue's 41 separated datasets (40 were certified) plus 41 overlapping ones:
    validity must equal non-separation for every one, checked by the threshold test."""
    x = np.linspace(-2.0, 2.0, 40)
    X = np.column_stack([np.ones(40), x])
    separated = np.stack([(x > c).astype(float) for c in np.linspace(-1.5, 1.5, 41)])
    rng = np.random.default_rng(11)
    overlapping = (rng.uniform(size=(41, 40)) < 1 / (1 + np.exp(-0.8 * x))).astype(float)
    ys = np.concatenate([separated, overlapping])
    truth_valid = np.array([not _separated(x, y) for y in ys])
    assert truth_valid[:41].sum() == 0 and truth_valid[41:].sum() >= 35
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hj.HessjaxWarning)
        fits = hj.fit_batch(logistic_loglik, np.zeros(2), X, ys, in_axes=(None, 0), progress=False)
    np.testing.assert_array_equal(np.asarray(fits.diagnostics.is_valid), truth_valid)
    assert fits.batch_summary.valid == int(truth_valid.sum())


def test_overlapping_logistic_regression_is_valid_and_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    x = rng.normal(size=60)
    y = (rng.uniform(size=60) < 1 / (1 + np.exp(-(0.3 + 1.2 * x)))).astype(float)
    X = np.column_stack([np.ones(60), x])
    res = hj.fit(logistic_loglik, np.zeros(2), X, y)  # any hessjax warning fails the test
    ref = sm.Logit(y, X).fit(method="newton", tol=1e-14, disp=0)
    assert bool(res.diagnostics.is_valid)
    np.testing.assert_allclose(res.estimate, ref.params, rtol=1e-8)
    np.testing.assert_allclose(res.se_vector, ref.bse, rtol=1e-8)


# --------------------------------------------------------------------------------------
# 2. A variance component whose ML estimate is 0, fitted on the log scale
# --------------------------------------------------------------------------------------
def _one_way_data(seed, tau, g=20, m=5):
    rng = np.random.default_rng(seed)
    return 1.0 + rng.normal(0, tau, size=(g, 1)) + rng.normal(size=(g, m))


def _between_below_within(y) -> bool:
    """Closed form: the ML tau^2 is 0 iff the ML variance of the group means is below
    the ML sigma^2 / m (balanced one-way model)."""
    g, m = y.shape
    ybar = y.mean(axis=1)
    sigma2 = np.sum((y - ybar[:, None]) ** 2) / (g * (m - 1))
    return np.mean((ybar - ybar.mean()) ** 2) < sigma2 / m


INIT_ONE_WAY = {"log_sigma": 0.0, "log_tau": 0.0, "mu": 0.0}


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_variance_component_at_zero_is_not_valid(seed):
    # Group means made less variable than within-group noise implies: tau_hat = 0.
    y = _one_way_data(seed, tau=0.0)
    y = y - 0.6 * (y.mean(axis=1, keepdims=True) - y.mean())
    assert _between_below_within(y)
    res = fit_quietly(one_way_loglik, INIT_ONE_WAY, y)
    d = res.diagnostics
    assert not bool(d.is_valid)
    assert [name for name, _, _ in d.wald_failures()] == ["log_tau"]
    # The natural-scale SE by the delta method is not silently returned.
    with pytest.warns(hj.IntervalWarning, match="log_tau"):
        res.delta(lambda p: jnp.exp(p["log_tau"]))
    # mu's delta method does not involve log_tau: no warning (warnings are errors here).
    res.delta(lambda p: p["mu"] + 0.0)


def test_variance_component_away_from_zero_is_valid_with_closed_form_se():
    y = _one_way_data(1, tau=1.0)
    assert not _between_below_within(y)
    res = hj.fit(one_way_loglik, INIT_ONE_WAY, y)
    assert bool(res.diagnostics.is_valid)
    g, m = y.shape
    ybar = y.mean(axis=1)
    v_hat = np.mean((ybar - ybar.mean()) ** 2)  # ML variance of the group means
    np.testing.assert_allclose(float(res.params["mu"]), ybar.mean(), rtol=1e-12)
    np.testing.assert_allclose(float(res.se["mu"]), np.sqrt(v_hat / g), rtol=1e-9)


# --------------------------------------------------------------------------------------
# 3. A probability pinned at its bound through a logit
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, n", [(25.0, 25.0), (0.0, 30.0), (40.0, 40.0)])
def test_probability_at_its_bound_is_not_valid(k, n):
    res = fit_quietly(binomial_logit_loglik, np.array(0.0), k, n)
    assert not bool(res.diagnostics.is_valid)
    kind = res.diagnostics.wald_failures()[0][1]
    assert kind == "flat"
    with pytest.warns(hj.IntervalWarning):
        res.delta(jax.nn.sigmoid)
    with pytest.warns(hj.IntervalWarning):
        res.conf_int()


@pytest.mark.parametrize("k, n", [(24.0, 25.0), (1.0, 30.0), (12.0, 25.0)])
def test_interior_probability_is_valid_with_closed_form_se(k, n):
    res = hj.fit(binomial_logit_loglik, np.array(0.0), k, n)
    p = k / n
    assert bool(res.diagnostics.is_valid)
    se = 1 / np.sqrt(n * p * (1 - p))
    # At the maximum to within 1e-6 SE (the certificate's own guarantee is 1e-3 SE).
    np.testing.assert_allclose(float(res.params), np.log(p / (1 - p)), rtol=0, atol=1e-6 * se)
    np.testing.assert_allclose(float(res.se), se, rtol=1e-9)


# --------------------------------------------------------------------------------------
# 4. A degenerate optimum: the Hessian vanishes at the maximum
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "loglik, init",
    [
        (lambda p: -(p[0] ** 6 + p[1] ** 4 + 5 * p[0] ** 2 * p[1] ** 3), np.array([0.5, 0.5])),
        (lambda p: -(p[0] ** 4 + p[1] ** 2), np.array([0.7, -0.3])),
        (lambda p: -(p[0] ** 4) - 2.0 * p[0] ** 2 * p[1] ** 2 - p[1] ** 4, np.array([1.0, 2.0])),
    ],
    ids=["x6_y4", "x4_y2", "r4"],
)
def test_degenerate_optimum_is_not_valid(loglik, init):
    res = fit_quietly(loglik, init)
    d = res.diagnostics
    assert not bool(d.is_valid)
    assert str(d).startswith("NOT VALID")


def test_quadratic_optimum_is_valid_with_exact_se():
    res = hj.fit(lambda p: -(p[0] ** 2 + 3.0 * p[1] ** 2 + p[0] * p[1]), np.array([0.7, -0.3]))
    assert bool(res.diagnostics.is_valid)
    np.testing.assert_allclose(res.cov, np.linalg.inv([[2.0, 1.0], [1.0, 6.0]]), rtol=1e-12)
    # Exactly quadratic: every probe drops exactly as predicted.
    np.testing.assert_allclose(np.asarray(res.diagnostics.quadratic_ratio), 1.0, rtol=1e-9)


def test_profile_interval_of_a_pinned_probability_is_one_sided_and_exact():
    """The certificate sends users to profile intervals: they must work on such a fit.
    25 of 25: the profile interval of p is [exp(-chi2_1(0.95)/2 / 25), 1]."""
    from scipy import stats

    res = fit_quietly(binomial_logit_loglik, np.array(0.0), 25.0, 25.0)
    with pytest.warns(hj.IntervalWarning):  # profile and Wald intervals differ: said so
        ci = res.conf_int(method="profile")[0]
    lower = np.exp(-0.5 * stats.chi2.ppf(0.95, 1) / 25)
    np.testing.assert_allclose(float(jax.nn.sigmoid(ci[0])), lower, rtol=1e-6)  # endpoint solve accuracy
    assert ci[1] == np.inf
