"""Solver protocol, the one driver loop, ``Status`` and ``MinimizeResult``.

Every method implements three pure functions over its own state (a
NamedTuple): ``init``, ``step`` and ``terminate``. :func:`iterate` owns the
single ``lax.while_loop``, the step counter, the ``max_steps`` limit and the
non-finite check, so new methods never rewrite the loop and every method is
``jit``- and ``vmap``-compatible by construction; :func:`solver_program`
wraps it into the ``(x0, args, options) -> MinimizeResult`` program that the
shells jit and cache.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Status",
    "MinimizeResult",
    "Functions",
    "Solver",
    "iterate",
    "solver_program",
    "relative_gradient",
    "gradient_converged",
    "step_resolved",
    "newton_components",
]


class Status(enum.IntEnum):
    """Why a minimization stopped. ``Status(k).message`` says what to try."""

    SUCCESS = 0
    MAX_STEPS = 1
    LINE_SEARCH_FAILED = 2
    NONFINITE = 3
    STALLED = 4
    NONFINITE_DERIVATIVE = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.SUCCESS: (
        "Converged: the relative gradient max_i |g_i| max(|x_i|, 1) / max(|f|, 1) is "
        "below gtol, or the next (quasi-, Gauss-)Newton step is below the floating-point "
        "resolution of x (and, for method='newton', the Hessian has no negative eigenvalue)."
    ),
    Status.MAX_STEPS: (
        "Stopped at max_steps before the gradient test passed. Increase max_steps, start "
        "closer to the optimum, or rescale parameters so they are of order one; "
        "method='newton' usually needs far fewer steps."
    ),
    Status.LINE_SEARCH_FAILED: (
        "The line search found no step with sufficient decrease along the search direction. "
        "Usually the point is already as good as float64 allows (gradient at rounding level), "
        "or the objective is non-smooth or its gradient inaccurate there. Check the gradient "
        "norm; try method='newton' or rescale the parameters."
    ),
    Status.NONFINITE: (
        "The objective is not finite at the current point (for example at x0, "
        "outside the function's domain). Start from a point where f(x0, *args) is finite, or "
        "reparameterize (e.g. log sigma instead of sigma)."
    ),
    Status.STALLED: (
        "No further progress is possible in float64: the trust region shrank to the "
        "resolution of x, or steps at the rounding level of f stopped reducing the gradient. "
        "The point may be a minimum to working precision with gtol set tighter than f and "
        "its gradient resolve (check grad), or the objective is non-smooth or noisy there."
    ),
    Status.NONFINITE_DERIVATIVE: (
        "The objective is finite but its gradient, Hessian or Jacobian is not (NaN or inf) "
        "at the current point, so no step can be computed. Typically the function takes a "
        "jnp.where whose unselected branch is not differentiable there, e.g. "
        "jnp.where(x > 0, jnp.log(x), 0.0) at x = 0, or log(0) inside jnp.logaddexp (a "
        "zero-inflation or mixture weight of exactly 0): the derivative of the discarded "
        "branch is inf, and inf * 0 = NaN. Use the 'double where' of the JAX FAQ: "
        "safe = jnp.where(x > 0, x, 1.0); jnp.where(x > 0, jnp.log(safe), 0.0). "
        "hessjax.hessian(f, x0, *args) names the affected parameters."
    ),
}


class Functions(NamedTuple):
    """The objective's pure functions over a flat float64 ``x`` (data in ``args``)."""

    value: Callable
    value_and_grad: Callable
    value_grad_hessian: Callable


class Solver(Protocol):
    """A minimization method: pure ``init``/``step``/``terminate`` over its state.

    The state must have fields ``x``, ``f``, ``g``, ``nfev``, ``ngev`` and
    ``nhev``; ``terminate`` returns ``(done, status)`` as scalar arrays. The
    driver checks ``f`` and ``g``; a solver that carries further derivatives
    (a Hessian) stops with ``Status.NONFINITE_DERIVATIVE`` when they are not finite.
    """

    def init(self, fns: Functions, x0: jax.Array, args: tuple, options: Any) -> Any: ...

    def step(self, fns: Functions, state: Any, args: tuple, options: Any) -> Any: ...

    def terminate(self, state: Any, options: Any) -> tuple[jax.Array, jax.Array]: ...

    def inverse_hessian(self, state: Any) -> jax.Array | None: ...


def relative_gradient(x: jax.Array, f: jax.Array, g: jax.Array) -> jax.Array:
    """max_i |g_i| max(|x_i|, 1) / max(|f|, 1): Dennis & Schnabel (1996) eq. 7.2.5.

    Invariant to the units of f and of each x_i, so one tolerance serves a
    log-likelihood of 1e4 and one of 1e-2.
    """
    return jnp.max(jnp.abs(g) * jnp.maximum(jnp.abs(x), 1.0)) / jnp.maximum(jnp.abs(f), 1.0)


def step_resolved(x: jax.Array, step: jax.Array) -> jax.Array:
    """Per coordinate: the step is finite and within 16 ulps of x_i (relative ~4e-15).

    Such a step cannot change x_i beyond its rounding, so the model's minimizer
    is x to working precision: the float64 form of MINPACK's xtol test (relative
    change of x below xtol; Moré, Garbow & Hillstrom 1980, lmder). An infinite
    or NaN step (no model minimizer, see :func:`newton_components`) is never
    resolved; nor is any non-zero step at x_i = 0.
    """
    return jnp.isfinite(step) & (jnp.abs(step) <= 16.0 * jnp.finfo(x.dtype).eps * jnp.abs(x))


def newton_components(gq: jax.Array, curvature: jax.Array) -> jax.Array:
    """-gq / curvature along the eigen- (or singular) directions of a quadratic model.

    Along a direction with non-positive curvature the model is unbounded below
    unless its gradient component is exactly zero, so that component of the
    step is -sign(gq) inf (0 when gq == 0: nothing to resolve there, the hard
    case of Moré & Sorensen 1983). Returning 0 instead would make the step look
    resolved at a non-stationary point, e.g. a linear objective, where the
    Hessian vanishes.
    """
    safe = jnp.where(curvature > 0, curvature, 1.0)
    unbounded = jnp.where(gq == 0, 0.0, -jnp.sign(gq) * jnp.inf)
    return jnp.where(curvature > 0, -gq / safe, unbounded)


def gradient_converged(x: jax.Array, f: jax.Array, g: jax.Array, step: jax.Array, gtol) -> jax.Array:
    """Every coordinate passes the relative-gradient test or is exact to rounding.

    Far from the origin (|x_i| >> its standard error) the gradient cannot be
    driven below H_ii ulp(x_i), so the relative-gradient test may be out of
    reach although x_i is exact to rounding; a (quasi-)Newton step within
    16 ulps of x_i (:func:`step_resolved`) says so.
    """
    scale_f = jnp.maximum(jnp.abs(f), 1.0)
    small_gradient = jnp.abs(g) * jnp.maximum(jnp.abs(x), 1.0) <= gtol * scale_f
    return jnp.all(small_gradient | step_resolved(x, step))


def iterate(
    solver: Solver,
    fns: Functions,
    x0: jax.Array,
    args: tuple,
    options: Any,
    max_steps: int | jax.Array,
) -> tuple[Any, jax.Array, jax.Array]:
    """Run ``solver`` from ``x0`` until it terminates or ``max_steps`` is reached.

    Returns ``(state, nit, status)``. Pure and branch-free: traced once,
    usable under ``jit`` and ``vmap`` (a batch runs until its last member stops).
    """
    state = solver.init(fns, x0, args, options)

    def check(state):
        done, status = solver.terminate(state, options)
        # A non-finite f stops at once (NONFINITE). A finite f with a
        # non-finite gradient is a different failure: the function is defined
        # there but its derivative is not (typically the jnp.where pitfall),
        # and no method can step without a gradient, so it stops at once too
        # (NONFINITE_DERIVATIVE) instead of spinning to max_steps. Solvers
        # that carry more derivatives (the Newton Hessian) report theirs from
        # terminate with the same status.
        finite_f = jnp.isfinite(state.f)
        finite_g = jnp.all(jnp.isfinite(state.g))
        status = jnp.where(finite_g, status, Status.NONFINITE_DERIVATIVE)
        status = jnp.where(finite_f, status, Status.NONFINITE)
        return done | ~(finite_f & finite_g), status.astype(jnp.int32)

    done, status = check(state)
    # Steps a solver spends evaluating its start (not counted, not limited).
    setup = getattr(solver, "setup_steps", 0)

    def cond(carry):
        nit, _, done, _ = carry
        return (~done) & (nit - setup < max_steps)

    def body(carry):
        nit, state, _, _ = carry
        state = solver.step(fns, state, args, options)
        done, status = check(state)
        return nit + 1, state, done, status

    nit, state, done, status = jax.lax.while_loop(
        cond, body, (jnp.asarray(0, jnp.int32), state, done, status)
    )
    status = jnp.where(done, status, Status.MAX_STEPS).astype(jnp.int32)
    return state, jnp.maximum(nit - setup, 0), status


def solver_program(
    obj: Any, solver: Solver, max_steps: int | None = None, flat: bool = False,
    derivatives: bool = False,
) -> Callable:
    """``(x0, args, options) -> MinimizeResult``: ``solver`` driven by :func:`iterate`.

    ``max_steps``: a static limit, or None to read it from ``options.max_steps``
    (data, so ``max_steps=0`` and the default share one compiled program).
    ``obj`` is a bound :class:`~hessjax.objective.Objective` (its ``value``,
    ``value_and_grad``, ``value_grad_hessian`` and ``spec.unravel``). The
    un-jitted program, for the shells to jit and cache or to compose.
    ``flat``: return ``x`` and ``grad`` as flat vectors (the caller unravels
    them on the host: a pytree of many scalar leaves would be that many
    separate outputs of the compiled program, each compiled on its own).
    ``derivatives``: return ``(result, (f, g, hessian))``, the final state's
    exact Hessian at ``x`` when the solver carries one (Newton; else None), so
    that a caller that needs it at the solution does not compile a second copy.
    """
    fns = Functions(obj.value, obj.value_and_grad, obj.value_grad_hessian)
    unravel = (lambda v: v) if flat else obj.spec.unravel

    def solve(x0, args, options):
        limit = options.max_steps if max_steps is None else max_steps
        state, nit, status = iterate(solver, fns, x0, args, options, limit)
        result = MinimizeResult(
            x=unravel(state.x),
            fun=state.f,
            grad=unravel(state.g),
            nit=nit,
            nfev=state.nfev,
            ngev=state.ngev,
            nhev=state.nhev,
            status=status,
            success=status == Status.SUCCESS,
            inv_hessian=solver.inverse_hessian(state),
        )
        if not derivatives:
            return result
        hessian = getattr(state, "hessian", None)
        return result, (None if hessian is None else (state.f, state.g, hessian))

    return solve


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MinimizeResult:
    """Result of :func:`hessjax.minimize`; a pytree, so it passes through ``jit``/``vmap``.

    Attributes
    ----------
    x : pytree like ``x0``
        The solution.
    fun : jax.Array
        Objective value at ``x``.
    grad : pytree like ``x0``
        Gradient at ``x``.
    nit : jax.Array
        Number of iterations (accepted or rejected steps).
    nfev, ngev, nhev : jax.Array
        Number of objective, gradient and Hessian evaluations.
    status : jax.Array
        A :class:`Status` value (int32); see :attr:`message`.
    success : jax.Array
        ``status == Status.SUCCESS``.
    inv_hessian : jax.Array or None
        BFGS only: the optimizer's inverse-Hessian approximation, over
        ``ravel_pytree`` order. It is a record of the path the optimizer took
        (it equals the starting matrix, by default the identity, in every
        direction the iterates never explored), **not** the inverse Hessian at
        ``x`` and **not** a covariance matrix. Use ``hessjax.hessian`` for that.
        ``None`` for ``method="newton"``.
    """

    x: Any
    fun: jax.Array
    grad: Any
    nit: jax.Array
    nfev: jax.Array
    ngev: jax.Array
    nhev: jax.Array
    status: jax.Array
    success: jax.Array
    inv_hessian: jax.Array | None = None

    @property
    def message(self) -> str | list[str]:
        """What happened and what to try; a list for batched results.

        Raises
        ------
        TypeError
            If read inside ``jit``/``vmap`` (the status is traced, not
            concrete).
        """
        status = self.status
        if isinstance(status, jax.core.Tracer):
            raise TypeError("`message` needs a concrete status; read it outside jit/vmap.")
        codes = np.asarray(status)
        if codes.ndim == 0:
            return Status(int(codes)).message
        return [Status(int(code)).message for code in codes.ravel()]
