"""Follow BFGS's inverse-Hessian approximation along its path.

``bfgs_trace`` runs hessjax's BFGS (the same solver as ``minimize``, one
jitted step at a time) and records, at every iterate, the approximation
against the exact inverse Hessian there: when, and whether, the matrix
converges. Typically it is accurate only along the directions the iterates
explored and stays at its starting value elsewhere, which is why SciPy's
``hess_inv`` is not a covariance.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np

from ._precision import default_gtol, float64_entry_point
from .covariance import gated_covariance
from .objective import bind
from .optimize.base import Functions
from .optimize.bfgs import BFGS, BFGSOptions

__all__ = ["BFGSTrace", "bfgs_trace"]


@dataclasses.dataclass(frozen=True)
class BFGSTrace:
    """Per-iteration record of a BFGS run (iteration 0 is the start).

    Attributes
    ----------
    x : np.ndarray
        ``(k + 1, n)`` iterates.
    inv_hessians : np.ndarray
        ``(k + 1, n, n)`` BFGS's approximation at each iterate.
    exact_inverses : np.ndarray
        ``(k + 1, n, n)`` exact inverse Hessian at each iterate (NaN where the
        Hessian is not positive definite).
    errors : np.ndarray
        Relative Frobenius error of the approximation at each iterate.
    se_ratio_range : np.ndarray
        ``(k + 1, 2)`` min and max over parameters of sqrt(diag(approx)) /
        sqrt(diag(exact)).
    grad_norm : np.ndarray
        Largest gradient component at each iterate.
    """

    x: np.ndarray
    inv_hessians: np.ndarray
    exact_inverses: np.ndarray
    errors: np.ndarray
    se_ratio_range: np.ndarray
    grad_norm: np.ndarray

    def __str__(self) -> str:
        lines = ["iter  grad_norm   rel. error of BFGS inverse   SE ratio min..max"]
        for k in range(self.errors.size):
            lo, hi = self.se_ratio_range[k]
            lines.append(f"{k:4d}  {self.grad_norm[k]:9.3g}   {self.errors[k]:26.3g}   {lo:.4g}..{hi:.4g}")
        return "\n".join(lines)


@float64_entry_point
def bfgs_trace(
    f: Callable, x0: Any, *args: Any, max_steps: int = 200, init_hessian: str = "identity"
) -> BFGSTrace:
    """Run BFGS from ``x0`` and record its inverse-Hessian approximation per iteration.

    Raises
    ------
    ValueError
        If ``init_hessian`` is not ``"identity"``, ``"scaled"`` or
        ``"exact"``; ``x0`` has no elements; ``f`` does not return a scalar;
        a DataFrame or Series in ``args`` has non-numeric columns; or
        ``f(x0, *args)`` fails while tracing (a missing key, mismatched
        shapes or signature).
    TypeError
        If ``f`` is not callable; a leaf of ``x0`` is not a real number or
        array; ``f`` does not return one floating array; or tracing ``f``
        fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.

    Warns
    -----
    PrecisionWarning
        When the data had less than float64 precision.
    StaleDataWarning
        When ``f`` reads data from its closure or globals and they changed
        since it was compiled.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> tr = hj.bfgs_trace(lambda p: jnp.sum((p - 1.0) ** 2), np.zeros(2))
    >>> np.round(tr.inv_hessians[-1], 2)   # the identity survives along (1, -1)
    array([[ 0.75, -0.25],
           [-0.25,  0.75]])
    >>> float(np.round(tr.errors[-1], 3))
    0.707
    """
    if init_hessian not in ("identity", "scaled", "exact"):
        raise ValueError(f"`init_hessian` must be 'identity', 'scaled' or 'exact', got {init_hessian!r}.")
    obj, x, args, _ = bind(f, x0, args, pname="x0")
    solver = BFGS(init_hessian)
    fns = Functions(obj.value, obj.value_and_grad, obj.value_grad_hessian)
    options = BFGSOptions(gtol=np.float64(default_gtol))

    def build():
        init = jax.jit(lambda x, args, o: solver.init(fns, x, args, o))
        step = jax.jit(lambda s, args, o: solver.step(fns, s, args, o))
        done = jax.jit(lambda s, o: solver.terminate(s, o)[0])
        return init, step, done

    init, step, done = obj.program(("bfgs_trace", init_hessian), build)
    state = init(x, args, options)
    states = [state]
    for _ in range(int(max_steps)):
        if bool(done(state, options)):
            break
        state = step(state, args, options)
        states.append(state)
    xs = np.stack([np.asarray(s.x) for s in states])
    approx = np.stack([np.asarray(s.inv_hessian) for s in states])
    exact = []
    for point in xs:
        # NaN where the exact Hessian is not positive definite (the one gate).
        exact.append(np.asarray(gated_covariance(obj.hessian_jit(point, args))[0]))
    exact = np.stack(exact)
    errors = np.linalg.norm(approx - exact, axis=(1, 2)) / np.linalg.norm(exact, axis=(1, 2))
    with np.errstate(invalid="ignore"):
        ratio = np.sqrt(np.diagonal(approx, axis1=1, axis2=2) / np.diagonal(exact, axis1=1, axis2=2))
    grad = np.array([np.max(np.abs(np.asarray(s.g))) for s in states])
    finite = np.isfinite(ratio)
    lo = np.where(finite.any(axis=1), np.min(np.where(finite, ratio, np.inf), axis=1), np.nan)
    hi = np.where(finite.any(axis=1), np.max(np.where(finite, ratio, -np.inf), axis=1), np.nan)
    return BFGSTrace(
        x=xs,
        inv_hessians=approx,
        exact_inverses=exact,
        errors=errors,
        se_ratio_range=np.stack([lo, hi], axis=1),
        grad_norm=grad,
    )
