"""compare_hessians / check_hessian / check_scipy_result: the checker's verdicts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.scipy.special import gammaln

import hessjax as hj


def distance_to_one(p):
    return jnp.sum((p - 1.0) ** 2)


def test_bfgs_inverse_on_quadratic_is_flagged_with_its_cause():
    cmp = hj.compare_hessians(distance_to_one, np.ones(2), include=("central", "bfgs"), bfgs_start=np.zeros(2))
    bfgs = cmp["hessjax bfgs inv_hessian"]
    # BFGS's matrix is [[.75, -.25], [-.25, .75]]: SE ratio sqrt(.75 / .5).
    np.testing.assert_allclose(bfgs.se_ratio, np.sqrt(1.5), rtol=1e-12)
    assert not bfgs.ok and not cmp.ok
    assert "never explored" in bfgs.verdict and "x[0] - 0.707 x[1]" in bfgs.verdict
    assert cmp["fd central"].ok
    assert "hessjax bfgs inv_hessian" in str(cmp)


def test_check_hessian_accepts_inverse_and_reports_metrics():
    inv = np.array([[0.75, -0.25], [-0.25, 0.75]])
    rep = hj.check_hessian(distance_to_one, np.ones(2), inv, inverse=True)
    assert rep.kind == "inverse" and not rep.ok
    # Exact inverse 0.5 I: element error 0.25 / 0.5, KL of N(0, .5 I) from N(0, inv).
    assert rep.max_rel_element_error == pytest.approx(0.5, rel=1e-12)
    cov_e, cov_c = 0.5 * np.eye(2), inv
    kl = 0.5 * (np.trace(np.linalg.solve(cov_c, cov_e)) - 2 + np.linalg.slogdet(cov_c)[1] - np.linalg.slogdet(cov_e)[1])
    assert rep.kl_divergence == pytest.approx(kl, rel=1e-12)
    good = hj.check_hessian(distance_to_one, np.ones(2), 2 * np.eye(2))
    assert good.ok and "agrees" in good.verdict
    d = rep.to_dict()
    assert d["ok"] is False and len(d["se_ratio"]) == 2


def elliptic(p):
    return 2.0 * p[0] ** 2 + 0.5 * p[1] ** 2


def test_principal_angle_of_a_rotated_candidate():
    # Exact Hessian diag(4, 1); the candidate is it rotated by 30 degrees.
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rot = np.array([[c, -s], [s, c]])
    rep = hj.check_hessian(elliptic, np.zeros(2), rot @ np.diag([4.0, 1.0]) @ rot.T)
    assert rep.max_principal_angle == pytest.approx(30.0, abs=1e-9)
    np.testing.assert_allclose(rep.eigenvalue_ratios, [1.0, 1.0], rtol=1e-12)


def nb2_negloglik(p, X, y):
    beta, log_alpha = p[:-1], p[-1]
    mu = jnp.exp(X @ beta)
    r = jnp.exp(-log_alpha)
    return -jnp.sum(
        gammaln(y + r) - gammaln(r) - gammaln(y + 1.0) + r * jnp.log(r / (r + mu)) + y * jnp.log(mu / (r + mu))
    )


@pytest.fixture(scope="module")
def nb2_scipy_bfgs():
    rng = np.random.default_rng(7)
    n, k = 2000, 8
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1)) * 0.5])
    beta = rng.normal(size=k) * 0.3
    mu = np.exp(X @ beta)
    alpha = 0.7
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu)).astype(float)
    with jax.enable_x64(True):
        vg = jax.jit(jax.value_and_grad(nb2_negloglik))
        fun = lambda p: tuple(np.asarray(v) for v in vg(jnp.asarray(p), jnp.asarray(X), jnp.asarray(y)))  # noqa: E731
        res = scipy.optimize.minimize(fun, np.zeros(k + 1), jac=True, method="BFGS")
    return X, y, res


def test_negative_binomial_scipy_bfgs_hess_inv_report(nb2_scipy_bfgs):
    X, y, res = nb2_scipy_bfgs
    assert res.x.size == 9
    cmp = hj.check_scipy_result(nb2_negloglik, res, X, y)
    # The exact SEs in the report are those of the exact Hessian at res.x.
    with jax.enable_x64(True):
        H = np.asarray(jax.hessian(nb2_negloglik)(jnp.asarray(res.x), jnp.asarray(X), jnp.asarray(y)))
    np.testing.assert_allclose(cmp.exact_se, np.sqrt(np.diag(np.linalg.inv(H))), rtol=1e-10)
    hess_inv = cmp["scipy hess_inv"]
    expected_ratio = np.sqrt(np.diag(res.hess_inv)) / np.sqrt(np.diag(np.linalg.inv(H)))
    np.testing.assert_allclose(hess_inv.se_ratio, expected_ratio, rtol=1e-12)
    # hess_inv is off by several percent for some parameter; central FD is not.
    assert np.max(np.abs(hess_inv.se_ratio - 1)) > 0.02 and not hess_inv.ok
    assert np.max(np.abs(cmp["fd central"].se_ratio - 1)) < 1e-4 and cmp["fd central"].ok
    report = str(cmp)
    assert "scipy hess_inv" in report and "fd central" in report and "exact SE" in report


def two_scales(p, y1, y2):
    a, b = p[0], p[1]
    return jnp.sum(0.5 * ((y1 - a) / 1e-4) ** 2) + jnp.sum(0.5 * ((y2 - b) / 1e3) ** 2)


def test_fixed_step_fd_report_names_the_parameter_and_the_cause():
    rng = np.random.default_rng(4)  # see test_approximations: a negative variance for b
    y1, y2 = rng.normal(1e-4, 1e-4, 100), rng.normal(1e4, 1e3, 100)
    x = np.array([y1.mean(), y2.mean()])
    with pytest.warns(hj.HessianWarning, match=r"x\[1\]"):  # the step cannot determine b's curvature
        fixed = hj.fd_hessian(two_scales, x, y1, y2, step=1e-5)
    cmp = hj.compare_hessians(two_scales, x, y1, y2, candidates={"hand-written FD": fixed}, include=())
    rep = cmp["hand-written FD"]
    assert not rep.ok and np.isnan(rep.se_ratio[1])
    assert "negative variance for x[1]" in rep.verdict
    assert "too small for x[1]" in rep.verdict and "rounding" in rep.verdict
    assert "neg var" in str(cmp)


def test_candidate_forms_and_errors():
    x = np.ones(2)
    res = scipy.optimize.minimize(lambda p: float(np.sum((p - 1) ** 2)), np.zeros(2), method="L-BFGS-B")
    cmp = hj.compare_hessians(
        distance_to_one, x, include=(),
        candidates={"lbfgs": res.hess_inv, "cov": hj.Candidate(0.5 * np.eye(2), kind="covariance")},
    )
    assert cmp["lbfgs"].kind == "inverse" and cmp["cov"].ok
    with pytest.raises(ValueError, match="shape"):
        hj.check_hessian(distance_to_one, x, np.eye(3))
    with pytest.raises(ValueError, match="kind"):
        hj.compare_hessians(distance_to_one, x, include=(), candidates={"bad": hj.Candidate(np.eye(2), kind="nope")})
    with pytest.raises(TypeError, match="OptimizeResult"):
        hj.check_scipy_result(distance_to_one, object())


def test_saddle_point_is_named_as_the_cause():
    def saddle(p):
        return p[0] ** 2 - p[1] ** 2

    rep = hj.check_hessian(saddle, np.zeros(2), np.array([[2.0, 0.0], [0.0, -2.0]]))
    assert "not a strict minimum" in rep.verdict and not rep.ok


def test_a_non_finite_candidate_is_called_not_finite_and_a_builtin_name_is_not_overwritten():
    f = lambda p: jnp.sum((p - 1.0) ** 2)  # noqa: E731
    cmp = hj.compare_hessians(f, np.ones(3), candidates={"nan": np.full((3, 3), np.nan)}, include=())
    rep = cmp["nan"]
    assert not rep.ok and rep.verdict.startswith("not finite") and "negative variance" not in rep.verdict
    assert np.isnan(rep.max_principal_angle)
    with pytest.raises(ValueError, match="name of a built-in candidate"):
        hj.compare_hessians(f, np.ones(3), candidates={"fd central": 2.0 * np.eye(3)}, include=("central",))
