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
scalar random effects (a diagonal H_uu, checked eagerly at the start; it costs
q * k evaluations of the joint, so it suits tens to hundreds of groups).

Structure. Random effects given as one array ``(G,)`` or ``(G, k)`` - one row
per group - are tested, once at the starting values, for a block-diagonal H_uu
(one k x k block per group): the blocks are read off k Hessian-vector products
with colour vectors (coordinate c of every group at once; Curtis, Powell & Reid
1974) and must reproduce H_uu r for a random r to rounding. Then no q x q
matrix is ever formed: Newton steps, log det, the implicit-function tangent
solves and the random effects' SEs all work block by block (10,000 groups x 5
Poisson observations fit in ~1 s warm on 2 cores). Otherwise H_uu is dense,
up to ``DENSE_LIMIT`` random effects.
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
from .diagnostics import INNER_FAILED
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


# -- the structure of H_uu ------------------------------------------------------------------
# ``block`` = 0: dense q x q. ``block`` = k >= 1: block diagonal, one k x k block per
# group, the random effects being an array (G, k) (or (G,): k = 1, diagonal). The
# blocks come from k Hessian-vector products with "colour" vectors (coordinate c of
# every group at once: Curtis, Powell & Reid 1974), so no q x q matrix is formed.


def _colours(q: int, block: int, dtype) -> jax.Array:
    return jnp.tile(jnp.eye(block, dtype=dtype), (q // block, 1)).T  # (k, q)


def _blocks_of(linear: Callable, q: int, block: int, dtype) -> jax.Array:
    """``(G, k, k)`` diagonal blocks of the symmetric linear map ``linear``."""
    columns = jax.vmap(linear)(_colours(q, block, dtype))  # (k, q): column c of every block
    return jnp.transpose(columns.reshape(block, q // block, block), (1, 2, 0))


def _curvature(h: Callable, u, params, data, block: int):
    """H_uu: ``(q, q)``, or its ``(G, k, k)`` blocks."""
    if block == 0:
        return jax.hessian(h)(u, params, data)
    grad = jax.grad(h)
    return _blocks_of(lambda v: jax.jvp(lambda w: grad(w, params, data), (u,), (v,))[1],
                      u.shape[0], block, u.dtype)


def _symmetric(M):
    return 0.5 * (M + jnp.swapaxes(M, -1, -2))


def _cholesky(M):
    return jnp.linalg.cholesky(_symmetric(M))  # batched over blocks when M is (G, k, k)


def _cho_solve(chol, rhs, block: int):
    if block == 0:
        return jax.scipy.linalg.cho_solve((chol, True), rhs)
    r = rhs.reshape(chol.shape[0], block)
    y = jax.scipy.linalg.solve_triangular(chol, r[..., None], lower=True)
    return jax.scipy.linalg.solve_triangular(jnp.swapaxes(chol, -1, -2), y, lower=False).reshape(-1)


def _logdet(chol):
    return 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)))


def _solve(M, rhs, block: int):
    if block == 0:
        return jnp.linalg.solve(M, rhs)
    return jnp.linalg.solve(M, rhs.reshape(M.shape[0], block, 1)).reshape(-1)


def _newton_mode(h: Callable, u0, params, data, block: int = 0):
    """Maximize the joint over u: Newton on the exact H_uu with step halving.

    Returns ``(u_hat, converged)``; converged means a finite, positive definite
    H_uu and a Newton decrement below rounding at the end.
    """
    grad = jax.grad(h)
    # (``while_loop``s: the mode's derivatives come from the implicit function theorem,
    # never from differentiating these iterations.)

    def step(carry):
        u, f, _, k = carry
        g, M = grad(u, params, data), _curvature(h, u, params, data, block)
        delta = -_solve(M, g, block)
        decrement = -(g @ delta)

        def shrink(c):
            t, trial, j = c
            return 0.5 * t, h(u + 0.5 * t * delta, params, data), j + 1

        def too_far(c):
            t, trial, j = c
            return ~(jnp.isfinite(trial) & (trial <= f)) & (j < _HALVINGS)

        t, trial, _ = jax.lax.while_loop(too_far, shrink, (jnp.asarray(1.0), h(u + delta, params, data), 0))
        keep = jnp.all(jnp.isfinite(delta)) & jnp.isfinite(trial) & (trial <= f)
        # Converged: the Newton decrement g'H^-1 g is at rounding level of f.
        done = ~keep | (decrement <= 1e-13 * jnp.maximum(jnp.abs(f), 1.0))
        return jnp.where(keep, u + t * delta, u), jnp.where(keep, trial, f), done, k + 1

    def more(carry):
        _, _, done, k = carry
        return ~done & (k < _INNER_STEPS)

    u, _, _, _ = jax.lax.while_loop(more, step, (u0, h(u0, params, data), jnp.asarray(False), 0))
    g = grad(u, params, data)
    chol = _cholesky(_curvature(h, u, params, data, block))
    newton = _cho_solve(chol, g, block)
    converged = jnp.all(jnp.isfinite(chol)) & (g @ newton <= 1e-12 * jnp.maximum(jnp.abs(h(u, params, data)), 1.0))
    return u, converged


def _mode(h: Callable, u0, params, data, block: int = 0):
    """u_hat(params) with implicit-function-theorem derivatives (``lax.custom_root``)."""

    def stationarity(u):
        return jax.grad(h)(u, params, data)

    def solve(_, guess):
        return _newton_mode(h, guess, params, data, block)[0]

    def tangent_solve(linear, rhs):
        if block == 0:
            return jnp.linalg.solve(jax.jacfwd(linear)(rhs), rhs)
        return _solve(_blocks_of(linear, rhs.shape[0], block, rhs.dtype), rhs, block)

    return jax.lax.custom_root(stationarity, u0, solve, tangent_solve)


def _laplace(h: Callable, params, u0, data, block: int = 0):
    """The Laplace marginal log-likelihood at ``params`` and its inner mode."""
    u_hat = _mode(h, u0, params, data, block)
    logdet = _logdet(_cholesky(_curvature(h, u_hat, params, data, block)))
    q = u0.shape[0]
    return -h(u_hat, params, data) - 0.5 * logdet + 0.5 * q * jnp.log(2.0 * jnp.pi), u_hat


def _adaptive_gauss_hermite(h: Callable, params, u0, data, nodes, weights, block: int = 0):
    """The marginal by adaptive Gauss-Hermite quadrature, for a joint that is a sum of
    terms in one coordinate of u each (H_uu diagonal; Liu & Pierce 1994, Pinheiro &
    Bates 1995): per coordinate, nodes centred at u_hat_j and scaled by
    sigma_j = H_jj^-1/2. Since the joint is separable, l_j(u_hat_j + d) - l_j(u_hat_j)
    = l(u_hat + d e_j) - l(u_hat): q * k evaluations of the joint, vmapped. One node
    is the Laplace approximation."""
    u_hat = _mode(h, u0, params, data, block)
    curvature = _curvature(h, u_hat, params, data, block)
    sigma = 1.0 / jnp.sqrt(jnp.diagonal(curvature, axis1=-2, axis2=-1).reshape(-1))
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

    def __init__(self, joint: Callable, unravel_u: Callable, n_quadrature: int = 1, block: int = 0):
        self._ref = weak_callable(joint)
        self._unravel_u = unravel_u
        self.n_quadrature = n_quadrature
        self.block = block  # 0: dense H_uu; k: (G, k, k) blocks
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
            return _laplace(self.inner(), params, u0, data, self.block)[0]
        return _adaptive_gauss_hermite(self.inner(), params, u0, data, *self._rule, self.block)[0]


# Above this many random effects a dense H_uu (q^2 doubles, q^3 flops a Newton step) is refused.
DENSE_LIMIT = 2000


def _block_size(spec) -> int:
    """The candidate block size: random effects as one array (G,) or (G, k), G >= 2."""
    if len(spec.shapes) == 1 and len(spec.shapes[0]) in (1, 2) and spec.shapes[0][0] >= 2:
        return 1 if len(spec.shapes[0]) == 1 else spec.shapes[0][1]
    return 0


def _detect_block(joint: Callable, spec, params, u0, data: tuple) -> int:
    """Block size k if H_uu is block diagonal along the leading axis of the random effects
    (one k x k block per group), verified at the starting values: the blocks read off k
    coloured Hessian-vector products must reproduce H_uu r for a random r. Else 0 (dense)."""
    k = _block_size(spec)
    if k == 0:
        return 0
    h = _inner_functions(joint, spec.unravel)
    q = spec.size

    @jax.jit
    def probe(u, p, d, r):
        grad = jax.grad(h)
        blocks = _curvature(h, u, p, d, k)
        exact = jax.jvp(lambda w: grad(w, p, d), (u,), (r,))[1]
        return blocks, exact

    r = jnp.asarray(np.random.default_rng(0).standard_normal(q))
    blocks, exact = probe(u0, params, data, r)
    approx = jnp.einsum("gij,gj->gi", blocks, r.reshape(q // k, k)).reshape(-1)
    scale = float(jnp.max(jnp.abs(exact))) or 1.0
    return k if float(jnp.max(jnp.abs(approx - exact))) <= 1e3 * np.finfo(np.float64).eps * scale else 0


def _marginal(joint: Callable, random_init: Any, n_quadrature: int, params: Any, data: tuple
              ) -> tuple[MarginalLoglik, jax.Array, Any]:
    """The cached marginal of ``joint`` for this random-effect structure, and u0."""
    if not callable(joint):
        raise TypeError(f"`joint_loglik` must be a callable joint_loglik(params, random, *data); got "
                        f"{type(joint).__name__}.")
    random, _ = as_float64_params(random_init, argname="random_init", starting_values=True)
    spec = param_spec(random)
    if spec.size == 0:
        raise ValueError("`random_init` has no elements: give the random effects' starting values.")
    u0 = ravel_leaves(jax.tree_util.tree_leaves(random))
    cache = function_cache(joint)
    # The structure is detected eagerly, once per function and random-effect shape; under
    # jit/grad (traced params or data) an earlier eager call's finding is reused.
    structure_key = ("laplace-structure", spec)
    block = cache.get(structure_key)
    if block is None:
        traced = any(is_traced(leaf) for leaf in jax.tree_util.tree_leaves((params, data)))
        block = 0 if traced else _detect_block(joint, spec, params, u0, data)
        if not traced:
            cache[structure_key] = block
    if block == 0 and spec.size > DENSE_LIMIT:
        raise ValueError(
            f"{spec.size} random effects and H_uu is not known to be block diagonal along the "
            "leading axis of `random_init`: a dense H_uu would not fit. Give the random effects as "
            "one array (G,) or (G, k), one row per group, each group's effects entering only its "
            "own terms (under jit/grad, call the function once eagerly first: the structure is "
            "detected on concrete values)."
        )
    key = ("laplace", spec, n_quadrature, block)
    marginal = cache.get(key)
    if marginal is None:
        marginal = cache[key] = MarginalLoglik(joint, spec.unravel, n_quadrature, block)
    _check_separable(marginal, params, u0, data)
    return marginal, u0, spec


def _check_separable(marginal: MarginalLoglik, params: Any, u0, data: tuple) -> None:
    """Quadrature needs a diagonal H_uu: a detected block size 1, or a dense H_uu with
    exact zeros off the diagonal (autodiff gives exact zeros where a coordinate pair
    never meets), checked once, eagerly, at the starting values."""
    if marginal.n_quadrature == 1 or marginal.block == 1:
        return
    if marginal.block > 1:
        off = np.array([[0, 1]])
    else:
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
    k = _check_quadrature(n_quadrature)
    params, _ = as_float64_params(params, argname="params")
    marginal, u0, _ = _marginal(joint_loglik, random_init, k, params, data)
    # Jitted (compiled once per marginal and data shape): run eagerly, its loops would
    # dispatch op by op. Under an outer jit/grad this simply inlines.
    return jnp.asarray(jax.jit(marginal)(params, u0, *data))


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
    TypeError
        Under ``jax.jit``/``vmap`` (not supported: fit datasets in a loop).

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
    if any(is_traced(leaf) for leaf in jax.tree_util.tree_leaves((init, random_init, data))):
        raise TypeError(
            "fit_laplace does not run under jax.jit/vmap: it detects the structure of H_uu and "
            "computes the random effects' SEs eagerly. Fit datasets one at a time (a Python loop "
            "reuses one compiled program per data shape)."
        )
    start, _ = as_float64_params(init, argname="init", starting_values=True)
    marginal, u0, spec = _marginal(joint_loglik, random_init, k, start, data)
    result = fit(marginal, init, u0, *data, method=method, **options)
    if is_traced(result.loglik):
        return result
    program = _random_effects_program(marginal, result)
    u_hat, converged, var_u = program(
        jnp.asarray(result.estimate), u0, tuple(result.data[1:]), jnp.asarray(result.cov))
    d = dataclasses.replace(result.diagnostics, inner_failed=np.asarray(not bool(converged)))
    if not bool(converged):
        d = dataclasses.replace(d, is_valid=np.asarray(False))
        warn(f"{INNER_FAILED}, so the fit is NOT VALID.", HessianWarning)
    with np.errstate(invalid="ignore"):
        random_se = np.sqrt(np.asarray(var_u))
    return dataclasses.replace(
        result, diagnostics=d, random=spec.unravel_host(np.asarray(u_hat)),
        random_se=spec.unravel_host(random_se),
    )


def _random_effects_program(marginal: MarginalLoglik, result: FitResult) -> Callable:
    """``(theta, u0, data, cov_theta) -> (u_hat, converged, diag Var(u_hat))``, jitted and cached
    on the marginal's objective: Var(u_hat) = H_uu^-1 + J cov J', J = du_hat/dtheta (TMB's
    ``sdreport``), with J exact through the implicit function theorem."""
    obj = result.objective
    inner = marginal.inner()

    def build():
        block = marginal.block

        def run(theta, u0, data, cov):
            def mode(t):
                return _mode(inner, u0, obj.spec.unravel(t), data, block)

            u_hat = mode(theta)
            params = obj.spec.unravel(theta)
            _, converged = _newton_mode(inner, u_hat, params, data, block)
            inverse = jnp.linalg.inv(_symmetric(_curvature(inner, u_hat, params, data, block)))
            J = jax.jacfwd(mode)(theta)  # (q, p): p forward passes, no q x q matrix
            var = jnp.diagonal(inverse, axis1=-2, axis2=-1).reshape(-1) + jnp.sum((J @ cov) * J, axis=1)
            return u_hat, converged, var

        return jax.jit(run)

    return obj.program(("laplace-random",), build)
