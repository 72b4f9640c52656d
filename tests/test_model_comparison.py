"""Model comparison (issue 13): ``aic``, ``bic``, ``lr_test``, ``wald_test``.

The truth is statsmodels' own fits of the same data: ``Logit(...).fit(disp=0)``
for AIC, BIC, its likelihood-ratio test against the intercept-only model
(``llr``) and ``wald_test(R, use_f=False, scalar=True)``; ``OLS`` for
``compare_lr_test``. Closed forms pin the normal mean with known variance,
where LR and Wald statistics both equal n (ybar - mu0)^2 / sigma^2.

Tolerances. The two MLEs differ by ``shift`` standard errors (measured per
model; statsmodels' Newton stops when a step is below 1e-8, hessjax's at the
rounding level, and the worst shift seen is 3e-10 SE). The log-likelihood is
flat at the maximum, so a shift changes it only by about shift^2 / 2 per
parameter (1e-19 here): llf, AIC, BIC and LR statistics agree to the rounding
of a sum of n terms, n eps relative to the summed magnitudes (measured: at most
6e-14 absolute, 2e-16 relative). A Wald statistic W = |z|^2 moves to first
order: z by about sqrt(k) shift and the covariance by a relative O(shift)
(third derivatives over the information, O(1) per SE), see
``wald_tolerance`` (measured: 6e-10 relative at W = 0.065).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

sm = pytest.importorskip("statsmodels.api")

EPS = float(np.finfo(np.float64).eps)
N = 200
NAMES = ("const", "x1", "x2", "x3")


def logit_loglik(p, y, exog):
    """Per-observation logit log-likelihood; parameters named like statsmodels' exog."""
    beta = jnp.stack([p[name] for name in sorted(p)])  # sorted keys = ravel order = columns
    eta = exog @ beta
    return y * eta - jnp.logaddexp(0.0, eta)


def gaussian_loglik(p, y, exog):
    """Per-observation normal linear model with log sigma (OLS as an MLE)."""
    sigma = jnp.exp(p["log_sigma"])
    return -0.5 * ((y - exog @ p["beta"]) / sigma) ** 2 - p["log_sigma"] - 0.5 * jnp.log(2 * jnp.pi)


def bernoulli_loglik(p, k, n):  # scalar: nobs is None
    return k * jnp.log(p["p"]) + (n - k) * jnp.log1p(-p["p"])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261130)
    exog = sm.add_constant(rng.normal(size=(N, 3)))  # columns const, x1, x2, x3
    eta = exog @ np.array([-0.3, 0.8, -0.5, 0.05])
    y_logit = (rng.uniform(size=N) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    y_linear = exog @ np.array([1.0, 0.5, -0.3, 0.1]) + rng.normal(size=N)
    return exog, y_logit, y_linear


@pytest.fixture(scope="module")
def logits(data):
    """``{k: (hessjax fit, statsmodels results, shift)}`` for the first k columns."""
    exog, y, _ = data
    out = {}
    for k in (4, 3, 1):
        ours = hj.fit(logit_loglik, {name: 0.0 for name in NAMES[:k]}, y, exog[:, :k])
        theirs = sm.Logit(y, exog[:, :k]).fit(disp=0)
        shift = float(np.max(np.abs(ours.estimate - theirs.params) / theirs.bse))
        assert shift < 1e-7, "statsmodels' Newton stops at steps below 1e-8 (about 1e-7 SE here)"
        out[k] = (ours, theirs, shift)
    return out


@pytest.fixture(scope="module")
def boundary_fit():
    """A proportion on its natural scale, 1 success in 20: the SE is finite but the 95%
    Wald interval leaves (0, 1), so the fit is not valid. Scalar loglik: nobs is None."""
    with pytest.warns(hj.BoundaryWarning):
        fit = hj.fit(bernoulli_loglik, {"p": 0.3}, 1.0, 20.0)
    assert not bool(fit.diagnostics.is_valid) and bool(fit.diagnostics.hessian_is_pd)
    return fit


@pytest.fixture(scope="module")
def normal_mean():
    """y ~ N(mu, 4) with H0: mu = mu0; z ~ N(nu, 4) is a nuisance sample in both models."""
    rng = np.random.default_rng(7)
    sigma, mu0 = 2.0, 1.0
    y, z = rng.normal(1.5, sigma, size=40), rng.normal(-1.0, sigma, size=10)

    def full_loglik(p, y, z, mu0):
        return jnp.concatenate([-0.5 * ((y - p["mu"]) / sigma) ** 2, -0.5 * ((z - p["nu"]) / sigma) ** 2])

    def restricted_loglik(p, y, z, mu0):
        return full_loglik({"mu": mu0, "nu": p["nu"]}, y, z, mu0)

    full = hj.fit(full_loglik, {"mu": 0.0, "nu": 0.0}, y, z, mu0)
    restricted = hj.fit(restricted_loglik, {"nu": 0.0}, y, z, mu0)
    return full, restricted, y, sigma, mu0


@pytest.fixture(scope="module")
def linear(data):
    """Nested normal linear models: all four columns, and const and x1 only."""
    exog, _, y = data
    full = hj.fit(gaussian_loglik, {"beta": np.zeros(4), "log_sigma": 0.0}, y, exog)
    restricted = hj.fit(gaussian_loglik, {"beta": np.zeros(2), "log_sigma": 0.0}, y, exog[:, :2])
    return full, restricted, sm.OLS(y, exog).fit(), sm.OLS(y, exog[:, :2]).fit()


def llf_tolerance(*llfs: float) -> float:
    """Rounding of sums of N terms: N eps times their magnitude (see the module docstring)."""
    return N * EPS * sum(abs(v) for v in llfs)


def wald_tolerance(statistic: float, k: int, shift: float) -> float:
    """|dW| from MLEs ``shift`` SE apart: 2|z| dz + dz^2 + 2 W shift, dz = sqrt(k) shift,
    with a factor 10 for correlated restrictions, plus rounding."""
    dz = 10 * np.sqrt(k) * shift
    return 2 * np.sqrt(statistic) * dz + dz**2 + 20 * statistic * shift + 64 * EPS * statistic


# -- AIC and BIC ------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [4, 3, 1])
def test_aic_and_bic_match_statsmodels(logits, k):
    ours, theirs, _ = logits[k]
    assert ours.n_free == k and ours.nobs == N
    tol = 2 * llf_tolerance(theirs.llf)
    assert abs(float(ours.loglik) - theirs.llf) <= tol / 2
    assert abs(ours.aic - theirs.aic) <= tol
    assert abs(ours.bic - theirs.bic) <= tol
    assert ours.aic == -2 * float(ours.loglik) + 2 * k
    assert ours.bic == -2 * float(ours.loglik) + k * np.log(N)


def test_fixed_parameters_are_not_counted(logits, data):
    """The full logit with x3 held at 0 is the three-column model: same llf, k = 3."""
    exog, y, _ = data
    (full, _, _), (three, theirs, _) = logits[4], logits[3]
    held = hj.fit(logit_loglik, {name: 0.0 for name in NAMES}, y, exog, fixed="x3")
    assert held.fixed == ("x3",) and held.n_free == 3
    tol = 2 * llf_tolerance(theirs.llf)
    assert abs(held.aic - theirs.aic) <= tol and abs(held.bic - theirs.bic) <= tol
    lr = hj.lr_test(held, full)  # nesting by fixing a parameter
    assert lr.df == 1 and abs(lr.statistic - hj.lr_test(three, full).statistic) <= tol
    assert held.wald_test("x1").statistic == pytest.approx(three.wald_test("x1").statistic, rel=1e-9)
    with pytest.raises(ValueError, match="fixed parameter.*x3"):
        held.wald_test("x3")
    with pytest.raises(ValueError, match="fixed parameter.*x3"):
        held.wald_test([0.0, 0.0, 1.0, 1.0])


def test_bic_without_nobs_says_to_return_per_observation_values(boundary_fit):
    assert boundary_fit.nobs is None
    assert boundary_fit.aic == -2 * float(boundary_fit.loglik) + 2
    with pytest.raises(ValueError, match="per-observation values"):
        boundary_fit.bic


def test_batched_results_give_arrays():
    y = np.random.default_rng(1).normal(1.0, 2.0, size=(3, 12))

    def loglik(p, y):
        return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]

    fits = hj.fit_batch(loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
    llf = np.asarray(fits.loglik)
    assert fits.aic.shape == (3,) and fits.bic.shape == (3,)
    np.testing.assert_array_equal(fits.aic, -2 * llf + 4)
    np.testing.assert_array_equal(fits.bic, -2 * llf + 2 * np.log(12))
    assert float(fits[1].aic) == fits.aic[1]
    with pytest.raises(ValueError, match="index"):
        fits.wald_test("mu")
    with pytest.raises(ValueError, match="batch"):
        hj.lr_test(fits, fits)


# -- likelihood-ratio test --------------------------------------------------------------------
def test_lr_test_matches_statsmodels_compare_lr_test(linear):
    full, restricted, sm_full, sm_restricted = linear
    statistic, pvalue, df = sm_full.compare_lr_test(sm_restricted)[:3]
    lr = hj.lr_test(restricted, full)
    assert lr.df == df == 2
    assert abs(lr.statistic - statistic) <= 2 * llf_tolerance(sm_full.llf, sm_restricted.llf)
    # d(sf)/dx = chi2 pdf <= 1/2 for df = 2: the p-value moves less than the statistic.
    assert abs(lr.pvalue - pvalue) <= 2 * llf_tolerance(sm_full.llf, sm_restricted.llf)
    assert lr.test == "likelihood-ratio"
    assert str(lr).startswith("Likelihood-ratio test: chi2(2) = 18.478")


def test_lr_test_matches_statsmodels_logit_llr(logits, data):
    """statsmodels' own LR test of the full logit against the intercept-only model."""
    (full, theirs, _), (null, sm_null, _) = logits[4], logits[1]
    lr = hj.lr_test(null, full)
    assert lr.df == int(theirs.df_model) == 3
    tol = 2 * llf_tolerance(theirs.llf, sm_null.llf)
    assert abs(lr.statistic - 2 * (theirs.llf - sm_null.llf)) <= tol
    # `llr` refits the null model by Nelder-Mead and BFGS (`llnull`), which stops short
    # of the maximum; the intercept-only MLE is ybar, so its log-likelihood is known exactly.
    y = data[1]
    ybar = y.mean()
    exact_null = float(np.sum(y * np.log(ybar) + (1 - y) * np.log1p(-ybar)))
    assert abs(float(null.loglik) - exact_null) <= llf_tolerance(exact_null)
    gap = exact_null - theirs.llnull
    assert -llf_tolerance(exact_null) <= gap < 1e-6, "llnull is a maximization: below the exact one"
    assert abs(lr.statistic - theirs.llr) <= 2 * abs(gap) + tol
    # p-value: d log sf / dx is about -1/2 here, so the relative error is half the absolute one.
    assert abs(lr.pvalue / theirs.llr_pvalue - 1) <= abs(gap) + tol
    # Dropping x3 alone (nested in the same way): the difference of statsmodels' llf.
    lr3 = hj.lr_test(logits[3][0], full)
    assert lr3.df == 1
    assert abs(lr3.statistic - 2 * (theirs.llf - logits[3][1].llf)) <= tol


def test_lr_and_wald_of_a_normal_mean_with_known_variance_are_closed_form(normal_mean):
    """2 (llf_full - llf_restricted) = [sum (y - mu0)^2 - sum (y - ybar)^2] / sigma^2
    = n (ybar - mu0)^2 / sigma^2, and the Wald statistic (ybar - mu0)^2 / (sigma^2 / n)
    is the same number (the log-likelihood is exactly quadratic in mu).
    """
    full, restricted, y, sigma, mu0 = normal_mean
    ybar = y.mean()
    exact = y.size * (ybar - mu0) ** 2 / sigma**2
    lr = hj.lr_test(restricted, full)
    assert lr.df == 1
    # Each loglik is a rounded sum; the statistic is their difference.
    assert abs(lr.statistic - exact) <= 64 * EPS * (abs(float(full.loglik)) + abs(float(restricted.loglik)))
    # The MLE is ybar to a few ulps; the difference ybar - mu0 amplifies that relatively.
    rtol = 64 * EPS * (1 + abs(ybar) / abs(ybar - mu0))
    for wald in (full.wald_test("mu", q=mu0), full.wald_test([1.0, 0.0], mu0),
                 full.wald_test(np.array([[1.0, 0.0]]), np.array([mu0]))):
        assert wald.df == 1 and wald.test == "Wald"
        assert abs(wald.statistic - exact) <= rtol * exact
    from scipy import stats

    assert lr.pvalue == pytest.approx(stats.chi2.sf(exact, 1), rel=1e-12)


def test_lr_test_refuses_a_restricted_fit_with_the_larger_loglik(logits, linear):
    # Not nested (a logit and a linear model of other data, both with nobs = 200):
    # exactly what the order check is there to catch.
    null, full = logits[1][0], linear[0]
    assert float(null.loglik) > float(full.loglik) and full.n_free > null.n_free
    with pytest.raises(ValueError, match="restricted fit has the larger log-likelihood.*not nested"):
        hj.lr_test(null, full)


def test_lr_test_refuses_swapped_arguments(logits):
    with pytest.raises(ValueError, match=r"more free parameters.*full.n_free=3.*restricted.n_free=4"):
        hj.lr_test(logits[4][0], logits[3][0])


def test_lr_test_refuses_fits_of_different_sizes(logits, normal_mean):
    with pytest.raises(ValueError, match=r"different numbers of observations.*nobs=50.*nobs=200"):
        hj.lr_test(normal_mean[1], logits[4][0])


def test_lr_test_refuses_an_invalid_fit_and_says_which_and_why(logits, boundary_fit):
    invalid = boundary_fit
    with pytest.raises(ValueError, match=r"the restricted fit is not valid.*p: the log-likelihood is not defined"):
        hj.lr_test(invalid, logits[4][0])
    with pytest.raises(ValueError, match=r"the full fit is not valid.*not defined \(NaN\)"):
        hj.lr_test(logits[1][0], invalid)
    with pytest.raises(TypeError, match="FitResult"):
        hj.lr_test(object(), logits[4][0])


# -- Wald test ---------------------------------------------------------------------------------
WALD_CASES = {
    "one row": (np.array([0.0, 1.0, 1.0, 0.0]), 0.2),
    "two rows": (np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]), np.array([0.5, -0.4])),
    "three rows": (np.eye(4)[1:], None),
}


@pytest.mark.parametrize("case", sorted(WALD_CASES))
def test_wald_test_matches_statsmodels(logits, case):
    ours, theirs, shift = logits[4]
    R, q = WALD_CASES[case]
    wald = ours.wald_test(R, q)
    R2 = np.atleast_2d(R)
    ref = theirs.wald_test((R2, np.zeros(len(R2)) if q is None else np.atleast_1d(q)), use_f=False, scalar=True)
    assert wald.df == R2.shape[0]
    tol = wald_tolerance(float(ref.statistic), wald.df, shift)
    assert abs(wald.statistic - float(ref.statistic)) <= tol
    assert abs(wald.pvalue - float(ref.pvalue)) <= tol  # |d sf / dx| <= 1/2 for df >= 1 away from 0


@pytest.mark.parametrize("names, constraints", [("x1", "x1 = 0"), (["x2", "x3"], "x2 = 0, x3 = 0")])
def test_wald_test_by_name_matches_statsmodels_string_constraints(logits, names, constraints):
    ours, theirs, shift = logits[4]
    wald = ours.wald_test(names)
    ref = theirs.wald_test(constraints, use_f=False, scalar=True)
    assert wald.df == (1 if isinstance(names, str) else len(names))
    assert abs(wald.statistic - float(ref.statistic)) <= wald_tolerance(float(ref.statistic), wald.df, shift)


def test_wald_test_names_of_array_elements_and_leaves(linear):
    full = linear[0]
    assert full.names == ("beta[0]", "beta[1]", "beta[2]", "beta[3]", "log_sigma")
    rows = np.eye(5)
    one = full.wald_test("beta[2]", q=-0.3)
    assert one.statistic == pytest.approx(full.wald_test(rows[2], -0.3).statistic, rel=64 * EPS)
    joint = full.wald_test(["beta[2]", "beta[3]"], q=[-0.3, 0.1])
    assert joint.statistic == pytest.approx(full.wald_test(rows[2:4], [-0.3, 0.1]).statistic, rel=64 * EPS)
    leaf = full.wald_test("beta")  # every element of the leaf
    assert leaf.df == 4
    assert leaf.statistic == pytest.approx(full.wald_test(rows[:4]).statistic, rel=64 * EPS)


def test_wald_test_on_a_fit_with_unusable_ses_warns(boundary_fit):
    invalid = boundary_fit
    with pytest.warns(hj.IntervalWarning, match="wald_test.*cannot be used"):
        wald = invalid.wald_test("p", q=0.5)
    p = 1 / 20
    assert wald.statistic == pytest.approx((p - 0.5) ** 2 / (p * (1 - p) / 20), rel=1e-9)


def test_wald_test_without_a_covariance_raises():
    def loglik(p, y):  # only a + b is identified: no covariance
        return -0.5 * jnp.sum((y - p["a"] - p["b"]) ** 2)

    with pytest.warns(hj.HessianWarning):
        res = hj.fit(loglik, {"a": 0.0, "b": 0.0}, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="not finite.*problems"):
        res.wald_test("a")


@pytest.mark.parametrize(
    "R, q, match",
    [
        (np.ones((2, 3)), None, r"`R` has 3 columns but the fit has n=4 parameters"),
        (np.ones((1, 2, 4)), None, r"`R` must be 2-D .* got shape \(1, 2, 4\)"),
        (np.zeros((0, 4)), None, r"`R` must be 2-D"),
        (np.eye(4)[:2], [1.0, 2.0, 3.0], r"`q` must be a number or have one entry per row of R \(k=2\)"),
        ("cnst", None, r"R='cnst' is not a parameter name.*Did you mean 'const'"),
        ([[0.0, 1.0, 0.0, np.nan]], None, r"`R` has non-finite entries"),
        (np.eye(4)[[1, 1]], None, r"R V R' is not positive definite.*linearly dependent"),
        ("x1", np.nan, r"`q` has non-finite entries"),
    ],
)
def test_wald_test_bad_restrictions_say_what_is_wrong(logits, R, q, match):
    with pytest.raises(ValueError, match=match):
        logits[4][0].wald_test(R, q)


def test_test_result_is_a_frozen_record():
    result = hj.TestResult(statistic=5.991464547107979, df=2, pvalue=0.05, test="Wald")
    assert str(result) == "Wald test: chi2(2) = 5.9915, p-value = 0.05"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.df = 3
    assert str(hj.TestResult(30.0, 1, 4.3e-8)) == "Test: chi2(1) = 30, p-value = 4.300e-08"
