"""Bounds and fixed parameters: natural coordinates and free, unconstrained ones.

``fit(..., bounds=..., fixed=...)`` optimizes over free coordinates z, one per
parameter that is not fixed, each mapped elementwise to its natural value by
the transforms of the Stan Reference Manual ("Constraint transforms"):

================  ===========================  ==============================
bounds            natural value x              dx/dz
================  ===========================  ==============================
none              z                            1
(a, None)         a + exp(z)                   exp(z) = x - a
(None, b)         b - exp(z)                   exp(z) = b - x
(a, b)            a + (b - a) sigmoid(z)       (b - a) sigmoid(z) sigmoid(-z)
fixed             its ``init`` value           (not a coordinate)
================  ===========================  ==============================

The maps are smooth and strictly monotone, so the maximum and the profile
likelihood are the same in either coordinates (a profile interval over z maps
to the one over x), and the natural-scale covariance is the exact delta
method J cov_z J', J = diag(dx/dz). A maximum ON a bound sits at z = +-inf:
the optimizer runs z off until the gradient vanishes to rounding, dx/dz -> 0
and so would the delta-method SE, which is wrong (Wald theory fails at a
bound). :func:`bound_distance` and :data:`AT_BOUND_SE` flag such estimates.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from ._tree import ParamSpec, check_names, name_groups, spec_names

__all__ = [
    "AT_BOUND_SE",
    "Constraints",
    "build_constraints",
    "at_bound",
    "bound_distance",
    "embed",
    "interior_start",
    "natural_covariance",
    "natural_intervals",
]

FREE, LOWER, UPPER, BOTH, FIXED = range(5)

# An estimate closer to its bound than this many natural-scale standard errors
# is AT the bound. For the log maps, distance / SE = 1 / SE_z exactly (and
# within a factor 2 for the logit map): the free coordinate's SE exceeds 1e3,
# i.e. the likelihood is flat in z over a factor e^1000 in x, which no interior
# maximum gives. A maximum on the bound ends at distance / SE ~ 1e-6 (the
# gradient test stops the run-off when the gradient is ~1e-12 of the loglik).
AT_BOUND_SE = 1e-3
# ... or within rounding of the bound (the SE itself may be NaN there).
_ROUNDING_ULPS = 64


def _forward(kind: int, z, a, b, xp):
    """Natural value of free coordinate ``z`` for one kind of bound (NumPy or JAX)."""
    if kind == LOWER:
        return a + xp.exp(z)
    if kind == UPPER:
        return b - xp.exp(z)
    if kind == BOTH:
        return a + (b - a) / (1.0 + xp.exp(-z))
    return z


def _inverse(kind: int, x, a, b):
    if kind == LOWER:
        return np.log(x - a)
    if kind == UPPER:
        return np.log(b - x)
    if kind == BOTH:
        u = (x - a) / (b - a)
        return np.log(u) - np.log1p(-u)
    return x


def _sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


@dataclasses.dataclass(frozen=True, eq=False)
class Constraints:
    """Which parameters are bounded or fixed, and the map to free coordinates.

    ``kinds`` and ``spec`` are static (they select the compiled program);
    ``lower``, ``upper`` and ``values`` (the natural ``init``, whose fixed
    entries are used) are data, so new bounds or fixed values do not recompile.
    """

    spec: ParamSpec
    kinds: tuple[int, ...]  # per natural element
    lower: np.ndarray  # (n,), 0 where unused
    upper: np.ndarray
    values: np.ndarray  # (n,) natural init
    bounds: dict  # as given (for refits: bootstrap, coverage_study, fit_batch)
    fixed: tuple[str, ...]  # as given
    labels: tuple[str, ...] = ()  # the user's names= (empty: the pytree's names)

    @property
    def names(self) -> tuple[str, ...]:
        return self.labels or spec_names(self.spec)

    @property
    def free(self) -> np.ndarray:
        """Natural indices of the free coordinates, in order."""
        return np.flatnonzero(np.asarray(self.kinds) != FIXED)

    @property
    def free_names(self) -> tuple[str, ...]:
        return tuple(self.names[i] for i in self.free)

    @property
    def fixed_names(self) -> tuple[str, ...]:
        return tuple(name for name, kind in zip(self.names, self.kinds) if kind == FIXED)

    @property
    def key(self) -> tuple:
        return (self.spec, self.kinds)

    @property
    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.lower, self.upper, self.values

    def _groups(self):
        kinds = np.asarray(self.kinds)[self.free]
        return [(kind, np.flatnonzero(kinds == kind)) for kind in (FREE, LOWER, UPPER, BOTH)
                if np.any(kinds == kind)]

    def to_natural(self, z, lower, upper, values):
        """Flat natural vector ``(n,)`` of free coordinates ``z`` ``(m,)`` (JAX, traceable).

        One gather and one scatter per kind of bound: no ``where`` over all
        elements, whose unused ``exp`` branches would overflow into NaN gradients.
        """
        x = jnp.asarray(values)
        free = self.free
        for kind, pos in self._groups():
            idx = free[pos]
            x = x.at[idx].set(_forward(kind, z[pos], lower[idx], upper[idx], jnp))
        return x

    def natural(self, z: np.ndarray) -> np.ndarray:
        """:meth:`to_natural` on the host, ``(..., m) -> (..., n)`` (batches kept)."""
        z = np.asarray(z, dtype=np.float64)
        x = np.array(np.broadcast_to(self.values, z.shape[:-1] + self.values.shape))
        free = self.free
        with np.errstate(over="ignore"):
            for kind, pos in self._groups():
                idx = free[pos]
                x[..., idx] = _forward(kind, z[..., pos], self.lower[idx], self.upper[idx], np)
        return x

    def to_free(self, x: np.ndarray) -> np.ndarray:
        """Free coordinates ``(m,)`` of a natural vector ``(n,)`` strictly inside the bounds."""
        z = np.empty(self.free.size)
        for kind, pos in self._groups():
            idx = self.free[pos]
            z[pos] = _inverse(kind, x[idx], self.lower[idx], self.upper[idx])
        return z

    def bounds_at(self, i: int) -> tuple[float, float]:
        """``(lower, upper)`` of natural element ``i``, +-inf for an open side."""
        kind = self.kinds[i]
        return (self.lower[i] if kind in (LOWER, BOTH) else -np.inf,
                self.upper[i] if kind in (UPPER, BOTH) else np.inf)

    def free_coordinate(self, i: int, values: np.ndarray) -> np.ndarray:
        """Free coordinate of natural element ``i`` at ``values`` (+-inf on a bound)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(_inverse(self.kinds[i], np.asarray(values, dtype=np.float64),
                                       self.lower[i], self.upper[i]), dtype=np.float64)

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        """dx/dz for each free coordinate, ``(..., m)``, computed from z (exact near a bound)."""
        z = np.asarray(z, dtype=np.float64)
        out = np.ones_like(z)
        with np.errstate(over="ignore"):
            for kind, pos in self._groups():
                idx = self.free[pos]
                if kind in (LOWER, UPPER):
                    out[..., pos] = np.exp(z[..., pos])
                elif kind == BOTH:
                    s = z[..., pos]
                    out[..., pos] = (self.upper[idx] - self.lower[idx]) * _sigmoid(s) * _sigmoid(-s)
        return out


def bound_distance(constraints: Constraints, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distance, bound)`` per free coordinate: how far the natural value is from
    its nearer bound (computed from z, so exact near the bound; inf when
    unbounded) and that bound's value (NaN when unbounded)."""
    z = np.asarray(z, dtype=np.float64)
    distance = np.full(z.shape, np.inf)
    bound = np.full(z.shape, np.nan)
    kinds = np.asarray(constraints.kinds)[constraints.free]
    lo, hi = constraints.lower[constraints.free], constraints.upper[constraints.free]
    with np.errstate(over="ignore"):
        for kind, side in ((LOWER, lo), (UPPER, hi)):
            on = kinds == kind
            distance[..., on] = np.exp(z[..., on])
            bound[..., on] = np.broadcast_to(side[on], bound[..., on].shape)
        on = kinds == BOTH
        zb = z[..., on]
        width = hi[on] - lo[on]
        distance[..., on] = width * _sigmoid(-np.abs(zb))
        bound[..., on] = np.where(zb < 0, lo[on], hi[on])
    return distance, bound


def at_bound(constraints: Constraints, z: np.ndarray, se_natural: np.ndarray) -> np.ndarray:
    """Free coordinates whose estimate is on its bound (see :data:`AT_BOUND_SE`)."""
    distance, bound = bound_distance(constraints, z)
    x = constraints.natural(z)[..., constraints.free]
    scale = np.maximum(np.abs(np.nan_to_num(bound)), np.abs(x))
    rounding = distance <= _ROUNDING_ULPS * np.finfo(np.float64).eps * scale
    with np.errstate(invalid="ignore"):
        within_se = distance < AT_BOUND_SE * se_natural
    return np.isfinite(distance) & (rounding | within_se)


def embed(free_values: np.ndarray, free: np.ndarray, n: int, fill: float, matrix: bool) -> np.ndarray:
    """Free-coordinate values ``(..., m)`` or ``(..., m, m)`` placed in natural
    positions ``(..., n)`` / ``(..., n, n)``, ``fill`` elsewhere (fixed ones)."""
    batch = free_values.shape[: free_values.ndim - (2 if matrix else 1)]
    if matrix:
        out = np.full(batch + (n, n), fill)
        out[..., free[:, None], free[None, :]] = free_values
    else:
        out = np.full(batch + (n,), fill)
        out[..., free] = free_values
    return out


def natural_covariance(constraints: Constraints, z: np.ndarray, cov_z: np.ndarray,
                       hits: np.ndarray | None = None) -> np.ndarray:
    """J cov_z J' in natural positions (the exact delta method; J = dx/dz diagonal):
    zero rows and columns for fixed parameters, NaN ones for estimates on a bound."""
    jac = constraints.jacobian(z)
    with np.errstate(invalid="ignore", over="ignore"):
        cov = np.asarray(cov_z) * (jac[..., :, None] * jac[..., None, :])
    if hits is not None:
        cov = np.where(hits[..., :, None] | hits[..., None, :], np.nan, cov)
    return embed(cov, constraints.free, constraints.spec.size, 0.0, matrix=True)


def interior_start(constraints: Constraints, z: np.ndarray) -> np.ndarray:
    """A natural starting point strictly inside the bounds near the estimate ``z``
    (for refits: bootstrap, coverage): bounded free coordinates are pulled in to
    |z| <= 25 (within e^-25 of the bound's scale), and any that still round onto
    a bound start from ``init``."""
    kinds = np.asarray(constraints.kinds)[constraints.free]
    z = np.where(kinds == FREE, z, np.clip(z, -25.0, 25.0))
    x = constraints.natural(z)
    inside = (constraints.lower < x) | ~np.isin(constraints.kinds, (LOWER, BOTH))
    inside &= (x < constraints.upper) | ~np.isin(constraints.kinds, (UPPER, BOTH))
    return np.where(inside, x, constraints.values)


def natural_intervals(constraints: Constraints, z_hat: np.ndarray, intervals: np.ndarray,
                      converged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Profile intervals over free coordinates ``(m, 2)`` mapped to natural ones ``(n, 2)``.

    Each end maps through the monotone map of its coordinate (decreasing for an
    upper bound alone, so the ends swap); an end at z = +-inf is the bound
    itself. Fixed parameters get ``[value, value]`` (converged).
    """
    m = len(constraints.free)
    rows = np.arange(m)
    ends, found = [], []
    for k in range(2):
        z = np.tile(np.asarray(z_hat, dtype=np.float64), (m, 1))
        z[rows, rows] = intervals[:, k]
        x = constraints.natural(z)[rows, constraints.free]
        # An end at (or within rounding of) a bound is found: the interval is
        # one-sided there - the profile never drops by the threshold before the
        # bound, and the search stops where z no longer changes the likelihood.
        distance, bound = bound_distance(constraints, z)
        on = distance[rows, rows] <= _ROUNDING_ULPS * np.finfo(np.float64).eps * np.maximum(
            np.abs(np.nan_to_num(bound[rows, rows])), 1.0)
        ends.append(np.where(on, bound[rows, rows], x))
        found.append(np.asarray(converged)[:, k] | on)
    free_iv = np.sort(np.stack(ends, axis=1), axis=1)
    out = np.stack([constraints.values, constraints.values], axis=1)
    out[constraints.free] = free_iv
    found = np.stack(found, axis=1)
    ok = np.ones((constraints.spec.size, 2), bool)
    swapped = np.asarray(constraints.kinds)[constraints.free] == UPPER
    ok[constraints.free] = np.where(swapped[:, None], found[:, ::-1], found)
    return out, ok


def _as_bound(value: Any, name: str, side: str) -> float:
    if value is None:
        return -np.inf if side == "lower" else np.inf
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or (
        np.ndim(value) != 0
    ):
        raise ValueError(
            f"bounds[{name!r}]: the {side} bound must be a number or None (open side), got "
            f"{value!r}; e.g. bounds={{{name!r}: (0.0, None)}}."
        )
    value = float(value)
    if np.isnan(value):
        raise ValueError(f"bounds[{name!r}]: the {side} bound is NaN; use None for an open side.")
    return value


def _lookup(groups: dict, name: Any, argname: str) -> tuple[int, ...]:
    if not isinstance(name, str):
        raise TypeError(f"`{argname}` names parameters by string, got {name!r}.")
    if name not in groups:
        shown = sorted(groups, key=lambda k: (len(groups[k]) == 1, k))
        listed = ", ".join(shown[:20]) + (", ..." if len(shown) > 20 else "")
        raise ValueError(
            f"`{argname}` names an unknown parameter {name!r}; the parameters are: {listed} "
            "(a top-level key of a dict init, or a flattened name as hj.param_names(init) prints it)."
        )
    return groups[name]


def build_constraints(
    spec: ParamSpec, x0: np.ndarray, bounds: Any, fixed: Any, names: Any = None
) -> Constraints | None:
    """Validate ``bounds`` and ``fixed`` against the parameters; ``None`` when neither is given.

    Raises
    ------
    TypeError
        If ``bounds`` is not a dict or ``fixed`` not a name or a sequence of names.
    ValueError
        For an unknown name, a malformed bound, ``lower >= upper``, an ``init``
        value outside (or on) its bounds, or every parameter fixed.
    """
    if bounds is None:
        bounds = {}
    if not isinstance(bounds, dict):
        raise TypeError(
            f"`bounds` must be a dict from parameter name to (lower, upper), got "
            f"{type(bounds).__name__}; e.g. bounds={{'sigma': (0.0, None), 'p': (0.0, 1.0)}}."
        )
    if fixed is not None and not isinstance(fixed, str) and not (
        isinstance(fixed, (tuple, list, set, frozenset)) and all(isinstance(f, str) for f in fixed)
    ):
        raise TypeError(
            f"`fixed` must be a parameter name or a sequence of names, got {fixed!r}; "
            "e.g. fixed='alpha' or fixed=('alpha', 'beta[2]')."
        )
    fixed = (fixed,) if isinstance(fixed, str) else tuple(() if fixed is None else fixed)
    if not bounds and not fixed:
        return None
    labels = () if names is None else check_names(names, spec_names(spec))
    groups = name_groups(spec, labels or None)
    names = labels or spec_names(spec)
    n = spec.size
    lower, upper = np.full(n, -np.inf), np.full(n, np.inf)
    normalized = {}
    given_by: dict[int, str] = {}
    for name, pair in bounds.items():
        idx = _lookup(groups, name, "bounds")
        twice = sorted({given_by[i] for i in idx if i in given_by})
        if twice:
            raise ValueError(
                f"bounds[{name!r}] and bounds[{twice[0]!r}] both bound {names[idx[0]] if len(idx) == 1 else name}: "
                "give each parameter's bounds once (a top-level key covers all its elements)."
            )
        given_by.update({i: name for i in idx})
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                f"bounds[{name!r}] must be a pair (lower, upper) with None for an open side, "
                f"got {pair!r}."
            )
        lo, hi = _as_bound(pair[0], name, "lower"), _as_bound(pair[1], name, "upper")
        if not lo < hi:
            raise ValueError(f"bounds[{name!r}] = {pair!r}: the lower bound must be below the upper bound.")
        lower[list(idx)], upper[list(idx)] = lo, hi
        normalized[name] = (pair[0], pair[1])
    is_fixed = np.zeros(n, bool)
    for name in fixed:
        is_fixed[list(_lookup(groups, name, "fixed"))] = True
    if is_fixed.all():
        raise ValueError("every parameter is in `fixed`: nothing is left to fit.")
    kinds = []
    for i in range(n):
        has_lo, has_hi = np.isfinite(lower[i]), np.isfinite(upper[i])
        if is_fixed[i] and not lower[i] <= x0[i] <= upper[i]:
            raise ValueError(
                f"{names[i]} is fixed at {x0[i]:.17g}, outside its bounds ({lower[i]:g}, {upper[i]:g}): "
                "fix it at a value inside its bounds, or drop one of the two."
            )
        if is_fixed[i]:
            kinds.append(FIXED)
            continue
        kinds.append(BOTH if has_lo and has_hi else LOWER if has_lo else UPPER if has_hi else FREE)
        if not lower[i] < x0[i] < upper[i]:
            where = "on" if x0[i] in (lower[i], upper[i]) else "outside"
            raise ValueError(
                f"init for {names[i]} is {x0[i]:.17g}, {where} its bounds ({lower[i]:g}, {upper[i]:g}): "
                "start strictly inside the bounds (the free coordinate of a bound is infinite)."
            )
    lower = np.where(np.isfinite(lower), lower, 0.0)
    upper = np.where(np.isfinite(upper), upper, 0.0)
    return Constraints(
        spec=spec, kinds=tuple(kinds), lower=lower, upper=upper,
        values=np.asarray(x0, dtype=np.float64).copy(), bounds=normalized, fixed=fixed, labels=labels,
    )
