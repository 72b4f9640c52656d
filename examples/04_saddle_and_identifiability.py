"""A saddle point that BFGS accepts, and a model whose parameters are not identified.

Part 1: a two-component normal mixture (weight, two means, two log-SDs) on
data that really have two components (N(-2, 1) and N(2, 1)), started with
both means equal. By symmetry the gradient keeps the means equal, so BFGS
(``hj.minimize(method="bfgs")``) converges to the one-component fit: its
gradient test passes, but the point is a **saddle** (the likelihood increases
when the means move apart). ``hj.fit(method="bfgs")`` reaches the same point
and its certificate says so; ``hj.fit`` with its default trust-region Newton on
the exact Hessian follows the negative curvature and finds the maximum.

Part 2: y ~ N(a + b, 1). Only a + b is identified; the observed information
is singular, the SEs are NaN (never silently regularized), and
``fit.diagnostics.directions()`` names the flat direction: "a and b are not
separately identified".

What to look for in the output: "BFGS converged: True" together with a
negative Hessian eigenvalue; the certificate "NOT VALID: a saddle point" and a
direction "0.70x mu[0] - 0.70x mu[1]: negative curvature"; the Newton fit
"VALID" with means near -2 and 2; and in part 2 "flat ... a and b are not
separately identified". The warnings hessjax issues on purpose are caught and
printed.
"""

from __future__ import annotations

import os
import time
import warnings

import jax.numpy as jnp
import numpy as np

import hessjax as hj


def mixture_loglik(p, y):
    """Per-observation log-likelihood of w N(mu0, s0^2) + (1 - w) N(mu1, s1^2)."""
    log_w = jnp.stack([-jnp.logaddexp(0.0, -p["logit_w"]), -jnp.logaddexp(0.0, p["logit_w"])])
    s = jnp.exp(p["log_s"])
    z = (y[:, None] - p["mu"][None, :]) / s
    log_phi = -0.5 * z**2 - p["log_s"] - 0.5 * jnp.log(2.0 * jnp.pi)
    return jnp.logaddexp(log_w[0] + log_phi[:, 0], log_w[1] + log_phi[:, 1])


def mixture_negloglik(p, y):
    return -jnp.sum(mixture_loglik(p, y))


def sum_loglik(p, y):
    """y ~ N(a + b, 1): a and b enter only through their sum."""
    return -0.5 * (y - p["a"] - p["b"]) ** 2


def run_quietly(fn, *args, **kwargs):
    """Call fn, catching hessjax's warnings and printing what was warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", hj.HessjaxWarning)
        out = fn(*args, **kwargs)
    for w in caught:
        print(f"  [warned] {w.category.__name__}: {w.message}")
    return out


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in str(text).splitlines())


def main(smoke: bool = False) -> None:
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    n = 400 if smoke else 1000
    y = np.concatenate([rng.normal(-2.0, 1.0, n // 2), rng.normal(2.0, 1.0, n - n // 2)])
    start = {"logit_w": 0.0, "mu": np.array([0.5, 0.5]), "log_s": np.array([0.0, 0.0])}

    print("=" * 78)
    print(f"Part 1: two-component normal mixture, n = {n}, started at equal means mu = [0.5, 0.5]")
    print("=" * 78)
    res = run_quietly(hj.minimize, mixture_negloglik, start, y, method="bfgs")
    print(f"hj.minimize(method='bfgs'): converged: {bool(res.success)} after {int(res.nit)} iterations")
    print(f"  mu = {np.asarray(res.x['mu'])}, sd = {np.exp(np.asarray(res.x['log_s']))}, "
          f"max|grad| = {max(float(np.max(np.abs(g))) for g in res.grad.values()):.2e}")

    print("\nCertify the point BFGS returned: hj.fit(mixture_loglik, res.x, y, method='bfgs')")
    print("(BFGS stays put: the gradient is already zero; the certificate uses the exact Hessian)")
    fit_bfgs = run_quietly(hj.fit, mixture_loglik, res.x, y, method="bfgs")
    d = fit_bfgs.diagnostics
    eig = np.linalg.eigvalsh(np.asarray(fit_bfgs.hessian))
    print(f"  eigenvalues of the exact information -H: {np.array2string(eig, precision=3)}")
    print("  -> a negative eigenvalue: this stationary point is a saddle, not a maximum. BFGS's")
    print("     inverse-Hessian approximation is positive definite by construction, so BFGS cannot")
    print("     notice, and 'standard errors' from it would be meaningless.")
    print(f"  is_saddle = {bool(d.is_saddle)}, is_valid = {bool(d.is_valid)}, "
          f"min eigenvalue = {float(d.min_eigenvalue):.3g}, SEs = {fit_bfgs.se_vector}")
    print(indent(d))
    print("  fit.diagnostics.directions():")
    for line in d.directions():
        print("   -", line)

    print("\nhj.fit(...) with the default trust-region Newton (exact Hessian) escapes the saddle:")
    fit = run_quietly(hj.fit, mixture_loglik, start, y)
    print(indent(fit.summary()))
    w = fit.delta(lambda p: 1.0 / (1.0 + jnp.exp(-p["logit_w"])))
    print(f"  weight w = {float(w.value):.3f} (delta-method SE {float(w.se):.3f}); "
          f"loglik {float(fit.loglik):.2f} vs {float(fit_bfgs.loglik):.2f} at the saddle")

    print("\n" + "=" * 78)
    print("Part 2: y ~ N(a + b, 1): a non-identified model")
    print("=" * 78)
    y2 = rng.normal(3.0, 1.0, 50 if smoke else 200)
    fit2 = run_quietly(hj.fit, sum_loglik, {"a": 0.0, "b": 0.0}, y2)
    d2 = fit2.diagnostics
    print(f"  a + b = {float(fit2.params['a'] + fit2.params['b']):.4f} (mean of y: {y2.mean():.4f}); "
          f"hessian_is_pd = {bool(d2.hessian_is_pd)}, SEs = {fit2.se_vector} (NaN, not regularized)")
    print(indent(d2))
    print("  fit.diagnostics.directions():")
    for line in d2.directions():
        print("   -", line)
    total = fit2.delta(lambda p: p["a"] + p["b"])
    print(f"  Even the identified combination a + b gets no SE from a singular information "
          f"(delta SE: {float(total.se)}).")
    if not smoke:
        # For diagnosis only: a pseudo-inverse, flagged in the result (never used silently).
        fit_pinv = run_quietly(hj.fit, sum_loglik, {"a": 0.0, "b": 0.0}, y2, covariance="pinv")
        total = fit_pinv.delta(lambda p: p["a"] + p["b"])
        print(f"  With covariance='pinv' (covariance_method = {fit_pinv.covariance_method!r}, flagged as "
              f"not a valid covariance):\n  SE(a + b) = {float(total.se):.4f} = 1/sqrt(n) = "
              f"{1 / np.sqrt(len(y2)):.4f}; the individual SEs {fit_pinv.se_vector} mean nothing.")
    print("  Fix the model instead (drop b, or constrain b = 0) and refit.")
    print(f"\n({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main(smoke=os.environ.get("HESSJAX_SMOKE") == "1")
