"""``fit.profile(name)`` curves and ``fit.contour(name1, name2)`` regions (issue 13).

Independent truths: the closed-form profile of a normal mean (sigma profiled out),
the exact ellipse of a linear Gaussian model with known variance, and, for a
curved two-parameter likelihood, the level set found by scipy's brentq on the
log-likelihood itself along each ray.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

import hessjax as hj
from hessjax.warnings import IntervalWarning

EPS = np.finfo(float).eps
# Contour points solve psi(d) = 0 to |psi| <= 1e-9 q (loglik units, the ray
# solver's tolerance); the slope along a ray is ~ 2 q at the boundary, so a
# point is off by at most ~1e-9 relative in its distance from the estimate.
RAY_RTOL = 1e-8


def linear_known_variance(beta, X, y):
    return -0.5 * (y - X @ beta) ** 2  # sigma = 1 known


def normal(p, y):
    return -0.5 * ((y - p["mu"]) / p["sigma"]) ** 2 - jnp.log(p["sigma"])


def gamma_shape_rate(p, y):  # curved: shape and rate strongly correlated
    a, b = jnp.exp(p["log_shape"]), jnp.exp(p["log_rate"])
    return a * jnp.log(b) - jax_gammaln(a) + (a - 1.0) * jnp.log(y) - b * y


def jax_gammaln(a):
    from jax.scipy.special import gammaln

    return gammaln(a)


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(25), rng.normal(size=25), rng.normal(size=25)])
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=25)
    return hj.fit(linear_known_variance, np.zeros(3), X, y), X


@pytest.fixture(scope="module")
def normal_fit():
    y = np.random.default_rng(5).normal(2.0, 1.5, size=40)
    return hj.fit(normal, {"mu": 0.0, "sigma": 1.0}, y, bounds={"sigma": (0.0, None)}), y


@pytest.fixture(scope="module")
def gamma_fit():
    y = np.random.default_rng(11).gamma(2.0, 1.5, size=30)
    return hj.fit(gamma_shape_rate, {"log_shape": 0.0, "log_rate": 0.0}, y), y


@pytest.mark.parametrize("level", [0.68, 0.95])
def test_contour_of_a_linear_gaussian_model_is_the_exact_ellipse(linear, level):
    fit, X = linear
    pts = fit.contour("x[0]", "x[2]", level=level, n_points=16)
    assert pts.shape == (16, 2)
    # Profiling out x[1] leaves the Schur complement of the information X'X.
    H = X.T @ X
    keep, out = [0, 2], [1]
    schur = H[np.ix_(keep, keep)] - H[np.ix_(keep, out)] @ np.linalg.solve(H[np.ix_(out, out)], H[np.ix_(out, keep)])
    d = pts - fit.estimate[keep]
    r2 = np.einsum("ki,ij,kj->k", d, schur, d)
    np.testing.assert_allclose(r2, stats.chi2.ppf(level, 2), rtol=1e3 * EPS)
    # In order around the estimate: the angles increase monotonically (mod 2 pi).
    angles = np.unwrap(np.arctan2(*(np.linalg.solve(np.linalg.cholesky(np.linalg.inv(schur)), d.T))[::-1]))
    assert np.all(np.diff(angles) > 0)


def test_contour_of_a_curved_likelihood_matches_brentq_on_each_ray(gamma_fit):
    fit, y = gamma_fit
    pts = fit.contour("log_shape", "log_rate", level=0.95, n_points=12)
    q = 0.5 * stats.chi2.ppf(0.95, 2)
    est = fit.estimate[[fit.names.index("log_shape"), fit.names.index("log_rate")]]
    llmax = float(fit.loglik)

    def drop(point):  # two parameters: the 2-D profile is the log-likelihood itself
        p = {"log_shape": point[0], "log_rate": point[1]}
        with jax.enable_x64(True):
            return llmax - float(np.sum(gamma_shape_rate(p, y))) - q

    for point in pts:
        direction = point - est
        t = optimize.brentq(lambda s: drop(est + s * direction), 1e-6, 3.0, xtol=1e-14, rtol=4 * EPS)
        assert t == pytest.approx(1.0, abs=RAY_RTOL)
    # The region is not the Wald ellipse here (skewed): some ray differs by > 1%.
    order = [fit.names.index("log_shape"), fit.names.index("log_rate")]
    cov = np.asarray(fit.cov)[np.ix_(order, order)]
    r2 = np.einsum("ki,ij,kj->k", pts - est, np.linalg.inv(cov), pts - est)
    assert np.max(np.abs(r2 / stats.chi2.ppf(0.95, 2) - 1)) > 0.01


def test_profile_curve_of_a_normal_mean_is_the_closed_form(normal_fit):
    fit, y = normal_fit
    n, ybar = y.size, y.mean()
    s2 = np.mean((y - ybar) ** 2)
    curve = fit.profile("mu", n_points=9)
    # sigma profiled out: loglik drop = n/2 log(1 + (mu - ybar)^2 / s2).
    expected = 0.5 * n * np.log1p((curve.values - ybar) ** 2 / s2)
    np.testing.assert_allclose(curve.drop, expected, rtol=1e-9, atol=64 * EPS * n)
    assert curve.converged.all()
    # The constrained optimum of sigma is sqrt(s2 + (mu - ybar)^2), on the natural scale.
    np.testing.assert_allclose(curve.params[:, 1], np.sqrt(s2 + (curve.values - ybar) ** 2), rtol=1e-9)
    # The default grid spans the 99% profile interval, widened by 10% on each side.
    lo, hi = _interval99(fit)
    width = hi - lo
    assert curve.values[0] == pytest.approx(lo - 0.1 * width, rel=1e-12)
    assert curve.values[-1] == pytest.approx(hi + 0.1 * width, rel=1e-12)


def _interval99(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntervalWarning)
        return fit.conf_int(level=0.99, method="profile")[0]


def test_profile_of_a_bounded_parameter_stops_at_its_bound():
    def binomial(p, k, n):
        return k * jnp.log(p["p"]) + (n - k) * jnp.log1p(-p["p"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimate is on the bound: flagged, tested elsewhere
        fit = hj.fit(binomial, {"p": 0.5}, 25.0, 25.0, bounds={"p": (0.0, 1.0)})
    curve = fit.profile("p", n_points=6)
    assert curve.values[-1] == 1.0
    # Closed form: drop = -25 log p (the maximum is 0 at p = 1).
    np.testing.assert_allclose(curve.drop, -25.0 * np.log(curve.values), rtol=1e-9, atol=1e-10)


def test_profile_and_contour_errors(normal_fit, linear):
    fit, _ = normal_fit
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        fit.profile("nope")
    with pytest.raises(ValueError, match="n_points"):
        fit.profile("mu", n_points=2)
    with pytest.raises(ValueError, match="increasing pair"):
        fit.profile("mu", bound=(3.0, 1.0))
    with pytest.raises(ValueError, match="two different parameters"):
        fit.contour("mu", "mu")
    with pytest.raises(ValueError, match="level"):
        fit.contour("mu", "sigma", level=1.5)
    y = np.random.default_rng(0).normal(size=10)
    held = hj.fit(normal, {"mu": 0.0, "sigma": 1.0}, y, fixed="sigma")
    with pytest.raises(ValueError, match="sigma is fixed"):
        held.profile("sigma")


def test_profile_and_contour_plots_render(tmp_path, normal_fit):
    pytest.importorskip("matplotlib")
    fit, _ = normal_fit
    for name, draw in {
        "profile": lambda p: hj.plot_profile(fit, "mu", n_points=9, path=p),
        "profiles": lambda p: hj.plot_profiles(fit, ["mu", "sigma"], n_points=9, path=p),
        "contour": lambda p: hj.plot_contour(fit, "mu", "sigma", n_points=12, path=p),
    }.items():
        path = tmp_path / f"{name}.png"
        fig = draw(str(path))
        assert path.stat().st_size > 5000
        ax = fig.axes[0]
        assert ax.get_xlabel() == "mu" and ax.get_title()
