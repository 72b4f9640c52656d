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

from .warnings import PrecisionWarning, warn

__all__ = [
    "EPS",
    "float64_entry_point",
    "as_float64_params",
    "as_float64_data",
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
    # Arrays spread over several hosts (jax.distributed) stay JAX arrays:
    # no single process holds all of their data.
    return jax.tree_util.tree_map(
        lambda leaf: np.asarray(leaf)
        if isinstance(leaf, jax.Array) and leaf.is_fully_addressable
        else leaf,
        tree,
    )


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


def as_float64_params(params: Any, argname: str = "params") -> tuple[Any, bool]:
    """Check that every leaf of ``params`` is floating; return it as float64.

    Returns ``(params64, promoted)``; ``promoted`` says whether any leaf had
    less than float64 precision (the caller warns once per call, see
    :func:`warn_promoted`).

    Raises
    ------
    TypeError
        If a leaf is not a real floating array (integers, booleans, complex).
    ValueError
        If ``params`` has no elements.
    """
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
        if _is_python_float(leaf):
            out.append(np.asarray(leaf, dtype=np.float64))
            continue
        if not hasattr(leaf, "dtype") and not isinstance(leaf, (list, tuple, np.generic)):
            raise TypeError(
                f"`{where}` is {type(leaf).__name__} {leaf!r}; parameters must be "
                f"floating arrays. Pass a float, e.g. 0.0 instead of 0, or "
                f"jnp.asarray(value, dtype=float)."
            )
        dtype = _leaf_dtype(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"`{where}` has dtype {dtype}; parameters must be real floating "
                f"arrays. Convert it with jnp.asarray({where}, dtype=float)."
            )
        promoted |= dtype != np.float64
        out.append(_to_float64(leaf))
    return jax.tree_util.tree_unflatten(treedef, out), promoted


def as_float64_data(args: tuple) -> tuple[tuple, bool]:
    """Promote floating leaves of the data ``args`` to float64; keep integers as they are.

    Returns ``(args64, promoted)``.
    """
    leaves, treedef = jax.tree_util.tree_flatten(args)
    promoted = False
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
