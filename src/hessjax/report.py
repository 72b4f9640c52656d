"""Text and HTML rendering of fit results and certificates.

Kept out of the result dataclasses so they stay plain pytrees. Estimates are
rounded to the precision their standard error supports.
"""

from __future__ import annotations

import html
import math

import jax
import numpy as np

from ._precision import decrement_tolerance
from .covariance import wald_intervals

__all__ = [
    "render_diagnostics",
    "render_fit_text",
    "render_fit_html",
    "render_bootstrap_text",
    "render_coverage_text",
    "render_test_result",
    "render_diagnostics_html",
    "render_comparison_html",
    "render_text_html",
    "render_candidate",
    "verdict",
]


def _decimals(se: float) -> int:
    """Decimals that show two significant digits of the standard error."""
    if not np.isfinite(se) or se <= 0:
        return 6
    return int(min(max(1 - math.floor(math.log10(se)), 0), 12))


def _fmt(value: float, decimals: int) -> str:
    if not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.{decimals}f}"


_WALD_KIND = {
    "domain": "its 95% Wald interval leaves the parameter space",
    "flat": "flat on one side - running off to infinity or at a bound",
    "steep": "far steeper than the Hessian says - a degenerate optimum",
}


def verdict(d) -> str:
    """One line: can the standard errors be used? (the first failing reason)"""
    if bool(d.is_valid):
        return "VALID: a strict local maximum; the exact-Hessian standard errors can be used."
    bad = [n for n, b in zip(d.names, np.asarray(d.nonfinite_derivative)) if b]
    if bad:
        return (f"NOT VALID: the log-likelihood is finite but its derivatives are not for "
                f"{', '.join(bad)} (jnp.where around log(0)? see the 'double where' fix).")
    if bool(d.grows_without_bound):
        return ("NOT VALID: the log-likelihood grows without bound - fit maximizes: did you pass "
                "a negative log-likelihood?")
    if d.inner_failed is not None and bool(d.inner_failed):
        return "NOT VALID: the random effects' inner solve failed - the Laplace marginal is not defined here."
    hits = [name for name, _ in d.bound_hits()]
    if hits:
        return (f"NOT VALID: {', '.join(hits)} {'is' if len(hits) == 1 else 'are'} on a bound - "
                "SE undefined there; report the one-sided profile interval.")
    if bool(d.is_saddle):
        return "NOT VALID: a saddle point (negative curvature) - not a maximum."
    if not bool(d.hessian_is_pd):
        if d.runs_off:
            return ("NOT VALID: the maximum is at infinity (the log-likelihood still increases "
                    "along a flat direction) - SEs undefined.")
        return "NOT VALID: the information matrix is singular (flat directions) - SEs undefined."
    failures = d.wald_failures()
    if failures:
        parts = {}
        for name, kind, _ in failures:
            parts.setdefault(kind, []).append(name)
        what = "; ".join(f"{', '.join(names)}: {_WALD_KIND[kind]}" for kind, names in parts.items())
        return (f"NOT VALID: the log-likelihood is not quadratic over the standard errors ({what}) "
                "- SEs and Wald intervals cannot be used; see the reasons below.")
    return (f"NOT VALID: the estimate is {float(d.newton_step_se):.2g} standard errors short of "
            "the maximum (Newton decrement).")


def certificate_rows(d) -> list[tuple[str, str, str]]:
    """``(status, check, value and meaning)`` rows of one certificate, shared by the
    text and HTML renderings; status is ``"ok"``, ``"NO"``, ``"-"`` (not judged) or
    ``""`` (a number shown for information)."""

    def mark(ok: bool) -> str:
        return "ok" if ok else "NO"

    pd = bool(d.hessian_is_pd)
    finite = not bool(np.any(np.asarray(d.nonfinite_derivative)))
    return [
        (mark(bool(d.converged)), "converged", "optimizer test, or within 1e-3 SE of the maximum"),
        (mark(finite), "finite derivatives", "gradient and Hessian finite"),
        (mark(pd), "hessian_is_pd", "observed information positive definite"),
        (mark(not bool(d.is_saddle)), "not a saddle",
         "negative curvature: a saddle point" if bool(d.is_saddle) else "no negative curvature"),
        (mark(bool(d.at_maximum)), "newton_decrement", f"{float(d.newton_decrement):.3g} (g'H^-1g"
         + (f"; {float(d.newton_step_se):.2g} SE from the maximum)" if pd else ")")),
        (mark(bool(np.all(np.asarray(d.wald_adequate)))) if pd else "-", "wald_adequate",
         "loglik drops as the Hessian predicts at +-1, +-1.96 SE" if pd else "not judged: no SEs"),
        ("", "grad_norm", f"{float(d.grad_norm):.3g}"),
        ("", "eigenvalues", f"min {float(d.min_eigenvalue):.4g}, max {float(d.max_eigenvalue):.4g}"),
        ("", "condition_number", f"{float(d.condition_number):.3g} (correlation-scaled)"),
    ]


def render_diagnostics(d) -> str:
    """One-screen certificate."""
    if np.ndim(d.is_valid) != 0:
        n = np.shape(d.is_valid)[0]
        return (
            f"Diagnostics for a batch of {n} fits: {int(np.sum(d.is_valid))} valid, "
            f"{int(np.sum(d.converged))} converged, {int(np.sum(d.hessian_is_pd))} with a "
            f"positive definite information, {int(np.sum(d.is_saddle))} saddles."
        )

    lines = [verdict(d)]
    for status, check, text in certificate_rows(d):
        lines.append(f"  [{status:^3}] {check:<21} {text}" if status else f"        {check:<21} {text}")
    problems = d.problems()
    if problems:
        lines.append("  Why, and what to do:")
        lines += [f"    - {text}" for text in problems]
    directions = d.directions()
    if directions:
        lines.append("  Problem directions:")
        lines += [f"    {text}" for text in directions]
    return "\n".join(lines)


def _rows(result, level: float):
    from scipy import stats  # imported when needed: 0.5 s of `import hessjax`

    est = result.estimate
    se = result.se_vector
    with np.errstate(invalid="ignore", divide="ignore"):  # fixed parameters: SE 0
        z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    # The table shows the Wald interval of every row; unusable rows are marked, not warned about.
    with jax.enable_x64(True):  # float64 like conf_int
        ci = np.asarray(wald_intervals(est, se, level))
    d = result.diagnostics
    unusable = {name for name, _, _ in d.wald_failures()} if bool(d.hessian_is_pd) else set()
    unusable |= {name for name, _ in d.bound_hits()}
    fixed = set(getattr(result, "fixed", ()))
    for i, name in enumerate(result.names):
        dec = _decimals(se[i])
        if name in fixed:
            yield (name, f"{est[i]:.6g}", "fixed", "", "", "", "")
            continue
        yield (
            f"{name} !" if name in unusable else name,
            _fmt(est[i], dec),
            _fmt(se[i], dec + 1) if np.isfinite(se[i]) else "nan",
            f"{z[i]:.2f}" if np.isfinite(z[i]) else "nan",
            f"{p[i]:.3g}" if np.isfinite(p[i]) else "nan",
            _fmt(ci[i, 0], dec),
            _fmt(ci[i, 1], dec),
        )


def render_fit_text(result, level: float = 0.95) -> str:
    """Fit summary table and certificate."""
    if np.ndim(result.loglik) != 0:
        return repr(result) + "\n" + render_diagnostics(result.diagnostics)
    pct = f"{100 * level:g}%"
    head = ("parameter", "estimate", "std err", "z", "P>|z|", f"[{pct}", "CI]")
    rows = list(_rows(result, level))
    widths = [max(len(str(r[k])) for r in [head, *rows]) for k in range(len(head))]
    fmt = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(w) if k == 0 else str(c).rjust(w) for k, (c, w) in enumerate(zip(r, widths))
    )
    lines = [_fit_heading(result), fmt(head), "-" * len(fmt(head)), *[fmt(r) for r in rows]]
    lines += _fit_notes(result, rows)
    lines += ["", render_diagnostics(result.diagnostics)]
    return "\n".join(lines)


def _fit_heading(result) -> str:
    n = f", nobs = {result.nobs}" if result.nobs is not None else ""
    return (
        f"Maximum likelihood fit: loglik = {float(result.loglik):.6f}{n}, {len(result.names)} parameters"
        + (f" ({len(result.names) - len(result.fixed)} free, {len(result.fixed)} fixed)"
           if getattr(result, "fixed", ()) else "")
    )


def _fit_notes(result, rows) -> list[str]:
    """The footnotes under the parameter table (a "!" marker, a forced pseudo-inverse)."""
    notes = []
    if any(str(r[0]).endswith(" !") for r in rows):
        notes.append("! the standard error and Wald interval of this parameter cannot be used "
                     "(see the reasons below)")
    if result.covariance_method == "pinv":
        notes.append(
            "WARNING: covariance is a PSEUDO-INVERSE (forced on request); it is not the "
            "covariance of the estimate."
        )
    return notes


def render_fit_html(result, level: float = 0.95) -> str:
    """HTML version of :func:`render_fit_text` for notebooks."""
    if np.ndim(result.loglik) != 0:
        return f"<pre>{html.escape(render_fit_text(result))}</pre>"
    head = ("parameter", "estimate", "std err", "z", "P>|z|", f"[{100 * level:g}%", "CI]")
    rows = list(_rows(result, level))
    notes = "".join(f"<p><b>{html.escape(text)}</b></p>" for text in _fit_notes(result, rows))
    return (
        f"<div><p>{html.escape(_fit_heading(result))}</p>{_html_table(head, rows)}"
        f"{notes}{render_diagnostics_html(result.diagnostics)}</div>"
    )


def se_column_keys(labels: list[str], used: int, limit: int = 100) -> tuple[list[str], list[str]]:
    """Column headers for ``labels`` in a table ``used`` characters wide before them:
    the labels themselves when the line fits in ``limit`` characters, else ``[1]``,
    ``[2]``, ... with a key below the table (never cut to a prefix that two long
    names can share)."""
    if used + sum(max(len(k), 8) + 1 for k in labels) <= limit:
        return list(labels), []
    keys = [f"[{i + 1}]" for i in range(len(labels))]
    return keys, [f"  {k} {label}" for k, label in zip(keys, labels)]


def render_comparison(cmp) -> str:
    """Text report of a :class:`~hessjax.compare.HessianComparison`."""
    names = cmp.names
    cw = max([len("candidate"), *(len(c.name) for c in cmp.candidates)])
    lines = [
        f"Hessian check at x ({len(names)} parameters): exact Hessian "
        f"{'positive definite' if cmp.exact_is_pd else 'NOT positive definite'}; "
        f"{'all candidates agree' if cmp.ok else 'some candidates disagree'} (rtol {cmp.rtol:g} on SEs)",
        "",
        f"{'candidate':<{cw}} {'ok':>3} {'PD':>3} {'max rel err':>11} {'rel Frob':>9} "
        f"{'SE ratio min':>12} {'max':>8} {'angle':>7} {'KL':>9}",
    ]
    for c in cmp.candidates:
        finite = c.se_ratio[np.isfinite(c.se_ratio)]
        lo = f"{finite.min():.4g}" if finite.size else "nan"
        hi = f"{finite.max():.4g}" if finite.size else "nan"
        lines.append(
            f"{c.name:<{cw}} {'yes' if c.ok else 'NO':>3} {'yes' if c.is_pd else 'NO':>3} "
            f"{c.max_rel_element_error:11.3g} {c.rel_frobenius_error:9.3g} {lo:>12} {hi:>8} "
            f"{c.max_principal_angle:6.2f}° {c.kl_divergence:9.3g}"
        )
    width = max(len("parameter"), *(len(n) for n in names))
    keys, key_lines = se_column_keys([c.name for c in cmp.candidates], width + 13)
    widths = [max(len(k), 8) for k in keys]
    lines += ["", "Standard errors (exact, then each candidate's ratio to exact):"]
    lines.append(f"{'parameter':<{width}} {'exact SE':>12}" + "".join(f" {k:>{w}}" for k, w in zip(keys, widths)))
    for i, n in enumerate(names):
        row = f"{n:<{width}} {cmp.exact_se[i]:12.5g}"
        for c, w in zip(cmp.candidates, widths):
            r = c.se_ratio[i]
            row += f" {('neg var' if np.isnan(r) else f'{r:.4f}'):>{w}}"
        lines.append(row)
    lines += key_lines
    lines += ["", "Verdicts:"]
    lines += [f"- {c.name}: {c.verdict}" for c in cmp.candidates]
    return "\n".join(lines)


def _table(head: tuple, rows: list) -> list[str]:
    widths = [max(len(str(r[k])) for r in [head, *rows]) for k in range(len(head))]
    fmt = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(w) if k == 0 else str(c).rjust(w) for k, (c, w) in enumerate(zip(r, widths))
    )
    return [fmt(head), "-" * len(fmt(head)), *[fmt(r) for r in rows]]


def render_bootstrap_text(boot) -> str:
    """Table of a :class:`~hessjax.bootstrap.BootstrapResult` next to the exact SEs."""
    lo, hi = 50 * (1 - boot.level), 50 * (1 + boot.level)
    head = ("parameter", "estimate", "exact SE", "boot SE", "boot/exact", f"[{lo:g}%", f"{hi:g}%]", "bias")
    rows = []
    for i, name in enumerate(boot.names):
        dec = _decimals(boot.exact_se[i] if np.isfinite(boot.exact_se[i]) else boot.se[i])
        ratio = boot.se[i] / boot.exact_se[i]
        rows.append((
            name, _fmt(boot.estimate[i], dec), _fmt(boot.exact_se[i], dec + 1),
            _fmt(boot.se[i], dec + 1), f"{ratio:.3f}" if np.isfinite(ratio) else "nan",
            _fmt(boot.intervals[i, 0], dec), _fmt(boot.intervals[i, 1], dec),
            _fmt(boot.bias[i], dec + 1),
        ))
    mc = boot.mc_se_relative
    return "\n".join([
        f"{boot.kind.capitalize()} bootstrap: {boot.n_boot} refits, "
        f"{100 * boot.failed_fraction:.1f}% failed"
        + (f", {100 * boot.uncertified_fraction:.1f}% of the rest not certified (kept)"
           if boot.uncertified_fraction else "")
        + "; percentile intervals",
        *_table(head, rows),
        f"Monte Carlo error of a bootstrap SE: {100 * mc:.1f}% (1 SD); boot/exact ratios within "
        f"1 +- {2 * mc:.3f} agree at about 2 SD. A larger gap under a well-specified model "
        "means too few refits; under misspecification compare with fit.robust_cov().",
    ])


def render_test_result(result) -> str:
    """One line for a :class:`~hessjax.TestResult`: ``Wald test: chi2(2) = 5.9915, p-value = 0.05``."""
    name = f"{result.test[:1].upper()}{result.test[1:]} test" if result.test else "Test"
    p = result.pvalue
    shown = f"{p:.4g}" if p >= 1e-4 or p == 0 else f"{p:.3e}"
    return f"{name}: chi2({result.df}) = {result.statistic:.5g}, p-value = {shown}"


def render_coverage_text(study) -> str:
    """Table of a :class:`~hessjax.coverage.CoverageStudy`: one row per parameter and method."""
    head = ("parameter", "method", "coverage", "+-MC SE", "bias", "SE/SD", "usable", "converged")
    rows = []
    for i, name in enumerate(study.names):
        for m in study.methods:
            rows.append((
                name, m, f"{study.coverage[m][i]:.3f}", f"{study.coverage_mc_se[m][i]:.3f}",
                f"{study.bias[m][i]:.3g}", f"{study.se_ratio[m][i]:.3f}",
                f"{study.usable_rate[m][i]:.3f}", f"{study.convergence_rate[m]:.3f}",
            ))
    lines = [
        f"Coverage study: {study.n_rep} simulated datasets, nominal {100 * study.level:g}% "
        "Wald intervals",
        *_table(head, rows),
        "coverage within ~2 MC SE of nominal and SE/SD near 1 mean calibrated standard errors; "
        "'usable' is the fraction of replications with a valid fit (certificate) and a finite SE.",
    ]
    lines += [f"note: {note}" for note in study.notes]
    return "\n".join(lines)


def _html_table(head, rows) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_diagnostics_html(d) -> str:
    """The certificate as an HTML block, colored by validity."""
    if np.ndim(d.is_valid) != 0:
        return f"<pre>{html.escape(render_diagnostics(d))}</pre>"
    color = "#d4edda" if bool(d.is_valid) else "#f8d7da"
    rows = [(check, status, text) for status, check, text in certificate_rows(d)]
    problems = "".join(f"<li>{html.escape(s)}</li>" for s in d.problems())
    directions = "".join(f"<li>{html.escape(s)}</li>" for s in d.directions())
    return (
        f"<div style='background:{color};padding:4px'><p><b>{html.escape(verdict(d))}</b></p>"
        f"{_html_table(('check', 'status', 'value and meaning'), rows)}"
        + (f"<ul>{problems}</ul>" if problems else "")
        + (f"<ul>{directions}</ul>" if directions else "")
        + "</div>"
    )


def render_comparison_html(cmp) -> str:
    """HTML version of :func:`render_comparison`."""
    head = ("candidate", "ok", "PD", "max rel err", "rel Frob", "SE ratio min", "SE ratio max", "angle", "KL")
    rows = []
    for c in cmp.candidates:
        finite = c.se_ratio[np.isfinite(c.se_ratio)]
        rows.append((
            c.name, "yes" if c.ok else "NO", "yes" if c.is_pd else "NO",
            f"{c.max_rel_element_error:.3g}", f"{c.rel_frobenius_error:.3g}",
            f"{finite.min():.4g}" if finite.size else "nan", f"{finite.max():.4g}" if finite.size else "nan",
            f"{c.max_principal_angle:.2f}°", f"{c.kl_divergence:.3g}",
        ))
    se_rows = [
        (n, f"{cmp.exact_se[i]:.5g}", *[
            "neg var" if np.isnan(c.se_ratio[i]) else f"{c.se_ratio[i]:.4f}" for c in cmp.candidates
        ])
        for i, n in enumerate(cmp.names)
    ]
    verdicts = "".join(f"<li><b>{html.escape(c.name)}</b>: {html.escape(c.verdict)}</li>" for c in cmp.candidates)
    status = "all candidates agree" if cmp.ok else "some candidates disagree"
    return (
        f"<div><p>Hessian check ({len(cmp.names)} parameters): {status} "
        f"(rtol {cmp.rtol:g} on SEs)</p>{_html_table(head, rows)}"
        f"<p>Standard errors: exact, then each candidate's ratio to exact</p>"
        f"{_html_table(('parameter', 'exact SE', *[c.name for c in cmp.candidates]), se_rows)}"
        f"<ul>{verdicts}</ul></div>"
    )


def render_text_html(text: str) -> str:
    """Preformatted HTML of a text report (tables that are already aligned)."""
    return f'<pre style="white-space:pre-wrap">{html.escape(text)}</pre>'


def render_candidate(c, names=None) -> str:
    """Text report of one :class:`~hessjax.compare.CandidateReport` (``check_hessian``)."""
    names = names or [f"x[{i}]" for i in range(len(c.se_ratio))]
    lines = [
        f"Check of {c.name!r} ({c.kind}, {c.source}) against the exact Hessian: "
        f"{'AGREES' if c.ok else 'DISAGREES'}; positive definite: {'yes' if c.is_pd else 'NO'}",
        f"  max relative element error {c.max_rel_element_error:.3g}, relative Frobenius error "
        f"{c.rel_frobenius_error:.3g}, largest eigenvector angle {c.max_principal_angle:.2f}°, "
        f"KL divergence {c.kl_divergence:.3g}",
        "  SE ratio (candidate / exact) per parameter:",
    ]
    width = max(len(n) for n in names)
    for n, r in zip(names, c.se_ratio):
        lines.append(f"    {n:<{width}}  {'neg var' if np.isnan(r) else f'{r:.4f}'}")
    lines.append(f"  Verdict: {c.verdict}")
    return "\n".join(lines)


# -- fit_large, selected_se ----------------------------------------------------------------
def _se_status(se, i: int) -> str:
    if bool(se.indefinite[i]):
        return "not positive definite"
    if not bool(se.converged[i]):
        return "CG not converged"
    return "ok" if np.isfinite(se.se[i]) else "NaN: information not certified PD"


def render_selected_se(se, estimate: np.ndarray | None = None) -> str:
    """Table: parameter, (estimate,) SE, CG products, final relative residual, status."""
    values = np.asarray(se.se)
    if values.ndim != 1:
        return f"SelectedSE for a batch of {values.shape[0]}, {len(se.names)} parameters each"
    width = max([len(n) for n in se.names] + [9])
    est = f"  {'estimate':>14}" if estimate is not None else ""
    lines = [f"{'parameter':<{width}}{est}  {'SE':>12}  {'CG its':>6}  {'residual':>9}  status"]
    for i, name in enumerate(se.names):
        est = f"  {estimate[int(se.index[i])]:>14.8g}" if estimate is not None else ""
        lines.append(
            f"{name:<{width}}{est}  {values[i]:>12.6g}  {int(se.cg_iterations[i]):>6d}  "
            f"{float(se.residual[i]):>9.2e}  {_se_status(se, i)}"
        )
    return "\n".join(lines)


def render_large_fit(result) -> str:
    """One screen: verdict, certificate flags, eigenvalue bounds, SE table."""
    if np.ndim(result.is_valid) != 0:
        n = np.shape(result.is_valid)[0]
        return (
            f"LargeFitResult for a batch of {n} fits: {int(np.sum(result.is_valid))} valid, "
            f"{int(np.sum(result.converged))} converged, {len(result.names)} parameters each"
        )

    def mark(ok) -> str:
        return "ok " if bool(ok) else "NO "

    e, opt = result.eigen, result.optimizer
    decrement = float(result.newton_decrement)
    verdict = (
        "Certified maximum: the standard errors can be trusted as far as the quadratic "
        "approximation goes."
        if bool(result.is_valid)
        else "NOT a certified maximum: see the flags marked NO."
    )
    lines = [
        f"fit_large: {len(result.names)} parameters, log-likelihood {float(result.loglik):.10g}",
        verdict,
        f"  [{mark(result.converged)}] converged           Newton-CG gradient and curvature tests "
        f"({int(opt.nit)} steps, {int(opt.nhev)} Hessian-vector products)",
        f"  [{mark(result.hessian_is_pd)}] hessian_is_pd       smallest Ritz value minus its "
        "error bound is positive (unscaled)",
        f"  [{mark(not bool(result.is_saddle))}] not a saddle        no negative Ritz value",
        f"  [{mark(decrement <= decrement_tolerance)}] newton_decrement    {decrement:.3g} "
        "(g'H^-1g by CG)",
        f"        grad_norm           {float(result.grad_norm):.3g}",
        f"        eigenvalues         min {float(e.min_eigenvalue):.6g} +- {float(e.min_error):.2g}, "
        f"max {float(e.max_eigenvalue):.6g} +- {float(e.max_error):.2g} "
        f"({int(e.steps)} Lanczos steps{'' if bool(e.converged) else ', not converged'})",
        f"        condition_number    {float(result.condition_number):.3g} (unscaled)",
        "",
        f"Standard errors of {len(result.se.names)} of {len(result.names)} parameters:",
        render_selected_se(result.se, result.estimate),
    ]
    return "\n".join(lines)


# -- least_squares ----------------------------------------------------------------------------
def render_least_squares(result) -> str:
    """Estimates with both standard errors (NIST J'J and exact MLE), then the certificate."""
    flat = lambda tree: np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(tree)])  # noqa: E731
    se, se_mle = flat(result.se), flat(result.se_mle)
    width = max(len(n) for n in result.names)
    if result.weighted:
        kind = "absolute" if result.absolute_sigma else "relative"
        head = (
            f"Weighted nonlinear least squares ({kind} sigma): chi2 = {float(result.rss):.10g}, "
            f"chi2/dof = {float(result.s2):.6g}, nobs = {result.nobs}, dof = {result.dof}"
        )
    else:
        head = f"Nonlinear least squares: rss = {float(result.rss):.10g}, nobs = {result.nobs}, dof = {result.dof}"
    gauss_newton = "se (J^TJ, abs.)" if result.absolute_sigma else "se (J^TJ, NIST)"
    lines = [
        head,
        f"{'parameter':<{width}}  {'estimate':>16}  {gauss_newton:>16}  {'se (exact MLE)':>16}",
    ]
    for name, e, a, b in zip(result.names, result.estimate, se, se_mle):
        lines.append(f"{name:<{width}}  {e:16.10g}  {a:16.6g}  {b:16.6g}")
    return "\n".join(lines + ["", render_diagnostics(result.diagnostics)])

