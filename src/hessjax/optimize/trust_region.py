"""The trust-region machinery every trust-region solver calls.

One acceptance and radius-update rule, :func:`trust_region_update`, serves
``method="newton"`` (:mod:`.newton`), Newton-CG (:mod:`.newton_cg`) and
Levenberg–Marquardt (:mod:`.levenberg_marquardt`); one exact subproblem
solver, :func:`solve_trust_region_subproblem`, serves Newton and
Levenberg–Marquardt (Newton-CG solves its subproblem with Steihaug's CG,
:func:`hessjax.krylov.steihaug_cg`).

The rule is Nocedal & Wright (2006) Algorithm 4.1: with the ratio

    rho = (f(x) - f(x + p)) / (m(0) - m(p))

of actual to predicted reduction, a step is taken when rho > ``ETA``; the
radius shrinks to a quarter of the step when rho < 1/4 and doubles when
rho > 3/4. Levenberg–Marquardt doubles the *step* instead of the radius on a
good step (Moré 1978, sec. 7; MINPACK ``lmder``), so its bound also shrinks
after short interior steps: :attr:`TrustRegionRule.expand`.

Rounding. When both reductions are at the rounding level of f, their ratio is
noise: f evaluated as a sum of terms carries an error of a few ulps of its
largest term, so a ratio of two such differences can be anything. Such a step
is judged as if the model were exact (rho = 1), and only the solver's own
measure of progress (the relative gradient; for Levenberg–Marquardt the
residual angle), which is computed from accurate derivatives, decides whether
there is anything left to gain (``stalled``). The solvers differ in how they
detect that level and what they ask of a step there; each keeps its own
behaviour through a :class:`TrustRegionRule` (:data:`NEWTON_RULE`,
:data:`NEWTON_CG_RULE`, :data:`LEVENBERG_MARQUARDT_RULE`).

References
----------
Nocedal, J. & Wright, S. J. (2006). *Numerical Optimization*, 2nd ed.,
Algorithm 4.1 (radius update), sec. 4.3 and Algorithm 4.3 (exact subproblem).
Moré, J. J. (1978). The Levenberg–Marquardt algorithm: implementation and
theory. *Numerical Analysis*, LNM 630, 105–116 (scaled trust region, sec. 7).
Moré, J. J. & Sorensen, D. C. (1983). Computing a trust region step. *SIAM J.
Sci. Stat. Comput.* 4, 553–572 (the hard case).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp

from .._precision import EPS
from .base import newton_components

__all__ = [
    "ETA",
    "SHRINK_BELOW",
    "EXPAND_ABOVE",
    "SHRINK_FACTOR",
    "EXPAND_FACTOR",
    "BOUNDARY_FRACTION",
    "NOISE_ULPS",
    "STALL_FACTOR",
    "TrustRegionRule",
    "TrustRegionUpdate",
    "NEWTON_RULE",
    "NEWTON_CG_RULE",
    "LEVENBERG_MARQUARDT_RULE",
    "rounding_level",
    "assess_step",
    "accept_trial",
    "trust_region_update",
    "radius_collapsed",
    "solve_trust_region_subproblem",
]

# -- the acceptance / radius constants ---------------------------------------------------

#: N&W Alg. 4.1's eta in [0, 1/4): a step is taken when rho > ETA. Any small
#: positive value takes every step with a real decrease; 1e-4 is the usual
#: sufficient-decrease constant (N&W sec. 3.1, c1 = 1e-4).
ETA = 1e-4
#: rho below this: the model is poor, the radius shrinks (N&W Alg. 4.1).
SHRINK_BELOW = 0.25
#: rho above this: the model is good, the radius grows (N&W Alg. 4.1).
EXPAND_ABOVE = 0.75
#: A shrunk radius is this fraction of the step's length (not of the old
#: radius), so a step into a non-finite region contracts quickly.
SHRINK_FACTOR = 0.25
#: A grown radius is this multiple of the radius (or of the step).
EXPAND_FACTOR = 2.0
#: A step "reaches the boundary" when its length is at least this fraction of
#: the radius. Far above rounding (the subproblem solvers place boundary steps
#: to relative 1e-6), far below 1 (interior Newton steps are not expanded).
BOUNDARY_FRACTION = 0.99
#: The rounding level of f, in ulps of max(|f|, floor): a sum of terms is
#: accurate to a few ulps of its magnitude (pairwise summation gives
#: O(log n) eps); 10 ulps is safely above that and still far below every
#: reduction the model can predict away from the optimum.
NOISE_ULPS = 10.0
#: A step at the rounding level of f that does not reduce the solver's
#: progress measure (relative gradient, residual angle) at least by this factor
#: means float64 is exhausted there (quadratic convergence would square it).
STALL_FACTOR = 0.5

# Iterations of the safeguarded Newton solve of the secular equation; it
# converges monotonically from the left (N&W Alg. 4.3), quadratically near
# the root, so this is far more than needed, but costs only O(n) each.
_SECULAR_STEPS = 60
# A subproblem step within this relative distance of the radius is on the
# boundary (the secular solve converges far tighter; this only separates it
# from the hard case).
_BOUNDARY_RTOL = 1e-6
# Eigenvalues within this many ulps of the largest of lam_min belong to the
# minimal eigenspace (the hard case); eigh is accurate to O(n eps |lam|_max).
_DEGENERATE_ULPS = 1e3


@dataclasses.dataclass(frozen=True)
class TrustRegionRule:
    """How one solver applies the shared rule (static: selects the compiled program).

    Attributes
    ----------
    noise_floor : float
        The rounding level of f is ``NOISE_ULPS * eps * max(|f|, noise_floor)``.
        1 for objectives of any sign (an absolute floor where f is near 0);
        ``eps`` for a residual sum of squares, which reaches ~0 on zero-residual
        fits (NIST Lanczos1, RSS 1e-25) where an absolute floor of 1 would call
        every step there noise.
    noise_test : {"predicted", "both"}
        ``"predicted"``: a step is at the rounding level when the *predicted*
        reduction is (its actual reduction is then noise whatever its size,
        which can exceed eps |f| when f is a sum of large cancelling terms).
        ``"both"``: when the actual and the predicted reductions both are.
    noise_needs_progress : bool
        A step at the rounding level is taken only if the solver's progress
        measure improves (``method="newton"``: the relative gradient must
        shrink); otherwise it is taken like any step with rho = 1.
    expand : {"radius", "step"}
        On a good step (rho > 3/4): ``"radius"`` doubles the radius when the
        step reached the boundary (N&W Alg. 4.1); ``"step"`` sets the radius to
        twice the step, boundary or not (Moré 1978; MINPACK ``lmder``).
    """

    noise_floor: float = 1.0
    noise_test: Literal["predicted", "both"] = "both"
    noise_needs_progress: bool = False
    expand: Literal["radius", "step"] = "radius"

    def __post_init__(self):
        if self.noise_test not in ("predicted", "both"):
            raise ValueError(f"noise_test must be 'predicted' or 'both', got {self.noise_test!r}.")
        if self.expand not in ("radius", "step"):
            raise ValueError(f"expand must be 'radius' or 'step', got {self.expand!r}.")


#: ``method="newton"``: below the rounding level of the predicted reduction the
#: step is judged by the gradient alone, and taken only if it shrinks it.
NEWTON_RULE = TrustRegionRule(noise_floor=1.0, noise_test="predicted", noise_needs_progress=True)
#: Newton-CG: both reductions at rounding level; the step is taken (rho = 1).
NEWTON_CG_RULE = TrustRegionRule(noise_floor=1.0, noise_test="both")
#: Levenberg–Marquardt: f = RSS/2 >= 0 may reach ~0, hence the eps floor;
#: radius from the step length (Moré 1978).
LEVENBERG_MARQUARDT_RULE = TrustRegionRule(noise_floor=EPS, noise_test="both", expand="step")


class TrustRegionUpdate(NamedTuple):
    """The decisions of :func:`assess_step` / :func:`trust_region_update`."""

    rho: jax.Array  # ratio used for the decisions (1 at noise, -inf for a failed trial)
    at_noise: jax.Array  # the reductions are at the rounding level of f
    accept: jax.Array  # rho > ETA: evaluate derivatives at the trial point
    radius: jax.Array  # the next radius (after assess_step: if the trial is admissible)
    success: jax.Array  # the trial was taken (trust_region_update only)
    stalled: jax.Array  # at noise without progress (trust_region_update only)


def rounding_level(f, floor):
    """``NOISE_ULPS * eps * max(|f|, floor)``: reductions of f below this are noise."""
    return NOISE_ULPS * EPS * jnp.maximum(jnp.abs(f), floor)


def assess_step(rule: TrustRegionRule, f, f_trial, predicted, step_norm, radius) -> TrustRegionUpdate:
    """Ratio, acceptance and next radius of one trial step (N&W Alg. 4.1).

    ``predicted`` is the model decrease m(0) - m(p) (> 0 for a useful step),
    ``step_norm`` the step's length in the norm of the trust region. A trial
    with a non-finite f or a non-positive predicted decrease gets rho = -inf:
    rejected, radius a quarter of the step. The returned radius applies if the
    trial turns out admissible; :func:`trust_region_update` also handles the
    trial whose derivatives are not.
    """
    actual = f - f_trial
    rho = actual / predicted
    noise = rounding_level(f, rule.noise_floor)
    at_noise = predicted <= noise
    if rule.noise_test == "both":
        at_noise = (jnp.abs(actual) <= noise) & at_noise
    rho = jnp.where(at_noise, 1.0, rho)
    rho = jnp.where(jnp.isfinite(f_trial) & (predicted > 0), rho, -jnp.inf)
    accept = rho > ETA
    if rule.expand == "radius":
        expand = (rho > EXPAND_ABOVE) & (step_norm >= BOUNDARY_FRACTION * radius)
        grown = EXPAND_FACTOR * radius
    else:
        expand = rho > EXPAND_ABOVE
        grown = EXPAND_FACTOR * step_norm
    new_radius = jnp.where(
        rho < SHRINK_BELOW, SHRINK_FACTOR * step_norm, jnp.where(expand, grown, radius)
    )
    false = jnp.zeros_like(accept)
    return TrustRegionUpdate(rho, at_noise, accept, new_radius, false, false)


def accept_trial(accept: jax.Array, evaluate: Callable, current: tuple, admissible: Callable):
    """Evaluate a trial point only when it is accepted; keep it only when admissible.

    ``evaluate()`` (derivatives at the trial point) runs only when ``accept``
    (``lax.cond``; under ``vmap`` both branches run and are selected). A trial
    whose derivatives are not finite (``admissible(new)`` false: the edge of
    the function's domain) is rejected like a poor step. Returns
    ``(state_tuple, success)``.
    """
    new = jax.lax.cond(accept, lambda _: evaluate(), lambda _: current, None)
    success = accept & admissible(new)
    chosen = jax.tree_util.tree_map(lambda a, b: jnp.where(success, a, b), new, current)
    return chosen, success


def trust_region_update(
    rule: TrustRegionRule,
    *,
    f,
    f_trial,
    predicted,
    step_norm,
    radius,
    evaluate: Callable,
    current: tuple,
    finite: Callable,
    progress: Callable,
    allow=None,
    force=None,
):
    """One trust-region decision, the same for every trust-region solver.

    Parameters
    ----------
    rule : TrustRegionRule
        The solver's noise and expansion conventions.
    f, f_trial : scalar arrays
        The objective at the current and at the trial point.
    predicted : scalar array
        The model's decrease m(0) - m(p).
    step_norm, radius : scalar arrays
        The step's length and the radius, in the trust region's norm.
    evaluate : callable
        ``evaluate() -> tuple`` like ``current``, derivatives at the trial
        point; called only for an accepted step.
    current : tuple
        The solver's current point and derivatives.
    finite : callable
        ``finite(new) -> bool``: the trial's derivatives are finite.
    progress : callable
        ``progress(state_tuple) -> scalar``: the solver's measure of distance
        to a solution computed from derivatives (relative gradient, residual
        angle). At the rounding level of f it is the only judge:
        ``stalled`` when a step there does not reduce it by ``STALL_FACTOR``,
        and, under ``rule.noise_needs_progress``, a step there is taken only
        if it reduces it at all.
    allow : bool array, optional
        Extra condition for taking a step (``accept &= allow``).
    force : bool array, optional
        Take the trial whatever the ratio and its derivatives (a solver's
        first evaluation of its starting point).

    Returns
    -------
    (chosen, TrustRegionUpdate)
        ``chosen`` is the trial tuple when the step was taken, else
        ``current``; the update carries rho, ``at_noise``, ``accept``, the
        next radius (a quarter of the step after any rejection, including a
        trial with non-finite derivatives), ``success`` and ``stalled``.
    """
    update = assess_step(rule, f, f_trial, predicted, step_norm, radius)
    accept = update.accept if allow is None else update.accept & allow
    at_noise = update.at_noise
    before = progress(current)

    def admissible(new):
        ok = finite(new)
        if rule.noise_needs_progress:
            ok = ok & (~at_noise | (progress(new) < before))
        return ok

    if force is not None:
        accept = accept | force
        taken = admissible
        admissible = lambda new: taken(new) | force  # noqa: E731
    chosen, success = accept_trial(accept, evaluate, current, admissible)
    keep = success | ~accept
    new_radius = jnp.where(keep, update.radius, SHRINK_FACTOR * step_norm)
    stalled = at_noise & (progress(chosen) >= STALL_FACTOR * before)
    return chosen, TrustRegionUpdate(update.rho, at_noise, accept, new_radius, success, stalled)


def radius_collapsed(radius, scaled_x):
    """The radius is below the resolution of x: ``radius <= eps max(||D x||, 1)``.

    No step the trust region allows can change x beyond rounding, so nothing
    more can be gained (``Status.STALLED`` unless converged).
    """
    return radius <= EPS * jnp.maximum(jnp.linalg.norm(scaled_x), 1.0)


def solve_trust_region_subproblem(eigenvalues, eigenvectors, g, radius):
    """Exact minimizer of g'p + p'Hp/2 over ||p|| <= radius, H = Q diag(lam) Q'.

    Returns ``(p, predicted_decrease)``. With ``sigma >= max(0, -lam_min)``,
    p(sigma) = -Q (lam + sigma)^-1 Q'g; sigma = 0 if the Newton step is
    interior, else ||p(sigma)|| = radius (the secular equation, solved by
    safeguarded Newton on 1/||p||, which is nearly linear in sigma; N&W
    Alg. 4.3), else the hard case p = p(-lam_min) + tau q_min (g has no
    component along q_min; Moré & Sorensen 1983).
    """
    lam_min = eigenvalues[0]
    gq = eigenvectors.T @ g
    scale = jnp.maximum(jnp.max(jnp.abs(eigenvalues)), jnp.finfo(g.dtype).tiny)

    def components(sigma):
        # A zero shifted eigenvalue with a zero gradient component contributes
        # nothing (that is the hard case); with a non-zero one, the step is unbounded.
        return newton_components(gq, eigenvalues + sigma)

    def step_norm(sigma):
        return jnp.linalg.norm(components(sigma))

    sigma_lo = jnp.maximum(0.0, -lam_min)
    sigma_hi = sigma_lo + jnp.linalg.norm(gq) / radius + scale * EPS
    interior = (lam_min > 0) & (step_norm(0.0) <= radius)

    def secular(carry, _):
        sigma, lo, hi = carry
        pq = components(sigma)
        norm = jnp.linalg.norm(pq)
        too_long = norm > radius
        lo = jnp.where(too_long, sigma, lo)
        hi = jnp.where(too_long, hi, sigma)
        denom = eigenvalues + sigma
        dnorm = -jnp.sum(pq**2 / jnp.where(denom > 0, denom, 1.0)) / norm
        # Newton on phi(sigma) = 1/radius - 1/||p(sigma)||  (N&W Alg. 4.3).
        newton = sigma - (1.0 / radius - 1.0 / norm) * norm**2 / dnorm
        ok = jnp.isfinite(newton) & (newton > lo) & (newton < hi)
        sigma = jnp.where(ok, newton, 0.5 * (lo + hi))
        return (sigma, lo, hi), None

    start = 0.5 * (sigma_lo + sigma_hi)
    (sigma, _, _), _ = jax.lax.scan(
        secular, (start, sigma_lo, sigma_hi), None, length=_SECULAR_STEPS
    )
    sigma = jnp.where(interior, 0.0, sigma)
    pq = components(sigma)
    reached_boundary = jnp.all(jnp.isfinite(pq)) & (
        jnp.linalg.norm(pq) >= (1.0 - _BOUNDARY_RTOL) * radius
    )

    # Hard case: even at sigma = -lam_min the step misses the boundary, so
    # move along the minimal eigenvector to it, choosing the sign that does
    # not increase the linear term.
    degenerate = eigenvalues - lam_min <= _DEGENERATE_ULPS * EPS * scale
    off_min = jnp.where(degenerate, 0.0, components(sigma_lo))
    off_min = jnp.where(jnp.isfinite(off_min), off_min, 0.0)
    tau = jnp.sqrt(jnp.maximum(radius**2 - jnp.sum(off_min**2), 0.0))
    direction = jnp.where(gq[0] > 0, -1.0, 1.0)
    pq_hard = off_min + direction * tau * jnp.zeros_like(gq).at[0].set(1.0)
    hard = (~interior) & (lam_min <= 0) & ~reached_boundary
    pq = jnp.where(hard, pq_hard, pq)

    p = eigenvectors @ pq
    predicted = -(jnp.dot(gq, pq) + 0.5 * jnp.dot(eigenvalues * pq, pq))
    return p, predicted
