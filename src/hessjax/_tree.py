"""Parameter pytrees as flat float64 vectors, and readable parameter names.

Every matrix hessjax returns (Hessians, covariances, inverse-Hessian
approximations) is indexed in :func:`jax.flatten_util.ravel_pytree` order:
leaves in ``tree_flatten`` order, each leaf raveled in C order.

A list of numbers in the parameters (``[0.0, 0.0]``, or nested lists of
numbers such as ``[[1, 0], [0, 1]]``) is one array, not one scalar leaf per
number: see :func:`lists_as_arrays`. Tuples, dicts, named tuples and lists
holding arrays keep their structure.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ParamSpec",
    "param_spec",
    "param_names",
    "spec_names",
    "lists_as_arrays",
    "is_number_sequence",
]


def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Number, np.number, np.bool_)) and not isinstance(
        value, (np.ndarray, jax.Array)
    )


def is_number_sequence(value: Any, kinds: tuple[type, ...] = (list,)) -> bool:
    """Whether ``value`` is a non-empty ``kinds`` container of numbers, or of
    such containers (nested lists of numbers), i.e. what ``np.asarray`` turns
    into one numeric array. Arrays (even 0-d) are not numbers here: a list of
    arrays is a legitimate pytree of leaves."""
    if type(value) not in kinds or not value:  # exact types: named tuples are structure
        return False
    first = value[0]
    if _is_number(first):
        return all(_is_number(item) for item in value)
    return all(is_number_sequence(item, kinds) for item in value)


def lists_as_arrays(tree: Any, kinds: tuple[type, ...] = (list,)) -> Any:
    """``tree`` with every (nested) list of numbers replaced by one NumPy array.

    ``{"beta": [0.0, 0.0]}`` becomes ``{"beta": np.array([0.0, 0.0])}``: one
    leaf of shape ``(2,)``, which the function can use as a vector
    (``X @ p["beta"]``) and which compiles like one array (a list of numbers
    would be one scalar leaf, and one program input, per number). Ragged lists
    (which NumPy cannot make one array of) are left as they are.
    """

    def convert(node):
        if is_number_sequence(node, kinds):
            try:
                return np.asarray(node)
            except ValueError:  # ragged
                return node
        return node

    if is_number_sequence(tree, kinds):
        return convert(tree)
    return jax.tree_util.tree_map(convert, tree, is_leaf=lambda node: is_number_sequence(node, kinds))


@dataclass(frozen=True)
class ParamSpec:
    """Structure of a parameter pytree: hashable, so it can key caches.

    ``unravel`` maps a flat vector back to the pytree (traced or eager JAX
    arrays); :meth:`unravel_host` does the same in NumPy, with any leading
    batch axes, without tracing or compiling anything.

    Inside a compiled program every leaf is one program value, so a pytree of
    many small leaves costs compile time per leaf wherever it is built. The
    traced ``unravel`` is the cheapest construction (measured against one
    slice per leaf, indexing, ``jnp.unstack`` and ``dynamic_slice``): one
    ``split`` of the flat vector plus one ``reshape`` per leaf, whose
    derivative is one ``concatenate`` (a slice per leaf would transpose to a
    ``pad`` per leaf). Results that leave a compiled program are cheapest
    returned flat and unraveled on the host with :meth:`unravel_host`: every
    leaf of a program output is a separate buffer, one kernel each.
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    size: int
    unravel: Callable = field(default=None, repr=False)  # excluded from equality below

    def __hash__(self) -> int:
        return hash((self.treedef, self.shapes))

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ParamSpec)
            and self.treedef == other.treedef
            and self.shapes == other.shapes
        )

    @property
    def offsets(self) -> tuple[int, ...]:
        """Where each leaf ends in the flat vector."""
        return tuple(int(v) for v in np.cumsum([int(np.prod(s, dtype=np.int64)) for s in self.shapes]))

    def unravel_host(self, flat: Any) -> Any:
        """The pytree of ``flat`` (shape ``(..., size)``) as NumPy arrays.

        Leading axes (a batch of fits) are kept on every leaf:
        ``(B, size) -> {"mu": (B,), "beta": (B, 3)}``. Traced input (under
        ``jit``/``vmap``) is unraveled with JAX operations instead.
        """
        if isinstance(flat, jax.core.Tracer) or (
            isinstance(flat, jax.Array) and not flat.is_fully_addressable
        ):
            return self._unravel_batched(flat)
        flat = np.asarray(flat)
        batch = flat.shape[:-1]
        leaves, start = [], 0
        for shape, stop in zip(self.shapes, self.offsets):
            leaves.append(flat[..., start:stop].reshape(batch + shape))
            start = stop
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def _unravel_batched(self, flat: jax.Array) -> Any:
        batch = tuple(flat.shape[:-1])
        pieces = jnp.split(flat, self.offsets[:-1], axis=-1) if len(self.shapes) > 1 else [flat]
        leaves = [piece.reshape(batch + shape) for piece, shape in zip(pieces, self.shapes)]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def _make_unravel(treedef: Any, shapes: tuple[tuple[int, ...], ...], size: int) -> Callable:
    """``flat (size,) -> pytree``: one ``split`` and one ``reshape`` per leaf.

    A single leaf is one ``reshape``. The flat vector is float64 (hessjax's
    parameters always are), so no dtype conversion per leaf is needed.
    """
    ends = np.cumsum([int(np.prod(s, dtype=np.int64)) for s in shapes])
    cuts = tuple(int(v) for v in ends[:-1])

    def unravel(flat):
        if jnp.shape(flat) != (size,):
            raise ValueError(
                f"the flat parameter vector must have shape ({size},), got {jnp.shape(flat)}."
            )
        if len(shapes) == 1:
            leaves = [jnp.reshape(flat, shapes[0])]
        else:
            leaves = [jnp.reshape(piece, shape) for piece, shape in zip(jnp.split(flat, cuts), shapes)]
        return jax.tree_util.tree_unflatten(treedef, leaves)

    return unravel


_SPECS: dict[tuple, ParamSpec] = {}


def param_spec(params: Any) -> ParamSpec:
    """Return the cached :class:`ParamSpec` of a float64 parameter pytree."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    shapes = tuple(tuple(int(d) for d in np.shape(leaf)) for leaf in leaves)
    key = (treedef, shapes)
    spec = _SPECS.get(key)
    if spec is None:
        size = int(sum(int(np.prod(s, dtype=np.int64)) for s in shapes))
        spec = ParamSpec(treedef, shapes, size, _make_unravel(treedef, shapes, size))
        _SPECS[key] = spec
    return spec


_NAMES: dict[ParamSpec, tuple[str, ...]] = {}


def spec_names(spec: ParamSpec) -> tuple[str, ...]:
    """Parameter names of a structure, computed once per structure."""
    names = _NAMES.get(spec)
    if names is None:
        template = jax.tree_util.tree_unflatten(
            spec.treedef, [np.zeros(shape) for shape in spec.shapes]
        )
        names = _NAMES[spec] = tuple(param_names(template))
    return names


def check_names(names: Any, default: tuple[str, ...], argname: str = "names") -> tuple[str, ...]:
    """``names`` (one distinct string per parameter) as a tuple, or ``default`` when None.

    For inputs that are flat arrays, whose own names are ``x[0], x[1], ...``; raises a
    ``ValueError`` naming ``argname`` and the expected count otherwise.
    """
    if names is None:
        return tuple(default)
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"`{argname}` must be a sequence of strings, one per parameter, got {names!r}.")
    names = tuple(names)
    if len(names) != len(default):
        raise ValueError(
            f"`{argname}` gives {len(names)} name(s) for {len(default)} parameter(s); pass one per "
            f"parameter, in the order {list(default)[:6]}{' ...' if len(default) > 6 else ''}."
        )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"`{argname}` repeats {dup}: each parameter needs its own name.")
    return names


def _path_label(path) -> str:
    label = ""
    for entry in path:
        if isinstance(entry, jax.tree_util.DictKey):
            part = str(entry.key)
        elif isinstance(entry, jax.tree_util.GetAttrKey):
            part = entry.name
        elif isinstance(entry, jax.tree_util.SequenceKey):
            label = (label or "p") + f"[{entry.idx}]"
            continue
        else:  # FlattenedIndexKey and custom keys
            part = str(getattr(entry, "key", entry))
        label = f"{label}.{part}" if label else part
    return label


def name_groups(spec: ParamSpec, names: tuple[str, ...] | None = None) -> dict[str, tuple[int, ...]]:
    """Every name a user may give a parameter by, to its flat indices.

    The flattened names of :func:`param_names` (``"beta[2]"``), or the
    user's ``names`` in their place, map to one index; a leaf's own label
    (``"beta"``) and a top-level key of a dict ``init`` (``"coef"`` for
    ``{"coef": {"a": .., "b": ..}}``) map to all of their elements, in
    ``ravel_pytree`` order.
    """
    template = jax.tree_util.tree_unflatten(spec.treedef, [np.zeros(shape) for shape in spec.shapes])
    groups: dict[str, list[int]] = {}
    flat = spec_names(spec) if names is None else tuple(names)
    for i, name in enumerate(flat):
        groups.setdefault(name, []).append(i)
    start = 0
    for (path, _), stop in zip(jax.tree_util.tree_flatten_with_path(template)[0], spec.offsets):
        for label in {_path_label(path) or "x", _path_label(path[:1]) or "x"}:
            if names is not None and label in names:
                continue  # the user's name for one element wins over a leaf label
            members = groups.setdefault(label, [])
            members.extend(i for i in range(start, stop) if i not in members)
        start = stop
    return {name: tuple(sorted(idx)) for name, idx in groups.items()}


def param_names(params: Any) -> list[str]:
    """Readable names for each element of ``params``, in ``ravel_pytree`` order.

    Dict keys and attribute names become names, array elements get an index:
    ``beta[0]``, ``log_sigma``, ``w[1,2]``. A bare array is called ``x``; a
    top-level tuple or list is called ``p``.

    Parameters
    ----------
    params : pytree of arrays
        The parameter pytree (only shapes are used).

    Returns
    -------
    list of str
        One name per scalar parameter.

    Examples
    --------
    >>> import numpy as np
    >>> import hessjax as hj
    >>> hj.param_names({"beta": np.zeros(2), "log_sigma": 0.0})
    ['beta[0]', 'beta[1]', 'log_sigma']
    >>> hj.param_names(np.zeros((2, 2)))
    ['x[0,0]', 'x[0,1]', 'x[1,0]', 'x[1,1]']

    A list of numbers is one vector, as in the fitting functions:

    >>> hj.param_names({"beta": [0.0, 0.0]})
    ['beta[0]', 'beta[1]']
    """
    names: list[str] = []
    params = lists_as_arrays(params)
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        base = _path_label(path) or "x"
        shape = np.shape(leaf)
        if shape == ():
            names.append(base)
            continue
        for index in np.ndindex(*shape):
            names.append(f"{base}[{','.join(str(i) for i in index)}]")
    return names
