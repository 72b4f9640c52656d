"""Parameter names: readable, one per scalar, in ravel_pytree order.

Order is checked independently of the library: every example holds distinct
values, each name is parsed back into an index path into the pytree, and the
values found that way must be exactly ``ravel_pytree(params)``.
"""

import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import hessjax as hj


class Normal(NamedTuple):
    mu: object
    log_sigma: object


class Regression(NamedTuple):
    beta: object
    noise: object


def _ravel64(params):
    with jax.enable_x64(True):
        flat, _ = ravel_pytree(params)
        return np.asarray(flat)


_TOKEN = re.compile(r"([^.\[\]]+)|\[([0-9,]+)\]|(\.)")


def _lookup(params, name):
    """The element of ``params`` that ``name`` refers to (the name parsed back)."""
    tokens = [(key, index) for key, index, _dot in _TOKEN.findall(name) if key or index]
    is_namedtuple = hasattr(params, "_fields")
    if isinstance(params, (list, tuple)) and not is_namedtuple:
        assert tokens[0] == ("p", ""), name  # top-level sequence is called p
        tokens = tokens[1:]
    elif not isinstance(params, (dict, list, tuple)):
        assert tokens[0] == ("x", ""), name  # bare array is called x
        tokens = tokens[1:]
    node = params
    for key, index in tokens:
        if key:
            node = node[key] if isinstance(node, dict) else getattr(node, key)
        else:
            idx = tuple(int(i) for i in index.split(","))
            if isinstance(node, (list, tuple)):
                (position,) = idx
                node = node[position]
            else:
                node = np.asarray(node)[idx]
    return float(np.asarray(node))


def _distinct(shape_or_scalar, start):
    if shape_or_scalar == ():
        return float(start)
    size = int(np.prod(shape_or_scalar))
    return np.arange(start, start + size, dtype=np.float64).reshape(shape_or_scalar) + 0.5


CASES = {
    "dict": (
        {"log_sigma": _distinct((), 100), "beta": _distinct((2,), 0)},
        ["beta[0]", "beta[1]", "log_sigma"],
    ),
    "dict_with_matrix": (
        {"w": _distinct((2, 3), 10), "b": _distinct((3,), 0)},
        ["b[0]", "b[1]", "b[2]", "w[0,0]", "w[0,1]", "w[0,2]", "w[1,0]", "w[1,1]", "w[1,2]"],
    ),
    "nested_dict": (
        {"outer": {"scale": _distinct((), 7), "loc": _distinct((2,), 3)}, "a": _distinct((), 1)},
        ["a", "outer.loc[0]", "outer.loc[1]", "outer.scale"],
    ),
    "tuple": (
        (_distinct((2,), 0), _distinct((), 9)),
        ["p[0][0]", "p[0][1]", "p[1]"],
    ),
    "list": (
        [_distinct((), 4), _distinct((2, 2), 20)],
        ["p[0]", "p[1][0,0]", "p[1][0,1]", "p[1][1,0]", "p[1][1,1]"],
    ),
    "namedtuple": (
        Normal(mu=_distinct((2,), 0), log_sigma=_distinct((), 5)),
        ["mu[0]", "mu[1]", "log_sigma"],
    ),
    "namedtuple_field_order_not_alphabetical": (
        Regression(beta=_distinct((2,), 0), noise=_distinct((), 5)),
        ["beta[0]", "beta[1]", "noise"],
    ),
    "dict_of_list": (
        {"theta": [_distinct((), 1), _distinct((2,), 2)]},
        ["theta[0]", "theta[1][0]", "theta[1][1]"],
    ),
    "bare_python_scalar": (2.5, ["x"]),
    "bare_0d_array": (np.array(3.5), ["x"]),
    "bare_1d": (_distinct((3,), 0), ["x[0]", "x[1]", "x[2]"]),
    "bare_2d": (_distinct((2, 3), 0), ["x[0,0]", "x[0,1]", "x[0,2]", "x[1,0]", "x[1,1]", "x[1,2]"]),
    "bare_3d": (
        _distinct((2, 1, 2), 0),
        ["x[0,0,0]", "x[0,0,1]", "x[1,0,0]", "x[1,0,1]"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_names_exact(case):
    params, expected = CASES[case]
    assert hj.param_names(params) == expected


@pytest.mark.parametrize("case", list(CASES))
def test_names_follow_ravel_pytree_order_and_length(case):
    params, _ = CASES[case]
    names = hj.param_names(params)
    flat = _ravel64(params)
    assert len(names) == flat.size
    assert len(set(names)) == len(names), "names must be unique"
    assert [_lookup(params, name) for name in names] == flat.tolist()


def test_names_match_hessian_rows():
    params = {"sigma": 1.0, "beta": np.zeros((2, 2))}
    H = hj.hessian(_quadratic_in_tree, params)
    assert len(hj.param_names(params)) == H.shape[0] == H.shape[1] == 5


def _quadratic_in_tree(p):
    return sum(jnp.sum(leaf**2) for leaf in jax.tree_util.tree_leaves(p))


def test_names_use_shapes_only():
    # Names depend on shapes, not values or dtypes, and do not need x64.
    assert hj.param_names({"k": np.zeros(2, dtype=np.float32)}) == ["k[0]", "k[1]"]
    assert hj.param_names({"k": jnp.ones(2)}) == ["k[0]", "k[1]"]
    assert hj.param_names(np.zeros((1, 1))) == ["x[0,0]"]


def test_names_of_empty_leaf_and_row_vector():
    assert hj.param_names({"a": np.zeros((0,)), "b": 1.0}) == ["b"]
    assert hj.param_names({"a": np.zeros((1, 3))}) == ["a[0,0]", "a[0,1]", "a[0,2]"]


def test_compare_and_check_hessian_take_names_for_a_flat_array():
    """``names=`` labels a flat ``x`` in the tables, the verdicts and the candidate report."""
    f = lambda p: jnp.sum((p - 1.0) ** 2) + 0.5 * p[0] * p[1]  # noqa: E731
    x = np.ones(2)
    wrong = np.array([[2.0, 0.5], [0.5, 20.0]])  # the SE of "rate" is off
    cmp = hj.compare_hessians(f, x, candidates={"mine": wrong}, include=(), names=["shape", "rate"])
    assert cmp.names == ("shape", "rate") and "x[" not in str(cmp)
    assert "rate" in cmp["mine"].verdict
    rep = hj.check_hessian(f, x, wrong, names=("shape", "rate"))
    assert "shape" in str(rep) and "x[" not in str(rep)
    with pytest.raises(ValueError, match=r"`names` gives 3 name\(s\) for 2 parameter"):
        hj.compare_hessians(f, x, include=(), names=["a", "b", "c"])
    with pytest.raises(ValueError, match="repeats"):
        hj.check_hessian(f, x, wrong, names=["a", "a"])
    with pytest.raises(ValueError, match="sequence of strings"):
        hj.compare_hessians(f, x, include=(), names="ab")


def _normal_flat(p, y):
    return -0.5 * ((y - p[0]) / jnp.exp(p[1])) ** 2 - p[1]


Y_NAMES = np.random.default_rng(7).normal(1.0, 2.0, size=40)


def test_fit_names_label_a_flat_init_everywhere():
    """``fit(..., names=)``: summary, profile, wald_test, bounds and fixed use the user's names."""
    res = hj.fit(_normal_flat, np.zeros(2), Y_NAMES, names=["mu", "log_sigma"])
    assert res.names == ("mu", "log_sigma") and "x[" not in res.summary()
    n, ybar, sd = len(Y_NAMES), Y_NAMES.mean(), Y_NAMES.std()  # closed form MLE
    np.testing.assert_allclose(res.params, [ybar, np.log(sd)], rtol=1e-10)
    np.testing.assert_allclose(res.se[0], sd / np.sqrt(n), rtol=1e-9)
    assert res.wald_test("mu").df == 1
    lo, hi = res.conf_int(method="profile")[0]
    assert lo < ybar < hi
    # bounds and fixed by the user's names; the natural result keeps them
    b = hj.fit(_normal_flat, np.array([0.5, 0.0]), Y_NAMES, names=["mu", "log_sigma"],
               bounds={"mu": (0.0, None)}, fixed="log_sigma")
    assert b.names == ("mu", "log_sigma") and b.fixed == ("log_sigma",)
    np.testing.assert_allclose(b.params[0], ybar, rtol=1e-9)  # sigma fixed at 1: mean is the MLE
    assert "log_sigma" in b.summary() and "fixed" in b.summary()
    boot = hj.bootstrap(b, n_boot=8, key=0, progress=False)
    assert boot.names == ("mu", "log_sigma")
    with pytest.raises(ValueError, match=r"`names` gives 1 name\(s\) for 2 parameter"):
        hj.fit(_normal_flat, np.zeros(2), Y_NAMES, names=["mu"])
    with pytest.raises(ValueError, match="unknown|not a parameter|valid"):
        hj.fit(_normal_flat, np.zeros(2), Y_NAMES, names=["mu", "log_sigma"], bounds={"x[0]x": (0, None)})


def test_fit_batch_and_least_squares_take_names():
    fits = hj.fit_batch(_normal_flat, np.zeros(2), np.stack([Y_NAMES, Y_NAMES + 1.0]), names=("mu", "ls"),
                        progress=False)
    assert fits.names == ("mu", "ls") and fits[1].names == ("mu", "ls")
    np.testing.assert_allclose(fits.params[:, 0], [Y_NAMES.mean(), Y_NAMES.mean() + 1.0], rtol=1e-10)
    x = np.linspace(0.0, 1.0, 20)
    y = 2.0 + 3.0 * x + np.random.default_rng(3).normal(scale=0.1, size=20)
    line = lambda p, x, y: y - p[0] - p[1] * x  # noqa: E731
    ls = hj.least_squares(line, np.zeros(2), x, y, names=["a", "b"])
    assert ls.names == ("a", "b") and "x[" not in ls.summary()
    again = hj.least_squares(line, np.zeros(2), x, y)  # the same function: names are in the program key
    assert again.names == ("x[0]", "x[1]")
