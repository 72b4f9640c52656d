"""``minimize``: the eager shell around the pure solvers.

Validates inputs before anything compiles, promotes to float64, builds one
jitted solve per (objective, method, static options) and reuses it, then
turns the status into a ``ConvergenceWarning`` when the call is not traced.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import jax
import numpy as np

from .._precision import default_gtol, float64_entry_point, is_traced
from ..objective import Objective, bind
from ..warnings import ConvergenceWarning, warn
from .base import Functions, MinimizeResult, Status, iterate
from .bfgs import BFGS, BFGSOptions
from .newton import NewtonOptions, TrustRegionNewton

__all__ = ["minimize", "METHODS"]

METHODS = ("bfgs", "newton")
INIT_HESSIANS = ("identity", "scaled", "exact")

_OPTIONS = {
    "bfgs": {"gtol", "max_steps", "init_hessian"},
    "newton": {"gtol", "max_steps", "initial_radius"},
}
_DEFAULT_MAX_STEPS = {"bfgs": 1000, "newton": 1000}


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    ) and np.isfinite(value)


def _is_integer(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _validate_options(method: str, options: dict) -> dict:
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(
            f"unknown method={method!r}; use one of {', '.join(repr(m) for m in METHODS)}."
        )
    method = method.lower()
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        raise TypeError(
            f"unknown option(s) {sorted(unknown)} for method={method!r}; valid options are "
            f"{sorted(_OPTIONS[method])}."
        )
    out = dict(options)
    gtol = out.get("gtol")
    if gtol is not None and not (_is_real(gtol) and gtol > 0):
        raise ValueError(f"`gtol` must be a positive number, got {gtol!r}.")
    max_steps = out.get("max_steps")
    if max_steps is not None and not (_is_integer(max_steps) and max_steps >= 0):
        raise ValueError(f"`max_steps` must be a non-negative int, got {max_steps!r}.")
    init_hessian = out.get("init_hessian", "identity")
    if init_hessian not in INIT_HESSIANS:
        raise ValueError(
            f"`init_hessian` must be one of {', '.join(map(repr, INIT_HESSIANS))}, "
            f"got {init_hessian!r}."
        )
    radius = out.get("initial_radius")
    if radius is not None and not (_is_real(radius) and radius > 0):
        raise ValueError(f"`initial_radius` must be a positive number, got {radius!r}.")
    return {"method": method, **out}


def pure_solve(obj: Objective, method: str, max_steps: int, init_hessian: str) -> Callable:
    """The un-jitted solve ``(x0, args, option_data) -> MinimizeResult`` for composition."""
    solver = BFGS(init_hessian) if method == "bfgs" else TrustRegionNewton()
    return solver_program(obj, solver, max_steps)


def solver_program(obj: Objective, solver: Any, max_steps: int) -> Callable:
    """``(x0, args, options) -> MinimizeResult``: ``solver`` driven by :func:`iterate` on ``obj``."""
    fns = Functions(obj.value, obj.value_and_grad, obj.value_grad_hessian)
    unravel = obj.spec.unravel

    def solve(x0, args, options):
        state, nit, status = iterate(solver, fns, x0, args, options, max_steps)
        return MinimizeResult(
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

    return solve


def solver_settings(method: str, options: dict) -> tuple[tuple, Any]:
    """Validate options; return ``(static, data)``: static ``(method, max_steps,
    init_hessian)`` selects the compiled program, ``data`` holds the tolerances."""
    opts = _validate_options(method, options)
    method = opts["method"]
    max_steps = opts.get("max_steps")
    max_steps = _DEFAULT_MAX_STEPS[method] if max_steps is None else int(max_steps)
    init_hessian = opts.get("init_hessian", "identity")
    gtol = opts.get("gtol")
    gtol = np.float64(default_gtol if gtol is None else gtol)
    if method == "bfgs":
        data = BFGSOptions(gtol=gtol)
    else:
        data = NewtonOptions(gtol=gtol, initial_radius=np.float64(opts.get("initial_radius") or 0.0))
    return (method, max_steps, init_hessian), data


def solve_flat(obj: Objective, x0: jax.Array, args: tuple, method: str = "bfgs", **options):
    """Run a method on a bound objective and return its :class:`MinimizeResult`.

    The compiled solve is cached on the objective per method and static
    options; tolerances are passed as data.
    """
    static, data = solver_settings(method, options)
    solve = obj.solver(("minimize", *static), lambda: jax.jit(pure_solve(obj, *static)))
    return solve(x0, args, data)


@float64_entry_point
def minimize(f: Callable, x0: Any, *args: Any, method: str = "bfgs", **options: Any) -> MinimizeResult:
    """Minimize a scalar function with a JAX-native method.

    Pure and pytree-aware: usable under ``jax.jit`` and ``jax.vmap`` (vmap
    over ``x0`` or the data to solve thousands of problems in one program).

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar, written in ``jax.numpy``. It may
        return ``inf``/``nan`` outside its domain; such trial points are
        rejected (backtracking), but ``f(x0, *args)`` must be finite.
    x0 : pytree of floating arrays
        Starting point (promoted to float64).
    *args
        Data passed to ``f``. One compilation serves every dataset of the
        same shapes.
    method : {"bfgs", "newton"}
        ``"bfgs"``: quasi-Newton with a strong-Wolfe line search (N&W
        Alg. 6.1, 3.5, 3.6). ``"newton"``: trust-region Newton on the exact
        Hessian (N&W Alg. 4.1, exact subproblem by eigendecomposition), which
        follows negative curvature out of saddle points and succeeds only at
        points with a positive semi-definite Hessian.
    **options
        ``gtol`` (relative-gradient tolerance, default ``eps**(2/3)``, about
        3.7e-11; see :func:`hessjax.optimize.base.relative_gradient`),
        ``max_steps`` (default 1000); BFGS: ``init_hessian``:
        ``"identity"`` (default; SciPy's convention, so ``inv_hessian``
        reproduces SciPy's ``hess_inv``), ``"scaled"`` (N&W eq. 6.20, far
        fewer evaluations when curvature is far from 1) or ``"exact"``
        (inverse exact Hessian at ``x0``); Newton: ``initial_radius``.

    Returns
    -------
    MinimizeResult
        ``x``, ``fun``, ``grad``, ``nit``, ``nfev``, ``ngev``, ``nhev``,
        ``status``, ``success``, ``message`` and, for BFGS, ``inv_hessian``
        (the optimizer's path-dependent approximation, not a covariance).
        When not traced, a ``ConvergenceWarning`` is issued if
        ``success`` is false.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import hessjax as hj
    >>> def rosen(x):
    ...     return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    >>> res = hj.minimize(rosen, np.array([-1.2, 1.0]), method="newton")
    >>> bool(res.success), np.round(np.asarray(res.x), 8)
    (True, array([1., 1.]))
    """
    opts = _validate_options(method, options)
    obj, x, args, _ = bind(f, x0, args, fname="f", pname="x0")
    result = solve_flat(obj, x, args, **opts)
    status = result.status
    if not is_traced(status) and int(status) != Status.SUCCESS:
        warn(
            f"minimize(method={opts['method']!r}) did not converge: {Status(int(status)).name}. "
            f"{Status(int(status)).message}",
            ConvergenceWarning,
        )
    return result
