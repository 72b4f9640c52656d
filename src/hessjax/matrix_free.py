"""Matrix-free inference for large models: MLE, selected standard errors and extreme eigenvalues without a dense Hessian.

:func:`hessjax.fit` forms the dense n x n observed information and
eigendecomposes it: 8 n^2 bytes and O(n^3) work, fine into the low
thousands of parameters (n = 2000: 32 MB, about a second) and impossible
beyond (n = 20000: 3.2 GB and a 20000^3 ``eigh``). This module needs only
exact Hessian-vector products (forward-over-reverse autodiff through one
``jax.linearize`` of the gradient per point, about the cost of a gradient
each) and memory linear in n:

* :func:`minimize_newton_cg` - trust-region Newton-CG (Steihaug-Toint);
* :func:`selected_se` - standard errors sqrt((H^-1)_ii) of chosen
  parameters, one CG solve H z = e_i per parameter, all in one program;
* :func:`extreme_eigenvalues` - Lanczos estimates of the smallest and
  largest eigenvalue of the observed information, with error bounds;
* :func:`fit_large` - all three, plus a light certificate.

Use :func:`hessjax.fit` up to :data:`LARGE_MODEL_THRESHOLD` parameters (it
gives every SE, the full covariance and a scaled-spectrum certificate) and
these functions for models in the thousands of parameters and up.

The certificate here is judged on the **unscaled** observed information
(the correlation scaling of :mod:`hessjax.diagnostics` needs its diagonal,
which costs n products): condition numbers include the parameters' units.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import EPS, decrement_tolerance, flat_tolerance, float64_entry_point
from ._tree import spec_names
from ._validate import check_count, check_tolerance, is_integer
from .covariance import definiteness
from .diagnostics import warn_about_large_fit, warn_about_se
from .krylov import conjugate_gradient, lanczos_extremes, lanczos_start
from .objective import Objective, bind
from .optimize.base import MinimizeResult
from .results import EigenBounds, LargeFitResult, SelectedSE
from .optimize.minimize import newton_cg_settings
from .optimize.newton_cg import CURVATURE_STEPS, pure_solve

__all__ = [
    "LARGE_MODEL_THRESHOLD",
    "selected_se",
    "extreme_eigenvalues",
    "fit_large",
]

#: Above this many parameters ``which`` must be given: n CG solves of n-vectors
#: (memory ~ 8 n^2 bytes per batch of solves) is the dense cost again.
LARGE_MODEL_THRESHOLD = 2000

#: Default relative residual of the CG solves: the variance e_i'H^-1 e_i is
#: then short by at most rtol^2 cond(H) = eps cond(H) relative (Galerkin bound).
DEFAULT_CG_RTOL = float(np.sqrt(EPS))

#: A Ritz value counts as converged when its residual bound is below this
#: fraction of its magnitude (about eight correct digits; the eigenvalue
#: error itself is typically the square of that, residual^2 / gap).
LANCZOS_RTOL = float(np.sqrt(EPS))

_DEFAULT_LANCZOS_STEPS = 80
_SE_BATCH = 256  # CG solves run side by side (bounds memory at 256 n-vectors)


def _default_maxiter(n: int) -> int:
    # Exact CG needs n steps; rounding can need more on ill-conditioned H.
    return int(max(min(2 * n, 10_000), 20))


# ----------------------------------------------------------------------------------------
# input validation (eager, before anything compiles)
# ----------------------------------------------------------------------------------------


def resolve_which(which: Any, names: tuple, threshold: int | None = LARGE_MODEL_THRESHOLD) -> np.ndarray:
    """Flat indices of ``which``: None (all, up to ``threshold``), an int, a
    name, a leaf name (all its elements) or a sequence of ints and names."""
    n = len(names)
    if which is None:
        if threshold is not None and n > threshold:
            raise ValueError(
                f"`which` is required above {threshold} parameters (this model has {n}): "
                f"solving for every standard error costs n CG solves of n-vectors. Pass the "
                f"parameters you need as flat indices or names (hj.param_names(params)), "
                f"e.g. which={list(names[:2])!r}, or which=range({n}) to insist on all."
            )
        return np.arange(n, dtype=np.int32)
    if isinstance(which, (str, bytes)) or is_integer(which):
        items = [which]
    elif isinstance(which, (list, tuple, range, np.ndarray)):
        if isinstance(which, np.ndarray) and which.dtype == np.bool_:
            raise TypeError("`which` must hold indices or names, not booleans; use np.flatnonzero(mask).")
        items = list(np.ravel(which)) if isinstance(which, np.ndarray) else list(which)
    else:
        raise TypeError(
            f"`which` must be None, an int, a parameter name or a sequence of them; got "
            f"{type(which).__name__}. Example: which=[0, 3] or which=['beta[0]', 'log_sigma']."
        )
    if not items:
        raise ValueError("`which` is empty; pass at least one index or parameter name.")
    lookup = {name: i for i, name in enumerate(names)}
    out: list[int] = []
    for item in items:
        if isinstance(item, (str, np.str_)):
            item = str(item)
            if item in lookup:
                out.append(lookup[item])
                continue
            block = [i for i, name in enumerate(names) if name.startswith(item + "[")]
            if block:
                out.extend(block)
                continue
            close = difflib.get_close_matches(item, names, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"which={item!r} is not a parameter name; names are as hj.param_names(params) "
                f"gives them, e.g. {', '.join(map(repr, names[:3]))}.{hint}"
            )
        if is_integer(item):
            if not 0 <= int(item) < n:
                raise ValueError(f"which index {int(item)} is out of range: use 0 <= index < {n}.")
            out.append(int(item))
            continue
        raise TypeError(
            f"`which` entries must be ints or parameter names, got {type(item).__name__} {item!r}."
        )
    return np.asarray(out, dtype=np.int32)


# ----------------------------------------------------------------------------------------
# pure cores
# ----------------------------------------------------------------------------------------


def linearized_hvp(obj: Objective, x: jax.Array, args: tuple) -> Callable:
    """v -> H(x) v for the objective's (negated) Hessian; the point is evaluated once."""
    _, hvp = jax.linearize(lambda z: jax.grad(obj.value)(z, args), x)
    return hvp


class _SECore(NamedTuple):
    se: jax.Array
    cg_iterations: jax.Array
    residual: jax.Array
    converged: jax.Array
    indefinite: jax.Array


def inverse_diagonal_se(hvp: Callable, n: int, index: jax.Array, rtol, maxiter: int) -> _SECore:
    """sqrt((H^-1)_ii) for i in ``index`` by CG on H z = e_i, solves batched."""
    units = jax.nn.one_hot(index, n, dtype=jnp.float64)

    def solve(unit):
        cg = conjugate_gradient(hvp, unit, rtol, maxiter)
        residual = jnp.linalg.norm(unit - hvp(cg.solution))
        return cg.solution @ unit, cg.iterations, residual, cg.converged, cg.indefinite

    batch = min(int(index.shape[0]), _SE_BATCH)
    variance, its, residual, converged, bad = jax.lax.map(solve, units, batch_size=batch)
    # A converged solve with a non-positive variance also proves H indefinite.
    bad = bad | (converged & ~(variance > 0))
    ok = converged & ~bad
    se = jnp.where(ok, jnp.sqrt(jnp.where(ok, variance, 1.0)), jnp.nan)
    return _SECore(se, its, residual, ok, bad)


def eigen_bounds(hvp: Callable, n: int, steps: int) -> EigenBounds:
    """Lanczos extremes of ``hvp`` from the deterministic start vector."""
    ritz = lanczos_extremes(hvp, lanczos_start(n), steps)
    top = jnp.maximum(jnp.abs(ritz.min_value), jnp.abs(ritz.max_value))

    def ok(value, error):
        # Relative to the value, but a value at the flat level only to that level.
        return error <= LANCZOS_RTOL * jnp.maximum(jnp.abs(value), flat_tolerance * top)

    converged = ok(ritz.min_value, ritz.min_error) & ok(ritz.max_value, ritz.max_error)
    return EigenBounds(
        ritz.min_value, ritz.max_value, ritz.min_error, ritz.max_error, ritz.steps, converged
    )


def _flat(tree) -> jax.Array:
    return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree_util.tree_leaves(tree)])


class _FitCore(NamedTuple):
    optimizer: MinimizeResult
    loglik: jax.Array
    grad: Any
    se: _SECore
    eigen: EigenBounds
    grad_norm: jax.Array
    newton_decrement: jax.Array
    hessian_is_pd: jax.Array
    is_saddle: jax.Array
    condition_number: jax.Array
    is_valid: jax.Array


def _build_fit_large(obj: Objective, max_steps: int, max_cg: int, lanczos_steps: int, maxiter: int):
    n = obj.spec.size
    solve = pure_solve(obj, max_steps, max_cg, min(n, CURVATURE_STEPS))

    def run(x0, args, index, options, rtol):
        opt = solve(x0, args, options)
        x = _flat(opt.x)
        f, g = obj.value_and_grad(x, args)
        hvp = linearized_hvp(obj, x, args)
        se = inverse_diagonal_se(hvp, n, index, rtol, maxiter)
        eigen = eigen_bounds(hvp, n, lanczos_steps)
        lo, hi = eigen.min_eigenvalue, eigen.max_eigenvalue
        top = jnp.maximum(jnp.abs(lo), jnp.abs(hi))
        # PD when even the Lanczos lower bound lo - error is positive definite.
        pd, _ = definiteness(lo - eigen.min_error, top)
        _, saddle = definiteness(lo, top)
        newton = conjugate_gradient(hvp, g, rtol, maxiter)
        decrement = jnp.where(pd & newton.converged, g @ newton.solution, jnp.nan)
        se = se._replace(se=jnp.where(pd, se.se, jnp.nan))
        valid = opt.success & pd & ~saddle & (decrement <= decrement_tolerance) & jnp.all(se.converged)
        return _FitCore(
            optimizer=opt,
            loglik=-f,
            grad=obj.spec.unravel(-g),
            se=se,
            eigen=eigen,
            grad_norm=jnp.max(jnp.abs(g)),
            newton_decrement=decrement,
            hessian_is_pd=pd,
            is_saddle=saddle,
            condition_number=jnp.where(pd, hi / jnp.where(pd, lo, 1.0), jnp.inf),
            is_valid=valid,
        )

    return jax.jit(run)


def _selected(core: _SECore, index, names: tuple) -> SelectedSE:
    picked = tuple(names[int(i)] for i in np.asarray(index))
    return SelectedSE(
        index=np.asarray(index), se=core.se, cg_iterations=core.cg_iterations,
        residual=core.residual, converged=core.converged, indefinite=core.indefinite, names=picked,
    )


# ----------------------------------------------------------------------------------------
# eager entry points
# ----------------------------------------------------------------------------------------


@float64_entry_point
def selected_se(
    loglik: Callable,
    params: Any,
    *data: Any,
    which: Any = None,
    rtol: float | None = None,
    maxiter: int | None = None,
) -> SelectedSE:
    """Standard errors sqrt((H^-1)_ii) of selected parameters without forming H.

    H is the exact Hessian of ``-loglik`` at ``params`` (the observed
    information). Each selected column solves H z = e_i by conjugate
    gradients on exact Hessian-vector products; all solves run side by side
    in one compiled program. CG's estimate e_i'z of the variance is a lower
    bound, short by at most ``rtol**2`` times the condition number of H
    (relative). No preconditioner is used: the diagonal of H is not
    available without n products.

    Parameters
    ----------
    loglik : callable
        ``loglik(params, *data)``: total or per-observation log-likelihood.
    params : pytree of floating arrays
        The estimate (usually the MLE).
    *data
        Data passed to ``loglik``.
    which : int, str or sequence, optional
        Flat indices or names as :func:`hessjax.param_names` gives them
        (``"beta[3]"``; a leaf name such as ``"beta"`` selects all its
        elements). Default: every parameter, allowed up to
        ``LARGE_MODEL_THRESHOLD`` (2000) parameters.
    rtol : float, optional
        Relative residual ||e_i - H z|| at which CG stops (default sqrt(eps)).
    maxiter : int, optional
        CG products per solve (default ``2 n``, between 20 and 10000).

    Returns
    -------
    SelectedSE
        ``names``, ``index``, ``se``, ``cg_iterations``, ``residual``,
        ``converged``, ``indefinite``. A solve that meets p'Hp <= 0 proves H
        is not positive definite: its SE is NaN, ``indefinite`` is set and a
        ``HessianWarning`` names it. (CG need not meet the negative
        direction; use :func:`extreme_eigenvalues` to check definiteness.)

    Raises
    ------
    ValueError
        If ``rtol`` is not a finite number in (0, 1); ``maxiter`` is not an
        integer in ``[1, 2**31 - 1]``; ``which`` is empty, names no
        parameter, holds an index out of range, or is None above
        ``LARGE_MODEL_THRESHOLD`` parameters; ``params`` has no elements;
        ``loglik`` returns neither a scalar nor a 1-D array; a DataFrame or
        Series in ``data`` has non-numeric columns; or calling
        ``loglik(params, *data)`` fails while tracing (a missing key,
        mismatched shapes or signature).
    TypeError
        If ``which`` is not None, an int, a name or a sequence of them (a
        boolean mask included); ``loglik`` is not callable; a leaf of
        ``params`` is not a real floating array; ``loglik`` does not return
        one floating array; or tracing ``loglik`` fails because it applies
        NumPy or a Python ``if``/``int()``/``float()`` to a traced value.

    Warns
    -----
    HessianWarning
        When a CG solve met non-positive curvature (those SEs are NaN).
    ConvergenceWarning
        When a CG solve did not reach ``rtol`` within ``maxiter`` products.
    PrecisionWarning
        When ``params`` or the data had less than float64 precision.
    StaleDataWarning
        When ``loglik`` reads data from its closure or globals and they
        changed since it was compiled.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> A = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    >>> loglik = lambda b: -0.5 * b @ (A @ b)        # observed information A
    >>> out = hj.selected_se(loglik, np.zeros(3), which=[0, "x[2]"])
    >>> np.allclose(out.se, np.sqrt(np.diag(np.linalg.inv(A)))[[0, 2]], rtol=1e-12)
    True
    """
    rtol = check_tolerance(rtol, "rtol", DEFAULT_CG_RTOL, upper=1.0)
    obj, x, args, _ = bind(loglik, params, data, fname="loglik", negate=True, per_observation=True)
    n = obj.spec.size
    names = spec_names(obj.spec)
    index = resolve_which(which, names)
    maxiter = check_count(maxiter, "maxiter", _default_maxiter(n))

    def build():
        def run(x, args, index, rtol):
            return inverse_diagonal_se(linearized_hvp(obj, x, args), n, index, rtol, maxiter)

        return jax.jit(run)

    core = obj.program(("selected_se", maxiter), build)(x, args, index, rtol)
    result = _selected(core, index, names)
    warn_about_se(result, maxiter)
    return result


@float64_entry_point
def extreme_eigenvalues(loglik: Callable, params: Any, *data: Any, k: int | None = None) -> EigenBounds:
    """Smallest and largest eigenvalue of the observed information by Lanczos.

    ``k`` Lanczos steps with full reorthogonalization on exact
    Hessian-vector products of ``-loglik`` at ``params``, from a
    deterministic start vector (results are reproducible). Memory is
    ``(k + 1) n`` floats; nothing n x n is formed.

    Lanczos converges to the extremes of the spectrum first, the better
    separated from the rest the faster: the largest eigenvalue usually
    converges in a few dozen steps; the smallest eigenvalue of an
    ill-conditioned matrix (clustered near zero relative to the largest)
    may need many more, and ``min_error`` says so. Ritz values lie inside
    the spectrum, so ``min_eigenvalue`` is an upper bound of the smallest
    eigenvalue: a negative one proves the matrix indefinite.

    Parameters
    ----------
    loglik : callable
        ``loglik(params, *data)``: total or per-observation log-likelihood.
    params : pytree of floating arrays
        Where the information is taken.
    *data
        Data passed to ``loglik``.
    k : int, optional
        Lanczos steps, ``1 <= k <= n`` (default ``min(n, 80)``).

    Returns
    -------
    EigenBounds
        Extreme Ritz values, their error bounds (an eigenvalue lies within
        ``min_error`` of ``min_eigenvalue``), steps taken and ``converged``.

    Raises
    ------
    ValueError
        If ``k`` is not an integer in ``[1, n]``; ``params`` has no
        elements; ``loglik`` returns neither a scalar nor a 1-D array; a
        DataFrame or Series in ``data`` has non-numeric columns; or calling
        ``loglik(params, *data)`` fails while tracing (a missing key,
        mismatched shapes or signature).
    TypeError
        If ``loglik`` is not callable; a leaf of ``params`` is not a real
        floating array; ``loglik`` does not return one floating array; or
        tracing ``loglik`` fails because it applies NumPy or a Python
        ``if``/``int()``/``float()`` to a traced value.

    Warns
    -----
    PrecisionWarning
        When ``params`` or the data had less than float64 precision.
    StaleDataWarning
        When ``loglik`` reads data from its closure or globals and they
        changed since it was compiled.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> d = np.linspace(1.0, 100.0, 50)                # information diag(d)
    >>> eig = hj.extreme_eigenvalues(lambda b: -0.5 * jnp.sum(d * b**2), np.zeros(50))
    >>> round(float(eig.min_eigenvalue), 10), round(float(eig.max_eigenvalue), 10)
    (1.0, 100.0)
    """
    obj, x, args, _ = bind(loglik, params, data, fname="loglik", negate=True, per_observation=True)
    n = obj.spec.size
    k = check_count(k, "k", min(n, _DEFAULT_LANCZOS_STEPS), high=n)

    def build():
        return jax.jit(lambda x, args: eigen_bounds(linearized_hvp(obj, x, args), n, k))

    return obj.program(("extreme_eigenvalues", k), build)(x, args)


@float64_entry_point
def fit_large(
    loglik: Callable,
    init: Any,
    *data: Any,
    which: Any = None,
    gtol: float | None = None,
    max_steps: int | None = 200,
    lanczos_steps: int | None = None,
    rtol: float | None = None,
    maxiter: int | None = None,
) -> LargeFitResult:
    """Maximum likelihood for large models: Newton-CG, selected SEs, Lanczos certificate.

    :func:`hessjax.fit` forms the dense observed information (8 n^2 bytes,
    O(n^3) work); use it up to about ``LARGE_MODEL_THRESHOLD`` (2000)
    parameters, and ``fit_large`` for thousands and up. Here everything runs
    on exact Hessian-vector products in one compiled program: the
    trust-region Newton-CG optimizer (:func:`minimize_newton_cg`), CG solves
    for the standard errors of the ``which`` parameters
    (:func:`selected_se`), one CG solve for the Newton decrement, and
    Lanczos for the extreme eigenvalues (:func:`extreme_eigenvalues`).

    Parameters
    ----------
    loglik : callable
        ``loglik(params, *data)`` returning the total or per-observation
        log-likelihood; it is maximized.
    init : pytree of floating arrays
        Starting values.
    *data
        Data passed to ``loglik``.
    which : int, str or sequence, optional
        Parameters to compute SEs for (indices or names, see
        :func:`selected_se`). Required above 2000 parameters.
    gtol : float, optional
        Relative-gradient tolerance (default ``eps**(2/3)``).
    max_steps : int
        Trust-region steps (default 200).
    lanczos_steps : int, optional
        Lanczos steps for the eigenvalue bounds (default ``min(n, 80)``).
    rtol : float, optional
        Relative residual of the CG solves (default sqrt(eps)).
    maxiter : int, optional
        CG products per solve (default ``2 n``, between 20 and 10000).

    Returns
    -------
    LargeFitResult
        ``params``, ``loglik``, ``grad``, ``se`` (:class:`SelectedSE`),
        ``eigen`` (:class:`EigenBounds`), certificate flags
        (``converged``, ``grad_norm``, ``newton_decrement``,
        ``hessian_is_pd``, ``is_saddle``, ``condition_number``,
        ``is_valid``; judged on the unscaled information) and ``optimizer``.
        Troubles set flags and emit one ``HessjaxWarning`` subclass each.

    Raises
    ------
    ValueError
        If ``rtol`` is not a finite number in (0, 1); ``gtol`` is not a
        finite number > 0; ``max_steps`` is not an integer in
        ``[0, 2**31 - 1]``; ``lanczos_steps`` is not an integer in
        ``[1, n]``; ``maxiter`` is not an integer in ``[1, 2**31 - 1]``;
        ``which`` is empty, names no parameter, holds an index out of range,
        or is None above ``LARGE_MODEL_THRESHOLD`` parameters; ``init`` has
        no elements; ``loglik`` returns neither a scalar nor a 1-D array; a
        DataFrame or Series in ``data`` has non-numeric columns; or calling
        ``loglik(init, *data)`` fails while tracing (a missing key,
        mismatched shapes or signature).
    TypeError
        If ``which`` is not None, an int, a name or a sequence of them (a
        boolean mask included); ``loglik`` is not callable; a leaf of
        ``init`` is not a real number or array; ``loglik`` does not return
        one floating array; or tracing ``loglik`` fails because it applies
        NumPy or a Python ``if``/``int()``/``float()`` to a traced value.

    Warns
    -----
    HessianWarning
        When the observed information could not be certified positive
        definite (a saddle, singular, or Lanczos not converged), or a CG
        solve for an SE met non-positive curvature.
    ConvergenceWarning
        When the fit did not reach a certified maximum, or a CG solve for an
        SE did not converge within ``maxiter``.
    PrecisionWarning
        When the data had less than float64 precision.
    StaleDataWarning
        When ``loglik`` reads data from its closure or globals and they
        changed since it was compiled.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 30)); y = X @ np.linspace(-1, 1, 30) + rng.normal(size=200)
    >>> def loglik(p, X, y):  # Gaussian regression, unit variance
    ...     return -0.5 * jnp.sum((y - X @ p["beta"]) ** 2)
    >>> res = hj.fit_large(loglik, {"beta": np.zeros(30)}, X, y, which=["beta[0]", "beta[29]"])
    >>> ols = np.linalg.solve(X.T @ X, X.T @ y)
    >>> bool(res.is_valid), np.allclose(res.estimate, ols, rtol=1e-9)
    (True, True)
    >>> se = np.sqrt(np.diag(np.linalg.inv(X.T @ X)))[[0, 29]]
    >>> np.allclose(res.se.se, se, rtol=1e-10)
    True
    """
    rtol = check_tolerance(rtol, "rtol", DEFAULT_CG_RTOL, upper=1.0)
    obj, x, args, _ = bind(
        loglik, init, data, fname="loglik", pname="init", negate=True, per_observation=True
    )
    n = obj.spec.size
    names = spec_names(obj.spec)
    index = resolve_which(which, names)
    options, max_steps, max_cg = newton_cg_settings(n, gtol, max_steps, None, None, 200)
    lanczos_steps = check_count(lanczos_steps, "lanczos_steps", min(n, _DEFAULT_LANCZOS_STEPS), high=n)
    maxiter = check_count(maxiter, "maxiter", _default_maxiter(n))
    shape = obj.output_shape(args)
    nobs = int(shape[0]) if len(shape) == 1 else None
    key = ("fit_large", max_steps, max_cg, lanczos_steps, maxiter)
    run = obj.program(key, lambda: _build_fit_large(obj, max_steps, max_cg, lanczos_steps, maxiter))
    core = run(x, args, index, options, rtol)
    result = LargeFitResult(
        params=core.optimizer.x,
        loglik=core.loglik,
        grad=core.grad,
        se=_selected(core.se, index, names),
        eigen=core.eigen,
        converged=core.optimizer.success,
        grad_norm=core.grad_norm,
        newton_decrement=core.newton_decrement,
        hessian_is_pd=core.hessian_is_pd,
        is_saddle=core.is_saddle,
        condition_number=core.condition_number,
        is_valid=core.is_valid,
        optimizer=core.optimizer,
        names=names,
        nobs=nobs,
    )
    warn_about_large_fit(result, lanczos_steps, maxiter)
    return result
