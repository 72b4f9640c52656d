"""``least_squares``: nonlinear least squares with NIST-convention standard errors.

Two covariances are reported, because two conventions are in use:

- ``cov`` / ``se``: s^2 (J'J)^-1 with s^2 = RSS / (n - p), the Gauss–Newton
  convention of NIST StRD, ``scipy.optimize.curve_fit`` and lmfit. It treats the
  model as locally linear.
- ``cov_mle`` / ``se_mle``: the inverse exact observed information of the
  Gaussian likelihood, sigma^2 (J'J + sum_i r_i d2r_i)^-1 with the MLE
  sigma^2 = RSS / n. It includes the curvature of the model through the
  residuals, which J'J ignores; the two agree when the residuals are small or
  the model nearly linear, and differ by 10-25% on curved problems such as
  NIST's MGH09, Thurber, BoxBOD or ENSO.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import default_gtol, float64_entry_point, is_traced
from ._tree import spec_names
from ._validate import check_max_steps, check_tolerance
from .covariance import (
    cholesky_covariance,
    correlation,
    flat_tolerance,
    scaled_spectrum,
    standard_errors,
)
from .diagnostics import certify, likelihood_probes, needs_refit, refit_probes, warn_about_least_squares
from .objective import Objective, bind
from .optimize.base import MinimizeResult, Status, iterate
from .optimize.levenberg_marquardt import LevenbergMarquardt, LMOptions
from .results import LeastSquaresResult

__all__ = ["least_squares"]


def _build(obj: Objective, max_steps: int, names: tuple, nobs: int, refit: bool = False) -> Callable:
    solver = LevenbergMarquardt(obj.raw, obj.residuals_and_jacobian)
    unravel = obj.spec.unravel
    n = obj.spec.size
    dof = nobs - n

    def run(x0, args, options):
        state, nit, status = iterate(solver, None, x0, args, options, max_steps)
        x, r, jac = state.x, state.r, state.jac
        rss = r @ r
        s2 = rss / dof
        # (J'J)^-1 from the SVD of the column-scaled Jacobian: J'J is never
        # formed, which would square its condition number.
        d = jnp.linalg.norm(jac, axis=0)
        d = jnp.where(d > 0, d, 1.0)
        _, sv, vt = jnp.linalg.svd(jac / d, full_matrices=False)
        ok = jnp.all(jnp.isfinite(sv)) & (sv[-1] ** 2 > flat_tolerance * sv[0] ** 2)
        inv_jtj = (vt.T / jnp.where(sv > 0, sv, 1.0) ** 2) @ vt / jnp.outer(d, d)
        cov = jnp.where(ok, s2 * inv_jtj, jnp.nan)
        # Exact observed information of the Gaussian likelihood at sigma^2 = rss/n.
        hessian = obj.hessian(x, args)
        sigma2 = rss / nobs
        info = hessian / sigma2
        spectrum = scaled_spectrum(info)
        cov_mle, chol_ok = cholesky_covariance(info, spectrum)
        grad = jac.T @ r / sigma2
        converged = status == Status.SUCCESS
        # The Gaussian negative log-likelihood at sigma^2 = rss/n, up to a constant.
        nll = lambda z: obj.value(z, args) / sigma2  # noqa: E731
        probes = likelihood_probes(
            nll, x, state.f / sigma2, grad, cov_mle, standard_errors(cov_mle), spectrum
        )
        if refit:  # only when a straight probe was steep (see least_squares below)
            probes = refit_probes(nll, x, cov_mle, standard_errors(cov_mle), probes)
        cert = certify(converged, grad, info, cov_mle, chol_ok, spectrum, probes, names, x=x)
        converged = cert.converged
        opt = MinimizeResult(
            x=unravel(x), fun=state.f, grad=unravel(state.g), nit=nit, nfev=state.nfev,
            ngev=state.ngev, nhev=state.nhev, status=status, success=status == Status.SUCCESS,
        )
        return LeastSquaresResult(
            params=unravel(x),
            se=unravel(standard_errors(cov)),
            cov=cov,
            corr=correlation(cov),
            se_mle=unravel(standard_errors(cov_mle)),
            cov_mle=cov_mle,
            rss=rss,
            s2=s2,
            residuals=r,
            jacobian=jac,
            hessian=hessian,
            converged=converged,
            diagnostics=cert,
            optimizer=opt,
            names=names,
            nobs=nobs,
            dof=dof,
        )

    return jax.jit(run)


@float64_entry_point
def least_squares(
    residuals: Callable,
    init: Any,
    *data: Any,
    gtol: float | None = None,
    max_steps: int | None = None,
) -> LeastSquaresResult:
    """Nonlinear least squares by Levenberg–Marquardt with exact Jacobians.

    Parameters
    ----------
    residuals : callable
        ``residuals(params, *data)`` returning the 1-D residual vector
        (e.g. ``y - model(params, x)``), in ``jax.numpy``.
    init : pytree of floating arrays
        Starting values.
    *data
        Data passed to ``residuals``.
    gtol : float, optional
        Tolerance on the cosine of the angle between the residuals and the
        column space of the Jacobian (default ``eps**(2/3)`` ~ 3.7e-11). A fit
        whose steps stop changing the RSS at rounding level also converges
        once that cosine is below ``sqrt(gtol)``: float64 can do no better.
    max_steps : int, optional
        Iteration limit (default 2000; NIST's hardest problems need ~1000).

    Returns
    -------
    LeastSquaresResult
        ``params``, ``se`` (NIST/curve_fit convention s^2 (J'J)^-1),
        ``se_mle`` (exact-Hessian Gaussian likelihood), ``rss``, ``s2``,
        ``dof``, ``diagnostics`` and more.

    Raises
    ------
    ValueError
        If ``gtol`` is not a finite number > 0; ``max_steps`` is not a
        non-negative int; ``residuals`` does not return a 1-D array; there
        are no more residuals than parameters; ``init`` has no elements; a
        DataFrame or Series in ``data`` has non-numeric columns; or calling
        ``residuals(init, *data)`` fails while tracing (a missing key,
        mismatched shapes or signature).
    TypeError
        If ``residuals`` is not callable; a leaf of ``init`` is not a real
        number or array; ``residuals`` does not return one floating array;
        or tracing it fails because it applies NumPy or a Python
        ``if``/``int()``/``float()`` to a traced value.

    Warns
    -----
    ConvergenceWarning
        When the fit stopped without converging (naming the parameters whose
        gradient is not finite, if any).
    HessianWarning
        When J'J is singular at the estimate (the SEs are NaN).
    PrecisionWarning
        When the data had less than float64 precision.
    StaleDataWarning
        When ``residuals`` reads data from its closure or globals and they
        changed since it was compiled.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> y = np.array([2.9, 5.1, 7.0, 8.9, 11.1])
    >>> res = hj.least_squares(lambda b, x, y: y - (b[0] + b[1] * x), np.zeros(2), x, y)
    >>> np.round(res.estimate, 6)  # ordinary least squares
    array([0.94, 2.02])
    """
    gtol = check_tolerance(gtol, "gtol", default_gtol)
    steps = check_max_steps(max_steps, 2000)  # int32 loop counter: 2**31 would wrap to 0
    obj, x, args, _ = bind(
        residuals, init, data, fname="residuals", pname="init", per_observation=True,
        sum_of_squares=True,
    )
    shape = obj.output_shape(args)
    if len(shape) != 1:
        raise ValueError(
            f"residuals(params, *data) returned shape {shape}; it must return the 1-D vector "
            "of residuals, e.g. y - model(params, x)."
        )
    nobs, n = int(shape[0]), obj.spec.size
    if nobs <= n:
        raise ValueError(
            f"least_squares needs more residuals than parameters for s^2 = rss/(n - p); "
            f"got {nobs} residuals and {n} parameters."
        )
    names = spec_names(obj.spec)
    run = obj.program(("least_squares", steps, nobs), lambda: _build(obj, steps, names, nobs))
    options = LMOptions(gtol=gtol)
    result = run(x, args, options)
    d = result.diagnostics
    if not is_traced(d.is_valid) and bool(d.hessian_is_pd) and needs_refit(d.quadratic_ratio):
        # Curved valley: certify again with the other parameters re-fitted at the probes.
        refit = obj.program(
            ("least_squares-refit", steps, nobs), lambda: _build(obj, steps, names, nobs, refit=True)
        )
        result = refit(x, args, options)
    if not is_traced(result.converged):
        nonfinite = ()
        if not bool(result.converged) and int(result.optimizer.status) == Status.NONFINITE_DERIVATIVE:
            # Name the parameters. Not from the forward-mode Jacobian: its zero
            # tangents meet the infinite partial (inf * 0 = NaN) in every column;
            # the reverse-mode gradient of rss/2 keeps the finite partials finite.
            # Compiled only on this failure.
            _, grad = obj.value_and_grad_jit(np.asarray(result.estimate), args)
            nonfinite = tuple(name for name, g in zip(names, np.asarray(grad)) if not np.isfinite(g))
        warn_about_least_squares(result, nonfinite)
    return result
