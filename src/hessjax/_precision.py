"""Scoped float64: every public entry point computes in float64.

hessjax never flips the global ``jax_enable_x64`` flag. Each public function
is wrapped by :func:`float64_entry_point`, which runs it inside
``jax.enable_x64(True)``; inputs with less precision are promoted with one
:class:`~hessjax.warnings.PrecisionWarning` per call.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from ._tree import is_number_sequence, lists_as_arrays
from .warnings import PrecisionWarning, warn

__all__ = [
    "EPS",
    "float64_entry_point",
    "as_float64_params",
    "as_float64_data",
    "as_data_arrays",
    "default_gtol",
    "flat_tolerance",
    "decrement_tolerance",
]

EPS = float(np.finfo(np.float64).eps)

# Relative-gradient tolerance eps^(2/3) ~ 3.7e-11: the classical choice between
# sqrt(eps) (where f stops resolving changes) and eps (where the gradient is
# pure rounding), Dennis & Schnabel (1996) sec. 7.2.
default_gtol = EPS ** (2.0 / 3.0)

#: Scaled eigenvalues below this fraction of the largest are treated as zero.
#: The inverse of a matrix with condition number k carries relative errors of
#: about k eps, so beyond 1/(1e3 eps) ~ 4.5e12 the standard errors would keep
#: fewer than three correct digits: the direction is numerically flat. (Legit
#: ill-conditioned models, e.g. NIST's Lanczos at 1e8 or Bennett5 at 3e9, pass.)
flat_tolerance = float(1e3 * EPS)

#: Newton decrements above this mean the estimate is short of the maximum by
#: more than 1e-3 standard errors in some direction (|step_i| / se_i <=
#: sqrt(decrement)). Closer than that is the maximum for inference: a shift of
#: delta SE lowers the coverage of a 95% Wald interval by about
#: 1.96 phi(1.96) delta^2 ~ 1.1e-7. (Tighter, e.g. sqrt(eps), would reject good
#: optima found elsewhere, such as SciPy's BFGS at its default gtol.)
decrement_tolerance = 1e-6

F = TypeVar("F", bound=Callable[..., Any])


def is_traced(tree: Any) -> bool:
    """Whether any leaf of ``tree`` is a tracer (inside jit/vmap): no eager work then."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def to_host(tree: Any) -> Any:
    """Concrete JAX arrays in ``tree`` as NumPy float64 arrays; traced trees unchanged.

    Results leave the float64 scope; as JAX arrays, any arithmetic on them
    outside that scope would silently truncate to float32. NumPy arrays keep
    their digits everywhere. Under ``jit``/``vmap`` the tracers are returned.
    """
    if is_traced(tree):
        return tree
    return jax.tree_util.tree_map(_host_leaf, tree)


def _host_leaf(leaf: Any) -> Any:
    if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
        return np.asarray(leaf) if isinstance(leaf, jax.Array) else leaf
    if leaf.is_fully_replicated:  # over several processes, but every process holds all of it
        return np.asarray(leaf.addressable_data(0))
    # Sharded over several processes (jax.distributed): no single process holds all of
    # its data, so it stays a JAX array.
    return leaf


def float64_entry_point(fn: F) -> F:
    """Run ``fn`` inside ``jax.enable_x64(True)`` without touching global config;
    eager results come back as NumPy arrays (see :func:`to_host`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True):
            return to_host(fn(*args, **kwargs))

    return wrapper  # type: ignore[return-value]


def _leaf_dtype(leaf) -> np.dtype:
    return np.result_type(leaf) if not hasattr(leaf, "dtype") else np.dtype(leaf.dtype)


def _is_python_float(leaf) -> bool:
    return isinstance(leaf, float) and not isinstance(leaf, bool)


def fresh_numpy(leaf: np.ndarray) -> np.ndarray:
    """``leaf`` as a new NumPy object over the same memory (a view: no copy).

    JAX caches the converted copy of a NumPy array per array *object*, and
    the cache ignores the precision mode: after a ``jax.jit`` function traced
    outside float64 has read ``y`` (a closure constant, which keeps the cached
    copy alive), JAX hands its float32 copy of ``y`` to every later program,
    including ones compiled for float64 (``RuntimeProgramInputMismatch``:
    expected f64, got f32). A new view is a new object, so it never hits an
    entry cached for another precision, and costs well under a microsecond.
    """
    return leaf.view(np.ndarray)


def _to_float64(leaf):
    # Concrete inputs stay NumPy (jit transfers them once); eager jnp
    # conversions would cost a dispatch per leaf per call.
    if isinstance(leaf, (jax.Array, jax.core.Tracer)):
        return leaf if leaf.dtype == jnp.float64 else jnp.asarray(leaf, dtype=jnp.float64)
    out = np.asarray(leaf, dtype=np.float64)
    return fresh_numpy(out) if out is leaf else out


def _is_python_int(leaf) -> bool:
    return isinstance(leaf, int) and not isinstance(leaf, bool)


def as_float64_params(
    params: Any, argname: str = "params", starting_values: bool = False
) -> tuple[Any, bool]:
    """Check that every leaf of ``params`` is floating; return it as float64.

    A list of numbers is one array (``{"beta": [0.0, 0.0]}`` has one leaf of
    shape ``(2,)``; see :func:`hessjax._tree.lists_as_arrays`).

    With ``starting_values`` (``init`` of the fits, ``x0`` of the minimizers),
    integers are accepted and promoted to float64, as SciPy does, and lower
    precision (float32 starting values) is no loss: the optimizer moves away
    from them, so nothing is reported. Points where a derivative is evaluated
    (``params`` of ``hessian``, ``v`` of ``hvp``) must be floating.

    Returns ``(params64, promoted)``; ``promoted`` says whether any leaf had
    less than float64 precision that matters (always false for starting
    values; the caller warns once per call, see :func:`warn_promoted`).

    Raises
    ------
    TypeError
        If a leaf is not a real floating array (booleans, complex, strings;
        integers unless ``starting_values``).
    ValueError
        If ``params`` has no elements.
    """
    params = lists_as_arrays(params)
    flat = jax.tree_util.tree_flatten_with_path(params)
    leaves, treedef = [leaf for _, leaf in flat[0]], flat[1]
    if not leaves or all(np.size(leaf) == 0 for leaf in leaves):
        raise ValueError(
            f"`{argname}` has no elements; pass the parameters as a non-empty array or "
            f"a pytree of arrays, e.g. {argname}=jnp.zeros(3)."
        )
    promoted = False
    out = []
    for path, leaf in flat[0]:
        where = f"{argname}{jax.tree_util.keystr(path)}"
        if _is_python_float(leaf) or (starting_values and _is_python_int(leaf)):
            out.append(np.asarray(leaf, dtype=np.float64))
            continue
        if not hasattr(leaf, "dtype") and not isinstance(leaf, (list, tuple, np.generic)):
            raise TypeError(
                f"`{where}` is {type(leaf).__name__} {leaf!r}; parameters must be "
                f"floating arrays. Pass a float, e.g. 0.0 instead of 0, or "
                f"jnp.asarray(value, dtype=float)."
            )
        dtype = _leaf_dtype(leaf)
        integer = jnp.issubdtype(dtype, jnp.integer) and dtype != np.bool_
        if not (jnp.issubdtype(dtype, jnp.floating) or (starting_values and integer)):
            raise TypeError(
                f"`{where}` has dtype {dtype}; parameters must be real floating "
                f"arrays. Convert it with jnp.asarray({where}, dtype=float)."
            )
        promoted |= not starting_values and dtype != np.float64
        out.append(_to_float64(leaf))
    return jax.tree_util.tree_unflatten(treedef, out), promoted


def _is_frame(value: Any) -> bool:
    """A pandas (or pandas-like: polars, modin, cuDF) DataFrame or Series.

    Duck-typed, so pandas is never imported: something with ``to_numpy`` and
    either ``columns`` (a frame) or an ``index``/a pandas-like module (a series).
    """
    if isinstance(value, (np.ndarray, jax.Array, jax.core.Tracer)) or not hasattr(value, "to_numpy"):
        return False
    module = type(value).__module__.split(".")[0]
    return hasattr(value, "columns") or hasattr(value, "index") or module in _FRAME_MODULES


_FRAME_MODULES = {"pandas", "polars", "modin", "cudf", "databricks"}


def _dtype_kind(dtype: Any) -> str:
    """NumPy kind letter of a NumPy, pandas extension or polars dtype ('O' if unknown)."""
    kind = getattr(dtype, "kind", None)
    if isinstance(kind, str) and len(kind) == 1:
        return kind
    try:
        return np.dtype(dtype).kind
    except TypeError:
        pass
    name = str(dtype).lower()  # polars: Float64, Int32, UInt8, Boolean, ...
    for prefix, letter in (("float", "f"), ("int", "i"), ("uint", "u"), ("bool", "b")):
        if name.startswith(prefix):
            return letter
    return "O"


def _frame_as_array(frame: Any, label: str) -> tuple[np.ndarray, bool]:
    """A DataFrame or Series as one NumPy array; ``(array, lost_precision)``.

    Numeric columns only (else a ``ValueError`` naming the others). All-integer
    (or all-boolean) data keep their dtype, like integer NumPy data; anything
    else becomes float64, missing values (``pd.NA``) as NaN.
    """
    kind_name = f"{type(frame).__module__.split('.')[0]} {type(frame).__name__}"
    columns = getattr(frame, "columns", None)
    if columns is not None:
        names = list(columns)
        dtypes = list(getattr(frame, "dtypes", [None] * len(names)))
    else:
        names = [getattr(frame, "name", None)]
        dtypes = [getattr(frame, "dtype", None)]
    kinds = [_dtype_kind(dtype) for dtype in dtypes]
    bad = [(name, dtype) for name, dtype, kind in zip(names, dtypes, kinds) if kind not in "biuf"]
    if bad:
        listed = ", ".join(f"{name!r} ({dtype})" for name, dtype in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        what = "column(s)" if columns is not None else "values"
        raise ValueError(
            f"{label} is a {kind_name} with non-numeric {what} {listed}{more}; hessjax "
            "needs numeric arrays. Select the numeric columns (e.g. df[['x1', 'x2']]) or "
            "encode the others as numbers (e.g. pandas.get_dummies or .cat.codes) first."
        )
    if kinds and (all(kind in "iu" for kind in kinds) or all(kind == "b" for kind in kinds)):
        out = np.asarray(frame.to_numpy())
        if out.dtype.kind in "biu":
            return out, False  # integer or boolean data, without missing values
    lost = any(
        kind == "f" and getattr(dtype, "itemsize", 8) < 8 for dtype, kind in zip(dtypes, kinds)
    )
    try:
        out = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    except TypeError:  # no na_value keyword (not pandas)
        out = frame.to_numpy()
    return np.asarray(out, dtype=np.float64), lost


def as_data_arrays(args: tuple) -> tuple[tuple, bool]:
    """Convert data containers users pass to arrays, once, before tracing.

    * A pandas (or pandas-like) DataFrame or Series becomes one NumPy array
      (float64; all-integer or all-boolean data keep their dtype).
      Non-numeric columns raise a ``ValueError`` naming them.
    * A list or tuple of numbers (or nested lists/tuples of numbers, as
      ``np.asarray`` takes them) becomes one NumPy array: float64 when any
      number is a float, integers and booleans as NumPy makes them. A Python
      list of 10,000 numbers would otherwise be 10,000 scalar inputs of every
      compiled program.
    * Everything else keeps its structure: a tuple, list or dict of arrays is
      a pytree of data, and a Python scalar stays a scalar.

    Returns ``(args, lost_precision)``: whether a frame held floats narrower
    than float64.
    """
    lost = False

    def is_leaf(node):
        return _is_frame(node) or is_number_sequence(node, (list, tuple))

    def convert(label, node):
        nonlocal lost
        if _is_frame(node):
            out, narrow = _frame_as_array(node, label)
            lost |= narrow
            return out
        if is_number_sequence(node, (list, tuple)):
            try:
                return np.asarray(node)
            except ValueError:  # ragged
                return node
        return node

    out = []
    for k, arg in enumerate(args):
        label = f"data argument {k + 1}"
        if is_leaf(arg):
            out.append(convert(label, arg))
            continue
        out.append(
            jax.tree_util.tree_map_with_path(
                lambda path, node: convert(label + jax.tree_util.keystr(path), node),
                arg,
                is_leaf=is_leaf,
            )
        )
    return tuple(out), lost


def as_float64_data(args: tuple) -> tuple[tuple, bool]:
    """Promote floating leaves of the data ``args`` to float64; keep integers as they are.

    DataFrames, Series and lists of numbers are first made arrays (see
    :func:`as_data_arrays`). Returns ``(args64, promoted)``.
    """
    args, promoted = as_data_arrays(tuple(args))
    leaves, treedef = jax.tree_util.tree_flatten(args)
    out = []
    for leaf in leaves:
        if isinstance(leaf, (bool, int, float)):
            out.append(leaf)
            continue
        dtype = _leaf_dtype(leaf)
        if jnp.issubdtype(dtype, jnp.floating):
            promoted |= dtype != np.float64
            out.append(_to_float64(leaf))
        else:
            # Integer data meet the same cache (an int32 copy of int64 data).
            out.append(fresh_numpy(leaf) if isinstance(leaf, np.ndarray) else leaf)
    return jax.tree_util.tree_unflatten(treedef, out), promoted


def warn_promoted(what: list[str]) -> None:
    """One :class:`PrecisionWarning` naming every input that was promoted."""
    if what:
        warn(
            f"{' and '.join(what)} had less than float64 precision and were promoted to "
            "float64, but digits already lost cannot be recovered. Pass NumPy float64 "
            "arrays, or build jnp arrays inside `jax.enable_x64(True)`.",
            PrecisionWarning,
        )
