"""Bad input raises TypeError/ValueError before anything compiles, naming the argument.

"Before compiling" is checked with a trace counter inside each objective: its
body runs only when JAX traces it. Errors found in the arguments themselves
(dtypes, options, method) must leave it at zero; errors found by the abstract
validation (``jax.eval_shape`` of the user's function) may trace it once and
no more, so the jitted derivatives were never traced.
"""

import re

import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

TRACES = []


def counted_quadratic(p, y):
    TRACES.append("counted_quadratic")
    return jnp.sum((p - y) ** 2)


def counted_dict_objective(p, y):
    TRACES.append("counted_dict_objective")
    return jnp.sum((y - p["beta"]) ** 2) + p["log_sigma"] ** 2


def returns_vector(p):
    TRACES.append("returns_vector")
    return p**2


def returns_integer(p):
    TRACES.append("returns_integer")
    return jnp.sum(p > 0)


def returns_tuple(p):
    TRACES.append("returns_tuple")
    return jnp.sum(p**2), p


def returns_complex(p):
    TRACES.append("returns_complex")
    return jnp.sum(p**2) + 1j


def returns_bool(p):
    TRACES.append("returns_bool")
    return jnp.all(p > 0)


def returns_matrix_product(p, X):
    TRACES.append("returns_matrix_product")
    return jnp.sum(X @ p)


def _traces():
    return len(TRACES)


class _NoCompile:
    """Context: assert at most ``allowed`` traces of the user function happened inside."""

    def __init__(self, allowed):
        self.allowed = allowed

    def __enter__(self):
        self.before = _traces()
        return self

    def __exit__(self, *exc):
        traced = _traces() - self.before
        assert traced <= self.allowed, f"user function traced {traced} times; allowed {self.allowed}"
        return False


def no_traces():
    return _NoCompile(0)


def only_eval_shape():
    return _NoCompile(1)


X3 = np.array([1.0, 2.0, 3.0])

ENTRY_POINTS = {
    "hessian": lambda f, p, *a: hj.hessian(f, p, *a),
    "hvp": lambda f, p, *a: hj.hvp(f, p, p, *a),
    "minimize_bfgs": lambda f, p, *a: hj.minimize(f, p, *a, method="bfgs"),
    "minimize_newton": lambda f, p, *a: hj.minimize(f, p, *a, method="newton"),
}
PARAM_ARGNAME = {"hessian": "params", "hvp": "params", "minimize_bfgs": "x0", "minimize_newton": "x0"}


# ---------------------------------------------------------------------------
# parameters that are not floating arrays
# ---------------------------------------------------------------------------

BAD_LEAVES = {
    "int_array": np.array([1, 2, 3]),
    "python_int": 1,
    "python_complex": 1j,
    "complex_array": np.array([1.0 + 0j, 2.0]),
    "python_bool": True,
    "bool_array": np.array([True, False]),
    "numpy_int_scalar": np.int32(3),
    "jnp_int_array": jnp.arange(3),
    "string": "0.5",
}


# Integer *starting values* are promoted (as SciPy does; issue 11); integer
# evaluation points of hessian/hvp are still rejected (an integer point is a bug).
INTEGER_LEAVES = {"int_array", "python_int", "numpy_int_scalar", "jnp_int_array"}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("leaf", list(BAD_LEAVES))
def test_non_floating_param_leaf_named_in_type_error(entry, leaf):
    if entry.startswith("minimize") and leaf in INTEGER_LEAVES:
        pytest.skip("integer starting values are promoted (test_reliability_inputs.py)")
    params = {"beta": BAD_LEAVES[leaf], "log_sigma": 0.1}
    name = PARAM_ARGNAME[entry]
    with no_traces(), pytest.raises(TypeError, match=re.escape(f"{name}['beta']")) as info:
        ENTRY_POINTS[entry](counted_dict_objective, params, X3)
    # The message says how to fix it.
    assert "float" in str(info.value)


@pytest.mark.parametrize("entry", ["hessian", "hvp"])
def test_bare_integer_array_params_named(entry):
    name = PARAM_ARGNAME[entry]
    with no_traces(), pytest.raises(TypeError, match=f"`{name}`.*dtype int"):
        ENTRY_POINTS[entry](counted_quadratic, np.array([1, 2, 3]), X3)


def test_bare_python_int_params():
    with no_traces(), pytest.raises(TypeError, match=r"`params`.*0\.0 instead of 0"):
        hj.hessian(counted_quadratic, 1, 0.0)


def test_nested_path_in_message():
    params = {"outer": {"inner": np.array([1, 2])}}
    with no_traces(), pytest.raises(TypeError, match=re.escape("params['outer']['inner']")):
        hj.hessian(counted_dict_objective, params, X3)


# ---------------------------------------------------------------------------
# empty parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [{}, (), [], None, {"a": {}}], ids=["dict", "tuple", "list", "None", "nested"])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_empty_params_value_error(entry, empty):
    name = PARAM_ARGNAME[entry]
    with no_traces(), pytest.raises(ValueError, match=f"`{name}`"):
        ENTRY_POINTS[entry](counted_quadratic, empty, X3)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_zero_size_params_value_error(entry):
    """A zero-size array is as empty as {}: there is nothing to differentiate or minimize."""
    name = PARAM_ARGNAME[entry]
    with only_eval_shape(), pytest.raises(ValueError, match=re.escape(name)):
        ENTRY_POINTS[entry](counted_quadratic, np.zeros(0), np.zeros(0))


# ---------------------------------------------------------------------------
# method and options
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lbfgs", "BFGS-B", "", None, 3])
def test_unknown_method(method):
    with no_traces(), pytest.raises(ValueError, match=r"method.*'bfgs'.*'newton'"):
        hj.minimize(counted_quadratic, X3, X3, method=method)


def test_method_is_case_insensitive():
    res = hj.minimize(counted_quadratic, np.zeros(3), X3, method="Newton")
    assert bool(res.success)


@pytest.mark.parametrize(
    "method, option",
    [
        ("bfgs", "tol"),
        ("bfgs", "maxiter"),
        ("bfgs", "initial_radius"),  # a Newton option
        ("newton", "init_hessian"),  # a BFGS option
        ("newton", "xtol"),
    ],
)
def test_unknown_option_type_error(method, option):
    with no_traces(), pytest.raises(TypeError, match=rf"{option}.*method='{method}'") as info:
        hj.minimize(counted_quadratic, X3, X3, method=method, **{option: 1.0})
    assert "valid options" in str(info.value)


@pytest.mark.parametrize(
    "method, option, value",
    [
        ("bfgs", "gtol", 0.0),
        ("bfgs", "gtol", -1e-8),
        ("bfgs", "gtol", float("nan")),
        ("bfgs", "gtol", "1e-8"),
        ("newton", "gtol", -1.0),
        ("bfgs", "max_steps", -1),
        ("bfgs", "max_steps", 2.5),
        ("newton", "max_steps", "10"),
        ("bfgs", "init_hessian", "bfgs"),
        ("bfgs", "init_hessian", None),
        ("newton", "initial_radius", 0.0),
        ("newton", "initial_radius", -2.0),
        ("newton", "initial_radius", "big"),
    ],
)
def test_bad_option_values_value_error(method, option, value):
    with no_traces(), pytest.raises(ValueError, match=f"`{option}`"):
        hj.minimize(counted_quadratic, X3, X3, method=method, **{option: value})


def test_option_errors_come_before_parameter_errors():
    # Options are checked first, so a bad method is reported even with bad params.
    with no_traces(), pytest.raises(ValueError, match="method"):
        hj.minimize(counted_quadratic, np.array([1, 2]), X3, method="sgd")


def quadratic_from_zero(x):
    return jnp.sum((x - 1.0) ** 2)


def test_max_steps_zero_is_honored():
    """max_steps=0 passes validation ("non-negative"), so it must mean zero steps,
    not silently fall back to the default."""
    with pytest.warns(hj.ConvergenceWarning):
        res = hj.minimize(quadratic_from_zero, np.zeros(2), max_steps=0)
    assert int(res.nit) == 0
    assert int(res.status) == hj.Status.MAX_STEPS
    assert np.array_equal(np.asarray(res.x), np.zeros(2))


# ---------------------------------------------------------------------------
# what the objective returns
# ---------------------------------------------------------------------------

BAD_OUTPUTS = {
    "vector": (returns_vector, ValueError, r"returned shape \(3,\).*scalar.*jnp\.sum"),
    "integer": (returns_integer, TypeError, r"returned dtype int.*floating"),
    "tuple": (returns_tuple, TypeError, r"must return one array.*tuple"),
    "complex": (returns_complex, TypeError, r"returned dtype complex.*real floating"),
    "bool": (returns_bool, TypeError, r"returned dtype bool.*floating"),
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_objective_output(entry, case):
    f, exc, pattern = BAD_OUTPUTS[case]
    call = ENTRY_POINTS[entry]
    with only_eval_shape(), pytest.raises(exc, match=pattern):
        call(f, X3)
    # Not cached as valid: the same call fails again.
    with only_eval_shape(), pytest.raises(exc, match=pattern):
        call(f, X3)


# ---------------------------------------------------------------------------
# shapes of parameters and data
# ---------------------------------------------------------------------------

CALL_PATTERN = r"calling f\((params|x0), \*args\) failed while tracing"


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_mismatched_param_and_data_shapes(entry):
    with only_eval_shape(), pytest.raises(ValueError, match=CALL_PATTERN) as info:
        ENTRY_POINTS[entry](counted_quadratic, np.zeros(3), np.zeros(4))
    assert "shapes" in str(info.value)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_mismatched_matrix_product(entry):
    with only_eval_shape(), pytest.raises(ValueError, match=CALL_PATTERN):
        ENTRY_POINTS[entry](returns_matrix_product, np.zeros(3), np.zeros((5, 4)))


def test_missing_data_argument_suggests_passing_it():
    with only_eval_shape(), pytest.raises(ValueError, match=r"extra\s+positional arguments"):
        hj.hessian(counted_quadratic, np.zeros(3))  # y forgotten


def test_shape_error_then_correct_call_works():
    with pytest.raises(ValueError, match=CALL_PATTERN):
        hj.hessian(returns_matrix_product, np.zeros(3), np.zeros((5, 2)))
    H = hj.hessian(returns_matrix_product, np.zeros(3), np.ones((5, 3)))
    assert np.array_equal(np.asarray(H), np.zeros((3, 3)))


# ---------------------------------------------------------------------------
# f not callable
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("not_callable", [None, 3.0, "loglik", np.zeros(3)], ids=["None", "float", "str", "array"])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_f_not_callable(entry, not_callable):
    with pytest.raises(TypeError, match=r"`f` must be a callable"):
        ENTRY_POINTS[entry](not_callable, X3, X3)


def test_swapped_arguments_are_caught():
    # hessian(params, f): f lands where params should be, and params is not callable.
    with pytest.raises(TypeError):
        hj.hessian(X3, counted_quadratic)


# ---------------------------------------------------------------------------
# hvp direction
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, v",
    [
        (np.zeros(3), np.zeros(4)),
        (np.zeros(3), np.zeros((3, 1))),
        (np.zeros(3), (np.zeros(3),)),
        ({"beta": np.zeros(3), "log_sigma": 0.0}, {"beta": np.zeros(3)}),
        ({"beta": np.zeros(3), "log_sigma": 0.0}, {"beta": np.zeros(2), "log_sigma": 0.0}),
        ({"beta": np.zeros(3), "log_sigma": 0.0}, {"beta": np.zeros(3), "sigma": 0.0}),
        ({"beta": np.zeros(3), "log_sigma": 0.0}, [np.zeros(3), 0.0]),
    ],
    ids=["length", "ndim", "wrapped", "missing_key", "leaf_shape", "renamed_key", "list_for_dict"],
)
def test_hvp_direction_must_match_params(params, v):
    f = counted_dict_objective if isinstance(params, dict) else counted_quadratic
    with only_eval_shape(), pytest.raises(ValueError, match=r"`v` must have the same pytree structure"):
        hj.hvp(f, params, v, X3)


def test_hvp_direction_integer_dtype_named():
    with only_eval_shape(), pytest.raises(TypeError, match="`v`"):
        hj.hvp(counted_quadratic, np.zeros(3), np.array([1, 0, 0]), X3)


# ---------------------------------------------------------------------------
# hessian memory arguments
# ---------------------------------------------------------------------------


def test_negative_parameter_count_in_memory_estimate():
    with pytest.raises(ValueError, match="n_params"):
        hj.hessian_memory_estimate(-3)
