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

Known measurement errors ``sigma`` (weighted least squares, as
``curve_fit(..., sigma=s, absolute_sigma=...)``): every quantity above is
computed from the weighted residuals r_i / sigma_i and their Jacobian J_w, so
``rss`` is the chi-square sum (r_i / sigma_i)^2 and ``s2`` = chi2 / (n - p) the
reduced chi-square. With ``absolute_sigma=False`` (the default) the sigma_i are
relative weights, known up to one common factor that is estimated: ``cov`` is
s2 (J_w'J_w)^-1, and ``cov_mle`` the inverse exact information of the
likelihood r_i ~ N(0, tau^2 sigma_i^2) at the MLE tau^2 = chi2 / n; neither
changes when all sigma_i are multiplied by a constant. With
``absolute_sigma=True`` the sigma_i are the true standard deviations: ``cov``
is (J_w'J_w)^-1 and ``cov_mle`` the inverse Hessian of chi2 / 2 (tau = 1).
``sigma=None`` is sigma_i = 1.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import default_gtol, float64_entry_point, is_traced, warn_promoted
from ._tree import check_names, spec_names
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
    """The compiled fit. ``sigma`` (the known errors, ``(nobs,)``) and
    ``absolute_sigma`` (a bool array) are data: one program serves them all."""

    # The solver and the certificate see the weighted residuals r / sigma; their
    # second argument is ``(data, sigma)``.
    def weighted_residuals(x, data):
        args, sigma = data
        return obj.raw(x, args) / sigma

    def weighted_residuals_and_jacobian(x, data):
        args, sigma = data
        r, jac = obj.residuals_and_jacobian(x, args)
        return r / sigma, jac / sigma[:, None]

    def half_chi_square(x, data):
        r = weighted_residuals(x, data)
        return 0.5 * jnp.sum(r**2).astype(jnp.float64)

    solver = LevenbergMarquardt(weighted_residuals, weighted_residuals_and_jacobian)
    unravel = obj.spec.unravel
    n = obj.spec.size
    dof = nobs - n

    def run(x0, args, sigma, absolute_sigma, options):
        data = (args, sigma)
        state, nit, status = iterate(solver, None, x0, data, options, max_steps)
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
        # Known errors are the scale itself; relative ones leave it to the fit
        # (curve_fit's absolute_sigma).
        cov = jnp.where(ok, jnp.where(absolute_sigma, 1.0, s2) * inv_jtj, jnp.nan)
        # Exact observed information of the Gaussian likelihood r_i ~ N(0, tau^2 sigma_i^2),
        # at tau^2 = 1 for known errors and at the MLE tau^2 = rss/n otherwise.
        hessian = jax.jacfwd(jax.grad(half_chi_square))(x, data)
        tau2 = jnp.where(absolute_sigma, 1.0, rss / nobs)
        info = hessian / tau2
        spectrum = scaled_spectrum(info)
        cov_mle, chol_ok = cholesky_covariance(info, spectrum)
        grad = jac.T @ r / tau2
        converged = status == Status.SUCCESS
        # The Gaussian negative log-likelihood at that tau^2, up to a constant.
        nll = lambda z: half_chi_square(z, data) / tau2  # noqa: E731
        probes = likelihood_probes(
            nll, x, state.f / tau2, grad, cov_mle, standard_errors(cov_mle), spectrum
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


_SIGMA_FIX = (
    "pass the standard deviations of the observations: one positive number, or a 1-D "
    "array with one positive value per residual (or sigma=None for equal weights)"
)


def _check_absolute_sigma(absolute_sigma: Any) -> bool:
    if not isinstance(absolute_sigma, (bool, np.bool_)):
        raise ValueError(
            f"`absolute_sigma` must be True or False, got {absolute_sigma!r}; pass "
            "absolute_sigma=True when `sigma` holds the true standard deviations of the "
            "observations, or False (the default) when it holds relative weights."
        )
    return bool(absolute_sigma)


def _check_sigma(sigma: Any) -> tuple[Any, bool]:
    """``sigma`` as a float64 scalar or 1-D array, and whether it was narrower.

    Shape, finiteness and sign are checked eagerly; under ``jit``/``vmap``
    (a traced ``sigma``) only the shape can be.
    """
    if isinstance(sigma, (bool, np.bool_)):
        raise ValueError(f"`sigma` must be numbers, got {sigma!r}; {_SIGMA_FIX}.")
    if is_traced(sigma):
        values = sigma
    else:
        try:
            values = np.asarray(sigma)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"`sigma` must be numbers, got {type(sigma).__name__} ({err}); {_SIGMA_FIX}."
            ) from err
    dtype = np.dtype(values.dtype)
    if dtype.kind not in "iuf":
        raise ValueError(f"`sigma` must be real numbers, got dtype {dtype}; {_SIGMA_FIX}.")
    if values.ndim > 1:
        raise ValueError(
            f"`sigma` must be a scalar or a 1-D array, got shape {tuple(values.shape)}; "
            f"{_SIGMA_FIX}, in the order of the residuals (e.g. np.ravel(sigma)). A covariance "
            "matrix of the errors (curve_fit's 2-D sigma) is not accepted: whiten the residuals "
            "instead, returning jax.scipy.linalg.solve_triangular(L, r, lower=True) with "
            "L = np.linalg.cholesky(cov)."
        )
    narrow = dtype.kind == "f" and dtype.itemsize < 8
    if is_traced(values):
        return values.astype(jnp.float64), narrow
    values = values.astype(np.float64)
    flat = values.reshape(-1)
    bad = np.flatnonzero(~np.isfinite(flat))
    if bad.size:
        raise ValueError(
            f"`sigma` must be finite, got {float(flat[bad[0]])} at index {int(bad[0])} "
            f"({bad.size} non-finite value(s)); {_SIGMA_FIX}."
        )
    bad = np.flatnonzero(flat <= 0)
    if bad.size:
        raise ValueError(
            f"`sigma` must be positive, got {float(flat[bad[0]])} at index {int(bad[0])} "
            f"({bad.size} value(s) <= 0); {_SIGMA_FIX}."
        )
    return values, narrow


def _per_observation_sigma(sigma: Any, nobs: int) -> Any:
    """The checked ``sigma`` (or None: all ones) as a ``(nobs,)`` float64 array."""
    if sigma is None:
        return np.ones(nobs)
    if sigma.ndim == 1 and sigma.shape[0] != nobs:
        raise ValueError(
            f"`sigma` has {sigma.shape[0]} values but residuals(params, *data) returned "
            f"{nobs} residuals; {_SIGMA_FIX}."
        )
    if is_traced(sigma):
        return jnp.broadcast_to(sigma, (nobs,))
    return np.array(np.broadcast_to(sigma, (nobs,)))


@float64_entry_point
def least_squares(
    residuals: Callable,
    init: Any,
    *data: Any,
    sigma: Any = None,
    absolute_sigma: bool = False,
    gtol: float | None = None,
    max_steps: int | None = None,
    names: Any = None,
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
    sigma : float or 1-D array, optional
        Known standard deviations of the observations: one positive number,
        or one per residual. The residuals are divided by ``sigma`` (weighted
        least squares, as ``scipy.optimize.curve_fit``'s ``sigma``), and
        ``rss``, ``s2``, ``residuals``, ``jacobian`` and ``hessian`` are those
        of the weighted residuals: ``rss`` is the chi-square and ``s2`` the
        reduced chi-square. Data of the compiled program: new values do not
        recompile. Default: equal weights (sigma = 1).
    absolute_sigma : bool, optional
        As in ``curve_fit``. False (default): ``sigma`` holds relative
        weights, known up to a common factor that the fit estimates; ``cov``
        is s2 (J_w'J_w)^-1 and ``cov_mle`` uses the ML estimate of the factor,
        so both are unchanged when ``sigma`` is multiplied by a constant.
        True: ``sigma`` holds the true errors; ``cov`` is (J_w'J_w)^-1 and
        ``cov_mle`` the inverse Hessian of chi2/2, neither rescaled by the
        fit's residuals, and ``conf_int`` uses normal quantiles. J_w is the
        Jacobian of the weighted residuals.
    gtol : float, optional
        Tolerance on the cosine of the angle between the residuals and the
        column space of the Jacobian (default ``eps**(2/3)`` ~ 3.7e-11). A fit
        whose steps stop changing the RSS at rounding level also converges
        once that cosine is below ``sqrt(gtol)``: float64 can do no better.
    max_steps : int, optional
        Iteration limit (default 2000; NIST's hardest problems need ~1000).
    names : sequence of str, optional
        One name per parameter for a flat-array ``init`` (as ``curve_fit``'s
        ``p0``), used in the summary and the certificate.

    Returns
    -------
    LeastSquaresResult
        ``params``, ``se`` (NIST/curve_fit convention s^2 (J'J)^-1; with
        ``sigma``, ``curve_fit``'s ``sqrt(diag(pcov))`` for the same
        ``absolute_sigma``), ``se_mle`` (exact-Hessian Gaussian likelihood),
        ``rss``, ``s2``, ``dof``, ``diagnostics`` and more.

    Raises
    ------
    ValueError
        If ``sigma`` is not a positive finite number or a 1-D array of
        positive finite numbers with one value per residual;
        ``absolute_sigma`` is not a bool; ``gtol`` is not a finite
        number > 0; ``max_steps`` is not a non-negative int; ``names`` is not
        one distinct string per parameter; ``residuals``
        does not return a 1-D array; there
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
        When the data or ``sigma`` had less than float64 precision.
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

    Known measurement errors, one per observation (``curve_fit``'s ``sigma``):

    >>> s = np.array([0.1, 0.1, 0.2, 0.2, 0.4])
    >>> line = lambda b, x, y: y - (b[0] + b[1] * x)
    >>> res = hj.least_squares(line, np.zeros(2), x, y, sigma=s, absolute_sigma=True)
    >>> np.round(res.se, 4)  # sqrt(diag((X' S^-2 X)^-1)): the errors propagated
    array([0.1334, 0.0596])
    >>> rel = hj.least_squares(line, np.zeros(2), x, y, sigma=s)  # same program
    >>> bool(np.allclose(rel.se, res.se * np.sqrt(res.s2)))  # rescaled by chi2/dof
    True
    """
    absolute = _check_absolute_sigma(absolute_sigma)
    sigma, narrow_sigma = (None, False) if sigma is None else _check_sigma(sigma)
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
    weights = _per_observation_sigma(sigma, nobs)
    warn_promoted(["`sigma`"] if narrow_sigma else [])
    names = check_names(names, spec_names(obj.spec))
    run = obj.program(("least_squares", steps, nobs, names), lambda: _build(obj, steps, names, nobs))
    options = LMOptions(gtol=gtol)
    absolute_flag = np.asarray(absolute)
    result = run(x, args, weights, absolute_flag, options)
    d = result.diagnostics
    if not is_traced(d.is_valid) and bool(d.hessian_is_pd) and needs_refit(d.quadratic_ratio):
        # Curved valley: certify again with the other parameters re-fitted at the probes.
        refit = obj.program(
            ("least_squares-refit", steps, nobs, names), lambda: _build(obj, steps, names, nobs, refit=True)
        )
        result = refit(x, args, weights, absolute_flag, options)
    result = dataclasses.replace(result, weighted=sigma is not None, absolute_sigma=absolute)
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
