"""The user's function bound as a flat float64 objective.

An :class:`Objective` wraps ``fun(params, *args)`` as a function of a flat
float64 vector ``x`` (``ravel_pytree`` order) and a tuple of data ``args``.
Data travel as arguments, never closures, so the jitted value, gradient,
Hessian and Hessian-vector product compile once per parameter structure and
data shape and then serve every dataset of that shape. Objectives are cached
per user function (weakly) and per parameter structure by :func:`objective_for`.

Users coming from SciPy often read data from a closure or a module global
instead. JAX compiles such values into the program as constants, so a cached
program would keep answering for the first dataset. :func:`captured_values`
finds the arrays and scalars a function reads besides its arguments (its
closure, the globals it names, ``self`` attributes, ``functools.partial``
arguments, and the same for helper functions it calls, two levels deep);
:func:`objective_for` fingerprints them and rebuilds the objective, with one
:class:`~hessjax.warnings.StaleDataWarning` per function, when they change.
A captured value that never changes is harmless and does not warn.
"""

from __future__ import annotations

import collections
import inspect
import weakref
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._tree import ParamSpec
from ._captured import captured_values, fingerprint, same_value, warn_narrowed_copies, warn_stale

__all__ = ["Objective", "objective_for", "data_signature", "captured_values"]


def data_signature(args: tuple) -> tuple:
    """Hashable description of the data: tree structure, shapes, dtypes."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    described = []
    for leaf in leaves:
        if isinstance(leaf, (bool, int, float, complex)):
            described.append(("py", type(leaf).__name__))
        elif hasattr(leaf, "dtype") and hasattr(leaf, "shape"):
            # Fast path (NumPy and JAX arrays, tracers): this runs on every call.
            described.append((tuple(leaf.shape), leaf.dtype, getattr(leaf, "weak_type", False)))
        else:
            described.append((tuple(np.shape(leaf)), str(jnp.result_type(leaf))))
    return (treedef, tuple(described))


class Objective:
    """``fun(unravel(x), *args)`` over a flat float64 ``x``, with cached derivatives.

    Parameters
    ----------
    fun : callable
        ``fun(params, *args)``, returning a scalar (or, when ``per_observation``
        is allowed, a 1-D array that is summed).
    spec : ParamSpec
        Structure of the parameter pytree.
    negate : bool
        Minimize ``-fun`` (used by ``fit``, which maximizes a log-likelihood).
    per_observation : bool
        Accept a 1-D output and sum it.
    """

    def __init__(
        self,
        fun: Callable,
        spec: ParamSpec,
        negate: bool = False,
        per_observation: bool = False,
        sum_of_squares: bool = False,
    ):
        # Held weakly when possible: the cache maps fun -> Objective, and a
        # strong reference here would keep every user function alive forever.
        try:
            self._fun_ref = weakref.WeakMethod(fun) if inspect.ismethod(fun) else weakref.ref(fun)
        except TypeError:
            self._fun_ref = lambda: fun
        self.spec = spec
        self.negate = negate
        self.per_observation = per_observation
        self.sum_of_squares = sum_of_squares
        self._checked: dict[tuple, Any] = {}
        self._solvers: dict[tuple, Callable] = {}
        self._memory_checked: dict[tuple, int] = {}
        # What the function read besides its arguments when these programs
        # were built (see objective_for); values compiled in as constants.
        self.captured: dict[str, tuple] = {}
        self.value_jit = jax.jit(self.value)
        self.value_and_grad_jit = jax.jit(self.value_and_grad)
        self.hessian_jit = jax.jit(self.hessian)
        self.hvp_jit = jax.jit(self.hvp)
        self.scores_jit = jax.jit(self.scores)

    @property
    def fun(self) -> Callable:
        fun = self._fun_ref()
        if fun is None:  # pragma: no cover - only if called after the user dropped f
            raise ReferenceError("the objective's function no longer exists")
        return fun

    # -- pure functions over flat x ------------------------------------------------
    def raw(self, x: jax.Array, args: tuple) -> jax.Array:
        """The user's output (scalar or per-observation), without sign or sum."""
        return self.fun(self.spec.unravel(x), *args)

    def value(self, x: jax.Array, args: tuple) -> jax.Array:
        """The scalar objective that is minimized (half the RSS for residuals)."""
        raw = self.raw(x, args)
        if self.sum_of_squares:
            return 0.5 * jnp.sum(raw**2).astype(jnp.float64)
        out = jnp.sum(raw).astype(jnp.float64)
        return -out if self.negate else out

    def residuals_and_jacobian(self, x: jax.Array, args: tuple) -> tuple[jax.Array, jax.Array]:
        """Residuals and their exact Jacobian ``(nobs, n)``, one forward-mode sweep."""

        def with_aux(z):
            r = self.raw(z, args)
            return r, r

        jac, r = jax.jacfwd(with_aux, has_aux=True)(x)
        return r, jac

    def value_and_grad(self, x: jax.Array, args: tuple) -> tuple[jax.Array, jax.Array]:
        return jax.value_and_grad(self.value)(x, args)

    def hessian(self, x: jax.Array, args: tuple) -> jax.Array:
        # Forward-over-reverse: n JVPs of the reverse-mode gradient, the
        # cheapest exact dense Hessian for a scalar function.
        return jax.jacfwd(jax.grad(self.value))(x, args)

    def value_grad_hessian(self, x: jax.Array, args: tuple):
        """Value, gradient and Hessian from one forward-over-reverse sweep."""

        def grad_with_aux(z):
            value, grad = jax.value_and_grad(self.value)(z, args)
            return grad, (value, grad)

        hess, (value, grad) = jax.jacfwd(grad_with_aux, has_aux=True)(x)
        return value, grad, hess

    def scores(self, x: jax.Array, args: tuple) -> jax.Array:
        """Per-observation scores ``(nobs, n)``: the Jacobian of the per-observation
        log-likelihood, by n forward-mode passes (cheap when n << nobs)."""
        return jax.jacfwd(self.raw)(x, args)

    def hvp(self, x: jax.Array, v: jax.Array, args: tuple) -> jax.Array:
        return jax.jvp(lambda z: jax.grad(self.value)(z, args), (x,), (v,))[1]

    # -- eager validation -----------------------------------------------------------
    def check(self, x: jax.Array, args: tuple, fname: str = "f", pname: str = "params") -> tuple:
        """Trace ``fun`` abstractly once per data signature and validate its output.

        Raises ``TypeError``/``ValueError`` naming the argument and the fix,
        before anything compiles. Cached, so it never counts as a retrace.
        """
        key = data_signature(args)
        if key in self._checked:
            return key
        try:
            out = jax.eval_shape(self.raw, x, args)
        except (TypeError, ValueError, IndexError) as err:
            raise ValueError(
                f"calling {fname}({pname}, *args) failed while tracing: {err}\n"
                f"Check that the shapes of `{pname}` and of the {len(args)} data "
                f"argument(s) match what {fname} expects; data must be passed as extra "
                f"positional arguments after `{pname}`, e.g. ({fname}, {pname}, X, y)."
            ) from err
        if not isinstance(out, jax.ShapeDtypeStruct):
            raise TypeError(
                f"{fname}(params, *args) must return one array, got a "
                f"{type(out).__name__}; return a scalar such as jnp.sum(...)."
            )
        if not jnp.issubdtype(out.dtype, jnp.floating):
            raise TypeError(
                f"{fname}(params, *args) returned dtype {out.dtype}; it must return a "
                "real floating scalar. Use float arithmetic (e.g. jnp.sum(x ** 2.0))."
            )
        allowed = out.ndim == 0 or (self.per_observation and out.ndim == 1)
        if not allowed:
            what = "a scalar or a 1-D array of per-observation values" if self.per_observation else "a scalar"
            raise ValueError(
                f"{fname}(params, *args) returned shape {out.shape}; it must return {what}. "
                "Reduce it, e.g. with jnp.sum(...)."
            )
        self._checked[key] = out
        return key

    def output_shape(self, args: tuple) -> tuple[int, ...]:
        """Shape of the user's output for data ``args`` (after :meth:`check`)."""
        return self._checked[data_signature(args)].shape

    def solver(self, key: tuple, build: Callable[[], Callable]) -> Callable:
        """A jitted solver cached on this objective under ``key``."""
        solve = self._solvers.get(key)
        if solve is None:
            solve = self._solvers[key] = build()
        return solve


_WEAK_CACHE: "weakref.WeakKeyDictionary[Callable, dict]" = weakref.WeakKeyDictionary()
_STRONG_CACHE: "collections.OrderedDict[Any, dict]" = collections.OrderedDict()
_STRONG_CACHE_SIZE = 64
_WARNED_STALE = "stale data warned"  # a flag kept beside the (tuple) keys of a function's cache


def _per_function_cache(fun: Callable) -> dict:
    if inspect.ismethod(fun):
        # A bound method is a new object at every attribute access: key on
        # the instance and the underlying function instead.
        try:
            return _WEAK_CACHE.setdefault(fun.__self__, {}).setdefault(fun.__func__, {})
        except TypeError:
            pass
    try:
        return _WEAK_CACHE.setdefault(fun, {})
    except TypeError:
        # Not weak-referenceable (e.g. some builtins): keep a small LRU instead.
        cache = _STRONG_CACHE.pop(fun, None) or {}
        _STRONG_CACHE[fun] = cache
        while len(_STRONG_CACHE) > _STRONG_CACHE_SIZE:
            _STRONG_CACHE.popitem(last=False)
        return cache


def objective_for(
    fun: Callable,
    spec: ParamSpec,
    negate: bool = False,
    per_observation: bool = False,
    fname: str = "f",
    sum_of_squares: bool = False,
) -> Objective:
    """The cached :class:`Objective` of ``fun`` for parameters shaped like ``spec``.

    Rebuilt, so that every compiled program and check is too, when a value
    ``fun`` reads besides its arguments (see :func:`captured_values`) changed
    since the cached one was built; the first such change per function issues
    a :class:`~hessjax.warnings.StaleDataWarning`.
    """
    if not callable(fun):
        raise TypeError(
            f"`{fname}` must be a callable {fname}(params, *args) returning a scalar; "
            f"got {type(fun).__name__}."
        )
    cache = _per_function_cache(fun)
    key = (spec, negate, per_observation, sum_of_squares)
    captured = captured_values(fun)
    prints = {label: fingerprint(value) for label, (value, _) in captured.items()}
    obj = cache.get(key)
    if obj is not None and (obj.captured or prints):
        old = obj.captured
        changed = [
            label for label in {**old, **prints}
            if label not in old or label not in prints or not same_value(old[label], prints[label])
        ]
        if changed:
            data = [label for label in changed if not label.startswith("function ")]
            if data and not cache.get(_WARNED_STALE):
                cache[_WARNED_STALE] = True
                warn_stale(fname, data)
            if any(captured[label][1] for label in changed if label in captured):
                # A jax.jit function on the way keeps its own trace of the old
                # values, out of reach of anything narrower than this.
                jax.clear_caches()
            obj = None
    if obj is None:
        obj = cache[key] = Objective(
            fun, spec, negate=negate, per_observation=per_observation, sum_of_squares=sum_of_squares
        )
        obj.captured = prints
        warn_narrowed_copies(captured, fname)
    return obj


def ravel_leaves(leaves: list) -> Any:
    """Concatenate raveled leaves: in NumPy when all are concrete NumPy arrays."""
    if all(isinstance(leaf, np.ndarray) for leaf in leaves):
        return np.concatenate([leaf.ravel() for leaf in leaves])
    return jnp.concatenate([jnp.ravel(leaf) for leaf in leaves])


def bind(
    fun: Callable,
    params: Any,
    args: tuple,
    fname: str = "f",
    pname: str = "params",
    negate: bool = False,
    per_observation: bool = False,
    extra: tuple[tuple[str, Any], ...] = (),
    sum_of_squares: bool = False,
) -> tuple[Objective, jax.Array, tuple, tuple]:
    """Validate and promote inputs; return ``(objective, flat x, data, extra64)``.

    The eager shell shared by every public entry point: float64 promotion with
    at most one ``PrecisionWarning`` per call, the cached objective, and the
    cached abstract check of the user's function. ``extra`` holds further
    parameter-like inputs as ``(name, pytree)`` (e.g. the direction of
    ``hvp``), promoted alongside. Must run inside the float64 scope.
    """
    from ._precision import as_float64_data, as_float64_params, warn_promoted
    from ._tree import param_spec

    promoted = []
    params, low = as_float64_params(params, argname=pname)
    if low:
        promoted.append(f"`{pname}`")
    extras = []
    for name, value in extra:
        value, low = as_float64_params(value, argname=name)
        extras.append(value)
        if low:
            promoted.append(f"`{name}`")
    args, low = as_float64_data(tuple(args))
    if low:
        promoted.append("data arguments")
    spec = param_spec(params)
    obj = objective_for(
        fun, spec, negate=negate, per_observation=per_observation, fname=fname,
        sum_of_squares=sum_of_squares,
    )
    x = ravel_leaves(jax.tree_util.tree_leaves(params))
    obj.check(x, args, fname=fname, pname=pname)
    warn_promoted(promoted)
    return obj, x, args, tuple(extras)
