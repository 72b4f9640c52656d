"""Truncated Newton: trust region with the Steihaug-Toint CG subproblem, HVPs only.

For models too large for a dense Hessian (its n^2 memory and n^3 ``eigh``),
each step solves the trust-region subproblem approximately by conjugate
gradients on exact Hessian-vector products (Nocedal & Wright 2006,
Algorithm 7.2 inside Algorithm 4.1, the acceptance rule shared by every
trust-region solver, :mod:`.trust_region`): nothing of size n^2 is ever formed.
The CG tolerance follows the forcing sequence eta_k = min(0.5, sqrt(||g||))
(N&W eq. 7.3 with the choice below Theorem 7.2), which gives superlinear
local convergence; CG is capped at ``max_cg_steps`` products per step.

Negative curvature is followed: Steihaug's CG exits to the trust-region
boundary along the first direction with d'Hd <= 0. CG cannot see curvature
where the gradient vanishes (at a saddle it returns the zero step), so once
the gradient test passes a short Lanczos run checks the curvature there; a
Ritz value below -sqrt(eps) times the largest one gives a step to the
boundary along its Ritz vector, and success is reported only when none is
found.

Unlike ``method="newton"``, the trust region is not scaled by the Hessian's
diagonal (that would need n products): parameters should be of comparable
scale, as usual for large models.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._precision import EPS
from ..krylov import lanczos_extremes, lanczos_start, steihaug_cg
from .base import Functions, Status, gradient_converged, relative_gradient, solver_program
from .trust_region import NEWTON_CG_RULE, radius_collapsed, trust_region_update

__all__ = [
    "SteihaugNewtonCG",
    "NewtonCGOptions",
    "NewtonCGState",
    "default_max_cg_steps",
    "pure_solve",
    "CURVATURE_STEPS",
]

#: Lanczos steps of the curvature check where the gradient test passes.
CURVATURE_STEPS = 20


def default_max_cg_steps(n: int) -> int:
    """CG products per step: n (CG is exact in n steps), at most 250."""
    return int(min(n, 250))


class NewtonCGOptions(NamedTuple):
    gtol: jax.Array
    initial_radius: jax.Array  # <= 0: the Cauchy step length at x0, at least 1


class NewtonCGState(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    radius: jax.Array
    curvature_ok: jax.Array  # Lanczos found no negative curvature at x
    stalled: jax.Array  # a rounding-level step that did not improve the gradient
    nfev: jax.Array
    ngev: jax.Array
    nhev: jax.Array  # Hessian-vector products


def _gradient_function(fns: Functions, args):
    return lambda z: fns.value_and_grad(z, args)[1]


class SteihaugNewtonCG:
    """Trust-region Newton-CG on exact HVPs (N&W Alg. 7.2 + 4.1).

    Parameters
    ----------
    max_cg_steps : int
        Cap on CG iterations (Hessian-vector products) per step.
    curvature_steps : int
        Lanczos steps of the curvature check where the gradient test passes.
    """

    def __init__(self, max_cg_steps: int, curvature_steps: int):
        self.max_cg_steps = int(max_cg_steps)
        self.curvature_steps = int(curvature_steps)

    def init(self, fns: Functions, x0, args, options: NewtonCGOptions) -> NewtonCGState:
        f, g = fns.value_and_grad(x0, args)
        # The Cauchy step length ||g||^3 / g'Hg (one product): a radius in the
        # units of x that a steepest-descent step would use, at least 1.
        _, Hg = jax.jvp(_gradient_function(fns, args), (x0,), (g,))
        gg = g @ g
        cauchy = gg * jnp.sqrt(gg) / (g @ Hg)
        guess = jnp.where(jnp.isfinite(cauchy) & (cauchy > 0), jnp.maximum(cauchy, 1.0), 1.0)
        radius = jnp.where(options.initial_radius > 0, options.initial_radius, guess)
        one = jnp.asarray(1, jnp.int32)
        return NewtonCGState(x0, f, g, radius, jnp.asarray(False), jnp.asarray(False), one, one, one)

    def step(self, fns: Functions, state: NewtonCGState, args, options: NewtonCGOptions) -> NewtonCGState:
        x, g, radius = state.x, state.g, state.radius
        no_step = jnp.full_like(x, jnp.inf)
        gradient_small = gradient_converged(x, state.f, g, no_step, options.gtol)
        # One linearization of the gradient serves every product of this step.
        _, hvp = jax.linearize(_gradient_function(fns, args), x)
        zero_i = jnp.asarray(0, jnp.int32)

        def newton_step(_):
            # Forcing sequence eta_k = min(0.5, sqrt(||g||)) (N&W sec. 7.1).
            eta = jnp.minimum(0.5, jnp.sqrt(jnp.linalg.norm(g)))
            sub = steihaug_cg(hvp, g, radius, eta, self.max_cg_steps)
            return sub.step, sub.predicted, sub.iterations, jnp.asarray(False)

        def curvature_step(_):
            steps = min(self.curvature_steps, x.shape[0])
            ritz = lanczos_extremes(hvp, lanczos_start(x.shape[0], x.dtype), steps)
            scale = jnp.maximum(jnp.abs(ritz.max_value), jnp.abs(ritz.min_value))
            # The same second-order test as method="newton" uses on exact eigenvalues.
            negative = ritz.min_value < -jnp.sqrt(EPS) * scale
            direction = jnp.where(g @ ritz.min_vector > 0, -1.0, 1.0) * ritz.min_vector
            p = jnp.where(negative, radius * direction, 0.0)
            predicted = -(g @ p + 0.5 * ritz.min_value * (p @ p))
            predicted = jnp.where(negative, predicted, 0.0)
            return p, predicted, zero_i + steps, ~negative

        p, predicted, products, curvature_ok = jax.lax.cond(
            gradient_small, curvature_step, newton_step, None
        )

        trial = x + p
        f_trial = fns.value(trial, args)

        def evaluate():
            f, g = fns.value_and_grad(trial, args)
            return trial, f, g

        # The shared rule (trust_region.py, NEWTON_CG_RULE): reductions at the
        # rounding level of f make their ratio noise; the model is exact to
        # that precision, so the step is taken. Below that level only the
        # gradient can show progress; a step there that does not even halve it
        # means float64 is exhausted (``stalled``). A point certified by the
        # curvature check takes no step and keeps everything: the next
        # terminate() stops there.
        (x_new, f_new, g_new), update = trust_region_update(
            NEWTON_CG_RULE,
            f=state.f,
            f_trial=f_trial,
            predicted=predicted,
            step_norm=jnp.linalg.norm(p),
            radius=radius,
            evaluate=evaluate,
            current=(x, state.f, g),
            finite=lambda new: jnp.all(jnp.isfinite(new[2])),
            progress=lambda s: relative_gradient(s[0], s[1], s[2]),
            allow=~curvature_ok,
        )
        accept = update.accept
        new_radius = jnp.where(curvature_ok, radius, update.radius)
        stalled = update.stalled & ~curvature_ok
        inc = accept.astype(jnp.int32)
        return NewtonCGState(
            x_new, f_new, g_new, new_radius, curvature_ok, stalled,
            state.nfev + 1 + inc, state.ngev + 1 + inc, state.nhev + products,
        )

    def terminate(self, state: NewtonCGState, options: NewtonCGOptions):
        no_step = jnp.full_like(state.x, jnp.inf)
        small = gradient_converged(state.x, state.f, state.g, no_step, options.gtol)
        converged = small & state.curvature_ok
        collapsed = radius_collapsed(state.radius, state.x)
        done = converged | collapsed | state.stalled
        status = jnp.where(converged, Status.SUCCESS, Status.STALLED)
        return done, status

    def inverse_hessian(self, state: NewtonCGState):
        return None


def pure_solve(obj, max_steps: int, max_cg_steps: int, curvature_steps: int):
    """The un-jitted solve ``(x0, args, NewtonCGOptions) -> MinimizeResult``.

    ``obj`` is a bound :class:`~hessjax.objective.Objective`; its dense
    Hessian is never used.
    """
    return solver_program(obj, SteihaugNewtonCG(max_cg_steps, curvature_steps), max_steps)
