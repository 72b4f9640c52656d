"""Values a user function reads besides its arguments (closures, globals, ``self``).

Users coming from SciPy often read data from a closure or a module global.
JAX compiles such values into the program as constants, so a cached program
would keep answering for the first dataset. :func:`captured_values` finds the
arrays, scalars and helper functions a function reads (its closure, the
globals it names, ``self`` attributes, ``functools.partial`` arguments, and
the same for helper functions it calls, two levels deep); :func:`fingerprint`
and :func:`same_value` let :mod:`hessjax.objective` rebuild an objective, with
one :class:`~hessjax.warnings.StaleDataWarning`, when they change.
"""

from __future__ import annotations

import dis
import functools
import types
import zlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .warnings import PrecisionWarning, StaleDataWarning, warn

__all__ = ["captured_values", "fingerprint", "same_value", "warn_narrowed_copies", "warn_stale"]


# -- values a function reads besides its arguments -----------------------------------

_HELPER_DEPTH = 2  # helper functions followed below the user's function
_CONTAINER_ITEMS = 64  # a captured tuple/list/dict longer than this is not looked into
_LIBRARIES = {"jax", "jaxlib", "numpy", "scipy", "hessjax"}  # helpers not looked into
_ARRAY_TYPES = (np.ndarray, jax.Array, jax.core.Tracer)
_SCALAR_TYPES = (bool, int, float, complex, str, np.generic)
_CODE_READS: dict[int, tuple] = {}  # id(code) -> (code, globals, attributes, assigned)


def _code_reads(code: types.CodeType) -> tuple[tuple[str, ...], frozenset, frozenset]:
    """Global and attribute names ``code`` (and the code nested in it) reads but
    never assigns, and the names it assigns: those are the function's own
    state (counters, caches), not data."""
    entry = _CODE_READS.get(id(code))
    if entry is None or entry[0] is not code:
        loaded_globals, loaded_attrs, stored = set(), set(), set()
        pending = [code]
        while pending:
            current = pending.pop()
            for ins in dis.get_instructions(current):
                if ins.opname == "LOAD_GLOBAL":
                    loaded_globals.add(ins.argval)
                elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
                    loaded_attrs.add(ins.argval)
                elif ins.opname in ("STORE_GLOBAL", "STORE_ATTR", "STORE_DEREF"):
                    stored.add(ins.argval)
            pending.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
        if len(_CODE_READS) > 4096:  # code made at run time (exec) must not pile up
            _CODE_READS.clear()
        entry = _CODE_READS[id(code)] = (
            code, tuple(sorted(loaded_globals - stored)), frozenset(loaded_attrs - stored), frozenset(stored)
        )
    return entry[1:]


class _CaptureScan:
    """One walk over a function and its helpers: ``found`` maps a label saying
    where a value was read to ``(value, via_jit)``."""

    def __init__(self) -> None:
        self.found: dict[str, tuple[Any, bool]] = {}
        self.seen: set[int] = set()

    def data(self, value: Any, label: str, via_jit: bool) -> bool:
        """Record an array or scalar, or look into a short tuple (arrays and
        scalars) or list/dict (arrays only: scalars kept in mutable containers
        are too often counters). Returns whether ``value`` was data."""
        if isinstance(value, _ARRAY_TYPES) or isinstance(value, _SCALAR_TYPES):
            self.found[label] = (value, via_jit)
            return True
        if isinstance(value, (tuple, list, dict)):
            if len(value) <= _CONTAINER_ITEMS:
                kept = _ARRAY_TYPES + _SCALAR_TYPES if isinstance(value, tuple) else _ARRAY_TYPES
                for key, item in value.items() if isinstance(value, dict) else enumerate(value):
                    if isinstance(item, kept):
                        self.found[f"{label}[{key!r}]"] = (item, via_jit)
            return True
        return False

    def attributes(self, obj: Any, names: frozenset, label: str, via_jit: bool) -> None:
        """Data among the attributes ``names`` of a plain object (never the whole object)."""
        attributes = getattr(obj, "__dict__", None)
        if names and isinstance(attributes, dict):
            for attr in names.intersection(attributes):
                self.data(attributes[attr], f"attribute '{label}.{attr}'", via_jit)

    def function(self, fun: Any, where: str, depth: int, via_jit: bool) -> None:
        if id(fun) in self.seen:
            return
        self.seen.add(id(fun))
        while isinstance(fun, functools.partial):  # jax.tree_util.Partial included
            for i, arg in enumerate(fun.args):
                self.data(arg, f"partial argument {i}{where}", via_jit)
            for name, arg in fun.keywords.items():
                self.data(arg, f"partial argument '{name}'{where}", via_jit)
            fun = fun.func
        for _ in range(4):  # jax.jit and functools.wraps keep the function as __wrapped__
            if isinstance(fun, types.FunctionType) or not callable(getattr(fun, "__wrapped__", None)):
                break
            via_jit, fun = True, fun.__wrapped__
        owner = None
        if isinstance(fun, types.MethodType):
            owner, fun = fun.__self__, fun.__func__
        elif not isinstance(fun, (types.FunctionType, type)):
            owner, fun = fun, getattr(type(fun), "__call__", None)  # a callable instance
        if not isinstance(fun, types.FunctionType):
            return  # builtins, ufuncs, classes: nothing of the user's data
        global_names, attributes, assigned = _code_reads(fun.__code__)
        if owner is not None:
            self.attributes(owner, attributes, "self", via_jit)
        for name, cell in zip(fun.__code__.co_freevars, fun.__closure__ or ()):
            if name not in assigned:
                try:
                    value = cell.cell_contents
                except ValueError:  # a cell not yet assigned
                    continue
                self.value(value, name, f"closure variable '{name}'{where}", attributes, depth, via_jit)
        namespace = fun.__globals__
        for name in global_names:
            if name in namespace:
                self.value(namespace[name], name, f"global '{name}'{where}", attributes, depth, via_jit)

    def value(self, value: Any, name: str, label: str, attributes: frozenset, depth: int, via_jit: bool):
        if isinstance(value, (types.ModuleType, type)) or id(value) in self.seen:
            return  # in seen: the function itself (recursion), never held by its own cache
        if self.data(value, label, via_jit):
            return
        if isinstance(value, (types.FunctionType, types.MethodType, functools.partial)) or (
            callable(value) and hasattr(value, "__wrapped__")
        ):
            # A helper rebound to another function changes the program too.
            self.found[f"function {label}"] = (value, via_jit)
            library = (getattr(value, "__module__", None) or "").partition(".")[0] in _LIBRARIES
            if depth < _HELPER_DEPTH and not library:
                self.function(value, f" of helper '{name}'", depth + 1, via_jit)
        else:
            self.attributes(value, attributes, name, via_jit)


def captured_values(fun: Callable) -> dict[str, tuple[Any, bool]]:
    """Arrays, scalars and helper functions ``fun`` reads besides its arguments.

    Returns ``{label: (value, via_jit)}``; ``label`` says where the value was
    found (``"global 'y'"``, ``"closure variable 'X'"``, ``"attribute
    'self.y'"``, ``"partial argument 0"``, with ``" of helper 'name'"`` for a
    helper's); ``via_jit`` says it was read through a ``jax.jit`` function,
    whose own trace cache holds it too. The code analysis is cached per code
    object: a function that reads no data costs a few dictionary lookups.
    """
    scan = _CaptureScan()
    scan.function(fun, "", 0, False)
    return scan.found


def fingerprint(value: Any) -> tuple:
    """What identifies a captured value: content for NumPy arrays (users mutate
    them in place; CRC-32 runs at about 2 GB/s, four times BLAKE2b, and a
    change detector needs no cryptographic strength), identity for JAX arrays,
    tracers and functions (held, so ids are not recycled), ``repr`` for scalars."""
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return ("numpy", value.shape, value.dtype.str, zlib.crc32(np.ascontiguousarray(value)))
    if isinstance(value, _SCALAR_TYPES):
        return ("scalar", repr(value))
    return ("object", value)


def same_value(old: tuple, new: tuple) -> bool:
    if old[0] != "object" or new[0] != "object":
        return old == new
    a, b = old[1], new[1]
    if a is b:
        return True
    # An equal JAX array rebuilt under the same name is not a change.
    return (
        isinstance(a, jax.Array) and isinstance(b, jax.Array)
        and not isinstance(a, jax.core.Tracer) and not isinstance(b, jax.core.Tracer)
        and a.shape == b.shape and a.dtype == b.dtype
        and a.is_fully_addressable and b.is_fully_addressable
        and bool(np.array_equal(np.asarray(a), np.asarray(b)))
    )


def warn_narrowed_copies(captured: dict, fname: str) -> None:
    """Warn when JAX would substitute a float32 copy for a captured float64 array.

    JAX caches the converted copy of a NumPy array per array object whatever
    the precision mode: once a ``jax.jit`` function traced outside float64 has
    read the array, every later trace gets that float32 copy, ours too.
    Arguments are immune (see :func:`hessjax._precision.fresh_numpy`).
    """
    if jax.dtypes.canonicalize_dtype(np.float64) != np.float64:
        return
    narrowed = [
        label for label, (value, _) in captured.items()
        if isinstance(value, np.ndarray) and value.dtype in (np.float64, np.complex128)
        and jnp.asarray(value).dtype != value.dtype
    ]
    if narrowed:
        warn(
            f"`{fname}` reads {', '.join(narrowed)} besides its arguments, and JAX already "
            "holds a float32 copy of it (a jax.jit function read it outside float64) that it "
            "will use here too: the computation fails or loses digits. Pass it as an "
            f"argument, {fname}(params, *data); hessjax converts arguments itself.",
            PrecisionWarning,
        )


def warn_stale(fname: str, labels: list[str]) -> None:
    warn(
        f"`{fname}` reads {', '.join(labels)} besides its arguments, and "
        f"{'it' if len(labels) == 1 else 'they'} changed since its programs were compiled. "
        "JAX compiles such values in as constants: hessjax recompiled, so this result is "
        "correct, but every change costs a compilation. Pass data as arguments, "
        f"{fname}(params, *data) with hj.fit({fname}, init, *data): one compilation then "
        "serves every dataset of the same shape.",
        StaleDataWarning,
    )
