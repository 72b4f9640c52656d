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
import difflib
import inspect
import weakref
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._tree import ParamSpec
from ._captured import captured_values, fingerprint, same_value, warn_narrowed_copies, warn_stale

__all__ = [
    "Objective",
    "objective_for",
    "data_signature",
    "captured_values",
    "tracing_error",
    "keyword_data_hint",
    "STARTING_VALUE_NAMES",
]

#: Parameter-argument names that hold starting values (fits and minimizers):
#: integers and float32 there are promoted to float64 without a warning.
STARTING_VALUE_NAMES = frozenset({"init", "x0"})


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
        self._fun_ref = weak_callable(fun)
        self.spec = spec
        self.negate = negate
        self.per_observation = per_observation
        self.sum_of_squares = sum_of_squares
        self._checked: dict[tuple, Any] = {}
        # The compiled-program cache: every jitted program built on this objective
        # (fit, fit_batch, least_squares, profile, ...), released with it.
        self._programs: dict[tuple, Callable] = {}
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
        before anything compiles (see :func:`tracing_error` for the hints
        given when ``fun`` itself fails). Cached, so it never counts as a
        retrace.
        """
        key = data_signature(args)
        if key in self._checked:
            return key
        try:
            out = jax.eval_shape(self.raw, x, args)
        except _TRACING_ERRORS as err:
            raise tracing_error(err, self.fun, self.spec, args, fname, pname) from err
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

    def program(self, key: tuple, build: Callable[[], Callable]) -> Callable:
        """The compiled program cached on this objective under ``key`` (built by
        ``build()`` on first use). Programs live as long as the objective, which
        lives as long as the user's function: nothing here is global."""
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = build()
        return program


# -- errors raised while tracing the user's function ---------------------------------

# KeyError and AttributeError are not subclasses of TypeError/ValueError; the
# JAX tracer errors (ConcretizationTypeError, TracerArrayConversionError, ...)
# are TypeErrors.
_TRACING_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError)


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _dict_keys(tree: Any) -> list:
    """Keys of the dicts in ``tree`` (top level first), without repeats."""
    keys: list = []
    if isinstance(tree, dict):
        keys.extend(tree)
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
        for entry in path:
            if isinstance(entry, jax.tree_util.DictKey) and entry.key not in keys:
                keys.append(entry.key)
    return keys


def _signature_mismatch(fun: Callable, nargs: int) -> str | None:
    """The ``TypeError`` binding ``fun(params, *nargs data)`` would give, if any."""
    try:
        inspect.signature(fun).bind(None, *([None] * nargs))
    except TypeError as err:
        return str(err)
    except ValueError:  # no signature (builtins)
        return None
    return None


def _signature_text(fun: Callable, fname: str) -> str:
    try:
        return f"{fname}{inspect.signature(fun)}"
    except (TypeError, ValueError):
        return f"{fname}(...)"


def tracing_error(
    err: BaseException, fun: Callable, spec: ParamSpec, args: tuple, fname: str = "f",
    pname: str = "params",
) -> Exception:
    """The error to raise (``from err``) when tracing ``fun(params, *args)`` failed.

    One hint per kind of mistake: a key ``params`` lacks (naming the keys it
    has), an attribute a dict or a traced array lacks, a NumPy/SciPy function
    applied to a traced value (use ``jnp``), a Python ``if``/``int()``/
    ``float()`` on one (use ``jnp.where``/``jax.lax.cond``), a call that does
    not match ``fun``'s signature, and shape mismatches.
    """
    head = f"calling {fname}({pname}, *args) failed while tracing: {type(err).__name__}: {_first_line(err)}"
    errors = jax.errors
    template = jax.tree_util.tree_unflatten(spec.treedef, [np.zeros(s) for s in spec.shapes])
    kind = "a dict" if isinstance(template, dict) else (
        "an array" if spec.treedef.num_leaves == 1 and jax.tree_util.treedef_is_leaf(spec.treedef)
        else f"a {type(template).__name__}"
    )

    if isinstance(err, KeyError):
        missing = err.args[0] if err.args else None
        keys = _dict_keys(template)
        data_keys = [k for arg in args for k in _dict_keys(arg)]
        if keys:
            close = difflib.get_close_matches(str(missing), [str(k) for k in keys], n=1)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            hint = (
                f"`{pname}` has no key {missing!r}; its keys are {keys}.{guess} Every name "
                f"{fname} reads from `{pname}` must be a key of `{pname}`: rename it, or add "
                f"it with a starting value (e.g. {pname}[{missing!r}] = 0.0)."
            )
        else:
            hint = (
                f"{fname} read the key {missing!r}, but `{pname}` is {kind}, not a dict. Pass "
                f"`{pname}` as a dict, e.g. {{{missing!r}: 0.0, ...}}, or index it by position."
            )
        if data_keys:
            hint += f" (The data dicts have the keys {data_keys}.)"
        return ValueError(f"{head}\n{hint}")

    if isinstance(err, AttributeError):
        name = getattr(err, "name", None)
        obj = getattr(err, "obj", None)
        keys = _dict_keys(template)
        if isinstance(obj, dict) or (name is not None and name in keys):
            hint = (
                f"`{pname}` is {kind}: read its entries with square brackets, "
                f"{pname}[{name!r}], not as attributes ({pname}.{name})."
                if name is not None else f"`{pname}` is {kind}: read its entries with square brackets."
            )
        elif isinstance(obj, jax.core.Tracer) or "Tracer" in str(err) or "ArrayImpl" in str(err):
            hint = (
                f"inside {fname}, the parameters and the data are JAX arrays, which have no "
                f"attribute {name!r}. Use jax.numpy functions on them; convert pandas objects "
                "before the call (DataFrames and Series passed as data are converted to arrays "
                "for you, so .values, .iloc or .to_numpy() are not needed inside)."
            )
        else:
            hint = (
                f"check what {fname} receives: `{pname}` is {kind} shaped like the starting "
                "values, and the data arguments are arrays (DataFrames and Series become arrays)."
            )
        return ValueError(f"{head}\n{hint}")

    if isinstance(err, errors.TracerArrayConversionError):
        hint = (
            f"{fname} passed a traced value (a parameter, or data) to NumPy or SciPy, e.g. "
            "np.log(p). hessjax differentiates with JAX, which cannot see inside NumPy: use "
            "jax.numpy instead of numpy (import jax.numpy as jnp; jnp.log, jnp.exp, jnp.sum, ...) "
            "and jax.scipy.special / jax.scipy.stats instead of scipy."
        )
        return TypeError(f"{head}\n{hint}")

    if isinstance(err, errors.TracerBoolConversionError):
        hint = (
            f"{fname} uses a Python `if`, `while`, `and`/`or` or bool() on a value that depends "
            "on the parameters or the data. JAX traces the function once for all values, so "
            "it cannot take such a branch: use jnp.where(condition, a, b) to choose values, "
            "or jax.lax.cond for branches (and jnp.logical_and / jnp.logical_or)."
        )
        return TypeError(f"{head}\n{hint}")

    if isinstance(err, errors.TracerIntegerConversionError):
        hint = (
            f"{fname} turns a value that depends on the parameters or the data into a Python "
            "int (int(...), range(...), or indexing a list with it). Sizes and counts must be "
            "fixed: compute them outside and pass them as Python ints (functools.partial or a "
            "closure), and index arrays with jnp indexing instead of Python lists."
        )
        return TypeError(f"{head}\n{hint}")

    if isinstance(err, errors.ConcretizationTypeError):
        hint = (
            f"{fname} needs the concrete value of something that depends on the parameters or "
            "the data (float(...), .item(), a Python branch on it, or a shape computed from "
            "values). Keep it an array: use jnp.where / jax.lax.cond instead of `if`, and "
            "shapes that do not depend on values."
        )
        return TypeError(f"{head}\n{hint}")

    mismatch = _signature_mismatch(fun, len(args)) if isinstance(err, TypeError) else None
    if mismatch is not None:
        hint = (
            f"{fname} was called as {fname}({pname}, <{len(args)} data argument(s)>), which "
            f"does not match {_signature_text(fun, fname)}: {mismatch}. The data must be passed "
            f"as extra positional arguments after `{pname}`, in the order of {fname}'s "
            f"parameters, e.g. ({fname}, {pname}, X, y)."
        )
        return ValueError(f"{head}\n{hint}")

    hint = (
        f"Check that the shapes of `{pname}` and of the {len(args)} data "
        f"argument(s) match what {fname} expects; data must be passed as extra "
        f"positional arguments after `{pname}`, e.g. ({fname}, {pname}, X, y)."
    )
    return ValueError(f"{head}\n{hint}")


def keyword_data_hint(fun: Callable, options: dict, fname: str = "loglik", pname: str = "init",
                      entry: str = "fit") -> str:
    """A one-line hint when unknown keyword options look like data for ``fun``.

    ``fit(loglik, init, y=y)`` hands ``y`` to the optimizer as an option; when
    an unknown option is named like one of ``fun``'s data parameters, or holds
    an array, a list or a DataFrame, the data were meant. Returns ``""``
    otherwise. For the entry point's error about unknown options.
    """
    try:
        names = list(inspect.signature(fun).parameters)[1:]
    except (TypeError, ValueError):
        names = []
    looks_like_data = [
        key for key, value in options.items()
        if key in names or isinstance(value, (np.ndarray, jax.Array, list, tuple))
        or hasattr(value, "to_numpy")
    ]
    if not looks_like_data:
        return ""
    order = ", ".join(names) if names else ", ".join(looks_like_data)
    return (
        f"{', '.join(f'`{k}`' for k in looks_like_data)} look(s) like data for {fname}: data are "
        f"passed positionally after `{pname}`, in the order of {fname}'s parameters, "
        f"e.g. {entry}({fname}, {pname}, {order})."
    )


_WEAK_CACHE: "weakref.WeakKeyDictionary[Callable, dict]" = weakref.WeakKeyDictionary()
_STRONG_CACHE: "collections.OrderedDict[Any, dict]" = collections.OrderedDict()
_STRONG_CACHE_SIZE = 64
_WARNED_STALE = "stale data warned"  # a flag kept beside the (tuple) keys of a function's cache


def weak_callable(fun: Callable) -> Callable[[], Callable | None]:
    """A weak reference to ``fun`` (``WeakMethod`` for bound methods), or a strong
    one when ``fun`` cannot be weakly referenced (then only the bounded LRU of
    :func:`function_cache` keeps it)."""
    try:
        return weakref.WeakMethod(fun) if inspect.ismethod(fun) else weakref.ref(fun)
    except TypeError:
        return lambda: fun


def function_cache(fun: Callable) -> dict:
    """The cache dict of ``fun`` (compiled objectives and anything else keyed on
    the user's function), released with the function. Values must not hold
    ``fun`` strongly (use :func:`weak_callable`), or it is never released."""
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
    cache = function_cache(fun)
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
    starting_values: bool | None = None,
) -> tuple[Objective, jax.Array, tuple, tuple]:
    """Validate and promote inputs; return ``(objective, flat x, data, extra64)``.

    The eager shell shared by every public entry point: float64 promotion with
    at most one ``PrecisionWarning`` per call, the cached objective, and the
    cached abstract check of the user's function. ``extra`` holds further
    parameter-like inputs as ``(name, pytree)`` (e.g. the direction of
    ``hvp``), promoted alongside. Must run inside the float64 scope.

    Inputs people pass:

    * ``params`` are starting values when ``starting_values`` (by default:
      when ``pname`` is ``"init"`` or ``"x0"``): integers are accepted, and
      neither they nor float32 values warn (the optimizer leaves them
      behind). Evaluation points (``params`` of ``hessian``) must be floating
      and warn when narrower than float64.
    * A list of numbers in ``params`` is one array (``{"beta": [0.0, 0.0]}``).
    * Data: a pandas DataFrame or Series becomes one array, and a list or
      tuple of numbers becomes one array, once, here (see
      :func:`hessjax._precision.as_data_arrays`); tuples, lists and dicts of
      arrays stay pytrees. Only data that lost digits (float32 arrays or
      columns) warn.
    """
    from ._precision import as_float64_data, as_float64_params, warn_promoted
    from ._tree import param_spec

    if starting_values is None:
        starting_values = pname in STARTING_VALUE_NAMES
    promoted = []
    params, low = as_float64_params(params, argname=pname, starting_values=starting_values)
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
