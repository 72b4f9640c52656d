"""Levenberg–Marquardt for nonlinear least squares, on the shared driver.

Minimizes f = ||r(x)||^2 / 2 with exact Jacobians (forward mode), in Moré's
(1978) trust-region form, as MINPACK's lmder: each step minimizes the
Gauss–Newton model subject to ||D p|| <= radius, with MINPACK's scaling
D_j = max over iterations of ||J_j|| and initial radius 100 ||D x0||. The
Levenberg–Marquardt damping is the multiplier of that constraint; it is found
exactly from one SVD of the scaled Jacobian J D^-1 = U S V' by the same
secular-equation solver as the Newton method (the Gauss–Newton Hessian is
V S^2 V'), so rejected steps cost one residual evaluation. Acceptance and the
radius follow the rule shared by every trust-region solver
(:mod:`.trust_region`, :data:`~.trust_region.LEVENBERG_MARQUARDT_RULE`).

Convergence is judged by the angle between r and the column space of J,
||U'r|| / ||r|| <= gtol (MINPACK's orthogonality test, generalized from single
columns to the subspace), which is invariant to the scale of the data and the
parameters (an exactly zero residual gives angle 0), or by a Gauss–Newton step
below the resolution of x (MINPACK's xtol test), which decides fits whose
residuals are only rounding (noise-free data), where the angle is arbitrary.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .base import Status, newton_components, step_resolved
from .trust_region import (
    LEVENBERG_MARQUARDT_RULE,
    radius_collapsed,
    solve_trust_region_subproblem,
    trust_region_update,
)

__all__ = ["LevenbergMarquardt", "LMOptions"]

# MINPACK's initial step bound: factor * ||D x0|| with factor = 100.
_FACTOR = 100.0


class LMOptions(NamedTuple):
    gtol: jax.Array


class LMState(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    r: jax.Array
    jac: jax.Array
    scale: jax.Array
    u: jax.Array
    s: jax.Array
    vt: jax.Array
    radius: jax.Array
    stalled: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhev: jax.Array


def _column_scale(previous, jac):
    norms = jnp.linalg.norm(jac, axis=0)
    scale = jnp.maximum(previous, jnp.where(jnp.isfinite(norms), norms, 0.0))
    # A column that is zero so far keeps unit scale (MINPACK lmder).
    return jnp.where(scale > 0, scale, 1.0)


def _factor(jac, scale):
    u, s, vt = jnp.linalg.svd(jac / scale, full_matrices=False)
    return u, s, vt


def residual_angle(u, r):
    """||U'r|| / ||r||: cosine of the angle between r and the column space of J."""
    rnorm = jnp.linalg.norm(r)
    return jnp.where(rnorm > 0, jnp.linalg.norm(u.T @ r) / jnp.where(rnorm > 0, rnorm, 1.0), 0.0)


class LevenbergMarquardt:
    """Levenberg–Marquardt with SVD solves; ``residuals_and_jacobian(x, args)``
    and ``residuals(x, args)`` come from the bound objective."""

    def __init__(self, residuals: Callable, residuals_and_jacobian: Callable):
        self.residuals = residuals
        self.residuals_and_jacobian = residuals_and_jacobian

    def init(self, fns, x0, args, options: LMOptions) -> LMState:
        r, jac = self.residuals_and_jacobian(x0, args)
        scale = _column_scale(jnp.zeros_like(x0), jac)
        u, s, vt = _factor(jac, scale)
        dx = jnp.linalg.norm(scale * x0)
        radius = _FACTOR * jnp.where(dx > 0, dx, 1.0)
        one = jnp.asarray(1, jnp.int32)
        return LMState(
            x0, 0.5 * r @ r, jac.T @ r, r, jac, scale, u, s, vt, radius,
            jnp.asarray(False), one, one, jnp.asarray(0, jnp.int32),
        )

    def step(self, fns, state: LMState, args, options: LMOptions) -> LMState:
        # Gauss–Newton model in scaled coordinates: Hessian V diag(S^2) V',
        # gradient D^-1 J'r = V S U'r; eigenvalues ascending for the solver.
        order = jnp.arange(state.s.shape[0])[::-1]
        lam = (state.s**2)[order]
        vecs = state.vt.T[:, order]
        gs = state.vt.T @ (state.s * (state.u.T @ state.r))
        ps, predicted = solve_trust_region_subproblem(lam, vecs, gs, state.radius)
        p = ps / state.scale
        trial = state.x + p
        r_trial = self.residuals(trial, args)
        f_trial = 0.5 * r_trial @ r_trial

        def evaluate():
            r, jac = self.residuals_and_jacobian(trial, args)
            scale = _column_scale(state.scale, jac)
            u, s, vt = _factor(jac, scale)
            return trial, r, jac, scale, u, s, vt

        current = (state.x, state.r, state.jac, state.scale, state.u, state.s, state.vt)
        # The shared rule (trust_region.py) in Moré's (1978) form, as MINPACK
        # lmder: on a good step the bound becomes twice the step length (so it
        # also shrinks after short interior steps); on a poor one, a quarter of
        # the step. Reductions at the rounding level of f: the model is exact
        # to that precision, so the step is taken and its progress is judged
        # by the residual angle (``stalled`` when it does not halve).
        (x, r, jac, scale, u, s, vt), update = trust_region_update(
            LEVENBERG_MARQUARDT_RULE,
            f=state.f,
            f_trial=f_trial,
            predicted=predicted,
            step_norm=jnp.linalg.norm(ps),
            radius=state.radius,
            evaluate=evaluate,
            current=current,
            finite=lambda new: jnp.all(jnp.isfinite(new[1])) & jnp.all(jnp.isfinite(new[2])),
            progress=lambda st: residual_angle(st[4], st[1]),
        )
        radius, stalled, success = update.radius, update.stalled, update.success
        f = 0.5 * r @ r
        inc = success.astype(jnp.int32)
        return LMState(
            x, f, jac.T @ r, r, jac, scale, u, s, vt, radius, stalled,
            state.nfev + 1 + inc, state.ngev + inc, state.nhev,
        )

    def terminate(self, state: LMState, options: LMOptions):
        angle = residual_angle(state.u, state.r)
        # The Gauss–Newton step -D^-1 V S^-1 U'r, infinite along a zero
        # singular value with a non-zero component of r (no minimizer there).
        gauss_newton = (state.vt.T @ newton_components(state.u.T @ state.r, state.s)) / state.scale
        # A Gauss–Newton step within rounding of x: x is the model's minimizer
        # to working precision (MINPACK's xtol test at 16 ulps; Moré, Garbow &
        # Hillstrom 1980). This is the test that decides zero-residual fits:
        # there r is rounding noise of the model, whose angle to the column
        # space is arbitrary, so the angle test cannot pass, yet the step that
        # would fit that noise is at the resolution of x.
        resolved = jnp.all(step_resolved(state.x, gauss_newton))
        # Converged to working precision: steps no longer change the RSS beyond
        # its rounding (r = y - model loses digits when the fit is close) and
        # the angle is small; MINPACK reports this as success (ftol/xtol).
        # A trust region below the resolution of x: nothing more to gain.
        collapsed = radius_collapsed(state.radius, state.scale * state.x)
        exhausted = (state.stalled | collapsed) & (angle <= jnp.sqrt(options.gtol))
        # No relative-gradient test: normalized by max(|f|, 1) it becomes an
        # absolute test on near-zero-residual problems (NIST Lanczos1, RSS 1e-25)
        # and stops far too early; the angle is scale-free.
        converged = (angle <= options.gtol) | exhausted | resolved
        done = converged | collapsed | state.stalled
        return done, jnp.where(converged, Status.SUCCESS, Status.STALLED)

    def inverse_hessian(self, state: LMState):
        return None
