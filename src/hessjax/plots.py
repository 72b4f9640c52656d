"""Figures for the checker (the ``plot`` extra: ``pip install 'hessjax[plot]'``).

Each function draws on a new (or given) matplotlib Axes and returns the
Figure; pass ``path=`` to save it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_step_sweep", "plot_comparison", "plot_bfgs_trace"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("plots need the `plot` extra: pip install 'hessjax[plot]'") from err
    return plt


def _finish(fig, path):
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def plot_step_sweep(sweep, path: str | None = None, ax: Any = None):
    """The V-shaped error of an FD Hessian versus step size (a :class:`StepSweep`).

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    OSError
        If ``path`` is given and cannot be written (from matplotlib's
        ``savefig``, which also raises ``ValueError`` for an unknown file
        extension).

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> sweep = hj.step_sweep(lambda p: jnp.sum(jnp.exp(p)), np.array([0.5, -0.5]))
    >>> fig = hj.plot_step_sweep(sweep)
    """
    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    ax.loglog(sweep.steps, sweep.errors, "o-", ms=3)
    ax.axvline(sweep.best_step, color="gray", ls="--", label=f"best step {sweep.best_step:.2g}")
    ax.set_xlabel("step h")
    ax.set_ylabel("max |H_fd - H| / max |H|")
    ax.set_title(f"{sweep.scheme} differences: truncation (right) vs rounding (left)")
    ax.legend()
    return _finish(fig, path)


def plot_comparison(comparison, path: str | None = None):
    """Heatmaps of relative element errors and bars of SE ratios per candidate.

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    OSError
        If ``path`` is given and cannot be written (from matplotlib's
        ``savefig``, which also raises ``ValueError`` for an unknown file
        extension).

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> cmp = hj.compare_hessians(lambda p: jnp.sum((p - 1.0) ** 2), np.ones(2), include=("central",))
    >>> fig = hj.plot_comparison(cmp)
    """
    plt = _pyplot()
    cands = comparison.candidates
    fig, axes = plt.subplots(1, len(cands) + 1, figsize=(3.2 * (len(cands) + 1), 3.2), squeeze=False)
    axes = axes[0]
    scale = np.max(np.abs(comparison.exact))
    for ax, c in zip(axes[:-1], cands):
        err = np.abs(c.hessian - comparison.exact) / scale
        im = ax.imshow(np.log10(np.maximum(err, 1e-17)), vmin=-16, vmax=0, cmap="viridis")
        ax.set_title(c.name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[:-1].tolist(), label="log10 relative element error")
    ax = axes[-1]
    width = 0.8 / max(len(cands), 1)
    idx = np.arange(len(comparison.names))
    for k, c in enumerate(cands):
        ax.bar(idx + k * width, np.nan_to_num(c.se_ratio, nan=0.0), width, label=c.name)
    ax.axhline(1.0, color="black", lw=0.8)
    ratios = np.concatenate([c.se_ratio[np.isfinite(c.se_ratio)] for c in cands] or [np.ones(1)])
    if ratios.size and (ratios.max() / max(ratios.min(), 1e-300) > 10):
        ax.set_yscale("log")  # factors of 100 must stay visible
    ax.set_xticks(idx + 0.4 - width / 2)
    ax.set_xticklabels(comparison.names, rotation=90, fontsize=7)
    ax.set_ylabel("SE ratio (candidate / exact)")
    ax.legend(fontsize=6)
    return _finish(fig, path)


def plot_bfgs_trace(trace, path: str | None = None, ax: Any = None):
    """Error of BFGS's inverse-Hessian approximation along its path (a :class:`BFGSTrace`).

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    OSError
        If ``path`` is given and cannot be written (from matplotlib's
        ``savefig``, which also raises ``ValueError`` for an unknown file
        extension).

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> fig = hj.plot_bfgs_trace(hj.bfgs_trace(lambda p: jnp.sum((p - 1.0) ** 2), np.zeros(2)))
    """
    plt = _pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    k = np.arange(trace.errors.size)
    ax.semilogy(k, trace.errors, "o-", ms=3, label="rel. error of BFGS inverse")
    ax.semilogy(k, trace.grad_norm, "s-", ms=3, label="max |gradient|")
    ax.set_xlabel("iteration")
    ax.legend()
    ax.set_title("Does BFGS's inverse-Hessian approximation converge?")
    return _finish(fig, path)
