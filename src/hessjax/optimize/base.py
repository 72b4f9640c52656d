"""Solver protocol, the one driver loop, ``Status`` and ``MinimizeResult``.

Every method implements three pure functions over its own state (a
NamedTuple): ``init``, ``step`` and ``terminate``. :func:`iterate` owns the
single ``lax.while_loop``, the step counter, the ``max_steps`` limit and the
non-finite check, so new methods never rewrite the loop and every method is
``jit``- and ``vmap``-compatible by construction.
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
    "relative_gradient",
]


class Status(enum.IntEnum):
    """Why a minimization stopped. ``Status(k).message`` says what to try."""

    SUCCESS = 0
    MAX_STEPS = 1
    LINE_SEARCH_FAILED = 2
    NONFINITE = 3
    STALLED = 4

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.SUCCESS: (
        "Converged: the relative gradient max_i |g_i| max(|x_i|, 1) / max(|f|, 1) is "
        "below gtol, or the next (quasi-)Newton step is below the floating-point "
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
        "The objective or its gradient is not finite at the current point (for example at x0, "
        "outside the function's domain). Start from a point where f(x0, *args) is finite, or "
        "reparameterize (e.g. log sigma instead of sigma)."
    ),
    Status.STALLED: (
        "No further progress is possible in float64: the trust region shrank to the "
        "resolution of x, or steps at the rounding level of f stopped reducing the gradient. "
        "The point may be a minimum to working precision with gtol set tighter than f and "
        "its gradient resolve (check grad), or the objective is non-smooth or noisy there."
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
    ``nhev``; ``terminate`` returns ``(done, status)`` as scalar arrays.
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


def gradient_converged(x: jax.Array, f: jax.Array, g: jax.Array, step: jax.Array, gtol) -> jax.Array:
    """Every coordinate passes the relative-gradient test or is exact to rounding.

    Far from the origin (|x_i| >> its standard error) the gradient cannot be
    driven below H_ii ulp(x_i), so the relative-gradient test may be out of
    reach although x_i is exact to rounding; a (quasi-)Newton step within
    16 ulps of x_i (relative accuracy ~4e-15) says so.
    """
    scale_f = jnp.maximum(jnp.abs(f), 1.0)
    small_gradient = jnp.abs(g) * jnp.maximum(jnp.abs(x), 1.0) <= gtol * scale_f
    resolved = jnp.abs(step) <= 16.0 * jnp.finfo(x.dtype).eps * jnp.abs(x)
    return jnp.all(small_gradient | (resolved & jnp.isfinite(step)))


def accept_trial(accept: jax.Array, evaluate: Callable, current: tuple, finite: Callable):
    """Trust-region acceptance shared by the Newton and Levenberg–Marquardt steps.

    ``evaluate()`` (derivatives at the trial point) runs only when ``accept``
    (``lax.cond``; under ``vmap`` both branches run and are selected). A trial
    whose derivatives are not finite (``finite(new)`` false: the edge of the
    function's domain) is rejected like a poor step. Returns
    ``(state_tuple, success)``.
    """
    new = jax.lax.cond(accept, lambda _: evaluate(), lambda _: current, None)
    success = accept & finite(new)
    chosen = jax.tree_util.tree_map(lambda a, b: jnp.where(success, a, b), new, current)
    return chosen, success


def _finite_point(state: Any) -> jax.Array:
    return jnp.isfinite(state.f) & jnp.all(jnp.isfinite(state.g))


def iterate(
    solver: Solver,
    fns: Functions,
    x0: jax.Array,
    args: tuple,
    options: Any,
    max_steps: int,
) -> tuple[Any, jax.Array, jax.Array]:
    """Run ``solver`` from ``x0`` until it terminates or ``max_steps`` is reached.

    Returns ``(state, nit, status)``. Pure and branch-free: traced once,
    usable under ``jit`` and ``vmap`` (a batch runs until its last member stops).
    """
    state = solver.init(fns, x0, args, options)

    def check(state):
        done, status = solver.terminate(state, options)
        finite = _finite_point(state)
        status = jnp.where(finite, status, Status.NONFINITE)
        return done | ~finite, status.astype(jnp.int32)

    done, status = check(state)

    def cond(carry):
        nit, _, done, _ = carry
        return (~done) & (nit < max_steps)

    def body(carry):
        nit, state, _, _ = carry
        state = solver.step(fns, state, args, options)
        done, status = check(state)
        return nit + 1, state, done, status

    nit, state, done, status = jax.lax.while_loop(
        cond, body, (jnp.asarray(0, jnp.int32), state, done, status)
    )
    status = jnp.where(done, status, Status.MAX_STEPS).astype(jnp.int32)
    return state, nit, status


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
        """What happened and what to try; a list for batched results."""
        status = self.status
        if isinstance(status, jax.core.Tracer):
            raise TypeError("`message` needs a concrete status; read it outside jit/vmap.")
        codes = np.asarray(status)
        if codes.ndim == 0:
            return Status(int(codes)).message
        return [Status(int(code)).message for code in codes.ravel()]
