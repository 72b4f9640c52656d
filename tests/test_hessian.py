"""Exact Hessians and Hessian-vector products against closed forms and sympy.

Every objective is defined at module level: hessjax caches its compiled
derivatives per function object, so the suite compiles each one once.
Tolerances are float64 eps times the magnitude of what is being compared,
times a small count of roundings stated next to each.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from jax.flatten_util import ravel_pytree

import hessjax as hj

EPS = np.finfo(np.float64).eps


# ---------------------------------------------------------------------------
# objectives (module level: one compilation each)
# ---------------------------------------------------------------------------


def seed_polynomial(p):
    x, y, z = p[0], p[1], p[2]
    return 2 * y * x**4 + 2 * y**3 + 2 * x * z**3


def seed_polynomial_hessian(x, y, z):
    return np.array(
        [
            [24 * y * x**2, 8 * x**3, 6 * z**2],
            [8 * x**3, 12 * y, 0.0],
            [6 * z**2, 0.0, 12 * x * z],
        ]
    )


def mixed_elementary(p):
    x, y, z = p[0], p[1], p[2]
    return (
        jnp.exp(x * y) * jnp.log(1 + z**2)
        + jnp.sin(x) * jnp.cos(y * z)
        + jnp.sqrt(1 + x**2 * y**2)
        + jnp.arctan(z / (1 + x**2))
    )


def rational_hyperbolic(p):
    a, b = p["a"], p["b"]
    return (a**2 + b) / (1 + a * b**2) + jnp.tanh(a - b) * jnp.log(2 + jnp.sin(a * b))


def normal_nll(p, y):
    """Negative log-likelihood of y ~ N(mu, exp(log_sigma)^2)."""
    mu, log_sigma = p["mu"], p["log_sigma"]
    z = (y - mu) * jnp.exp(-log_sigma)
    return jnp.sum(0.5 * z**2 + log_sigma + 0.5 * jnp.log(2 * jnp.pi))


def logistic_nll(beta, X, y):
    eta = X @ beta
    return jnp.sum(jnp.logaddexp(0.0, eta) - y * eta)


def poisson_nll(beta, X, counts):
    eta = X @ beta
    return jnp.sum(jnp.exp(eta) - counts * eta)


def matrix_and_scale(p, A):
    """sum(A * W^3) * s + s^3 / 3 with a (2, 3) matrix leaf W and a scalar leaf s."""
    W, s = p["W"], p["s"]
    return jnp.sum(A * W**3) * s + s**3 / 3


def exp_sine_data(p, t):
    """Large data: the batched forward-over-reverse sweep needs O(n * len(t)) temporaries."""
    return jnp.sum(jnp.exp(t * p[0]) * jnp.sin(p[1] * t) + jnp.log1p((t * p[0]) ** 2))


def plain_sum_of_squares(x):
    return jnp.sum(x**2)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def sympy_hessian_at(expr, symbols, point, digits=30):
    """Sympy Hessian of ``expr`` evaluated to ``digits`` significant digits."""
    H = sp.hessian(expr, symbols)
    subs = dict(zip(symbols, [sp.Float(float(v), digits) for v in point]))
    return np.array(
        [[float(H[i, j].evalf(digits, subs=subs)) for j in range(len(symbols))] for i in range(len(symbols))]
    )


def ravel64(tree):
    """ravel_pytree inside the float64 scope (outside it, JAX rounds to float32)."""
    with jax.enable_x64(True):
        flat, _ = ravel_pytree(tree)
        return np.asarray(flat)


def assert_close_eps(actual, expected, scale, roundings):
    """|actual - expected| <= roundings * eps * scale, elementwise."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    bound = roundings * EPS * scale
    err = np.max(np.abs(actual - expected)) if actual.size else 0.0
    assert err <= bound, f"max error {err:.3e} > {roundings} eps * {scale:.3e} = {bound:.3e}"


# ---------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------


def test_seed_polynomial_exact_hessian():
    H = hj.hessian(seed_polynomial, np.array([1.0, 2.0, 3.0]))
    expected = np.array([[48.0, 8.0, 54.0], [8.0, 24.0, 0.0], [54.0, 0.0, 36.0]])
    assert H.shape == (3, 3)
    assert H.dtype == jnp.float64
    # Small-integer polynomial: each entry is a handful of exact products and
    # sums, so anything beyond one rounding of the largest entry is a bug.
    assert_close_eps(H, expected, scale=np.max(np.abs(expected)), roundings=2)


@pytest.mark.parametrize("point", [(0.5, -1.0, 2.0), (-1.25, 0.75, -0.5), (3.0, 0.1, 1.5)])
def test_seed_polynomial_matches_closed_form_elsewhere(point):
    H = hj.hessian(seed_polynomial, np.array(point))
    expected = seed_polynomial_hessian(*point)
    # Entries are products of at most four factors plus a sum of two terms:
    # a few roundings each, relative to the largest entry.
    assert_close_eps(H, expected, scale=np.max(np.abs(expected)), roundings=8)


def test_hessian_is_symmetric_to_rounding():
    H = np.asarray(hj.hessian(mixed_elementary, np.array([0.3, -0.7, 1.1])))
    # Forward-over-reverse computes H_ij and H_ji along different paths; they
    # agree up to the rounding of the elementary-function chain (~10 ops each).
    assert_close_eps(H, H.T, scale=np.max(np.abs(H)), roundings=16)


# ---------------------------------------------------------------------------
# sympy references, evaluated to 30 digits so all the error is hessjax's
# ---------------------------------------------------------------------------

_x, _y, _z = sp.symbols("x y z", real=True)
_MIXED_EXPR = (
    sp.exp(_x * _y) * sp.log(1 + _z**2)
    + sp.sin(_x) * sp.cos(_y * _z)
    + sp.sqrt(1 + _x**2 * _y**2)
    + sp.atan(_z / (1 + _x**2))
)
_a, _b = sp.symbols("a b", real=True)
_RATIONAL_EXPR = (_a**2 + _b) / (1 + _a * _b**2) + sp.tanh(_a - _b) * sp.log(2 + sp.sin(_a * _b))


@pytest.mark.parametrize("point", [(0.3, -0.7, 1.1), (1.2, 0.4, -2.0)])
def test_mixed_elementary_matches_sympy(point):
    H = hj.hessian(mixed_elementary, np.array(point))
    expected = sympy_hessian_at(_MIXED_EXPR, [_x, _y, _z], point)
    # Each entry is a sum of ~10 products of elementary functions, each
    # within an ulp or two: 16 roundings of the largest entry.
    assert_close_eps(H, expected, scale=np.max(np.abs(expected)), roundings=16)


def test_rational_hyperbolic_matches_sympy_in_dict_order():
    point = {"b": 0.8, "a": -0.6}  # insertion order differs from ravel order (a, b)
    H = hj.hessian(rational_hyperbolic, point)
    assert np.array_equal(ravel64(point), [-0.6, 0.8])
    expected = sympy_hessian_at(_RATIONAL_EXPR, [_a, _b], [-0.6, 0.8])
    # Quotient rule twice plus tanh/log/sin chains: ~10 roundings.
    assert_close_eps(H, expected, scale=np.max(np.abs(expected)), roundings=16)


def _normal_nll_sympy_hessian(y, mu, log_sigma, digits=30):
    m, s, yy = sp.symbols("mu log_sigma y", real=True)
    per_obs = sp.Rational(1, 2) * ((yy - m) * sp.exp(-s)) ** 2 + s + sp.log(2 * sp.pi) / 2
    H = sp.hessian(per_obs, [s, m])  # ravel_pytree order: "log_sigma" < "mu"
    total = np.zeros((2, 2))
    for value in y:
        subs = {m: sp.Float(mu, digits), s: sp.Float(log_sigma, digits), yy: sp.Float(float(value), digits)}
        total += np.array([[float(H[i, j].evalf(digits, subs=subs)) for j in range(2)] for i in range(2)])
    return total


def test_normal_loglik_with_data_matches_sympy(rng):
    y = rng.normal(1.5, 2.0, size=25)
    point = {"mu": 1.2, "log_sigma": 0.4}
    H = hj.hessian(normal_nll, point, y)
    expected = _normal_nll_sympy_hessian(y, point["mu"], point["log_sigma"])
    # A sum of n per-observation terms, each a few roundings: n * 8 eps of
    # the sum of the terms' magnitudes (bounded by n * max entry here).
    scale = len(y) * np.max(np.abs(expected))
    assert_close_eps(H, expected, scale=scale, roundings=8)


def test_logistic_regression_matches_sympy(rng):
    n = 30
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = (rng.uniform(size=n) < 0.4).astype(np.float64)
    beta = np.array([-0.3, 0.8, -1.1])

    b = sp.symbols("b0:3", real=True)
    xs = sp.symbols("x0:3", real=True)
    yy = sp.Symbol("y", real=True)
    eta = sum(bi * xi for bi, xi in zip(b, xs))
    per_obs = sp.log(1 + sp.exp(eta)) - yy * eta
    Hs = sp.hessian(per_obs, b)
    expected = np.zeros((3, 3))
    for row, target in zip(X, y):
        subs = {**{bi: sp.Float(float(v), 30) for bi, v in zip(b, beta)},
                **{xi: sp.Float(float(v), 30) for xi, v in zip(xs, row)},
                yy: sp.Float(float(target), 30)}
        expected += np.array([[float(Hs[i, j].evalf(30, subs=subs)) for j in range(3)] for i in range(3)])

    H = hj.hessian(logistic_nll, beta, X, y)
    # Closed form X^T diag(p(1-p)) X as a second reference.
    prob = 1 / (1 + np.exp(-X @ beta))
    closed = X.T @ (X * (prob * (1 - prob))[:, None])
    scale = np.sum(np.abs(X).max(axis=1) ** 2 * 0.25)  # sum_i max|x_i|^2 max p(1-p)
    # Each per-observation term takes ~10 roundings; the sum adds n more.
    assert_close_eps(H, expected, scale=scale, roundings=16)
    assert_close_eps(closed, expected, scale=scale, roundings=16)


# ---------------------------------------------------------------------------
# pytree parameters
# ---------------------------------------------------------------------------


def test_pytree_params_hessian_in_ravel_pytree_order(rng):
    A = rng.normal(size=(2, 3))
    W = rng.normal(size=(2, 3))
    s = 0.7
    params = {"s": s, "W": W}  # ravel_pytree sorts dict keys: W (6 entries) then s
    H = np.asarray(hj.hessian(matrix_and_scale, params, A))

    flat = ravel64(params)
    assert H.shape == (flat.size, flat.size) == (7, 7)
    assert np.array_equal(flat[:6], W.ravel()) and flat[6] == s

    expected = np.zeros((7, 7))
    w, a = W.ravel(), A.ravel()  # C order, the order ravel_pytree uses
    expected[np.arange(6), np.arange(6)] = 6 * a * w * s
    expected[:6, 6] = expected[6, :6] = 3 * a * w**2
    expected[6, 6] = 2 * s
    # Each entry is a product of three or four numbers: a few roundings.
    assert_close_eps(H, expected, scale=np.max(np.abs(expected)), roundings=8)
    assert len(hj.param_names(params)) == H.shape[0]


def test_hvp_equals_hessian_times_v_for_pytree(rng):
    A = rng.normal(size=(2, 3))
    params = {"s": 0.7, "W": rng.normal(size=(2, 3))}
    H = np.asarray(hj.hessian(matrix_and_scale, params, A))
    for _ in range(3):
        v = {"s": float(rng.normal()), "W": rng.normal(size=(2, 3))}
        hv = hj.hvp(matrix_and_scale, params, v, A)
        assert jax.tree_util.tree_structure(hv) == jax.tree_util.tree_structure(params)
        assert np.shape(hv["W"]) == (2, 3) and np.shape(hv["s"]) == ()
        hv_flat = ravel64(hv)
        v_flat = ravel64(v)
        expected = H @ v_flat
        # Matrix-vector product of length 7: up to 7 roundings of |H| |v|.
        scale = np.max(np.abs(H) @ np.abs(v_flat))
        assert_close_eps(hv_flat, expected, scale=scale, roundings=16)


def test_hvp_on_flat_vector_matches_seed_closed_form(rng):
    point = np.array([1.0, 2.0, 3.0])
    H = seed_polynomial_hessian(*point)
    v = rng.normal(size=3)
    hv = hj.hvp(seed_polynomial, point, v)
    scale = np.max(np.abs(H) @ np.abs(v))
    assert_close_eps(hv, H @ v, scale=scale, roundings=8)


# ---------------------------------------------------------------------------
# data travel as arguments
# ---------------------------------------------------------------------------


def _normal_nll_closed_form(y, mu, log_sigma):
    """Hessian of normal_nll in ravel_pytree order (log_sigma, mu)."""
    r = y - mu
    inv_var = np.exp(-2 * log_sigma)
    d_mu_mu = len(y) * inv_var
    d_mu_ls = 2 * np.sum(r) * inv_var
    d_ls_ls = 2 * np.sum(r**2) * inv_var
    # ravel_pytree sorts keys: "log_sigma" < "mu"
    return np.array([[d_ls_ls, d_mu_ls], [d_mu_ls, d_mu_mu]])


def test_same_function_two_datasets_give_their_own_closed_forms(rng):
    point = {"mu": 0.25, "log_sigma": -0.3}
    y1 = rng.normal(0.0, 1.0, size=40)
    y2 = rng.normal(3.0, 0.5, size=40)
    H1 = np.asarray(hj.hessian(normal_nll, point, y1))
    H2 = np.asarray(hj.hessian(normal_nll, point, y2))
    for H, y in ((H1, y1), (H2, y2)):
        expected = _normal_nll_closed_form(y, point["mu"], point["log_sigma"])
        # Sums of n squared residuals: n roundings of n max residual^2 / sigma^2.
        scale = len(y) * np.max((y - point["mu"]) ** 2 + 1) * np.exp(0.6)
        assert_close_eps(H, expected, scale=scale, roundings=8)
    assert not np.allclose(H1, H2)


def test_normal_information_at_mle_is_n_over_sigma2_and_2n(rng):
    for n in (50, 80):
        y = rng.normal(2.0, 1.5, size=n)
        mu_hat = y.mean()
        sigma_hat = np.sqrt(np.mean((y - mu_hat) ** 2))
        point = {"mu": mu_hat, "log_sigma": np.log(sigma_hat)}
        H = np.asarray(hj.hessian(normal_nll, point, y))
        expected = np.array([[2.0 * n, 0.0], [0.0, n / sigma_hat**2]])
        # At the MLE the off-diagonal is a cancelling sum of n residuals: its
        # rounding is n eps times the residual scale; 2n is the largest entry.
        scale = n * max(2.0, 1 / sigma_hat**2) * np.max(np.abs(y - mu_hat) + 1)
        assert_close_eps(H, expected, scale=scale, roundings=8)


def test_poisson_regression_two_datasets_match_fisher_information(rng):
    n = 60
    beta = np.array([0.2, -0.4])
    for _ in range(2):
        X = np.column_stack([np.ones(n), rng.normal(size=n)])
        counts = rng.poisson(np.exp(X @ beta)).astype(np.float64)
        H = np.asarray(hj.hessian(poisson_nll, beta, X, counts))
        mu = np.exp(X @ beta)
        expected = X.T @ (X * mu[:, None])
        # Sum over n of x_i x_i^T mu_i: a few roundings of the sum of the
        # terms' magnitudes (the scale below is that sum).
        scale = np.sum(np.abs(X).max(axis=1) ** 2 * mu)
        assert_close_eps(H, expected, scale=scale, roundings=8)


def test_integer_count_data_are_accepted(rng):
    n = 30
    beta = np.array([0.1, 0.3])
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    counts = rng.poisson(np.exp(X @ beta))  # int64 data: kept as given
    H = np.asarray(hj.hessian(poisson_nll, beta, X, counts))
    mu = np.exp(X @ beta)
    expected = X.T @ (X * mu[:, None])
    scale = np.sum(np.abs(X).max(axis=1) ** 2 * mu)
    assert_close_eps(H, expected, scale=scale, roundings=8)


# ---------------------------------------------------------------------------
# memory guard
# ---------------------------------------------------------------------------


def test_memory_estimate_numbers():
    assert hj.hessian_memory_estimate(0) == 0
    assert hj.hessian_memory_estimate(1) == 8
    assert hj.hessian_memory_estimate(1000) == 8_000_000
    assert hj.hessian_memory_estimate(10, batch_work_bytes=100) == 900
    assert hj.hessian_memory_estimate(0, batch_work_bytes=123) == 123
    assert isinstance(hj.hessian_memory_estimate(3), int)
    assert hj.DEFAULT_HESSIAN_MAX_BYTES == 4 * 2**30
    with pytest.raises(ValueError, match="n_params"):
        hj.hessian_memory_estimate(-1)


def test_memory_error_is_a_memory_error():
    assert issubclass(hj.HessianMemoryError, MemoryError)


_PRECOMPILE_TRACES = []


def counted_square_sum(x):
    _PRECOMPILE_TRACES.append(1)
    return jnp.sum(x**2)


def test_memory_guard_before_compiling_when_matrix_alone_too_large():
    n = 5
    x = np.linspace(0.0, 1.0, n)
    before = len(_PRECOMPILE_TRACES)
    with pytest.raises(hj.HessianMemoryError, match=r"hvp") as info:
        hj.hessian(counted_square_sum, x, max_bytes=8 * n**2 - 1)
    assert "8 n^2" in str(info.value)
    assert f"max_bytes={8 * n**2 - 1:,}" in str(info.value)
    # At most the abstract validation (jax.eval_shape) traced the function:
    # the Hessian was never traced for compilation.
    assert len(_PRECOMPILE_TRACES) - before <= 1
    # A budget of exactly 8 n^2 passes the pre-compile check (the matrix fits);
    # only the measured check may still refuse it, for XLA's temporaries.
    try:
        hj.hessian(counted_square_sum, x, max_bytes=8 * n**2)
    except hj.HessianMemoryError as err:
        assert "compiled memory analysis" in str(err)
    H = hj.hessian(counted_square_sum, x, max_bytes=10 * 2**20)
    assert_close_eps(H, 2 * np.eye(n), scale=2.0, roundings=1)


def test_default_budget_refuses_a_huge_dense_hessian_without_compiling():
    # 8 n^2 just over 4 GiB: refused from the size alone.
    n = int(np.ceil(np.sqrt(hj.DEFAULT_HESSIAN_MAX_BYTES / 8))) + 1
    assert hj.hessian_memory_estimate(n) > hj.DEFAULT_HESSIAN_MAX_BYTES
    with pytest.raises(hj.HessianMemoryError, match="hvp"):
        hj.hessian(plain_sum_of_squares, np.zeros(n))
    # hvp is the way out and works at that size.
    v = np.ones(n)
    hv = hj.hvp(plain_sum_of_squares, np.zeros(n), v)
    assert np.array_equal(np.asarray(hv), 2 * v)


def test_memory_guard_measured_by_xla_for_large_data():
    n = 2
    t = np.linspace(0.0, 1.0, 20_000)
    p = np.array([0.1, 0.2])
    budget = hj.hessian_memory_estimate(n) + 8  # passes the 8 n^2 pre-check
    with pytest.raises(hj.HessianMemoryError, match="hvp") as info:
        hj.hessian(exp_sine_data, p, t, max_bytes=budget)
    assert "compiled memory analysis" in str(info.value)
    # The same call fits the default budget, and hvp works on the same data.
    H = np.asarray(hj.hessian(exp_sine_data, p, t))
    hv = np.asarray(hj.hvp(exp_sine_data, p, np.array([1.0, 0.0]), t))
    # Same sweep, possibly reassociated sums over 20 000 terms: pairwise
    # summation costs ~log2(20 000) = 15 roundings; 64 leaves a 4x margin.
    assert_close_eps(hv, H[:, 0], scale=np.max(np.abs(H)), roundings=64)
    # The refusal is remembered per data signature: still refused.
    with pytest.raises(hj.HessianMemoryError, match="hvp"):
        hj.hessian(exp_sine_data, p, t * 0.5, max_bytes=budget)


# ---------------------------------------------------------------------------
# dtype, jit and vmap
# ---------------------------------------------------------------------------


def test_eager_result_is_float64_numpy_array():
    # Eager results leave the float64 scope as NumPy arrays, so arithmetic on
    # them outside jax.enable_x64 keeps its digits (JAX arrays would truncate).
    H = hj.hessian(seed_polynomial, [1.0, 2.0, 3.0])
    assert isinstance(H, np.ndarray)
    assert H.dtype == np.float64
    hv = hj.hvp(seed_polynomial, [1.0, 2.0, 3.0], [1.0, 0.0, 0.0])
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree_util.tree_leaves(hv))


def test_hessian_under_jit():
    with jax.enable_x64(True):
        point = jnp.array([1.0, 2.0, 3.0])
        H = jax.jit(lambda p: hj.hessian(seed_polynomial, p))(point)
        assert H.dtype == jnp.float64
    expected = seed_polynomial_hessian(1.0, 2.0, 3.0)
    assert_close_eps(H, expected, scale=np.max(np.abs(expected)), roundings=2)


def test_hessian_with_data_under_jit_and_vmap_over_datasets(rng):
    point = {"mu": 0.5, "log_sigma": 0.1}
    ys = rng.normal(size=(4, 30))
    with jax.enable_x64(True):
        batched = jax.jit(jax.vmap(lambda y: hj.hessian(normal_nll, point, y)))(jnp.asarray(ys))
        assert batched.shape == (4, 2, 2) and batched.dtype == jnp.float64
    for H, y in zip(np.asarray(batched), ys):
        expected = _normal_nll_closed_form(y, point["mu"], point["log_sigma"])
        scale = len(y) * np.max((y - point["mu"]) ** 2 + 1) * np.exp(-0.2)
        assert_close_eps(H, expected, scale=scale, roundings=8)


def test_hessian_under_vmap_over_points(rng):
    points = rng.uniform(-2.0, 2.0, size=(5, 3))
    with jax.enable_x64(True):
        batched = jax.vmap(lambda p: hj.hessian(seed_polynomial, p))(jnp.asarray(points))
        assert batched.shape == (5, 3, 3)
        assert batched.dtype == jnp.float64
    for H, point in zip(np.asarray(batched), points):
        expected = seed_polynomial_hessian(*point)
        assert_close_eps(H, expected, scale=np.max(np.abs(expected)), roundings=8)


def test_hvp_under_jit_and_vmap(rng):
    point = np.array([1.0, 2.0, 3.0])
    vs = rng.normal(size=(4, 3))
    H = seed_polynomial_hessian(*point)
    with jax.enable_x64(True):
        out = jax.jit(jax.vmap(lambda v: hj.hvp(seed_polynomial, jnp.asarray(point), v)))(jnp.asarray(vs))
    for hv, v in zip(np.asarray(out), vs):
        assert_close_eps(hv, H @ v, scale=np.max(np.abs(H) @ np.abs(v)), roundings=8)
