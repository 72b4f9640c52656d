#!/usr/bin/env python
"""Benchmark the large-model path (no dense Hessian) on a 20000-parameter ridge logistic regression.

Usage::

    python benchmarks/large.py            # N=5000, p=20000 (X is 800 MB; about 10 minutes on 2 cores)
    python benchmarks/large.py --quick    # N=1000, p=4000

Model: logistic regression with a ridge penalty, log-likelihood
``sum(y eta - log(1 + e^eta)) - lam/2 ||beta||^2``, ``eta = X beta``, X dense
standard normal (N, p) float64, true beta ~ N(0, 4/p), lam = 100 (``--lam``).
The dense observed information would be p x p = 3.2 GB and its ``eigh``
O(p^3): ``hj.hessian`` refuses it (``HessianMemoryError``, recorded).

Methods, all float64, data as jnp arrays built inside ``jax.enable_x64(True)``:

* hessjax: ``fit_large`` (Newton-CG MLE + 10 SEs + Lanczos bounds + Newton
  decrement, one compiled program), and separately ``minimize_newton_cg``
  (MLE only), ``selected_se`` (10 SEs at the MLE), ``extreme_eigenvalues``
  (80 Lanczos steps at the MLE);
* SciPy peers on jitted JAX functions (the way a JAX user would wire them):
  ``scipy.optimize.minimize`` with ``method="trust-krylov"``, ``"Newton-CG"``
  (both with ``hessp`` = jitted ``jax.jvp`` of ``jax.grad``) and
  ``"L-BFGS-B"`` (no Hessian), all with the absolute gradient target that
  hessjax's relative test implies at the optimum, gtol * |f*|;
  ``scipy.sparse.linalg.cg`` per column on a ``LinearOperator`` of that
  hessp for the 10 SEs (``rtol = sqrt(eps)``, as hessjax); ``eigsh``
  (ARPACK, ``k=1``, ``which="LA"`` and ``"SA"``, ``tol = sqrt(eps)``, at
  most 2000 products, timed once) for the extremes;
* closed forms (the oracle, specific to this model): by Woodbury,
  (H^-1)_ii = (1 - x_i'(lam W^-1 + X X')^-1 x_i) / lam with the N x N matrix
  X X'; lambda_max(H) = lam + lambda_max(W^1/2 X X' W^1/2), and
  lambda_min(H) = lam exactly because p > N.

Timing, in three groups (MLE, SEs, eigenvalues): every method's first call
(includes compilation for JAX), then ``--repeats`` rounds of warm calls, one
call of each method per round in a shuffled order, so background load on
this shared machine hits all methods alike; a method sits out once its warm
calls total more than ``--budget-s``. Warm = median. Peak resident memory
(``ru_maxrss``) is recorded after each phase.

Outputs ``benchmarks/results/large.json`` and ``benchmarks/results/large.md``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg

import jax
import jax.numpy as jnp

import hessjax as hj
from hessjax._precision import default_gtol
from hessjax.matrix_free import extreme_eigenvalues, fit_large, selected_se
from hessjax import minimize_newton_cg

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
from _common import machine_info, write_results  # noqa: E402

EPS = float(np.finfo(np.float64).eps)
N_SE = 10


def ridge_loglik(beta, X, y, lam):
    eta = X @ beta
    return jnp.sum(y * eta - jnp.logaddexp(0.0, eta)) - 0.5 * lam * jnp.sum(beta**2)


def ridge_nll(beta, X, y, lam):
    return -ridge_loglik(beta, X, y, lam)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def make_data(n_obs: int, p: int, seed: int = 20240607) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (n_obs, p) standard normal, filled in row blocks (no full-size temporaries)."""
    rng = np.random.default_rng(seed)
    X = np.empty((n_obs, p))
    for start in range(0, n_obs, 500):
        X[start : start + 500] = rng.standard_normal((min(500, n_obs - start), p))
    beta = rng.normal(0.0, 2.0 / np.sqrt(p), p)
    y = (rng.uniform(size=n_obs) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(np.float64)
    return X, y, beta


def time_interleaved(runs: dict[str, Callable], repeats: int, budget_s: float) -> dict[str, tuple]:
    """First call of every method, then rounds of warm calls in a shuffled order.

    Interleaving makes background load (this machine is shared) hit every
    method alike. A method sits out once its warm calls total more than
    ``budget_s`` (so a slow one gets at least one). Returns
    ``{name: (last output, row)}``, row with first-call and warm-median seconds.
    """
    out: dict[str, Any] = {}
    first: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, run in runs.items():
        t0 = time.perf_counter()
        out[name] = run()
        first[name] = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    for _ in range(repeats):
        active = [n for n in runs if sum(times[n]) <= budget_s]
        for i in rng.permutation(len(active)):
            name = active[i]
            t0 = time.perf_counter()
            out[name] = runs[name]()
            times[name].append(time.perf_counter() - t0)
    rows = {}
    for name in runs:
        ts = times[name]
        rows[name] = (out[name], dict(
            first_call_s=first[name], warm_median_s=statistics.median(ts) if ts else first[name],
            warm_times_s=ts, n_warm=len(ts),
        ))
    return rows


# ----------------------------------------------------------------------------------------
# oracle (closed forms for this model)
# ----------------------------------------------------------------------------------------


def closed_forms(X: np.ndarray, beta: np.ndarray, lam: float, which: list[int]) -> dict:
    """SEs by Woodbury and the extreme eigenvalues through the N x N matrix X X'."""
    t0 = time.perf_counter()
    eta = X @ beta
    s = 1.0 / (1.0 + np.exp(-eta))
    w = s * (1.0 - s)
    gram = X @ X.T
    M = gram + np.diag(lam / w)
    factor = scipy.linalg.cho_factor(M)
    cols = X[:, which]
    quad = np.sum(cols * scipy.linalg.cho_solve(factor, cols), axis=0)
    se = np.sqrt((1.0 - quad) / lam)
    t_se = time.perf_counter() - t0
    sw = np.sqrt(w)
    top = np.linalg.eigvalsh(sw[:, None] * gram * sw[None, :])[-1]
    n_obs, p = X.shape
    return dict(
        se=se,
        max_eigenvalue=lam + top,
        min_eigenvalue=lam if p > n_obs else float("nan"),
        time_se_s=t_se,
        time_total_s=time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------------------
# peers: SciPy on jitted JAX functions
# ----------------------------------------------------------------------------------------


def scipy_functions(args: tuple) -> tuple[Callable, Callable]:
    value_and_grad = jax.jit(jax.value_and_grad(ridge_nll))

    @jax.jit
    def hvp(x, v, *data):
        return jax.jvp(lambda z: jax.grad(ridge_nll)(z, *data), (x,), (v,))[1]

    def fun(x):
        f, g = value_and_grad(x, *args)
        return float(f), np.asarray(g)

    def hessp(x, v):
        return np.asarray(hvp(x, v, *args))

    return fun, hessp


def scipy_minimize(method: str, fun, hessp, x0: np.ndarray, gtol_abs: float) -> Callable:
    if method == "L-BFGS-B":
        options = dict(gtol=gtol_abs, ftol=0.0, maxiter=20_000, maxfun=40_000)
        return lambda: scipy.optimize.minimize(fun, x0, jac=True, method=method, options=options)
    if method == "Newton-CG":
        # Stops on the step size: sum|step| <= xtol * n; 1e-12 relative to unit scale.
        options = dict(xtol=1e-12, maxiter=1000)
    else:
        options = dict(gtol=gtol_abs, maxiter=1000)
    return lambda: scipy.optimize.minimize(fun, x0, jac=True, hessp=hessp, method=method, options=options)


def scipy_cg_se(hessp, x: np.ndarray, which: list[int]) -> Callable:
    p = x.size
    op = scipy.sparse.linalg.LinearOperator((p, p), matvec=lambda v: hessp(x, v), dtype=np.float64)

    def run():
        se, its = [], []
        for i in which:
            e = np.zeros(p)
            e[i] = 1.0
            count = [0]
            z, info = scipy.sparse.linalg.cg(op, e, rtol=np.sqrt(EPS), maxiter=10 * p,
                                             callback=lambda _: count.__setitem__(0, count[0] + 1))
            se.append(np.sqrt(z[i]) if info == 0 else np.nan)
            its.append(count[0])
        return np.array(se), its

    return run


def scipy_eigsh(hessp, x: np.ndarray, which: str, max_products: int) -> Callable:
    """ARPACK k=1 at hessjax's Lanczos tolerance, capped at ``max_products`` products."""
    p = x.size
    count = [0]

    def matvec(v):
        count[0] += 1
        return hessp(x, np.ravel(v))

    op = scipy.sparse.linalg.LinearOperator((p, p), matvec=matvec, dtype=np.float64)
    v0 = np.ones(p) / np.sqrt(p)
    ncv = 20  # ARPACK's default for k=1 is min(n, max(2k + 1, 20))
    maxiter = max(1, max_products // ncv)

    def run():
        count[0] = 0
        try:
            value = float(scipy.sparse.linalg.eigsh(
                op, k=1, which=which, v0=v0, ncv=ncv, tol=np.sqrt(EPS), maxiter=maxiter,
                return_eigenvectors=False)[0])
            converged = True
        except scipy.sparse.linalg.ArpackNoConvergence as err:
            value = float(err.eigenvalues[0]) if len(err.eigenvalues) else float("nan")
            converged = False
        return value, converged, count[0]

    return run


# ----------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------


def run_benchmark(n_obs: int, p: int, lam: float, repeats: int, budget_s: float) -> dict:
    report: dict[str, Any] = dict(n_obs=n_obs, p=p, lam=lam)
    rss: dict[str, float] = {}
    X_np, y_np, _ = make_data(n_obs, p)
    rss["after data (NumPy X)"] = peak_rss_gb()
    which = list(np.linspace(0, p - 1, N_SE).astype(int))
    names = [f"x[{i}]" for i in which]

    with jax.enable_x64(True):
        X, y = jnp.asarray(X_np), jnp.asarray(y_np)
        args = (X, y, lam)
        del X_np  # keep one copy of X (the closed forms use np.asarray(X) below)
        rss["after data (jnp X)"] = peak_rss_gb()
        x0 = np.zeros(p)

        # 1. the dense route is refused
        dense: dict[str, Any] = dict(matrix_bytes=hj.hessian_memory_estimate(p))
        for label, budget in (("default budget (4 GiB)", None), ("max_bytes=2**30", 2**30)):
            t0 = time.perf_counter()
            try:
                hj.hessian(ridge_nll, x0, *args, max_bytes=budget)
                dense[label] = dict(raised=False)
            except hj.HessianMemoryError as err:
                dense[label] = dict(raised=True, seconds=time.perf_counter() - t0, message=str(err))
            print(f"hj.hessian, {label}: {dense[label]}", flush=True)
        report["dense_hessian"] = dense

        # 2. time to the MLE: hessjax and the SciPy peers, interleaved
        fun, hessp = scipy_functions(args)
        fun(x0), hessp(x0, x0)  # compile outside the timings
        mle_runs: dict[str, Callable] = {
            "hessjax fit_large": lambda: fit_large(ridge_loglik, x0, *args, which=which),
            "hessjax minimize_newton_cg": lambda: minimize_newton_cg(ridge_nll, x0, *args),
        }
        # SciPy's absolute gradient target: hessjax's relative test at the optimum,
        # gtol max(|f*|, 1); f* is known from minimize_newton_cg's first call.
        t0 = time.perf_counter()
        f_star = float(minimize_newton_cg(ridge_nll, x0, *args).fun)
        ncg_first_call = time.perf_counter() - t0
        gtol_abs = default_gtol * max(abs(f_star), 1.0)
        for method in ("trust-krylov", "Newton-CG", "L-BFGS-B"):
            mle_runs[f"scipy {method}"] = scipy_minimize(method, fun, hessp, x0, gtol_abs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timed_mle = time_interleaved(mle_runs, repeats, budget_s)
        rss["after the MLE methods"] = peak_rss_gb()
        fit = timed_mle["hessjax fit_large"][0]
        mle = np.asarray(fit.params)
        print(fit, flush=True)
        hjx: dict[str, Any] = {}
        peers: dict[str, Any] = {}
        for key in ("fit_large", "minimize_newton_cg"):
            res, row = timed_mle[f"hessjax {key}"]
            res = res.optimizer if key == "fit_large" else res
            row.update(
                nit=int(res.nit), n_hvp=int(res.nhev), n_grad=int(res.ngev), success=bool(res.success),
                max_abs_grad=float(np.max(np.abs(res.grad))), fun=float(res.fun),
            )
            hjx[key] = row
        hjx["minimize_newton_cg"]["first_call_s"] = ncg_first_call
        for method in ("trust-krylov", "Newton-CG", "L-BFGS-B"):
            res, row = timed_mle[f"scipy {method}"]
            row.update(
                nit=int(res.nit), nfev=int(res.nfev), njev=int(getattr(res, "njev", 0) or 0),
                nhev=int(getattr(res, "nhev", 0) or 0), success=bool(res.success), message=str(res.message),
                max_abs_grad=float(np.max(np.abs(res.jac))), fun=float(res.fun),
                max_rel_diff_to_hessjax=float(np.max(np.abs(res.x - mle)) / np.max(np.abs(mle))),
            )
            peers[f"scipy {method}"] = row
        for name, (_, row) in timed_mle.items():
            print(f"{name}: {row}", flush=True)
        report["certificate"] = dict(
            converged=bool(fit.converged), is_valid=bool(fit.is_valid), hessian_is_pd=bool(fit.hessian_is_pd),
            grad_norm=float(fit.grad_norm), newton_decrement=float(fit.newton_decrement),
            condition_number=float(fit.condition_number), loglik=float(fit.loglik),
        )

        # 3. SEs at the MLE, interleaved
        timed_se = time_interleaved({
            "hessjax selected_se": lambda: selected_se(ridge_loglik, mle, *args, which=which),
            "scipy cg (10 SEs)": scipy_cg_se(hessp, mle, which),
        }, repeats, budget_s)
        ses, hjx["selected_se"] = timed_se["hessjax selected_se"]
        hjx["selected_se"].update(cg_iterations=np.asarray(ses.cg_iterations).tolist(),
                                  residual=np.asarray(ses.residual).tolist())
        (cg_se, cg_its), peers["scipy cg (10 SEs)"] = timed_se["scipy cg (10 SEs)"]
        peers["scipy cg (10 SEs)"]["cg_iterations"] = cg_its
        print(f"selected_se: {hjx['selected_se']}\nscipy cg: {peers['scipy cg (10 SEs)']}", flush=True)

        # 4. extreme eigenvalues at the MLE, interleaved
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timed_eig = time_interleaved({
                "hessjax extreme_eigenvalues": lambda: extreme_eigenvalues(ridge_loglik, mle, *args),
                "scipy eigsh SA": scipy_eigsh(hessp, mle, "SA", 2000),
                "scipy eigsh LA": scipy_eigsh(hessp, mle, "LA", 2000),
            }, repeats, budget_s)
        eig, row = timed_eig["hessjax extreme_eigenvalues"]
        row.update(
            min=float(eig.min_eigenvalue), min_error=float(eig.min_error),
            max=float(eig.max_eigenvalue), max_error=float(eig.max_error), converged=bool(eig.converged),
        )
        hjx["extreme_eigenvalues"] = row
        for which_end in ("SA", "LA"):
            (value, ok, products), row = timed_eig[f"scipy eigsh {which_end}"]
            row.update(value=value, converged=ok, products=products)
            peers[f"scipy eigsh {which_end}"] = row
        lam_max, lam_min = peers["scipy eigsh LA"]["value"], peers["scipy eigsh SA"]["value"]
        print(f"eigen: {hjx['extreme_eigenvalues']}\n{peers['scipy eigsh SA']}\n{peers['scipy eigsh LA']}", flush=True)
        rss["after SEs and eigenvalues"] = peak_rss_gb()
        report["hessjax"] = hjx
        report["peers"] = peers

        # 5. closed forms and accuracy
        oracle = closed_forms(np.asarray(X), mle, lam, which)
        rss["after closed forms"] = peak_rss_gb()
    se_hj = np.asarray(fit.se.se)
    report["closed_form"] = dict(time_se_s=oracle["time_se_s"], time_total_s=oracle["time_total_s"],
                                 min_eigenvalue=oracle["min_eigenvalue"], max_eigenvalue=oracle["max_eigenvalue"])
    report["accuracy"] = dict(
        names=names,
        se_hessjax=se_hj.tolist(),
        se_closed_form=oracle["se"].tolist(),
        se_max_rel_error_hessjax=float(np.max(np.abs(se_hj - oracle["se"]) / oracle["se"])),
        se_max_rel_error_scipy_cg=float(np.max(np.abs(cg_se - oracle["se"]) / oracle["se"])),
        max_eig_error_hessjax=float(eig.max_eigenvalue - oracle["max_eigenvalue"]),
        max_eig_bound_hessjax=float(eig.max_error),
        min_eig_error_hessjax=float(eig.min_eigenvalue - oracle["min_eigenvalue"]),
        min_eig_bound_hessjax=float(eig.min_error),
        max_eig_error_eigsh=lam_max - oracle["max_eigenvalue"],
        min_eig_error_eigsh=lam_min - oracle["min_eigenvalue"],
    )
    report["peak_rss_gb"] = rss
    return report


def fmt_s(s: float) -> str:
    return f"{s:.2f}" if s < 100 else f"{s:.0f}"


def markdown(report: dict) -> str:
    m, r = report["machine"], report["result"]
    git = m["hessjax_git"] or {}
    hjx, peers, acc, cert = r["hessjax"], r["peers"], r["accuracy"], r["certificate"]
    lines = ["# Large models without a dense Hessian\n"]
    lines.append(
        f"{m['date']} · hessjax {m['hessjax']} ({git.get('commit')}"
        f"{', uncommitted src changes' if git.get('src_dirty') else ''}) · jax {m['jax']} · "
        f"scipy {m['scipy']} · {m['cpu_count']} CPU cores ({m['processor']}) · float64 · "
        f"{'quick' if report['config']['quick'] else 'full'} run · warm = median of up to "
        f"{report['config']['repeats']} calls after the first, interleaved across methods · load average "
        f"{m['loadavg_1min_before']:.1f} before, {m['loadavg_1min_after']:.1f} after · "
        f"total {report['total_wall_s']:.0f} s\n"
    )
    d = r["dense_hessian"]
    raised = [f"with {k} in {v['seconds']:.2f} s" for k, v in d.items() if isinstance(v, dict) and v.get("raised")]
    lines.append(
        f"Ridge logistic regression, N = {r['n_obs']}, p = {r['p']} (X dense float64, "
        f"{r['n_obs'] * r['p'] * 8 / 1e9:.2f} GB), lam = {r['lam']:g}. The dense Hessian would be "
        f"{d['matrix_bytes'] / 1e9:.2f} GB: "
        + (f"`hj.hessian` raises `HessianMemoryError` {' and '.join(raised)}." if raised
           else "`hj.hessian` still accepts it at this size.")
        + "\n"
    )
    lines.append("## Time to the MLE (and, for fit_large, everything)\n")
    lines.append("| method | first call (s) | warm median (s) | steps | Hessian-vector products | max abs gradient | max rel. diff to hessjax MLE |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for key in ("fit_large", "minimize_newton_cg"):
        row = hjx[key]
        lines.append(
            f"| hessjax {key}{' (MLE + 10 SEs + Lanczos + decrement)' if key == 'fit_large' else ''} | "
            f"{fmt_s(row['first_call_s'])} | {fmt_s(row['warm_median_s'])} | {row['nit']} | {row['n_hvp']} | "
            f"{row['max_abs_grad']:.1e} | – |"
        )
    for key, row in peers.items():
        if "nit" not in row:
            continue
        lines.append(
            f"| {key} | {fmt_s(row['first_call_s'])} | {fmt_s(row['warm_median_s'])} | {row['nit']} | "
            f"{row['nhev'] or '–'} | {row['max_abs_grad']:.1e} | {row['max_rel_diff_to_hessjax']:.1e} |"
        )
    lines.append(
        "\nSciPy's trust-krylov and L-BFGS-B stop at ||g|| <= gtol |f*| (the absolute target "
        "hessjax's relative test implies); Newton-CG stops on its step size (xtol = 1e-12).\n"
    )
    lines.append(f"## Standard errors of {len(acc['names'])} coefficients at the MLE\n")
    lines.append("| method | first call (s) | warm median (s) | CG iterations | max rel. error vs Woodbury |")
    lines.append("|---|---:|---:|---|---:|")
    row = hjx["selected_se"]
    lines.append(
        f"| hessjax selected_se (batched CG) | {fmt_s(row['first_call_s'])} | {fmt_s(row['warm_median_s'])} | "
        f"{min(row['cg_iterations'])}–{max(row['cg_iterations'])} | {acc['se_max_rel_error_hessjax']:.1e} |"
    )
    row = peers["scipy cg (10 SEs)"]
    lines.append(
        f"| scipy.sparse.linalg.cg, one column at a time | {fmt_s(row['first_call_s'])} | "
        f"{fmt_s(row['warm_median_s'])} | {min(row['cg_iterations'])}–{max(row['cg_iterations'])} | "
        f"{acc['se_max_rel_error_scipy_cg']:.1e} |"
    )
    lines.append(
        f"| closed form (Woodbury, N x N Cholesky; this model only) | – | {fmt_s(r['closed_form']['time_se_s'])} | – | (oracle) |"
    )
    lines.append("\n## Extreme eigenvalues of the observed information at the MLE\n")
    e = hjx["extreme_eigenvalues"]
    lines.append("| method | first call (s) | warm median (s) | min | error | max | error |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    lines.append(
        f"| hessjax extreme_eigenvalues (80 Lanczos steps) | {fmt_s(e['first_call_s'])} | {fmt_s(e['warm_median_s'])} | "
        f"{e['min']:.10g} | {acc['min_eig_error_hessjax']:.1e} (bound {e['min_error']:.1e}) | "
        f"{e['max']:.10g} | {acc['max_eig_error_hessjax']:.1e} (bound {e['max_error']:.1e}) |"
    )
    la, sa = peers["scipy eigsh LA"], peers["scipy eigsh SA"]

    def arpack(row):
        return f"{row['products']} products{'' if row['converged'] else ', NOT converged'}"

    lines.append(
        f"| scipy eigsh (ARPACK, k=1, tol=sqrt(eps)), SA + LA ({arpack(sa)}; {arpack(la)}) | "
        f"{fmt_s(sa['first_call_s'])} + {fmt_s(la['first_call_s'])} | "
        f"{fmt_s(sa['warm_median_s'])} + {fmt_s(la['warm_median_s'])} | "
        f"{sa['value']:.10g} | {acc['min_eig_error_eigsh']:.1e} | {la['value']:.10g} | {acc['max_eig_error_eigsh']:.1e} |"
    )
    lines.append(
        f"| closed form (lam; lam + eigvalsh of W^1/2 X X' W^1/2) | – | {fmt_s(r['closed_form']['time_total_s'])} | "
        f"{r['closed_form']['min_eigenvalue']:.10g} | (oracle) | {r['closed_form']['max_eigenvalue']:.10g} | (oracle) |"
    )
    lines.append(
        f"\nCertificate: converged {cert['converged']}, hessian_is_pd {cert['hessian_is_pd']}, "
        f"is_valid {cert['is_valid']}, grad_norm {cert['grad_norm']:.2e}, newton_decrement "
        f"{cert['newton_decrement']:.2e}, condition number (unscaled) {cert['condition_number']:.3g}, "
        f"log-likelihood {cert['loglik']:.10g}.\n"
    )
    lines.append("## Peak resident memory (GB, ru_maxrss, cumulative)\n")
    lines.append("| after | GB |")
    lines.append("|---|---:|")
    for k, v in r["peak_rss_gb"].items():
        lines.append(f"| {k} | {v:.2f} |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=1000, p=4000")
    parser.add_argument("--lam", type=float, default=100.0, help="ridge penalty (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per method (default 3)")
    parser.add_argument("--budget-s", type=float, default=60.0, help="stop repeating after this much warm time")
    parser.add_argument("--out", default=str(RESULTS), help="output directory")
    ns = parser.parse_args(argv)
    n_obs, p = (1000, 4000) if ns.quick else (5000, 20000)
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    result = run_benchmark(n_obs, p, ns.lam, ns.repeats, ns.budget_s)
    report = dict(
        machine=machine_info((), load_before[0]),
        config=dict(quick=ns.quick, repeats=ns.repeats, budget_s=ns.budget_s, n_se=N_SE),
        result=result,
    )
    report["total_wall_s"] = time.perf_counter() - t_start
    write_results(ns.out, "large_quick" if ns.quick else "large", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
