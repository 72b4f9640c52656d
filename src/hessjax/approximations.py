"""Finite-difference Hessians with a step rule and an error estimate.

The approximations people use instead of the exact Hessian, implemented
carefully so that they can be measured against it:

- ``"forward"``: [f(x+h_i e_i+h_j e_j) - f(x+h_i e_i) - f(x+h_j e_j) + f(x)] / (h_i h_j);
  truncation O(h), rounding O(eps/h^2): c = eps^(1/3).
- ``"central"``: [f(++) - f(+-) - f(-+) + f(--)] / (4 h_i h_j) off the diagonal,
  [f(x+h e_i) - 2 f(x) + f(x-h e_i)] / h^2 on it; truncation O(h^2): c = eps^(1/4).
- ``"richardson"``: central differences at h, h/2, h/4 combined by Richardson
  extrapolation (two levels of the tableau); truncation O(h^6): c = eps^(1/6)
  (Richardson 1911; the numdifftools approach).

The step rule. The step of parameter i is h_i = c s_i, where c balances
truncation against rounding for a parameter of unit scale and s_i is the
parameter's scale, Dennis & Schnabel's "typical x" (*Numerical Methods for
Unconstrained Optimization and Nonlinear Equations*, 1983, Sec. 5.6 and
Alg. A5.6.2: h_i = c max(|x_i|, typx_i)). No single scale is right for every
parameter: s_i = max(|x_i|, 1) (typx = 1) is right for a coefficient near zero
but is a step of 60% of a rate k = 2e-4 whose effect k t spans 0..4, and the
relative scale s_i = |x_i| is right for that rate but is a vanishing step for a
coefficient that happens to sit near zero. So both are candidates, and for each
parameter the one whose diagonal second difference has the smaller error
estimate (truncation plus rounding, below) is used, the way numdifftools
chooses its step among candidates by the estimated error (Brodtkorb &
D'Errico, numdifftools, ``MinStepGenerator`` and ``Derivative`` with Richardson
extrapolation). The candidates coincide when |x_i| >= 1 or x_i = 0, and then
nothing extra is evaluated. An explicit ``step`` is used exactly as given.

Each result carries an elementwise ``error_estimate``: the truncation error
from comparing step sizes (the tableau for Richardson) plus the rounding
error of the stencil, about eps |f| / (h_i h_j). A fixed absolute step
(``step=1e-5``, as in a hand-written FD Hessian) ignores the scale of each
parameter, which is how FD Hessians produce negative variances; when an
element's error estimate is as large as the element's own scale,
:func:`fd_hessian` says so with a :class:`~hessjax.warnings.HessianWarning`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import EPS, float64_entry_point
from ._tree import spec_names
from .objective import Objective, bind
from .warnings import HessianWarning, warn

__all__ = [
    "FDHessian", "StepSweep", "fd_hessian", "step_sweep", "default_step", "step_candidates", "SCHEMES",
]

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
        Function evaluations used (step selection and error estimation included).
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


@float64_entry_point
def default_step(
    x: Any, scheme: str = "central", f: Callable | None = None, args: tuple = ()
) -> np.ndarray:
    """The per-parameter step of :func:`fd_hessian` when ``step`` is not given.

    The step of parameter i is c s_i with c = eps^(1/3), eps^(1/4), eps^(1/6)
    for forward, central and Richardson differences, and a scale s_i chosen
    between two candidates (Dennis & Schnabel 1983, Sec. 5.6, "typical x"):
    max(|x_i|, 1) and, when 0 < |x_i| < 1, the relative scale |x_i|. With
    ``f``, each parameter gets the candidate whose diagonal second difference
    of ``f(x, *args)`` has the smaller error estimate (truncation plus rounding;
    numdifftools chooses its steps the same way); that is exactly the step
    ``fd_hessian(f, x, *args, scheme=scheme)`` uses. Without ``f`` nothing
    can be measured and the scale-only rule c max(|x_i|, 1) is returned.

    Parameters
    ----------
    x : array or pytree of floating arrays
        The point (flattened in ``ravel_pytree`` order).
    scheme : {"central", "forward", "richardson"}
        Difference scheme.
    f : callable, optional
        ``f(x, *args)``, the function to be differentiated.
    args : tuple
        Data passed to ``f``.

    Returns
    -------
    np.ndarray
        ``(n,)`` steps.

    Raises
    ------
    ValueError
        If ``scheme`` is not ``"central"``, ``"forward"`` or
        ``"richardson"``. With ``f``: also if ``x`` has no elements, ``f``
        does not return a scalar, or ``f(x, *args)`` fails while tracing (a
        missing key, mismatched shapes or signature).
    TypeError
        With ``f``: if ``f`` is not callable, a leaf of ``x`` is not a real
        floating array, ``f`` does not return one floating array, or tracing
        ``f`` fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp
    >>> from hessjax import default_step
    >>> default_step(np.array([0.0, 1e4]), "central")
    array([1.22070312e-04, 1.22070312e+00])

    A rate k = 2e-4 whose effect k t spans 0..4 gets a step relative to k:

    >>> t = np.linspace(0.0, 2e4, 50)
    >>> sse = lambda p, t: 0.5 * jnp.sum((3.0 * jnp.exp(-2e-4 * t) - p[0] * jnp.exp(-p[1] * t)) ** 2)
    >>> default_step(np.array([3.0, 2e-4]), "central", f=sse, args=(t,))
    array([3.66210938e-04, 2.44140625e-08])
    """
    _check_scheme(scheme)
    if f is None:
        leaves = jax.tree_util.tree_leaves(x)
        flat = np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in leaves])
        return fd_step(flat, scheme)
    obj, x_flat, args64, _ = bind(f, x, tuple(args), pname="x")
    candidates = step_candidates(np.asarray(x_flat, dtype=np.float64), scheme)
    if candidates.shape[0] == 1:
        return candidates[0]
    program = obj.program(
        ("fd_step", scheme), lambda: jax.jit(lambda x, c, args: select_step(obj.value, x, c, args, scheme))
    )
    return np.asarray(program(x_flat, candidates, args64))


def fd_step(x, scheme: str, xp=np):
    """The scale-only rule c max(|x_i|, 1) on an array of module ``xp`` (NumPy, or ``jax.numpy``)."""
    return _RELATIVE_STEP[scheme] * xp.maximum(xp.abs(x), 1.0)


def step_candidates(x, scheme: str, xp=np):
    """``(m, n)`` candidate steps: c max(|x_i|, 1) and, where 0 < |x_i| < 1, c |x_i|.

    With NumPy, one row when the two coincide for every parameter (nothing to
    choose, nothing extra to evaluate); with ``xp=jax.numpy`` (traced, e.g.
    under ``vmap``) always two rows, for :func:`select_step`.
    """
    unit = fd_step(x, scheme, xp)
    relative = xp.where(x != 0, _RELATIVE_STEP[scheme] * xp.abs(x), unit)
    if xp is np and np.array_equal(unit, relative):
        return unit[None]
    return xp.stack([unit, relative])


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme={scheme!r}; use one of {', '.join(map(repr, SCHEMES))}.")


def diagonal_differences(value: Callable, x, h, args, scheme: str):
    """Second differences along each coordinate at steps ``h``: ``(diag, f(x))`` (pure)."""
    n = x.shape[0]
    f0 = value(x, args)
    eye = jnp.eye(n, dtype=x.dtype)

    def diagonal(i):
        e = eye[i] * h[i]
        if scheme == "forward":
            return (value(x + 2 * e, args) - 2 * value(x + e, args) + f0) / h[i] ** 2
        return (value(x + e, args) - 2 * f0 + value(x - e, args)) / h[i] ** 2

    return jax.lax.map(diagonal, jnp.arange(n), batch_size=_BATCH), f0


def second_differences(value: Callable, x, h, args, scheme: str):
    """The raw FD Hessian at steps ``h`` (pure; one compiled program)."""
    n = x.shape[0]
    diag, f0 = diagonal_differences(value, x, h, args, scheme)
    eye = jnp.eye(n, dtype=x.dtype)
    rows, cols = np.triu_indices(n, k=1)

    def f(point):
        return value(point, args)

    def off_diagonal(ij):
        i, j = ij
        ei, ej = eye[i] * h[i], eye[j] * h[j]
        if scheme == "forward":
            return (f(x + ei + ej) - f(x + ei) - f(x + ej) + f0) / (h[i] * h[j])
        return (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
            4 * h[i] * h[j]
        )

    hess = jnp.diag(diag)
    if rows.size:
        off = jax.lax.map(off_diagonal, (jnp.asarray(rows), jnp.asarray(cols)), batch_size=_BATCH)
        hess = hess.at[rows, cols].set(off).at[cols, rows].set(off)
    return hess, f0


def _extrapolated(differences: Callable, h, scheme: str):
    """``(estimate, truncation error, finest step, f(x))`` from ``differences(h) -> (D(h), f(x))``."""
    levels = 3 if scheme == "richardson" else 2
    # One traced copy of the stencil mapped over the steps h, h/2 (, h/4): the
    # function is compiled once per program, not once per level.
    d, f0 = jax.lax.map(differences, jnp.stack([h / 2.0**k for k in range(levels)]))
    if scheme == "richardson":
        # Central differences have an even error expansion in h: one level of
        # the tableau removes h^2, the next h^4 (weights 4 and 16).
        r1 = (4 * d[1] - d[0]) / 3
        r2 = (4 * d[2] - d[1]) / 3
        return (16 * r2 - r1) / 15, jnp.abs(r2 - r1) / 15, h / 4, f0[0]
    # err(h) ~ c h^k: err(h) = (H(h) - H(h/2)) * 2^k / (2^k - 1), k = 1 or 2.
    factor = 2.0 if scheme == "forward" else 4.0 / 3.0
    return d[0], factor * jnp.abs(d[0] - d[1]), h, f0[0]


def _rounding(f0, step_product):
    # About four function values, each wrong by ~eps |f|, divided by the step
    # product (the finest step contributes through the extrapolation).
    return 4 * EPS * jnp.maximum(jnp.abs(f0), EPS) / step_product


def _stencil(scheme: str) -> str:
    return "central" if scheme == "richardson" else scheme


def select_step(value: Callable, x, candidates, args, scheme: str):
    """Per parameter, the candidate step (row of ``candidates``) whose diagonal
    second difference has the smallest error estimate (pure).

    Both candidates estimate the same H_ii, so their absolute error estimates
    compare directly; the measured truncation term also picks up rounding
    noise, so a step too small for the parameter loses even when |f| hides it.
    """

    def error(h):
        diff = lambda step: diagonal_differences(value, x, step, args, _stencil(scheme))  # noqa: E731
        _, truncation, finest, f0 = _extrapolated(diff, h, scheme)
        return truncation + _rounding(f0, finest * finest)

    errors = jax.lax.map(error, candidates)
    # A stencil that leaves the domain (NaN or inf) must never be chosen.
    errors = jnp.where(jnp.isfinite(errors), errors, jnp.inf)
    best = jnp.argmin(errors, axis=0)  # ties (and all-infinite) keep the first, c max(|x_i|, 1)
    return jnp.take_along_axis(candidates, best[None, :], axis=0)[0]


def _fd_with_error(value: Callable, x, candidates, args, scheme: str):
    """Step, estimate and elementwise error estimate (pure); the step is chosen
    among the rows of ``candidates`` when there are several."""
    h = candidates[0] if candidates.shape[0] == 1 else select_step(value, x, candidates, args, scheme)
    diff = lambda step: second_differences(value, x, step, args, _stencil(scheme))  # noqa: E731
    estimate, truncation, finest, f0 = _extrapolated(diff, h, scheme)
    estimate = 0.5 * (estimate + estimate.T)
    return estimate, truncation + _rounding(f0, jnp.outer(finest, finest)), h


def _nfev(n: int, scheme: str, n_candidates: int = 1) -> int:
    levels = 3 if scheme == "richardson" else 2
    per = (2 * n + 1) + (4 if scheme != "forward" else 3) * n * (n - 1) // 2
    selection = (2 * n + 1) * levels * n_candidates if n_candidates > 1 else 0
    return per * levels + selection


def _resolve_step(step, x: np.ndarray, scheme: str) -> np.ndarray:
    """``(m, n)`` candidate steps: the rule's, or the user's one row used exactly."""
    if step is None:
        return step_candidates(x, scheme)
    leaves = jax.tree_util.tree_leaves(step)
    h = np.concatenate([np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in leaves])
    if h.size == 1:
        h = np.full(x.shape, float(h[0]))
    if h.shape != x.shape or not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(
            f"`step` must be a positive scalar or one positive step per parameter ({x.size}); "
            f"got {np.shape(step)}."
        )
    return h[None]


def _fd_program(obj: Objective, scheme: str) -> Callable:
    return obj.program(
        ("fd_hessian", scheme),
        lambda: jax.jit(lambda x, candidates, args: _fd_with_error(obj.value, x, candidates, args, scheme)),
    )


def undetermined_elements(estimate: np.ndarray, error: np.ndarray, names) -> list[str]:
    """Elements whose error estimate is as large as their own scale, in words.

    The scale of H_ij is sqrt(|H_ii H_jj|) (|H_ii| on the diagonal): an error
    that large leaves a curvature's sign, or a correlation, undetermined.
    """
    d = np.abs(np.diag(estimate))
    with np.errstate(invalid="ignore"):
        bad = ~(error < np.sqrt(np.outer(d, d))) | ~np.isfinite(estimate)
    out = [
        f"the curvature of {names[i]} (estimate {estimate[i, i]:.2g}, error {error[i, i]:.2g})"
        for i in range(d.size) if bad[i, i]
    ]
    rows, cols = np.nonzero(np.triu(bad, k=1) & ~np.diag(bad)[:, None] & ~np.diag(bad)[None, :])
    out += [f"the cross term of {names[i]} and {names[j]}" for i, j in zip(rows, cols)]
    return out


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
        Absolute step, used exactly: a scalar for every parameter (as a
        hand-written FD Hessian does), or one per parameter. Default: per
        parameter, the candidate scale with the smaller error estimate
        (:func:`default_step`, which documents the rule).

    Returns
    -------
    FDHessian
        ``estimate``, ``step``, ``scheme``, ``error_estimate``, ``nfev``.

    Raises
    ------
    ValueError
        If ``scheme`` is not ``"central"``, ``"forward"`` or
        ``"richardson"``; ``step`` is not a positive finite scalar or one
        such step per parameter; ``x`` has no elements; ``f`` does not
        return a scalar; a DataFrame or Series in ``args`` has non-numeric
        columns; or ``f(x, *args)`` fails while tracing (a missing key,
        mismatched shapes or signature).
    TypeError
        If ``f`` is not callable; a leaf of ``x`` is not a real floating
        array; ``f`` does not return one floating array; or tracing ``f``
        fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.

    Warns
    -----
    HessianWarning
        When some element's error estimate is as large as its own scale
        (|H_ii| on the diagonal, sqrt(|H_ii H_jj|) off it): the message names
        the parameters whose curvature the differences did not determine.
    PrecisionWarning
        When ``x`` or the data had less than float64 precision.

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
    candidates = _resolve_step(step, x_np, scheme)
    estimate, error, h = (np.asarray(a) for a in _fd_program(obj, scheme)(x_flat, candidates, args))
    undetermined = undetermined_elements(estimate, error, spec_names(obj.spec))
    if undetermined:
        given = "the given step" if step is not None else "the default step"
        fix = (
            "leave step=None for the per-parameter rule (hj.default_step), or use the exact hj.hessian"
            if step is not None
            else "use the exact hj.hessian, or find a step with hj.step_sweep"
        )
        warn(
            f"fd_hessian(scheme={scheme!r}) with {given} did not determine "
            f"{'; '.join(undetermined)}: the error estimate is as large as the element's own scale, "
            f"so variances from this matrix can be wrong in size and sign; {fix}.",
            HessianWarning,
        )
    return FDHessian(
        estimate=estimate,
        step=h,
        scheme=scheme,
        error_estimate=error,
        nfev=_nfev(x_np.size, scheme, candidates.shape[0]),
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

    Raises
    ------
    ValueError
        If ``scheme`` is not ``"central"``, ``"forward"`` or
        ``"richardson"``; ``steps`` is not a non-empty 1-D array of positive
        numbers; ``x`` has no elements; ``f`` does not return a scalar; or
        ``f(x, *args)`` fails while tracing (a missing key, mismatched
        shapes or signature).
    TypeError
        If ``f`` is not callable; a leaf of ``x`` is not a real floating
        array; ``f`` does not return one floating array; or tracing ``f``
        fails because it applies NumPy or a Python ``if``/``int()``/
        ``float()`` to a traced value.

    Warns
    -----
    PrecisionWarning
        When ``x`` or the data had less than float64 precision.

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
    program = obj.program(
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
