"""The seed question: BFGS ``hess_inv``, statsmodels and a hand-written FD Hessian disagree.

A user fits a negative-binomial regression by maximum likelihood with
``scipy.optimize.minimize(method="BFGS")`` and computes standard errors three
ways:

1. from ``res.hess_inv`` (BFGS's inverse-Hessian approximation),
2. from statsmodels' ``approx_hess`` (``statsmodels.tools.numdiff``),
3. from a hand-written central finite-difference Hessian with a fixed step
   ``eps = 1e-5`` (the function from the question),

and gets three different answers, one of them with a negative variance.
This script reproduces that, adds the exact Hessian (``hj.hessian``, by
automatic differentiation), lets hessjax explain each discrepancy
(``hj.check_scipy_result``, ``hj.compare_hessians``), and certifies the optimum
(``hj.fit``).

What to look for in the output:

- the SE table: BFGS's SE for ``conc`` (a coefficient of order 300, because the
  covariate is in mol/L) is off by a factor of about 200; the fixed-step FD
  Hessian gives a *negative* variance for the same parameter (its curvature is
  lost in rounding noise); statsmodels (a scaled step) and the exact Hessian
  agree;
- the verdicts: "a quasi-Newton matrix records the path" for ``hess_inv``, and
  "the step 1e-05 is too small for conc" for the hand-written FD;
- the certificate: SciPy's estimate is a strict maximum (positive-definite
  information, tiny Newton decrement), so the disagreement is in the matrices,
  not in the point; hessjax's own fit gives the same estimate and "VALID".
"""

from __future__ import annotations

import os
import time
import warnings

import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.scipy.special import gammaln as jgammaln
from scipy.special import gammaln
from statsmodels.tools.numdiff import approx_hess

import hessjax as hj

NAMES = ["intercept", "age", "conc", "log_alpha"]


# ----------------------------------------------------------------------------------------
# The user's side: data, a NumPy negative log-likelihood, SciPy BFGS, three SE recipes.
# ----------------------------------------------------------------------------------------
def simulate(n: int, seed: int = 0):
    """Intercept, age in years (~45) and a concentration in mol/L (~0.001); NB2 counts."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20.0, 70.0, n)
    conc = rng.lognormal(np.log(1e-3), 0.5, n)
    X = np.column_stack([np.ones(n), age, conc])
    beta, alpha = np.array([0.3, 0.02, 300.0]), 0.7
    mu = np.exp(X @ beta)
    r = 1.0 / alpha
    y = rng.negative_binomial(r, r / (r + mu)).astype(np.float64)
    return X, y


def negloglik_numpy(p, X, y):
    """NB2 negative log-likelihood, p = [b0, b_age, b_conc, log_alpha] (plain NumPy)."""
    beta, log_alpha = p[:-1], p[-1]
    mu = np.exp(X @ beta)
    r = np.exp(-log_alpha)
    ll = gammaln(y + r) - gammaln(r) - gammaln(y + 1.0) + r * np.log(r / (r + mu)) + y * np.log(mu / (r + mu))
    return -np.sum(ll)


def hessian_fd(f, x, eps=1e-5):
    """The hand-written central-difference Hessian from the question (fixed absolute step)."""
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ei = np.zeros(n)
            ej = np.zeros(n)
            ei[i] = eps
            ej[j] = eps
            if i == j:
                H[i, i] = (f(x + ei) - 2.0 * f(x) + f(x - ei)) / eps**2
            else:
                H[i, j] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4.0 * eps**2)
    return H


def se_from_inverse(cov):
    """sqrt(diag(cov)); NaN where the 'variance' is negative."""
    var = np.diag(cov)
    with np.errstate(invalid="ignore"):
        return np.where(var > 0, np.sqrt(np.abs(var)), np.nan)


# ----------------------------------------------------------------------------------------
# The same model in jax.numpy, for hessjax.
# ----------------------------------------------------------------------------------------
def nb2_loglik(p, X, y):
    """Per-observation NB2 log-likelihood (what hj.fit maximizes)."""
    beta, log_alpha = p[:-1], p[-1]
    mu = jnp.exp(X @ beta)
    r = jnp.exp(-log_alpha)
    return (
        jgammaln(y + r) - jgammaln(r) - jgammaln(y + 1.0)
        + r * jnp.log(r / (r + mu)) + y * jnp.log(mu / (r + mu))
    )


def negloglik(p, X, y):
    """What SciPy minimized, in jax.numpy: the function whose Hessian we check."""
    return -jnp.sum(nb2_loglik(p, X, y))


def _fmt_se(value, exact):
    if not np.isfinite(value):
        return f"{'NEGATIVE var':>22}"
    return f"{value:11.4g} ({value / exact:7.3g}x)"


def main(smoke: bool = False) -> None:
    start = time.perf_counter()
    # Compilation dominates the run time, so smoke mode runs the same problem (n = 1000).
    X, y = simulate(1000)
    f = lambda p: negloglik_numpy(p, X, y)  # noqa: E731

    print("1. Fit as in the question: scipy.optimize.minimize(negloglik, zeros, method='BFGS')")
    with np.errstate(all="ignore"):  # BFGS probes exp() overflow on its first steps
        res = scipy.optimize.minimize(negloglik_numpy, np.zeros(4), args=(X, y), method="BFGS")
    print(f"   {res.message}  ({res.nit} iterations, -loglik = {res.fun:.6f})")
    print("   estimate:", np.array2string(res.x, precision=5))

    se = {
        "BFGS hess_inv": se_from_inverse(res.hess_inv),
        "statsmodels approx_hess": se_from_inverse(np.linalg.inv(approx_hess(res.x, f))),
        "hand FD, eps=1e-5": se_from_inverse(np.linalg.inv(hessian_fd(f, res.x, eps=1e-5))),
    }
    H_exact = np.asarray(hj.hessian(negloglik, res.x, X, y))
    exact = se_from_inverse(np.linalg.inv(H_exact))

    print("\n2. Standard errors at SciPy's estimate (ratio to the exact SE in parentheses)")
    head = f"   {'parameter':<10} {'exact (hj.hessian)':>18} " + " ".join(f"{k:>22}" for k in se)
    print(head)
    print("   " + "-" * (len(head) - 3))
    for i, name in enumerate(NAMES):
        cells = " ".join(_fmt_se(se[k][i], exact[i]) for k in se)
        print(f"   {name:<10} {exact[i]:18.4g} {cells}")

    print("\n3. hessjax explains each matrix: hj.check_scipy_result(negloglik, res, X, y, names=NAMES)\n")
    cmp = hj.check_scipy_result(negloglik, res, X, y, names=NAMES)
    print(cmp)

    print("\n   ... and the user's own matrices: hj.compare_hessians(..., candidates=...)\n")
    cmp_user = hj.compare_hessians(
        negloglik,
        res.x,
        X,
        y,
        candidates={
            "statsmodels approx_hess": approx_hess(res.x, f),
            # source="fd" and the step let hessjax explain an FD matrix's error
            "hand FD eps=1e-5": hj.Candidate(hessian_fd(f, res.x, eps=1e-5), "hessian", "fd", step=1e-5),
        },
        include=(),
        names=NAMES,
    )
    print(cmp_user)

    print("\n4. Certify the optimum: hj.fit started at SciPy's estimate (trust-region Newton,")
    print("   exact Hessian); the certificate says whether it is a strict maximum\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", hj.HessjaxWarning)
        fit = hj.fit(nb2_loglik, res.x, X, y)
    for w in caught:
        print(f"   (warned: {w.category.__name__}: {w.message})")
    print(fit.summary())
    gap = np.max(np.abs(fit.estimate - res.x) / fit.se_vector)
    print(
        f"\n   Newton needed {int(fit.optimizer.nit)} step(s) from SciPy's estimate and moved it by "
        f"{gap:.2g} standard errors:\n   the point was fine, the standard errors were not."
    )
    print("   Exact SEs:", "  ".join(f"{n} {s:.4g}" for n, s in zip(NAMES, fit.se_vector)))
    print(f"\n({time.perf_counter() - start:.1f} s, JAX compilation included)")

    folder = os.environ.get("HESSJAX_FIGURE_DIR")  # the docs build sets it to collect the figures
    if folder:  # needs matplotlib (the `plot` extra)
        os.makedirs(folder, exist_ok=True)
        hj.plot_comparison(cmp, path=os.path.join(folder, "check_scipy_result.png"))
        hj.plot_comparison(cmp_user, path=os.path.join(folder, "your_own_matrices.png"))
        print("\nhj.plot_comparison(cmp) and hj.plot_comparison(cmp_user) drew the figures below")


if __name__ == "__main__":
    main(smoke=os.environ.get("HESSJAX_SMOKE") == "1")
