"""Finite-difference Hessians with a step rule and an error estimate.

The approximations people use instead of the exact Hessian, implemented
carefully so that they can be measured against it:

- ``"forward"``: [f(x+h_i e_i+h_j e_j) - f(x+h_i e_i) - f(x+h_j e_j) + f(x)] / (h_i h_j);
  truncation O(h), rounding O(eps/h^2): step eps^(1/3) max(|x_i|, 1).
- ``"central"``: [f(++) - f(+-) - f(-+) + f(--)] / (4 h_i h_j) off the diagonal,
  [f(x+h e_i) - 2 f(x) + f(x-h e_i)] / h^2 on it; truncation O(h^2): step
  eps^(1/4) max(|x_i|, 1).
- ``"richardson"``: central differences at h, h/2, h/4 combined by Richardson
  extrapolation (two levels of the tableau); truncation O(h^6): step
  eps^(1/6) max(|x_i|, 1) (Richardson 1911; the numdifftools approach).

Each result carries an elementwise ``error_estimate``: the truncation error
from comparing step sizes (the tableau for Richardson) plus the rounding
error of the stencil, about eps |f| / (h_i h_j). A fixed absolute step
(``step=1e-5``, as in a hand-written FD Hessian) ignores the scale of each
parameter, which is how FD Hessians produce negative variances.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import EPS, float64_entry_point
from .objective import Objective, bind

__all__ = ["FDHessian", "StepSweep", "fd_hessian", "step_sweep", "default_step", "SCHEMES"]

SCHEMES = ("forward", "central", "richardson")
_RELATIVE_STEP = {"forward": EPS ** (1 / 3), "central": EPS ** (1 / 4), "richardson": EPS ** (1 / 6)}
# Stencil points evaluated per vectorized batch (bounds memory: one batch holds
# this many copies of one function evaluation's intermediates).
_BATCH = 64


@dataclasses.dataclass(frozen=True)
class FDHessian:
    """A finite-difference Hessian with its step and error estimate.

    Attributes
    ----------
    estimate : np.ndarray
        ``(n, n)`` symmetric approximation over ``ravel_pytree`` order.
    step : np.ndarray
        ``(n,)`` step used for each parameter.
    scheme : str
        ``"forward"``, ``"central"`` or ``"richardson"``.
    error_estimate : np.ndarray
        ``(n, n)`` estimated absolute error of each element.
    nfev : int
        Function evaluations used (error estimation included).
    """

    estimate: np.ndarray
    step: np.ndarray
    scheme: str
    error_estimate: np.ndarray
    nfev: int


@dataclasses.dataclass(frozen=True)
class StepSweep:
    """Error of an FD Hessian against the exact one across step sizes."""

    steps: np.ndarray
    errors: np.ndarray  # max |H_fd - H| / max |H| per step
    best_step: float
    scheme: str


def default_step(x: np.ndarray, scheme: str = "central") -> np.ndarray:
    """The per-parameter step rule: c max(|x_i|, 1), c = eps^(1/3), eps^(1/4), eps^(1/6).

    Examples
    --------
    >>> import numpy as np
    >>> from hessjax import default_step
    >>> default_step(np.array([0.0, 1e4]), "central")
    array([1.22070312e-04, 1.22070312e+00])
    """
    _check_scheme(scheme)
    return fd_step(np.asarray(x, dtype=np.float64), scheme)


def fd_step(x, scheme: str, xp=np):
    """The step rule on an array of module ``xp`` (NumPy, or ``jax.numpy`` when traced)."""
    return _RELATIVE_STEP[scheme] * xp.maximum(xp.abs(x), 1.0)


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme={scheme!r}; use one of {', '.join(map(repr, SCHEMES))}.")


def second_differences(value: Callable, x, h, args, scheme: str):
    """The raw FD Hessian at steps ``h`` (pure; one compiled program)."""
    n = x.shape[0]
    f0 = value(x, args)
    eye = jnp.eye(n, dtype=x.dtype)
    rows, cols = np.triu_indices(n, k=1)

    def f(point):
        return value(point, args)

    def diagonal(i):
        e = eye[i] * h[i]
        if scheme == "forward":
            out = (f(x + 2 * e) - 2 * f(x + e) + f0) / h[i] ** 2
        else:
            out = (f(x + e) - 2 * f0 + f(x - e)) / h[i] ** 2
        return out

    def off_diagonal(ij):
        i, j = ij
        ei, ej = eye[i] * h[i], eye[j] * h[j]
        if scheme == "forward":
            return (f(x + ei + ej) - f(x + ei) - f(x + ej) + f0) / (h[i] * h[j])
        return (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
            4 * h[i] * h[j]
        )

    diag = jax.lax.map(diagonal, jnp.arange(n), batch_size=_BATCH)
    hess = jnp.diag(diag)
    if rows.size:
        off = jax.lax.map(off_diagonal, (jnp.asarray(rows), jnp.asarray(cols)), batch_size=_BATCH)
        hess = hess.at[rows, cols].set(off).at[cols, rows].set(off)
    return hess, f0


def _nfev(n: int, scheme: str) -> int:
    per = (2 * n + 1) + (4 if scheme != "forward" else 3) * n * (n - 1) // 2
    return per * (3 if scheme == "richardson" else 2)


def _fd_with_error(value: Callable, x, h, args, scheme: str):
    """Estimate and elementwise error estimate (pure)."""
    if scheme == "richardson":
        c1, f0 = second_differences(value, x, h, args, "central")
        c2, _ = second_differences(value, x, h / 2, args, "central")
        c4, _ = second_differences(value, x, h / 4, args, "central")
        # Central differences have an even error expansion in h: one level of
        # the tableau removes h^2, the next h^4 (weights 4 and 16).
        r1 = (4 * c2 - c1) / 3
        r2 = (4 * c4 - c2) / 3
        estimate = (16 * r2 - r1) / 15
        truncation = jnp.abs(r2 - r1) / 15
        hmin = h / 4
    else:
        estimate, f0 = second_differences(value, x, h, args, scheme)
        half, _ = second_differences(value, x, h / 2, args, scheme)
        # err(h) ~ c h^k: err(h) = (H(h) - H(h/2)) * 2^k / (2^k - 1), k = 1 or 2.
        factor = 2.0 if scheme == "forward" else 4.0 / 3.0
        truncation = factor * jnp.abs(estimate - half)
        hmin = h
    # Rounding: about four function values, each wrong by ~eps |f|, divided by
    # the step product (the finest step contributes through the extrapolation).
    rounding = 4 * EPS * jnp.maximum(jnp.abs(f0), EPS) / jnp.outer(hmin, hmin)
    estimate = 0.5 * (estimate + estimate.T)
    return estimate, truncation + rounding


def _resolve_step(step, x: np.ndarray, scheme: str) -> np.ndarray:
    if step is None:
        return default_step(x, scheme)
    leaves = jax.tree_util.tree_leaves(step)
    h = np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in leaves])
    if h.size == 1:
        h = np.full(x.shape, float(h[0]))
    if h.shape != x.shape or not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(
            f"`step` must be a positive scalar or one positive step per parameter ({x.size}); "
            f"got {np.shape(step)}."
        )
    return h


def _fd_program(obj: Objective, scheme: str) -> Callable:
    return obj.solver(
        ("fd_hessian", scheme), lambda: jax.jit(lambda x, h, args: _fd_with_error(obj.value, x, h, args, scheme))
    )


@float64_entry_point
def fd_hessian(
    f: Callable, x: Any, *args: Any, scheme: str = "central", step: Any = None
) -> FDHessian:
    """Finite-difference Hessian of ``f`` at ``x`` with an error estimate.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar (written in ``jax.numpy``).
    x : pytree of floating arrays
        Point of evaluation.
    *args
        Data passed to ``f``.
    scheme : {"central", "forward", "richardson"}
        Difference scheme (see the module docstring).
    step : float or array, optional
        Absolute step: a scalar for every parameter (as a hand-written FD
        Hessian does), or one per parameter. Default: the scaled rule
        :func:`default_step`.

    Returns
    -------
    FDHessian
        ``estimate``, ``step``, ``scheme``, ``error_estimate``, ``nfev``.

    Examples
    --------
    >>> import numpy as np, hessjax as hj
    >>> def f(p):
    ...     x, y, z = p
    ...     return 2 * y * x**4 + 2 * y**3 + 2 * x * z**3
    >>> fd = hj.fd_hessian(f, np.array([1.0, 2.0, 3.0]), scheme="richardson")
    >>> np.round(fd.estimate, 6) + 0.0  # + 0.0 turns a rounding-level -0. into 0.
    array([[48.,  8., 54.],
           [ 8., 24.,  0.],
           [54.,  0., 36.]])
    """
    _check_scheme(scheme)
    obj, x_flat, args, _ = bind(f, x, args, pname="x")
    x_np = np.asarray(x_flat, dtype=np.float64)
    h = _resolve_step(step, x_np, scheme)
    estimate, error = _fd_program(obj, scheme)(x_flat, h, args)
    return FDHessian(
        estimate=np.asarray(estimate),
        step=h,
        scheme=scheme,
        error_estimate=np.asarray(error),
        nfev=_nfev(x_np.size, scheme),
    )


@float64_entry_point
def step_sweep(
    f: Callable, x: Any, *args: Any, steps: Any = None, scheme: str = "central"
) -> StepSweep:
    """Error of an FD Hessian with a fixed absolute step, across steps.

    The V-shaped curve: truncation error falls with the step (as h or h^2),
    rounding error grows as eps |f| / h^2; a hand-written FD Hessian is only
    accurate near the bottom of the V, and that bottom moves with the scale
    of each parameter.

    Returns
    -------
    StepSweep
        ``steps``, ``errors`` (max |H_fd - H| / max |H|), ``best_step``.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> sweep = hj.step_sweep(lambda p: jnp.sum(jnp.exp(p)), np.array([0.5, -0.5]))
    >>> 1e-6 < sweep.best_step < 1e-2   # near eps^(1/4) ~ 1.2e-4
    True
    """
    _check_scheme(scheme)
    obj, x_flat, args, _ = bind(f, x, args, pname="x")
    steps = np.logspace(-12, -1, 45) if steps is None else np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1 or steps.size == 0 or np.any(steps <= 0):
        raise ValueError("`steps` must be a 1-D array of positive step sizes.")
    exact = np.asarray(obj.hessian_jit(x_flat, args))
    program = obj.solver(
        ("step_sweep", scheme),
        lambda: jax.jit(
            lambda x, hs, args: jax.lax.map(
                lambda h: second_differences(obj.value, x, jnp.full(x.shape, h), args, scheme)[0], hs
            )
        ),
    )
    estimates = np.asarray(program(x_flat, steps, args))
    scale = max(np.max(np.abs(exact)), np.finfo(float).tiny)
    errors = np.array([np.max(np.abs(e - exact)) / scale for e in estimates])
    errors = np.where(np.isfinite(errors), errors, np.inf)
    return StepSweep(steps=steps, errors=errors, best_step=float(steps[np.argmin(errors)]), scheme=scheme)
