"""Figures for the checker (the ``plot`` extra: ``pip install 'hessjax[plot]'``).

Each function draws on a new (or given) matplotlib Axes and returns the
Figure; pass ``path=`` to save it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .warnings import IntervalWarning

__all__ = ["plot_step_sweep", "plot_comparison", "plot_bfgs_trace", "plot_profile", "plot_profiles",
           "plot_contour"]


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


def plot_profile(fit, name: str, level: float = 0.95, n_points: int = 41, path: str | None = None,
                 ax: Any = None):
    """The profile log-likelihood drop of ``name`` with its profile and Wald intervals.

    The curve is :meth:`FitResult.profile`; the horizontal line is the
    chi2_1(level)/2 threshold whose crossings are the profile interval
    (:meth:`FitResult.conf_int` with ``method="profile"``); the dashed
    parabola is the quadratic (Wald) approximation through the exact SE.

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    ValueError
        As for :meth:`FitResult.profile`.
    OSError
        If ``path`` is given and cannot be written.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> y = np.random.default_rng(0).exponential(2.0, size=30)
    >>> res = hj.fit(lambda p, y: jnp.log(p["rate"]) - p["rate"] * y, {"rate": 1.0}, y,
    ...              bounds={"rate": (0.0, None)})
    >>> fig = hj.plot_profile(res, "rate", n_points=11)
    """
    from scipy import stats

    plt = _pyplot()
    curve = fit.profile(name, n_points=n_points)
    i = fit.names.index(name)
    q = 0.5 * stats.chi2.ppf(level, 1)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    ax.plot(curve.values, curve.drop, "-", color="C0", label="profile")
    se = float(fit.se_vector[i])
    if np.isfinite(se) and se > 0:
        ax.plot(curve.values, 0.5 * ((curve.values - curve.estimate) / se) ** 2, "--", color="C1",
                label=f"quadratic (Wald), SE {se:.3g}")
    ax.axhline(q, color="gray", lw=0.8, label=f"chi2_1({level:g})/2 = {q:.3g}")
    with warnings.catch_warnings():  # a profile/Wald disagreement is what the plot shows
        warnings.simplefilter("ignore", IntervalWarning)
        lo, hi = fit.conf_int(level=level, method="profile")[i]
    for end in (lo, hi):
        if np.isfinite(end):
            ax.axvline(end, color="C0", ls=":", lw=0.8)
    ax.plot([curve.estimate], [0.0], "o", color="black", label=f"estimate {curve.estimate:.4g}")
    ax.set_ylim(bottom=0.0, top=max(2.0 * q, float(np.nanmax(curve.drop)) * 1.05))
    ax.set_xlabel(name)
    ax.set_ylabel("loglik drop from the maximum")
    ax.set_title(f"profile of {name}: {100 * level:g}% interval [{lo:.4g}, {hi:.4g}]")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside the data
    return _finish(fig, path)


def plot_contour(fit, name1: str, name2: str, level: float = 0.95, n_points: int = 60,
                 path: str | None = None, ax: Any = None):
    """The 2-D profile-likelihood region of ``name1`` and ``name2`` against the Wald ellipse.

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    ValueError
        As for :meth:`FitResult.contour`.
    OSError
        If ``path`` is given and cannot be written.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]
    >>> y = np.random.default_rng(0).normal(size=20)
    >>> res = hj.fit(loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
    >>> fig = hj.plot_contour(res, "mu", "log_sigma", n_points=12)
    """
    from scipy import stats

    plt = _pyplot()
    points = fit.contour(name1, name2, level=level, n_points=n_points)
    i, j = fit.names.index(name1), fit.names.index(name2)
    est = fit.estimate[[i, j]]
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 5))
    closed = np.vstack([points, points[:1]])
    ax.plot(closed[:, 0], closed[:, 1], "-", color="C0", label=f"profile region ({100 * level:g}%)")
    cov = np.asarray(fit.cov)[np.ix_([i, j], [i, j])]
    if np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(cov) > 0):
        angle = np.linspace(0.0, 2.0 * np.pi, 200)
        radius = np.sqrt(stats.chi2.ppf(level, 2))
        ellipse = est[:, None] + radius * np.linalg.cholesky(cov) @ np.stack([np.cos(angle), np.sin(angle)])
        ax.plot(ellipse[0], ellipse[1], "--", color="C1", label="Wald ellipse")
    ax.plot([est[0]], [est[1]], "o", color="black", label="estimate")
    ax.set_xlabel(name1)
    ax.set_ylabel(name2)
    ax.set_title(f"{name1} and {name2}: {100 * level:g}% confidence region")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside the data
    return _finish(fig, path)


def plot_profiles(fit, names, level: float = 0.95, n_points: int = 41, path: str | None = None):
    """:func:`plot_profile` for several parameters, one panel each (two per row).

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    ValueError
        As for :meth:`FitResult.profile`, or if ``names`` is empty.
    OSError
        If ``path`` is given and cannot be written.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]
    >>> res = hj.fit(loglik, {"mu": 0.0, "log_sigma": 0.0}, np.random.default_rng(0).normal(size=20))
    >>> fig = hj.plot_profiles(res, ["mu", "log_sigma"], n_points=11)
    """
    names = list(names)
    if not names:
        raise ValueError("`names` is empty: give the parameters to profile.")
    plt = _pyplot()
    rows = -(-len(names) // 2)
    cols = min(len(names), 2)
    fig, axes = plt.subplots(rows, cols, figsize=(7.5 * cols, 3.8 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        plot_profile(fit, name, level=level, n_points=n_points, ax=ax)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _finish(fig, path)
