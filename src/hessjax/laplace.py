"""Random effects: the Laplace approximation with the exact Hessian of the marginal.

The user writes the joint log-density ``joint_loglik(params, random, *data)``
= log p(y, u | theta), with the random effects u as their own pytree. The
marginal log-likelihood integrates u out; the Laplace approximation
(Tierney & Kadane 1986; TMB, Kristensen et al. 2016, eq. 2) is

    log p(y | theta) ~ log p(y, u_hat | theta) + (q/2) log 2 pi - (1/2) log det H_uu,

with u_hat(theta) the inner maximizer and H_uu = -d2 log p(y, u | theta) / du2
at u_hat. The inner problem is solved by Newton's method on the exact H_uu
(step halving keeps every step an ascent), and u_hat(theta) is defined through
``jax.lax.custom_root``: its derivatives come from the implicit function
theorem (du_hat/dtheta = -H_uu^-1 H_u theta), not from differentiating the
iterations. So the marginal is an ordinary differentiable JAX function of
theta, and :func:`hessjax.fit` gives its exact Hessian - the observed
information of the approximate marginal - by automatic differentiation
(third and fourth derivatives of the joint enter through the log det term),
where TMB's ``sdreport`` and lme4's ``glmer`` use finite differences.

``n_quadrature = k > 1``: adaptive Gauss-Hermite quadrature for independent
scalar random effects (a diagonal H_uu, checked eagerly at the start).

What is here: a dense H_uu (random effects of modest total size, q up to a
few hundred). Not yet: block-diagonal structure for many groups (issue 14).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import as_float64_params, float64_entry_point, is_traced
from ._tree import param_spec
from .objective import function_cache, ravel_leaves, weak_callable
from .fit import fit
from .results import FitResult
from .warnings import HessianWarning, warn

__all__ = ["laplace_loglik", "fit_laplace", "MarginalLoglik"]

# Inner Newton steps: quadratic convergence from the mode's neighbourhood; step
# halving (up to _HALVINGS times) keeps each step an ascent far from it.
_INNER_STEPS = 50
_HALVINGS = 30


def _inner_functions(joint: Callable, unravel_u: Callable):
    def h(u, params, data):  # the negative joint over flat random effects
        return -joint(params, unravel_u(u), *data)

    return h


def _newton_mode(h: Callable, u0, params, data):
    """Maximize the joint over u: Newton on the exact H_uu with step halving.

    Returns ``(u_hat, converged)``; converged means a finite, positive definite
    H_uu and a Newton decrement below rounding at the end.
    """
    grad = jax.grad(h)
    hess = jax.hessian(h)

    def step(carry, _):
        u, f = carry
        g, H = grad(u, params, data), hess(u, params, data)
        delta = -jnp.linalg.solve(H, g)

        def shrink(c, _):
            t, best = c
            trial = h(u + t * delta, params, data)
            ok = jnp.isfinite(trial) & (trial <= f)
            return (jnp.where(ok | (best <= f), t, 0.5 * t), jnp.where(ok, trial, best)), None

        (t, _), _ = jax.lax.scan(shrink, (jnp.asarray(1.0), jnp.asarray(jnp.inf)), None, length=_HALVINGS)
        u_new = jnp.where(jnp.all(jnp.isfinite(delta)), u + t * delta, u)
        f_new = h(u_new, params, data)
        keep = jnp.isfinite(f_new) & (f_new <= f)
        return (jnp.where(keep, u_new, u), jnp.where(keep, f_new, f)), None

    (u, _), _ = jax.lax.scan(step, (u0, h(u0, params, data)), None, length=_INNER_STEPS)
    g, H = grad(u, params, data), hess(u, params, data)
    chol = jnp.linalg.cholesky(0.5 * (H + H.T))
    newton = jax.scipy.linalg.cho_solve((chol, True), g)
    converged = jnp.all(jnp.isfinite(chol)) & (g @ newton <= 1e-12 * jnp.maximum(jnp.abs(h(u, params, data)), 1.0))
    return u, converged


def _mode(h: Callable, u0, params, data):
    """u_hat(params) with implicit-function-theorem derivatives (``lax.custom_root``)."""

    def stationarity(u):
        return jax.grad(h)(u, params, data)

    def solve(_, guess):
        return _newton_mode(h, guess, params, data)[0]

    def tangent_solve(linear, rhs):
        return jnp.linalg.solve(jax.jacfwd(linear)(rhs), rhs)

    return jax.lax.custom_root(stationarity, u0, solve, tangent_solve)


def _laplace(h: Callable, params, u0, data):
    """The Laplace marginal log-likelihood at ``params`` and its inner mode."""
    u_hat = _mode(h, u0, params, data)
    H = jax.hessian(h)(u_hat, params, data)
    chol = jnp.linalg.cholesky(0.5 * (H + H.T))
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
    q = u0.shape[0]
    return -h(u_hat, params, data) - 0.5 * logdet + 0.5 * q * jnp.log(2.0 * jnp.pi), u_hat


def _adaptive_gauss_hermite(h: Callable, params, u0, data, nodes, weights):
    """The marginal by adaptive Gauss-Hermite quadrature, for a joint that is a sum of
    terms in one coordinate of u each (H_uu diagonal; Liu & Pierce 1994, Pinheiro &
    Bates 1995): per coordinate, nodes centred at u_hat_j and scaled by
    sigma_j = H_jj^-1/2. Since the joint is separable, l_j(u_hat_j + d) - l_j(u_hat_j)
    = l(u_hat + d e_j) - l(u_hat): q * k evaluations of the joint, vmapped. One node
    is the Laplace approximation."""
    u_hat = _mode(h, u0, params, data)
    sigma = 1.0 / jnp.sqrt(jnp.diag(jax.hessian(h)(u_hat, params, data)))
    f0 = h(u_hat, params, data)
    q = u0.shape[0]
    steps = jnp.sqrt(2.0) * sigma[:, None] * nodes[None, :]  # (q, k)

    def gain(j, step):  # l(u_hat + step e_j) - l(u_hat)
        return f0 - h(u_hat.at[j].add(step), params, data)

    gains = jax.vmap(lambda j, row: jax.vmap(lambda d: gain(j, d))(row))(jnp.arange(q), steps)
    log_terms = jax.scipy.special.logsumexp(gains + nodes[None, :] ** 2 + jnp.log(weights)[None, :], axis=1)
    return -f0 + jnp.sum(log_terms + jnp.log(jnp.sqrt(2.0) * sigma)), u_hat


class MarginalLoglik:
    """``marginal(params, u0, *data)``: the Laplace marginal of a joint log-density.

    The user's ``joint_loglik`` is held weakly (this object is cached in the
    function's own cache); ``__wrapped__`` lets the stale-data scan read it.
    """

    def __init__(self, joint: Callable, unravel_u: Callable, n_quadrature: int = 1):
        self._ref = weak_callable(joint)
        self._unravel_u = unravel_u
        self.n_quadrature = n_quadrature
        if n_quadrature > 1:
            nodes, weights = np.polynomial.hermite.hermgauss(n_quadrature)
            self._rule = (jnp.asarray(nodes), jnp.asarray(weights))
        self.__name__ = getattr(joint, "__name__", "joint_loglik")

    @property
    def __wrapped__(self) -> Callable:
        return self._ref()

    def inner(self) -> Callable:
        return _inner_functions(lambda p, u, *d: self._ref()(p, u, *d), self._unravel_u)

    def __call__(self, params, u0, *data):
        if self.n_quadrature == 1:
            return _laplace(self.inner(), params, u0, data)[0]
        return _adaptive_gauss_hermite(self.inner(), params, u0, data, *self._rule)[0]


def _marginal(joint: Callable, random_init: Any, n_quadrature: int = 1
              ) -> tuple[MarginalLoglik, jax.Array, Callable]:
    if not callable(joint):
        raise TypeError(f"`joint_loglik` must be a callable joint_loglik(params, random, *data); got "
                        f"{type(joint).__name__}.")
    random, _ = as_float64_params(random_init, argname="random_init", starting_values=True)
    spec = param_spec(random)
    if spec.size == 0:
        raise ValueError("`random_init` has no elements: give the random effects' starting values.")
    u0 = ravel_leaves(jax.tree_util.tree_leaves(random))
    cache = function_cache(joint)
    key = ("laplace", spec, n_quadrature)
    marginal = cache.get(key)
    if marginal is None:
        marginal = cache[key] = MarginalLoglik(joint, spec.unravel, n_quadrature)
    return marginal, u0, spec


def _check_separable(marginal: MarginalLoglik, params: Any, u0, data: tuple) -> None:
    """Quadrature needs a diagonal H_uu: checked once, eagerly, at the starting values
    (autodiff gives exact zeros where a coordinate pair never meets)."""
    if marginal.n_quadrature == 1:
        return
    H = np.asarray(jax.jit(jax.hessian(marginal.inner()))(u0, params, data))
    off = np.argwhere((H != 0) & ~np.eye(H.shape[0], dtype=bool))
    if off.size:
        i, j = off[0]
        raise ValueError(
            f"n_quadrature={marginal.n_quadrature} (adaptive Gauss-Hermite) needs independent scalar "
            "random effects - each coordinate of u in its own terms, so that H_uu is diagonal - but "
            f"H_uu has {len(off) // 2} off-diagonal pairs (e.g. u[{i}] and u[{j}]); use n_quadrature=1 "
            "(the Laplace approximation) for this model."
        )


def _check_quadrature(n_quadrature: Any) -> int:
    if isinstance(n_quadrature, bool) or not isinstance(n_quadrature, (int, np.integer)) or not (
        1 <= n_quadrature <= 100
    ):
        raise ValueError(f"`n_quadrature` must be an int in [1, 100], got {n_quadrature!r}.")
    return int(n_quadrature)


@float64_entry_point
def laplace_loglik(joint_loglik: Callable, params: Any, random_init: Any, *data: Any,
                   n_quadrature: int = 1) -> jax.Array:
    """The Laplace-approximate marginal log-likelihood log p(y | params).

    Parameters
    ----------
    joint_loglik : callable
        ``joint_loglik(params, random, *data)`` -> scalar log p(y, u | params),
        in ``jax.numpy``.
    params : pytree
        Where to evaluate the marginal.
    random_init : pytree
        Starting values of the random effects u (their structure); the inner
        Newton solve starts here.
    *data
        Data passed to ``joint_loglik``.
    n_quadrature : int
        Gauss-Hermite nodes per random effect: 1 is the Laplace
        approximation; k > 1 is adaptive Gauss-Hermite quadrature, for
        independent scalar random effects (H_uu diagonal; checked).

    Returns
    -------
    jax.Array
        Scalar float64: log p(y, u_hat) + (q/2) log 2 pi - (1/2) log det H_uu
        (Laplace), or the adaptive Gauss-Hermite sum.

    Raises
    ------
    TypeError
        If ``joint_loglik`` is not callable.
    ValueError
        If ``random_init`` is empty, ``n_quadrature`` is not an int in
        [1, 100], or ``n_quadrature`` > 1 while H_uu is not diagonal at the
        starting values (the message names a coupled pair).

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def joint(p, u, y):  # y_i ~ N(mu + u, 1), u ~ N(0, 1): y ~ N(mu, 2), exact
    ...     return -0.5 * jnp.sum((y - p - u) ** 2) - 0.5 * u**2 - jnp.log(2 * jnp.pi)
    >>> float(hj.laplace_loglik(joint, 0.0, 0.0, np.array(1.0)))  # log N(1; 0, 2)
    -1.5155121234846454
    """
    marginal, u0, _ = _marginal(joint_loglik, random_init, _check_quadrature(n_quadrature))
    params, _ = as_float64_params(params, argname="params")
    _check_separable(marginal, params, u0, data)
    return jnp.asarray(marginal(params, u0, *data))


@float64_entry_point
def fit_laplace(joint_loglik: Callable, init: Any, random_init: Any, *data: Any,
                n_quadrature: int = 1, method: str = "newton", **options: Any) -> FitResult:
    """Maximum marginal likelihood for random-effects models, with exact-Hessian SEs.

    The marginal (see :func:`laplace_loglik`) is fitted by :func:`hessjax.fit`,
    so ``params``, ``se``, ``cov``, ``hessian`` (the exact Hessian of the
    negative marginal), ``diagnostics``, ``summary()``, ``conf_int`` and
    ``delta`` are as for any fit. Also returned: ``random`` (the conditional
    modes u_hat at the MLE, shaped like ``random_init``) and ``random_se``,
    TMB's ``sdreport`` definition Var(u_hat) = H_uu^-1 + J cov J' with
    J = du_hat/dtheta exact (implicit function theorem). An inner solve that
    did not converge or whose H_uu is not positive definite at the MLE makes
    the fit NOT VALID (``diagnostics.is_valid``), with a ``HessianWarning``.

    Parameters
    ----------
    joint_loglik : callable
        ``joint_loglik(params, random, *data)`` -> scalar log p(y, u | params).
    init : pytree
        Starting values of the fixed parameters (variance parameters on a log
        scale, or use ``bounds=``).
    random_init : pytree
        Starting values and structure of the random effects.
    *data
        Data passed to ``joint_loglik``.
    n_quadrature : int
        As for :func:`laplace_loglik`.
    method, **options
        As for :func:`hessjax.fit` (including ``bounds`` and ``fixed``).

    Returns
    -------
    FitResult
        With ``random`` and ``random_se``.

    Raises
    ------
    TypeError
        As for :func:`hessjax.fit` and :func:`laplace_loglik`.
    ValueError
        As for :func:`hessjax.fit` and :func:`laplace_loglik`; also when
        ``bounds`` or ``fixed`` are given (not supported yet).

    Warns
    -----
    HessianWarning
        When the inner solve failed at the estimate (the fit is NOT VALID).

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def joint(p, u, y, g):  # random intercepts; Gaussian, so Laplace is exact
    ...     s, t = jnp.exp(p["log_sigma"]), jnp.exp(p["log_tau"])
    ...     return (jnp.sum(-0.5 * ((y - p["mu"] - u[g]) / s) ** 2 - jnp.log(s))
    ...             + jnp.sum(-0.5 * (u / t) ** 2 - jnp.log(t)))
    >>> g = np.repeat(np.arange(5), 4)
    >>> y = np.random.default_rng(0).normal(size=5)[g] + np.random.default_rng(1).normal(size=20)
    >>> res = hj.fit_laplace(joint, {"mu": 0.0, "log_sigma": 0.0, "log_tau": 0.0}, np.zeros(5), y, g)
    >>> bool(res.diagnostics.is_valid), res.random.shape
    (True, (5,))
    """
    k = _check_quadrature(n_quadrature)
    if options.get("bounds") or options.get("fixed"):
        raise ValueError(
            "fit_laplace does not take bounds or fixed parameters yet; write variance parameters "
            "on a log scale (e.g. log_sigma) and report natural-scale SEs with res.delta(...)."
        )
    marginal, u0, spec = _marginal(joint_loglik, random_init, k)
    if k > 1:
        start, _ = as_float64_params(init, argname="init", starting_values=True)
        _check_separable(marginal, start, u0, data)
    result = fit(marginal, init, u0, *data, method=method, **options)
    if is_traced(result.loglik):
        return result
    program = _random_effects_program(marginal, result)
    u_hat, converged, var_u = program(
        jnp.asarray(result.estimate), u0, tuple(result.data[1:]), jnp.asarray(result.cov))
    d = result.diagnostics
    if not bool(converged):
        d = dataclasses.replace(d, is_valid=np.asarray(False))
        warn("the inner (random-effects) Newton solve did not converge or its Hessian H_uu is not "
             "positive definite at the estimate: the Laplace marginal is not defined there, so the "
             "fit is NOT VALID.", HessianWarning)
    with np.errstate(invalid="ignore"):
        random_se = np.sqrt(np.diag(np.asarray(var_u)))
    return dataclasses.replace(
        result, diagnostics=d, random=spec.unravel_host(np.asarray(u_hat)),
        random_se=spec.unravel_host(random_se),
    )


def _random_effects_program(marginal: MarginalLoglik, result: FitResult) -> Callable:
    """``(theta, u0, data, cov_theta) -> (u_hat, converged, Var(u_hat))``, jitted and cached
    on the marginal's objective: Var(u_hat) = H_uu^-1 + J cov J', J = du_hat/dtheta (TMB's
    ``sdreport``), with J exact through the implicit function theorem."""
    obj = result.objective
    inner = marginal.inner()

    def build():
        def run(theta, u0, data, cov):
            def mode(t):
                return _mode(inner, u0, obj.spec.unravel(t), data)

            u_hat = mode(theta)
            params = obj.spec.unravel(theta)
            _, converged = _newton_mode(inner, u_hat, params, data)
            H = jax.hessian(inner)(u_hat, params, data)
            J = jax.jacfwd(mode)(theta)
            var = jnp.linalg.inv(0.5 * (H + H.T)) + J @ cov @ J.T
            return u_hat, converged, var

        return jax.jit(run)

    return obj.program(("laplace-random",), build)
