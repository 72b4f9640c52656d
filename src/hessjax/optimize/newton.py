"""Trust-region Newton on the exact Hessian, following negative curvature.

Nocedal & Wright (2006) Algorithm 4.1 for the radius (the acceptance rule
shared by every trust-region solver, :mod:`.trust_region`), with the subproblem
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
from .base import Functions, Status, gradient_converged, newton_components, relative_gradient
from .trust_region import (
    NEWTON_RULE,
    radius_collapsed,
    solve_trust_region_subproblem,
    trust_region_update,
)

__all__ = ["TrustRegionNewton", "NewtonOptions", "solve_trust_region_subproblem"]


class NewtonOptions(NamedTuple):
    gtol: jax.Array
    initial_radius: jax.Array  # <= 0: choose from the first model step
    max_steps: jax.Array | None = None  # int32 data (no recompile); None: the driver's static limit


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
    pending: jax.Array  # x's derivatives not evaluated yet (the first step evaluates them)
    nfev: jax.Array
    ngev: jax.Array
    nhev: jax.Array


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


def _initial_radius(g, scale, lam, options: NewtonOptions):
    """In scaled units (where the Hessian has unit diagonal): a gradient step on
    the largest curvature, at least 1, unless ``options.initial_radius`` > 0."""
    guess = jnp.linalg.norm(g / scale) / jnp.max(jnp.abs(lam))
    guess = jnp.where(jnp.isfinite(guess), jnp.maximum(guess, 1.0), 1.0)
    return jnp.where(options.initial_radius > 0, options.initial_radius, guess)


class TrustRegionNewton:
    """Exact-Hessian trust-region Newton (eigendecomposition subproblem).

    The derivatives at ``x0`` are evaluated by the first step, at the same
    place in the program as every trial point's (``setup_steps = 1``: the
    driver runs one step more and does not count it), so the compiled program
    holds one copy of the user's Hessian instead of two: a third less to
    compile for a fit (issue 12).
    """

    setup_steps = 1

    def init(self, fns: Functions, x0, args, options: NewtonOptions) -> NewtonState:
        n = x0.shape[0]
        zero, ones = jnp.zeros((), x0.dtype), jnp.ones_like(x0)
        eye = jnp.eye(n, dtype=x0.dtype)
        none = jnp.asarray(0, jnp.int32)
        return NewtonState(
            x0, zero, jnp.zeros_like(x0), jnp.zeros((n, n), x0.dtype), ones, ones, eye,
            jnp.ones((), x0.dtype), jnp.asarray(False), jnp.asarray(True), none, none, none,
        )

    def step(self, fns: Functions, state: NewtonState, args, options: NewtonOptions) -> NewtonState:
        pending = state.pending
        ps, predicted = solve_trust_region_subproblem(
            state.eigenvalues, state.eigenvectors, state.g / state.scale, state.radius
        )
        p = ps / state.scale
        # The first step evaluates x0 itself (its subproblem, on placeholders, is unused).
        trial = jnp.where(pending, state.x, state.x + p)
        f_trial = fns.value(trial, args)

        def evaluate():
            f, g, hessian = fns.value_grad_hessian(trial, args)
            scale = _update_scale(jnp.where(pending, 0.0, state.scale), hessian)
            lam, vecs = _decompose(hessian, scale)
            return trial, f, g, hessian, scale, lam, vecs

        current = (state.x, state.f, state.g, state.hessian, state.scale,
                   state.eigenvalues, state.eigenvectors)
        # N&W Alg. 4.1 (trust_region.py). When the predicted reduction is below
        # the rounding level of f, the actual reduction is noise (larger than
        # eps |f| when f is a sum of large terms that cancel), so the ratio
        # means nothing: the step is judged by the gradient instead, taken only
        # if it shrinks it (NEWTON_RULE). A point with finite f but a
        # non-finite gradient or Hessian (edge of the domain) is rejected like
        # a non-finite f. Below the rounding level a Newton step that does not
        # even halve the gradient means float64 is exhausted, and repeating it
        # would only burn Hessians (``stalled``).
        (x, f, g, hessian, scale, lam, vecs), update = trust_region_update(
            NEWTON_RULE,
            f=state.f,
            f_trial=f_trial,
            predicted=predicted,
            step_norm=jnp.linalg.norm(ps),
            radius=state.radius,
            evaluate=evaluate,
            current=current,
            finite=lambda new: jnp.all(jnp.isfinite(new[2])) & jnp.all(jnp.isfinite(new[5])),
            progress=lambda s: relative_gradient(s[0], s[1], s[2]),
            force=pending,
        )
        radius, stalled, accept = update.radius, update.stalled, update.accept
        radius = jnp.where(pending, _initial_radius(g, scale, lam, options), radius)
        stalled = stalled & ~pending
        inc = (accept | pending).astype(jnp.int32)
        nfev = state.nfev + jnp.where(pending, 1, 1 + inc)
        return NewtonState(
            x, f, g, hessian, scale, lam, vecs, radius, stalled, jnp.asarray(False),
            nfev, state.ngev + inc, state.nhev + inc,
        )

    def terminate(self, state: NewtonState, options: NewtonOptions):
        # (``pending``: nothing evaluated yet, so nothing to judge; see the end.)
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
        collapsed = radius_collapsed(state.radius, state.scale * state.x)
        # Trial points with a non-finite Hessian are never accepted (step), so
        # one here is x0's: f and g are finite (else the driver reports
        # NONFINITE / NONFINITE_DERIVATIVE) but no Newton model exists, and
        # every step would be rejected until max_steps. Stop at once.
        hessian_finite = jnp.all(jnp.isfinite(state.hessian))
        done = (converged | collapsed | state.stalled | ~hessian_finite) & ~state.pending
        status = jnp.where(converged, Status.SUCCESS, Status.STALLED)
        status = jnp.where(hessian_finite, status, Status.NONFINITE_DERIVATIVE)
        return done, status

    def inverse_hessian(self, state: NewtonState):
        return None
