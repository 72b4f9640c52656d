"""The optimum certificate: can the exact-Hessian standard errors be used?

Each flag is computed from exact derivatives and a few log-likelihood values
at the estimate. Positive definiteness and conditioning are judged on the
correlation-scaled observed information S = D^-1 H D^-1 (unit diagonal), so
the verdict does not depend on parameter units; whether the quadratic model
behind the standard errors holds is judged by evaluating the log-likelihood
at the ends of each parameter's Wald interval.

Flags, their causes and fixes
-----------------------------
converged
    The estimate is at the maximum to working precision: the optimizer's
    test passed, or (the information being positive definite) the Newton
    step to the maximum is below ``decrement_tolerance`` in standard-error
    units. The second clause makes a point found elsewhere (``max_steps=0``)
    or a fit whose gradient is rounding-limited (covariates in the hundreds)
    certifiable. If false: raise ``max_steps``, start closer, rescale.
grad_norm
    Largest absolute gradient component of the log-likelihood. Informational.
at_maximum
    Positive definite information and the Newton step to the maximum below
    1e-3 SE (``decrement_tolerance``) or within rounding of x in every
    coordinate (noise-free data, where the SEs themselves are rounding-level).
newton_decrement, newton_step_se
    g' H^-1 g (twice the predicted log-likelihood gain of one more Newton
    step) and the largest component of the Newton step in standard errors,
    max_i |(H^-1 g)_i| / se_i <= sqrt(decrement): how far the estimate is
    from the maximum, in the units inference cares about.
hessian_is_pd
    The observed information is positive definite beyond ``flat_tolerance``
    (scaled eigenvalues). If false, standard errors are NaN.
min_eigenvalue, max_eigenvalue, condition_number
    Extreme eigenvalues of the information in the parameters' own units, and
    the condition number of the scaled information.
is_saddle
    A negative scaled eigenvalue: the likelihood increases along some
    direction, so this is not a maximum.
wald_adequate, quadratic_ratio
    Per parameter: along the direction in which the Wald interval of
    parameter i is built (x + t cov[:, i] / se_i, which moves parameter i by
    t standard errors and the others by their regression on it), the
    quadratic model predicts a log-likelihood drop of t^2 / 2 (plus the
    linear term). ``quadratic_ratio`` is actual / predicted drop at t = -1.96,
    -1, 1, 1.96 (where a straight-line drop is too steep on both sides, with
    the other parameters re-fitted: see :func:`refit_probes`).
    ``wald_adequate`` requires no ratio below 1/10 (too flat: the likelihood
    barely drops on that side, the estimate is running off to infinity -
    separation, a variance at zero on the log scale, a probability at 0 or 1
    through a logit) and not both ratios at +-1 SE above 10 (too steep on
    both sides: the Hessian understates the curvature - a degenerate optimum
    where it vanishes). Steepness on one side only is a skewed likelihood
    whose Wald interval is conservative there; it is shown, not rejected.
    Differences below the measured rounding noise of f are not judged.
at_boundary
    Per parameter: the log-likelihood is NaN at an end of the 95% Wald
    interval: the interval leaves the function's domain. (A log-likelihood
    that is merely -inf there, e.g. from overflow, counts as a very steep
    drop in ``quadratic_ratio``, not as a boundary.)
nonfinite_derivative
    Per parameter: the log-likelihood is finite but its gradient or its
    Hessian row is not (typically ``jnp.where`` around ``log(0)``; see the
    JAX FAQ's "double where").
grows_without_bound, loglik_start
    The fit did not reach a maximum and the log-likelihood rose from
    ``loglik_start`` (its value at ``init``) by orders of magnitude: it has no
    maximum - typically a negative log-likelihood passed to ``fit``, which
    maximizes. Computed by the eager ``fit`` only when the fit failed.
weakest_gain
    Log-likelihood gain one scaled unit either way along the weakest
    direction (the smallest scaled eigenvalue). On a flat direction, a gain
    above the rounding noise means the maximum lies at infinity (not a
    non-identified model, where the likelihood is exactly constant).
loglik_noise
    Measured rounding noise of the log-likelihood at the estimate.
is_valid
    converged, positive definite, no saddle, Newton decrement below
    tolerance, every derivative finite, and every Wald interval inside the
    domain with the quadratic model adequate: the standard errors and Wald
    intervals can be used.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import EPS, decrement_tolerance, is_traced
from .report import render_diagnostics, render_diagnostics_html
from .covariance import ScaledSpectrum, definiteness, spectrum_definiteness
from .optimize.base import Status, step_resolved
from .warnings import BoundaryWarning, ConvergenceWarning, HessianWarning, warn

__all__ = [
    "Diagnostics",
    "Probes",
    "certify",
    "likelihood_probes",
    "refit_probes",
    "needs_refit",
    "decrement_tolerance",
    "QUADRATIC_RATIO_RANGE",
    "PROBE_POINTS",
]


#: Where the log-likelihood is probed, in standard errors along each
#: parameter's Wald direction: both 95% end points and one SE either side.
# z_0.975 from the standard library: evaluating JAX's ndtri here would compile a
# program at import time (0.4 s of every `import hessjax`).
_Z95 = statistics.NormalDist().inv_cdf(0.975)
PROBE_POINTS = (-_Z95, -1.0, 1.0, _Z95)

#: Actual / predicted log-likelihood drop at the probes. A ratio r moves the
#: point where the likelihood reaches the drop the Wald interval assumes by
#: about 1/sqrt(r). Below 0.1 at any probe (the end point more than sqrt(10) ~
#: 3.2 times too close: the interval is anti-conservative) the Wald interval
#: cannot be used; separation and a variance or probability at its bound give
#: ratios below 1e-6. Above 10 the likelihood is steeper than the Hessian says,
#: which on one side only is a skewed likelihood whose Wald interval is merely
#: conservative there (NIST Rat43, Nelson, Bennett5: 15 to 2e7 at one end);
#: above 10 on BOTH sides already at +-1 SE, the Hessian understates the
#: curvature everywhere at the scale of the SEs - a degenerate optimum (ratios
#: 1e7 to 1e24 in the cases users report). A well-posed model with n = 5
#: observations stays within [0.3, 5.2].
QUADRATIC_RATIO_RANGE = (0.1, 10.0)

# A probe difference counts only beyond this many times the measured noise of f.
_NOISE_FACTOR = 64.0


class Probes(NamedTuple):
    """Log-likelihood evaluations around the estimate (see :func:`likelihood_probes`)."""

    drops: jax.Array  # (n, 4) actual increase of the minimized objective at PROBE_POINTS
    refit_drops: jax.Array  # (n, 4) the same with the other parameters re-fitted (only if steep)
    predicted: jax.Array  # (n, 4) what the quadratic model predicts there
    nan_at: jax.Array  # (n,) NaN at some probe: the Wald interval leaves the domain
    noise: jax.Array  # () rounding noise of the objective at the estimate
    weakest_gain: jax.Array  # (2,) objective decrease one scaled unit either way along the weakest direction


INNER_FAILED = (
    "the inner (random-effects) Newton solve did not converge or its Hessian H_uu is not "
    "positive definite at the estimate: the Laplace marginal is not defined there"
)


def likelihood_probes(
    value: Callable, x: jax.Array, f: jax.Array, g: jax.Array, cov: jax.Array,
    se: jax.Array, spectrum: ScaledSpectrum,
) -> Probes:
    """Evaluate the minimized objective ``value(z)`` around the estimate (pure).

    4n points along the Wald directions cov[:, i] / se_i at
    :data:`PROBE_POINTS`, 2 along the weakest scaled eigenvector, and 2 a few
    ulps away to measure the rounding noise of f (the difference from the
    exact first-order change is pure rounding at that distance). All in one
    vmapped call.
    """
    n = x.shape[0]
    t = jnp.asarray(PROBE_POINTS, x.dtype)
    safe_se = jnp.where(jnp.isfinite(se) & (se > 0), se, 1.0)
    directions = jnp.nan_to_num(cov / safe_se[None, :]).T  # (n, n): row i moves x_i by se_i
    wald_points = x[None, None, :] + t[None, :, None] * directions[:, None, :]
    weakest = spectrum.eigenvectors[:, 0] / spectrum.scale
    eigen_points = x[None, :] + jnp.asarray([-1.0, 1.0], x.dtype)[:, None] * weakest[None, :]
    # Alternating signs, 4 ulps: far below any curvature effect, so only rounding is left.
    ulps = 4.0 * EPS * jnp.maximum(jnp.abs(x), jnp.finfo(x.dtype).tiny)
    delta = ulps * jnp.where(jnp.arange(n) % 2 == 0, 1.0, -1.0)
    noise_points = jnp.stack([x + delta, x - delta])
    points = jnp.concatenate([wald_points.reshape(4 * n, n), eigen_points, noise_points])
    values = jax.vmap(value)(points)
    wald_values = values[: 4 * n].reshape(n, 4)
    drops = wald_values - f
    slope = directions @ g  # first-order change per unit t
    predicted = t[None, :] * slope[:, None] + 0.5 * t[None, :] ** 2
    first_order = jnp.stack([g @ delta, -(g @ delta)])
    measured = jnp.abs(values[4 * n + 2:] - f - first_order)
    noise = jnp.maximum(jnp.max(jnp.where(jnp.isfinite(measured), measured, 0.0)), EPS * jnp.abs(f))
    return Probes(
        drops=drops,
        refit_drops=drops,
        predicted=predicted,
        nan_at=jnp.any(jnp.isnan(wald_values), axis=1),
        noise=noise,
        weakest_gain=f - values[4 * n: 4 * n + 2],
    )


#: Newton steps re-fitting the other parameters at a steep probe point.
_REFIT_STEPS = 20


def steep_both_sides(ratio):
    """Per parameter: the drop exceeds the range at both -1 and +1 SE (NumPy or JAX)."""
    hi = QUADRATIC_RATIO_RANGE[1]
    return (ratio[..., 1] > hi) & (ratio[..., 2] > hi)


def needs_refit(quadratic_ratio) -> bool:
    """Whether an eager result should be re-certified with :func:`refit_probes`."""
    return bool(np.any(steep_both_sides(np.asarray(quadratic_ratio))))


def refit_probes(value: Callable, x: jax.Array, cov: jax.Array, se: jax.Array, probes: Probes) -> Probes:
    """``probes`` with ``refit_drops``: the other parameters re-fitted at each probe (pure).

    In a curved valley (ill-conditioned nonlinear models such as NIST's
    Lanczos3) the straight Wald line leaves the valley floor, and its drop
    overstates the profile's by 1e4; the profile re-fits the others. Each of
    :data:`_REFIT_STEPS` steps is an exact-Hessian (saddle-free) Newton step in
    every parameter but the probed one (the information at the estimate is useless
    there: its step overshoots by orders of magnitude), halved until f
    decreases, else the point stays. The drop at a re-fitted point still bounds
    the profile drop from above, so a ratio in range stays a sound pass. Costs
    4n Hessians per step: callers run it only when :func:`needs_refit`.
    """
    n = x.shape[0]
    t = jnp.asarray(PROBE_POINTS, x.dtype)
    safe_se = jnp.where(jnp.isfinite(se) & (se > 0), se, 1.0)
    directions = jnp.nan_to_num(cov / safe_se[None, :]).T
    points = (x[None, None, :] + t[None, :, None] * directions[:, None, :]).reshape(4 * n, n)
    fixed = jnp.repeat(jnp.arange(n), 4)  # the probed parameter of each point
    f0 = value(x)

    def newton(z, i):
        fz = value(z)
        free = jnp.arange(n) != i

        def body(_, carry):
            z, fz = carry
            g = jnp.where(free, jax.grad(value)(z), 0.0)
            h = jax.hessian(value)(z)
            # Newton in the free coordinates: the fixed one gets a unit row/column
            # (with a zero gradient it never moves). Far off the valley floor the
            # Hessian can be indefinite: |eigenvalues| keep the step a descent
            # direction (the "saddle-free" Newton step, Dauphin et al. 2014).
            h = jnp.where(free[:, None] & free[None, :], h, jnp.eye(n, dtype=h.dtype))
            lam, vecs = jnp.linalg.eigh(0.5 * (h + h.T))
            size = jnp.maximum(jnp.abs(lam), EPS * jnp.max(jnp.abs(lam)))
            d = -vecs @ ((vecs.T @ g) / size)
            d = jnp.where(jnp.isfinite(d), d, 0.0)

            def halve(k, best):
                zb, fb = best
                trial = z + (0.5**k) * d
                ft = value(trial)
                better = jnp.isfinite(ft) & (ft < fb)
                return jnp.where(better, trial, zb), jnp.where(better, ft, fb)

            return jax.lax.fori_loop(0, 10, halve, (z, fz))

        return jax.lax.fori_loop(0, _REFIT_STEPS, body, (z, fz))[1]

    refit = jax.vmap(newton)(points, fixed).reshape(n, 4)
    # Never above the straight line (the refit only decreases f).
    return probes._replace(refit_drops=jnp.minimum(refit - f0, probes.drops))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """Certificate of the optimum (see the module docstring for each flag).

    ``str(diagnostics)`` is a one-screen verdict; :meth:`directions` names
    the parameter combinations along flat or negative-curvature directions,
    :meth:`problems` every reason the standard errors cannot be used.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):  # y ~ N(a + b, 1): only a + b is identified
    ...     return -0.5 * jnp.sum((y - p["a"] - p["b"]) ** 2)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = hj.fit(loglik, {"a": 0.0, "b": 0.0}, np.array([1.0, 2.0, 3.0]))
    >>> bool(res.diagnostics.is_valid), bool(res.diagnostics.hessian_is_pd)
    (False, False)
    >>> print(res.diagnostics.directions()[0])
    0.707 a - 0.707 b: flat (scaled eigenvalue 0) - a and b are not separately identified
    """

    converged: jax.Array
    grad_norm: jax.Array
    newton_decrement: jax.Array
    hessian_is_pd: jax.Array
    min_eigenvalue: jax.Array
    max_eigenvalue: jax.Array
    condition_number: jax.Array
    is_saddle: jax.Array
    is_valid: jax.Array
    at_boundary: jax.Array
    scaled_eigenvalues: jax.Array
    scaled_eigenvectors: jax.Array
    newton_step_se: jax.Array = None
    at_maximum: jax.Array = None
    wald_adequate: jax.Array = None
    quadratic_ratio: jax.Array = None
    nonfinite_derivative: jax.Array = None
    weakest_gain: jax.Array = None
    loglik_noise: jax.Array = None
    grows_without_bound: jax.Array = None
    loglik_start: jax.Array = None
    # fit(..., bounds=...): per free parameter, the estimate is on its bound
    # (see hessjax.constraints.AT_BOUND_SE), and that bound's value (else NaN).
    at_bound: jax.Array = None
    bound_value: jax.Array = None
    # fit_laplace: the inner (random-effects) solve failed at the estimate.
    inner_failed: jax.Array = None
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))

    # -- reasons -----------------------------------------------------------------------
    @property
    def runs_off(self) -> bool:
        """The log-likelihood still increases (above its noise) one scaled unit
        along the weakest direction while that direction is flat or the Wald
        check fails: the maximum lies at infinity or on a bound."""
        gain = np.asarray(self.weakest_gain)
        return bool(np.nanmax(gain) > _NOISE_FACTOR * float(self.loglik_noise))

    def wald_failures(self) -> list[tuple[str, str, str]]:
        """``(name, kind, why)`` for each parameter whose Wald interval cannot be used.

        ``kind`` is ``"domain"`` (NaN at an end of the 95% interval), ``"flat"``
        (the log-likelihood barely drops, or rises, on one side: running off to
        infinity or at a bound) or ``"steep"`` (it drops far faster than the
        Hessian predicts: a degenerate optimum).

        Raises
        ------
        ValueError
            If the certificate is batched (from :func:`hessjax.fit_batch`);
            index the result first.
        """
        if np.ndim(self.is_valid) != 0:
            raise ValueError("wald_failures() needs an unbatched result; index it first.")
        out = []
        ratios = np.asarray(self.quadratic_ratio)
        lo, hi = QUADRATIC_RATIO_RANGE
        for i, name in enumerate(self.names):
            if bool(np.asarray(self.at_boundary)[i]):
                out.append((name, "domain", "the log-likelihood is not defined (NaN) at an end of its 95% "
                                  "Wald interval: the interval leaves the parameter space"))
                continue
            if bool(np.asarray(self.wald_adequate)[i]) or not np.all(np.isfinite(ratios[i]) | np.isinf(ratios[i])):
                continue
            r = ratios[i]
            low = np.where(r < lo)[0]
            if low.size:
                k = low[0]
                side = "above" if PROBE_POINTS[k] > 0 else "below"
                drop = r[k] * 0.5 * PROBE_POINTS[k] ** 2
                if abs(drop) <= _NOISE_FACTOR * float(self.loglik_noise):
                    change = "it does not change beyond its rounding noise"
                elif r[k] > 0:
                    change = f"it drops only {r[k]:.2g} times what the Hessian predicts"
                else:
                    change = "it rises instead of dropping"
                out.append((name, "flat", f"the log-likelihood is nearly flat {side} the estimate (at "
                                  f"{PROBE_POINTS[k]:+.3g} SE {change}): the estimate is running "
                                  "off to infinity or sits at a bound of the parameter space"))
                continue
            k = 1 if r[1] <= r[2] else 2
            out.append((name, "steep", f"the log-likelihood falls far faster than the Hessian predicts on "
                              f"both sides (at {PROBE_POINTS[k]:+.3g} SE it drops {r[k]:.2g} times the prediction): "
                              "the Hessian vanishes or is not representative at this scale "
                              "(a degenerate optimum); the SEs overstate the uncertainty"))
        return out

    def bound_hits(self) -> list[tuple[str, str]]:
        """``(name, why)`` for each parameter whose estimate is on a bound of ``fit(bounds=...)``."""
        if self.at_bound is None:
            return []
        hits = np.asarray(self.at_bound)
        values = np.asarray(self.bound_value)
        return [
            (name, f"{name} is on its bound {values[i]:g}: its standard error is undefined (NaN; "
                   "Wald theory does not hold at a bound, and the delta method through the bound's "
                   "transform would give 0). Report the one-sided profile interval, "
                   "conf_int(method='profile')")
            for i, name in enumerate(self.names) if bool(hits[i])
        ]

    def problems(self) -> list[str]:
        """Every reason the standard errors cannot be used, with what to do; empty when valid.

        Raises
        ------
        ValueError
            If the certificate is batched (from :func:`hessjax.fit_batch`);
            index the result first.
        """
        if np.ndim(self.is_valid) != 0:
            raise ValueError("problems() needs an unbatched result; index it first.")
        out = []
        bad = [n for n, b in zip(self.names, np.asarray(self.nonfinite_derivative)) if b]
        if bad:
            out.append(
                f"the log-likelihood is finite but its derivatives are not (NaN or inf) for "
                f"{', '.join(bad)}: typically jnp.where around log(0) or a division by zero in an "
                "unused branch (the gradient of the discarded branch is still computed). Use the "
                "'double where' fix from the JAX FAQ: safe = jnp.where(ok, x, 1.0); "
                "jnp.where(ok, jnp.log(safe), 0.0)"
            )
        if bool(self.grows_without_bound):
            out.append(
                f"the log-likelihood rose from {float(self.loglik_start):.6g} at init by orders "
                "of magnitude without reaching a maximum: it grows without bound. fit MAXIMIZES loglik: if you passed a negative "
                "log-likelihood, return its negative; otherwise the model has no maximum"
            )
        elif bool(self.is_saddle):
            out.append("a saddle point: the log-likelihood increases along a direction (see "
                       "directions()); refit with method='newton' or from another start")
        elif not bool(self.hessian_is_pd) and not bad:
            if self.runs_off:
                out.append(
                    "the log-likelihood is flat to second order but still increases along the "
                    "weakest direction: the maximum is at infinity (separation, a variance or "
                    "probability at its bound); use a bound, a penalty or more data, and "
                    "profile intervals"
                )
            else:
                out.append("the information matrix is singular: a parameter combination is not "
                           "identified (see directions()); fix or drop a parameter")
        if self.inner_failed is not None and bool(self.inner_failed):
            out.append(INNER_FAILED)
        out.extend(why for _, why in self.bound_hits())
        if bool(self.hessian_is_pd):
            for name, _, why in self.wald_failures():
                if name in dict(self.bound_hits()):
                    continue
                out.append(f"{name}: {why}. Use conf_int(method='profile'), a bound, more data "
                           "or a reparametrization")
            if not bool(self.at_maximum):
                out.append(f"the estimate is {float(self.newton_step_se):.2g} standard errors "
                           "short of the maximum (Newton decrement "
                           f"{float(self.newton_decrement):.3g}): refit from here or raise "
                           "max_steps (see optimizer.message)")
        return out

    def directions(self, threshold: float = 0.1) -> list[str]:
        """Name the flat and negative-curvature directions, worst first.

        Each is a unit vector in scaled coordinates (parameter units divided
        by their curvature scale), showing components above ``threshold``.

        Raises
        ------
        ValueError
            If the certificate is batched (from :func:`hessjax.fit_batch`);
            index the result first.
        """
        lam = np.asarray(self.scaled_eigenvalues)
        if lam.ndim != 1:
            raise ValueError("directions() needs an unbatched result; index it first.")
        vecs = np.asarray(self.scaled_eigenvectors)
        top = np.max(np.abs(lam)) if lam.size else 0.0
        out = []
        for k in np.argsort(lam):
            value = lam[k]
            pd, negative = (bool(flag) for flag in definiteness(value, top))
            if pd or not np.isfinite(value):
                continue
            v = vecs[:, k]
            v = v * np.sign(v[np.argmax(np.abs(v))])
            idx = [i for i in np.argsort(-np.abs(v)) if abs(v[i]) >= threshold]
            # The largest component is positive (sign fixed above) and comes first.
            parts = [f"{v[idx[0]]:.3g} {self.names[idx[0]]}"]
            parts += [f"{'-' if v[i] < 0 else '+'} {abs(v[i]):.3g} {self.names[i]}" for i in idx[1:]]
            combo = " ".join(parts)
            involved = [self.names[i] for i in idx]
            shown = f"{value:.3g}" if abs(value) > EPS * max(top, 1.0) else "0"
            if negative:
                out.append(
                    f"{combo}: negative curvature (scaled eigenvalue {shown}) - the likelihood "
                    "increases along this direction: a saddle, not a maximum"
                )
            elif k == int(np.argmin(lam)) and self.weakest_gain is not None and self.runs_off:
                out.append(
                    f"{combo}: flat (scaled eigenvalue {shown}) but the log-likelihood still "
                    "increases along it - the maximum is at infinity"
                )
            else:
                who = (
                    " and ".join(involved)
                    if len(involved) <= 2
                    else ", ".join(involved[:-1]) + " and " + involved[-1]
                )
                what = "are not separately identified" if len(involved) > 1 else "is not identified"
                out.append(f"{combo}: flat (scaled eigenvalue {shown}) - {who} {what}")
        return out

    def __str__(self) -> str:
        return render_diagnostics(self)

    def _repr_html_(self) -> str:
        return render_diagnostics_html(self)


def certify(
    converged: jax.Array,
    grad: jax.Array,
    hessian: jax.Array,
    cov: jax.Array,
    cholesky_ok: jax.Array,
    spectrum: ScaledSpectrum,
    probes: Probes,
    names: tuple,
    x: jax.Array | None = None,
) -> Diagnostics:
    """Compute the certificate from exact derivatives and probes at the estimate (pure).

    ``converged`` is the optimizer's own test; ``grad`` and ``hessian`` are
    those of the minimized objective (the negative log-likelihood).
    """
    lam = spectrum.eigenvalues
    pd, saddle = spectrum_definiteness(spectrum)
    pd = pd & cholesky_ok
    newton_step = cov @ grad
    decrement = jnp.where(pd, grad @ newton_step, jnp.nan)
    se = jnp.sqrt(jnp.abs(jnp.diag(cov)))
    step_se = jnp.where(pd, jnp.max(jnp.abs(newton_step) / jnp.where(se > 0, se, 1.0)), jnp.nan)
    # A point within 1e-3 SE of the maximum in the information metric is at the
    # maximum for inference, whatever the optimizer's own (gradient) test said:
    # rounding can keep a large-scale gradient above any relative tolerance.
    at_maximum = pd & (decrement <= decrement_tolerance)
    if x is not None:
        # A Newton step within rounding of x in every coordinate is the maximum to
        # working precision even when the SEs themselves are at rounding level
        # (noise-free data), where the decrement measures only rounding noise.
        at_maximum = at_maximum | (pd & jnp.all(step_resolved(x, newton_step)))
    converged = converged | at_maximum
    raw = jnp.linalg.eigvalsh(0.5 * (hessian + hessian.T))
    condition = jnp.where(lam[0] > 0, lam[-1] / jnp.where(lam[0] > 0, lam[0], 1.0), jnp.inf)
    nonfinite = ~jnp.isfinite(grad) | ~jnp.all(jnp.isfinite(hessian), axis=1)

    lo, hi = QUADRATIC_RATIO_RANGE
    # The re-fitted drops (equal to the straight line's unless re-certified) bound
    # the profile's from above: a ratio below the range there means a flat profile.
    straight = probes.drops / probes.predicted
    ratio = jnp.where(straight > hi, probes.refit_drops / probes.predicted, straight)
    # Differences the rounding noise of f can explain are not judged.
    unresolved = jnp.abs(probes.drops - probes.predicted) <= _NOISE_FACTOR * probes.noise
    too_flat = jnp.any((ratio < lo) & ~unresolved, axis=1)
    adequate = ~too_flat & ~steep_both_sides(ratio) & ~probes.nan_at & pd
    at_boundary = pd & probes.nan_at
    valid = (
        converged & at_maximum & ~saddle
        & jnp.all(adequate) & ~jnp.any(nonfinite)
    )
    return Diagnostics(
        converged=converged,
        grad_norm=jnp.max(jnp.abs(grad)),
        newton_decrement=decrement,
        hessian_is_pd=pd,
        min_eigenvalue=raw[0],
        max_eigenvalue=raw[-1],
        condition_number=condition,
        is_saddle=saddle,
        is_valid=valid,
        at_boundary=at_boundary,
        scaled_eigenvalues=lam,
        scaled_eigenvectors=spectrum.eigenvectors,
        newton_step_se=step_se,
        at_maximum=at_maximum,
        wald_adequate=adequate,
        quadratic_ratio=jnp.where(pd, ratio, jnp.nan),
        nonfinite_derivative=nonfinite,
        weakest_gain=probes.weakest_gain,
        loglik_noise=probes.noise,
        grows_without_bound=jnp.asarray(False),
        loglik_start=jnp.asarray(jnp.nan),
        names=tuple(names),
    )


# -- flag-to-warning text of fit_large and selected_se (eager, unbatched results only) --------
def warn_about_se(se, maxiter: int) -> None:
    """HessianWarning for solves that met p'Hp <= 0, ConvergenceWarning for unconverged ones."""
    if is_traced(se.se) or np.ndim(se.se) != 1:
        return
    bad = [n for n, b in zip(se.names, np.asarray(se.indefinite)) if b]
    if bad:
        warn(
            f"the observed information is not positive definite: CG met non-positive curvature "
            f"solving for the SE of {', '.join(bad)}, so those standard errors are NaN. The "
            "point is a saddle or the model is not identified there; check "
            "hj.extreme_eigenvalues(...) or refit.",
            HessianWarning,
        )
    slow = [n for n, c, b in zip(se.names, np.asarray(se.converged), np.asarray(se.indefinite)) if not (c or b)]
    if slow:
        warn(
            f"CG did not reach the requested residual within maxiter={maxiter} products for "
            f"{', '.join(slow)}: their standard errors are NaN. The information is badly "
            "conditioned; pass a larger maxiter (or a looser rtol) to selected_se/fit_large.",
            ConvergenceWarning,
        )


def warn_about_large_fit(result, lanczos_steps: int, maxiter: int) -> None:
    """One warning per kind of trouble, in the wording of ``fit``'s warnings."""
    if is_traced(result.is_valid) or np.ndim(result.is_valid) != 0:
        return
    e = result.eigen
    lo, err, hi = float(e.min_eigenvalue), float(e.min_error), float(e.max_eigenvalue)
    if not bool(result.hessian_is_pd):
        if bool(result.is_saddle) and bool(result.converged):
            what = (f"has a negative eigenvalue (Ritz value {lo:.4g}): the estimate is a saddle, "
                    "not a maximum; refit from another start")
        elif bool(result.is_saddle):
            what = (f"has a negative eigenvalue (Ritz value {lo:.4g}): the optimizer stopped "
                    "short of a maximum (see the ConvergenceWarning)")
        elif not bool(definiteness(lo, max(abs(hi), abs(lo)))[0]):
            what = (f"is numerically singular (smallest Ritz value {lo:.3g}, largest {hi:.3g}): "
                    "some parameter combination is not identified")
        else:
            what = (f"could not be certified positive definite: smallest Ritz value {lo:.4g} "
                    f"+- {err:.2g} after {int(e.steps)} Lanczos steps; pass "
                    f"lanczos_steps={2 * lanczos_steps} (or more)")
        warn(f"the observed information at the estimate {what}. Standard errors are NaN.",
             HessianWarning)
    short = bool(result.hessian_is_pd) and not float(result.newton_decrement) <= decrement_tolerance
    if not bool(result.converged) or short:
        status = int(result.optimizer.status)
        warn(
            "fit_large did not reach a certified maximum "
            f"(converged={bool(result.converged)}, "
            f"newton_decrement={float(result.newton_decrement):.3g}): "
            f"{Status(status).name}. {Status(status).message}",
            ConvergenceWarning,
        )
    if bool(result.hessian_is_pd):
        warn_about_se(result.se, maxiter)


# -- flag-to-warning text of fit, fit_batch and least_squares ------------------------------
def warn_about(result) -> None:
    """One warning per kind of trouble, stating the flags (eager results only).

    Shared by ``fit`` and ``least_squares`` (any result with ``diagnostics``,
    ``optimizer`` and ``covariance_method``).
    """
    d = result.diagnostics
    if is_traced(d.is_valid) or np.ndim(d.is_valid) != 0:
        return
    if not bool(d.hessian_is_pd):
        problems = "; ".join(d.problems() + d.directions()) or "the information matrix is not finite"
        what = "a saddle point" if bool(d.is_saddle) else "not positive definite"
        shown = (
            "the requested pseudo-inverse is shown instead, flagged: it is not a valid covariance"
            if getattr(result, "covariance_method", "cholesky") == "pinv"
            else "standard errors are NaN"
        )
        warn(f"the observed information at the estimate is {what}: {shown}. {problems}.", HessianWarning)
    hits = d.bound_hits()
    if hits:
        warn("; ".join(why for _, why in hits) + ".", BoundaryWarning)
    pd = bool(d.hessian_is_pd)
    if not bool(d.converged) or (pd and not bool(d.at_maximum)):
        distance = f", {float(d.newton_step_se):.2g} SE from the maximum" if pd else ""
        warn(
            "the fit did not reach a certified maximum "
            f"(converged={bool(d.converged)}, newton_decrement={float(d.newton_decrement):.3g}"
            f"{distance}): {result.optimizer.message}",
            ConvergenceWarning,
        )
    if not pd:
        return
    failures = [f for f in d.wald_failures() if f[0] not in dict(hits)]
    for kinds, category in ((("domain", "flat"), BoundaryWarning), (("steep",), HessianWarning)):
        hit = [(name, why) for name, kind, why in failures if kind in kinds]
        if hit:
            listed = "; ".join(f"{name}: {why}" for name, why in hit)
            warn(
                "the standard errors and Wald intervals of "
                f"{', '.join(name for name, _ in hit)} cannot be used - {listed}. Use "
                "conf_int(method='profile'), a bound on the parameter, more data or a "
                "reparametrization.",
                category,
            )


def warn_batch(result) -> None:
    """One warning summarizing the fits that are not certified."""
    s = result.batch_summary
    if s.valid == s.n_fits:
        return
    hits = result.diagnostics.at_bound
    on_bound = 0 if hits is None else int(np.sum(np.any(np.asarray(hits), axis=-1)))
    kind = HessianWarning if s.hessian_pd < s.n_fits else ConvergenceWarning
    if on_bound and on_bound == s.n_fits - s.valid:
        kind = BoundaryWarning
    bound_text = f"{on_bound} with an estimate on a bound (SE NaN), " if on_bound else ""
    warn(
        f"{s.n_fits - s.valid} of {s.n_fits} fits are not valid ({bound_text}{s.n_fits - s.converged} did not "
        f"converge, {s.n_fits - s.hessian_pd} have an observed information that is not positive "
        f"definite, {s.saddle} at saddle points, {s.wald_inadequate} whose log-likelihood is not "
        "quadratic over their SEs - estimates at infinity or at a bound); their flags are in "
        "result.diagnostics (e.g. result.diagnostics.is_valid) and their SEs are NaN where "
        "the information is not positive definite. Inspect one with result[i].",
        kind,
    )


def warn_about_least_squares(result, nonfinite: tuple = ()) -> None:
    """One warning when a least-squares fit did not converge (naming the parameters
    whose rss/2 gradient is not finite, ``nonfinite``) or J'J is singular."""
    if not bool(result.converged):
        status = Status(int(result.optimizer.status))
        detail = f" The gradient of rss/2 is not finite in {', '.join(nonfinite)}." if nonfinite else ""
        warn(
            f"least_squares stopped without converging: {status.name}. {status.message}{detail}",
            ConvergenceWarning,
        )
    elif not bool(np.all(np.isfinite(np.asarray(result.cov)))):
        warn(
            "J'J is singular at the estimate: the standard errors are NaN. "
            + "; ".join(result.diagnostics.directions()),
            HessianWarning,
        )
