"""BFGS with a strong-Wolfe line search, exposing its inverse-Hessian approximation.

Nocedal & Wright (2006) Algorithm 6.1 with the inverse update (6.17). The
matrix it carries is shaped by the path: it starts as the identity (SciPy's
convention, so results match ``scipy.optimize.minimize(method="BFGS")``) and
is corrected only along the steps actually taken, which is why it is not the
inverse Hessian at the solution and not a covariance matrix.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._precision import EPS
from .base import Functions, Status, gradient_converged
from .line_search import strong_wolfe

__all__ = ["BFGS", "BFGSOptions"]


class BFGSOptions(NamedTuple):
    """Tolerances and the step limit are data: changing them does not recompile."""

    gtol: jax.Array
    max_steps: jax.Array | None = None  # int32; None: the driver's static limit


class BFGSState(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    inv_hessian: jax.Array
    first: jax.Array
    restarted: jax.Array  # inv_hessian is the identity of a restart ("scaled" only)
    line_search_failed: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhev: jax.Array


def bfgs_update(inv_hessian: jax.Array, s: jax.Array, y: jax.Array) -> jax.Array:
    """H+ = (I - rho s y') H (I - rho y s') + rho s s', rho = 1/(y's): N&W eq. (6.17)."""
    rho = 1.0 / jnp.dot(y, s)
    hy = inv_hessian @ y
    return (
        inv_hessian
        - rho * (jnp.outer(s, hy) + jnp.outer(hy, s))
        + (rho * rho * jnp.dot(y, hy) + rho) * jnp.outer(s, s)
    )


# The default start (issue 12): "scaled" takes 2-3x fewer steps than SciPy's
# identity on likelihoods, whose curvature is of order N.
DEFAULT_INIT_HESSIAN = "scaled"


class BFGS:
    """Quasi-Newton BFGS; ``init_hessian`` is ``"identity"``, ``"scaled"`` or ``"exact"``.

    ``"scaled"`` (default) rescales the identity by y's / y'y before the
    first update (N&W eq. 6.20), which saves many function evaluations when
    the curvature is far from 1 (likelihoods of N observations have
    curvature of order N). ``"identity"`` is SciPy's convention: the same
    path as SciPy's BFGS, so the matrix reproduces SciPy's ``hess_inv``. ``"exact"`` starts from the
    inverse of the exact Hessian at ``x0`` when that is positive definite
    (else the identity).
    """

    def __init__(self, init_hessian: str = DEFAULT_INIT_HESSIAN):
        self.init_hessian = init_hessian

    def init(self, fns: Functions, x0, args, options: BFGSOptions) -> BFGSState:
        n = x0.shape[0]
        eye = jnp.eye(n, dtype=x0.dtype)
        if self.init_hessian == "exact":
            f, g, hess = fns.value_grad_hessian(x0, args)
            chol = jnp.linalg.cholesky(hess)
            inv = jax.scipy.linalg.cho_solve((chol, True), eye)
            inv_hessian = jnp.where(jnp.all(jnp.isfinite(inv)), 0.5 * (inv + inv.T), eye)
            nhev = jnp.asarray(1, jnp.int32)
        else:
            f, g = fns.value_and_grad(x0, args)
            inv_hessian = eye
            nhev = jnp.asarray(0, jnp.int32)
        one = jnp.asarray(1, jnp.int32)
        return BFGSState(
            x=x0,
            f=f,
            g=g,
            inv_hessian=inv_hessian,
            first=jnp.asarray(self.init_hessian != "exact"),
            restarted=jnp.asarray(False),
            line_search_failed=jnp.asarray(False),
            nfev=one,
            ngev=one,
            nhev=nhev,
        )

    def step(self, fns: Functions, state: BFGSState, args, options: BFGSOptions) -> BFGSState:
        n = state.x.shape[0]
        eye = jnp.eye(n, dtype=state.x.dtype)
        p = -state.inv_hessian @ state.g
        # Rounding can make the approximation lose positive definiteness on
        # ill-conditioned problems; restart from steepest descent then.
        descent = jnp.dot(p, state.g) < 0
        inv_hessian = jnp.where(descent, state.inv_hessian, eye)
        p = jnp.where(descent, p, -state.g)
        # Unit steps give BFGS its superlinear rate (N&W sec. 3.5); the very
        # first step of an identity start has no curvature information, so it
        # is scaled to length one as in SciPy.
        gnorm = jnp.linalg.norm(state.g)
        alpha0 = jnp.where(state.first, jnp.minimum(1.0, 1.0 / gnorm), 1.0)
        ls = strong_wolfe(lambda z: fns.value_and_grad(z, args), state.x, state.f, state.g, p, alpha0)

        s = ls.alpha * p
        y = ls.g - state.g
        ys = jnp.dot(y, s)
        if self.init_hessian == "scaled":
            # N&W eq. (6.20): give the identity the curvature seen on the first step.
            gamma = ys / jnp.dot(y, y)
            rescale = state.first & ~state.restarted & (ys > 0) & jnp.isfinite(gamma)
            inv_hessian = jnp.where(rescale, gamma * inv_hessian, inv_hessian)
        # Curvature-condition guard (N&W sec. 6.1): the update keeps the
        # approximation positive definite only if y's > 0. The strong-Wolfe
        # step guarantees it in exact arithmetic; a fallback step (sufficient
        # decrease only) or rounding may not, and then the update is skipped.
        curvature_ok = ls.decreased & (ys > EPS * jnp.linalg.norm(y) * jnp.linalg.norm(s))
        updated = jnp.where(curvature_ok, bfgs_update(inv_hessian, s, y), inv_hessian)

        moved = ls.decreased
        failed = ~ls.wolfe
        if self.init_hessian == "scaled":
            # The scalar y's/y'y fits the stiffest curvature seen first; on a badly
            # scaled problem (curvatures 1e-4 .. 1e8) it makes the steps along flat
            # directions too short for any line search to reach. A failed search
            # therefore restarts once from SciPy's unscaled identity (no rescale),
            # and only a failure from that start stops the run.
            restart = failed & ~state.restarted
            updated = jnp.where(restart, eye, updated)
            first, restarted, failed = state.first & ~moved | restart, restart, failed & ~restart
        else:
            first, restarted = state.first & ~moved, state.restarted
        return BFGSState(
            x=jnp.where(moved, state.x + s, state.x),
            f=jnp.where(moved, ls.f, state.f),
            g=jnp.where(moved, ls.g, state.g),
            inv_hessian=updated,
            first=first,
            restarted=restarted,
            # A search that cannot meet the Wolfe conditions has reached what
            # f and its gradient resolve; stop (as SciPy does) rather than
            # repeat it: the best point found, if any, is kept.
            line_search_failed=failed,
            nfev=state.nfev + ls.nfev,
            ngev=state.ngev + ls.nfev,
            nhev=state.nhev,
        )

    def terminate(self, state: BFGSState, options: BFGSOptions):
        step = -state.inv_hessian @ state.g
        converged = gradient_converged(state.x, state.f, state.g, step, options.gtol)
        done = converged | state.line_search_failed
        status = jnp.where(converged, Status.SUCCESS, Status.LINE_SEARCH_FAILED)
        return done, status

    def inverse_hessian(self, state: BFGSState):
        return state.inv_hessian
