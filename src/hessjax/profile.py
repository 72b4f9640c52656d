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

__all__ = ["ProfileResult", "profile_intervals"]

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


def _endpoint_solver(obj: Objective):
    inner = TrustRegionNewton()

    def constrained_value(z, packed):
        args, mask, t = packed
        # x_i is pinned to t by substitution; the unit penalty gives the
        # otherwise unused z_i a curvature so the inner Hessian stays regular.
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

    def profile_at(z0, args, mask, t):
        packed = (args, mask, t)
        state, _, status = iterate(inner, fns, jnp.where(mask, t, z0), packed, options, _INNER_STEPS)
        x = jnp.where(mask, t, state.x)
        nll, g = obj.value_and_grad(x, args)
        return x, nll, jnp.sum(jnp.where(mask, g, 0.0)), status == Status.SUCCESS

    def endpoint(x_hat, nll_min, args, index, side, half_width, q):
        mask = jnp.arange(x_hat.shape[0]) == index
        start = x_hat[index]

        def psi(distance, z):
            x, nll, slope, ok = profile_at(z, args, mask, start + side * distance)
            return x, nll - nll_min - q, side * slope, ok

        d0 = half_width
        x0, f0, s0, ok0 = psi(d0, x_hat)
        carry = (d0, x0, f0, s0, ok0, jnp.asarray(0.0), jnp.asarray(jnp.inf), jnp.asarray(0))

        def cond(c):
            d, _, f, _, _, d_in, d_out, k = c
            converged = jnp.abs(f) <= _ENDPOINT_RTOL * jnp.maximum(q, 1.0)
            collapsed = (d_out - d_in) <= _BRACKET_RTOL * jnp.maximum(d, _TINY)
            unbounded = d_in > _UNBOUNDED * half_width
            return (k < _OUTER_STEPS) & ~converged & ~collapsed & ~unbounded

        def body(c):
            d, x, f, slope, _, d_in, d_out, k = c
            outside = ~jnp.isfinite(f) | (f > 0)
            d_in = jnp.where(outside, d_in, d)
            d_out = jnp.where(outside, d, d_out)
            newton = d - f / slope
            ok = jnp.isfinite(newton) & (newton > d_in) & (newton < d_out) & jnp.isfinite(f)
            fallback = jnp.where(jnp.isfinite(d_out), 0.5 * (d_in + d_out), 2.0 * d)
            d_next = jnp.where(ok, newton, fallback)
            # Warm start from the last constrained optimum inside the domain.
            z = jnp.where(jnp.isfinite(f), x, x_hat)
            x, f, slope, ok_inner = psi(d_next, z)
            return d_next, x, f, slope, ok_inner, d_in, d_out, k + 1

        d, _, f, _, ok_inner, d_in, _, _ = jax.lax.while_loop(cond, body, carry)
        converged = (jnp.abs(f) <= _ENDPOINT_RTOL * jnp.maximum(q, 1.0)) & ok_inner
        unbounded = d_in > _UNBOUNDED * half_width
        value = jnp.where(unbounded, side * jnp.inf, start + side * d)
        return value, converged | unbounded

    batched = jax.vmap(endpoint, in_axes=(None, None, None, 0, 0, 0, None))
    return jax.jit(batched)


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
    solve = obj.program(("profile",), lambda: _endpoint_solver(obj))
    q = 0.5 * stats.chi2.ppf(level, 1)
    half = np.sqrt(2.0 * q) * base.se_vector
    index = np.repeat(np.arange(n), 2)
    side = np.tile(np.array([-1.0, 1.0]), n)
    values, converged = solve(
        jnp.asarray(base.estimate), jnp.asarray(-float(base.loglik)), base.data,
        jnp.asarray(index), jnp.asarray(side), jnp.asarray(np.repeat(half, 2)), jnp.asarray(q),
    )
    intervals = np.asarray(values).reshape(n, 2)
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
