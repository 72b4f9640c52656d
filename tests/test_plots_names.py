"""Plots name the parameters, keep legends off the data, use log scales across decades,
and mark what they cannot draw (issue 16).

Assertions are on the matplotlib objects (tick labels, artists, window extents after a
draw), never on pixels. Oracles are closed forms computed here from the result's numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = ["age", "intercept", "log_alpha"]  # ravel_pytree order of the dict's keys
TRUTH = {"intercept": 1.0, "age": 0.5, "log_alpha": -0.5}
AGE = np.linspace(-1.0, 1.0, 40)


def loglik(p, age, y):
    mu = p["intercept"] + p["age"] * age
    return -0.5 * ((y - mu) / jnp.exp(p["log_alpha"])) ** 2 - p["log_alpha"]


def negloglik(p, age, y):
    return -jnp.sum(loglik(p, age, y))


def simulate(key, p):
    age = jnp.asarray(AGE)
    return age, p["intercept"] + p["age"] * age + jnp.exp(p["log_alpha"]) * jax.random.normal(key, age.shape)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fit():
    y = TRUTH["intercept"] + TRUTH["age"] * AGE + np.exp(TRUTH["log_alpha"]) * np.random.default_rng(1).normal(size=AGE.size)
    return hj.fit(loglik, {k: 0.0 for k in TRUTH}, AGE, y)


@pytest.fixture(scope="module")
def comparison(fit):
    """central FD, one candidate whose SE of ``age`` is 100x too large (a ratio across
    decades), and one with a negative variance for ``intercept`` (a NaN ratio)."""
    cov = np.asarray(fit.cov)
    inflated = cov.copy()
    inflated[0, 0] *= 1e4
    negative = np.diag(np.diag(cov))
    negative[1, 1] = -cov[1, 1]
    return hj.compare_hessians(
        negloglik, fit.params, *fit.data, include=("central",),
        candidates={"inflated age variance, a candidate with a long descriptive name":
                    hj.Candidate(inflated, kind="covariance"),
                    "negative variance": hj.Candidate(negative, kind="covariance")},
    )


@pytest.fixture(scope="module")
def boot(fit):
    return hj.bootstrap(fit, n_boot=40, key=0)


@pytest.fixture(scope="module")
def study():
    return hj.coverage_study(simulate, loglik, TRUTH, n_rep=40, key=0, methods=("hessian", "robust"))


def _labels(ticklabels) -> list[str]:
    return [t.get_text() for t in ticklabels]


def _bar_axes(fig):
    return next(ax for ax in fig.axes if any(isinstance(c, matplotlib.container.BarContainer) for c in ax.containers))


def _assert_legends_clear_of_data(fig) -> None:
    """Every legend lies on the figure and overlaps no visible axes (data or colorbar)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + fig.legends
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
        for ax in fig.axes:
            if ax.get_visible():
                assert not box.overlaps(ax.get_window_extent(renderer)), (legend, ax.get_title())


# -- plot_comparison ------------------------------------------------------------------------


def test_comparison_heatmaps_name_the_parameters_on_both_axes(comparison):
    fig = hj.plot_comparison(comparison)
    fig.canvas.draw()
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == len(comparison.candidates) == 3
    for ax, cand in zip(heatmaps, comparison.candidates):
        assert _labels(ax.get_xticklabels()) == NAMES and _labels(ax.get_yticklabels()) == NAMES
        assert ax.get_xlabel() == ax.get_ylabel() == "parameter"
        assert ax.get_title().replace("\n", " ") == cand.name  # wrapped, not truncated
    assert "\n" in heatmaps[1].get_title()
    colorbar = [ax for ax in fig.axes if not ax.images and ax.get_ylabel().startswith("log10")]
    assert len(colorbar) == 1


def test_comparison_bars_are_centered_under_the_parameter_names(comparison):
    ax = _bar_axes(hj.plot_comparison(comparison))
    assert _labels(ax.get_xticklabels()) == NAMES
    centers = np.array([[r.get_x() + r.get_width() / 2 for r in c] for c in ax.containers])
    np.testing.assert_allclose(ax.get_xticks(), centers.mean(axis=0), atol=1e-12)
    assert [c.get_label() for c in ax.containers] == [c.name for c in comparison.candidates]


def test_comparison_ratio_axis_is_log_when_ratios_span_decades(comparison, fit):
    assert comparison.candidates[1].se_ratio[0] == pytest.approx(100.0, rel=1e-9)
    ax = _bar_axes(hj.plot_comparison(comparison))
    assert ax.get_yscale() == "log"
    for container, cand in zip(ax.containers, comparison.candidates):  # bars run from 1 to the ratio
        for bar, ratio in zip(container, cand.se_ratio):
            if np.isfinite(ratio):
                assert bar.get_y() == 1.0 and bar.get_y() + bar.get_height() == pytest.approx(ratio, rel=1e-12)
    central = hj.compare_hessians(negloglik, fit.params, *fit.data, include=("central",))
    assert _bar_axes(hj.plot_comparison(central)).get_yscale() == "linear"


def test_comparison_nan_ratio_is_a_red_cross_in_its_slot_not_a_zero_bar(comparison):
    ax = _bar_axes(hj.plot_comparison(comparison))
    k = [c.name for c in comparison.candidates].index("negative variance")
    assert np.isnan(comparison.candidates[k].se_ratio[1])
    (marker,) = [line for line in ax.lines if line.get_label() == "NaN: negative variance or not finite"]
    bar = ax.containers[k][1]
    np.testing.assert_allclose(marker.get_xdata(), [bar.get_x() + bar.get_width() / 2])
    np.testing.assert_allclose(marker.get_ydata(), [1.0])
    assert np.isnan(bar.get_height())


def test_comparison_legend_does_not_cover_the_bars_or_heatmaps(comparison):
    _assert_legends_clear_of_data(hj.plot_comparison(comparison))


def test_comparison_without_candidates_draws_the_exact_ses(fit, tmp_path):
    # Regression: UnboundLocalError (`im` unset) when include=() left no candidate.
    empty = hj.compare_hessians(negloglik, fit.params, *fit.data, include=())
    assert empty.candidates == ()
    fig = hj.plot_comparison(empty, path=tmp_path / "empty.png")
    (ax,) = fig.axes
    assert "no candidates" in ax.get_title()
    assert _labels(ax.get_xticklabels()) == NAMES
    np.testing.assert_allclose([r.get_height() for r in ax.containers[0]], empty.exact_se)
    _assert_legends_clear_of_data(fig)


def test_comparison_thins_the_names_of_many_parameters():
    n = 60
    cmp = hj.compare_hessians(lambda p: jnp.sum(jnp.arange(1.0, n + 1) * (p - 1.0) ** 2), np.ones(n),
                              include=("central",))
    fig = hj.plot_comparison(cmp)
    fig.canvas.draw()
    for ax in [ax for ax in fig.axes if ax.images] + [_bar_axes(fig)]:
        labels = _labels(ax.get_xticklabels())
        assert labels == list(cmp.names[::3]) and len(labels) <= 25


# -- the other checker figures -------------------------------------------------------------


def test_sweep_and_trace_have_titles_axis_labels_and_legends_outside():
    sweep = hj.plot_step_sweep(hj.step_sweep(lambda p: jnp.sum(jnp.exp(p)), np.array([0.5, -0.5])))
    trace = hj.plot_bfgs_trace(hj.bfgs_trace(lambda p: jnp.sum((p - 1.0) ** 2), np.zeros(2)))
    for fig in (sweep, trace):
        (ax,) = fig.axes
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        _assert_legends_clear_of_data(fig)


# -- plot_bootstrap -------------------------------------------------------------------------


def test_bootstrap_draws_one_named_panel_per_parameter(boot):
    fig = hj.plot_bootstrap(boot)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in panels] == NAMES == list(boot.names)
    for i, ax in enumerate(panels):
        assert ax.get_title().replace("\n", " ") == (
            f"{NAMES[i]}: SE ratio bootstrap / exact {boot.se[i] / boot.exact_se[i]:.3g}"
        )
        heights = [p.get_height() * p.get_width() for p in ax.patches]
        assert sum(heights) == pytest.approx(1.0, rel=1e-9)  # a density histogram
    _assert_legends_clear_of_data(fig)


def test_bootstrap_normal_curves_peak_at_one_over_root_two_pi_se(boot):
    fig = hj.plot_bootstrap(boot)
    for i, ax in enumerate(ax for ax in fig.axes if ax.get_visible()):
        curves = {line.get_label(): line for line in ax.lines}
        for label, se in (("normal, exact-Hessian SE", boot.exact_se[i]), ("normal, bootstrap SE", boot.se[i])):
            line = curves[label]
            peak = np.argmax(line.get_ydata())
            assert line.get_ydata()[peak] == pytest.approx(1.0 / (np.sqrt(2.0 * np.pi) * se), rel=1e-12)
            assert line.get_xdata()[peak] == pytest.approx(boot.estimate[i], rel=1e-12, abs=1e-15)


def test_bootstrap_names_override_and_must_match(boot):
    fig = hj.plot_bootstrap(boot, names=["slope", "constant", "log dispersion"])
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_visible()] == ["slope", "constant", "log dispersion"]
    with pytest.raises(ValueError, match=r"for 3 parameter\(s\)"):
        hj.plot_bootstrap(boot, names=["slope", "constant"])
    with pytest.raises(ValueError, match="sequence of strings"):
        hj.plot_bootstrap(boot, names="abc")


# -- plot_coverage --------------------------------------------------------------------------


def test_coverage_error_bars_are_two_binomial_mc_ses_of_the_usable_replications(study):
    fig = hj.plot_coverage(study)
    (ax,) = fig.axes
    assert _labels(ax.get_xticklabels()) == NAMES
    bars = [c for c in ax.containers if isinstance(c, matplotlib.container.ErrorbarContainer)]
    assert [c.get_label() for c in bars] == list(study.methods) == ["hessian", "robust"]
    for container, method in zip(bars, study.methods):
        c = np.asarray(study.coverage[method])
        n_usable = np.round(np.asarray(study.usable_rate[method]) * study.n_rep)
        (segments,) = container.lines[2]
        lo_hi = np.array([[seg[0, 1], seg[1, 1]] for seg in segments.get_segments()])
        np.testing.assert_allclose(np.abs(lo_hi[:, 1] - lo_hi[:, 0]) / 2, 2.0 * np.sqrt(c * (1 - c) / n_usable),
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(lo_hi.mean(axis=1), c, rtol=1e-12)


def test_coverage_shows_the_nominal_level_and_the_mc_noise_band(study):
    fig = hj.plot_coverage(study)
    (ax,) = fig.axes
    assert any(np.allclose(line.get_ydata(), study.level) for line in ax.lines)
    half = 2.0 * np.sqrt(study.level * (1 - study.level) / study.n_rep)
    (band,) = [p for p in ax.patches if p.get_label().startswith("nominal")]
    ys = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1]
    np.testing.assert_allclose([ys.min(), ys.max()], [study.level - half, study.level + half], rtol=1e-12)
    assert ax.get_title() and ax.get_ylabel() and ax.get_xlabel() == "parameter"
    _assert_legends_clear_of_data(fig)


def test_coverage_names_override_and_must_match(study):
    fig = hj.plot_coverage(study, names=["b_age", "b0", "log dispersion"])
    assert _labels(fig.axes[0].get_xticklabels()) == ["b_age", "b0", "log dispersion"]
    with pytest.raises(ValueError, match=r"1 name\(s\) for 3 parameter"):
        hj.plot_coverage(study, names=["only one"])
