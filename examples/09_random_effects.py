"""Random effects: the Laplace approximation with exact-Hessian standard errors.

You write the joint log-density log p(y, u | params) of the data and the random
effects u (including u's own normal log-density); ``hj.fit_laplace`` integrates
u out by the Laplace approximation, as lme4's ``glmer`` (nAGQ = 1) and TMB do,
and fits the marginal with ``hj.fit``. Its Hessian is the exact observed
information of that marginal (no finite differences), ``res.random`` are the
conditional modes of u and ``res.random_se`` their TMB ``sdreport`` SEs.

1. cbpp (lme4's ``glmer`` example): incidence of contagious bovine
   pleuropneumonia in 15 herds over 4 periods, ``cbind(incidence, size -
   incidence) ~ period + (1 | herd)``. Fixed effects next to lme4's printed
   fit, the herd SD with a delta-method SE, and the 15 herd effects with SEs.
2. A simulated Poisson model with a correlated random intercept and slope per
   group (two random effects per group): the covariance parameters on an
   unconstrained scale, reported as SDs and a correlation by ``res.delta``.

What to look for: the fixed effects equal to lme4's to its 4 printed decimals
(within its optimizer's ~1e-3), the herd effects with "sdreport SEs", and the
simulated model's estimates within about two SEs of the truth (closer to the
simulated effects' own SDs and correlation) with a VALID certificate.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import jax.scipy.linalg
import numpy as np
from jax.scipy.special import gammaln

import hessjax as hj

SMOKE = os.environ.get("HESSJAX_SMOKE") == "1"
LOG2PI = float(np.log(2 * np.pi))

# lme4's cbpp data (56 rows: herd, period, incidence, size), as in R's `data(cbpp)`.
HERD = [1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 9, 9, 9, 9,
        10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15]
PERIOD = [1, 2, 3, 4, 1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 1, 2, 3, 4,
          1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]
INCIDENCE = [2, 3, 4, 0, 3, 1, 1, 8, 2, 0, 2, 2, 0, 2, 0, 5, 0, 0, 1, 3, 0, 0, 1, 8, 1, 3, 0, 12, 2, 0, 0, 0,
             1, 1, 0, 2, 0, 5, 3, 1, 2, 1, 0, 0, 1, 2, 0, 0, 11, 0, 0, 0, 1, 1, 1, 0]
SIZE = [14, 12, 9, 5, 22, 18, 21, 22, 16, 16, 20, 10, 10, 9, 6, 18, 25, 24, 4, 17, 17, 18, 20, 16, 10, 9, 5,
        34, 9, 6, 8, 6, 22, 22, 18, 22, 25, 27, 22, 22, 10, 8, 6, 5, 21, 24, 19, 23, 19, 2, 3, 2, 19, 15, 15, 15]
# lme4's printed glmer fit (Laplace): fixed effects and the herd variance.
LME4 = {"(Intercept)": -1.3983, "period2": -0.9919, "period3": -1.1282, "period4": -1.5797}
LME4_HERD_VARIANCE = 0.4123


def cbpp_joint(p, u, k, n, X, herd):
    """log p(y, u): binomial with logit P = X beta + u[herd], u ~ N(0, sd^2)."""
    eta = X @ p["beta"] + u[herd]
    sd = jnp.exp(p["log_sd"])
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)  # as in lme4's logLik
    loglik = jnp.sum(log_choose + k * eta - n * jnp.logaddexp(0.0, eta))
    log_prior = jnp.sum(-0.5 * (u / sd) ** 2 - jnp.log(sd) - 0.5 * LOG2PI)
    return loglik + log_prior


def slopes_joint(p, u, y, x, group):
    """log p(y, u): Poisson, log mean = (b0 + u[g, 0]) + (b1 + u[g, 1]) x, with
    (u[g, 0], u[g, 1]) ~ N(0, Sigma), Sigma = L L' from two SDs and a correlation."""
    s0, s1 = jnp.exp(p["log_sd"][0]), jnp.exp(p["log_sd"][1])
    rho = jnp.tanh(p["z_corr"])  # correlation in (-1, 1), unconstrained z = atanh(rho)
    L = jnp.array([[s0, 0.0], [rho * s1, s1 * jnp.sqrt(1.0 - rho**2)]])
    eta = p["beta"][0] + u[group, 0] + (p["beta"][1] + u[group, 1]) * x
    loglik = jnp.sum(y * eta - jnp.exp(eta) - gammaln(y + 1))
    w = jax.scipy.linalg.solve_triangular(L, u.T, lower=True)  # whitened random effects
    n_groups = u.shape[0]
    log_prior = -0.5 * jnp.sum(w**2) - n_groups * (jnp.log(jnp.diag(L)).sum() + LOG2PI)
    return loglik + log_prior


def cbpp_example() -> None:
    print("1. cbpp: cbind(incidence, size - incidence) ~ period + (1 | herd), binomial")
    herd = np.asarray(HERD) - 1
    period = np.asarray(PERIOD)
    k, n = np.asarray(INCIDENCE, float), np.asarray(SIZE, float)
    X = np.column_stack([np.ones(k.size)] + [(period == j).astype(float) for j in (2, 3, 4)])
    n_herds = herd.max() + 1
    res = hj.fit_laplace(cbpp_joint, {"beta": np.zeros(4), "log_sd": 0.0}, np.zeros(n_herds), k, n, X, herd)
    print(f"   certificate {'VALID' if bool(res.diagnostics.is_valid) else 'NOT VALID'}, "
          f"Laplace log-likelihood {float(res.loglik):.4f} (lme4 prints -92.0)")
    print("   fixed effect      estimate      SE   lme4 (glmer)")
    for j, (name, lme4) in enumerate(LME4.items()):
        print(f"   {name:<14} {res.params['beta'][j]:10.4f} {res.se['beta'][j]:8.4f}   {lme4:10.4f}")
    sd = res.delta(lambda p: jnp.exp(p["log_sd"]))
    variance = res.delta(lambda p: jnp.exp(2 * p["log_sd"]))
    lo, hi = np.exp(res.conf_int()[-1])
    print(f"   herd SD {float(sd.value):.4f} (delta-method SE {float(sd.se):.4f}; "
          f"95% interval from log_sd [{lo:.3f}, {hi:.3f}])")
    print(f"   herd variance {float(variance.value):.4f} (SE {float(variance.se):.4f}); "
          f"lme4 {LME4_HERD_VARIANCE}")
    print("   conditional modes of the herd effects (sdreport SEs):")
    for j in range(n_herds):
        print(f"     herd {j + 1:2d}  {res.random[j]:7.3f}  SE {res.random_se[j]:.3f}")


def random_slopes_example() -> None:
    print("\n2. Simulated Poisson model, correlated random intercept and slope per group")
    rng = np.random.default_rng(9)
    n_groups, per_group = (20, 12) if SMOKE else (60, 20)
    truth = {"beta": np.array([1.0, 0.5]), "sd": np.array([0.5, 0.3]), "corr": 0.4}
    cov = np.diag(truth["sd"]) @ np.array([[1.0, truth["corr"]], [truth["corr"], 1.0]]) @ np.diag(truth["sd"])
    u_true = rng.multivariate_normal(np.zeros(2), cov, size=n_groups)
    group = np.repeat(np.arange(n_groups), per_group)
    x = rng.uniform(-1.0, 1.0, group.size)
    eta = truth["beta"][0] + u_true[group, 0] + (truth["beta"][1] + u_true[group, 1]) * x
    y = rng.poisson(np.exp(eta)).astype(float)

    init = {"beta": np.zeros(2), "log_sd": np.log([0.3, 0.3]), "z_corr": 0.0}
    res = hj.fit_laplace(slopes_joint, init, np.zeros((n_groups, 2)), y, x, group)
    print(f"   {n_groups} groups x {per_group} observations, {2 * n_groups} random effects; "
          f"certificate {'VALID' if bool(res.diagnostics.is_valid) else 'NOT VALID'}")
    print(f"   beta  {np.round(res.params['beta'], 3)} (SE {np.round(res.se['beta'], 3)}), "
          f"true {truth['beta']}")
    natural = res.delta(lambda p: {"sd": jnp.exp(p["log_sd"]), "corr": jnp.tanh(p["z_corr"])})
    print(f"   SDs   {np.round(natural.value['sd'], 3)} (SE {np.round(natural.se['sd'], 3)}), "
          f"true {truth['sd']}")
    print(f"   corr  {float(natural.value['corr']):.3f} (SE {float(natural.se['corr']):.3f}), "
          f"true {truth['corr']}")
    print(f"   (the {n_groups} simulated effects themselves: SDs {np.round(u_true.std(axis=0), 3)}, "
          f"corr {np.corrcoef(u_true.T)[0, 1]:.3f})")
    print("   first groups: conditional modes (sdreport SEs) vs the simulated effects")
    for g in range(4):
        u, se = res.random[g], res.random_se[g]
        print(f"     group {g}: intercept {u[0]:6.3f} ({se[0]:.3f}) true {u_true[g, 0]:6.3f}; "
              f"slope {u[1]:6.3f} ({se[1]:.3f}) true {u_true[g, 1]:6.3f}")
    inside = np.abs(res.random - u_true) <= 1.96 * res.random_se
    print(f"   simulated effects inside mode +- 1.96 SE: {inside.mean():.0%} of {inside.size}")


def main() -> None:
    cbpp_example()
    random_slopes_example()


if __name__ == "__main__":
    main()
