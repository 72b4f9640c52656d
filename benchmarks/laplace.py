"""Random effects: ``fit_laplace`` at scale, and TMB-style finite-difference SEs against the exact ones.

1. Poisson GLMM, G groups x 5 observations (log mean = b0 + b1 x + u_g,
   u_g ~ N(0, tau^2)): first call (compilation included) and warm fit, peak
   RSS, certificate, SEs.
2. The Gaussian random-intercept model (LMM) of the same size: ``fit_laplace``
   against statsmodels ``MixedLM(..., reml=False)`` (the Python peer): time,
   and the agreement of the log-likelihood and fixed effects.
3. How far a Hessian from central differences of the exact gradient of the
   marginal (what TMB's ``sdreport`` and ``optimHess`` do, with a step h)
   drifts from the exact Hessian: the largest relative SE error per step, on
   a Poisson GLMM with 60 groups.

Usage::

    python benchmarks/laplace.py --write        # results/laplace.md (about a minute on 2 cores)
    python benchmarks/laplace.py --groups 1000  # smaller
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

import hessjax as hj

M = 5  # observations per group


def poisson_joint(p, u, y, x, g):
    eta = p["b0"] + p["b1"] * x + u[g]
    t = jnp.exp(p["log_tau"])
    return (jnp.sum(y * eta - jnp.exp(eta) - gammaln(y + 1))
            + jnp.sum(-0.5 * (u / t) ** 2 - jnp.log(t) - 0.5 * jnp.log(2 * jnp.pi)))


def gaussian_joint(p, u, y, x, g):
    s, t = jnp.exp(p["log_sigma"]), jnp.exp(p["log_tau"])
    mean = p["b0"] + p["b1"] * x + u[g]
    return (jnp.sum(-0.5 * ((y - mean) / s) ** 2 - jnp.log(s) - 0.5 * jnp.log(2 * jnp.pi))
            + jnp.sum(-0.5 * (u / t) ** 2 - jnp.log(t) - 0.5 * jnp.log(2 * jnp.pi)))


def _data(groups: int, seed: int, gaussian: bool):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), M)
    x = rng.normal(size=groups * M)
    effect = rng.normal(0.0, 0.7, groups)[g]
    if gaussian:
        y = 0.3 + 0.5 * x + effect + rng.normal(0.0, 1.0, groups * M)
    else:
        y = rng.poisson(np.exp(0.3 + 0.5 * x + effect)).astype(float)
    return y, x, g


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def scale(groups: int) -> list[str]:
    y, x, g = _data(groups, 0, gaussian=False)
    init = {"b0": 0.0, "b1": 0.0, "log_tau": 0.0}
    call = lambda: hj.fit_laplace(poisson_joint, init, np.zeros(groups), y, x, g)  # noqa: E731
    res, first = _timed(call)
    res, warm = _timed(call)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ses = ", ".join(f"{n} {v:.3g} (SE {s:.2g})" for n, v, s in zip(res.names, res.estimate, res.se_vector))
    return [
        f"## 1. Poisson GLMM, {groups:,} groups x {M} observations",
        "",
        "| first call (s, compile included) | warm (s) | peak RSS (MB) | valid | estimates |",
        "|---:|---:|---:|:---:|---|",
        f"| {first:.1f} | {warm:.2f} | {peak:.0f} | {bool(res.diagnostics.is_valid)} | {ses} |",
        "",
        "H_uu is detected block diagonal (one 1 x 1 block per group), so no "
        f"{groups:,} x {groups:,} matrix is formed.",
        "",
    ]


def versus_statsmodels(groups: int) -> list[str]:
    import pandas as pd
    import statsmodels.formula.api as smf

    y, x, g = _data(groups, 1, gaussian=True)
    init = {"b0": 0.0, "b1": 0.0, "log_sigma": 0.0, "log_tau": 0.0}
    call = lambda: hj.fit_laplace(gaussian_joint, init, np.zeros(groups), y, x, g)  # noqa: E731
    res, first = _timed(call)
    res, warm = _timed(call)
    frame = pd.DataFrame({"y": y, "x": x, "g": g})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm, sm_time = _timed(lambda: smf.mixedlm("y ~ x", frame, groups=frame["g"]).fit(reml=False))
    fe = np.array([float(res.params["b0"]), float(res.params["b1"])])
    fe_diff = np.max(np.abs(fe - np.asarray(sm.fe_params)) / np.asarray(res.se_vector)[[0, 1]])
    return [
        f"## 2. Gaussian random intercept (LMM), {groups:,} groups x {M}: against statsmodels MixedLM",
        "",
        "| | time (s) | loglik | fixed effects |",
        "|---|---:|---:|---|",
        f"| hessjax fit_laplace, first call | {first:.1f} | {float(res.loglik):.6f} | {fe[0]:.6f}, {fe[1]:.6f} |",
        f"| hessjax fit_laplace, warm | {warm:.2f} | | |",
        f"| statsmodels MixedLM(reml=False) | {sm_time:.2f} | {float(sm.llf):.6f} | "
        f"{float(sm.fe_params.iloc[0]):.6f}, {float(sm.fe_params.iloc[1]):.6f} |",
        "",
        f"Fixed effects differ by at most {fe_diff:.1e} standard errors; log-likelihoods by "
        f"{abs(float(res.loglik) - float(sm.llf)):.1e} (statsmodels' optimizer tolerance).",
        "",
    ]


def fd_drift() -> list[str]:
    groups = 60
    y, x, g = _data(groups, 2, gaussian=False)
    init = {"b0": 0.0, "b1": 0.0, "log_tau": 0.0}
    res = hj.fit_laplace(poisson_joint, init, np.zeros(groups), y, x, g)
    names = res.names
    theta = res.estimate
    exact_se = res.se_vector

    # (fit_laplace above detected H_uu's structure eagerly; the traced calls below reuse it.)
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(lambda t: -hj.laplace_loglik(
            poisson_joint, dict(zip(names, t)), np.zeros(groups), y, x, g)))
        grad(jnp.asarray(theta))
    lines = [
        "## 3. Finite differences of the exact gradient (TMB's sdreport) against the exact Hessian",
        "",
        f"Poisson GLMM, {groups} groups x {M}; the Hessian of the negative Laplace marginal by "
        "central differences of its exact (autodiff) gradient with step h in every coordinate, "
        "symmetrized, against hessjax's exact Hessian.",
        "",
        "| step h | max relative SE error | max relative Hessian error |",
        "|---:|---:|---:|",
    ]
    exact = np.asarray(res.hessian)
    for h in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8):
        cols = []
        for j in range(theta.size):
            e = np.zeros(theta.size)
            e[j] = h
            with jax.enable_x64(True):
                cols.append((np.asarray(grad(jnp.asarray(theta + e))) - np.asarray(grad(jnp.asarray(theta - e)))) / (2 * h))
        fd = np.array(cols)
        fd = 0.5 * (fd + fd.T)
        with np.errstate(invalid="ignore"):
            se = np.sqrt(np.diag(np.linalg.inv(fd)))
        lines.append(f"| {h:.0e} | {np.max(np.abs(se / exact_se - 1)):.1e} | "
                     f"{np.max(np.abs(fd - exact)) / np.max(np.abs(exact)):.1e} |")
    lines.append("")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    lines = [
        "# Random effects: fit_laplace at scale and exact vs finite-difference Hessians",
        "",
        f"`python benchmarks/laplace.py --groups {args.groups}{' --write' if args.write else ''}` "
        f"({os.cpu_count()} CPUs, one process).",
        "",
    ]
    lines += scale(args.groups)
    lines += versus_statsmodels(args.groups)
    lines += fd_drift()
    text = "\n".join(lines)
    print(text)
    if args.write:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "laplace.md")
        with open(path, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
