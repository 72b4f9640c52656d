"""Figures for the checker and the validation studies (``pip install 'hessjax[plot]'``).

Each function draws on a new (or given) matplotlib Axes and returns the Figure; pass ``path=``
to save it. Parameters are labelled by name, legends sit outside the axes (never over data),
a NaN is marked rather than drawn as 0, and ratio axes turn logarithmic across decades.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from typing import Any, Sequence

import numpy as np

from ._tree import check_names
from .warnings import IntervalWarning

__all__ = ["plot_step_sweep", "plot_comparison", "plot_bfgs_trace", "plot_profile", "plot_profiles",
           "plot_contour", "plot_bootstrap", "plot_coverage"]

MAX_NAMED_TICKS = 25  # beyond this many, tick labels overlap: label every k-th parameter


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


def _new_axes(ax, figsize):
    """The given Axes, or one on a new figure whose layout makes room for an outside legend."""
    if ax is not None:
        return ax.figure, ax
    return _pyplot().subplots(figsize=figsize, layout="constrained")


def _grid(parent, n: int, cols: int) -> list:
    """n panels on ``parent`` (a figure or subfigure), ``cols`` per row, unused cells hidden."""
    cols = min(n, cols)
    axes = parent.subplots(-(-n // cols), cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def _panels(n: int, cols: int, width: float, height: float, extra_width: float = 0.0):
    """A new figure with n panels, ``cols`` per row (the unused cells hidden), as a list."""
    cols, rows = min(n, cols), -(-n // cols)
    fig = _pyplot().figure(figsize=(width * cols + extra_width, height * rows), layout="constrained")
    return fig, _grid(fig, n, cols)


def _legend_outside(ax, *handles_and_labels):
    """A legend to the right of the axes (never over the data)."""
    return ax.legend(*handles_and_labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0)


def _name_ticks(ax, names, axes: str = "x") -> None:
    """Parameter names as ticks at 0, 1, ... (every k-th past MAX_NAMED_TICKS), x labels slanted."""
    keep = slice(None, None, max(1, math.ceil(len(names) / MAX_NAMED_TICKS)))
    ticks, labels = np.arange(len(names))[keep], list(names)[keep]
    if "x" in axes:
        ax.set_xticks(ticks, labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=7)
        ax.set_xlabel("parameter")
    if "y" in axes:
        ax.set_yticks(ticks, labels, fontsize=7)
        ax.set_ylabel("parameter")


def _group_positions(n_groups: int, k: int, n_members: int) -> tuple[np.ndarray, float]:
    """x of member k of each group of n_members, the group centered on its index; and the width."""
    width = 0.8 / max(n_members, 1)
    return np.arange(n_groups) + (k - (n_members - 1) / 2) * width, width


def _mark_nan(ax, x, y: float, label: str) -> None:
    """Red crosses at height ``y`` where a value is NaN, so it is seen, not drawn as 0."""
    if len(x):
        ax.plot(x, np.full(len(x), y), "X", color="red", ms=8, ls="none", label=label)


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
    fig, ax = _new_axes(ax, (7, 4))
    ax.loglog(sweep.steps, sweep.errors, "o-", ms=3, label="max relative element error")
    ax.axvline(sweep.best_step, color="gray", ls="--", label=f"best step {sweep.best_step:.2g}")
    ax.set_xlabel("step h (absolute, in the units of every parameter)")
    ax.set_ylabel("max |H_fd - H| / max |H|")
    ax.set_title(f"{sweep.scheme} differences: truncation (right) vs rounding (left)")
    _legend_outside(ax)
    return _finish(fig, path)


def plot_comparison(comparison, path: str | None = None):
    """Heatmaps of relative element errors and bars of SE ratios per candidate.

    One heatmap per candidate of log10 |H_candidate - H_exact| / max |H_exact|
    with the parameters by name on both axes, and one bar chart of every
    candidate's SE ratio (candidate / exact) per parameter, on a log scale
    when the ratios span more than a decade (then each bar runs from 1 to
    its ratio, up or down). A NaN ratio (the candidate gives
    a negative variance) is a red cross on the ratio-1 line. With no
    candidates (``include=()`` and no ``candidates=``) the figure shows the
    exact SEs alone.

    Parameters
    ----------
    comparison : HessianComparison
        From :func:`hessjax.compare_hessians` (or :func:`hessjax.check_hessian`).
    path : str, optional
        Where to save the figure.

    Returns
    -------
    matplotlib.figure.Figure

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
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['x[0]', 'x[1]']
    """
    plt = _pyplot()
    cands, names = comparison.candidates, list(comparison.names)
    panel = float(np.clip(0.22 * len(names), 2.6, 6.0))
    cols = min(max(len(cands), 1), 4 if len(names) <= 12 else 2)  # heatmaps wrap onto rows
    rows = -(-len(cands) // cols) if cands else 0
    width = min(max(panel * cols + 1.5, float(np.clip(0.25 * len(names) * max(len(cands), 1), 4, 18)) + 3), 20.0)
    if cands:
        fig = plt.figure(figsize=(width, panel * rows + 0.8 * rows + 3.2), layout="constrained")
        # Subfigures: the bar chart's outside legend must not squeeze the heatmaps' rows.
        top, bottom = fig.subfigures(2, 1, height_ratios=[(panel + 0.8) * rows, 3.2])
        heatmaps = _grid(top, len(cands), cols)
        scale = np.max(np.abs(comparison.exact)) or 1.0
        for ax, c in zip(heatmaps, cands):
            err = np.abs(c.hessian - comparison.exact) / scale
            image = ax.imshow(np.log10(np.maximum(err, 1e-17)), vmin=-16, vmax=0, cmap="viridis")
            _name_ticks(ax, names, "xy")
            ax.set_title(textwrap.fill(c.name, 30), fontsize=9)  # wrapped, never truncated
        top.colorbar(image, ax=heatmaps, label="log10 |H_cand - H_exact| / max |H_exact|")
        bars = bottom.subplots()
        series = {c.name: c.se_ratio for c in cands}
        bars.axhline(1.0, color="black", lw=0.8, zorder=0.5)  # under the bars' edges
        bars.set(ylabel="SE ratio (candidate / exact)",
                 title="standard errors of each candidate relative to the exact Hessian's")
    else:
        fig, bars = plt.subplots(figsize=(width, 4), layout="constrained")
        series = {"exact-Hessian SE": comparison.exact_se}
        bars.set(ylabel="exact SE (in the units of each parameter)",
                 title="no candidates compared (include=() and no candidates=):\nthe exact-Hessian SEs")
    values = np.array(list(series.values()), dtype=float)  # (bars per parameter, parameters)
    finite = values[np.isfinite(values) & (values > 0)]
    log = bool(finite.size) and finite.max() > 10.0 * finite.min()  # factors of 100 must stay visible
    base = 1.0 if log and cands else 0.0  # on a log axis a ratio's bar runs from 1, up or down
    missing = []
    for k, (label, row) in enumerate(zip(series, values)):
        x, bar_width = _group_positions(len(names), k, len(series))
        # The edge keeps a ratio of exactly 1 (a bar of height 0 from 1) visible.
        bars.bar(x, row - base, bar_width, bottom=base, label=label, color=f"C{k}", edgecolor=f"C{k}", lw=1.5)
        missing.extend(x[np.isnan(row)])
    _mark_nan(bars, missing, 1.0 if cands or not finite.size else float(finite.min()),
              "NaN: negative variance or not finite")
    if log:
        bars.set_yscale("log")
        bars.set_ylim(min(finite.min(), 1.0) / 2, max(finite.max(), 1.0) * 2)  # 1 is never the edge
    _name_ticks(bars, names)
    _legend_outside(bars)
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
    fig, ax = _new_axes(ax, (7, 4))
    k = np.arange(trace.errors.size)
    ax.semilogy(k, trace.errors, "o-", ms=3, label="rel. error of BFGS inverse")
    ax.semilogy(k, trace.grad_norm, "s-", ms=3, label="max |gradient|")
    ax.set_xticks(k[:: max(1, math.ceil(k.size / 15))])
    ax.set_xlabel("iteration")
    ax.set_ylabel("||B - H^-1||_F / ||H^-1||_F; max |gradient|")
    _legend_outside(ax)
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

    _pyplot()  # fail before the (slow) profile when matplotlib is missing
    curve = fit.profile(name, n_points=n_points)
    i = fit.names.index(name)
    q = 0.5 * stats.chi2.ppf(level, 1)
    fig, ax = _new_axes(ax, (7.5, 4))
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
    _legend_outside(ax)
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

    _pyplot()  # fail before the (slow) contour when matplotlib is missing
    points = fit.contour(name1, name2, level=level, n_points=n_points)
    i, j = fit.names.index(name1), fit.names.index(name2)
    est = fit.estimate[[i, j]]
    fig, ax = _new_axes(ax, (6.5, 5))
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
    _legend_outside(ax)
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
    fig, axes = _panels(len(names), 2, 7.5, 3.8)
    for ax, name in zip(axes, names):
        plot_profile(fit, name, level=level, n_points=n_points, ax=ax)
    return _finish(fig, path)


def plot_bootstrap(boot, path: str | None = None, names: Sequence[str] | None = None):
    """Histograms of the bootstrap replicates, one panel per parameter, against normals.

    Each panel shows the successful refits of one parameter (a
    :class:`BootstrapResult`), the normal density N(estimate, SE^2) of the
    exact-Hessian SE (solid) and of the bootstrap SE (dashed), and the
    estimate; its title gives the ratio bootstrap SE / exact SE. Where the
    histogram is wider than the solid curve, the exact-Hessian SE understates
    the sampling spread (misspecification, a small sample, a skewed
    estimator); a histogram that is not bell-shaped means Wald intervals of
    either SE are poor, and the percentile intervals (``boot.intervals``) or
    profile intervals are the ones to report.

    Parameters
    ----------
    boot : BootstrapResult
        From :func:`hessjax.bootstrap`.
    path : str, optional
        Where to save the figure.
    names : sequence of str, optional
        Panel labels instead of ``boot.names`` (one per parameter, in the same
        order).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    ValueError
        If ``names`` is not one distinct string per parameter.
    OSError
        If ``path`` is given and cannot be written (from matplotlib's
        ``savefig``, which also raises ``ValueError`` for an unknown file
        extension).

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]
    >>> res = hj.fit(loglik, {"mu": 0.0, "log_sigma": 0.0}, np.random.default_rng(0).normal(size=50))
    >>> fig = hj.plot_bootstrap(hj.bootstrap(res, n_boot=40, key=0))
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['log_sigma', 'mu']
    """
    from scipy import stats

    names = check_names(names, tuple(boot.names))
    fig, axes = _panels(len(names), 3, 4.2, 3.3, extra_width=2.0)
    for i, (ax, name) in enumerate(zip(axes, names)):
        est, exact, se = boot.estimate[i], boot.exact_se[i], boot.se[i]
        draws = boot.replicates[:, i][np.isfinite(boot.replicates[:, i])]
        if draws.size:
            ax.hist(draws, bins=int(np.clip(np.sqrt(draws.size), 5, 50)), density=True, color="0.8",
                    label="bootstrap replicates")
        widths = np.concatenate([[4.0 * exact, 4.0 * se], np.abs(draws - est)])
        widths = widths[np.isfinite(widths) & (widths > 0)]
        grid = est + (widths.max() if widths.size else 1.0) * np.linspace(-1.0, 1.0, 401)  # est at the center
        for sd, style, label in ((exact, "-", "normal, exact-Hessian SE"), (se, "--", "normal, bootstrap SE")):
            if np.isfinite(sd) and sd > 0:
                ax.plot(grid, stats.norm.pdf(grid, est, sd), style, label=label)
        ax.axvline(est, color="black", lw=0.8, label="estimate")
        ax.set_title(textwrap.fill(f"{name}: SE ratio bootstrap / exact {se / exact:.3g}", 50), fontsize=9)
        ax.set(xlabel=name, ylabel="density")
    legend = {}  # label -> handle, over all panels (a panel may lack a curve)
    for ax in axes:
        legend.update(zip(*ax.get_legend_handles_labels()[::-1]))
    _legend_outside(axes[min(len(axes), 3) - 1], list(legend.values()), list(legend))  # top right
    fig.suptitle(f"{boot.kind} bootstrap: {boot.n_boot} refits, {100 * boot.failed_fraction:.3g}% failed")
    return _finish(fig, path)


def plot_coverage(study, path: str | None = None, names: Sequence[str] | None = None):
    """Empirical coverage per parameter and SE method, with Monte Carlo error bars.

    For a :class:`CoverageStudy`: each point is the fraction of replications
    whose Wald interval covers the truth, with bars of +-2 Monte Carlo SE
    (``2 * study.coverage_mc_se``, the binomial sqrt(c (1 - c) / n_usable));
    the horizontal line is the nominal level and the shaded band is nominal
    +-2 sqrt(level (1 - level) / n_rep), what Monte Carlo noise alone allows.
    A method whose bar misses the band does not deliver its nominal coverage.
    Parameters without a usable replication are red crosses on the nominal
    line.

    Parameters
    ----------
    study : CoverageStudy
        From :func:`hessjax.coverage_study`.
    path : str, optional
        Where to save the figure.
    names : sequence of str, optional
        One name per parameter, overriding ``study.names`` (e.g. for a flat
        ``true_params`` array, whose own names are ``x[0], x[1], ...``).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        If matplotlib is not installed (the ``plot`` extra).
    ValueError
        If ``names`` is not one distinct string per parameter.
    OSError
        If ``path`` is given and cannot be written (from matplotlib's
        ``savefig``, which also raises ``ValueError`` for an unknown file
        extension).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]
    >>> def simulate(key, p):
    ...     return (p["mu"] + jnp.exp(p["log_sigma"]) * jax.random.normal(key, (30,)),)
    >>> study = hj.coverage_study(simulate, loglik, {"mu": 1.0, "log_sigma": 0.0},
    ...                           n_rep=50, key=0, methods=("hessian", "robust"))
    >>> fig = hj.plot_coverage(study)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['log_sigma', 'mu']
    """
    names = list(check_names(names, tuple(study.names)))
    plt = _pyplot()
    methods, level = study.methods, study.level
    fig, ax = plt.subplots(figsize=(float(np.clip(0.3 * len(names) * len(methods) + 4.5, 7.0, 20.0)), 4),
                           layout="constrained")
    noise = 2.0 * np.sqrt(level * (1.0 - level) / study.n_rep)
    ax.axhspan(level - noise, level + noise, color="0.88", label=f"nominal ±2 MC SE ({study.n_rep} reps)")
    ax.axhline(level, color="black", lw=0.8, label=f"nominal {level:g}")
    missing = []
    for k, method in enumerate(methods):
        x, _ = _group_positions(len(names), k, len(methods))
        coverage = np.asarray(study.coverage[method], dtype=float)
        ax.errorbar(x, coverage, yerr=2.0 * np.asarray(study.coverage_mc_se[method]), fmt="osD^v<>"[k % 7],
                    color=f"C{k}", ms=5, capsize=3, label=method)
        missing.extend(x[np.isnan(coverage)])
    _mark_nan(ax, missing, level, "no usable replication")
    _name_ticks(ax, names)
    ax.set(ylabel=f"coverage of {100 * level:g}% Wald intervals",
           title=f"coverage over {study.n_rep} replications (bars: ±2 Monte Carlo SE)")
    _legend_outside(ax)
    return _finish(fig, path)
