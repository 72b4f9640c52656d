"""``fit_batch``: many datasets of one shape fitted by one compiled, vmapped program.

The single-fit pipeline of :func:`hessjax.fit` (optimizer, exact Hessian,
Cholesky-gated covariance, certificate) is pure, so ``jax.vmap`` turns it into
a batched program. The batch is cut into chunks of a fixed size (the last one
padded), so one compilation serves every chunk; within a chunk there are no
host round-trips. With several devices visible, each chunk is split across
them with a ``NamedSharding`` over a one-axis ``Mesh``; :func:`shard_data`
does the same for the observations of one large dataset.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import time
import weakref
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._processes import check_agree, describe_tree, gather_ints
from ._precision import as_data_arrays, as_float64_data, float64_entry_point, warn_promoted
from .bounded import CONSTRAINT_ARGS, constrain, natural_result
from .fit import attach, prepare_fit, recertify_steep_batch
from .diagnostics import warn_batch
from .results import FitResult

__all__ = [
    "fit_batch",
    "shard_data",
    "batched_fit_program",
    "simulate_batch",
    "as_key",
    "DEFAULT_BATCH_MAX_BYTES",
]

#: Default working-set budget of one chunk on CPU (devices that do not report
#: their memory): chunks whose intermediates stay in cache run 2-3x faster than
#: one huge vmapped batch (20,000 normal fits: 0.72 s in chunks of 1,000 against
#: 1.9 s in one chunk, 2 cores), and a vmapped while loop runs until the
#: slowest fit of its chunk stops, so smaller chunks also waste fewer
#: iterations. On accelerators the default is a quarter of the device memory.
DEFAULT_BATCH_MAX_BYTES = 2**24

#: Fewest fits per device in a default chunk (vectorization needs some width).
MIN_DEFAULT_CHUNK = 32

# -- inputs ---------------------------------------------------------------------------
def _normalize_axes(in_axes: Any, n_data: int) -> tuple:
    if in_axes is None or isinstance(in_axes, (int, np.integer)) and not isinstance(in_axes, bool):
        axes = (in_axes,) * n_data
    elif isinstance(in_axes, (tuple, list)) and len(in_axes) == n_data:
        axes = tuple(in_axes)
    else:
        raise ValueError(
            f"`in_axes` must be an int, None, or a sequence with one entry (int or None) "
            f"per data argument ({n_data} given), got {in_axes!r}."
        )
    for a in axes:
        if a is not None and (not isinstance(a, (int, np.integer)) or isinstance(a, bool)):
            raise ValueError(f"`in_axes` entries must be int or None, got {a!r}.")
    if n_data and all(a is None for a in axes):
        raise ValueError(
            "`in_axes` marks no data argument as batched; give the batch axis of at "
            "least one, e.g. in_axes=0 (all arguments batched along their first axis)."
        )
    if not n_data:
        raise ValueError("fit_batch needs batched data: fit_batch(loglik, init, *batched_data).")
    return tuple(None if a is None else int(a) for a in axes)


def _move_batch_axis(arg: Any, axis: int | None, position: int) -> tuple[Any, int | None]:
    """``arg`` with its batch axis first (views, no copies); returns (arg, batch size)."""
    if axis is None:
        return arg, None
    sizes = []

    def move(leaf):
        ndim = np.ndim(leaf)
        if ndim == 0 or not -ndim <= axis < ndim:
            raise ValueError(
                f"batched_data[{position}] has a leaf of shape {np.shape(leaf)} with no "
                f"axis {axis}; set its entry of `in_axes` to None if it is shared by all fits."
            )
        sizes.append(np.shape(leaf)[axis])
        return np.moveaxis(leaf, axis, 0) if isinstance(leaf, np.ndarray) else jax.numpy.moveaxis(leaf, axis, 0)

    moved = jax.tree_util.tree_map(move, arg)
    if len(set(sizes)) != 1:
        raise ValueError(
            f"batched_data[{position}] has leaves with different batch sizes {sorted(set(sizes))} "
            f"along axis {axis}."
        )
    return moved, sizes[0]


def _take(arg: Any, batched: bool, index: np.ndarray) -> Any:
    if not batched:
        return arg
    return jax.tree_util.tree_map(lambda leaf: leaf[index], arg)


# -- memory and chunking -----------------------------------------------------------------
def _device_budget(devices: Sequence) -> int:
    try:
        stats = devices[0].memory_stats()
    except Exception:  # pragma: no cover - backend dependent
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]) // 4 * len(devices)
    return DEFAULT_BATCH_MAX_BYTES


def fit_memory_estimate(n_params: int, data_elements: int) -> int:
    """Rough bytes one fit of the batched program holds at once.

    The exact Hessian pushes ``n`` tangents through the reverse-mode gradient,
    whose residuals are a few copies of the per-fit data: about
    ``8 * 4 * (n + 1) * data_elements``; the dense matrices (Hessian, its
    eigenvectors, covariance, optimizer state) add about ``8 * 12 n^2``.
    """
    return 8 * (4 * (n_params + 1) * max(data_elements, 1) + 12 * n_params**2 + 64 * n_params)


def _chunk_size(chunk_size, n_fits: int, per_fit: int, budget: int, n_devices: int) -> int:
    if chunk_size is None:
        size = min(n_fits, max(MIN_DEFAULT_CHUNK * n_devices, budget // max(per_fit, 1)))
    else:
        if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
            raise ValueError(f"`chunk_size` must be a positive int or None, got {chunk_size!r}.")
        size = min(int(chunk_size), n_fits)
    # Every device gets the same share of a chunk.
    return -(-size // n_devices) * n_devices


# -- progress -----------------------------------------------------------------------------
class _Progress:
    """On a terminal, tqdm when installed, else one self-overwriting line on stderr; when
    stderr is a file or a pipe (a log, a batch job), one plain line per chunk."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled, self.start = total, 0, enabled, time.perf_counter()
        self.bar = None
        isatty = getattr(sys.stderr, "isatty", None)
        self.terminal = bool(isatty and isatty())
        if enabled and self.terminal:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc="fit_batch", unit="fit")
            except ImportError:
                pass

    def update(self, n: int) -> None:
        if not self.enabled:
            return
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        elapsed = time.perf_counter() - self.start
        line = f"fit_batch: {self.done}/{self.total} fits, {elapsed:.1f} s"
        sys.stderr.write(f"\r{line}" if self.terminal else f"{line}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        elif self.terminal:
            sys.stderr.write("\n")
            sys.stderr.flush()


# -- the compiled program -----------------------------------------------------------------
def batched_fit_program(run: Callable, batched: tuple[bool, ...]) -> Callable:
    """``vmap`` of the single-fit pipeline over the batched data arguments.

    The result carries no data (the eager shell re-attaches the host arrays),
    so shared arguments are not broadcast to the batch on the device.
    """
    axes = tuple(0 if b else None for b in batched)

    def one(x0, args, options):
        return dataclasses.replace(run(x0, args, options), data=())

    return jax.jit(jax.vmap(one, in_axes=(None, axes, None)))


def _to_host(leaf) -> np.ndarray:
    """A program output as NumPy; one spanning other processes' devices (a mesh over
    every process's devices under ``jax.distributed``) is gathered first, so every
    process gets the whole result."""
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
    return np.asarray(leaf)


@functools.lru_cache(maxsize=8)
def _packer(mesh: Mesh) -> Callable:
    """A program that packs every leaf of a batch output into one float64 ``(batch, k)``
    array copied to every device of ``mesh``: the results of a batch over several
    processes reach each process in one all-gather instead of one per leaf (each
    about 4-5 ms over loopback gloo, measured; a fit result has about 40 leaves)."""

    def pack(tree):
        leaves = jax.tree_util.tree_leaves(tree)
        return jnp.concatenate([jnp.reshape(x, (x.shape[0], -1)).astype(jnp.float64) for x in leaves], axis=1)

    return jax.jit(pack, out_shardings=NamedSharding(mesh, PartitionSpec()))


def _gathered(out: Any, mesh: Mesh) -> Any:
    """``out`` (a batch output sharded over several processes) as NumPy in every process.

    Integers and booleans travel as float64, which holds them exactly (statuses,
    counts and flags are far below 2**53)."""
    leaves, treedef = jax.tree_util.tree_flatten(out)
    if not all(np.dtype(x.dtype).kind in "fiub" and x.ndim for x in leaves):
        return jax.tree_util.tree_map(_to_host, out)
    packed = _packer(mesh)(out)
    host = np.asarray(packed.addressable_data(0))
    pieces, k = [], 0
    for x in leaves:
        width = int(np.prod(x.shape[1:], dtype=np.int64))
        pieces.append(host[:, k: k + width].reshape(x.shape).astype(x.dtype))
        k += width
    return jax.tree_util.tree_unflatten(treedef, pieces)


def _mesh_spans_processes(mesh: Mesh | None) -> bool:
    return mesh is not None and any(d.process_index != jax.process_index() for d in mesh.devices.flat)


def _mesh(devices) -> Mesh | None:
    return Mesh(np.asarray(devices), ("batch",)) if len(devices) > 1 else None


def _place(args: tuple, batched: tuple[bool, ...], mesh: Mesh | None) -> tuple:
    """Split batched arguments across the mesh, replicate shared ones."""
    if mesh is None:
        return args
    split, replicate = NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())
    return tuple(
        jax.device_put(arg, split if b else replicate) for arg, b in zip(args, batched)
    )


def _host_data(args: tuple, batched: tuple[bool, ...], n_fits: int) -> tuple:
    """Data for the batched result: every leaf with a leading batch axis (views)."""

    def lead(leaf, b):
        leaf = np.asarray(leaf)
        return leaf if b else np.broadcast_to(leaf, (n_fits, *leaf.shape))

    return tuple(
        jax.tree_util.tree_map(lambda leaf, b=b: lead(leaf, b), arg) for arg, b in zip(args, batched)
    )


def batch_plan(
    n_items: int,
    n_params: int,
    per_item_elements: int,
    chunk_size: int | None = None,
    max_bytes: int | None = None,
    devices: Sequence | None = None,
) -> tuple[Mesh | None, int]:
    """``(mesh, chunk size)`` for a batch: the devices to shard over and the
    fits per compiled call (from the memory budget unless given)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("`devices` is empty; pass None to use every visible device.")
    if max_bytes is not None and (not isinstance(max_bytes, (int, np.integer)) or max_bytes < 1):
        raise ValueError(f"`max_bytes` must be a positive int or None, got {max_bytes!r}.")
    budget = _device_budget(devices) if max_bytes is None else int(max_bytes)
    per_item = fit_memory_estimate(n_params, per_item_elements)
    return _mesh(devices), _chunk_size(chunk_size, n_items, per_item, budget, len(devices))


def map_chunks(
    call: Callable,
    args: tuple,
    batched: tuple[bool, ...],
    n_items: int,
    size: int,
    mesh: Mesh | None = None,
    progress: bool = False,
) -> Any:
    """``call(chunk_args)`` over fixed-size chunks of the batched ``args``; host results.

    The last chunk is padded by repeating the final item, so every call has
    the same shapes (one compilation); on accelerators the next chunk is
    dispatched before the previous result is copied to the host. Returns the results concatenated
    along the leading axis, padding removed, as NumPy arrays.
    """
    spans = _mesh_spans_processes(mesh)
    if spans:
        check_agree(
            {"batched or shared data (bounds and fixed values included)": tuple(args), "batch layout (in_axes, chunk size)": f"{batched} {n_items} {size}"},
            "a batch over several processes",
        )
    n_chunks = -(-n_items // size)
    bar = _Progress(n_items, enabled=bool(progress) and n_chunks > 1)
    # On CPU two programs in flight can deadlock jaxlib's batched LAPACK kernels
    # (each blocks pool threads), and there is no transfer to overlap anyway.
    overlap = jax.default_backend() != "cpu"
    pieces, pending = [], None
    try:
        for c in range(n_chunks):
            index = np.minimum(np.arange(c * size, (c + 1) * size), n_items - 1)
            chunk = _place(tuple(_take(a, b, index) for a, b in zip(args, batched)), batched, mesh)
            out = call(chunk)  # dispatched asynchronously
            if spans:
                out = _gathered(out, mesh)
            if not overlap:
                out = jax.block_until_ready(out)
            if pending is not None:
                pieces.append(jax.tree_util.tree_map(_to_host, pending[0]))
                bar.update(pending[1])
            pending = (out, min(size, n_items - c * size))
        pieces.append(jax.tree_util.tree_map(_to_host, pending[0]))
        bar.update(pending[1])
    finally:
        bar.close()
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs)[:n_items], *pieces)


def run_batch(
    loglik: Callable,
    init: Any,
    data: tuple,
    in_axes: Any = 0,
    chunk_size: int | None = None,
    progress: bool = False,
    method: str = "newton",
    covariance: str = "cholesky",
    max_bytes: int | None = None,
    devices: Sequence | None = None,
    options: dict | None = None,
    bounds: dict | None = None,
    fixed: Any = None,
    names: tuple | None = None,
) -> FitResult:
    """The eager shell of :func:`fit_batch` without warnings (float64 scope required)."""
    axes = _normalize_axes(in_axes, len(data))
    problem = constrain(loglik, init, bounds, fixed, names)
    if problem is not None:  # fit free coordinates; bounds and fixed values are shared data
        c = problem.constraints
        inner = run_batch(
            problem.loglik, problem.z0, (*c.data, *data), in_axes=(None,) * CONSTRAINT_ARGS + axes,
            chunk_size=chunk_size, progress=progress, method=method, covariance=covariance,
            max_bytes=max_bytes, devices=devices, options=options, names=c.free_names,
        )
        return natural_result(inner, c, loglik)
    data, _ = as_data_arrays(tuple(data))  # DataFrames, lists of numbers -> arrays, first
    moved, sizes, sizes_by_arg = [], set(), {}
    for position, (arg, axis) in enumerate(zip(data, axes)):
        arg, size = _move_batch_axis(arg, axis, position)
        moved.append(arg)
        if size is not None:
            sizes.add(size)
            sizes_by_arg[f"batched_data[{position}]"] = size
    if len(sizes) != 1:
        shared = "" if in_axes is not None and in_axes != 0 else (
            " If an argument is shared by all fits (a design matrix, covariates), mark it "
            "None in `in_axes`, e.g. in_axes=(None, 0) for fit_batch(loglik, init, X, Y)."
        )
        raise ValueError(
            f"the batched data arguments have different batch sizes {sizes_by_arg}; every "
            "argument batched by `in_axes` must have the same length along its batch axis."
            + shared
        )
    n_fits = sizes.pop()
    if n_fits == 0:
        raise ValueError("the batch is empty: the batched data have length 0 along `in_axes`.")
    batched = tuple(a is not None for a in axes)
    args, promoted = as_float64_data(tuple(moved))
    warn_promoted(["data arguments"] if promoted else [])
    first = tuple(_take(arg, b, np.int64(0)) for arg, b in zip(args, batched))
    run, x0, _, option_data, obj = prepare_fit(
        loglik, init, first, method, covariance, options or {}, names
    )

    per_fit_elements = sum(
        int(np.size(leaf)) for arg in first for leaf in jax.tree_util.tree_leaves(arg)
    )
    mesh, size = batch_plan(n_fits, int(np.size(x0)), per_fit_elements, chunk_size, max_bytes, devices)
    if _mesh_spans_processes(mesh):
        check_agree(
            {"parameter structure (init)": describe_tree(init), "starting values (init)": x0,
             "method and options": repr((method, covariance, sorted((options or {}).items()), names))},
            "fit_batch over several processes",
        )
    # Kept in the objective's program cache (released with the user's function).
    program = obj.program(("batch", run, batched), lambda: batched_fit_program(run, batched))

    joined = map_chunks(
        lambda chunk: program(x0, chunk, option_data), args, batched, n_fits, size, mesh, progress
    )
    result = attach(dataclasses.replace(joined, data=_host_data(args, batched, n_fits)), obj, loglik)
    # Curved valleys: fits whose straight-line Wald probes were steep on both sides
    # are certified again with the other parameters re-fitted, as fit() does.
    return recertify_steep_batch(result)


@float64_entry_point
def fit_batch(
    loglik: Callable,
    init: Any,
    *batched_data: Any,
    in_axes: Any = 0,
    chunk_size: int | None = None,
    progress: bool = True,
    method: str = "newton",
    covariance: str = "cholesky",
    max_bytes: int | None = None,
    devices: Sequence | None = None,
    bounds: dict | None = None,
    fixed: Any = None,
    names: Any = None,
    **options: Any,
) -> FitResult:
    """Fit many datasets of the same shape at once: one compiled, vmapped program.

    Each fit runs the full :func:`hessjax.fit` pipeline (optimizer, exact
    Hessian, Cholesky-gated covariance, certificate) from the same ``init``.

    Parameters
    ----------
    loglik : callable
        ``loglik(params, *data)`` as for :func:`hessjax.fit`, for one dataset.
    init : pytree of floating arrays
        Starting values, shared by every fit.
    *batched_data
        The datasets: each argument stacked along its batch axis.
    in_axes : int, None, or sequence of int/None
        Batch axis of each data argument (as in ``jax.vmap``); ``None`` marks
        an argument shared by all fits (e.g. a design matrix).
    chunk_size : int, optional
        Fits per compiled call. Default: as many as fit in the memory budget
        by :func:`fit_memory_estimate` (``max_bytes``; a quarter of the device
        memory on accelerators, ``DEFAULT_BATCH_MAX_BYTES`` = 16 MiB on CPU,
        where cache-sized chunks run fastest), at least 32 per device.
        The last chunk is padded, so every chunk reuses one compilation.
    progress : bool
        Show a progress bar (tqdm if installed, else a line on stderr) when
        there is more than one chunk.
    method, covariance, bounds, fixed, names, **options
        As for :func:`hessjax.fit` (the same bounds and fixed values for every fit).
    max_bytes : int, optional
        Memory budget of one chunk, for the default ``chunk_size``.
    devices : sequence of jax devices, optional
        Devices to split each chunk across (default: all visible devices of
        the default backend). With more than one, chunks are sharded along the
        batch axis with a ``NamedSharding``; each fit runs on one device.

    Returns
    -------
    FitResult
        Every leaf with a leading batch axis; ``result[i]`` is the ``i``-th
        fit, ``result.batch_summary`` counts converged, positive-definite and
        valid fits. One warning if some fits are not valid.

    Raises
    ------
    ValueError
        If no data are given; ``in_axes`` is not an int, None or a sequence
        of one int/None per data argument, or marks no argument as batched;
        a leaf of a batched argument has no such axis; the batched arguments
        differ in batch size, or it is 0; ``chunk_size`` or ``max_bytes`` is
        not a positive int; ``devices`` is empty; or for any reason
        :func:`hessjax.fit` gives (``method``, ``covariance``, an option
        value, ``init``, ``loglik``'s output or tracing).
    TypeError
        As for :func:`hessjax.fit`: an option not valid for ``method``,
        ``loglik`` not callable, a leaf of ``init`` not a real number or
        array, ``loglik`` not returning one floating array, or a tracer
        error while tracing it.
    HessianMemoryError
        As for :func:`hessjax.fit`, above about 9,400 parameters.

    Warns
    -----
    HessianWarning
        Once, when some fits are not valid and some observed information is
        not positive definite.
    ConvergenceWarning
        Once, when some fits are not valid and every information is positive
        definite (fits that did not reach a certified maximum).
    PrecisionWarning
        When the data had less than float64 precision.
    StaleDataWarning
        When ``loglik`` reads data from its closure or globals and they
        changed since it was compiled.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     s = jnp.exp(p["log_sigma"])
    ...     return -0.5 * ((y - p["mu"]) / s) ** 2 - p["log_sigma"]
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, size=(500, 50))  # 500 datasets
    >>> fits = hj.fit_batch(loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
    >>> fits.params["mu"].shape, fits.batch_summary.valid
    ((500,), 500)
    >>> bool(np.allclose(fits.se["mu"], y.std(axis=1) / np.sqrt(50), rtol=1e-8))
    True
    """
    result = run_batch(
        loglik, init, batched_data, in_axes=in_axes, chunk_size=chunk_size, progress=progress,
        method=method, covariance=covariance, max_bytes=max_bytes, devices=devices,
        options=options, bounds=bounds, fixed=fixed, names=names,
    )
    warn_batch(result)
    return result


def shard_data(
    *data: Any, axis: int = 0, devices: Sequence | None = None, process_local: bool = False
) -> tuple:
    """Split the observations of one dataset across devices, for a large-data :func:`fit`.

    The log-likelihood is a sum over observations, so under ``jit`` the
    gradient and Hessian of a sharded dataset are partial sums on each device,
    reduced across the mesh by XLA; ``fit(loglik, init, *shard_data(X, y))``
    is otherwise the same call. Leaves whose size along ``axis`` equals the
    number of observations are split; scalars and other leaves are replicated.

    Under ``jax.distributed`` (several processes, each with its own devices)
    the default mesh spans every process's devices, and ``fit`` on the result
    runs as one program across them; every process gets the whole result.
    Each process either passes the whole dataset (``process_local=False``, the
    same arrays in every process; checked) or only its own block of rows
    (``process_local=True``, for data that do not fit one host): process ``p``'s
    rows are block ``p`` of the global dataset, every process passes the same
    number of rows, and the replicated leaves must be equal. Every process must
    then make the same calls (``fit``, and later ``profile``, ``robust_cov``, ...),
    since each is a collective.

    Parameters
    ----------
    *data
        The data arguments of ``loglik`` (with ``process_local=True``, this
        process's rows of them).
    axis : int
        The observation axis (default 0).
    devices : sequence of jax devices, optional
        Default: every device of the default backend, in every process.
    process_local : bool
        Whether each process passes only its own rows (default ``False``:
        the whole dataset in every process).

    Returns
    -------
    tuple
        The data as float64 ``jax.Array`` s with a ``NamedSharding`` over a
        one-axis mesh ``("obs",)``.

    Raises
    ------
    ValueError
        If ``devices`` is empty; no data are given; ``axis`` is not an int;
        no leaf has an axis ``axis``; the number of observations (the
        largest size along ``axis``) is not a multiple of the number of
        devices; a DataFrame or Series has non-numeric columns; or, across
        processes, the processes passed different data (``process_local=False``),
        different numbers of rows or different replicated leaves
        (``process_local=True``), or ``process_local=True`` with ``devices`` of
        this process only. The error is raised in every process.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> X = np.random.default_rng(1).normal(size=(1000, 3))
    >>> y = X @ np.array([1.0, -1.0, 0.5]) + np.random.default_rng(2).normal(size=1000)
    >>> def loglik(beta, X, y):
    ...     return -0.5 * (y - X @ beta) ** 2
    >>> res = hj.fit(loglik, np.zeros(3), *hj.shard_data(X, y))
    >>> bool(np.allclose(res.params, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10))
    True
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("`devices` is empty; pass None to use every visible device.")
    if not data:
        raise ValueError("shard_data needs the data arguments: shard_data(X, y).")
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ValueError(f"`axis` must be an int, got {axis!r}.")
    # Each process's devices together, in process order: process p holds block p of the rows.
    devices.sort(key=lambda d: (d.process_index, d.id))
    n_processes = len({d.process_index for d in devices})
    local = [d for d in devices if d.process_index == jax.process_index()]
    if process_local and jax.process_count() > 1:
        # Agree first, so that a process whose own settings are wrong does not leave the
        # others waiting in the next collective: all raise the same error.
        check_agree({"shard_data settings (axis, devices of every process or of one)":
                     repr((axis, n_processes > 1))}, "shard_data(process_local=True)")
    if process_local and jax.process_count() > 1 and n_processes == 1:
        raise ValueError(
            "process_local=True splits the rows over every process's devices, but `devices` are "
            "this process's only; pass devices=None (every device of the job), or pass the "
            "whole dataset with process_local=False."
        )
    process_local = bool(process_local) and n_processes > 1
    with jax.enable_x64(True):
        data64, _ = as_float64_data(tuple(data))
        sizes = {
            np.shape(leaf)[axis]
            for leaf in jax.tree_util.tree_leaves(data64)
            if np.ndim(leaf) > (axis if axis >= 0 else -axis - 1)
        }
        if not sizes:
            raise ValueError(f"no data argument has an axis {axis} to split.")
        nobs = max(sizes)

        def split(leaf) -> bool:
            ndim = np.ndim(leaf)
            return bool(ndim) and -ndim <= axis < ndim and np.shape(leaf)[axis] == nobs

        if n_processes > 1:
            leaves = jax.tree_util.tree_leaves(data64)
            if process_local:
                counts = gather_ints(np.array([nobs]))[:, 0]
                if len(set(counts.tolist())) > 1:
                    raise ValueError(
                        f"shard_data(process_local=True): the processes passed {counts.tolist()} rows "
                        "(in process order); each must pass the same number of rows, a multiple of "
                        f"its {len(local)} local devices. Split the dataset evenly, padding with "
                        "zero-weight observations if needed."
                    )
                check_agree(
                    {"replicated (unsplit) data": [x for x in leaves if not split(x)],
                     "data structure": describe_tree(data64)},
                    "shard_data(process_local=True)",
                )
            else:
                check_agree({"data": leaves}, "shard_data over several processes (process_local=False)")
        per_device = len(local) if process_local else len(devices)
        if nobs % per_device:
            where = f"this process's {per_device} devices" if process_local else f"{per_device} devices"
            raise ValueError(
                f"{nobs} observations cannot be split evenly over {where}; drop "
                f"or duplicate-with-zero-weight {nobs % per_device} observations, or pass "
                "devices=... with a count that divides the number of observations."
            )
        mesh = Mesh(np.asarray(devices), ("obs",))

        def place(leaf):
            leaf = np.asarray(leaf) if process_local else jax.numpy.asarray(leaf)
            if not split(leaf):
                sharding = NamedSharding(mesh, PartitionSpec())
                return jax.make_array_from_process_local_data(sharding, leaf) if process_local \
                    else jax.device_put(leaf, sharding)
            spec = [None] * leaf.ndim
            spec[axis] = "obs"
            sharding = NamedSharding(mesh, PartitionSpec(*spec))
            if process_local:
                shape = list(leaf.shape)
                shape[axis] *= n_processes
                return jax.make_array_from_process_local_data(sharding, leaf, tuple(shape))
            return jax.device_put(leaf, sharding)

        return tuple(jax.tree_util.tree_map(place, arg) for arg in data64)


# -- simulated datasets (bootstrap, coverage_study) -----------------------------------
def as_key(key: Any, argname: str = "key") -> jax.Array:
    """A JAX PRNG key from a key or an int seed; a clear error for anything else."""
    if key is None:
        raise ValueError(
            f"`{argname}` is required for reproducible resampling: pass "
            f"{argname}=jax.random.key(0) or an int seed."
        )
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or (key.dtype == jnp.uint32 and key.shape == (2,))
    ):
        return key
    raise TypeError(f"`{argname}` must be a jax.random key or an int seed, got {type(key).__name__}.")


# The vmapped program of each ``simulate``, keyed weakly. The program calls
# ``simulate`` through a weak reference: a value that held its key would keep
# both alive forever.
_SIMULATORS: "weakref.WeakKeyDictionary[Callable, Callable]" = weakref.WeakKeyDictionary()


def _vmapped_simulator(simulate: Callable) -> Callable:
    try:
        ref = weakref.WeakMethod(simulate) if inspect.ismethod(simulate) else weakref.ref(simulate)
    except TypeError:
        return jax.jit(jax.vmap(simulate, in_axes=(0, None)))

    def one(key, params):
        return ref()(key, params)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def simulate_batch(simulate: Callable, keys: jax.Array, params: Any) -> tuple:
    """Datasets ``simulate(keys[i], params)``, stacked; always a tuple of data arguments.

    Must run in the float64 scope. The vmapped simulator is compiled once per
    ``simulate`` (cached weakly).
    """
    if not callable(simulate):
        raise TypeError(
            "`simulate` must be a callable simulate(key, params) returning the data tuple "
            "of one dataset (the arguments after params in loglik)."
        )
    try:
        program = _SIMULATORS.get(simulate)
    except TypeError:
        program = None
    if program is None:
        program = _vmapped_simulator(simulate)
        try:
            _SIMULATORS[simulate] = program
        except TypeError:
            pass
    try:
        out = program(keys, params)
    except (TypeError, ValueError, IndexError) as err:
        raise ValueError(
            f"simulate(key, params) failed while tracing: {err}\nIt must take a jax.random "
            "key and the parameter pytree and return one dataset (a tuple of arrays)."
        ) from err
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)
