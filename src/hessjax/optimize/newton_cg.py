"""Truncated Newton: trust region with the Steihaug-Toint CG subproblem, HVPs only.

For models too large for a dense Hessian (its n^2 memory and n^3 ``eigh``),
each step solves the trust-region subproblem approximately by conjugate
gradients on exact Hessian-vector products (Nocedal & Wright 2006,
Algorithm 7.2 inside Algorithm 4.1): nothing of size n^2 is ever formed.
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

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._precision import EPS, default_gtol, float64_entry_point, is_traced
from ..krylov import lanczos_extremes, lanczos_start, steihaug_cg
from ..objective import bind
from ..warnings import ConvergenceWarning, warn
from .base import (
    Functions,
    MinimizeResult,
    Status,
    accept_trial,
    gradient_converged,
    relative_gradient,
)
from .minimize import _is_integer, _is_real, solver_program

__all__ = [
    "SteihaugNewtonCG",
    "NewtonCGOptions",
    "NewtonCGState",
    "default_max_cg_steps",
    "pure_solve",
    "minimize_newton_cg",
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
        actual = state.f - f_trial
        rho = actual / predicted
        # Reductions at the rounding level of f make their ratio noise; the
        # model is exact to that precision, so the step is taken (as in newton.py).
        noise = 10.0 * EPS * jnp.maximum(jnp.abs(state.f), 1.0)
        at_noise = (jnp.abs(actual) <= noise) & (predicted <= noise)
        rho = jnp.where(at_noise, 1.0, rho)
        rho = jnp.where(jnp.isfinite(f_trial) & (predicted > 0), rho, -jnp.inf)

        step_norm = jnp.linalg.norm(p)
        # N&W Alg. 4.1: shrink on poor agreement (to a quarter of the step, so
        # a step into a non-finite region contracts quickly); expand when the
        # model is good and the step reached the boundary.
        expand = (rho > 0.75) & (step_norm >= 0.99 * radius)
        new_radius = jnp.where(rho < 0.25, 0.25 * step_norm, jnp.where(expand, 2.0 * radius, radius))
        # eta = 1e-4 in N&W Alg. 4.1: any step with a real decrease is taken.
        accept = (rho > 1e-4) & ~curvature_ok

        def evaluate():
            f, g = fns.value_and_grad(trial, args)
            return trial, f, g

        (x_new, f_new, g_new), success = accept_trial(
            accept, evaluate, (x, state.f, g), lambda new: jnp.all(jnp.isfinite(new[2]))
        )
        keep = success | ~accept
        new_radius = jnp.where(keep, new_radius, 0.25 * step_norm)
        # A certified point keeps everything: the next terminate() stops there.
        new_radius = jnp.where(curvature_ok, radius, new_radius)
        # Below the rounding level of f only the gradient can show progress; a
        # step there that does not even halve it means float64 is exhausted.
        stalled = at_noise & ~curvature_ok & (
            relative_gradient(x_new, f_new, g_new) >= 0.5 * relative_gradient(x, state.f, g)
        )
        inc = accept.astype(jnp.int32)
        return NewtonCGState(
            x_new, f_new, g_new, new_radius, curvature_ok, stalled,
            state.nfev + 1 + inc, state.ngev + 1 + inc, state.nhev + products,
        )

    def terminate(self, state: NewtonCGState, options: NewtonCGOptions):
        no_step = jnp.full_like(state.x, jnp.inf)
        small = gradient_converged(state.x, state.f, state.g, no_step, options.gtol)
        converged = small & state.curvature_ok
        collapsed = state.radius <= EPS * jnp.maximum(jnp.linalg.norm(state.x), 1.0)
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


# -- eager shell ------------------------------------------------------------------------


def check_tolerance(value, argname: str, default: float, upper: float | None = None) -> np.float64:
    """``value`` (or ``default`` when None) as float64, after checking 0 < value < upper."""
    if value is None:
        return np.float64(default)
    if not (_is_real(value) and value > 0 and (upper is None or value < upper)):
        bound = f" and below {upper}" if upper is not None else ""
        raise ValueError(f"`{argname}` must be a positive number{bound}, got {value!r}.")
    return np.float64(value)


def check_count(value, argname: str, default: int, low: int = 1, high: int | None = None) -> int:
    """``value`` (or ``default`` when None) as int, after checking low <= value <= high."""
    if value is None:
        return default
    if not (_is_integer(value) and value >= low and (high is None or value <= high)):
        upto = f" and at most {high}" if high is not None else ""
        raise ValueError(f"`{argname}` must be an int >= {low}{upto}, got {value!r}.")
    return int(value)


def newton_cg_settings(n: int, gtol, max_steps, max_cg_steps, initial_radius, default_steps: int):
    """Validate the options; return ``(NewtonCGOptions, max_steps, max_cg_steps)``:
    tolerances are data (no recompile when they change), step caps are static."""
    gtol = check_tolerance(gtol, "gtol", default_gtol)
    max_steps = check_count(max_steps, "max_steps", default_steps, low=0)
    max_cg = check_count(max_cg_steps, "max_cg_steps", default_max_cg_steps(n))
    radius = check_tolerance(initial_radius, "initial_radius", 0.0)
    return NewtonCGOptions(gtol=gtol, initial_radius=radius), max_steps, max_cg


@float64_entry_point
def minimize_newton_cg(
    f: Callable,
    x0: Any,
    *args: Any,
    gtol: float | None = None,
    max_steps: int | None = None,
    max_cg_steps: int | None = None,
    initial_radius: float | None = None,
) -> MinimizeResult:
    """Minimize with trust-region Newton-CG (Steihaug-Toint) on exact Hessian-vector products.

    For objectives with too many parameters for a dense Hessian: memory and
    work per step are linear in n (a few n-vectors, CG products of about a
    gradient's cost). Pure: usable under ``jax.jit`` and ``jax.vmap``.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar, in ``jax.numpy``.
    x0 : pytree of floating arrays
        Starting point (promoted to float64).
    *args
        Data passed to ``f``.
    gtol : float, optional
        Relative-gradient tolerance (default ``eps**(2/3)``, as
        :func:`hessjax.minimize`).
    max_steps : int, optional
        Trust-region steps (default 1000).
    max_cg_steps : int, optional
        CG iterations per step (default ``min(n, 250)``).
    initial_radius : float, optional
        Initial trust radius in the units of x (default: the Cauchy step
        length at ``x0``, at least 1).

    Returns
    -------
    MinimizeResult
        As :func:`hessjax.minimize`; ``nhev`` counts Hessian-vector
        products and ``inv_hessian`` is None. Success requires the gradient
        test and a Lanczos check finding no negative curvature, so saddle
        points are left, not reported. A ``ConvergenceWarning`` is issued
        (when not traced) if ``success`` is false.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def rosen(x):
    ...     return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    >>> res = hj.minimize_newton_cg(rosen, np.array([-1.2, 1.0, -1.2, 1.0]))
    >>> bool(res.success), np.round(np.asarray(res.x), 8)
    (True, array([1., 1., 1., 1.]))
    """
    obj, x, args, _ = bind(f, x0, args, fname="f", pname="x0")
    n = obj.spec.size
    options, max_steps, max_cg = newton_cg_settings(n, gtol, max_steps, max_cg_steps, initial_radius, 1000)
    key = ("newton_cg", max_steps, max_cg)
    solve = obj.solver(key, lambda: jax.jit(pure_solve(obj, max_steps, max_cg, min(n, CURVATURE_STEPS))))
    result = solve(x, args, options)
    if not is_traced(result.status) and int(result.status) != Status.SUCCESS:
        status = Status(int(result.status))
        warn(f"minimize_newton_cg did not converge: {status.name}. {status.message}", ConvergenceWarning)
    return result


