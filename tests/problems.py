"""Known-answer minimization problems, crossed with the solvers in the tests.

Each :class:`Problem` holds a minimization objective ``objective(params, *data)``
written in ``jax.numpy`` (a summed negative log-likelihood where the problem is
statistical), a seeded data generator, a starting point (a pytree where that is
natural), and, where one exists, the closed-form optimum and the analytic
Hessian (observed information), both in NumPy float64 so that they are
independent of JAX.

Objectives are defined at module level: hessjax caches compilations per
function object, so every test that uses a problem reuses one compilation.

Matrices are over ``jax.flatten_util.ravel_pytree`` order: dict leaves in
sorted-key order (``{"beta", "log_alpha"}``, ``{"log_sigma", "mu"}``), each
leaf raveled in C order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import scipy.optimize

__all__ = [
    "Problem",
    "PROBLEMS",
    "BY_NAME",
    "rosenbrock",
    "quadratic",
    "normal_nll",
    "logistic_nll",
    "poisson_nll",
    "negbin_nll",
    "mixture_nll",
    "log_barrier",
    "scaled_regression_nll",
]


@dataclasses.dataclass(frozen=True)
class Problem:
    """A minimization problem with a known answer (or a trusted oracle).

    Attributes
    ----------
    name : str
        Test id.
    objective : callable
        ``objective(params, *data)`` -> scalar, to be *minimized*.
    initial : callable
        ``initial() -> pytree``: a fresh starting point (float64 NumPy leaves).
    generate : callable
        ``generate(rng) -> tuple`` of float64 NumPy data arrays.
    seed : int
        Seed of ``np.random.default_rng`` for :meth:`data`.
    optimum : callable or None
        ``optimum(*data) -> pytree``: the closed-form minimizer.
    hessian : callable or None
        ``hessian(params, *data) -> (n, n) ndarray``: the analytic Hessian of
        ``objective`` at any ``params`` (for likelihoods, the observed information).
    n_obs : int
        Number of terms summed in the objective (sets rounding-error tolerances).
    saddle_start : bool
        The start lies on a symmetry manifold whose stationary point is a
        saddle: gradient-only methods converge to it, Newton must escape.
    """

    name: str
    objective: Callable[..., Any]
    initial: Callable[[], Any]
    generate: Callable[[np.random.Generator], tuple]
    seed: int = 0
    optimum: Optional[Callable[..., Any]] = None
    hessian: Optional[Callable[..., np.ndarray]] = None
    n_obs: int = 1
    saddle_start: bool = False

    def data(self) -> tuple:
        """The problem's data, generated afresh from its seed."""
        return self.generate(np.random.default_rng(self.seed))

    def x0(self) -> Any:
        return self.initial()


def _design(rng: np.random.Generator, n_obs: int, n_cov: int, scale: float = 1.0) -> np.ndarray:
    """Intercept column plus ``n_cov`` standard-normal covariates times ``scale``."""
    return np.column_stack([np.ones(n_obs), scale * rng.standard_normal((n_obs, n_cov))])


# --------------------------------------------------------------------------------------
# Rosenbrock (chained), 2-D from (-1.2, 1) and 10-D. Minimum at ones, f = 0.
# --------------------------------------------------------------------------------------
def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _no_data(rng):
    return ()


def _rosenbrock_problem(n: int, start: np.ndarray) -> Problem:
    return Problem(
        name=f"rosenbrock{n}",
        objective=rosenbrock,
        initial=lambda: np.array(start, dtype=np.float64),
        generate=_no_data,
        optimum=lambda: np.ones(n),
        hessian=lambda x: scipy.optimize.rosen_hess(np.asarray(x)),
    )


ROSENBROCK2 = _rosenbrock_problem(2, np.array([-1.2, 1.0]))
# The chained Rosenbrock function in n >= 4 dimensions has a second local
# minimum near (-1, 1, ..., 1), which the alternating start (-1.2, 1, ...)
# and (-1.2, 1, 1, ..., 1) can reach (hessjax's Newton and SciPy do); the
# origin lies in the global minimum's basin for both solvers.
ROSENBROCK10 = _rosenbrock_problem(10, np.zeros(10))


# --------------------------------------------------------------------------------------
# Quadratic 0.5 x'Ax - b'x with SPD A (condition 1e3); parameters as a tuple of
# two arrays. Minimum A^-1 b, Hessian A.
# --------------------------------------------------------------------------------------
def quadratic(params, A, b):
    x = jnp.concatenate(params)
    return 0.5 * x @ (A @ x) - b @ x


def _quadratic_data(rng):
    n = 5
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.logspace(-1.5, 1.5, n)
    A = (q * lam) @ q.T
    A = 0.5 * (A + A.T)
    b = rng.standard_normal(n)
    return A, b


def _quadratic_optimum(A, b):
    x = np.linalg.solve(A, b)
    return (x[:2], x[2:])


QUADRATIC = Problem(
    name="quadratic",
    objective=quadratic,
    initial=lambda: (np.zeros(2), np.zeros(3)),
    generate=_quadratic_data,
    seed=1,
    optimum=_quadratic_optimum,
    hessian=lambda params, A, b: np.asarray(A),
)


# --------------------------------------------------------------------------------------
# Normal MLE in (mu, log sigma). MLE: the sample mean and log of the (biased,
# divide-by-N) standard deviation. Information: diag(N/s^2, 2N) at the MLE.
# --------------------------------------------------------------------------------------
def normal_nll(params, y):
    mu, log_sigma = params["mu"], params["log_sigma"]
    z = (y - mu) * jnp.exp(-log_sigma)
    return jnp.sum(log_sigma + 0.5 * z**2 + 0.5 * jnp.log(2.0 * jnp.pi))


def _normal_data(rng, n=200):
    return (3.0 + 2.0 * rng.standard_normal(n),)


def _normal_optimum(y):
    y = np.asarray(y)
    return {"mu": np.mean(y), "log_sigma": np.log(np.std(y))}


def _normal_hessian(params, y):
    # Order: log_sigma, mu (sorted dict keys).
    y = np.asarray(y)
    mu, s2 = float(params["mu"]), float(np.exp(2.0 * params["log_sigma"]))
    r = y - mu
    h_ll = 2.0 * np.sum(r**2) / s2
    h_lm = 2.0 * np.sum(r) / s2
    h_mm = y.size / s2
    return np.array([[h_ll, h_lm], [h_lm, h_mm]])


NORMAL = Problem(
    name="normal_mle",
    objective=normal_nll,
    initial=lambda: {"mu": 0.0, "log_sigma": 0.0},
    generate=_normal_data,
    seed=2,
    optimum=_normal_optimum,
    hessian=_normal_hessian,
    n_obs=200,
)


# --------------------------------------------------------------------------------------
# Logistic regression, N = 500, intercept + 3 covariates. Information X'WX,
# W = p(1 - p).
# --------------------------------------------------------------------------------------
def logistic_nll(params, X, y):
    eta = X @ params["beta"]
    return jnp.sum(jnp.logaddexp(0.0, eta) - y * eta)


def _logistic_data(rng, n=500):
    X = _design(rng, n, 3)
    p = 1.0 / (1.0 + np.exp(-(X @ np.array([-0.5, 1.0, -1.0, 0.5]))))
    return X, (rng.uniform(size=n) < p).astype(np.float64)


def _logistic_hessian(params, X, y):
    X = np.asarray(X)
    p = 1.0 / (1.0 + np.exp(-(X @ np.asarray(params["beta"]))))
    return (X * (p * (1.0 - p))[:, None]).T @ X


LOGISTIC = Problem(
    name="logistic",
    objective=logistic_nll,
    initial=lambda: {"beta": np.zeros(4)},
    generate=_logistic_data,
    seed=3,
    hessian=_logistic_hessian,
    n_obs=500,
)


# --------------------------------------------------------------------------------------
# Poisson regression (log link), N = 500. Information X' diag(mu) X.
# --------------------------------------------------------------------------------------
def poisson_nll(params, X, y):
    eta = X @ params["beta"]
    return jnp.sum(jnp.exp(eta) - y * eta + jsp.gammaln(y + 1.0))


def _poisson_data(rng, n=500):
    X = _design(rng, n, 3, scale=0.5)
    mu = np.exp(X @ np.array([0.5, 0.3, -0.2, 0.1]))
    return X, rng.poisson(mu).astype(np.float64)


def _poisson_hessian(params, X, y):
    X = np.asarray(X)
    mu = np.exp(X @ np.asarray(params["beta"]))
    return (X * mu[:, None]).T @ X


POISSON = Problem(
    name="poisson",
    objective=poisson_nll,
    initial=lambda: {"beta": np.zeros(4)},
    generate=_poisson_data,
    seed=4,
    hessian=_poisson_hessian,
    n_obs=500,
)


# --------------------------------------------------------------------------------------
# Negative binomial (NB2: Var = mu + alpha mu^2) with log alpha, N = 500.
# --------------------------------------------------------------------------------------
def negbin_nll(params, X, y):
    eta = X @ params["beta"]
    log_alpha = params["log_alpha"]
    r = jnp.exp(-log_alpha)  # the NB "size", 1 / alpha
    log_r_plus_mu = jnp.logaddexp(-log_alpha, eta)
    loglik = (
        jsp.gammaln(y + r)
        - jsp.gammaln(r)
        - jsp.gammaln(y + 1.0)
        + r * (-log_alpha - log_r_plus_mu)
        + y * (eta - log_r_plus_mu)
    )
    return -jnp.sum(loglik)


def _negbin_data(rng, n=500):
    X = _design(rng, n, 3, scale=0.5)
    mu = np.exp(X @ np.array([1.0, 0.3, -0.2, 0.1]))
    size = 1.0 / 0.5  # alpha = 0.5
    return X, rng.negative_binomial(size, size / (size + mu)).astype(np.float64)


NEGBIN = Problem(
    name="negbin2",
    objective=negbin_nll,
    initial=lambda: {"beta": np.zeros(4), "log_alpha": 0.0},
    generate=_negbin_data,
    seed=5,
    n_obs=500,
)


# --------------------------------------------------------------------------------------
# Two-component Gaussian mixture, weights 1/2 and unit sigmas known, means free.
# Data: half N(-2, 1), half N(2, 1). Started at equal means, the problem is
# symmetric under swapping the means: the gradient keeps them equal, so
# gradient-only methods converge to the single-Gaussian stationary point
# (both means at the sample mean), a saddle whose Hessian has a negative
# eigenvalue along (1, -1) (the data's variance, about 5, exceeds sigma^2 = 1).
# --------------------------------------------------------------------------------------
_LOG_HALF = float(np.log(0.5))


def mixture_nll(params, y):
    mu = params["mu"]
    log_phi = -0.5 * (y[:, None] - mu[None, :]) ** 2 - 0.5 * jnp.log(2.0 * jnp.pi)
    return -jnp.sum(jnp.logaddexp(_LOG_HALF + log_phi[:, 0], _LOG_HALF + log_phi[:, 1]))


def _mixture_data(rng, n=300):
    half = n // 2
    return (np.concatenate([-2.0 + rng.standard_normal(half), 2.0 + rng.standard_normal(n - half)]),)


def _mixture_hessian(params, y):
    # -d2/dmu_j dmu_k of sum_i log(sum_c w phi(y_i - mu_c)) with responsibilities r_ic:
    # diag: sum r_ij (1 - (1 - r_ij) d_ij^2); off-diagonal: sum r_i1 r_i2 d_i1 d_i2.
    y = np.asarray(y)
    mu = np.asarray(params["mu"])
    d = y[:, None] - mu[None, :]
    logp = -0.5 * d**2
    r = np.exp(logp - np.logaddexp(logp[:, :1], logp[:, 1:]))
    diag = np.sum(r * (1.0 - (1.0 - r) * d**2), axis=0)
    off = np.sum(r[:, 0] * r[:, 1] * d[:, 0] * d[:, 1])
    return np.array([[diag[0], off], [off, diag[1]]])


MIXTURE = Problem(
    name="mixture_saddle",
    objective=mixture_nll,
    initial=lambda: {"mu": np.array([1.0, 1.0])},
    generate=_mixture_data,
    seed=6,
    hessian=_mixture_hessian,
    n_obs=300,
    saddle_start=True,
)


# --------------------------------------------------------------------------------------
# Log barrier c'x - sum(log x): nan for x < 0 (and inf at 0). Minimum x = 1/c,
# Hessian diag(1/x^2). From x0 = 3/c the full Newton step lands at -3/c, and
# BFGS's first (unit-length) step leaves the domain too: both must backtrack.
# --------------------------------------------------------------------------------------
def log_barrier(x, c):
    return jnp.sum(c * x - jnp.log(x))


_BARRIER_C = np.array([1.0, 2.0, 5.0, 10.0])

LOG_BARRIER = Problem(
    name="log_barrier",
    objective=log_barrier,
    initial=lambda: 3.0 / _BARRIER_C,
    generate=lambda rng: (_BARRIER_C.copy(),),
    optimum=lambda c: 1.0 / np.asarray(c),
    hessian=lambda x, c: np.diag(1.0 / np.asarray(x) ** 2),
)


# --------------------------------------------------------------------------------------
# Badly scaled least squares: covariates in units 1e3 and 1e-3, so the
# coefficients are about 2e-3 and 3e3 (six orders apart) and X'X has a raw
# condition number near 1e12 (near 1 after correlation scaling).
# Minimum: the OLS solution; Hessian X'X.
# --------------------------------------------------------------------------------------
def scaled_regression_nll(params, X, y):
    resid = y - X @ params["beta"]
    return 0.5 * jnp.sum(resid**2)


def _scaled_data(rng, n=200):
    X = np.column_stack(
        [np.ones(n), 1e3 * rng.standard_normal(n), 1e-3 * rng.standard_normal(n)]
    )
    y = X @ np.array([1.0, 2e-3, 3e3]) + rng.standard_normal(n)
    return X, y


def _scaled_optimum(X, y):
    return {"beta": np.linalg.lstsq(np.asarray(X), np.asarray(y), rcond=None)[0]}


SCALED = Problem(
    name="badly_scaled",
    objective=scaled_regression_nll,
    initial=lambda: {"beta": np.zeros(3)},
    generate=_scaled_data,
    seed=7,
    optimum=_scaled_optimum,
    hessian=lambda params, X, y: np.asarray(X).T @ np.asarray(X),
    n_obs=200,
)


PROBLEMS = (
    ROSENBROCK2,
    ROSENBROCK10,
    QUADRATIC,
    NORMAL,
    LOGISTIC,
    POISSON,
    NEGBIN,
    MIXTURE,
    LOG_BARRIER,
    SCALED,
)
BY_NAME = {p.name: p for p in PROBLEMS}
