"""Profile-likelihood intervals against closed forms and scipy's brentq."""

import numpy as np
import jax.numpy as jnp
import pytest
from scipy import optimize, stats

import hessjax as hj

EPS = np.finfo(float).eps
# Endpoints solve psi(t) = 0 to |psi| <= 1e-9 (loglik units); with slope |g|
# of order n / sigma that is an endpoint error far below 1e-8 relative.
ENDPOINT_RTOL = 1e-8


def normal_loglik(p, y):
    s = jnp.exp(p["log_sigma"])
    return jnp.sum(-0.5 * ((y - p["mu"]) / s) ** 2 - p["log_sigma"])


def exponential_log_rate(p, y):
    lam = jnp.exp(p)
    return jnp.sum(jnp.log(lam) - lam * y)


def exponential_rate(p, y):
    return jnp.sum(jnp.log(p) - p * y)


@pytest.fixture(scope="module")
def normal_fit():
    y = np.random.default_rng(1).normal(2.0, 3.0, 30)
    return y, hj.fit(normal_loglik, {"mu": 0.0, "log_sigma": 0.0}, y)


def test_normal_mean_profile_matches_closed_form(normal_fit):
    # Profiling sigma out: 2(l_max - l_p(mu)) = n log(1 + (mu - ybar)^2 / s^2).
    y, res = normal_fit
    n, ybar, s2 = len(y), y.mean(), np.mean((y - y.mean()) ** 2)
    q = stats.chi2.ppf(0.95, 1)
    half = np.sqrt(s2 * (np.exp(q / n) - 1.0))
    ci = res.conf_int(method="profile")
    mu = res.names.index("mu")
    np.testing.assert_allclose(ci[mu], [ybar - half, ybar + half], rtol=ENDPOINT_RTOL)


def test_normal_log_sigma_profile_matches_brentq(normal_fit):
    # Profiling mu out (mu_hat = ybar for every sigma):
    # 2(l_max - l_p) = n (2 (t - log s) + s^2 e^{-2t} - 1), t = log sigma.
    y, res = normal_fit
    n, s2 = len(y), np.mean((y - y.mean()) ** 2)
    q = stats.chi2.ppf(0.95, 1)
    t_hat = 0.5 * np.log(s2)
    lr = lambda t: n * (2 * (t - t_hat) + s2 * np.exp(-2 * t) - 1.0) - q  # noqa: E731
    lo = optimize.brentq(lr, t_hat - 2, t_hat, xtol=1e-14)
    hi = optimize.brentq(lr, t_hat, t_hat + 2, xtol=1e-14)
    ci = res.conf_int(method="profile")
    np.testing.assert_allclose(ci[res.names.index("log_sigma")], [lo, hi], rtol=ENDPOINT_RTOL)


def test_one_parameter_profile_is_the_likelihood_ratio_root():
    y = np.random.default_rng(2).exponential(2.0, 15)
    res = hj.fit(exponential_log_rate, 0.0, y)
    ll = lambda t: np.sum(t - np.exp(t) * y)  # noqa: E731
    t_hat = -np.log(y.mean())
    q = stats.chi2.ppf(0.9, 1)
    f = lambda t: 2 * (ll(t_hat) - ll(t)) - q  # noqa: E731
    expected = [optimize.brentq(f, t_hat - 3, t_hat, xtol=1e-14), optimize.brentq(f, t_hat, t_hat + 3, xtol=1e-14)]
    prof = hj.profile_intervals(res, level=0.9)
    assert prof.converged.all()
    np.testing.assert_allclose(prof.intervals[0], expected, rtol=ENDPOINT_RTOL)


def test_skewed_likelihood_profile_and_wald_disagree_with_a_warning():
    # A rate on its natural scale from 6 observations: the likelihood is far
    # from quadratic, so Wald is symmetric and the profile is not.
    y = np.array([0.3, 1.2, 0.5, 2.2, 0.8, 0.4])
    res = hj.fit(exponential_rate, 1.0, y)
    with pytest.warns(hj.IntervalWarning, match="prefer the profile"):
        prof = hj.profile_intervals(res)
    assert prof.disagrees[0]
    lam = 1.0 / y.mean()
    ll = lambda r: np.sum(np.log(r) - r * y)  # noqa: E731
    q = stats.chi2.ppf(0.95, 1)
    f = lambda r: 2 * (ll(lam) - ll(r)) - q  # noqa: E731
    expected = [optimize.brentq(f, 1e-6, lam, xtol=1e-15), optimize.brentq(f, lam, 20 * lam, xtol=1e-15)]
    np.testing.assert_allclose(prof.intervals[0], expected, rtol=ENDPOINT_RTOL)
    # The profile interval is asymmetric: longer on the upper side.
    assert prof.intervals[0, 1] - lam > lam - prof.intervals[0, 0]


def test_profile_needs_a_valid_fit():
    def loglik(p, y):
        return -0.5 * jnp.sum((y - p["a"] - p["b"]) ** 2)

    with pytest.warns(hj.HessianWarning):
        res = hj.fit(loglik, {"a": 0.0, "b": 0.0}, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="certified strict maximum"):
        res.conf_int(method="profile")


def test_profile_level_validated(normal_fit):
    _, res = normal_fit
    with pytest.raises(ValueError, match="level"):
        hj.profile_intervals(res, level=1.0)
