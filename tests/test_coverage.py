"""coverage_study against the exact finite-sample coverage of the normal model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import hessjax as hj

N_OBS = 50
TRUE = {"mu": 1.0, "log_sigma": np.log(2.0)}


def loglik(p, y):
    return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]


def simulate(key, p):
    return (p["mu"] + jnp.exp(p["log_sigma"]) * jax.random.normal(key, (N_OBS,)),)


def exact_coverage(n, level=0.95):
    """Finite-sample coverage of the exact-Hessian Wald intervals of the normal MLE.

    mu: covers iff |T| <= z sqrt((n-1)/n), T ~ t_{n-1}, because the MLE of sigma
    divides by n. log_sigma: SE = 1/sqrt(2n) exactly, and
    log sigma_hat - log sigma = log(W/n)/2 with W ~ chi2_{n-1}.
    """
    z = stats.norm.ppf(0.5 + level / 2)
    mu = 2 * stats.t.cdf(z * np.sqrt((n - 1) / n), n - 1) - 1
    half = z / np.sqrt(2 * n)
    log_sigma = stats.chi2.cdf(n * np.exp(2 * half), n - 1) - stats.chi2.cdf(n * np.exp(-2 * half), n - 1)
    return {"mu": mu, "log_sigma": log_sigma}


@pytest.fixture(scope="module")
def study():
    return hj.coverage_study(simulate, loglik, TRUE, n_rep=1000, key=jax.random.key(2024))


def test_hessian_coverage_within_monte_carlo_error(study):
    truth = exact_coverage(N_OBS)
    for i, name in enumerate(study.names):
        p = truth[name]
        mc = np.sqrt(p * (1 - p) / study.n_rep)
        assert abs(study.coverage["hessian"][i] - p) < 3 * mc, (name, study.coverage["hessian"][i], p)
        np.testing.assert_allclose(study.coverage_mc_se["hessian"][i], mc, rtol=0.5)
    # SE/SD: the SD of 1000 estimates has relative MC error 1/sqrt(2 * 999).
    np.testing.assert_allclose(study.se_ratio["hessian"], 1.0, atol=4 / np.sqrt(2 * 999) + 1.0 / N_OBS)
    assert study.convergence_rate["hessian"] == 1.0
    np.testing.assert_allclose(study.true_values, [np.log(2.0), 1.0])  # names sorted: log_sigma, mu
    # Bias of the MLE of mu is zero; its MC error is sd / sqrt(R).
    mu = study.names.index("mu")
    assert abs(study.bias["hessian"][mu]) < 4 * study.sd_estimate["hessian"][mu] / np.sqrt(study.n_rep)


def test_other_methods_against_the_exact_se(study):
    exact = study.standard_errors["hessian"]
    # Central FD at the same estimate: equal to the exact SEs to FD accuracy.
    np.testing.assert_allclose(study.standard_errors["fd"], exact, rtol=1e-6)
    # BFGS reads its own path-dependent inverse: close here (2 parameters, many
    # steps) but not equal.
    ratio = study.standard_errors["bfgs"] / exact
    assert np.nanmax(np.abs(ratio - 1)) > 1e-6
    assert set(study.methods) == {"hessian", "robust", "bfgs", "fd"}
    # Robust SEs are consistent too; coverage within MC error of the hessian's.
    mc = np.sqrt(0.95 * 0.05 / study.n_rep)
    assert np.all(np.abs(study.coverage["robust"] - study.coverage["hessian"]) < 4 * mc)
    text = str(study)
    assert "Coverage study: 1000 simulated datasets" in text and "robust" in text
    d = study.to_dict()
    assert d["n_rep"] == 1000 and set(d["coverage"]) == set(study.methods)


def test_scalar_loglik_skips_robust_with_note():
    def total(p, y):
        return jnp.sum(loglik(p, y))

    s = hj.coverage_study(simulate, total, TRUE, n_rep=50, key=1, methods=("hessian", "robust"))
    assert s.methods == ("hessian",)
    assert "robust: skipped" in str(s)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_rep=1), ValueError, "n_rep"),
        (dict(methods=("sandwich",)), ValueError, "unknown methods"),
        (dict(level=1.5), ValueError, "level"),
        (dict(key=None), ValueError, "key"),
    ],
)
def test_input_errors(kwargs, error, match):
    base = dict(n_rep=10, key=0)
    base.update(kwargs)
    with pytest.raises(error, match=match):
        hj.coverage_study(simulate, loglik, TRUE, **base)


def test_simulate_errors_are_explained():
    with pytest.raises(ValueError, match="simulate"):
        hj.coverage_study(lambda key: key, loglik, TRUE, n_rep=10, key=0)
