"""Agreement checks for a job of several processes (``jax.distributed``).

Under JAX's multi-controller runtime every process runs the same program on
its own devices and the collectives join them: a process that passes a
different parameter structure, different starting values or different options
compiles a different program, and the collectives then hang or mix datasets.
Before anything that spans processes compiles, :func:`check_agree` gathers a
digest of each such input from every process and raises the same
``ValueError`` in all of them when they differ, naming the input and the
processes, so no process is left waiting in a collective.

In a single process (the common case) nothing is gathered and nothing is
compiled.
"""

from __future__ import annotations

import hashlib
from typing import Any

import jax
import numpy as np

__all__ = ["spans_processes", "replicated_leaves", "check_agree", "gather_ints", "describe_tree",
           "check_device_counts"]


def spans_processes(tree: Any) -> bool:
    """Whether a leaf of ``tree`` is a ``jax.Array`` with shards on other processes' devices."""
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.core.Tracer) or not isinstance(leaf, jax.Array):
            continue
        if not leaf.is_fully_addressable:
            return True
    return False


def replicated_leaves(tree: Any) -> list:
    """The leaves of ``tree`` held whole by this process (host arrays and arrays on its
    own devices): under SPMD they must be equal in every process."""
    return [
        leaf for leaf in jax.tree_util.tree_leaves(tree)
        if not (isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer)
                and not leaf.is_fully_addressable)
    ]


def check_device_counts() -> None:
    """Raise ``ValueError`` (in every process alike: it reads the global device list)
    unless every process of the job has the same number of devices; JAX's gathers
    across processes need equal counts."""
    counts: dict[int, int] = {}
    for d in jax.devices():
        counts[d.process_index] = counts.get(d.process_index, 0) + 1
    if len(set(counts.values())) > 1:
        raise ValueError(
            f"the processes of this jax.distributed job have different numbers of devices "
            f"({dict(sorted(counts.items()))}, by process); hessjax gathers results across processes, "
            "which needs the same count in every process: give each process the same devices "
            "(e.g. the same XLA_FLAGS or CUDA_VISIBLE_DEVICES count)."
        )


def describe_tree(tree: Any) -> str:
    """The structure, shapes and dtypes of a pytree, as a stable string."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return f"{treedef}; " + ", ".join(f"{np.shape(x)}:{np.result_type(x)}" for x in leaves)


def _digest(value: Any) -> np.ndarray:
    """Eight bytes that identify ``value`` (a string, or a pytree of host arrays) as two uint32."""
    h = hashlib.sha256()
    if isinstance(value, str):
        h.update(value.encode())
    else:
        for leaf in jax.tree_util.tree_leaves(value):
            arr = np.ascontiguousarray(np.asarray(leaf))
            h.update(f"{arr.shape}{arr.dtype}".encode())
            h.update(arr.tobytes())
    return np.frombuffer(h.digest()[:8], dtype=np.uint32)


def gather_ints(values: np.ndarray) -> np.ndarray:
    """``values`` (a 1-D array of integers in ``[0, 2**32)``, the same length in every
    process) from every process, stacked: shape ``(process_count, len(values))``."""
    from jax.experimental import multihost_utils

    local = np.asarray(values).astype(np.uint32)
    return np.asarray(multihost_utils.process_allgather(local)).reshape(jax.process_count(), -1)


def check_agree(items: dict[str, Any], context: str) -> None:
    """Raise ``ValueError`` in every process unless every process passed equal ``items``.

    ``items`` maps a description (``"parameter structure (init)"``) to a string or
    a pytree of host arrays; only digests cross the network. A collective: every
    process of the job must call it with the same keys.
    """
    if jax.process_count() == 1 or not items:
        return
    check_device_counts()
    labels = list(items)
    digests = gather_ints(np.concatenate([_digest(items[k]) for k in labels]))
    for i, label in enumerate(labels):
        column = digests[:, 2 * i: 2 * i + 2]
        differ = [p for p in range(len(column)) if not np.array_equal(column[p], column[0])]
        if differ:
            mine = items[label]
            shown = mine if isinstance(mine, str) else describe_tree(mine)
            raise ValueError(
                f"{context}: process(es) {differ} passed {label} different from process 0's. "
                f"Every process of a jax.distributed job runs the same program, so each must pass "
                f"the same {label} (process {jax.process_index()} has: {shown[:300]})."
            )
