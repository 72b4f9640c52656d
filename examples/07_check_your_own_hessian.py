"""Check a Hessian or covariance you computed yourself against the exact one.

Model: a Weibull regression for survival times, log scale = b0 + b1 * dose,
with the dose in mol/L (about 0.001), so b1 is of order 400 while b0 and
log_shape are of order 1: the situation in which fixed finite-difference
steps go wrong. Everything a user typically has is checked against the exact
Hessian of the negative log-likelihood at the estimate:

1. ``hj.check_hessian``: a hand-written central-difference Hessian with a
   per-parameter step scaled to each parameter (good), and the same code with
   a fixed step 1e-5 (bad);
2. ``hj.check_hessian(..., inverse=True)``: a covariance matrix, here SciPy
   BFGS's ``hess_inv`` and the inverse of the good FD Hessian;
3. ``hj.fd_hessian``: hessjax's own FD Hessians with their error estimates;
4. ``hj.step_sweep``: the error of a fixed-step FD Hessian across steps (the
   V-shaped curve) and the best step; ``hj.plot_step_sweep`` draws it to a file
   in a temporary directory when matplotlib is installed (into the folder
   ``$HESSJAX_FIGURE_DIR`` instead, when that is set, as the docs build does).

What to look for in the output: "ok = True" for the scaled-step FD Hessian
and "ok = False" with "negative variance for x[1]" (b1) for the fixed step
1e-5; BFGS's ``hess_inv`` rejected as a covariance, the inverted good FD
Hessian accepted; ``fd_hessian``'s error estimates of the same order as (and
above) the actual errors; a step sweep whose error falls, bottoms out and
rises again, and whose best single step still misses b1's SE by more than 1%.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import jax.numpy as jnp
import numpy as np
import scipy.optimize

import hessjax as hj

NAMES = ["b0", "b1 (dose)", "log_shape"]


def simulate(n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    dose = rng.lognormal(np.log(1e-3), 0.5, n)
    scale = np.exp(1.0 + 400.0 * dose)
    t = scale * rng.weibull(1.5, n)
    return t, dose


def weibull_loglik(p, t, dose):
    """Per-observation Weibull log-likelihood, p = [b0, b1, log_shape] (jax.numpy)."""
    log_scale = p[0] + p[1] * dose
    k = jnp.exp(p[2])
    z = jnp.log(t) - log_scale
    return p[2] - log_scale + (k - 1.0) * z - jnp.exp(k * z)


def negloglik(p, t, dose):
    return -jnp.sum(weibull_loglik(p, t, dose))


def negloglik_numpy(p, t, dose):
    """The same function in NumPy, as the user's own code has it."""
    log_scale = p[0] + p[1] * dose
    k = np.exp(p[2])
    z = np.log(t) - log_scale
    return -np.sum(p[2] - log_scale + (k - 1.0) * z - np.exp(k * z))


def my_fd_hessian(f, x, h):
    """A user's central-difference Hessian; h is a scalar or one step per parameter."""
    n = len(x)
    h = np.broadcast_to(np.asarray(h, dtype=np.float64), (n,))
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = h[i], h[j]
            if i == j:
                H[i, i] = (f(x + ei) - 2.0 * f(x) + f(x - ei)) / h[i] ** 2
            else:
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                    4.0 * h[i] * h[j]
                )
    return H


def sci(v):
    return "[" + " ".join(f"{x:.1e}" for x in np.ravel(v)) + "]"


def show(label, report):
    ratios = "  ".join(f"{r:.4g}" if np.isfinite(r) else "neg var" for r in report.se_ratio)
    print(f"  {label}: ok = {report.ok}, PD = {report.is_pd}, "
          f"max rel element error {report.max_rel_element_error:.2e}, SE ratios [{ratios}]")
    print(f"    verdict: {report.verdict}")


def main(smoke: bool = False) -> None:
    t0 = time.perf_counter()
    n = 500 if smoke else 2000
    t, dose = simulate(n)
    fit = hj.fit(weibull_loglik, np.array([0.0, 0.0, 0.0]), t, dose)
    x = fit.estimate
    f = lambda p: negloglik_numpy(p, t, dose)  # noqa: E731
    print(f"Weibull regression, n = {n}: estimate {np.array2string(x, precision=4)} "
          f"(certificate {'VALID' if bool(fit.diagnostics.is_valid) else 'NOT VALID'})")
    print("Exact SEs:", "  ".join(f"{name} {se:.4g}" for name, se in zip(NAMES, fit.se_vector)))
    print("(hessjax names the flat parameters x[0], x[1], x[2] = b0, b1, log_shape)")

    print("\n1. Your own FD Hessian: hj.check_hessian(negloglik, x, H_mine, t, dose)")
    h_scaled = 1e-4 * np.maximum(np.abs(x), 1.0)  # step relative to each parameter's size
    show(f"central FD, step 1e-4*max(|x|,1) = {sci(h_scaled)}",
         hj.check_hessian(negloglik, x, my_fd_hessian(f, x, h_scaled), t, dose))
    show("central FD, fixed step 1e-5", hj.check_hessian(negloglik, x, my_fd_hessian(f, x, 1e-5), t, dose))

    print("\n2. A covariance matrix: hj.check_hessian(..., inverse=True)")
    with np.errstate(all="ignore"):
        res = scipy.optimize.minimize(negloglik_numpy, np.zeros(3), args=(t, dose), method="BFGS")
    show(f"SciPy BFGS hess_inv ({res.nit} iterations)",
         hj.check_hessian(negloglik, x, res.hess_inv, t, dose, inverse=True))
    show("inverse of the scaled-step FD Hessian",
         hj.check_hessian(negloglik, x, np.linalg.inv(my_fd_hessian(f, x, h_scaled)), t, dose, inverse=True))

    print("\n3. hessjax's FD Hessians, with their error estimates: hj.fd_hessian")
    exact = np.asarray(fit.hessian)  # the exact Hessian of -loglik at x (= hj.hessian(negloglik, x, t, dose))
    for scheme in ("forward", "central", "richardson"):
        fd = hj.fd_hessian(negloglik, x, t, dose, scheme=scheme)
        actual = np.max(np.abs(fd.estimate - exact) / np.sqrt(np.outer(np.diag(exact), np.diag(exact))))
        estimated = np.max(fd.error_estimate / np.sqrt(np.outer(np.diag(exact), np.diag(exact))))
        print(f"  {scheme:<10} step {sci(fd.step):<27} {fd.nfev:4d} evaluations, "
              f"error (scaled): estimated {estimated:.1e}, actual {actual:.1e}")

    print("\n4. One fixed step for every parameter, across steps: hj.step_sweep")
    steps = np.logspace(-9, -1, 9 if smoke else 17)
    sweep = hj.step_sweep(negloglik, x, t, dose, steps=steps)
    for h, err in zip(sweep.steps, sweep.errors):
        bar = "#" * int(np.clip(np.log10(err) + 12, 0, 40)) if np.isfinite(err) and err > 0 else ""
        print(f"  step {h:8.1e}  max rel error {err:9.2e}  {bar}")
    print(f"  best fixed step: {sweep.best_step:.1e} (sweep.best_step)")
    print("  The sweep's error is relative to the largest Hessian element, which b1's tiny curvature")
    print("  (covariate in mol/L) barely touches. Check the SEs at that step before trusting it:")
    show(f"central FD, fixed step {sweep.best_step:.0e}",
         hj.check_hessian(negloglik, x, my_fd_hessian(f, x, sweep.best_step), t, dose))
    print("  No single step suits b1 (~400) and b0, log_shape (~1) equally well: use one step per")
    print("  parameter (hj.default_step, as hj.fd_hessian does in section 3).")

    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        print("\n(matplotlib not installed: skipping hj.plot_step_sweep)")
    else:
        folder = os.environ.get("HESSJAX_FIGURE_DIR")  # the docs build sets it to keep the figure
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. font-cache notices from matplotlib
            if folder:
                os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder or tmp, "step_sweep.png")
            hj.plot_step_sweep(sweep, path=path)
            where = "(the figure below)" if folder else "(to a temporary directory, removed again)"
            print(f"\nhj.plot_step_sweep(sweep, path=...) wrote {os.path.getsize(path)} bytes {where}")
    print(f"\n({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main(smoke=os.environ.get("HESSJAX_SMOKE") == "1")
