"""Bootstrap standard errors and percentile intervals by vmapped refits.

Nonparametric: each replicate reweights the per-observation log-likelihood by
multinomial counts (resampling observations with replacement, without
copying data or knowing which data arguments are per-observation).
Parametric: each replicate refits data drawn by the user's
``simulate(key, params)`` at the estimate. Either way every refit starts at
the estimate and all of them run as one batched, compiled program
(:func:`hessjax.fit_batch`'s engine).
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import float64_entry_point
from .batch import as_key, run_batch, simulate_batch
from .constraints import interior_start
from .report import render_bootstrap_text, render_text_html
from .results import FitResult
from ._processes import spans_processes
from .warnings import ConvergenceWarning, warn

__all__ = ["bootstrap", "BootstrapResult"]

KINDS = ("nonparametric", "parametric")


_WEIGHTED: "weakref.WeakKeyDictionary[Any, Callable]" = weakref.WeakKeyDictionary()


def _weighted_loglik(fit: FitResult) -> Callable:
    """``(params, weights, *data) -> weights * loglik(params, *data)``, one per objective.

    Cached so that every bootstrap of the same model reuses one compilation;
    the objective is held weakly. A fit with bounds or fixed parameters has
    its objective over free coordinates; the user's function is weighted then
    (the refits apply the same bounds).
    """
    owner = fit.objective if fit.free_fit is None else fit.free_fit.objective
    weighted = _WEIGHTED.get(owner)
    if weighted is None:
        ref = weakref.ref(owner)
        user = (lambda o: o.fun) if fit.free_fit is None else (lambda o: o.fun.__wrapped__)

        def weighted(params, weights, *data):
            return weights * user(ref())(params, *data)

        _WEIGHTED[owner] = weighted
    return weighted


@functools.lru_cache(maxsize=16)
def _resample_counts(n: int) -> Callable:
    """keys -> (len(keys), n) float64 multinomial counts: how often each observation
    is drawn when resampling n of them with replacement."""

    def counts(key):
        return jnp.bincount(jax.random.randint(key, (n,), 0, n), length=n).astype(jnp.float64)

    return jax.jit(jax.vmap(counts))


@dataclasses.dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap replicates of an estimate and their summaries.

    Attributes
    ----------
    kind : str
        ``"nonparametric"`` or ``"parametric"``.
    names : tuple of str
        Parameter names in ``ravel_pytree`` order.
    estimate : np.ndarray
        The original estimate (flat).
    replicates : np.ndarray
        ``(n_boot, n)`` refitted estimates (NaN rows for failed refits).
    se : np.ndarray
        Bootstrap standard errors (SD of the successful replicates).
    exact_se : np.ndarray
        The fit's exact-Hessian standard errors, for comparison.
    intervals : np.ndarray
        ``(n, 2)`` percentile intervals at ``level``.
    level : float
    bias : np.ndarray
        Mean of the replicates minus the estimate.
    failed_fraction : float
        Fraction of refits that did not converge (excluded from the summaries).
    mc_se_relative : float
        Monte Carlo relative standard error of the bootstrap SEs,
        1/sqrt(2 (B - 1)) for B successful replicates.
    uncertified_fraction : float
        Fraction of the included refits whose certificate is not VALID (e.g.
        separation in a resample: an estimate running off to infinity). They
        are kept, since excluding them would bias the SEs down, but they can
        dominate the summaries: see ``replicates``.
    """

    kind: str
    names: tuple
    estimate: np.ndarray
    replicates: np.ndarray
    se: np.ndarray
    exact_se: np.ndarray
    intervals: np.ndarray
    level: float
    bias: np.ndarray
    failed_fraction: float
    mc_se_relative: float
    uncertified_fraction: float = 0.0

    @property
    def n_boot(self) -> int:
        return int(self.replicates.shape[0])

    def __str__(self) -> str:
        return render_bootstrap_text(self)

    def _repr_html_(self) -> str:
        return render_text_html(str(self))


def _validate(fit, n_boot, kind, simulate, level):
    if not isinstance(fit, FitResult) or (fit.objective is None and fit.free_fit is None):
        raise TypeError("`fit` must be the FitResult of hessjax.fit (one fit, not a batch).")
    if np.ndim(fit.loglik) != 0:
        raise ValueError("`fit` is a batch; bootstrap one fit at a time (index it: fits[i]).")
    if spans_processes(fit.data if fit.free_fit is None else fit.free_fit.data):
        raise ValueError(
            "bootstrap refits the fit's data in every replicate, and this fit's data are sharded "
            "over several processes (shard_data), which the refits cannot share. Bootstrap a fit "
            "of the global data instead (hj.fit(loglik, init, X, y) with the same arrays in every "
            "process): its replicates are split over every process's devices."
        )
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 2:
        raise ValueError(f"`n_boot` must be an int >= 2, got {n_boot!r}.")
    if kind not in KINDS:
        raise ValueError(f"unknown kind={kind!r}; use 'nonparametric' or 'parametric'.")
    if kind == "nonparametric" and fit.nobs is None:
        raise ValueError(
            "the nonparametric bootstrap resamples observations, so loglik must return "
            "per-observation values (a 1-D array) instead of their sum; or use "
            "kind='parametric' with simulate=..."
        )
    if kind == "parametric" and simulate is None:
        raise ValueError(
            "kind='parametric' needs simulate(key, params) returning one dataset (the data "
            "tuple passed to loglik after params)."
        )
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}.")


@float64_entry_point
def bootstrap(
    fit: FitResult,
    n_boot: int = 1000,
    key: Any = None,
    kind: str = "nonparametric",
    simulate: Callable | None = None,
    level: float = 0.95,
    chunk_size: int | None = None,
    progress: bool = False,
    method: str = "newton",
    **options: Any,
) -> BootstrapResult:
    """Bootstrap SEs and percentile intervals by vmapped refits warm-started at the MLE.

    Parameters
    ----------
    fit : FitResult
        A single fit from :func:`hessjax.fit`.
    n_boot : int
        Number of replicates.
    key : jax.random key or int
        Randomness (required, for reproducibility).
    kind : {"nonparametric", "parametric"}
        ``"nonparametric"`` resamples observations with replacement (needs a
        per-observation ``loglik``); it stays valid under misspecification,
        where it estimates the sandwich covariance. ``"parametric"`` refits
        datasets from ``simulate(key, params)`` at the estimate.
    simulate : callable, optional
        ``simulate(key, params) -> data tuple`` for ``kind="parametric"``.
    level : float
        Coverage of the percentile intervals.
    chunk_size, progress
        As for :func:`hessjax.fit_batch`.
    method, **options
        Optimizer of the refits (as for :func:`hessjax.fit`).

    Returns
    -------
    BootstrapResult
        ``se``, ``intervals``, ``replicates``, ``bias``, ``failed_fraction``
        and the exact SEs for comparison; ``str()`` is a table. One
        ``ConvergenceWarning`` when some refits fail.

    Raises
    ------
    TypeError
        If ``fit`` is not a :class:`FitResult` of :func:`hessjax.fit`;
        ``key`` is neither a JAX random key nor an int seed; ``simulate`` is
        not callable (``kind="parametric"``); or an option is not valid for
        ``method``.
    ValueError
        If ``fit`` is a batch; ``n_boot`` is not an int >= 2; ``kind`` is
        unknown; ``kind="nonparametric"`` and ``loglik`` returns a scalar
        instead of per-observation values; ``kind="parametric"`` without
        ``simulate``; ``level`` is not in (0, 1); ``key`` is None;
        ``simulate(key, params)`` fails while tracing; ``chunk_size`` is not
        a positive int; or ``method`` or an option value is invalid (as for
        :func:`hessjax.fit`).

    Warns
    -----
    ConvergenceWarning
        When some refits did not converge (they are excluded), or when some
        included refits are not certified maxima (kept; counted in
        ``uncertified_fraction``).
    PrecisionWarning
        When ``simulate`` returns data with less than float64 precision.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(mu, y):
    ...     return -0.5 * (y - mu) ** 2
    >>> y = np.random.default_rng(0).normal(size=400)
    >>> res = hj.fit(loglik, 0.0, y)
    >>> boot = hj.bootstrap(res, n_boot=500, key=0)
    >>> bool(abs(boot.se[0] / boot.exact_se[0] - 1) < 4 * boot.mc_se_relative)
    True
    """
    _validate(fit, n_boot, kind, simulate, level)
    keys = jax.random.split(as_key(key), int(n_boot))
    if kind == "nonparametric":
        n = int(fit.nobs)
        counts = _resample_counts(n)(keys)
        loglik = _weighted_loglik(fit)
        data = (counts, *fit.data)
        in_axes = (0,) + (None,) * len(fit.data)
    else:
        loglik = fit.function or fit.objective.fun
        data = simulate_batch(simulate, keys, fit.params)
        in_axes = 0
    c = fit.constraints
    refits = run_batch(
        loglik, fit.params if c is None else c.spec.unravel_host(interior_start(c, fit.free_fit.params)),
        data, in_axes=in_axes, chunk_size=chunk_size, progress=progress, method=method,
        options=options, bounds=None if c is None else c.bounds, fixed=None if c is None else c.fixed,
        names=tuple(fit.names),
    )
    replicates = np.concatenate(
        [np.reshape(leaf, (int(n_boot), -1)) for leaf in jax.tree_util.tree_leaves(refits.params)],
        axis=1,
    )
    ok = np.asarray(refits.converged) & np.all(np.isfinite(replicates), axis=1)
    replicates = np.where(ok[:, None], replicates, np.nan)
    good = replicates[ok]
    failed = 1.0 - ok.mean()
    if failed > 0:
        warn(
            f"{int(np.sum(~ok))} of {int(n_boot)} bootstrap refits did not converge and are "
            "excluded; if many fail, the estimate may be near a boundary or weakly identified.",
            ConvergenceWarning,
        )
    # A refit on a declared bound is not VALID but is a legitimate replicate; not counted.
    at_bound = refits.diagnostics.at_bound
    on_bound = (np.zeros(ok.shape, bool) if at_bound is None
                else np.asarray(at_bound).reshape(ok.shape[0], -1).any(axis=1))
    uncertified = ok & ~np.asarray(refits.diagnostics.is_valid) & ~on_bound
    uncertified_fraction = float(uncertified.sum() / max(ok.sum(), 1))
    if uncertified.any():
        worst = np.nanmax(np.abs(replicates - fit.estimate) / np.asarray(fit.se_vector), axis=0)
        warn(
            f"{int(uncertified.sum())} of {int(ok.sum())} included bootstrap refits are not certified "
            f"maxima (e.g. separation in a resample: an estimate running off to infinity; the farthest "
            f"replicate is {np.nanmax(worst):.3g} exact SEs from the estimate). They are kept, since "
            "dropping them would bias the SEs down, but they can dominate the bootstrap SEs and "
            "intervals: inspect boot.replicates, or treat the model as weakly identified.",
            ConvergenceWarning,
        )
    alpha = 1.0 - float(level)
    if good.shape[0] >= 2:
        se = good.std(axis=0, ddof=1)
        intervals = np.quantile(good, [alpha / 2, 1 - alpha / 2], axis=0).T
        bias = good.mean(axis=0) - fit.estimate
    else:
        se = np.full(fit.estimate.shape, np.nan)
        intervals = np.full((fit.estimate.size, 2), np.nan)
        bias = se.copy()
    return BootstrapResult(
        kind=kind,
        names=tuple(fit.names),
        estimate=np.asarray(fit.estimate),
        replicates=replicates,
        se=se,
        exact_se=np.asarray(fit.se_vector),
        intervals=intervals,
        level=float(level),
        bias=bias,
        failed_fraction=float(failed),
        mc_se_relative=float(1.0 / np.sqrt(2.0 * max(good.shape[0] - 1, 1))),
        uncertified_fraction=uncertified_fraction,
    )
