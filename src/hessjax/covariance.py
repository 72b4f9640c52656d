"""Covariance from the exact observed information, behind a Cholesky gate.

All functions are pure ``jax.numpy`` (usable under ``jit`` and ``vmap``) and
work on the correlation-scaled matrix S = D^-1 H D^-1, D = sqrt|diag H|: a
well-posed model can have a raw condition number of 1e14 purely from
parameter units, and scaling removes that before any decision is made.
There is no silent regularisation: a matrix that is not positive definite
gives NaN, never a "nearly right" covariance; :func:`pinv_covariance` exists
only for explicit requests and its result must be flagged by the caller.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

from ._precision import EPS, flat_tolerance

__all__ = [
    "ScaledSpectrum",
    "scaled_spectrum",
    "flat_tolerance",
    "definiteness",
    "spectrum_definiteness",
    "cholesky_covariance",
    "gated_covariance",
    "pinv_covariance",
    "standard_errors",
    "correlation",
    "wald_intervals",
    "sandwich_covariance",
    "delta_covariance",
]



class ScaledSpectrum(NamedTuple):
    """Eigen-analysis of S = D^-1 H D^-1 (unit diagonal when H is PD)."""

    scale: jax.Array  # D = sqrt|diag H| (1 where the diagonal vanishes)
    eigenvalues: jax.Array  # ascending
    eigenvectors: jax.Array  # columns, in scaled coordinates


def scaled_spectrum(hessian: jax.Array) -> ScaledSpectrum:
    """Scale ``hessian`` to unit diagonal and eigendecompose it."""
    d = jnp.diag(hessian)
    # A negative diagonal at the rounding level of the largest one is a zero
    # (an exactly flat parameter), not negative curvature of unit size.
    rounding_zero = (d < 0) & (-d <= 64 * EPS * jnp.max(jnp.abs(d)))
    diag = jnp.sqrt(jnp.abs(d))
    scale = jnp.where((diag > 0) & ~rounding_zero, diag, 1.0)
    scaled = hessian / jnp.outer(scale, scale)
    lam, vecs = jnp.linalg.eigh(0.5 * (scaled + scaled.T))
    return ScaledSpectrum(scale, lam, vecs)


def definiteness(lam_min: jax.Array, lam_top: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(positive_definite, negative_curvature)``: the one definition of both.

    ``lam_min`` is (a lower bound on) the smallest eigenvalue of the scaled
    matrix S = D^-1 H D^-1 and ``lam_top`` the largest eigenvalue magnitude.
    Positive definite: both finite and ``lam_min > flat_tolerance * lam_top``;
    negative curvature (a saddle): ``lam_min < -flat_tolerance * lam_top``. In
    between the matrix is flat to working precision and neither holds. Every
    entry point (``fit``, ``compare_hessians``, ``fit_large``'s Lanczos bounds,
    ``bfgs_trace``) decides through this function.
    """
    finite = jnp.isfinite(lam_min) & jnp.isfinite(lam_top)
    return finite & (lam_min > flat_tolerance * lam_top), lam_min < -flat_tolerance * lam_top


def spectrum_definiteness(spectrum: ScaledSpectrum) -> tuple[jax.Array, jax.Array]:
    """:func:`definiteness` of a full scaled spectrum (NaN anywhere: not PD)."""
    lam = spectrum.eigenvalues
    pd, negative = definiteness(lam[0], jnp.max(jnp.abs(lam)))
    return pd & jnp.all(jnp.isfinite(lam)), negative


def cholesky_covariance(hessian: jax.Array, spectrum: ScaledSpectrum) -> tuple[jax.Array, jax.Array]:
    """``(cov, ok)``: H^-1 through a Cholesky factor of the scaled matrix.

    ``ok`` is true when the scaled matrix is positive definite beyond
    :data:`flat_tolerance` and its Cholesky factor exists; otherwise ``cov`` is
    all NaN.
    """
    d = spectrum.scale
    scaled = hessian / jnp.outer(d, d)
    chol = jnp.linalg.cholesky(0.5 * (scaled + scaled.T))
    n = hessian.shape[0]
    inv_scaled = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(n, dtype=hessian.dtype))
    cov = inv_scaled / jnp.outer(d, d)
    cov = 0.5 * (cov + cov.T)
    ok = spectrum_definiteness(spectrum)[0] & jnp.all(jnp.isfinite(chol))
    return jnp.where(ok, cov, jnp.nan), ok


@jax.jit
def gated_covariance(hessian: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cov, ok)`` of a concrete matrix: :func:`cholesky_covariance` of its own
    :func:`scaled_spectrum` (compiled once per size; for eager callers such as
    ``compare_hessians`` and ``bfgs_trace``)."""
    return cholesky_covariance(hessian, scaled_spectrum(hessian))


def pinv_covariance(spectrum: ScaledSpectrum) -> jax.Array:
    """Pseudo-inverse: eigenvalues at or below the flat tolerance are dropped.

    Negative eigenvalues are dropped too, so the result is positive
    semi-definite, but it is *not* the covariance of the estimate: it answers
    "what if the problem directions did not exist". Flag it wherever shown.
    """
    lam, vecs, d = spectrum.eigenvalues, spectrum.eigenvectors, spectrum.scale
    keep = lam > flat_tolerance * jnp.max(jnp.abs(lam))
    inv_lam = jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)
    inv_scaled = (vecs * inv_lam) @ vecs.T
    return inv_scaled / jnp.outer(d, d)


def standard_errors(cov: jax.Array) -> jax.Array:
    """sqrt(diag(cov)); NaN where the variance is not positive."""
    var = jnp.diag(cov)
    return jnp.where(var >= 0, jnp.sqrt(jnp.abs(var)), jnp.nan)


def correlation(cov: jax.Array) -> jax.Array:
    """Correlation matrix of ``cov``."""
    se = standard_errors(cov)
    return cov / jnp.outer(se, se)


def normal_quantile(level: float) -> jax.Array:
    """z with P(|Z| <= z) = level."""
    return ndtri(0.5 + 0.5 * level)


def wald_intervals(estimate: jax.Array, se: jax.Array, level: float = 0.95) -> jax.Array:
    """``(n, 2)`` Wald intervals estimate +- z se."""
    z = normal_quantile(level)
    return jnp.stack([estimate - z * se, estimate + z * se], axis=-1)


def sandwich_covariance(cov: jax.Array, scores: jax.Array) -> jax.Array:
    """H^-1 (sum_i s_i s_i') H^-1 from per-observation scores ``(nobs, n)``.

    The heteroskedasticity-robust (White/Huber, statsmodels ``HC0``)
    covariance: valid under misspecification where H^-1 is not.
    """
    meat = scores.T @ scores
    out = cov @ meat @ cov
    return 0.5 * (out + out.T)


def delta_covariance(jacobian: jax.Array, cov: jax.Array) -> jax.Array:
    """J cov J': covariance of g(theta) by the delta method, J = dg/dtheta."""
    out = jacobian @ cov @ jacobian.T
    return 0.5 * (out + out.T)
