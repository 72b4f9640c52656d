"""Regressions of issue 10, "the checker must not be fooled": one test per bug, named after it.

Truth is independent of the code under test: the exact Hessian by automatic differentiation
(``hj.hessian``), statsmodels' ``approx_hess2`` as an outside finite-difference oracle, and
matrices built from the exact one by hand (negated, inverted, given an antisymmetric part).
"""

import json

import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj
from hessjax.cli import main

EPS = np.finfo(np.float64).eps


# -- 14: the default FD step was wrong for small-magnitude parameters ------------------------
T = np.linspace(0.0, 2e4, 50)


def decay_residuals(p, t, y):
    return y - p["A"] * jnp.exp(-p["k"] * t)


def decay_sse(p, t, y):
    # Gaussian NLS objective: 0.5 * sum of squared residuals (NIST-like exponential decay).
    return 0.5 * jnp.sum(decay_residuals(p, t, y) ** 2)


@pytest.fixture(scope="module")
def decay():
    """The decay model y = A exp(-k t), A = 3, k = 2e-4 (k t spans 0..4), at its LS optimum."""
    y = 3.0 * np.exp(-2e-4 * T) + np.random.default_rng(0).normal(0.0, 0.01, T.size)
    fit = hj.least_squares(decay_residuals, {"A": 3.0, "k": 2e-4}, T, y)
    assert bool(fit.diagnostics.is_valid)
    return fit.params, y, np.asarray(hj.hessian(decay_sse, fit.params, T, y))


@pytest.mark.parametrize("scheme", ["forward", "central", "richardson"])
def test_fd_default_step_is_right_for_a_small_rate_constant(decay, scheme):
    x, y, exact = decay
    fd = hj.fd_hessian(decay_sse, x, T, y, scheme=scheme)  # no HessianWarning (warnings are errors)
    # The error estimate is an order-of-magnitude estimate (test_approximations brackets the
    # true error within a factor of 100); here it must bound the true error within 10.
    assert np.all(np.abs(fd.estimate - exact) <= 10 * fd.error_estimate)
    # ... and it is small: every element to better than 1e-3 of its own scale sqrt(H_ii H_jj).
    scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    assert np.all(fd.error_estimate <= 1e-3 * scale)
    assert np.all(np.diag(fd.estimate) > 0) and np.all(np.diag(np.linalg.inv(fd.estimate)) > 0)
    # The step of k is relative to k (c |k|), not c max(|k|, 1) = 60% of k for central.
    assert fd.step[1] < 1e-2 * x["k"]
    np.testing.assert_array_equal(fd.step, hj.default_step(x, scheme, f=decay_sse, args=(T, y)))


@pytest.mark.parametrize("scheme", ["central", "richardson"])
def test_fd_default_step_beats_statsmodels_approx_hess2_on_the_decay_model(decay, scheme):
    numdiff = pytest.importorskip("statsmodels.tools.numdiff")
    x, y, exact = decay
    flat = np.array([float(x["A"]), float(x["k"])])
    sse = lambda p: 0.5 * np.sum((y - p[0] * np.exp(-p[1] * T)) ** 2)  # noqa: E731
    relative = lambda h: np.max(np.abs(h - exact) / np.abs(exact))  # noqa: E731
    oracle = relative(numdiff.approx_hess2(flat, sse))  # about 1e-4
    assert relative(hj.fd_hessian(decay_sse, x, T, y, scheme=scheme).estimate) < oracle


def test_fd_explicit_step_is_honored_exactly_and_a_bad_one_warns(decay):
    x, y, exact = decay
    # The pre-issue default for Richardson, c max(|k|, 1) = 12 k: off by 1e35, silently. Now
    # honored exactly as given, and fd_hessian names the parameter it cannot determine.
    old_rule = hj.default_step(np.array([float(x["A"]), float(x["k"])]), "richardson")
    with pytest.warns(hj.HessianWarning, match=r"did not determine the curvature of k\b"):
        bad = hj.fd_hessian(decay_sse, x, T, y, scheme="richardson", step=old_rule)
    np.testing.assert_array_equal(bad.step, old_rule)
    assert bad.error_estimate[1, 1] >= abs(bad.estimate[1, 1])
    # A good explicit step is used exactly and does not warn.
    step = np.array([1e-4, 1e-8])
    good = hj.fd_hessian(decay_sse, x, T, y, scheme="central", step=step)
    np.testing.assert_array_equal(good.step, step)
    assert np.all(np.abs(good.estimate - exact) <= 10 * good.error_estimate)


# -- 15: the Hessian of +loglik, or a covariance passed as a Hessian, was only "disagrees" ---
def normal_negloglik(p, y):
    mu, log_sigma = p[0], p[1]
    return jnp.sum(0.5 * ((y - mu) / jnp.exp(log_sigma)) ** 2 + log_sigma)


@pytest.fixture(scope="module")
def normal_model():
    y = np.random.default_rng(1).normal(2.0, 1.5, 40)
    x = np.array([y.mean(), np.log(y.std())])  # the closed-form MLE
    return x, y, np.asarray(hj.hessian(normal_negloglik, x, y))


def test_check_hessian_names_the_hessian_of_the_loglik_and_says_negate_it(normal_model):
    x, y, exact = normal_model
    rep = hj.check_hessian(normal_negloglik, x, -exact, y)
    assert not rep.ok
    assert "Hessian of the log-likelihood" in rep.verdict and "NEGATIVE log-likelihood" in rep.verdict
    assert "negate it" in rep.verdict
    # The inverse of the log-likelihood's Hessian, passed as a covariance, too.
    rep = hj.check_hessian(normal_negloglik, x, -np.linalg.inv(exact), y, inverse=True)
    assert not rep.ok and "inverse of the log-likelihood's Hessian" in rep.verdict and "negate it" in rep.verdict


def test_check_hessian_names_a_covariance_passed_without_inverse_true(normal_model):
    x, y, exact = normal_model
    rep = hj.check_hessian(normal_negloglik, x, np.linalg.inv(exact), y)
    assert not rep.ok and "inverse of the exact Hessian" in rep.verdict and "inverse=True" in rep.verdict
    # The reverse: the Hessian itself passed with inverse=True.
    rep = hj.check_hessian(normal_negloglik, x, exact, y, inverse=True)
    assert not rep.ok and "the exact Hessian itself, not its inverse" in rep.verdict
    assert "inverse=False" in rep.verdict
    # Both at once: the inverse of the log-likelihood's Hessian passed as a Hessian.
    rep = hj.check_hessian(normal_negloglik, x, -np.linalg.inv(exact), y)
    assert not rep.ok and "negate it and pass it as an inverse" in rep.verdict


def test_check_hessian_does_not_misread_a_plainly_wrong_matrix(normal_model):
    x, y, exact = normal_model
    rep = hj.check_hessian(normal_negloglik, x, 2.0 * exact, y)  # SEs off by 1/sqrt(2)
    assert not rep.ok and "standard errors differ" in rep.verdict
    assert "times -1" not in rep.verdict and "inverse" not in rep.verdict


# -- 16: compare_hessians "ok" after comparing nothing; a silently symmetrized user matrix ----
def distance_to_one(p):
    return jnp.sum((p - 1.0) ** 2)


def test_compare_hessians_unknown_include_name_is_an_error_with_did_you_mean():
    with pytest.raises(ValueError, match=r"unknown candidate 'centrl'\. Did you mean 'central'\?") as err:
        hj.compare_hessians(distance_to_one, np.ones(2), include=("centrl",))
    assert all(name in str(err.value) for name in ("'forward'", "'richardson'", "'statsmodels'"))
    with pytest.raises(ValueError, match="unknown candidate 'lbfgs'"):
        hj.compare_hessians(distance_to_one, np.ones(2), include=("central", "lbfgs"))


def test_compare_hessians_bfgs_without_bfgs_start_is_an_error():
    with pytest.raises(ValueError, match="pass its starting point, e.g. bfgs_start=x0"):
        hj.compare_hessians(distance_to_one, np.ones(2), include=("central", "bfgs"))


def test_compare_hessians_comparing_nothing_is_not_ok():
    cmp = hj.compare_hessians(distance_to_one, np.ones(2), include=())
    assert cmp.ok is False and cmp.candidates == ()
    assert "NOTHING WAS COMPARED" in str(cmp) and "NOTHING WAS COMPARED" in cmp._repr_html_()
    d = cmp.to_dict()
    assert d["ok"] is False and d["n_compared"] == 0


def _antisymmetric(n, size, exact):
    a = np.triu(np.random.default_rng(2).normal(size=(n, n)), k=1)
    a = a - a.T
    return size * np.linalg.norm(exact) / np.linalg.norm(a) * a


def test_check_hessian_reports_an_asymmetric_matrix_whose_symmetric_part_agrees(normal_model):
    x, y, exact = normal_model
    wrong = exact + _antisymmetric(2, 0.3, exact)  # symmetric part: exactly the exact Hessian
    rep = hj.check_hessian(normal_negloglik, x, wrong, y)
    assert not rep.ok and rep.verdict.startswith("not symmetric")
    np.testing.assert_allclose(rep.asymmetry, np.linalg.norm(wrong - wrong.T) / np.linalg.norm(wrong), rtol=1e-12)
    np.testing.assert_allclose(rep.se_ratio, 1.0, rtol=1e3 * EPS)  # what symmetrizing used to hide
    cmp = hj.compare_hessians(normal_negloglik, x, y, candidates={"mine": wrong}, include=())
    assert not cmp.ok and cmp.to_dict()["candidates"]["mine"]["asymmetry"] == rep.asymmetry
    # Rounding-level asymmetry (10 eps relative, below 100 eps n) is not a failure.
    rounding = hj.check_hessian(normal_negloglik, x, exact + _antisymmetric(2, 10 * EPS, exact), y)
    assert rounding.ok and rounding.verdict.startswith("agrees")


# -- the same through `hessjax check --hessian / --inverse` -----------------------------------
MODEL = """\
import jax.numpy as jnp
import numpy as np

def loglik(p, y):
    return -0.5 * ((y - p[0]) / jnp.exp(p[1])) ** 2 - p[1]

init = np.array([0.0, 0.0])
data = (np.random.default_rng(1).normal(2.0, 1.5, 40),)
"""


def test_cli_check_names_the_sign_flip_and_the_asymmetry(tmp_path, capsys):
    model = tmp_path / "model.py"
    model.write_text(MODEL)
    y = np.random.default_rng(1).normal(2.0, 1.5, 40)
    x = np.array([y.mean(), np.log(y.std())])
    exact = np.asarray(hj.hessian(normal_negloglik, x, y))
    np.save(tmp_path / "at.npy", x)
    at = ["--at", str(tmp_path / "at.npy")]
    np.save(tmp_path / "H.npy", exact)
    assert main(["check", str(model), *at, "--hessian", str(tmp_path / "H.npy")]) == 0
    capsys.readouterr()
    np.save(tmp_path / "neg.npy", -exact)
    assert main(["check", str(model), *at, "--hessian", str(tmp_path / "neg.npy")]) == 1
    out = capsys.readouterr().out
    assert "NEGATIVE log-likelihood" in out and "negate it" in out and "RESULT: NOT VALID" in out
    np.save(tmp_path / "cov.npy", np.linalg.inv(exact))
    assert main(["check", str(model), *at, "--hessian", str(tmp_path / "cov.npy")]) == 1
    assert "hessjax check --inverse" in capsys.readouterr().out
    np.save(tmp_path / "asym.npy", exact + _antisymmetric(2, 0.3, exact))
    assert main(["check", str(model), *at, "--hessian", str(tmp_path / "asym.npy"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["comparison"]["verdict"].startswith("not symmetric")
