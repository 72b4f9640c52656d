"""Inputs people pass (issue 11): DataFrames, lists, integers, float32 starting
values, the mistakes their functions make while tracing, and parameter pytrees
with many leaves.

Every fitted number is checked against a closed form (a sample mean, a least
squares solution). hessjax warnings are errors here (see conftest.py).
"""

from __future__ import annotations

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj
from hessjax._tree import lists_as_arrays, param_spec
from hessjax.objective import keyword_data_hint

Y = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
X2 = np.column_stack([np.ones(5), np.arange(5.0)])


def normal_mean(p, y):
    """Gaussian log-likelihood with unit variance: the MLE of mu is mean(y)."""
    return -0.5 * (y - p["mu"]) ** 2


def linear(p, X, y):
    """Least squares as a log-likelihood: the MLE of beta is lstsq(X, y)."""
    return -0.5 * (y - X @ p["beta"]) ** 2


def _ols(X, y):
    return np.linalg.lstsq(X, y, rcond=None)[0]


# ---------------------------------------------------------------------------
# pandas data
# ---------------------------------------------------------------------------


def test_dataframe_data_is_converted_not_embedded_in_error():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"const": np.ones(5), "t": np.arange(5.0)})
    res = hj.fit(linear, {"beta": np.zeros(2)}, frame, pd.Series(Y, name="y"))
    np.testing.assert_allclose(res.params["beta"], _ols(X2, Y), rtol=1e-10, atol=1e-12)

    # A non-numeric column: a ValueError naming the column, not the whole frame.
    labelled = frame.assign(city=["zebra-town"] * 5, when=pd.date_range("2020-01-01", periods=5))
    with pytest.raises(ValueError) as info:
        hj.fit(linear, {"beta": np.zeros(2)}, labelled, Y)
    message = str(info.value)
    assert "data argument 1" in message
    assert "'city'" in message and "'when'" in message
    assert "'const'" not in message and "'t' (" not in message  # numeric columns are fine
    assert "zebra-town" not in message  # the frame's values are not printed
    assert len(message) < 600


def test_series_data_fits_the_sample_mean():
    pd = pytest.importorskip("pandas")
    res = hj.fit(normal_mean, {"mu": 0.0}, pd.Series(Y))
    np.testing.assert_allclose(res.params["mu"], np.mean(Y), rtol=1e-12)


def test_integer_series_stays_integer_for_indexing():
    pd = pytest.importorskip("pandas")
    groups = pd.Series([0, 0, 1, 1, 1])
    seen = {}

    def grouped(p, y, g):
        seen["dtype"] = g.dtype
        return -0.5 * (y - p["mu"][g]) ** 2

    res = hj.fit(grouped, {"mu": np.zeros(2)}, Y, groups)
    assert jnp.issubdtype(seen["dtype"], jnp.integer)
    np.testing.assert_allclose(res.params["mu"], [Y[:2].mean(), Y[2:].mean()], rtol=1e-12)


def test_float32_dataframe_column_warns_once():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"y": Y.astype(np.float32)})
    with pytest.warns(hj.PrecisionWarning):
        hj.fit(lambda p, d: normal_mean(p, d[:, 0]), {"mu": 0.0}, frame)


# ---------------------------------------------------------------------------
# Python lists as data
# ---------------------------------------------------------------------------


def test_list_data_converted_once():
    values = [float(v) for v in np.linspace(-1.0, 3.0, 10_000)]
    seen = {}

    def loglik(p, y):
        seen["leaves"] = len(jax.tree_util.tree_leaves(y))
        seen["shape"] = y.shape
        return normal_mean(p, y)

    res = hj.fit(loglik, {"mu": 0.0}, values)
    # One array of 10,000 numbers, not 10,000 scalar program inputs.
    assert seen == {"leaves": 1, "shape": (10_000,)}
    np.testing.assert_allclose(res.params["mu"], np.mean(values), rtol=1e-12)


def test_tuple_of_numbers_is_one_array_tuple_of_arrays_stays_a_tuple():
    seen = {}

    def loglik(p, y, pair):
        seen["y"] = type(y).__name__, y.shape
        seen["pair"] = type(pair).__name__, len(pair)
        return normal_mean(p, y) + 0.0 * (pair[0].sum() + pair[1].sum())

    res = hj.fit(loglik, {"mu": 0.0}, tuple(Y), (np.ones(2), np.zeros(3)))
    assert seen["y"][1] == (5,)
    assert seen["pair"] == ("tuple", 2)
    np.testing.assert_allclose(res.params["mu"], np.mean(Y), rtol=1e-12)


def test_list_of_integer_counts_stays_integer():
    counts = [0, 3, 1, 2, 4, 2]
    seen = {}

    def poisson(p, y):
        seen["dtype"] = y.dtype
        return y * p["log_lam"] - jnp.exp(p["log_lam"])

    res = hj.fit(poisson, {"log_lam": 0.0}, counts)
    assert jnp.issubdtype(seen["dtype"], jnp.integer)
    np.testing.assert_allclose(np.exp(res.params["log_lam"]), np.mean(counts), rtol=1e-10)


# ---------------------------------------------------------------------------
# errors while tracing the user's function
# ---------------------------------------------------------------------------


def test_keyerror_in_loglik_names_missing_key():
    def typo(p, y):
        return -0.5 * (y - p["mean"]) ** 2

    with pytest.raises(ValueError, match="failed while tracing") as info:
        hj.fit(typo, {"mu": 0.0, "log_sigma": 0.0}, Y)
    message = str(info.value)
    assert "'mean'" in message
    assert "['mu', 'log_sigma']" in message or "['log_sigma', 'mu']" in message
    assert isinstance(info.value.__cause__, KeyError)


def test_keyerror_suggests_the_close_key():
    def typo(p, y):
        return -0.5 * ((y - p["mu"]) / p["sigm"]) ** 2

    with pytest.raises(ValueError, match=r"Did you mean 'sigma'\?"):
        hj.fit(typo, {"mu": 0.0, "sigma": 1.0}, Y)


def test_attribute_access_on_dict_params_hints_brackets():
    def dotted(p, y):
        return -0.5 * (y - p.mu) ** 2

    with pytest.raises(ValueError, match=re.escape("init['mu']")) as info:
        hj.fit(dotted, {"mu": 0.0}, Y)
    assert isinstance(info.value.__cause__, AttributeError)


def test_pandas_attribute_inside_loglik_hints_arrays():
    def pandas_style(p, y):
        return -0.5 * (y.values - p["mu"]) ** 2

    with pytest.raises(ValueError, match="JAX arrays") as info:
        hj.fit(pandas_style, {"mu": 0.0}, Y)
    assert "'values'" in str(info.value)


def test_np_log_on_parameter_hints_jnp():
    def numpy_inside(p, y):
        return -0.5 * (y - np.exp(p["log_mu"])) ** 2

    with pytest.raises(TypeError, match=r"jnp\.log") as info:
        hj.fit(numpy_inside, {"log_mu": 0.0}, Y)
    assert isinstance(info.value.__cause__, jax.errors.TracerArrayConversionError)
    assert "failed while tracing" in str(info.value)


def test_python_if_on_parameter_hints_where():
    def branching(p, y):
        mu = p["mu"] if p["mu"] > 0 else -p["mu"]
        return -0.5 * (y - mu) ** 2

    with pytest.raises(TypeError, match=r"jnp\.where") as info:
        hj.fit(branching, {"mu": 1.0}, Y)
    assert "jax.lax.cond" in str(info.value)
    assert isinstance(info.value.__cause__, jax.errors.TracerBoolConversionError)


def test_float_of_parameter_hints_keep_it_an_array():
    def concrete(p, y):
        return -0.5 * (y - float(p["mu"])) ** 2

    with pytest.raises(TypeError, match="concrete value") as info:
        hj.fit(concrete, {"mu": 1.0}, Y)
    assert isinstance(info.value.__cause__, jax.errors.ConcretizationTypeError)


def test_genuine_shape_error_still_says_check_the_shapes():
    with pytest.raises(ValueError, match="shapes") as info:
        hj.fit(linear, {"beta": np.zeros(3)}, X2, Y)  # X2 has 2 columns
    assert "failed while tracing" in str(info.value)


def test_wrong_number_of_data_arguments_names_the_signature():
    with pytest.raises(ValueError, match=re.escape("loglik(p, X, y)")) as info:
        hj.fit(linear, {"beta": np.zeros(2)}, Y)  # X forgotten
    assert "positional arguments" in str(info.value)


def test_data_passed_as_keywords_hint():
    hint = keyword_data_hint(linear, {"y": Y, "gtol": 1e-8})
    assert "`y`" in hint and "fit(loglik, init, X, y)" in hint
    assert keyword_data_hint(linear, {"gtol": 1e-8, "max_steps": 10}) == ""


# ---------------------------------------------------------------------------
# starting values
# ---------------------------------------------------------------------------


def test_integer_init_accepted():
    res = hj.fit(normal_mean, {"mu": 0}, Y)
    np.testing.assert_allclose(res.params["mu"], np.mean(Y), rtol=1e-12)
    res = hj.fit(linear, {"beta": np.array([0, 0])}, X2, Y)
    assert res.params["beta"].dtype == np.float64
    np.testing.assert_allclose(res.params["beta"], _ols(X2, Y), rtol=1e-10, atol=1e-12)
    opt = hj.minimize(lambda x, c: jnp.sum((x - c) ** 2), np.array([3, -1]), np.array([0.5, 2.0]))
    np.testing.assert_allclose(opt.x, [0.5, 2.0], rtol=1e-12)


def test_integer_evaluation_point_still_rejected():
    # A Hessian is evaluated exactly where asked: integers there are a mistake to name.
    with pytest.raises(TypeError, match="dtype int"):
        hj.hessian(lambda x: jnp.sum(x**2), np.array([1, 2]))


def test_float32_init_no_precision_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any PrecisionWarning would raise
        res = hj.fit(normal_mean, {"mu": np.float32(0.5)}, Y)
        opt = hj.minimize(lambda x: jnp.sum((x - 1.0) ** 2), np.zeros(2, dtype=np.float32))
    np.testing.assert_allclose(res.params["mu"], np.mean(Y), rtol=1e-12)
    np.testing.assert_allclose(opt.x, [1.0, 1.0], rtol=1e-12)
    # Data that lost digits still warn.
    with pytest.warns(hj.PrecisionWarning):
        hj.fit(normal_mean, {"mu": 0.0}, Y.astype(np.float32))


def test_list_in_dict_init_is_one_vector():
    res = hj.fit(linear, {"beta": [0.0, 0]}, X2, Y)
    assert res.names == ("beta[0]", "beta[1]")
    np.testing.assert_allclose(res.params["beta"], _ols(X2, Y), rtol=1e-10, atol=1e-12)
    assert hj.param_names({"beta": [0.0, 0.0]}) == ["beta[0]", "beta[1]"]


def test_lists_as_arrays_keeps_structure_that_is_not_a_vector():
    tree = {"a": [1.0, 2.0], "b": (0.0, 1.0), "c": [np.zeros(2), 1.0], "d": [[1, 0], [0, 1]]}
    out = lists_as_arrays(tree)
    assert isinstance(out["a"], np.ndarray) and out["a"].shape == (2,)
    assert out["b"] == (0.0, 1.0)  # tuples are structure
    assert isinstance(out["c"], list)  # a list holding an array is a pytree
    assert out["d"].shape == (2, 2)


# ---------------------------------------------------------------------------
# many leaves
# ---------------------------------------------------------------------------


def _primitive_counts(fn, x):
    counts: dict[str, int] = {}
    for eqn in jax.make_jaxpr(fn)(x).jaxpr.eqns:
        counts[eqn.primitive.name] = counts.get(eqn.primitive.name, 0) + 1
    return counts


def test_many_leaves_compile_like_one_array():
    """Unraveling 200 scalar leaves is one split and a reshape per leaf, and its
    derivative one concatenate: no per-leaf slice, pad, gather or conversion
    (per-leaf slices transpose to a pad each, and compiled slower in a fit).
    Only the reshape count grows with the number of leaves."""
    with jax.enable_x64(True):
        by_size = {}
        for n in (10, 200):
            spec = param_spec({f"b{i:03d}": np.zeros(()) for i in range(n)})
            x = jnp.zeros(n)

            def total(z, spec=spec):
                return sum(spec.unravel(z).values())

            forward = _primitive_counts(spec.unravel, x)
            backward = _primitive_counts(jax.grad(total), x)
            assert forward == {"split": 1, "reshape": n}
            assert backward.get("concatenate", 0) == 1
            assert not {"slice", "pad", "gather", "dynamic_slice", "convert_element_type"} & set(backward)
            by_size[n] = {k: v for k, v in backward.items() if k not in ("reshape", "add")}
        assert by_size[10] == by_size[200]
        # One array of 200 is at most a single reshape.
        single = param_spec(np.zeros(200))
        assert sum(_primitive_counts(single.unravel, jnp.zeros(200)).values()) <= 1


def test_unravel_host_keeps_batch_axes_without_tracing():
    spec = param_spec({"beta": np.zeros(3), "mu": np.zeros(())})
    flat = np.arange(8.0).reshape(2, 4)
    out = spec.unravel_host(flat)
    assert isinstance(out["beta"], np.ndarray)
    np.testing.assert_array_equal(out["beta"], [[0.0, 1.0, 2.0], [4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(out["mu"], [3.0, 7.0])
    with jax.enable_x64(True):
        batched = jax.vmap(spec.unravel_host)(jnp.asarray(flat))
    np.testing.assert_array_equal(np.asarray(batched["mu"]), [3.0, 7.0])
