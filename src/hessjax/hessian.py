"""Exact Hessians and Hessian-vector products by automatic differentiation.

``hessian`` returns the dense matrix over ``ravel_pytree`` order; ``hvp``
multiplies by it without forming it. A memory guard refuses dense Hessians
that would not fit in the budget (see :func:`hessian_memory_estimate`), and
points to ``hvp`` instead. A Hessian with non-finite entries at a point where
f is finite (the ``jnp.where`` pitfall) draws one ``HessianWarning`` naming
the parameters affected.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import float64_entry_point, is_traced
from ._tree import spec_names
from .objective import Objective, bind, data_signature, ravel_leaves
from .warnings import HessianWarning, warn

__all__ = [
    "hessian",
    "hvp",
    "hessian_memory_estimate",
    "HessianMemoryError",
    "DEFAULT_HESSIAN_MAX_BYTES",
]

#: Default memory budget of a dense Hessian computation (bytes): 4 GiB.
DEFAULT_HESSIAN_MAX_BYTES = 4 * 2**30


class HessianMemoryError(MemoryError):
    """The dense Hessian would need more memory than the budget allows."""


def hessian_memory_estimate(n_params: int, batch_work_bytes: int = 0) -> int:
    """Bytes needed to form a dense ``n x n`` float64 Hessian.

    The result matrix takes ``8 n^2`` bytes; forward-over-reverse
    differentiation pushes ``n`` tangents through one gradient evaluation at
    once, which costs ``batch_work_bytes`` more (XLA's compiled memory
    analysis measures it when the Hessian is compiled).

    Parameters
    ----------
    n_params : int
        Number of scalar parameters ``n``.
    batch_work_bytes : int
        Working memory of the batched gradient evaluations, added as is.

    Returns
    -------
    int
        ``8 n^2 + batch_work_bytes``.

    Raises
    ------
    ValueError
        If ``n_params`` is negative.

    Examples
    --------
    >>> from hessjax import hessian_memory_estimate
    >>> hessian_memory_estimate(1000)   # the matrix alone: 8 MB
    8000000
    """
    if n_params < 0:
        raise ValueError(f"`n_params` must be non-negative, got {n_params}.")
    return 8 * int(n_params) ** 2 + int(batch_work_bytes)


def _too_large(n: int, needed: int, budget: int, measured: bool) -> HessianMemoryError:
    how = "XLA's compiled memory analysis" if measured else "the 8 n^2 bytes of the matrix alone"
    return HessianMemoryError(
        f"the dense Hessian of {n} parameters needs about {needed / 2**20:,.1f} MiB "
        f"({how}), over the budget of max_bytes={budget:,} bytes. Use "
        f"hessjax.hvp(f, params, v, *args) for Hessian-vector products without forming "
        f"the matrix (hessjax.fit_large, selected_se and extreme_eigenvalues fit and "
        f"certify large models that way), or raise the budget with hessian(..., max_bytes=...)."
    )


def guard_hessian_memory(obj: Objective, x: jax.Array, args: tuple, max_bytes: int | None) -> None:
    """Raise :class:`HessianMemoryError` if the dense Hessian exceeds the budget.

    First the matrix alone (before compiling anything), then, for concrete
    inputs, XLA's measured output plus temporary memory of the compiled
    Hessian (compiled once per data signature; the call reuses it).
    """
    budget = DEFAULT_HESSIAN_MAX_BYTES if max_bytes is None else int(max_bytes)
    n = obj.spec.size
    if hessian_memory_estimate(n) > budget:
        raise _too_large(n, hessian_memory_estimate(n), budget, measured=False)
    if is_traced((x, args)):
        return
    key = data_signature(args)
    needed = obj._memory_checked.get(key)
    if needed is None:
        stats = obj.hessian_jit.lower(x, args).compile().memory_analysis()
        needed = (
            hessian_memory_estimate(0, stats.temp_size_in_bytes + stats.output_size_in_bytes)
            if stats is not None
            else hessian_memory_estimate(n)
        )
        obj._memory_checked[key] = needed
    if needed > budget:
        raise _too_large(n, needed, budget, measured=True)


# Parameter names listed in full in the non-finite Hessian warning; beyond, a count.
_NAMES_SHOWN = 10


def warn_nonfinite_hessian(obj: Objective, x: jax.Array, args: tuple, hess: jax.Array) -> None:
    """One :class:`HessianWarning` if f(x) is finite but rows of its Hessian are not.

    Row i is the derivative of the gradient's i-th component, so a non-finite
    row names the parameter whose derivatives pass through the non-finite
    expression. f is evaluated only when the Hessian has a non-finite entry, so
    the finite case compiles nothing more.
    """
    bad_rows = ~np.all(np.isfinite(np.asarray(hess)), axis=1)
    if not bad_rows.any() or not np.isfinite(float(obj.value_jit(x, args))):
        return
    bad = [name for name, is_bad in zip(spec_names(obj.spec), bad_rows) if is_bad]
    listed = ", ".join(bad[:_NAMES_SHOWN])
    if len(bad) > _NAMES_SHOWN:
        listed += f" and {len(bad) - _NAMES_SHOWN} more"
    warn(
        f"f(params, *args) is finite but its Hessian is not: the rows of {listed} contain "
        "NaN or inf. Typically f takes a jnp.where whose unselected branch is not "
        "differentiable at these values, e.g. jnp.where(x > 0, jnp.log(x), 0.0) at x = 0 "
        "or log(0) inside jnp.logaddexp: the discarded branch's derivative is inf, and "
        "inf * 0 = NaN. Use the 'double where' of the JAX FAQ: "
        "safe = jnp.where(x > 0, x, 1.0); jnp.where(x > 0, jnp.log(safe), 0.0).",
        HessianWarning,
    )


@float64_entry_point
def hessian(f: Callable, params: Any, *args: Any, max_bytes: int | None = None) -> jax.Array:
    """Exact Hessian of a scalar function by automatic differentiation.

    Parameters
    ----------
    f : callable
        ``f(params, *args)`` returning a scalar, written in ``jax.numpy``.
    params : pytree of floating arrays
        Point at which to differentiate. Promoted to float64 (with a
        ``PrecisionWarning`` if it had less precision).
    *args
        Data passed to ``f`` as arguments. One compilation serves all data of
        the same shapes.
    max_bytes : int, optional
        Memory budget for the dense Hessian; default
        ``DEFAULT_HESSIAN_MAX_BYTES`` (4 GiB). Above it,
        :class:`HessianMemoryError` points to :func:`hvp`.

    Returns
    -------
    jax.Array
        ``(n, n)`` float64 matrix over ``ravel_pytree(params)`` order, where
        ``n`` is the total number of scalar parameters.

    Raises
    ------
    HessianMemoryError
        If the dense Hessian needs more than ``max_bytes``: the ``8 n^2``
        bytes of the matrix alone, or (for concrete inputs) XLA's measured
        memory of the compiled Hessian. The message points to :func:`hvp`.
    TypeError
        If ``f`` is not callable, a leaf of ``params`` is not a real floating
        array (integers, booleans, complex), ``f`` does not return one
        floating array, or tracing ``f`` fails because it applies NumPy or a
        Python ``if``/``int()``/``float()`` to a traced value (the message
        names the ``jax.numpy`` fix).
    ValueError
        If ``params`` has no elements, ``f`` does not return a scalar, a
        DataFrame or Series in ``args`` has non-numeric columns, or calling
        ``f(params, *args)`` fails while tracing (a key ``params`` lacks,
        mismatched shapes, data that do not match ``f``'s signature).

    Warns
    -----
    HessianWarning
        When ``f(params, *args)`` is finite but the Hessian has NaN or inf
        entries (outside ``jit``): names the parameters whose rows are not
        finite and the JAX FAQ's "double where" fix.
    PrecisionWarning
        When ``params`` or the data had less than float64 precision.
    StaleDataWarning
        When ``f`` reads data from its closure or globals and they changed
        since it was compiled (the result is correct; pass data as arguments).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import hessjax as hj
    >>> def f(p):
    ...     x, y, z = p
    ...     return 2 * y * x**4 + 2 * y**3 + 2 * x * z**3
    >>> np.asarray(hj.hessian(f, np.array([1.0, 2.0, 3.0])))
    array([[48.,  8., 54.],
           [ 8., 24.,  0.],
           [54.,  0., 36.]])
    """
    obj, x, args, _ = bind(f, params, args)
    guard_hessian_memory(obj, x, args, max_bytes)
    hess = obj.hessian_jit(x, args)
    if not is_traced(hess):
        warn_nonfinite_hessian(obj, x, args, hess)
    return hess


@float64_entry_point
def hvp(f: Callable, params: Any, v: Any, *args: Any) -> Any:
    """Exact Hessian-vector product ``H(params) @ v`` without forming ``H``.

    Costs about two gradient evaluations (forward-over-reverse), whatever
    the number of parameters.

    Parameters
    ----------
    f : callable
        ``f(params, *args)`` returning a scalar.
    params : pytree of floating arrays
        Point at which the Hessian is taken.
    v : pytree like ``params``
        The direction.
    *args
        Data passed to ``f``.

    Returns
    -------
    pytree like ``params``
        The product, float64.

    Raises
    ------
    TypeError
        If ``f`` is not callable, a leaf of ``params`` or ``v`` is not a real
        floating array (integers, booleans, complex), ``f`` does not return
        one floating array, or tracing ``f`` fails because it applies NumPy
        or a Python ``if``/``int()``/``float()`` to a traced value.
    ValueError
        If ``v`` does not have the pytree structure and leaf shapes of
        ``params``, ``params`` has no elements, ``f`` does not return a
        scalar, a DataFrame or Series in ``args`` has non-numeric columns, or
        calling ``f(params, *args)`` fails while tracing (a missing key,
        mismatched shapes or signature).

    Warns
    -----
    PrecisionWarning
        When ``params``, ``v`` or the data had less than float64 precision.
    StaleDataWarning
        When ``f`` reads data from its closure or globals and they changed
        since it was compiled.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import hessjax as hj
    >>> f = lambda p: p["a"] ** 2 * p["b"]
    >>> out = hj.hvp(f, {"a": 1.0, "b": 3.0}, {"a": 1.0, "b": 0.0})
    >>> float(out["a"]), float(out["b"])
    (6.0, 2.0)
    """
    obj, x, args, (v,) = bind(f, params, args, extra=(("v", v),))
    v_leaves, v_def = jax.tree_util.tree_flatten(v)
    if v_def != obj.spec.treedef or tuple(tuple(jnp.shape(leaf)) for leaf in v_leaves) != obj.spec.shapes:
        raise ValueError(
            "`v` must have the same pytree structure and leaf shapes as `params`; "
            f"got {v_def} with shapes {[tuple(jnp.shape(leaf)) for leaf in v_leaves]}, "
            f"expected {obj.spec.treedef} with shapes {list(obj.spec.shapes)}."
        )
    v_flat = ravel_leaves(v_leaves)
    return obj.spec.unravel(obj.hvp_jit(x, v_flat, args))
