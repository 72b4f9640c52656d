"""Results of the large-model functions: dataclasses, their text rendering, and warnings.

:class:`SelectedSE`, :class:`EigenBounds` and :class:`LargeFitResult` are
frozen dataclasses registered as pytrees (batched calls give a leading
axis). ``str()`` renders them; :func:`warn_about_se` and
:func:`warn_about_large_fit` turn their flags into one warning per kind of
trouble, for eager unbatched results only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from ._precision import is_traced
from .covariance import flat_tolerance
from .diagnostics import decrement_tolerance
from .optimize.base import MinimizeResult, Status
from .warnings import ConvergenceWarning, HessianWarning, warn

__all__ = [
    "SelectedSE",
    "EigenBounds",
    "LargeFitResult",
    "render_selected_se",
    "render_large_fit",
    "warn_about_se",
    "warn_about_large_fit",
]


# ----------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, repr=False)
class SelectedSE:
    """Standard errors of selected parameters by CG solves with exact HVPs.

    Attributes
    ----------
    names : tuple of str
        Names of the selected parameters (``hj.param_names`` order).
    index : numpy.ndarray
        Their flat indices.
    se : numpy.ndarray
        sqrt((H^-1)_ii), H the observed information; NaN where the solve
        met non-positive curvature or did not converge (see the flags).
    cg_iterations : numpy.ndarray
        Hessian-vector products used by each solve.
    residual : numpy.ndarray
        Final relative residual ||e_i - H z|| (recomputed, not the recurrence).
    converged : numpy.ndarray of bool
        The solve reached ``rtol`` with a positive variance.
    indefinite : numpy.ndarray of bool
        The solve met a direction with p'Hp <= 0 (or a negative variance):
        H is not positive definite.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * jnp.sum((y - p["mu"]) ** 2 / jnp.exp(2 * p["log_s"])) - y.size * p["log_s"]
    >>> out = hj.selected_se(loglik, {"log_s": 0.0, "mu": 0.0}, np.zeros(4), which="mu")
    >>> out.names, np.round(out.se, 12)  # sigma / sqrt(n)
    (('mu',), array([0.5]))
    """

    index: Any
    se: Any
    cg_iterations: Any
    residual: Any
    converged: Any
    indefinite: Any
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))

    def __str__(self) -> str:
        return render_selected_se(self)

    __repr__ = __str__


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EigenBounds:
    """Extreme eigenvalues of the observed information by Lanczos, with error bounds.

    ``min_eigenvalue`` and ``max_eigenvalue`` are the extreme Ritz values;
    an eigenvalue lies within ``min_error`` (``max_error``) of each. Ritz
    values lie inside the spectrum: ``min_eigenvalue`` is never below the
    true smallest eigenvalue, ``max_eigenvalue`` never above the largest.

    Attributes
    ----------
    min_eigenvalue, max_eigenvalue : numpy.ndarray
        Smallest and largest Ritz value.
    min_error, max_error : numpy.ndarray
        Residual norms ||H y - theta y|| of the two Ritz pairs.
    steps : numpy.ndarray
        Lanczos steps taken (fewer than asked when the Krylov space became
        invariant: then the values are exact).
    converged : numpy.ndarray of bool
        Both errors are below ``LANCZOS_RTOL`` (sqrt(eps)) times their value.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> d = np.array([1.0, 2.0, 3.0, 10.0])
    >>> eig = hj.extreme_eigenvalues(lambda b: -0.5 * jnp.sum(d * b**2), np.zeros(4))
    >>> round(float(eig.min_eigenvalue), 12), round(float(eig.max_eigenvalue), 12), bool(eig.converged)
    (1.0, 10.0, True)
    """

    min_eigenvalue: Any
    max_eigenvalue: Any
    min_error: Any
    max_error: Any
    steps: Any
    converged: Any

    @property
    def condition_number(self) -> np.ndarray:
        """max/min Ritz value (inf unless the smallest is positive); unscaled."""
        lo, hi = np.asarray(self.min_eigenvalue), np.asarray(self.max_eigenvalue)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(lo > 0, hi / np.where(lo > 0, lo, 1.0), np.inf)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, repr=False)
class LargeFitResult:
    """Result of :func:`fit_large`; a pytree (batched fits carry a leading axis).

    Attributes
    ----------
    params : pytree like ``init``
        The maximum-likelihood estimate.
    loglik : numpy.ndarray
        Log-likelihood at ``params``.
    grad : pytree like ``init``
        Gradient of the log-likelihood at ``params``.
    se : SelectedSE
        Standard errors of the ``which`` parameters (NaN unless
        ``hessian_is_pd``).
    eigen : EigenBounds
        Extreme eigenvalues of the observed information (Lanczos).
    converged : numpy.ndarray of bool
        The optimizer's gradient and curvature tests passed.
    grad_norm : numpy.ndarray
        max_i |g_i| of the log-likelihood gradient.
    newton_decrement : numpy.ndarray
        g'H^-1 g by one CG solve (a lower bound, short by at most
        rtol^2 cond(H) relative); NaN unless ``hessian_is_pd``.
    hessian_is_pd : numpy.ndarray of bool
        min Ritz value minus its error bound exceeds ``flat_tolerance`` times
        the largest, on the **unscaled** information (:func:`hessjax.fit`
        judges the correlation-scaled one). Assumes Lanczos found the
        smallest eigenvalue: a Ritz value converges to the nearest
        eigenvalue, and one far from the start vector's reach can be missed.
    is_saddle : numpy.ndarray of bool
        A Ritz value below -flat_tolerance times the largest: certainly a
        negative eigenvalue (the smallest eigenvalue is below every Ritz value).
    condition_number : numpy.ndarray
        max/min Ritz value, unscaled (inf unless ``hessian_is_pd``).
    is_valid : numpy.ndarray of bool
        converged, positive definite, no saddle, Newton decrement below
        ``hessjax.diagnostics.decrement_tolerance`` and every SE solve converged.
    optimizer : MinimizeResult
        The Newton-CG result (``nhev`` counts Hessian-vector products).
    names : tuple of str
        All parameter names in ``ravel_pytree`` order.
    nobs : int or None
        Number of observations when ``loglik`` returns per-observation values.
    """

    params: Any
    loglik: Any
    grad: Any
    se: SelectedSE
    eigen: EigenBounds
    converged: Any
    grad_norm: Any
    newton_decrement: Any
    hessian_is_pd: Any
    is_saddle: Any
    condition_number: Any
    is_valid: Any
    optimizer: MinimizeResult
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))
    nobs: int | None = dataclasses.field(default=None, metadata=dict(static=True))

    @property
    def estimate(self) -> np.ndarray:
        """The estimate as a flat vector in ``names`` order."""
        return np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(self.params)])

    def __str__(self) -> str:
        return render_large_fit(self)

    __repr__ = __str__


# ----------------------------------------------------------------------------------------
# warnings (eager, unbatched results only)
# ----------------------------------------------------------------------------------------


def warn_about_se(se: SelectedSE, maxiter: int) -> None:
    """HessianWarning for solves that met p'Hp <= 0, ConvergenceWarning for unconverged ones."""
    if is_traced(se.se) or np.ndim(se.se) != 1:
        return
    bad = [n for n, b in zip(se.names, np.asarray(se.indefinite)) if b]
    if bad:
        warn(
            f"the observed information is not positive definite: CG met non-positive curvature "
            f"solving for the SE of {', '.join(bad)}, so those standard errors are NaN. The "
            "point is a saddle or the model is not identified there; check "
            "hj.extreme_eigenvalues(...) or refit.",
            HessianWarning,
        )
    slow = [n for n, c, b in zip(se.names, np.asarray(se.converged), np.asarray(se.indefinite)) if not (c or b)]
    if slow:
        warn(
            f"CG did not reach the requested residual within maxiter={maxiter} products for "
            f"{', '.join(slow)}: their standard errors are NaN. The information is badly "
            "conditioned; pass a larger maxiter (or a looser rtol) to selected_se/fit_large.",
            ConvergenceWarning,
        )


def warn_about_large_fit(result: LargeFitResult, lanczos_steps: int, maxiter: int) -> None:
    """One warning per kind of trouble, in the wording of ``fit``'s warnings."""
    if is_traced(result.is_valid) or np.ndim(result.is_valid) != 0:
        return
    e = result.eigen
    lo, err, hi = float(e.min_eigenvalue), float(e.min_error), float(e.max_eigenvalue)
    if not bool(result.hessian_is_pd):
        if bool(result.is_saddle) and bool(result.converged):
            what = (f"has a negative eigenvalue (Ritz value {lo:.4g}): the estimate is a saddle, "
                    "not a maximum; refit from another start")
        elif bool(result.is_saddle):
            what = (f"has a negative eigenvalue (Ritz value {lo:.4g}): the optimizer stopped "
                    "short of a maximum (see the ConvergenceWarning)")
        elif lo <= flat_tolerance * max(abs(hi), abs(lo)):
            what = (f"is numerically singular (smallest Ritz value {lo:.3g}, largest {hi:.3g}): "
                    "some parameter combination is not identified")
        else:
            what = (f"could not be certified positive definite: smallest Ritz value {lo:.4g} "
                    f"+- {err:.2g} after {int(e.steps)} Lanczos steps; pass "
                    f"lanczos_steps={2 * lanczos_steps} (or more)")
        warn(f"the observed information at the estimate {what}. Standard errors are NaN.",
             HessianWarning)
    short = bool(result.hessian_is_pd) and not float(result.newton_decrement) <= decrement_tolerance
    if not bool(result.converged) or short:
        status = int(result.optimizer.status)
        warn(
            "fit_large did not reach a certified maximum "
            f"(converged={bool(result.converged)}, "
            f"newton_decrement={float(result.newton_decrement):.3g}): "
            f"{Status(status).name}. {Status(status).message}",
            ConvergenceWarning,
        )
    if bool(result.hessian_is_pd):
        warn_about_se(result.se, maxiter)


# ----------------------------------------------------------------------------------------
# text rendering
# ----------------------------------------------------------------------------------------


def _se_status(se: SelectedSE, i: int) -> str:
    if bool(se.indefinite[i]):
        return "not positive definite"
    if not bool(se.converged[i]):
        return "CG not converged"
    return "ok" if np.isfinite(se.se[i]) else "NaN: information not certified PD"


def render_selected_se(se: SelectedSE, estimate: np.ndarray | None = None) -> str:
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


def render_large_fit(result: LargeFitResult) -> str:
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
