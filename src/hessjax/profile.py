"""Profile-likelihood confidence intervals.

For parameter i the profile is NLL_p(t) = min over the others of NLL with
x_i = t; the interval is where NLL_p(t) - NLL_min <= chi2_1(level) / 2 (Wilks).
Each endpoint is a root of that equation, found by safeguarded Newton
iteration on t: the derivative is exact and free, dNLL_p/dt = dNLL/dx_i at the
constrained optimum (envelope theorem). The constrained optimum is found by
the trust-region Newton method on the exact Hessian, warm-started from the
previous one. All 2n endpoints (parameter x side) run as one ``vmap``-ed,
compiled program.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import default_gtol, float64_entry_point
from .constraints import natural_intervals
from .covariance import wald_intervals
from .objective import Objective
from .optimize.base import Functions, Status, iterate
from .optimize.newton import NewtonOptions, TrustRegionNewton
from .warnings import IntervalWarning, warn

__all__ = ["ProfileResult", "ProfileCurve", "profile_intervals", "profile_curve", "profile_contour"]

# Outer iterations per endpoint; the safeguarded Newton iteration converges
# quadratically once bracketed, and each step is warm-started.
_OUTER_STEPS = 40
# Newton steps of each constrained re-fit (warm-started from the previous
# endpoint's optimum, so a handful suffice; the budget covers cold restarts).
_INNER_STEPS = 200
# An endpoint is found when the profile drop misses chi2_1(level)/2 by at most
# this relative amount: 1e-9 of q moves the endpoint by about 1e-9 q / |slope|,
# far below any SE's own sampling error, and well above the rounding noise of
# the log-likelihood (eps |f| with |f| / q below ~1e6 in practice).
_ENDPOINT_RTOL = 1e-9
# The bracket has collapsed (no further progress possible) when its width is
# below this fraction of the distance: about 500 eps, where the distance itself
# is resolved only to rounding.
_BRACKET_RTOL = 1e-13
# Smallest positive distance used to scale the bracket test (avoids 0 * rtol).
_TINY = 1e-300
# An endpoint further than this many Wald half-widths means the profile does
# not reach the threshold: the interval is unbounded on that side.
_UNBOUNDED = 1e4
# Profile and Wald endpoints that differ by more than this fraction of the Wald
# half-width are reported as a material disagreement.
_DISAGREEMENT = 0.1


class ProfileResult(NamedTuple):
    """Profile-likelihood intervals next to the Wald intervals."""

    intervals: np.ndarray  # (n, 2); +-inf where the profile never reaches the threshold
    wald: np.ndarray  # (n, 2)
    converged: np.ndarray  # (n, 2) bool
    disagrees: np.ndarray  # (n,) bool: profile and Wald differ materially
    names: tuple


def _pinned_solver(obj: Objective):
    """``profile_at(z0, args, mask, t, direction)``: minimize the NLL over the
    coordinates outside ``mask`` with those in ``mask`` pinned to ``t`` (an
    n-vector, used on ``mask``); returns the optimum, its NLL, the NLL's
    derivative along ``direction`` there (zero off ``mask``: by the envelope
    theorem, the profile's slope; one forward-mode pass, cheaper to compile
    than a gradient) and the inner solver's success."""
    inner = TrustRegionNewton()

    def constrained_value(z, packed):
        args, mask, t = packed
        # The pinned x_i are substituted; the unit penalty gives the otherwise
        # unused z_i a curvature so the inner Hessian stays regular.
        x = jnp.where(mask, t, z)
        return obj.value(x, args) + 0.5 * jnp.sum(jnp.where(mask, z - t, 0.0) ** 2)

    def value_and_grad(z, packed):
        return jax.value_and_grad(constrained_value)(z, packed)

    def value_grad_hessian(z, packed):
        def grad_aux(w):
            v, g = jax.value_and_grad(constrained_value)(w, packed)
            return g, (v, g)

        h, (v, g) = jax.jacfwd(grad_aux, has_aux=True)(z)
        return v, g, h

    fns = Functions(constrained_value, value_and_grad, value_grad_hessian)
    options = NewtonOptions(gtol=jnp.asarray(default_gtol), initial_radius=jnp.asarray(0.0))

    def profile_at(z0, args, mask, t, direction):
        packed = (args, mask, t)
        state, _, status = iterate(inner, fns, jnp.where(mask, t, z0), packed, options, _INNER_STEPS)
        x = jnp.where(mask, t, state.x)
        nll, slope = jax.jvp(lambda w: obj.value(w, args), (x,), (direction,))
        return x, nll, slope, status == Status.SUCCESS

    return profile_at


def _ray_solver(obj: Objective):
    """Where the profile NLL over the pinned coordinates ``mask`` first rises by
    ``q`` along the ray ``x_hat + d * direction`` (d > 0; ``direction`` is zero off
    ``mask`` and scaled so that the quadratic model predicts d = 1). Safeguarded
    Newton on d with the exact slope (envelope theorem: the NLL's gradient on the
    pinned coordinates at the constrained optimum, dotted with ``direction``),
    warm-started from the previous constrained optimum. Returns the pinned point
    (inf along the ray when the profile never reaches ``q``) and a found flag.
    Vmapped over rays: every endpoint of a fit runs as one program.
    """
    profile_at = _pinned_solver(obj)

    def endpoint(x_hat, nll_min, args, mask, direction, q):
        def psi(distance, z):
            x, nll, slope, ok = profile_at(z, args, mask, x_hat + distance * direction, direction)
            return x, nll - nll_min - q, slope, ok

        # Step k = 0 evaluates the quadratic model's prediction d = 1 (in the loop, so
        # the program holds one copy of the inner solve, not two: half the compile).
        nan = jnp.asarray(jnp.nan, x_hat.dtype)
        carry = (jnp.asarray(0.0), x_hat, nan, nan, jnp.asarray(False), jnp.asarray(0.0),
                 jnp.asarray(jnp.inf), jnp.asarray(0))

        def cond(c):
            d, _, f, _, _, d_in, d_out, k = c
            converged = jnp.abs(f) <= _ENDPOINT_RTOL * jnp.maximum(q, 1.0)
            collapsed = (d_out - d_in) <= _BRACKET_RTOL * jnp.maximum(d, _TINY)
            unbounded = d_in > _UNBOUNDED
            return (k == 0) | ((k <= _OUTER_STEPS) & ~converged & ~collapsed & ~unbounded)

        def body(c):
            d, x, f, slope, _, d_in, d_out, k = c
            first = k == 0
            outside = ~jnp.isfinite(f) | (f > 0)
            d_in = jnp.where(outside | first, d_in, d)
            d_out = jnp.where(outside & ~first, d, d_out)
            newton = d - f / slope
            ok = jnp.isfinite(newton) & (newton > d_in) & (newton < d_out) & jnp.isfinite(f)
            fallback = jnp.where(jnp.isfinite(d_out), 0.5 * (d_in + d_out), 2.0 * d)
            d_next = jnp.where(first, 1.0, jnp.where(ok, newton, fallback))
            # Warm start from the last constrained optimum inside the domain.
            z = jnp.where(jnp.isfinite(f) & ~first, x, x_hat)
            x, f, slope, ok_inner = psi(d_next, z)
            return d_next, x, f, slope, ok_inner, d_in, d_out, k + 1

        d, _, f, _, ok_inner, d_in, _, _ = jax.lax.while_loop(cond, body, carry)
        converged = (jnp.abs(f) <= _ENDPOINT_RTOL * jnp.maximum(q, 1.0)) & ok_inner
        unbounded = d_in > _UNBOUNDED
        point = jnp.where(unbounded, x_hat + jnp.where(direction != 0, jnp.inf * direction, 0.0),
                          x_hat + d * direction)
        return point, converged | unbounded

    return jax.jit(jax.vmap(endpoint, in_axes=(None, None, None, 0, 0, None)))


@float64_entry_point
def profile_intervals(result, level: float = 0.95) -> ProfileResult:
    """Profile-likelihood intervals for every parameter of a fit.

    Parameters
    ----------
    result : FitResult
        A valid (unbatched) fit.
    level : float
        Coverage probability.

    Returns
    -------
    ProfileResult
        ``intervals`` (n, 2), the ``wald`` intervals, per-endpoint
        ``converged`` flags and ``disagrees`` per parameter. An
        :class:`~hessjax.IntervalWarning` names the parameters whose profile
        and Wald intervals differ by more than 10% of the Wald half-width (the
        log-likelihood is not quadratic there: prefer the profile interval),
        or whose profile endpoints could not be found.

    Raises
    ------
    ValueError
        If ``result`` is a batch; ``level`` is not in (0, 1); or the fit is
        not a certified strict maximum (not converged, information not
        positive definite, a saddle, short of the maximum, or non-finite
        derivatives); the message gives the certificate's verdict.

    Warns
    -----
    IntervalWarning
        When profile and Wald intervals disagree materially, or a profile
        endpoint could not be found.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):  # exponential rate on the log scale
    ...     lam = jnp.exp(p)
    ...     return jnp.sum(jnp.log(lam) - lam * y)
    >>> y = np.random.default_rng(0).exponential(2.0, size=60)
    >>> res = hj.fit(loglik, 0.0, y)
    >>> prof = hj.profile_intervals(res)
    >>> bool(prof.converged.all()), prof.intervals.shape
    (True, (1, 2))
    """
    from scipy import stats  # imported when needed: 0.5 s of `import hessjax`

    if np.ndim(result.loglik) != 0:
        raise ValueError("profile intervals work on one fit; index the batched result first.")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
    # bounds/fixed: the profile over the free coordinates (the maps are monotone,
    # so its interval maps to the natural one; z = +-inf is the bound itself).
    base = result if getattr(result, "free_fit", None) is None else result.free_fit
    d = base.diagnostics
    # A certified strict maximum is required; Wald intervals that are not usable
    # (a parameter running off to a bound, a skewed likelihood) are what profile
    # intervals are for, so wald_adequate / at_boundary are not.
    at_maximum = (
        bool(d.hessian_is_pd) and not bool(d.is_saddle) and bool(d.converged)
        and bool(d.at_maximum)
        and not bool(np.any(np.asarray(d.nonfinite_derivative)))
    )
    if not at_maximum:
        raise ValueError(
            "profile intervals need a certified strict maximum; this fit is not one: "
            f"{str(d).splitlines()[0]}"
        )
    with jax.enable_x64(True):  # the Wald intervals, for comparison only (no usability warning)
        wald = np.asarray(wald_intervals(result.estimate, result.se_vector, float(level)))
    obj = base.objective
    n = obj.spec.size
    names = result.names
    solve = obj.program(("profile",), lambda: _ray_solver(obj))
    q = 0.5 * stats.chi2.ppf(level, 1)
    half = np.sqrt(2.0 * q) * base.se_vector
    if base is not result:
        # An estimate on a bound sits at |z| -> inf with a meaningless SE in z (huge):
        # the interval's other end lies O(|z_hat|) away (z = O(1) on the natural scale).
        hits = np.asarray(result.diagnostics.at_bound, bool) | ~np.isfinite(half)
        half = np.where(hits, np.maximum(np.abs(base.estimate), 1.0), half)
    index = np.repeat(np.arange(n), 2)
    side = np.tile(np.array([-1.0, 1.0]), n)
    masks = np.arange(n)[None, :] == index[:, None]
    points, converged = solve(
        jnp.asarray(base.estimate), jnp.asarray(-float(base.loglik)), base.data,
        jnp.asarray(masks), jnp.asarray(masks * (side * np.repeat(half, 2))[:, None]), jnp.asarray(q),
    )
    intervals = np.asarray(points)[np.arange(2 * n), index].reshape(n, 2)
    converged = np.asarray(converged).reshape(n, 2)
    if base is not result:
        intervals, converged = natural_intervals(result.constraints, base.estimate, intervals, converged)
        half = np.sqrt(2.0 * q) * result.se_vector
    gap = np.abs(intervals - wald)
    disagrees = np.any(~np.isfinite(intervals) | (gap > _DISAGREEMENT * half[:, None]), axis=1)
    failed = [nm for nm, ok in zip(names, converged.all(axis=1)) if not ok]
    differ = [nm for nm, bad in zip(names, disagrees) if bad]
    if failed or differ:
        parts = []
        if differ:
            parts.append(
                f"profile and Wald intervals differ by more than {100 * _DISAGREEMENT:g}% of the "
                f"Wald half-width for {', '.join(differ)}: the log-likelihood is not quadratic "
                "over the interval; prefer the profile interval"
            )
        if failed:
            parts.append(f"the profile endpoints of {', '.join(failed)} could not be located")
        warn("; ".join(parts) + ".", IntervalWarning)
    return ProfileResult(intervals, wald, converged, disagrees, tuple(names))


class ProfileCurve(NamedTuple):
    """The profile log-likelihood of one parameter (:meth:`FitResult.profile`).

    ``values`` ``(k,)`` natural-scale grid; ``loglik`` ``(k,)`` the log-likelihood
    maximized over the other parameters at each value; ``drop`` ``(k,)`` =
    loglik at the MLE minus ``loglik`` (>= 0; the interval at level L is where
    ``drop <= chi2_1(L) / 2``); ``params`` ``(k, n)`` the constrained optima
    (natural scale, flat in ``names`` order); ``converged`` ``(k,)``.
    """

    name: str
    values: np.ndarray
    loglik: np.ndarray
    drop: np.ndarray
    params: np.ndarray
    converged: np.ndarray
    estimate: float
    names: tuple


def _free_setup(result, names: tuple[str, ...], what: str):
    """``(base fit, indices of ``names`` among base's coordinates, natural indices)``."""
    if np.ndim(result.loglik) != 0:
        raise ValueError(f"{what} works on one fit; index the batched result first.")
    index = []
    for name in names:
        if not isinstance(name, str) or name not in result.names:
            listed = ", ".join(result.names[:20]) + (", ..." if len(result.names) > 20 else "")
            raise ValueError(f"{what}: unknown parameter {name!r}; the parameters are: {listed}.")
        index.append(result.names.index(name))
    if len(set(index)) != len(index):
        raise ValueError(f"{what}: give two different parameters, got {names!r}.")
    fixed = [name for name in names if name in getattr(result, "fixed", ())]
    if fixed:
        raise ValueError(f"{what}: {', '.join(fixed)} is fixed; a fixed parameter has no profile.")
    base = result if getattr(result, "free_fit", None) is None else result.free_fit
    free = list(range(len(result.names))) if base is result else list(result.constraints.free)
    d = base.diagnostics
    if not (bool(d.hessian_is_pd) and bool(d.converged) and not bool(d.is_saddle)):
        raise ValueError(f"{what} needs a certified maximum; this fit is not one: {str(d).splitlines()[0]}")
    return base, [free.index(i) for i in index], index


def _to_natural_points(result, base, points: np.ndarray) -> np.ndarray:
    """Base-coordinate points ``(k, m)`` -> natural flat points ``(k, n)``."""
    if base is result:
        return points
    return result.constraints.natural(points)


@float64_entry_point
def profile_curve(result, name: str, n_points: int = 21, bound=None) -> ProfileCurve:
    """The profile log-likelihood of ``name`` on a grid, all points in one vmapped program.

    Parameters
    ----------
    result : FitResult
        A certified fit (one, not a batch).
    name : str
        A parameter name as in ``result.names``.
    n_points : int
        Grid size (>= 3).
    bound : (float, float), optional
        Natural-scale range of the grid. Default: the 99% profile interval
        widened by 10% of its width on each side that is not a bound of
        ``fit(bounds=...)`` (a one-sided interval stops at the bound).

    Returns
    -------
    ProfileCurve

    Raises
    ------
    ValueError
        If ``name`` is unknown or fixed, ``n_points`` < 3, ``bound`` is not an
        increasing pair inside the parameter's bounds, or the fit is not a
        certified maximum.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * (y - p["mu"]) ** 2
    >>> res = hj.fit(loglik, {"mu": 0.0}, np.array([0.0, 1.0, 2.0]))
    >>> curve = res.profile("mu", n_points=5, bound=(0.0, 2.0))
    >>> np.round(curve.drop, 6)  # 3 (mu - 1)^2 / 2: exactly quadratic
    array([1.5  , 0.375, 0.   , 0.375, 1.5  ])
    """
    if not isinstance(n_points, (int, np.integer)) or isinstance(n_points, bool) or n_points < 3:
        raise ValueError(f"`n_points` must be an int >= 3, got {n_points!r}.")
    base, (k,), (i,) = _free_setup(result, (name,), "profile()")
    estimate = float(result.estimate[i])
    if bound is None:
        with warnings.catch_warnings():  # a profile/Wald disagreement is what the curve shows
            warnings.simplefilter("ignore", IntervalWarning)
            lo, hi = profile_intervals(result, level=0.99).intervals[i]
        c = getattr(result, "constraints", None)
        lower, upper = (-np.inf, np.inf) if c is None else c.bounds_at(i)
        width = hi - lo if np.isfinite(hi - lo) else 4.0 * max(abs(estimate - lo), abs(hi - estimate), 1.0)
        lo = lo if lo == lower else (lo - 0.1 * width if np.isfinite(lo) else estimate - width)
        hi = hi if hi == upper else (hi + 0.1 * width if np.isfinite(hi) else estimate + width)
    else:
        if not (isinstance(bound, (tuple, list)) and len(bound) == 2 and float(bound[0]) < float(bound[1])):
            raise ValueError(f"`bound` must be an increasing pair (lower, upper), got {bound!r}.")
        lo, hi = float(bound[0]), float(bound[1])
    values = np.linspace(lo, hi, int(n_points))
    if base is result:
        pinned = values
    else:  # the grid in free coordinates; a grid end on a bound moves just inside it
        pinned = result.constraints.free_coordinate(i, values)
        if not np.all(np.isfinite(pinned[1:-1])):
            raise ValueError(f"`bound` {(lo, hi)} leaves the bounds of {name}.")
        pinned[0], pinned[-1] = (np.nan_to_num(pinned[j], posinf=30.0, neginf=-30.0) for j in (0, -1))
    obj = base.objective
    m = obj.spec.size
    program = obj.program(("profile-curve",), lambda: jax.jit(jax.vmap(
        _pinned_solver(obj), in_axes=(None, None, None, 0, None))))
    mask = np.arange(m) == k
    t = np.tile(base.estimate, (len(values), 1))
    t[:, k] = pinned
    points, nll, _, ok = program(
        jnp.asarray(base.estimate), base.data, jnp.asarray(mask), jnp.asarray(t), jnp.zeros(m))
    loglik = -np.asarray(nll)
    params = np.array(_to_natural_points(result, base, np.asarray(points)))
    params[:, i] = values
    return ProfileCurve(
        name=name, values=values, loglik=loglik, drop=float(result.loglik) - loglik,
        params=params, converged=np.asarray(ok), estimate=estimate, names=tuple(result.names),
    )


@float64_entry_point
def profile_contour(result, name1: str, name2: str, level: float = 0.95, n_points: int = 40) -> np.ndarray:
    """Points on the boundary of the 2-D profile-likelihood confidence region (iminuit's ``mncontour``).

    The region is where the log-likelihood maximized over the other
    parameters drops by at most chi2_2(level) / 2 (Wilks). Along each of
    ``n_points`` rays from the estimate, through the points of the Wald
    ellipse, the boundary is found by safeguarded Newton on the ray's length
    with the exact slope (as for :func:`profile_intervals`); every ray runs in
    one vmapped program. For a linear Gaussian model the region is exactly
    the Wald ellipse (theta - theta_hat)' H (theta - theta_hat) = chi2_2(level).

    Parameters
    ----------
    result : FitResult
        A certified fit.
    name1, name2 : str
        Two different, not fixed, parameter names.
    level : float
        Coverage probability of the region, in (0, 1).
    n_points : int
        Number of rays (>= 4), equally spaced in angle in the metric of the
        Wald ellipse.

    Returns
    -------
    numpy.ndarray
        ``(n_points, 2)`` natural-scale points, in order around the estimate;
        ``inf``/a bound where the region is open along a ray.

    Raises
    ------
    ValueError
        If a name is unknown, fixed or repeated, ``level`` is not in (0, 1),
        ``n_points`` < 4, or the fit is not a certified maximum.

    Warns
    -----
    IntervalWarning
        When the boundary could not be located along some rays.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):  # two independent means, unit variance: the region is a circle
    ...     return -0.5 * ((y[:, 0] - p["a"]) ** 2 + (y[:, 1] - p["b"]) ** 2)
    >>> res = hj.fit(loglik, {"a": 0.0, "b": 0.0}, np.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> pts = res.contour("a", "b", level=0.95, n_points=8)
    >>> r2 = 2 * ((pts[:, 0] - 1.0) ** 2 + (pts[:, 1] - 2.0) ** 2)  # (theta-hat)' H (theta-hat), H = 2 I
    >>> bool(np.allclose(r2, 5.991464547, rtol=1e-8))  # chi2_2(0.95)
    True
    """
    from scipy import stats

    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
    if not isinstance(n_points, (int, np.integer)) or isinstance(n_points, bool) or n_points < 4:
        raise ValueError(f"`n_points` must be an int >= 4, got {n_points!r}.")
    base, (k1, k2), (i1, i2) = _free_setup(result, (name1, name2), "contour()")
    obj = base.objective
    m = obj.spec.size
    q = 0.5 * stats.chi2.ppf(float(level), 2)
    cov = np.asarray(base.cov)[np.ix_([k1, k2], [k1, k2])]
    chol = np.linalg.cholesky(cov)
    angle = 2.0 * np.pi * np.arange(int(n_points)) / int(n_points)
    steps = np.sqrt(2.0 * q) * (chol @ np.stack([np.cos(angle), np.sin(angle)]))  # (2, k)
    directions = np.zeros((int(n_points), m))
    directions[:, k1], directions[:, k2] = steps[0], steps[1]
    masks = np.zeros((int(n_points), m), bool)
    masks[:, [k1, k2]] = True
    solve = obj.program(("profile",), lambda: _ray_solver(obj))
    points, found = solve(
        jnp.asarray(base.estimate), jnp.asarray(-float(base.loglik)), base.data,
        jnp.asarray(masks), jnp.asarray(directions), jnp.asarray(q),
    )
    points = np.asarray(points)
    if not np.all(np.asarray(found)):
        lost = int(np.sum(~np.asarray(found)))
        warn(f"contour(): the region's boundary could not be located along {lost} of "
             f"{int(n_points)} rays; those points are approximate.", IntervalWarning)
    natural = _to_natural_points(result, base, points)
    return natural[:, [i1, i2]]
