"""Trust-region Newton on the exact Hessian, following negative curvature.

Nocedal & Wright (2006) Algorithm 4.1 for the radius, with the subproblem
min g'p + p'Hp/2 s.t. ||D p|| <= radius solved exactly through the
eigendecomposition of the scaled Hessian (N&W sec. 4.3, Moré & Sorensen 1983),
including the "hard case". Because the model uses the exact Hessian, a step
along a negative eigenvector is always available, so the method leaves saddle
points that gradient-only methods (BFGS) converge to, and it reports success
only at points whose Hessian has no negative eigenvalue.

Scaling: D = sqrt|diag H|, non-decreasing over iterations (as in MINPACK), so
parameters that differ by orders of magnitude get comparable trust regions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._precision import EPS
from .base import (
    Functions,
    Status,
    accept_trial,
    gradient_converged,
    newton_components,
    relative_gradient,
)

__all__ = ["TrustRegionNewton", "NewtonOptions", "solve_trust_region_subproblem"]

# Iterations of the safeguarded Newton solve of the secular equation; it
# converges monotonically from the left (N&W Alg. 4.3), quadratically near
# the root, so this is far more than needed, but costs only O(n) each.
_SECULAR_STEPS = 60


class NewtonOptions(NamedTuple):
    gtol: jax.Array
    initial_radius: jax.Array  # <= 0: choose from the first model step


class NewtonState(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    hessian: jax.Array
    scale: jax.Array
    eigenvalues: jax.Array  # of the scaled Hessian D^-1 H D^-1, ascending
    eigenvectors: jax.Array
    radius: jax.Array
    stalled: jax.Array  # a rounding-level step that did not improve the gradient
    nfev: jax.Array
    ngev: jax.Array
    nhev: jax.Array


def solve_trust_region_subproblem(eigenvalues, eigenvectors, g, radius):
    """Exact minimizer of g'p + p'Hp/2 over ||p|| <= radius, H = Q diag(lam) Q'.

    Returns ``(p, predicted_decrease)``. With ``sigma >= max(0, -lam_min)``,
    p(sigma) = -Q (lam + sigma)^-1 Q'g; sigma = 0 if the Newton step is
    interior, else ||p(sigma)|| = radius (the secular equation, solved by
    safeguarded Newton on 1/||p||, which is nearly linear in sigma), else the
    hard case p = p(-lam_min) + tau q_min (g has no component along q_min).
    """
    lam_min = eigenvalues[0]
    gq = eigenvectors.T @ g
    scale = jnp.maximum(jnp.max(jnp.abs(eigenvalues)), jnp.finfo(g.dtype).tiny)

    def components(sigma):
        # A zero shifted eigenvalue with a zero gradient component contributes
        # nothing (that is the hard case); with a non-zero one, the step is unbounded.
        return newton_components(gq, eigenvalues + sigma)

    def step_norm(sigma):
        return jnp.linalg.norm(components(sigma))

    sigma_lo = jnp.maximum(0.0, -lam_min)
    sigma_hi = sigma_lo + jnp.linalg.norm(gq) / radius + scale * EPS
    interior = (lam_min > 0) & (step_norm(0.0) <= radius)

    def secular(carry, _):
        sigma, lo, hi = carry
        pq = components(sigma)
        norm = jnp.linalg.norm(pq)
        too_long = norm > radius
        lo = jnp.where(too_long, sigma, lo)
        hi = jnp.where(too_long, hi, sigma)
        denom = eigenvalues + sigma
        dnorm = -jnp.sum(pq**2 / jnp.where(denom > 0, denom, 1.0)) / norm
        # Newton on phi(sigma) = 1/radius - 1/||p(sigma)||  (N&W Alg. 4.3).
        newton = sigma - (1.0 / radius - 1.0 / norm) * norm**2 / dnorm
        ok = jnp.isfinite(newton) & (newton > lo) & (newton < hi)
        sigma = jnp.where(ok, newton, 0.5 * (lo + hi))
        return (sigma, lo, hi), None

    start = 0.5 * (sigma_lo + sigma_hi)
    (sigma, _, _), _ = jax.lax.scan(
        secular, (start, sigma_lo, sigma_hi), None, length=_SECULAR_STEPS
    )
    sigma = jnp.where(interior, 0.0, sigma)
    pq = components(sigma)
    reached_boundary = jnp.all(jnp.isfinite(pq)) & (jnp.linalg.norm(pq) >= (1.0 - 1e-6) * radius)

    # Hard case: even at sigma = -lam_min the step misses the boundary, so
    # move along the minimal eigenvector to it, choosing the sign that does
    # not increase the linear term.
    degenerate = eigenvalues - lam_min <= 1e3 * EPS * scale
    off_min = jnp.where(degenerate, 0.0, components(sigma_lo))
    off_min = jnp.where(jnp.isfinite(off_min), off_min, 0.0)
    tau = jnp.sqrt(jnp.maximum(radius**2 - jnp.sum(off_min**2), 0.0))
    direction = jnp.where(gq[0] > 0, -1.0, 1.0)
    pq_hard = off_min + direction * tau * jnp.zeros_like(gq).at[0].set(1.0)
    hard = (~interior) & (lam_min <= 0) & ~reached_boundary
    pq = jnp.where(hard, pq_hard, pq)

    p = eigenvectors @ pq
    predicted = -(jnp.dot(gq, pq) + 0.5 * jnp.dot(eigenvalues * pq, pq))
    return p, predicted


def _update_scale(previous, hessian):
    diag = jnp.sqrt(jnp.abs(jnp.diag(hessian)))
    scale = jnp.maximum(previous, jnp.where(jnp.isfinite(diag), diag, 0.0))
    # A parameter with no curvature seen yet (flat direction) keeps unit scale,
    # as in MINPACK; a tiny scale would turn the trust region into a huge step.
    negligible = scale <= jnp.sqrt(EPS) * jnp.max(scale)
    return jnp.where(negligible, jnp.maximum(scale, 1.0), scale)


def _decompose(hessian, scale):
    scaled = hessian / jnp.outer(scale, scale)
    return jnp.linalg.eigh(0.5 * (scaled + scaled.T))


class TrustRegionNewton:
    """Exact-Hessian trust-region Newton (eigendecomposition subproblem)."""

    def init(self, fns: Functions, x0, args, options: NewtonOptions) -> NewtonState:
        f, g, hessian = fns.value_grad_hessian(x0, args)
        scale = _update_scale(jnp.zeros_like(x0), hessian)
        lam, vecs = _decompose(hessian, scale)
        # Initial radius in scaled units (where the Hessian has unit diagonal):
        # a gradient step on the largest curvature, at least 1.
        guess = jnp.linalg.norm(g / scale) / jnp.max(jnp.abs(lam))
        guess = jnp.where(jnp.isfinite(guess), jnp.maximum(guess, 1.0), 1.0)
        radius = jnp.where(options.initial_radius > 0, options.initial_radius, guess)
        one = jnp.asarray(1, jnp.int32)
        return NewtonState(
            x0, f, g, hessian, scale, lam, vecs, radius, jnp.asarray(False), one, one, one
        )

    def step(self, fns: Functions, state: NewtonState, args, options: NewtonOptions) -> NewtonState:
        ps, predicted = solve_trust_region_subproblem(
            state.eigenvalues, state.eigenvectors, state.g / state.scale, state.radius
        )
        p = ps / state.scale
        trial = state.x + p
        f_trial = fns.value(trial, args)
        actual = state.f - f_trial
        rho = actual / predicted
        # When the predicted reduction is below the rounding level of f, the
        # actual reduction is noise (larger than eps |f| when f is a sum of
        # large terms that cancel), so the ratio means nothing: the step is
        # judged by the gradient instead (taken only if it shrinks, below).
        noise = 10.0 * EPS * jnp.maximum(jnp.abs(state.f), 1.0)
        at_noise = predicted <= noise
        rho = jnp.where(at_noise, 1.0, rho)
        rho = jnp.where(jnp.isfinite(f_trial) & (predicted > 0), rho, -jnp.inf)

        step_norm = jnp.linalg.norm(ps)
        # N&W Alg. 4.1: shrink on poor agreement (to a quarter of the step, so
        # a step into a non-finite region contracts quickly); expand when the
        # model is good and the step reached the boundary.
        expand = (rho > 0.75) & (step_norm >= 0.99 * state.radius)
        radius = jnp.where(
            rho < 0.25, 0.25 * step_norm, jnp.where(expand, 2.0 * state.radius, state.radius)
        )
        # eta = 1e-4 in N&W Alg. 4.1: any step with a real decrease is taken.
        accept = rho > 1e-4

        def evaluate():
            f, g, hessian = fns.value_grad_hessian(trial, args)
            scale = _update_scale(state.scale, hessian)
            lam, vecs = _decompose(hessian, scale)
            return trial, f, g, hessian, scale, lam, vecs

        current = (state.x, state.f, state.g, state.hessian, state.scale,
                   state.eigenvalues, state.eigenvectors)
        # A point with finite f but a non-finite gradient or Hessian (edge of
        # the domain) is rejected like a non-finite f.
        old_gradient = relative_gradient(state.x, state.f, state.g)

        def admissible(new):
            finite = jnp.all(jnp.isfinite(new[2])) & jnp.all(jnp.isfinite(new[5]))
            improves = relative_gradient(new[0], new[1], new[2]) < old_gradient
            return finite & (~at_noise | improves)

        (x, f, g, hessian, scale, lam, vecs), success = accept_trial(
            accept, evaluate, current, admissible
        )
        keep = success | ~accept
        radius = jnp.where(keep, radius, 0.25 * step_norm)
        # Below the rounding level of f only the gradient can show progress; a
        # Newton step there that does not even halve it means float64 is
        # exhausted, and repeating it would only burn Hessians.
        stalled = at_noise & (relative_gradient(x, f, g) >= 0.5 * old_gradient)
        inc = accept.astype(jnp.int32)
        return NewtonState(
            x, f, g, hessian, scale, lam, vecs, radius, stalled,
            state.nfev + 1 + inc, state.ngev + inc, state.nhev + inc,
        )

    def terminate(self, state: NewtonState, options: NewtonOptions):
        lam = state.eigenvalues
        # Second-order test: at a saddle the gradient test alone would pass.
        curvature_ok = lam[0] >= -jnp.sqrt(EPS) * jnp.max(jnp.abs(lam))
        # The Newton step. Along an eigenvector with non-positive curvature and
        # a non-zero gradient component the model has no minimizer, so the
        # step is infinite there (and, mixed by Q, in every coordinate): only
        # the gradient test can pass. A zero step there would declare a
        # linear or piecewise-linear objective (Hessian 0) converged at x0.
        gq = state.eigenvectors.T @ (state.g / state.scale)
        newton_step = (state.eigenvectors @ newton_components(gq, lam)) / state.scale
        converged = gradient_converged(state.x, state.f, state.g, newton_step, options.gtol) & curvature_ok
        collapsed = state.radius <= EPS * jnp.maximum(jnp.linalg.norm(state.scale * state.x), 1.0)
        # Trial points with a non-finite Hessian are never accepted (step), so
        # one here is x0's: f and g are finite (else the driver reports
        # NONFINITE / NONFINITE_DERIVATIVE) but no Newton model exists, and
        # every step would be rejected until max_steps. Stop at once.
        hessian_finite = jnp.all(jnp.isfinite(state.hessian))
        done = converged | collapsed | state.stalled | ~hessian_finite
        status = jnp.where(converged, Status.SUCCESS, Status.STALLED)
        status = jnp.where(hessian_finite, status, Status.NONFINITE_DERIVATIVE)
        return done, status

    def inverse_hessian(self, state: NewtonState):
        return None
