"""Random effects by the Laplace approximation (issue 14, first part: dense H_uu, n_quadrature=1).

Independent truths: the closed-form Gaussian marginal of a random-intercept model
(compound-symmetric covariance; the Laplace approximation is exact there), the
closed-form BLUP and its sdreport variance, and, for a Poisson GLMM, an independent
Laplace written in NumPy (one scalar Newton per group) differentiated by
numdifftools' Richardson extrapolation.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

EPS = np.finfo(float).eps
G, M = 6, 4  # groups, observations per group


def lmm_joint(p, u, y, g):
    s, t = jnp.exp(p["log_sigma"]), jnp.exp(p["log_tau"])
    return (jnp.sum(-0.5 * ((y - p["mu"] - u[g]) / s) ** 2 - jnp.log(s) - 0.5 * jnp.log(2 * jnp.pi))
            + jnp.sum(-0.5 * (u / t) ** 2 - jnp.log(t) - 0.5 * jnp.log(2 * jnp.pi)))


def lmm_closed(p, Y):
    """Marginal of y_g ~ N(mu 1, s2 I + t2 11'), each group's block."""
    s2, t2 = jnp.exp(2 * p["log_sigma"]), jnp.exp(2 * p["log_tau"])
    n = Y.shape[1]
    V = s2 * jnp.eye(n) + t2 * jnp.ones((n, n))
    R = Y - p["mu"]
    quad = jnp.einsum("gi,ij,gj->g", R, jnp.linalg.inv(V), R)
    return jnp.sum(-0.5 * (quad + jnp.linalg.slogdet(V)[1] + n * jnp.log(2 * jnp.pi)))


@pytest.fixture(scope="module")
def lmm_data():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(G), M)
    y = 1.0 + rng.normal(0.0, 0.8, G)[g] + rng.normal(0.0, 0.5, G * M)
    return y, g


@pytest.fixture(scope="module")
def lmm_fits(lmm_data):
    y, g = lmm_data
    init = {"mu": 0.0, "log_sigma": 0.0, "log_tau": 0.0}
    laplace = hj.fit_laplace(lmm_joint, init, np.zeros(G), y, g)
    closed = hj.fit(lmm_closed, init, y.reshape(G, M))
    return laplace, closed


@pytest.mark.parametrize("p", [
    {"mu": 0.7, "log_sigma": -0.4, "log_tau": 0.1},
    {"mu": -2.0, "log_sigma": 0.5, "log_tau": -1.5},
    {"mu": 3.0, "log_sigma": -1.0, "log_tau": 1.0},
])
def test_laplace_loglik_of_a_linear_mixed_model_is_the_closed_form_marginal(lmm_data, p):
    y, g = lmm_data
    value = float(hj.laplace_loglik(lmm_joint, p, np.zeros(G), y, g))
    with jax.enable_x64(True):
        exact = float(lmm_closed(p, jnp.asarray(y.reshape(G, M))))
    assert value == pytest.approx(exact, rel=1e-10)


def test_fit_laplace_equals_the_fit_of_the_closed_form_marginal(lmm_fits):
    laplace, closed = lmm_fits
    assert bool(laplace.diagnostics.is_valid)
    np.testing.assert_allclose(laplace.estimate, closed.estimate, rtol=0, atol=1e-8)
    H, H_closed = np.asarray(laplace.hessian), np.asarray(closed.hessian)
    np.testing.assert_allclose(H, H_closed, rtol=0, atol=1e-8 * np.max(np.abs(H_closed)))
    np.testing.assert_allclose(laplace.se_vector, closed.se_vector, rtol=1e-8)
    assert float(laplace.loglik) == pytest.approx(float(closed.loglik), rel=1e-12)


def test_random_effects_and_their_sdreport_standard_errors(lmm_data, lmm_fits):
    y, g = lmm_data
    laplace, _ = lmm_fits
    names = laplace.names

    def blup(theta):  # closed-form conditional mode of each group's intercept
        p = dict(zip(names, theta))
        s2, t2 = jnp.exp(2 * p["log_sigma"]), jnp.exp(2 * p["log_tau"])
        ybar = jnp.asarray(y.reshape(G, M).mean(axis=1))
        return M * t2 / (s2 + M * t2) * (ybar - p["mu"])

    with jax.enable_x64(True):
        theta = jnp.asarray(laplace.estimate)
        u_hat = np.asarray(blup(theta))
        J = np.asarray(jax.jacfwd(blup)(theta))
    p = dict(zip(names, laplace.estimate))
    h_uu = M / np.exp(2 * p["log_sigma"]) + 1 / np.exp(2 * p["log_tau"])
    var = np.eye(G) / h_uu + J @ np.asarray(laplace.cov) @ J.T  # TMB sdreport
    np.testing.assert_allclose(np.asarray(laplace.random), u_hat, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(laplace.random_se), np.sqrt(np.diag(var)), rtol=1e-9)


def _poisson_numpy_marginal(theta, y, g):
    """Independent Laplace in NumPy: log mean = b + u_g, u_g ~ N(0, exp(2 lt))."""
    from scipy.special import gammaln

    b, lt = theta
    t2 = np.exp(2 * lt)
    total = 0.0
    for k in range(G):
        yk = y[g == k]
        u = 0.0
        for _ in range(100):  # scalar Newton on the group's joint
            grad = np.sum(yk - np.exp(b + u)) - u / t2
            hess = yk.size * np.exp(b + u) + 1 / t2
            u += grad / hess
        hess = yk.size * np.exp(b + u) + 1 / t2
        joint = np.sum(yk * (b + u) - np.exp(b + u) - gammaln(yk + 1)) - 0.5 * u**2 / t2 - 0.5 * np.log(2 * np.pi * t2)
        total += joint + 0.5 * np.log(2 * np.pi) - 0.5 * np.log(hess)
    return total


def poisson_joint(p, u, y, g):
    from jax.scipy.special import gammaln

    eta = p[0] + u[g]
    t = jnp.exp(p[1])
    return (jnp.sum(y * eta - jnp.exp(eta) - gammaln(y + 1))
            + jnp.sum(-0.5 * (u / t) ** 2 - jnp.log(t) - 0.5 * jnp.log(2 * jnp.pi)))


def test_exact_marginal_hessian_of_a_poisson_glmm_matches_richardson_fd():
    nd = pytest.importorskip("numdifftools")
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(G), M)
    y = rng.poisson(np.exp(0.5 + rng.normal(0.0, 0.6, G)[g])).astype(float)
    res = hj.fit_laplace(poisson_joint, np.array([0.0, -0.5]), np.zeros(G), y, g)
    assert bool(res.diagnostics.is_valid)
    theta = res.estimate
    value = _poisson_numpy_marginal(theta, y, g)
    assert float(res.loglik) == pytest.approx(value, rel=1e-12)
    out = nd.Hessian(lambda t: -_poisson_numpy_marginal(t, y, g), full_output=True)(theta)
    fd, error = np.asarray(out[0]), np.asarray(out[1])
    # numdifftools' own error estimate bounds the FD error; add rounding of the exact one.
    tol = 10 * np.max(error) + 1e3 * EPS * np.max(np.abs(fd))
    np.testing.assert_allclose(np.asarray(res.hessian), fd, rtol=0, atol=tol)


def test_laplace_argument_errors(lmm_data):
    y, g = lmm_data
    init = {"mu": 0.0, "log_sigma": 0.0, "log_tau": 0.0}
    with pytest.raises(ValueError, match="n_quadrature"):
        hj.laplace_loglik(lmm_joint, init, np.zeros(G), y, g, n_quadrature=0)
    with pytest.raises(ValueError, match="n_quadrature"):
        hj.fit_laplace(lmm_joint, init, np.zeros(G), y, g, n_quadrature=101)
    with pytest.raises(ValueError, match="random_init"):
        hj.laplace_loglik(lmm_joint, init, np.zeros(0), y, g)
    with pytest.raises(ValueError, match="bounds or fixed"):
        hj.fit_laplace(lmm_joint, init, np.zeros(G), y, g, fixed="mu")
    with pytest.raises(TypeError, match="joint_loglik"):
        hj.laplace_loglik("not a function", init, np.zeros(G), y, g)


def coupled_joint(p, u, y):  # u[0] and u[1] share a term: H_uu is not diagonal
    return -0.5 * jnp.sum((y - p - u[0] - u[1]) ** 2) - 0.5 * jnp.sum(u**2)


def test_quadrature_needs_independent_scalar_random_effects():
    with pytest.raises(ValueError, match=r"off-diagonal.*u\[0\] and u\[1\]"):
        hj.laplace_loglik(coupled_joint, 0.0, np.zeros(2), np.ones(3), n_quadrature=5)


def test_adaptive_gauss_hermite_matches_per_group_quad_and_one_node_is_laplace():
    from scipy import integrate
    from scipy.special import gammaln

    rng = np.random.default_rng(9)
    g = np.repeat(np.arange(G), 2)  # two counts per group: the Laplace error is visible
    y = rng.poisson(np.exp(0.2 + rng.normal(0.0, 1.0, G)[g])).astype(float)
    theta = np.array([0.1, 0.0])
    b, t = theta[0], np.exp(theta[1])

    def group_integral(k):
        yk = y[g == k]

        def integrand(u):
            eta = b + u
            joint = np.sum(yk * eta - np.exp(eta) - gammaln(yk + 1)) - 0.5 * (u / t) ** 2 - np.log(t) - 0.5 * np.log(2 * np.pi)
            return np.exp(joint)

        return np.log(integrate.quad(integrand, -30, 30, epsabs=0, epsrel=1e-13, limit=200)[0])

    exact = sum(group_integral(k) for k in range(G))
    aghq = float(hj.laplace_loglik(poisson_joint, theta, np.zeros(G), y, g, n_quadrature=25))
    laplace = float(hj.laplace_loglik(poisson_joint, theta, np.zeros(G), y, g))
    one_node = float(hj.laplace_loglik(poisson_joint, theta, np.zeros(G), y, g, n_quadrature=1))
    assert aghq == pytest.approx(exact, rel=1e-6, abs=1e-6)
    assert abs(laplace - exact) > 1e-4  # the Laplace error AGHQ removes is real here
    assert one_node == laplace


def slope_joint(p, u, y, x, g):  # random intercept and slope per group: (G, 2) blocks
    s, t = jnp.exp(p["log_sigma"]), jnp.exp(p["log_tau"])
    mean = p["a"] + p["b"] * x + u[g, 0] + u[g, 1] * x
    return jnp.sum(-0.5 * ((y - mean) / s) ** 2 - jnp.log(s)) + jnp.sum(-0.5 * (u / t) ** 2 - jnp.log(t))


def slope_joint_split(p, u, y, x, g):  # the same model with the effects as two arrays: dense path
    return slope_joint(p, jnp.stack(u, axis=1), y, x, g)


def test_block_diagonal_path_equals_the_dense_path():
    from hessjax.laplace import _detect_block  # the structure detection under test

    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(G), M)
    x = rng.normal(size=G * M)
    y = 1.0 + 0.5 * x + rng.normal(0, 0.7, G)[g] + rng.normal(0, 0.3, G)[g] * x + rng.normal(0, 0.4, G * M)
    p = {"a": 0.8, "b": 0.4, "log_sigma": -0.7, "log_tau": -0.5}
    blocks = float(hj.laplace_loglik(slope_joint, p, np.zeros((G, 2)), y, x, g))
    dense = float(hj.laplace_loglik(slope_joint_split, p, (np.zeros(G), np.zeros(G)), y, x, g))
    assert blocks == pytest.approx(dense, rel=1e-12)
    with jax.enable_x64(True):
        from hessjax._tree import param_spec

        spec = param_spec(jnp.zeros((G, 2)))
        assert _detect_block(slope_joint, spec, p, jnp.zeros(2 * G), (y, x, g)) == 2
        spec_split = param_spec((jnp.zeros(G), jnp.zeros(G)))
        assert _detect_block(slope_joint_split, spec_split, p, jnp.zeros(2 * G), (y, x, g)) == 0


def test_many_random_effects_need_block_structure():
    n = 1100  # q = 2200 > DENSE_LIMIT, given as two arrays: no block structure to use
    y, g = np.zeros(n), np.arange(n)
    with pytest.raises(ValueError, match="block diagonal"):
        hj.laplace_loglik(lambda p, u, y, g: -0.5 * jnp.sum((y - p - u[0][g] - u[1][g]) ** 2)
                          - 0.5 * jnp.sum(u[0] ** 2 + u[1] ** 2), 0.0, (np.zeros(n), np.zeros(n)), y, g)


def test_a_variance_component_at_zero_is_not_certified_valid():
    import warnings

    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(G), M)
    for _ in range(100):  # data whose between-group mean square is below the within one
        y = rng.normal(size=G * M)
        means = y.reshape(G, M).mean(axis=1)
        if M * np.var(means, ddof=1) < np.var(y.reshape(G, M) - means[:, None], ddof=0) * M / (M - 1):
            break
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flags are the point
        res = hj.fit_laplace(lmm_joint, {"mu": 0.0, "log_sigma": 0.0, "log_tau": 0.0}, np.zeros(G), y, g)
    assert not bool(res.diagnostics.is_valid)
    assert float(res.params["log_tau"]) < -3.0  # running off towards tau = 0


def test_fit_laplace_under_vmap_says_it_does_not_run_there(lmm_data):
    y, g = lmm_data
    Y = np.stack([y, y + 0.1])
    init = {"mu": 0.0, "log_sigma": 0.0, "log_tau": 0.0}
    with jax.enable_x64(True), pytest.raises(TypeError, match="does not run under jax.jit/vmap"):
        jax.vmap(lambda yy: hj.fit_laplace(lmm_joint, init, np.zeros(G), yy, g).loglik)(Y)


def test_inner_solve_failure_is_flagged_in_the_certificate():
    import warnings

    def no_mode(p, u, y):  # H_uu = 1 - 2 < 0: the joint has no maximum in u
        return -0.5 * jnp.sum((y - p - u) ** 2) + jnp.sum(u**2)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = hj.fit_laplace(no_mode, 0.0, np.zeros(3), np.arange(3.0))
    assert bool(res.diagnostics.inner_failed) and not bool(res.diagnostics.is_valid)
    assert str(res.diagnostics).startswith("NOT VALID: the random effects' inner solve failed")
    assert any("inner (random-effects) Newton solve" in str(w.message) for w in caught)
