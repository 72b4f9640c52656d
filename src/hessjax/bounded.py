"""Fits with ``bounds`` and ``fixed``: the log-likelihood over free coordinates, and
the natural-scale result.

The optimizer, the exact Hessian and the certificate all run on the free,
unconstrained coordinates z of :mod:`hessjax.constraints` (one compiled
program per model and constraint pattern: bounds and fixed values are data).
:func:`natural_result` then reports every estimate on the natural scale, the
covariance by the exact delta method, fixed parameters with SE 0, and flags
the estimates that sit on a bound (SE NaN; see :func:`constraints.at_bound`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from ._precision import as_float64_params
from ._tree import param_spec
from .constraints import (
    Constraints,
    at_bound,
    bound_distance,
    build_constraints,
    embed,
    natural_covariance,
)
from .objective import function_cache, ravel_leaves, weak_callable
from .results import FitResult

__all__ = ["ConstrainedProblem", "constrain", "natural_result", "CONSTRAINT_ARGS"]

# The data arguments the constrained log-likelihood takes before the user's.
CONSTRAINT_ARGS = 3


class ConstrainedLoglik:
    """``loglik(unravel(to_natural(z)), *data)``: the user's function over free coordinates.

    Called as ``(z, lower, upper, values, *data)``. Holds the user's function
    weakly (it is cached per function, in that function's own cache); the
    stale-data scan follows ``__wrapped__`` to it.
    """

    def __init__(self, loglik: Callable, constraints: Constraints):
        self._ref = weak_callable(loglik)
        self._constraints = constraints
        self.__name__ = getattr(loglik, "__name__", "loglik")

    @property
    def __wrapped__(self) -> Callable:
        return self._ref()

    def __call__(self, z, lower, upper, values, *data):
        c = self._constraints
        return self._ref()(c.spec.unravel(c.to_natural(z, lower, upper, values)), *data)


class ConstrainedProblem(NamedTuple):
    loglik: ConstrainedLoglik
    z0: np.ndarray  # free coordinates of init
    constraints: Constraints


def constrain(loglik: Callable, init: Any, bounds: Any, fixed: Any, names: Any = None) -> ConstrainedProblem | None:
    """Validate ``bounds``/``fixed`` against ``init``; ``None`` when neither is given.

    Raises
    ------
    TypeError, ValueError
        See :func:`hessjax.constraints.build_constraints`.
    """
    if not bounds and not fixed:
        return None
    params, _ = as_float64_params(init, argname="init", starting_values=True)
    spec = param_spec(params)
    x0 = np.asarray(ravel_leaves(jax.tree_util.tree_leaves(params)), dtype=np.float64)
    constraints = build_constraints(spec, x0, bounds, fixed, names)
    if constraints is None:
        return None
    cache = function_cache(loglik)
    key = ("constrained",) + constraints.key
    wrapped = cache.get(key)
    if wrapped is None:
        wrapped = cache[key] = ConstrainedLoglik(loglik, constraints)
    return ConstrainedProblem(wrapped, constraints.to_free(x0), constraints)


def natural_result(inner: FitResult, constraints: Constraints, loglik: Callable) -> FitResult:
    """The natural-scale result of a fit over free coordinates (host, batch-aware).

    ``params`` natural; ``cov = J cov_z J'`` (J = dx/dz, the exact delta
    method) with zero rows and columns for fixed parameters; ``se`` 0 for
    fixed ones and NaN for estimates on a bound; ``hessian`` the observed
    information in natural coordinates over the free parameters, J^-1 H_z J^-1
    (the natural-scale Hessian at a stationary point), zero for fixed rows;
    ``grad`` the natural-scale gradient (NaN for fixed parameters: not fitted).
    ``free_fit`` keeps the fit over free coordinates.
    """
    c = constraints
    n, free = c.spec.size, c.free
    z = np.asarray(inner.params, dtype=np.float64)
    jac = c.jacobian(z)
    cov_z = np.asarray(inner.cov)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        se_free = np.sqrt(np.diagonal(natural_covariance(c, z, cov_z), axis1=-2, axis2=-1))[..., free]
        hits = at_bound(c, z, se_free)
        _, bound = bound_distance(c, z)
        hess_free = np.asarray(inner.hessian) / (jac[..., :, None] * jac[..., None, :])
        grad_free = np.asarray(inner.grad) / jac
    cov = natural_covariance(c, z, cov_z, hits)
    hess_free = np.where(hits[..., :, None] | hits[..., None, :], np.nan, hess_free)
    se = embed(np.where(hits, np.nan, se_free), free, n, 0.0, matrix=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(se > 0, se, np.inf)
        corr = cov / (scale[..., :, None] * scale[..., None, :])
    d = inner.diagnostics
    diagnostics = dataclasses.replace(
        d,
        at_bound=hits,
        bound_value=np.where(hits, bound, np.nan),
        is_valid=np.asarray(d.is_valid) & ~np.any(hits, axis=-1),
    )
    unravel = c.spec.unravel_host
    return dataclasses.replace(
        inner,
        params=unravel(c.natural(z)),
        grad=unravel(embed(grad_free, free, n, np.nan, matrix=False)),
        hessian=embed(hess_free, free, n, 0.0, matrix=True),
        cov=cov,
        se=unravel(se),
        corr=corr,
        diagnostics=diagnostics,
        data=tuple(inner.data[CONSTRAINT_ARGS:]),
        names=c.names,
        fixed=c.fixed_names,
        objective=None,
        function=loglik,
        constraints=c,
        free_fit=inner,
    )
