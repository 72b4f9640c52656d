"""Parameter pytrees as flat float64 vectors, and readable parameter names.

Every matrix hessjax returns (Hessians, covariances, inverse-Hessian
approximations) is indexed in :func:`jax.flatten_util.ravel_pytree` order:
leaves in ``tree_flatten`` order, each leaf raveled in C order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = ["ParamSpec", "param_spec", "param_names", "spec_names"]


@dataclass(frozen=True)
class ParamSpec:
    """Structure of a parameter pytree: hashable, so it can key caches.

    ``unravel`` maps a flat vector back to the pytree; it is built once per
    structure so that functions closing over it are created once too.
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    size: int
    unravel: Callable = None  # excluded from equality below

    def __hash__(self) -> int:
        return hash((self.treedef, self.shapes))

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ParamSpec)
            and self.treedef == other.treedef
            and self.shapes == other.shapes
        )


_SPECS: dict[tuple, ParamSpec] = {}


def param_spec(params: Any) -> ParamSpec:
    """Return the cached :class:`ParamSpec` of a float64 parameter pytree."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    shapes = tuple(tuple(np.shape(leaf)) for leaf in leaves)
    key = (treedef, shapes)
    spec = _SPECS.get(key)
    if spec is None:
        template = jax.tree_util.tree_unflatten(
            treedef, [np.zeros(s, dtype=np.float64) for s in shapes]
        )
        flat, unravel = ravel_pytree(template)
        spec = ParamSpec(treedef, shapes, int(flat.size), unravel)
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
    """
    names: list[str] = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        base = _path_label(path) or "x"
        shape = np.shape(leaf)
        if shape == ():
            names.append(base)
            continue
        for index in np.ndindex(*shape):
            names.append(f"{base}[{','.join(str(i) for i in index)}]")
    return names
