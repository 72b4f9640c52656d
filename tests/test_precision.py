"""Scoped float64: every entry point computes in float64, never flips the global flag,
and promotes lower-precision inputs with exactly one PrecisionWarning per call.

x64 is off in the test session (see conftest.py); nothing here turns it on
globally. Objectives are module-level so each compiles once.
"""

import warnings

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import hessjax as hj

EPS = np.finfo(np.float64).eps
# A number float64 holds exactly and float32 cannot: float32 rounds it to 1.0.
ONE_PLUS_TINY = 1.0 + 2.0**-30
assert np.float32(ONE_PLUS_TINY) == 1.0


def shifted_quadratic(x, c):
    return jnp.sum((x - c) ** 2)


def quartic_over_12(x):
    # Hessian x^2.
    return jnp.sum(x**4) / 12.0


def scaled_square(x, c):
    # Hessian c.
    return 0.5 * jnp.sum(c * x**2)


def third_constant_inside(x):
    # The constant is created inside the traced function: it must be float64 too.
    return 0.5 * jnp.sum((x * jnp.asarray(1.0) / 3.0) ** 2)


def poisson_counts(beta, counts):
    return jnp.sum(jnp.exp(beta) - counts * beta)


def _precision_warnings(record):
    return [w for w in record if issubclass(w.category, hj.PrecisionWarning)]


def _call_recording(fn):
    """Run ``fn`` and return (result, list of PrecisionWarnings issued)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = fn()
    return result, _precision_warnings(record)


def _leaves_float64(tree):
    return all(np.asarray(leaf).dtype == np.float64 for leaf in jax.tree_util.tree_leaves(tree))


# ---------------------------------------------------------------------------
# the global flag
# ---------------------------------------------------------------------------

PUBLIC_CALLS = {
    "hessian": lambda x, c: hj.hessian(shifted_quadratic, x, c),
    "hvp": lambda x, c: hj.hvp(shifted_quadratic, x, np.ones_like(x), c),
    "param_names": lambda x, c: hj.param_names({"x": x}),
    "hessian_memory_estimate": lambda x, c: hj.hessian_memory_estimate(x.size),
    "minimize_bfgs": lambda x, c: hj.minimize(shifted_quadratic, x, c, method="bfgs"),
    "minimize_newton": lambda x, c: hj.minimize(shifted_quadratic, x, c, method="newton"),
}


@pytest.mark.parametrize("name", list(PUBLIC_CALLS))
def test_global_x64_flag_unchanged_by_every_public_call(name):
    assert jax.config.jax_enable_x64 is False
    PUBLIC_CALLS[name](np.zeros(2), np.array([1.0, -2.0]))
    assert jax.config.jax_enable_x64 is False
    # And the default dtype outside is float32 again.
    assert jnp.asarray(1.0).dtype == jnp.float32


@pytest.mark.parametrize("name", list(PUBLIC_CALLS))
def test_nested_inside_user_x64_scope_keeps_it(name):
    with jax.enable_x64(True):
        PUBLIC_CALLS[name](np.zeros(2), np.array([1.0, -2.0]))
        assert jax.config.jax_enable_x64 is True
    assert jax.config.jax_enable_x64 is False


def test_flag_restored_when_the_call_raises():
    with pytest.raises(ValueError):
        hj.hessian(shifted_quadratic, np.zeros(3), np.zeros(4))  # shape mismatch
    assert jax.config.jax_enable_x64 is False
    with pytest.raises(hj.HessianMemoryError):
        hj.hessian(shifted_quadratic, np.zeros(3), np.zeros(3), max_bytes=1)
    assert jax.config.jax_enable_x64 is False
    with pytest.raises(ValueError):
        hj.minimize(shifted_quadratic, np.zeros(3), np.zeros(3), method="nope")
    assert jax.config.jax_enable_x64 is False
    assert jnp.asarray(1.0).dtype == jnp.float32


def test_computes_float64_inside_a_user_x64_false_scope():
    with jax.enable_x64(False):
        H = hj.hessian(scaled_square, np.array([1.0]), np.array([ONE_PLUS_TINY]))
    assert H.dtype == jnp.float64
    assert float(H[0, 0]) == ONE_PLUS_TINY


# ---------------------------------------------------------------------------
# promotion warnings: exactly one per call
# ---------------------------------------------------------------------------

ENTRY_POINTS = {
    "hessian": lambda x, c: hj.hessian(shifted_quadratic, x, c),
    "hvp": lambda x, c: hj.hvp(shifted_quadratic, x, np.ones(np.shape(x)), c),
    "minimize_bfgs": lambda x, c: hj.minimize(shifted_quadratic, x, c, method="bfgs"),
    "minimize_newton": lambda x, c: hj.minimize(shifted_quadratic, x, c, method="newton"),
}


def _result_leaves_float64(name, result):
    if name.startswith("minimize"):
        fields = [result.x, result.fun, result.grad]
        if result.inv_hessian is not None:
            fields.append(result.inv_hessian)
        return _leaves_float64(fields)
    return _leaves_float64(result)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_float32_params_one_warning_float64_result(name):
    x = np.array([0.5, 0.25], dtype=np.float32)
    c = np.array([1.0, -2.0])
    result, issued = _call_recording(lambda: ENTRY_POINTS[name](x, c))
    if name.startswith("minimize"):
        # Float32 *starting values* lose nothing worth a warning (issue 11): the
        # optimizer moves away from them in float64 anyway.
        assert issued == [], [str(w.message) for w in issued]
    else:
        assert len(issued) == 1, [str(w.message) for w in issued]
        assert "float64" in str(issued[0].message)
    assert _result_leaves_float64(name, result)
    assert jax.config.jax_enable_x64 is False


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_float32_data_one_warning_float64_result(name):
    x = np.array([0.5, 0.25])
    c = np.array([1.0, -2.0], dtype=np.float32)
    result, issued = _call_recording(lambda: ENTRY_POINTS[name](x, c))
    assert len(issued) == 1, [str(w.message) for w in issued]
    assert _result_leaves_float64(name, result)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_float32_params_and_data_still_one_warning(name):
    """The contract is ONE PrecisionWarning per call, however many inputs were promoted."""
    x = np.array([0.5, 0.25], dtype=np.float32)
    c = np.array([1.0, -2.0], dtype=np.float32)
    result, issued = _call_recording(lambda: ENTRY_POINTS[name](x, c))
    assert len(issued) == 1, [str(w.message) for w in issued]
    assert _result_leaves_float64(name, result)


def test_hvp_float32_direction_one_warning():
    x = np.array([0.5, 0.25])
    v = np.array([1.0, 0.0], dtype=np.float32)
    result, issued = _call_recording(lambda: hj.hvp(shifted_quadratic, x, v, np.zeros(2)))
    assert len(issued) == 1
    assert result.dtype == jnp.float64
    assert np.array_equal(np.asarray(result), [2.0, 0.0])


def test_hvp_float32_params_and_direction_still_one_warning():
    x = np.array([0.5, 0.25], dtype=np.float32)
    v = np.array([1.0, 0.0], dtype=np.float32)
    result, issued = _call_recording(lambda: hj.hvp(shifted_quadratic, x, v, np.zeros(2)))
    assert len(issued) == 1, [str(w.message) for w in issued]
    assert result.dtype == jnp.float64


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32])
def test_low_precision_param_dtypes_warn_once(dtype):
    x = np.array([0.5, 0.25], dtype=dtype)
    H, issued = _call_recording(lambda: hj.hessian(shifted_quadratic, x, np.zeros(2)))
    assert len(issued) == 1
    assert H.dtype == jnp.float64


def test_jnp_arrays_built_outside_x64_are_float32_and_warn():
    x = jnp.array([0.5, 0.25])  # float32: x64 is off here
    assert x.dtype == jnp.float32
    with pytest.warns(hj.PrecisionWarning):
        H = hj.hessian(shifted_quadratic, x, np.zeros(2))
    assert H.dtype == jnp.float64


def test_float32_pytree_leaf_warns_once():
    params = {"a": np.float32(0.5), "b": np.array([1.0, 2.0], dtype=np.float32), "c": 0.25}
    H, issued = _call_recording(lambda: hj.hessian(_tree_square, params))
    assert len(issued) == 1
    assert H.dtype == jnp.float64


def _tree_square(p):
    return sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(p))


def test_precision_warning_points_at_the_callers_line():
    x = np.array([0.5], dtype=np.float32)
    _, issued = _call_recording(lambda: hj.hessian(shifted_quadratic, x, np.zeros(1)))
    assert len(issued) == 1
    assert issued[0].filename == __file__, (
        f"PrecisionWarning attributed to {issued[0].filename}:{issued[0].lineno}, "
        "not to the line that called hessjax"
    )


# ---------------------------------------------------------------------------
# float64 inputs: no warning
# ---------------------------------------------------------------------------

FLOAT64_INPUTS = {
    "numpy_float64": lambda: (np.array([0.5, 0.25]), np.array([1.0, -2.0])),
    "python_floats": lambda: ([0.5, 0.25], [1.0, -2.0]),
    "numpy_scalar_float64": lambda: ((np.float64(0.5), np.float64(0.25)), (np.float64(1.0), np.float64(-2.0))),
}


def _jnp_float64_inputs():
    with jax.enable_x64(True):
        return jnp.array([0.5, 0.25]), jnp.array([1.0, -2.0])


FLOAT64_INPUTS["jnp_built_inside_x64"] = _jnp_float64_inputs


def list_quadratic(x, c):
    return sum((xi - ci) ** 2 for xi, ci in zip(x, c))


@pytest.mark.parametrize("inputs", list(FLOAT64_INPUTS))
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_float64_inputs_issue_no_warning(name, inputs):
    x, c = FLOAT64_INPUTS[inputs]()
    if isinstance(x, (list, tuple)):
        calls = {
            "hessian": lambda: hj.hessian(list_quadratic, x, c),
            "hvp": lambda: hj.hvp(list_quadratic, x, x, c),
            "minimize_bfgs": lambda: hj.minimize(list_quadratic, x, c, method="bfgs"),
            "minimize_newton": lambda: hj.minimize(list_quadratic, x, c, method="newton"),
        }
        call = calls[name]
    else:
        call = lambda: ENTRY_POINTS[name](x, c)  # noqa: E731
    result, issued = _call_recording(call)
    assert issued == []
    assert _result_leaves_float64(name, result)


def test_integer_data_kept_without_warning():
    counts = np.array([0, 3, 1, 2])  # int64 counts are data, not parameters
    H, issued = _call_recording(lambda: hj.hessian(poisson_counts, np.array(0.2), counts))
    assert issued == []
    # sum_i exp(beta) = 4 exp(0.2); one rounding of exp and one of the sum.
    expected = 4 * np.exp(0.2)
    assert abs(float(H[0, 0]) - expected) <= 4 * EPS * expected


# ---------------------------------------------------------------------------
# the arithmetic really is float64
# ---------------------------------------------------------------------------


def test_parameter_digits_beyond_float32_survive():
    # H = x^2 = 1 + 2^-29 + 2^-60; float32 arithmetic would give exactly 1.
    H = float(hj.hessian(quartic_over_12, np.array([ONE_PLUS_TINY]))[0, 0])
    expected = ONE_PLUS_TINY**2
    assert H != 1.0
    # x^4 / 12 differentiated twice: a handful of roundings of a number near 1.
    assert abs(H - expected) <= 8 * EPS * expected


def test_data_digits_beyond_float32_survive():
    H = hj.hessian(scaled_square, np.array([3.0]), np.array([ONE_PLUS_TINY]))
    assert float(H[0, 0]) == ONE_PLUS_TINY  # exact: the Hessian is the data value itself


def test_constants_inside_the_function_are_float64():
    H = float(hj.hessian(third_constant_inside, np.array([2.0]))[0, 0])
    # 1/9 to a few roundings; a float32 constant would be off by ~1e-8 relative.
    assert abs(H - 1.0 / 9.0) <= 4 * EPS / 9.0


def test_hvp_is_float64():
    out = hj.hvp(scaled_square, np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.array([ONE_PLUS_TINY, 1.0]))
    assert out.dtype == jnp.float64
    assert float(out[0]) == ONE_PLUS_TINY


def test_newton_minimizer_lands_on_a_float64_only_point():
    c = np.array([ONE_PLUS_TINY, -ONE_PLUS_TINY])
    res = hj.minimize(shifted_quadratic, np.zeros(2), c, method="newton")
    assert bool(res.success)
    assert res.x.dtype == jnp.float64 and res.fun.dtype == jnp.float64
    # A quadratic: one exact Newton step, so x* = c to a couple of roundings
    # (float32 would be off by 2^-30 ~ 1e-9).
    assert np.max(np.abs(np.asarray(res.x) - c)) <= 4 * EPS * np.max(np.abs(c))


def test_bfgs_minimizer_resolves_float64_only_digits():
    c = np.array([ONE_PLUS_TINY, -ONE_PLUS_TINY])
    gtol = 1e-13
    res = hj.minimize(shifted_quadratic, np.zeros(2), c, method="bfgs", gtol=gtol)
    assert bool(res.success)
    assert res.x.dtype == jnp.float64 and res.inv_hessian.dtype == jnp.float64
    # The stopping test max|g_i| max(|x_i|,1) / max(|f|,1) <= gtol with g = 2(x - c),
    # |x| ~ 1 and f <= 1 bounds |x - c| by gtol / 2, far below the 2^-30 float32 loses.
    assert np.max(np.abs(np.asarray(res.x) - c)) <= gtol / 2
    assert gtol / 2 < 2.0**-30
