"""Strong-Wolfe line search, Nocedal & Wright (2006) Algorithms 3.5 and 3.6.

Branch-free: one ``lax.while_loop`` over a small state machine (bracketing,
then zoom), so it runs under ``jit`` and ``vmap``. Non-finite trial values
(``f`` undefined outside its domain, e.g. ``log(x)`` for ``x <= 0``) are
treated as "too far": the trial becomes the upper end of the bracket, so the
search backtracks into the domain instead of failing.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from .._precision import EPS

__all__ = ["LineSearchResult", "strong_wolfe"]

_BRACKET, _ZOOM, _DONE = 0, 1, 2
# Relative size of the rounding noise in f. It is set by the magnitude of
# the terms f sums, not of f itself (0.5 x'Ax - b'x = 8.8 can be a difference
# of terms of 4e4), hence far above eps; Hager & Zhang use 1e-6. The slope
# conditions, which are accurate, carry the real test near the optimum.
_NOISE = EPS**0.5
# Safeguard: trials stay this fraction of the bracket away from its ends.
_MARGIN = 1e-3


class LineSearchResult(NamedTuple):
    alpha: jax.Array  # accepted step length (0 when nothing was accepted)
    f: jax.Array
    g: jax.Array
    nfev: jax.Array
    wolfe: jax.Array  # both strong-Wolfe conditions hold at alpha
    decreased: jax.Array  # alpha > 0 with sufficient decrease (Armijo)


class _State(NamedTuple):
    it: jax.Array
    stage: jax.Array
    a_trial: jax.Array
    a_lo: jax.Array
    f_lo: jax.Array
    d_lo: jax.Array
    g_lo: jax.Array
    a_hi: jax.Array
    f_hi: jax.Array
    d_hi: jax.Array


def _interpolate(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, noise):
    """Trial step inside (a_lo, a_hi): cubic, else quadratic, else bisection.

    Cubic interpolation is N&W eq. (3.59). When the two f values differ by
    no more than their rounding noise they carry no information, and the
    secant on the slope (exact for a quadratic; Hager & Zhang 2005) is used
    instead. An estimate too close to an end is clamped (Moré & Thuente 1994
    safeguarding) rather than replaced by bisection, so a large overshoot is
    corrected in one or two trials instead of one halving per trial.
    """
    width = a_hi - a_lo
    d1 = d_lo + d_hi - 3.0 * (f_lo - f_hi) / (a_lo - a_hi)
    disc = d1 * d1 - d_lo * d_hi
    d2 = jnp.sign(width) * jnp.sqrt(jnp.maximum(disc, 0.0))
    cubic = a_hi - width * (d_hi + d2 - d1) / (d_hi - d_lo + 2.0 * d2)
    quad_den = 2.0 * (f_hi - f_lo - d_lo * width)
    quadratic = a_lo - d_lo * width * width / quad_den
    secant = a_lo - d_lo * width / (d_hi - d_lo)
    lo_edge = jnp.minimum(a_lo, a_hi) + _MARGIN * jnp.abs(width)
    hi_edge = jnp.maximum(a_lo, a_hi) - _MARGIN * jnp.abs(width)

    slopes_ok = jnp.isfinite(d_hi) & jnp.isfinite(f_hi)
    f_informative = jnp.abs(f_hi - f_lo) > noise
    cubic_ok = jnp.isfinite(cubic) & (disc >= 0) & slopes_ok & f_informative
    secant_ok = jnp.isfinite(secant) & slopes_ok & (d_lo * d_hi < 0) & ~f_informative
    quad_ok = jnp.isfinite(quadratic) & (quad_den > 0) & jnp.isfinite(f_hi) & f_informative
    bisect = 0.5 * (a_lo + a_hi)
    estimate = jnp.where(
        cubic_ok, cubic, jnp.where(secant_ok, secant, jnp.where(quad_ok, quadratic, bisect))
    )
    return jnp.clip(estimate, lo_edge, hi_edge)


def strong_wolfe(
    value_and_grad: Callable,
    x: jax.Array,
    f0: jax.Array,
    g0: jax.Array,
    p: jax.Array,
    alpha0: jax.Array,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_steps: int = 30,
) -> LineSearchResult:
    """Find ``alpha`` with ``f(x + alpha p)`` satisfying the strong Wolfe conditions.

    ``value_and_grad(z)`` returns ``(f(z), grad f(z))``; ``p`` must be a
    descent direction (``g0 @ p < 0``). c1 = 1e-4 and c2 = 0.9 are N&W's
    values for quasi-Newton methods. If the conditions cannot be met within
    ``max_steps`` evaluations, the best point with sufficient decrease is
    returned with ``wolfe=False``; if there is none, ``alpha = 0``.
    """
    d0 = jnp.dot(g0, p)
    # Near an optimum the decrease g'p is below the rounding level of f, and
    # comparisons of f values are noise. There, Hager & Zhang's (2005)
    # approximate Wolfe condition judges decrease by the (accurate) slope:
    # f within rounding of f0 and d <= (2 c1 - 1) d0, exact for quadratics.
    noise = _NOISE * jnp.maximum(jnp.abs(f0), 1.0)

    def sufficient(a, f, d):
        # N&W (3.6a), on the difference: with a tiny slope, c1 a d0 vanishes
        # when added to f0, and f == f0 would pass.
        armijo = f - f0 <= c1 * a * d0
        approximate = (f <= f0 + noise) & (d <= (2.0 * c1 - 1.0) * d0)
        return armijo | approximate

    def curvature(d):
        return jnp.abs(d) <= -c2 * d0  # strong Wolfe, N&W (3.7b)

    init = _State(
        it=jnp.asarray(0, jnp.int32),
        stage=jnp.asarray(_BRACKET, jnp.int32),
        a_trial=jnp.asarray(alpha0, x.dtype),
        a_lo=jnp.zeros((), x.dtype),
        f_lo=f0,
        d_lo=d0,
        g_lo=g0,
        a_hi=jnp.asarray(jnp.inf, x.dtype),
        f_hi=jnp.asarray(jnp.inf, x.dtype),
        d_hi=jnp.asarray(jnp.nan, x.dtype),
    )

    def cond(s: _State):
        collapsed = (s.stage == _ZOOM) & (
            jnp.abs(s.a_hi - s.a_lo) <= EPS * jnp.maximum(jnp.abs(s.a_lo), jnp.abs(s.a_hi))
        )
        return (s.stage != _DONE) & (s.it < max_steps) & ~collapsed

    def body(s: _State):
        a = s.a_trial
        f, g = value_and_grad(x + a * p)
        d = jnp.dot(g, p)
        finite = jnp.isfinite(f) & jnp.isfinite(d)

        # Bracketing (Alg. 3.5): a is too long if it breaks sufficient decrease,
        # is not finite, or is no better than the previous trial.
        too_long = ~finite | ~sufficient(a, f, d) | ((s.it > 0) & (f > s.f_lo + noise))
        uphill = finite & (d >= 0)
        in_bracket = s.stage == _BRACKET
        # Zoom (Alg. 3.6): the trial replaces hi if it is too long, else lo;
        # when the slope at the new lo points towards hi's far side, hi <- old lo.
        zoom_too_long = ~finite | ~sufficient(a, f, d) | (f > s.f_lo + noise)
        flip = finite & (d * (s.a_hi - s.a_lo) >= 0)

        new_hi_is_trial = jnp.where(in_bracket, too_long, zoom_too_long)
        # Accept only a trial that is not too long (the order of Alg. 3.5/3.6),
        # so an accepted trial is always the new lo that is returned.
        accept = ~new_hi_is_trial & curvature(d)
        new_hi_is_old_lo = jnp.where(in_bracket, ~too_long & uphill, ~zoom_too_long & flip)
        new_lo_is_trial = ~new_hi_is_trial

        a_hi = jnp.where(new_hi_is_trial, a, jnp.where(new_hi_is_old_lo, s.a_lo, s.a_hi))
        f_hi = jnp.where(new_hi_is_trial, f, jnp.where(new_hi_is_old_lo, s.f_lo, s.f_hi))
        d_hi = jnp.where(new_hi_is_trial, d, jnp.where(new_hi_is_old_lo, s.d_lo, s.d_hi))
        a_lo = jnp.where(new_lo_is_trial, a, s.a_lo)
        f_lo = jnp.where(new_lo_is_trial, f, s.f_lo)
        d_lo = jnp.where(new_lo_is_trial, d, s.d_lo)
        g_lo = jnp.where(new_lo_is_trial, g, s.g_lo)

        keeps_bracketing = in_bracket & ~too_long & ~uphill & ~accept
        stage = jnp.where(
            accept, _DONE, jnp.where(keeps_bracketing, _BRACKET, _ZOOM)
        ).astype(jnp.int32)
        # Still bracketing: extrapolate (the step was acceptable but too short).
        next_trial = jnp.where(
            keeps_bracketing, 2.0 * a, _interpolate(a_lo, f_lo, d_lo, a_hi, f_hi, d_hi, noise)
        )
        return _State(s.it + 1, stage, next_trial, a_lo, f_lo, d_lo, g_lo, a_hi, f_hi, d_hi)

    s = jax.lax.while_loop(cond, body, init)
    wolfe = s.stage == _DONE
    # On acceptance the accepted trial was stored as the new "lo".
    decreased = s.a_lo > 0
    return LineSearchResult(
        alpha=s.a_lo, f=s.f_lo, g=s.g_lo, nfev=s.it, wolfe=wolfe, decreased=decreased
    )
