"""Krylov kernels on a Hessian-vector product: what large models use instead of eigh.

Every function takes the operator as ``hvp(v) -> H v`` (in hessjax, the
``jax.linearize`` of the exact gradient at a point, so each product costs
about one forward-mode pass and the linearization point is evaluated once),
and is pure ``jax.numpy`` with ``lax.while_loop``/``fori_loop`` control flow:
no Python branching on traced values, so all of it runs under ``jit`` and
``vmap``.

* :func:`steihaug_cg`: the truncated-CG trust-region subproblem solver of
  Steihaug (1983) and Toint (1981), Nocedal & Wright (2006) Algorithm 7.2.
* :func:`conjugate_gradient`: linear CG (N&W Algorithm 5.2) that stops at
  the first direction with p'Hp <= 0 and says so.
* :func:`lanczos_extremes`: Lanczos with full reorthogonalization (Golub &
  Van Loan 2013, sec. 10.1; Parlett 1998, ch. 13) for the extreme Ritz pairs
  and their residual error bounds.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import EPS

__all__ = [
    "SteihaugResult",
    "steihaug_cg",
    "CGResult",
    "conjugate_gradient",
    "LanczosResult",
    "lanczos_start",
    "lanczos_extremes",
]

# Golden angle (radians): consecutive multiples never repeat, so the start
# vector below has no periodic structure an eigenvector could be orthogonal to.
_GOLDEN_ANGLE = float(np.pi * (3.0 - np.sqrt(5.0)))


class SteihaugResult(NamedTuple):
    step: jax.Array
    predicted: jax.Array  # m(0) - m(step) = -(g'p + p'Hp/2), the predicted decrease
    iterations: jax.Array  # Hessian-vector products used
    boundary: jax.Array  # the step ends on the trust-region boundary
    negative_curvature: jax.Array  # stopped at a direction with d'Hd <= 0


def steihaug_cg(hvp: Callable, g: jax.Array, radius: jax.Array, rtol: jax.Array, max_steps: int):
    """Approximate minimizer of m(p) = g'p + p'Hp/2 subject to ||p|| <= radius.

    N&W Algorithm 7.2: CG on H p = -g from p = 0, stopped when the residual
    falls below ``rtol * ||g||`` (interior step), when an iterate would
    leave the trust region (step to the boundary along the current
    direction), or at the first direction with d'Hd <= 0 (negative
    curvature: step to the boundary along it, at whichever root of
    ||z + tau d|| = radius gives the lower model value). The first iterate
    is the Cauchy point, so the step is never worse than steepest descent.
    The model value is tracked along the way (no extra product).
    """
    tol = rtol * jnp.linalg.norm(g)
    zero = jnp.zeros_like(g)
    rr0 = g @ g

    def cond(s):
        return ~s[6]

    def body(s):
        j, z, r, d, rr, model, _, _, _ = s
        Bd = hvp(d)
        dBd = d @ Bd
        dr = d @ r

        def model_at(tau):
            return model + tau * dr + 0.5 * tau**2 * dBd

        dd = jnp.maximum(d @ d, jnp.finfo(g.dtype).tiny)
        zd, zz = z @ d, z @ z
        root = jnp.sqrt(jnp.maximum(zd**2 + dd * (radius**2 - zz), 0.0))
        tau_plus, tau_minus = (-zd + root) / dd, (-zd - root) / dd
        # `~(dBd > 0)` also catches a NaN product (edge of the domain): the
        # resulting NaN model value makes the caller reject the step.
        negative = ~(dBd > 0)
        tau_negative = jnp.where(model_at(tau_minus) < model_at(tau_plus), tau_minus, tau_plus)
        alpha = rr / jnp.where(negative, 1.0, dBd)
        leaves = jnp.linalg.norm(z + alpha * d) >= radius
        tau = jnp.where(negative, tau_negative, jnp.where(leaves, tau_plus, alpha))
        z_new = z + tau * d
        r_new = r + tau * Bd
        rr_new = r_new @ r_new
        small = jnp.sqrt(rr_new) <= tol
        d_new = -r_new + (rr_new / rr) * d
        done = negative | leaves | small | (j + 1 >= max_steps)
        return (j + 1, z_new, r_new, d_new, rr_new, model_at(tau), done, negative | leaves, negative)

    start = (
        jnp.asarray(0, jnp.int32), zero, g, -g, rr0, jnp.zeros((), g.dtype),
        ~(jnp.sqrt(rr0) > tol), jnp.asarray(False), jnp.asarray(False),
    )
    j, z, _, _, _, model, _, boundary, negative = jax.lax.while_loop(cond, body, start)
    return SteihaugResult(z, -model, j, boundary, negative)


class CGResult(NamedTuple):
    solution: jax.Array
    iterations: jax.Array
    residual: jax.Array  # ||b - H x|| / ||b|| by the CG recurrence
    converged: jax.Array  # residual <= rtol, no bad curvature met
    indefinite: jax.Array  # met a direction with p'Hp <= 0 (or not finite)


def conjugate_gradient(hvp: Callable, b: jax.Array, rtol: jax.Array, max_steps: int) -> CGResult:
    """Solve H x = b by CG from x = 0 (N&W Algorithm 5.2), H symmetric.

    Stops when ||r|| <= rtol ||b||, after ``max_steps`` products, or at the
    first search direction with p'Hp <= 0: then H is not positive definite
    (the converse does not hold: CG can run through an indefinite H whose
    negative directions its Krylov space never meets) and ``indefinite`` is
    set; ``solution`` is the last iterate before it.

    For positive definite H, b'x_k = b'H^-1 b - ||x - x_k||_H^2 (Galerkin
    property), so b'x_k is a lower bound of b'H^-1 b, short by at most
    ||r_k||^2 / lambda_min: relative error <= rtol^2 cond(H).
    """
    bnorm = jnp.linalg.norm(b)
    tol = rtol * bnorm

    def cond(s):
        return ~s[5]

    def body(s):
        j, x, r, p, rr, _, _ = s
        Hp = hvp(p)
        pHp = p @ Hp
        bad = ~(pHp > 0)
        alpha = rr / jnp.where(bad, 1.0, pHp)
        x = jnp.where(bad, x, x + alpha * p)
        r_new = jnp.where(bad, r, r - alpha * Hp)
        rr_new = r_new @ r_new
        p = r_new + (rr_new / rr) * p
        done = bad | (jnp.sqrt(rr_new) <= tol) | (j + 1 >= max_steps)
        return j + 1, x, r_new, p, rr_new, done, bad

    rr0 = b @ b
    start = (jnp.asarray(0, jnp.int32), jnp.zeros_like(b), b, b, rr0, ~(jnp.sqrt(rr0) > tol), jnp.asarray(False))
    j, x, _, _, rr, _, bad = jax.lax.while_loop(cond, body, start)
    residual = jnp.sqrt(rr) / jnp.where(bnorm > 0, bnorm, 1.0)
    converged = (residual <= rtol) & ~bad & jnp.all(jnp.isfinite(x))
    return CGResult(x, j, residual, converged, bad)


class LanczosResult(NamedTuple):
    min_value: jax.Array  # smallest Ritz value (>= the smallest eigenvalue)
    max_value: jax.Array  # largest Ritz value (<= the largest eigenvalue)
    min_error: jax.Array  # ||H y - theta y|| of the Ritz pair: an eigenvalue lies this close
    max_error: jax.Array
    min_vector: jax.Array  # unit Ritz vector of min_value
    steps: jax.Array  # Lanczos steps taken (fewer than asked on breakdown)


def lanczos_start(n: int, dtype=jnp.float64) -> jax.Array:
    """Deterministic unit start vector: ones plus a non-periodic perturbation.

    Reproducible (no random key), and generically not orthogonal to any
    eigenvector: the constant part covers the "all parameters together"
    directions, the golden-angle sine the contrasts between them.
    """
    i = jnp.arange(n, dtype=dtype)
    v = 1.0 + 0.5 * jnp.sin(_GOLDEN_ANGLE * i + 1.0)
    return v / jnp.linalg.norm(v)


def lanczos_extremes(hvp: Callable, v0: jax.Array, steps: int) -> LanczosResult:
    """Extreme Ritz pairs of symmetric H after ``steps`` Lanczos steps.

    Full reorthogonalization (two Gram-Schmidt passes against every previous
    basis vector, "twice is enough") keeps the basis orthogonal, so no
    spurious copies of converged Ritz values appear. The error bound of a
    Ritz pair (theta, y = Q s) is the residual ||H y - theta y|| =
    |beta_k s_k|, which an eigenvalue of H lies within (Parlett 1998,
    Theorem 4.5.1). Ritz values lie inside the spectrum, so ``min_value`` is
    an upper bound of the smallest eigenvalue and ``max_value`` a lower
    bound of the largest. Lanczos converges to the extremes first, the
    better separated the faster; the smallest eigenvalue of an
    ill-conditioned H typically needs the most steps.

    On breakdown (beta ~ 0: the Krylov space is invariant, so its Ritz
    values are exact eigenvalues) the remaining steps are inert.
    """
    n = v0.shape[0]
    dtype = v0.dtype
    q0 = v0 / jnp.linalg.norm(v0)
    basis = jnp.zeros((steps + 1, n), dtype).at[0].set(q0)
    alphas = jnp.zeros(steps, dtype)
    betas = jnp.zeros(steps, dtype)
    # After full reorthogonalization a residual inside an invariant subspace
    # is rounding noise, about sqrt(n) eps ||H||; anything above is signal.
    breakdown_level = 10.0 * np.sqrt(n) * EPS

    def body(j, carry):
        basis, alphas, betas, active, taken, norm_estimate = carry
        q = basis[j]
        w = hvp(q)
        alpha = q @ w
        previous = jnp.where(j > 0, betas[j - 1], 0.0) * basis[jnp.maximum(j - 1, 0)]
        w = w - alpha * q - previous
        w = w - basis.T @ (basis @ w)
        w = w - basis.T @ (basis @ w)
        beta = jnp.linalg.norm(w)
        norm_estimate = jnp.maximum(norm_estimate, jnp.abs(alpha) + beta)
        alphas = alphas.at[j].set(jnp.where(active, alpha, 0.0))
        betas = betas.at[j].set(jnp.where(active, beta, 0.0))
        taken = taken + active.astype(jnp.int32)
        still = active & (beta > breakdown_level * norm_estimate)
        basis = basis.at[j + 1].set(jnp.where(still, w / jnp.where(still, beta, 1.0), 0.0))
        return basis, alphas, betas, still, taken, norm_estimate

    init = (basis, alphas, betas, jnp.asarray(True), jnp.asarray(0, jnp.int32), jnp.zeros((), dtype))
    basis, alphas, betas, _, taken, _ = jax.lax.fori_loop(0, steps, body, init)

    # Inert steps after a breakdown get diagonal alpha_0 and no coupling:
    # alpha_0 = q0'Hq0 lies between the extreme Ritz values of the active
    # block, so the padding never becomes an extreme.
    index = jnp.arange(steps)
    diagonal = jnp.where(index < taken, alphas, alphas[0])
    coupling = jnp.where(index[:-1] + 1 < taken, betas[:-1], 0.0)
    tridiagonal = jnp.diag(diagonal) + jnp.diag(coupling, 1) + jnp.diag(coupling, -1)
    theta, s = jnp.linalg.eigh(tridiagonal)
    last = jnp.maximum(taken - 1, 0)
    beta_last = betas[last]
    errors = jnp.abs(beta_last * s[last])
    min_vector = basis[:steps].T @ s[:, 0]
    return LanczosResult(theta[0], theta[-1], errors[0], errors[-1], min_vector, taken)
