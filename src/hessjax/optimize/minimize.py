"""The optimizer shell: ``minimize`` and ``minimize_newton_cg`` around the pure solvers.

Validates inputs before anything compiles (:mod:`hessjax._validate`),
promotes to float64, builds one jitted solve per (objective, method, static
options) and reuses it, then turns the status into a ``ConvergenceWarning``
when the call is not traced. The solver modules (:mod:`.bfgs`, :mod:`.newton`,
:mod:`.newton_cg`, :mod:`.levenberg_marquardt`) hold only algorithms and never
import this module.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from .._precision import default_gtol, float64_entry_point, is_traced
from .._validate import check_count, check_max_steps, check_tolerance
from ..objective import Objective, bind
from ..warnings import ConvergenceWarning, warn
from .base import MinimizeResult, Status, solver_program
from .bfgs import BFGS, DEFAULT_INIT_HESSIAN, BFGSOptions
from .newton import NewtonOptions, TrustRegionNewton
from .newton_cg import CURVATURE_STEPS, NewtonCGOptions, default_max_cg_steps
from .newton_cg import pure_solve as newton_cg_program

__all__ = ["minimize", "minimize_newton_cg", "METHODS"]

METHODS = ("bfgs", "newton")
INIT_HESSIANS = ("identity", "scaled", "exact")

_OPTIONS = {
    "bfgs": {"gtol", "max_steps", "init_hessian"},
    "newton": {"gtol", "max_steps", "initial_radius"},
}
_DEFAULT_MAX_STEPS = {"bfgs": 1000, "newton": 1000}



def _validate_options(method: str, options: dict) -> dict:
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(
            f"unknown method={method!r}; use one of {', '.join(repr(m) for m in METHODS)}."
        )
    method = method.lower()
    unknown = set(options) - _OPTIONS[method]
    if unknown:
        arrays = sorted(k for k in unknown if hasattr(options[k], "shape") or isinstance(options[k], (list, tuple)))
        hint = (
            f" {', '.join(arrays)} look{'s' if len(arrays) == 1 else ''} like data: data are passed "
            "by position after the parameters, in the order the function takes them, e.g. "
            f"fit(loglik, init, {', '.join(arrays)}), not as keywords."
            if arrays else ""
        )
        raise TypeError(
            f"unknown option(s) {sorted(unknown)} for method={method!r}; valid options are "
            f"{sorted(_OPTIONS[method])}.{hint}"
        )
    out = dict(options)
    check_tolerance(out.get("gtol"), "gtol", default_gtol)
    check_max_steps(out.get("max_steps"), _DEFAULT_MAX_STEPS[method])
    init_hessian = out.get("init_hessian", DEFAULT_INIT_HESSIAN)
    if init_hessian not in INIT_HESSIANS:
        raise ValueError(
            f"`init_hessian` must be one of {', '.join(map(repr, INIT_HESSIANS))}, "
            f"got {init_hessian!r}."
        )
    check_tolerance(out.get("initial_radius"), "initial_radius", 0.0)
    return {"method": method, **out}


def pure_solve(
    obj: Objective, method: str, init_hessian: str, flat: bool = False, derivatives: bool = False,
) -> Callable:
    """The un-jitted solve ``(x0, args, option_data) -> MinimizeResult`` for composition
    (``flat``, ``derivatives``: see :func:`solver_program`)."""
    solver = BFGS(init_hessian) if method == "bfgs" else TrustRegionNewton()
    return solver_program(obj, solver, flat=flat, derivatives=derivatives)


def solver_settings(method: str, options: dict) -> tuple[tuple, Any]:
    """Validate options; return ``(static, data)``: static ``(method, init_hessian)``
    selects the compiled program, ``data`` holds the tolerances and ``max_steps``
    (so ``max_steps=0``, as ``hessjax check`` uses, shares the fit's program)."""
    opts = _validate_options(method, options)
    method = opts["method"]
    max_steps = np.int32(check_max_steps(opts.get("max_steps"), _DEFAULT_MAX_STEPS[method]))
    init_hessian = opts.get("init_hessian", DEFAULT_INIT_HESSIAN)
    gtol = check_tolerance(opts.get("gtol"), "gtol", default_gtol)
    if method == "bfgs":
        data = BFGSOptions(gtol=gtol, max_steps=max_steps)
    else:
        radius = check_tolerance(opts.get("initial_radius"), "initial_radius", 0.0)
        data = NewtonOptions(gtol=gtol, initial_radius=radius, max_steps=max_steps)
    return (method, init_hessian), data


def solve_flat(obj: Objective, x0: jax.Array, args: tuple, method: str = "bfgs", **options):
    """Run a method on a bound objective and return its :class:`MinimizeResult`.

    The compiled solve is cached on the objective per method and static
    options; tolerances are passed as data.
    """
    static, data = solver_settings(method, options)
    solve = obj.program(("minimize", *static), lambda: jax.jit(pure_solve(obj, *static)))
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
        ``max_steps`` (default 1000, at most ``2**31 - 1``; 0 evaluates at
        ``x0`` and stops); BFGS: ``init_hessian``:
        ``"scaled"`` (default; the identity rescaled by y's / y'y after the
        first step, N&W eq. 6.20: far fewer evaluations when curvature is far
        from 1), ``"identity"`` (SciPy's convention: the same path as SciPy's
        BFGS, so ``inv_hessian`` reproduces SciPy's ``hess_inv``) or
        ``"exact"`` (inverse exact Hessian at ``x0``); Newton: ``initial_radius``.

    Returns
    -------
    MinimizeResult
        ``x``, ``fun``, ``grad``, ``nit``, ``nfev``, ``ngev``, ``nhev``,
        ``status``, ``success``, ``message`` and, for BFGS, ``inv_hessian``
        (the optimizer's path-dependent approximation, not a covariance).
        When not traced, a ``ConvergenceWarning`` is issued if
        ``success`` is false.

    Raises
    ------
    ValueError
        If ``method`` is not ``"bfgs"`` or ``"newton"``; ``gtol`` or
        ``initial_radius`` is not a finite number > 0; ``max_steps`` is not
        an integer in ``[0, 2**31 - 1]``; ``init_hessian`` is not
        ``"identity"``, ``"scaled"`` or ``"exact"``; ``x0`` has no elements;
        ``f`` does not return a scalar; a DataFrame or Series in ``args`` has
        non-numeric columns; or calling ``f(x0, *args)`` fails while tracing
        (a missing key, mismatched shapes or signature).
    TypeError
        If an option is not valid for ``method`` (``init_hessian`` is BFGS's,
        ``initial_radius`` Newton's; data passed as keywords are named as
        such); ``f`` is not callable; a leaf of ``x0`` is not a real number
        or array; ``f`` does not return one floating array; or tracing ``f``
        fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.

    Warns
    -----
    ConvergenceWarning
        When not traced and ``success`` is false.
    PrecisionWarning
        When the data had less than float64 precision.
    StaleDataWarning
        When ``f`` reads data from its closure or globals and they changed
        since it was compiled.

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


# -- Newton-CG ---------------------------------------------------------------------------


def newton_cg_settings(n: int, gtol, max_steps, max_cg_steps, initial_radius, default_steps: int):
    """Validate the options; return ``(NewtonCGOptions, max_steps, max_cg_steps)``:
    tolerances are data (no recompile when they change), step caps are static."""
    gtol = check_tolerance(gtol, "gtol", default_gtol)
    max_steps = check_max_steps(max_steps, default_steps)
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
        Trust-region steps (default 1000; at most ``2**31 - 1``).
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

    Raises
    ------
    ValueError
        If ``gtol`` or ``initial_radius`` is not a finite number > 0;
        ``max_steps`` is not an integer in ``[0, 2**31 - 1]``;
        ``max_cg_steps`` is not an integer in ``[1, 2**31 - 1]``; ``x0`` has
        no elements; ``f`` does not return a scalar; a DataFrame or Series
        in ``args`` has non-numeric columns; or calling ``f(x0, *args)``
        fails while tracing (a missing key, mismatched shapes or signature).
    TypeError
        If ``f`` is not callable; a leaf of ``x0`` is not a real number or
        array; ``f`` does not return one floating array; or tracing ``f``
        fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.

    Warns
    -----
    ConvergenceWarning
        When not traced and ``success`` is false.
    PrecisionWarning
        When the data had less than float64 precision.
    StaleDataWarning
        When ``f`` reads data from its closure or globals and they changed
        since it was compiled.

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
    solve = obj.program(key, lambda: jax.jit(newton_cg_program(obj, max_steps, max_cg, min(n, CURVATURE_STEPS))))
    result = solve(x, args, options)
    if not is_traced(result.status) and int(result.status) != Status.SUCCESS:
        status = Status(int(result.status))
        warn(f"minimize_newton_cg did not converge: {status.name}. {status.message}", ConvergenceWarning)
    return result
