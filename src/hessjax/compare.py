"""Measure Hessian approximations against the exact Hessian, and explain the gap.

``compare_hessians(f, x, *args)`` builds the usual candidates (finite
differences, statsmodels' ``approx_hess*``, numdifftools, a BFGS
inverse-Hessian approximation) or takes the user's, and reports per candidate:
the largest element error relative to the largest exact element, the relative
Frobenius error, the ratio of implied to exact standard errors per parameter,
eigenvalue ratios, the largest angle between corresponding eigenvectors, the
Kullback–Leibler divergence between the Gaussians the two covariances imply,
positive definiteness, and a verdict with the likely cause.

The checker must not be fooled. A matrix that is not symmetric fails on its
own (its symmetrized part may agree while its elements do not); a candidate
that fails but would pass as -1 times itself, or as the inverse of itself, is
named as the Hessian of the log-likelihood instead of its negative, or a
covariance passed as a Hessian (and the reverse), with the fix; an unknown
``include`` name or ``"bfgs"`` without ``bfgs_start`` is an error, and a
comparison of nothing is not ``ok``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from typing import Any, Callable

import jax
import numpy as np

from ._precision import EPS, float64_entry_point
from ._tree import check_names, spec_names
from .approximations import FDHessian, default_step, fd_hessian
from .covariance import gated_covariance
from .objective import bind
from .optimize.minimize import minimize
from .report import render_candidate, render_comparison, render_comparison_html, render_text_html

__all__ = [
    "Candidate", "CandidateReport", "HessianComparison", "compare_hessians", "check_hessian",
    "check_scipy_result", "BUILTIN_CANDIDATES", "symmetry_tolerance",
]

KINDS = ("hessian", "inverse", "covariance")

# Components of a direction smaller than this are not named in messages: a unit
# vector's components with |v_i| < 0.1 carry under 1% of its squared length.
_SHOWN_COMPONENT = 0.1
# A quasi-Newton inverse-Hessian eigenvalue within this of 1 (relative to the
# identity start) along which the exact inverse differs by more than rtol has
# never been updated: BFGS corrections along explored directions move the
# eigenvalue by O(1), rounding by O(eps); 1e-6 separates the two.
_UNTOUCHED_EIGENVALUE = 1e-6
# A finite-difference step further than this factor from the scale-aware rule
# (either way) is named as the cause: the FD error grows as h^2 (truncation) or
# eps/h^2 (rounding), so a factor of 100 in h changes it by 1e4.
_STEP_FACTOR = 1e2
#: Names accepted by ``compare_hessians(include=...)``.
BUILTIN_CANDIDATES = ("central", "forward", "richardson", "bfgs", "statsmodels", "numdifftools")


def symmetry_tolerance(n: int) -> float:
    """Largest ||H - H'||_F / ||H||_F that rounding explains for an ``(n, n)`` matrix.

    An element assembled in floating point is off by about eps relative, and
    a row sums n of them; the factor 100 covers accumulated symmetric updates
    (SciPy's BFGS ``hess_inv`` leaves 1.6e-14 after 22 iterations at n = 9,
    against 100 n eps = 2e-13). Anything larger is an error in the matrix.
    """
    return 100 * EPS * n


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A matrix to check: a Hessian, an inverse Hessian, or a covariance.

    ``source`` says where it came from (``"fd"``, ``"quasi-newton"``,
    ``"user"``), which selects the explanation of a gap; ``step`` is the FD
    step when known.
    """

    matrix: Any
    kind: str = "hessian"
    source: str = "user"
    step: Any = None


@dataclasses.dataclass(frozen=True)
class CandidateReport:
    """Metrics and verdict for one candidate (see :func:`compare_hessians`)."""

    name: str
    kind: str
    source: str
    hessian: np.ndarray  # the candidate as a Hessian (inverted if needed)
    max_rel_element_error: float
    rel_frobenius_error: float
    se_ratio: np.ndarray  # se_candidate / se_exact per parameter (NaN: negative variance)
    eigenvalue_ratios: np.ndarray  # ascending eigenvalues of the candidate / exact Hessian
    max_principal_angle: float  # degrees, between corresponding eigenvectors
    kl_divergence: float
    is_pd: bool
    ok: bool
    verdict: str
    asymmetry: float = 0.0  # ||M - M'||_F / ||M||_F of the matrix as given (before symmetrizing)
    names: tuple = ()  # the parameter names (x[i] for a flat array unless names= was given)

    def __str__(self) -> str:
        return render_candidate(self, self.names or None)

    def _repr_html_(self) -> str:
        return render_text_html(str(self))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "max_rel_element_error": self.max_rel_element_error,
            "rel_frobenius_error": self.rel_frobenius_error,
            "se_ratio": self.se_ratio.tolist(),
            "se_ratio_min": float(np.nanmin(self.se_ratio)) if np.any(np.isfinite(self.se_ratio)) else None,
            "se_ratio_max": float(np.nanmax(self.se_ratio)) if np.any(np.isfinite(self.se_ratio)) else None,
            "eigenvalue_ratios": self.eigenvalue_ratios.tolist(),
            "max_principal_angle_deg": self.max_principal_angle,
            "kl_divergence": self.kl_divergence,
            "is_pd": self.is_pd,
            "asymmetry": self.asymmetry,
            "ok": self.ok,
            "verdict": self.verdict,
        }


@dataclasses.dataclass(frozen=True)
class HessianComparison:
    """Exact Hessian at ``x`` and a report per candidate; ``str()`` is the report."""

    x: np.ndarray
    names: tuple
    exact: np.ndarray
    exact_se: np.ndarray
    exact_is_pd: bool
    candidates: tuple
    rtol: float

    @property
    def ok(self) -> bool:
        """At least one candidate was compared, and every one agrees with the
        exact Hessian within ``rtol`` on the SEs (and is symmetric)."""
        return bool(self.candidates) and all(c.ok for c in self.candidates)

    def __getitem__(self, name: str) -> CandidateReport:
        for c in self.candidates:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "x": self.x.tolist(),
            "names": list(self.names),
            "exact_se": self.exact_se.tolist(),
            "exact_is_pd": self.exact_is_pd,
            "ok": self.ok,
            "n_compared": len(self.candidates),
            "candidates": {c.name: c.to_dict() for c in self.candidates},
        }

    def __str__(self) -> str:
        if not self.candidates:
            return NOTHING_COMPARED
        return render_comparison(self)

    def _repr_html_(self) -> str:
        return render_text_html(NOTHING_COMPARED) if not self.candidates else render_comparison_html(self)


NOTHING_COMPARED = (
    "Hessian check: NOTHING WAS COMPARED (no candidates), so nothing is known to agree; "
    "pass candidates={name: matrix} or include=(\"central\", ...) (the default includes the "
    "finite-difference schemes)."
)


def _as_dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "todense"):  # scipy's LbfgsInvHessProduct
        matrix = matrix.todense()
    return np.asarray(matrix, dtype=np.float64)


def _inverse(matrix: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return np.full_like(matrix, np.nan)


# The library's one positive-definiteness rule: the Cholesky gate of
# hessjax.covariance on the correlation-scaled matrix (compiled once per size).


def _is_pd(matrix: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(matrix)) and gated_covariance(matrix)[1])


def _asymmetry(matrix: np.ndarray) -> float:
    norm = np.linalg.norm(matrix)
    return float(np.linalg.norm(matrix - matrix.T) / norm) if norm > 0 else 0.0


def _kl(cov_exact: np.ndarray, cov: np.ndarray) -> float:
    """KL( N(0, cov_exact) || N(0, cov) )."""
    if not (_is_pd(cov_exact) and _is_pd(cov)):
        return float("inf")
    n = cov.shape[0]
    _, logdet_c = np.linalg.slogdet(cov)
    _, logdet_e = np.linalg.slogdet(cov_exact)
    # KL >= 0 by definition; rounding can leave -1e-15 for identical matrices.
    return max(float(0.5 * (np.trace(np.linalg.solve(cov, cov_exact)) - n + logdet_c - logdet_e)), 0.0)


def _direction(v: np.ndarray, names: tuple) -> str:
    v = v * np.sign(v[np.argmax(np.abs(v))])
    idx = [i for i in np.argsort(-np.abs(v)) if abs(v[i]) >= _SHOWN_COMPONENT]
    parts = [f"{v[idx[0]]:.3g} {names[idx[0]]}"]
    parts += [f"{'-' if v[i] < 0 else '+'} {abs(v[i]):.3g} {names[i]}" for i in idx[1:]]
    return " ".join(parts)


def _misreading_text(negated: bool, swapped: bool, as_hessian: bool) -> str:
    """What the user did and what to do, for a candidate that agrees once negated and/or inverted."""
    as_inverse = "pass it as an inverse (check_hessian(..., inverse=True); hessjax check --inverse)"
    as_hess = "pass it as a Hessian (check_hessian(..., inverse=False); hessjax check --hessian)"
    if negated and not swapped:
        if as_hessian:
            return (
                "this is the exact Hessian times -1: you passed the Hessian of the log-likelihood; "
                "fit/hessjax use the Hessian of the NEGATIVE log-likelihood (the observed "
                "information): negate it"
            )
        return (
            "this is the exact inverse Hessian times -1: you passed the inverse of the "
            "log-likelihood's Hessian; the covariance is the inverse of the Hessian of the NEGATIVE "
            "log-likelihood: negate it"
        )
    if swapped and not negated:
        if as_hessian:
            return (
                f"this matrix is the inverse of the exact Hessian (a covariance), not a Hessian: {as_inverse}"
            )
        return f"this matrix is the exact Hessian itself, not its inverse: {as_hess}"
    if as_hessian:
        return (
            "this matrix is -1 times the inverse of the exact Hessian: the inverse of the "
            f"log-likelihood's Hessian, passed as a Hessian: negate it and {as_inverse}"
        )
    return (
        "this matrix is -1 times the exact Hessian: the Hessian of the log-likelihood, passed as "
        f"an inverse: negate it and {as_hess}"
    )


def _explain(report: dict, cand: Candidate, exact: np.ndarray, exact_is_pd: bool, x, names, rtol,
             suggest_step: Callable[[], np.ndarray]) -> str:
    """The likely cause of a gap, in words."""
    if not exact_is_pd:
        return (
            "x is not a strict minimum: the exact Hessian is not positive definite (a saddle or "
            "a flat direction), so no covariance exists here and every candidate's standard "
            "errors are meaningless; fit first, or see hj.fit(...).diagnostics"
        )
    if not report["finite"]:
        return (
            "not finite: the matrix has NaN or inf entries, so it implies no standard errors; "
            "an FD step that overflowed, a log of a non-positive value at x, or a failed inversion "
            "upstream are the usual causes"
        )
    causes = []
    n = exact.shape[0]
    if report["asymmetry"] > symmetry_tolerance(n):
        causes.append(
            f"not symmetric: the relative antisymmetric part ||H - H'||/||H|| is "
            f"{report['asymmetry']:.3g} (rounding explains {symmetry_tolerance(n):.2g}), and a "
            "Hessian (and its inverse) is symmetric, so its elements carry errors that "
            "symmetrizing would hide; check how it was assembled (a transposed block, H[i, j] "
            "and H[j, i] computed differently, a parameter-order mix-up), or, if the asymmetry is the expected error "
            "of your method (a finite-difference Jacobian of the gradient), symmetrize it "
            "yourself with (H + H.T) / 2"
        )
    if report["misreading"] is not None:
        return "; ".join(causes + [_misreading_text(*report["misreading"], cand.kind == "hessian")])
    bad = [names[i] for i, r in enumerate(report["se_ratio"]) if not np.isfinite(r) or abs(r - 1) > rtol]
    negative = [names[i] for i, r in enumerate(report["se_ratio"]) if np.isnan(r)]
    if not bad and report["is_pd"]:
        agrees = f"every standard error within {100 * rtol:g}% of the exact one"
        if causes:
            return "; ".join([*causes, f"its symmetric part agrees ({agrees})"])
        return f"agrees: {agrees}"
    if negative:
        causes.append(f"negative variance for {', '.join(negative)}")
    elif not report["is_pd"]:
        causes.append("not positive definite")
    if cand.source == "quasi-newton":
        inv = report["inverse"]
        lam, vecs = np.linalg.eigh(0.5 * (inv + inv.T))
        exact_inv = _inverse(exact)
        stuck = []
        for k in range(lam.size):
            v = vecs[:, k]
            if abs(lam[k] - 1.0) <= _UNTOUCHED_EIGENVALUE and abs(v @ exact_inv @ v - 1.0) > rtol:
                stuck.append(f"along {_direction(v, names)} it still equals the starting identity (1 vs exact {v @ exact_inv @ v:.3g})")
        if stuck:
            causes.append("directions the optimizer never explored: " + "; ".join(stuck))
        causes.append(
            "a quasi-Newton matrix records the path: it is corrected only along the steps taken, "
            "so it is not the inverse Hessian at x and not a covariance"
        )
    elif cand.source == "fd":
        step = None if cand.step is None else np.broadcast_to(np.asarray(cand.step, float), x.shape)
        advice = []
        if step is not None and bad:
            rule = suggest_step()
            for i in range(x.size):
                if names[i] not in bad:
                    continue
                ratio = step[i] / rule[i]
                if ratio < 1.0 / _STEP_FACTOR:
                    advice.append(
                        f"the step {step[i]:.3g} is too small for {names[i]} (|x| = {abs(x[i]):.3g}): "
                        f"rounding error ~eps|f|/h^2 swamps its curvature {exact[i, i]:.3g}; "
                        f"use a step of about {rule[i]:.3g}"
                    )
                elif ratio > _STEP_FACTOR:
                    advice.append(
                        f"the step {step[i]:.3g} is too large for {names[i]} (|x| = {abs(x[i]):.3g}): "
                        f"truncation error dominates; use a step of about {rule[i]:.3g}"
                    )
        causes.append(
            "; ".join(advice)
            if advice
            else "finite-difference error (step versus each parameter's scale); see hj.step_sweep"
        )
    elif bad:
        causes.append(f"standard errors differ by more than {100 * rtol:g}% for {', '.join(bad)}")
    return "; ".join(causes)


def _roles(matrix: np.ndarray, as_hessian: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(hessian, inverse)`` of a matrix read as a Hessian or as an inverse."""
    return (matrix, _inverse(matrix)) if as_hessian else (_inverse(matrix), matrix)


def _se_ratio(inv: np.ndarray, exact_var: np.ndarray) -> np.ndarray:
    var = np.diag(inv)
    with np.errstate(invalid="ignore"):
        return np.where(var > 0, np.sqrt(np.abs(var)), np.nan) / np.sqrt(exact_var)


def _agrees(se_ratio: np.ndarray, is_pd: bool, rtol: float) -> bool:
    """The agreement rule: positive definite and every implied SE within ``rtol``."""
    return bool(is_pd and np.all(np.isfinite(se_ratio)) and np.all(np.abs(se_ratio - 1) <= rtol))


def _misreading(matrix: np.ndarray, as_hessian: bool, exact_var: np.ndarray, rtol: float):
    """``(negated, swapped)`` when the matrix agrees once negated and/or read as the
    other kind (Hessian <-> inverse) under the same agreement rule; else None."""
    for negated, swapped in ((True, False), (False, True), (True, True)):
        hess, inv = _roles(-matrix if negated else matrix, as_hessian != swapped)
        if _agrees(_se_ratio(inv, exact_var), _is_pd(hess), rtol):
            return negated, swapped
    return None


def _report(name: str, cand: Candidate, exact: np.ndarray, x, names, exact_is_pd: bool, rtol: float,
            suggest_step: Callable[[], np.ndarray]) -> CandidateReport:
    if cand.kind not in KINDS:
        raise ValueError(f"candidate {name!r}: kind must be one of {KINDS}, got {cand.kind!r}.")
    matrix = _as_dense(cand.matrix.estimate if isinstance(cand.matrix, FDHessian) else cand.matrix)
    n = exact.shape[0]
    if matrix.shape != (n, n):
        raise ValueError(f"candidate {name!r} has shape {matrix.shape}; expected ({n}, {n}).")
    asymmetry = _asymmetry(matrix) if np.all(np.isfinite(matrix)) else 0.0
    # The metrics describe the symmetric part; the asymmetry is judged on its own below.
    matrix = 0.5 * (matrix + matrix.T)
    exact_inv = _inverse(exact)
    as_hessian = cand.kind == "hessian"
    hess, inv = _roles(matrix, as_hessian)
    reference, compared = (exact, matrix) if as_hessian else (exact_inv, matrix)
    diff = compared - reference
    max_rel = float(np.max(np.abs(diff)) / np.max(np.abs(reference)))
    frob = float(np.linalg.norm(diff) / np.linalg.norm(reference))
    exact_var = np.diag(exact_inv)
    se_ratio = _se_ratio(inv, exact_var)
    lam_c, vec_c = np.linalg.eigh(hess) if np.all(np.isfinite(hess)) else (np.full(n, np.nan), np.eye(n))
    lam_e, vec_e = np.linalg.eigh(exact)
    cosines = np.clip(np.abs(np.sum(vec_c * vec_e, axis=0)), 0.0, 1.0)
    angle = float(np.degrees(np.max(np.arccos(cosines)))) if np.all(np.isfinite(hess)) else float("nan")
    is_pd = _is_pd(hess)
    agrees = _agrees(se_ratio, is_pd, rtol)
    misreading = _misreading(matrix, as_hessian, exact_var, rtol) if exact_is_pd and not agrees else None
    info = dict(se_ratio=se_ratio, is_pd=is_pd, inverse=inv, asymmetry=asymmetry, misreading=misreading,
                finite=bool(np.all(np.isfinite(matrix))))
    ok = bool(exact_is_pd and agrees and asymmetry <= symmetry_tolerance(n))
    return CandidateReport(
        name=name,
        kind=cand.kind,
        source=cand.source,
        hessian=hess,
        max_rel_element_error=max_rel,
        rel_frobenius_error=frob,
        se_ratio=se_ratio,
        eigenvalue_ratios=lam_c / lam_e,
        max_principal_angle=angle,
        kl_divergence=_kl(exact_inv, inv),
        is_pd=is_pd,
        ok=ok,
        verdict=_explain(info, cand, exact, exact_is_pd, x, names, rtol, suggest_step),
        asymmetry=asymmetry,
        names=tuple(names),
    )


def _check_include(include: Any, bfgs_start: Any) -> tuple:
    """``include`` as a tuple of known names; eager errors name the fix."""
    include = (include,) if isinstance(include, str) else tuple(include)
    for item in include:
        if item not in BUILTIN_CANDIDATES:
            close = difflib.get_close_matches(str(item), BUILTIN_CANDIDATES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"include={include!r}: unknown candidate {item!r}.{hint} The built-in candidates are "
                f"{', '.join(map(repr, BUILTIN_CANDIDATES))}; pass your own matrices as "
                "candidates={name: matrix}."
            )
    if "bfgs" in include and bfgs_start is None:
        raise ValueError(
            "include contains 'bfgs' but bfgs_start is None: the BFGS candidate is the inverse-Hessian "
            "approximation of a BFGS run, so pass its starting point, e.g. bfgs_start=x0 (or drop 'bfgs')."
        )
    return include


def _builtin(f: Callable, x, args, include, bfgs_start) -> dict:
    out: dict[str, Candidate] = {}
    for scheme in ("central", "forward", "richardson"):
        if scheme in include:
            fd = fd_hessian(f, x, *args, scheme=scheme)
            out[f"fd {scheme}"] = Candidate(fd.estimate, "hessian", "fd", fd.step)
    if "bfgs" in include:
        # SciPy's identity start, so the candidate is the matrix SciPy users read.
        res = minimize(f, bfgs_start, *args, method="bfgs", init_hessian="identity")
        out["hessjax bfgs inv_hessian"] = Candidate(res.inv_hessian, "inverse", "quasi-newton")
    flat = np.concatenate([np.ravel(np.asarray(leaf, float)) for leaf in _leaves(x)])
    if "statsmodels" in include or "numdifftools" in include:
        obj, x64, args64, _ = bind(f, x, args, pname="x")
        scalar = lambda z: float(obj.value_jit(jax.numpy.asarray(z), args64))  # noqa: E731
        if "statsmodels" in include:
            try:
                from statsmodels.tools import numdiff
            except ImportError as err:
                raise ImportError(
                    "the statsmodels candidates need the `compare` extra: pip install 'hessjax[compare]'"
                ) from err
            for k in (1, 2, 3):
                out[f"statsmodels approx_hess{k}"] = Candidate(
                    getattr(numdiff, f"approx_hess{k}")(flat, scalar), "hessian", "fd"
                )
        if "numdifftools" in include:
            try:
                import numdifftools as nd
            except ImportError as err:
                raise ImportError(
                    "the numdifftools candidate needs the `compare` extra: pip install 'hessjax[compare]'"
                ) from err
            out["numdifftools Hessian"] = Candidate(nd.Hessian(scalar)(flat), "hessian", "fd")
    return out


def _leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def _optional_available() -> tuple:
    names = []
    for module, label in (("statsmodels", "statsmodels"), ("numdifftools", "numdifftools")):
        try:
            __import__(module)
            names.append(label)
        except ImportError:
            pass
    return tuple(names)


@float64_entry_point
def compare_hessians(
    f: Callable,
    x: Any,
    *args: Any,
    candidates: dict | None = None,
    include: tuple | None = None,
    bfgs_start: Any = None,
    rtol: float = 0.01,
    names: Any = None,
) -> HessianComparison:
    """Compare Hessian approximations with the exact Hessian of ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x, *args)``, the function whose Hessian is approximated (for a
        fit: the negative log-likelihood).
    x : pytree of floating arrays
        The point (usually the optimum).
    *args
        Data passed to ``f``.
    candidates : dict, optional
        User candidates: name -> a Hessian array, an :class:`FDHessian`, a
        :class:`Candidate` (to say it is an inverse or a covariance), or a
        SciPy ``OptimizeResult`` / ``LbfgsInvHessProduct`` (its inverse Hessian).
    include : tuple of str, optional
        Built-in candidates among ``"central"``, ``"forward"``,
        ``"richardson"``, ``"bfgs"`` (needs ``bfgs_start``), ``"statsmodels"``,
        ``"numdifftools"``. Default: the three FD schemes, BFGS when
        ``bfgs_start`` is given, and statsmodels/numdifftools when installed
        (the ``compare`` extra). Pass ``()`` for user candidates only; a
        comparison with no candidate at all is not ``ok``.
    bfgs_start : pytree, optional
        Start of a hessjax BFGS run whose ``inv_hessian`` becomes a candidate.
    rtol : float
        A candidate is ``ok`` when symmetric (to rounding,
        :func:`symmetry_tolerance`), positive definite and every implied
        standard error is within ``rtol`` of the exact one.
    names : sequence of str, optional
        One name per parameter, for a flat array ``x`` (whose own names are
        ``x[0], x[1], ...``); used in the tables, verdicts and plots.

    Returns
    -------
    HessianComparison
        ``str()`` is the report; ``.ok``; ``.to_dict()``; ``result["name"]``.

    Raises
    ------
    ValueError
        An unknown name in ``include`` (with the valid names and the closest
        one); ``names`` not one distinct string per parameter; a user
        candidate named like a built-in one that ``include`` computes; or ``"bfgs"`` in ``include`` without ``bfgs_start``; a
        :class:`Candidate` whose ``kind`` is not ``"hessian"``,
        ``"inverse"`` or ``"covariance"``; a candidate that is not
        ``(n, n)``; ``x`` with no elements; ``f`` not returning a scalar; a
        DataFrame or Series in ``args`` with non-numeric columns; or
        ``f(x, *args)`` failing while tracing (a missing key, mismatched
        shapes or signature).
    TypeError
        If ``f`` is not callable; a leaf of ``x`` is not a real floating
        array; ``f`` does not return one floating array; or tracing ``f``
        fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.
    ImportError
        If ``"statsmodels"`` or ``"numdifftools"`` is in ``include`` but
        that package is not installed (the ``compare`` extra).

    Warns
    -----
    HessianWarning
        When a built-in finite-difference candidate leaves some element
        undetermined (see :func:`fd_hessian`).
    ConvergenceWarning
        When the BFGS run from ``bfgs_start`` does not converge.
    PrecisionWarning
        When ``x`` or the data had less than float64 precision.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> f = lambda p: jnp.sum((p - 1.0) ** 2)
    >>> cmp = hj.compare_hessians(f, np.ones(2), include=("central", "bfgs"), bfgs_start=np.zeros(2))
    >>> cmp["fd central"].ok, cmp["hessjax bfgs inv_hessian"].ok
    (True, False)
    >>> "never explored" in cmp["hessjax bfgs inv_hessian"].verdict
    True
    """
    obj, x_flat, args64, _ = bind(f, x, args, pname="x")
    names = check_names(names, spec_names(obj.spec))
    exact = np.asarray(obj.hessian_jit(x_flat, args64))
    exact = 0.5 * (exact + exact.T)
    x_np = np.asarray(x_flat, dtype=np.float64)
    exact_is_pd = _is_pd(exact)
    if include is None:
        include = ("central", "forward", "richardson") + _optional_available()
        if bfgs_start is not None:
            include = include + ("bfgs",)
    include = _check_include(include, bfgs_start)
    cands = _builtin(f, x, args, include, bfgs_start)
    for name, value in (candidates or {}).items():
        if name in cands:
            raise ValueError(
                f"candidates[{name!r}] has the name of a built-in candidate that `include` also "
                f"computes; rename yours (e.g. {name + ' (mine)'!r}) or leave it out of `include`."
            )
        cands[name] = _as_candidate(value)
    # The step fd_hessian would choose, for the advice on a bad FD step (computed only if needed).
    suggest_step = functools.cache(lambda: default_step(x, "central", f=f, args=args64))
    reports = tuple(
        _report(name, c, exact, x_np, names, exact_is_pd, rtol, suggest_step) for name, c in cands.items()
    )
    with np.errstate(invalid="ignore"):
        exact_se = np.sqrt(np.diag(_inverse(exact)))
    return HessianComparison(x_np, names, exact, exact_se, exact_is_pd, reports, rtol)


def _as_candidate(value: Any) -> Candidate:
    if isinstance(value, Candidate):
        return value
    if isinstance(value, FDHessian):
        return Candidate(value.estimate, "hessian", "fd", value.step)
    if hasattr(value, "hess_inv"):  # scipy.optimize.OptimizeResult
        return Candidate(value.hess_inv, "inverse", "quasi-newton")
    if hasattr(value, "todense"):  # LbfgsInvHessProduct
        return Candidate(value, "inverse", "quasi-newton")
    return Candidate(value, "hessian", "user")


@float64_entry_point
def check_hessian(
    f: Callable, x: Any, H: Any, *args: Any, inverse: bool = False, rtol: float = 0.01, names: Any = None
) -> CandidateReport:
    """Check one matrix against the exact Hessian of ``f`` at ``x``.

    ``H`` is a Hessian, or with ``inverse=True`` an inverse Hessian / covariance;
    pass a :class:`Candidate` (e.g. ``Candidate(H, "hessian", "fd", step=h)``
    or ``Candidate(res.hess_inv, "inverse", "quasi-newton")``) or an
    :class:`FDHessian` to have the gap explained by its source. Returns the :class:`CandidateReport`
    (``.ok``, ``.verdict``, metrics); ``names`` (one per parameter) labels a
    flat ``x`` in its report.

    A matrix that is not symmetric beyond rounding is not ``ok`` (its
    symmetric part could agree while its elements do not). When ``H`` fails
    but -H, its inverse, or -inverse would agree, the verdict says what was
    passed (the Hessian of the log-likelihood instead of the negative
    log-likelihood's; a covariance without ``inverse=True``; a Hessian with it)
    and the fix.

    Raises
    ------
    ValueError
        If ``H`` is not ``(n, n)`` for the ``n`` parameters of ``x``; ``names``
        is not one distinct string per parameter; a
        :class:`Candidate` has an unknown ``kind``; ``x`` has no elements;
        ``f`` does not return a scalar; or ``f(x, *args)`` fails while
        tracing (a missing key, mismatched shapes or signature).
    TypeError
        If ``f`` is not callable; a leaf of ``x`` is not a real floating
        array; ``f`` does not return one floating array; or tracing ``f``
        fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.

    Warns
    -----
    PrecisionWarning
        When ``x`` or the data had less than float64 precision.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> f = lambda p: jnp.sum((p - 1.0) ** 2)
    >>> rep = hj.check_hessian(f, np.ones(2), np.array([[0.75, -0.25], [-0.25, 0.75]]), inverse=True)
    >>> bool(rep.ok), np.round(rep.se_ratio, 3)
    (False, array([1.225, 1.225]))
    >>> hj.check_hessian(f, np.ones(2), -2.0 * np.eye(2)).verdict[:60]
    'this is the exact Hessian times -1: you passed the Hessian o'
    """
    candidate = H if isinstance(H, (Candidate, FDHessian)) else Candidate(H, "inverse" if inverse else "hessian", "user")
    cmp = compare_hessians(f, x, *args, candidates={"candidate": candidate}, include=(), rtol=rtol, names=names)
    return cmp.candidates[0]


@float64_entry_point
def check_scipy_result(
    f: Callable, result: Any, *args: Any, rtol: float = 0.01, names: Any = None
) -> HessianComparison:
    """Check a SciPy ``OptimizeResult``'s ``hess_inv`` at ``result.x`` in one call.

    ``f(x, *args)`` is the minimized objective written in ``jax.numpy``. The
    report puts ``hess_inv`` next to the exact Hessian and the central and
    Richardson finite differences; ``names`` (one per entry of ``result.x``)
    labels the parameters.

    Raises
    ------
    TypeError
        If ``result`` has no ``x`` or no ``hess_inv`` (e.g. a method such as
        ``"Nelder-Mead"`` that keeps none); ``f`` is not callable or does
        not return one floating array; or tracing ``f`` fails because it
        applies NumPy or a Python ``if``/``int()``/``float()`` to a traced
        value.
    ValueError
        If ``hess_inv`` is not ``(n, n)`` for the ``n`` entries of
        ``result.x``; ``names`` is not one distinct string per entry; ``f`` does not return a scalar; or ``f(x, *args)``
        fails while tracing (a missing key, mismatched shapes or signature).

    Warns
    -----
    HessianWarning
        When a finite-difference candidate leaves some element undetermined
        (see :func:`fd_hessian`).
    PrecisionWarning
        When the data had less than float64 precision.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, scipy.optimize, hessjax as hj
    >>> f = lambda p: jnp.sum((p - 1.0) ** 2)
    >>> res = scipy.optimize.minimize(lambda p: float(np.sum((p - 1.0) ** 2)), np.zeros(2), method="BFGS")
    >>> cmp = hj.check_scipy_result(f, res)
    >>> cmp["scipy hess_inv"].ok
    False
    """
    if not hasattr(result, "x") or not hasattr(result, "hess_inv"):
        raise TypeError("`result` must be a scipy.optimize.OptimizeResult with `x` and `hess_inv` (e.g. from method='BFGS' or 'L-BFGS-B').")
    return compare_hessians(
        f, np.asarray(result.x, dtype=np.float64), *args,
        candidates={"scipy hess_inv": Candidate(result.hess_inv, "inverse", "quasi-newton")},
        include=("central", "richardson"), rtol=rtol, names=names,
    )
