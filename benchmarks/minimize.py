#!/usr/bin/env python
"""Benchmark ``hessjax.minimize`` against JAX and SciPy minimizers.

Usage::

    python benchmarks/minimize.py            # full run (a few minutes on 2 CPU cores)
    python benchmarks/minimize.py --quick    # smaller problems, fewer repeats

Three problems, all in float64, data passed as arguments:

(a) ``negbin``: negative-binomial (NB2) regression, N=2000, intercept + 8 covariates
    + log alpha (10 parameters), negative log-likelihood with ``gammaln``;
(b) ``logistic``: logistic regression, N=100000, p=50 columns (intercept + 49 covariates);
(c) ``rosenbrock``: the extended Rosenbrock function of Moré, Garbow & Hillstrom (1981,
    problem 21), n=100, sum of 50 decoupled 2-D Rosenbrock terms, from the standard start
    (-1.2, 1, -1.2, 1, ...); unique minimum 0 at (1, ..., 1).

Methods: hessjax ``bfgs`` (default options: the scaled start), ``bfgs`` with
``init_hessian="identity"`` (SciPy's start) and ``"exact"``, ``newton``; peers
``jax.scipy.optimize.minimize(method="BFGS")``, ``optimistix.BFGS`` (via
``optimistix.minimise``), ``jaxopt.BFGS``, ``scipy.optimize.minimize`` ``BFGS`` and
``trust-exact`` (callbacks: jitted JAX value-and-grad / Hessian, converted to NumPy).

Tolerances. Each problem has one absolute target ``gtol_abs`` for the infinity norm of the
final gradient. It maps to each method's own stopping rule as follows:

* hessjax stops when max_i |g_i| max(|x_i|, 1) / max(|f|, 1) <= gtol; we pass
  ``gtol = gtol_abs / max(|f*|, 1)`` (``f*`` from an untimed reference solve), which
  implies ||g||_inf <= gtol_abs (slightly stricter when some |x_i| > 1);
* jax.scipy BFGS and scipy BFGS / trust-exact: ``gtol = gtol_abs`` (inf-norm);
* jaxopt BFGS stops on the 2-norm of the gradient: ``tol = gtol_abs`` (stricter than
  the inf-norm);
* optimistix BFGS has no gradient test (it stops when both the step and the change of
  f are small, the Cauchy criterion): ``rtol = atol = OPTX_TOL`` below.

Every method's final gradient is recomputed identically (jitted ``jax.grad`` at the returned
x, inf-norm), as is its final objective. Warm time is the median of repeated calls after
the first (compiling) call, each ending in ``block_until_ready`` or a NumPy conversion; the
warm calls are interleaved across methods (round robin) so that background load hits all
methods alike. Compile time is first-call time minus the warm median (it includes tracing,
lowering, XLA compilation and, for hessjax, the one-off input validation).

A method "reaches the optimum" when its final objective is within F_RTOL of the best one
found and its gradient within GRAD_SLACK times the target, whatever its own success flag
says; ratios are to the fastest peer that reaches the optimum.

Outputs ``benchmarks/results/minimize.json`` and ``benchmarks/results/minimize.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

import jax
import jax.numpy as jnp
import scipy
import scipy.optimize
from jax.scipy.special import gammaln

import hessjax as hj

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

HESSJAX_METHODS = (
    "hessjax bfgs",
    "hessjax bfgs (identity init)",
    "hessjax bfgs (exact init)",
    "hessjax newton",
)
PEER_METHODS = (
    "jax.scipy BFGS",
    "optimistix BFGS",
    "jaxopt BFGS",
    "scipy BFGS",
    "scipy trust-exact",
)
# rtol = atol for optimistix's Cauchy termination. 1e-10 is the tightest value with which
# optimistix BFGS still terminates on Rosenbrock within MAX_STEPS; on negbin and logistic its
# backtracking search collapses to a zero step first, which passes the test at any tol.
OPTX_TOL = 1e-10
MAX_STEPS = 2000  # generous iteration budget for every method
# A method "reaches the optimum" if its objective is within this relative distance of the
# best objective found by any method (or absolute, for f* ~ 0) and its gradient inf-norm is
# within GRAD_SLACK times the problem's target.
F_RTOL = 1e-9
GRAD_SLACK = 10.0


# --------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------


def nb2_nll(params, X, y):
    """Negative log-likelihood of NB2 regression; params = (beta..., log_alpha)."""
    beta, log_alpha = params[:-1], params[-1]
    eta = X @ beta
    r = jnp.exp(-log_alpha)  # 1 / alpha
    log_r = -log_alpha
    log_r_mu = jnp.logaddexp(log_r, eta)  # log(r + mu)
    ll = (
        gammaln(y + r)
        - gammaln(r)
        - gammaln(y + 1.0)
        + r * (log_r - log_r_mu)
        + y * (eta - log_r_mu)
    )
    return -jnp.sum(ll)


def logistic_nll(beta, X, y):
    eta = X @ beta
    return jnp.sum(jax.nn.softplus(eta) - y * eta)


def rosenbrock_extended(x):
    """Moré-Garbow-Hillstrom extended Rosenbrock: sum of n/2 decoupled 2-D terms."""
    odd, even = x[0::2], x[1::2]
    return jnp.sum(100.0 * (even - odd**2) ** 2 + (1.0 - odd) ** 2)


@dataclasses.dataclass
class Problem:
    name: str
    description: str
    f: Callable
    x0: np.ndarray
    data: tuple  # NumPy float64 arrays; converted to jnp float64 inside the x64 scope
    gtol_abs: float
    args: tuple = ()  # jnp float64 arrays (filled in by prepare())
    f_ref: float = float("nan")
    x_ref: np.ndarray | None = None
    hessjax_gtol: float = float("nan")


def make_problems(quick: bool) -> list[Problem]:
    rng = np.random.default_rng(20240611)
    problems = []

    # (a) NB2 regression
    n_obs, k = (500, 8) if quick else (2000, 8)
    Z = rng.standard_normal((n_obs, k))
    X = np.column_stack([np.ones(n_obs), Z])
    beta_true = np.concatenate([[1.0], np.linspace(-0.4, 0.4, k)])
    alpha_true = 0.5
    mu = np.exp(X @ beta_true)
    r = 1.0 / alpha_true
    y = rng.negative_binomial(r, r / (r + mu)).astype(np.float64)
    problems.append(
        Problem(
            name="negbin",
            description=(
                f"NB2 regression, N={n_obs}, intercept + {k} covariates + log alpha "
                f"({k + 2} parameters), start 0"
            ),
            f=nb2_nll,
            x0=np.zeros(k + 2),
            data=(X, y),
            gtol_abs=1e-7,
        )
    )

    # (b) logistic regression
    n_obs, p = (10_000, 20) if quick else (100_000, 50)
    Z = rng.standard_normal((n_obs, p - 1))
    X = np.column_stack([np.ones(n_obs), Z])
    beta_true = rng.normal(0.0, 0.2, p)
    prob = 1.0 / (1.0 + np.exp(-(X @ beta_true)))
    y = (rng.uniform(size=n_obs) < prob).astype(np.float64)
    problems.append(
        Problem(
            name="logistic",
            description=f"logistic regression, N={n_obs}, p={p} (intercept + {p - 1} covariates), start 0",
            f=logistic_nll,
            x0=np.zeros(p),
            data=(X, y),
            gtol_abs=1e-6,
        )
    )

    # (c) extended Rosenbrock
    n = 20 if quick else 100
    problems.append(
        Problem(
            name="rosenbrock",
            description=(
                f"extended Rosenbrock (MGH 21), n={n}, start (-1.2, 1, ...); f* = 0 at ones"
            ),
            f=rosenbrock_extended,
            x0=np.tile([-1.2, 1.0], n // 2),
            data=(),
            gtol_abs=1e-9,
        )
    )
    return problems


def fresh(f: Callable) -> Callable:
    """A new function object with the same behaviour (defeats per-function caches,
    so each method's first call pays its own tracing and compilation)."""

    def wrapped(x, *args):
        return f(x, *args)

    return wrapped


def prepare(problem: Problem) -> None:
    """Move data to float64 jnp arrays and find the reference optimum (untimed)."""
    problem.args = tuple(jnp.asarray(a, dtype=jnp.float64) for a in problem.data)
    assert all(a.dtype == jnp.float64 for a in problem.args)
    ref = hj.minimize(fresh(problem.f), problem.x0, *problem.args, method="newton")
    problem.x_ref = np.asarray(ref.x)
    problem.f_ref = float(ref.fun)
    problem.hessjax_gtol = problem.gtol_abs / max(abs(problem.f_ref), 1.0)


# --------------------------------------------------------------------------------------
# methods: each factory returns run() -> dict(x=..., nit=..., nfev=..., success=...)
# run() must finish all device work before returning.
# --------------------------------------------------------------------------------------


def _int(v) -> int | None:
    return None if v is None else int(v)


def make_hessjax(problem: Problem, method: str, init_hessian: str | None = None):
    f = fresh(problem.f)
    opts: dict[str, Any] = {"gtol": problem.hessjax_gtol, "max_steps": MAX_STEPS}
    if init_hessian is not None:
        opts["init_hessian"] = init_hessian
    x0, args = problem.x0, problem.args

    def run():
        res = hj.minimize(f, x0, *args, method=method, **opts)
        return jax.block_until_ready(res)

    def extract(res):
        return dict(
            x=np.asarray(res.x),
            nit=_int(res.nit),
            nfev=_int(res.nfev),
            ngev=_int(res.ngev),
            nhev=_int(res.nhev),
            success=bool(res.success),
            status=hj.Status(int(res.status)).name,
        )

    return run, extract


def make_jax_scipy(problem: Problem):
    from jax.scipy.optimize import minimize as jsp_minimize

    f = problem.f
    options = {"gtol": problem.gtol_abs, "maxiter": MAX_STEPS}

    @jax.jit
    def solve(x0, args):
        return jsp_minimize(f, x0, args=args, method="BFGS", options=options)

    x0 = jnp.asarray(problem.x0, jnp.float64)
    args = problem.args

    def run():
        return jax.block_until_ready(solve(x0, args))

    def extract(res):
        return dict(
            x=np.asarray(res.x),
            nit=_int(res.nit),
            nfev=_int(res.nfev),
            ngev=_int(res.njev),
            success=bool(res.success),
            status=f"status={int(res.status)}",
        )

    return run, extract


def make_optimistix(problem: Problem):
    import optimistix as optx

    f = problem.f
    solver = optx.BFGS(rtol=OPTX_TOL, atol=OPTX_TOL, norm=optx.max_norm)

    @jax.jit
    def solve(x0, args):
        sol = optx.minimise(
            lambda y, a: f(y, *a), solver, x0, args=args, max_steps=MAX_STEPS, throw=False
        )
        return sol.value, sol.stats["num_steps"], sol.result == optx.RESULTS.successful

    x0 = jnp.asarray(problem.x0, jnp.float64)
    args = problem.args

    def run():
        return jax.block_until_ready(solve(x0, args))

    def extract(res):
        x, steps, ok = res
        return dict(x=np.asarray(x), nit=_int(steps), nfev=None, success=bool(ok), status="")

    return run, extract


def make_jaxopt(problem: Problem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jaxopt

    f = problem.f
    solver = jaxopt.BFGS(fun=f, tol=problem.gtol_abs, maxiter=MAX_STEPS, implicit_diff=False)

    @jax.jit
    def solve(x0, args):
        params, state = solver.run(x0, *args)
        return params, state.iter_num, state.num_fun_eval, state.num_grad_eval, state.error

    x0 = jnp.asarray(problem.x0, jnp.float64)
    args = problem.args
    tol = problem.gtol_abs

    def run():
        return jax.block_until_ready(solve(x0, args))

    def extract(res):
        x, it, nfev, ngev, err = res
        return dict(
            x=np.asarray(x),
            nit=_int(it),
            nfev=_int(nfev),
            ngev=_int(ngev),
            success=bool(float(err) <= tol),  # jaxopt has no success flag: its own test
            status=f"error={float(err):.2e}",
        )

    return run, extract


def make_scipy(problem: Problem, method: str):
    vg = jax.jit(jax.value_and_grad(problem.f))
    hess = jax.jit(jax.hessian(problem.f))
    args = problem.args

    def fun(x):
        v, g = vg(x, *args)
        return float(v), np.asarray(g)

    def hess_np(x):
        return np.asarray(hess(x, *args))

    options = {"gtol": problem.gtol_abs, "maxiter": MAX_STEPS}
    extra = {"hess": hess_np} if method == "trust-exact" else {}
    x0 = problem.x0

    def run():
        return scipy.optimize.minimize(fun, x0, jac=True, method=method, options=options, **extra)

    def extract(res):
        return dict(
            x=np.asarray(res.x),
            nit=_int(res.nit),
            nfev=_int(res.nfev),
            ngev=_int(getattr(res, "njev", None)),
            nhev=_int(getattr(res, "nhev", None)),
            success=bool(res.success),
            status=str(res.message)[:60],
        )

    return run, extract


FACTORIES: dict[str, Callable] = {
    "hessjax bfgs": lambda p: make_hessjax(p, "bfgs"),  # default options (scaled start)
    "hessjax bfgs (identity init)": lambda p: make_hessjax(p, "bfgs", init_hessian="identity"),
    "hessjax bfgs (exact init)": lambda p: make_hessjax(p, "bfgs", init_hessian="exact"),
    "hessjax newton": lambda p: make_hessjax(p, "newton"),
    "jax.scipy BFGS": make_jax_scipy,
    "optimistix BFGS": make_optimistix,
    "jaxopt BFGS": make_jaxopt,
    "scipy BFGS": lambda p: make_scipy(p, "BFGS"),
    "scipy trust-exact": lambda p: make_scipy(p, "trust-exact"),
}


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------


def time_methods(runs: dict[str, Callable], repeats: int, budget_s: float) -> dict[str, tuple]:
    """First (compiling) call of every method, then ``repeats`` interleaved rounds of warm
    calls (one call of each method per round, so background load on a shared machine
    affects all methods alike). A method whose warm calls have used ``budget_s`` sits out
    the remaining rounds once it has at least 3 warm calls.

    Returns ``{name: (last output, first-call seconds, [warm-call seconds])}``."""
    out: dict[str, Any] = {}
    first: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, run in runs.items():
        t0 = time.perf_counter()
        out[name] = run()
        first[name] = time.perf_counter() - t0
    for _ in range(repeats):
        for name, run in runs.items():
            if len(times[name]) >= 3 and sum(times[name]) > budget_s:
                continue
            t0 = time.perf_counter()
            out[name] = run()
            times[name].append(time.perf_counter() - t0)
    return {name: (out[name], first[name], times[name]) for name in runs}


def benchmark_problem(problem: Problem, methods: list[str], repeats: int, budget_s: float) -> dict:
    grad = jax.jit(jax.grad(problem.f))
    value = jax.jit(problem.f)
    built = {name: FACTORIES[name](problem) for name in methods}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning etc.: recorded as flags
        timed = time_methods({n: b[0] for n, b in built.items()}, repeats, budget_s)
    rows: dict[str, dict] = {}
    for name in methods:
        out, first, times = timed[name]
        info = built[name][1](out)
        x = jnp.asarray(info.pop("x"), jnp.float64)
        warm = statistics.median(times)
        row = dict(
            info,
            grad_inf=float(jnp.max(jnp.abs(grad(x, *problem.args)))),
            fun=float(value(x, *problem.args)),
            x_err_inf=float(np.max(np.abs(np.asarray(x) - problem.x_ref))),
            warm_median_s=warm,
            warm_min_s=min(times),
            warm_times_s=times,
            first_call_s=first,
            compile_s=max(first - warm, 0.0),
        )
        rows[name] = row
        print(
            f"  {name:<26} nit={row['nit']!s:>5} nfev={row['nfev']!s:>5} "
            f"|g|={row['grad_inf']:.2e} f={row['fun']:.10g} ok={row['success']!s:<5} "
            f"warm={warm * 1e3:9.2f} ms compile={row['compile_s']:6.2f} s  (n={len(times)})",
            flush=True,
        )

    f_best = min(r["fun"] for r in rows.values())
    for row in rows.values():
        row["fun_minus_best"] = row["fun"] - f_best
        row["reached_optimum"] = bool(
            row["fun"] - f_best <= F_RTOL * max(abs(f_best), 1.0)
            and row["grad_inf"] <= GRAD_SLACK * problem.gtol_abs
        )
    peers_ok = [m for m in methods if m in PEER_METHODS and rows[m]["reached_optimum"]]
    fastest = min(peers_ok, key=lambda m: rows[m]["warm_median_s"]) if peers_ok else None
    for row in rows.values():
        row["ratio_to_fastest_peer"] = (
            row["warm_median_s"] / rows[fastest]["warm_median_s"] if fastest else None
        )
    return dict(
        description=problem.description,
        n_params=int(problem.x0.size),
        gtol_abs=problem.gtol_abs,
        hessjax_gtol_relative=problem.hessjax_gtol,
        f_best=f_best,
        f_reference_newton=problem.f_ref,
        fastest_peer=fastest,
        methods=rows,
    )


def measure_overhead(repeats: int) -> dict:
    """Per-call Python overhead of hj.minimize on a trivial problem (n=2, converges in
    one or two steps), compared with a jitted peer and with hessjax's own compiled solve."""

    def quad(x, c):
        return jnp.sum((x - c) ** 2)

    c = jnp.asarray([1.0, -2.0], jnp.float64)
    x0 = np.zeros(2)
    n = max(repeats * 30, 100)

    def median_time(fn):
        fn()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    out: dict[str, Any] = {}
    out["hj.minimize bfgs"] = median_time(
        lambda: jax.block_until_ready(hj.minimize(quad, x0, c, method="bfgs"))
    )
    out["hj.minimize newton"] = median_time(
        lambda: jax.block_until_ready(hj.minimize(quad, x0, c, method="newton"))
    )
    from jax.scipy.optimize import minimize as jsp_minimize

    jsp = jax.jit(lambda x, c: jsp_minimize(quad, x, args=(c,), method="BFGS").x)
    x0j = jnp.asarray(x0)
    out["jax.jit(jax.scipy BFGS)"] = median_time(lambda: jax.block_until_ready(jsp(x0j, c)))
    trivial = jax.jit(quad)
    out["jax.jit(f) dispatch floor"] = median_time(lambda: jax.block_until_ready(trivial(x0j, c)))
    # hessjax internals (private API; skipped if they change): the cached compiled solve
    # alone, and the eager shell's input binding alone.
    try:
        from hessjax.objective import bind
        from hessjax.optimize.bfgs import BFGSOptions
        from hessjax.optimize.minimize import solve_flat

        bound = bind(quad, x0, (c,))
        obj, x, args = bound[0], bound[1], bound[2]
        key = next(k for k in obj._programs if "bfgs" in k)
        solve = obj._programs[key]
        opts = BFGSOptions(gtol=jnp.asarray(1e-10, jnp.float64))
        out["hessjax compiled solve only (private)"] = median_time(
            lambda: jax.block_until_ready(solve(x, args, opts))
        )
        out["hessjax solve_flat (private)"] = median_time(
            lambda: jax.block_until_ready(solve_flat(obj, x, args, "bfgs"))
        )
        out["hessjax bind/validation only (private)"] = median_time(lambda: bind(quad, x0, (c,)))
    except Exception as err:  # pragma: no cover - diagnostic only
        out["private_error"] = repr(err)
    return out


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------


def fmt_time(s: float) -> str:
    return f"{s * 1e3:.2f}" if s < 10 else f"{s * 1e3:.0f}"


def markdown(report: dict) -> str:
    lines = []
    m = report["machine"]
    lines.append("# hessjax.minimize benchmark\n")
    lines.append(
        f"{m['date']} · hessjax {m['hessjax']} "
        f"({(m['hessjax_git'] or {}).get('commit')}"
        f"{', uncommitted src changes' if (m['hessjax_git'] or {}).get('src_dirty') else ''}) · "
        f"jax {m['jax']} · {m['cpu_count']} CPU cores ({m['processor']}) · "
        f"float64 · {'quick' if report['config']['quick'] else 'full'} run · "
        f"warm = median of up to {report['config']['repeats']} calls after the first "
        f"(interleaved across methods) · load average {m['loadavg_1min_before']:.1f} before, "
        f"{m['loadavg_1min_after']:.1f} after\n"
    )
    lines.append(
        "‖g‖∞ and f are recomputed identically for every method (jitted jax.grad at the "
        "returned x). *success* is the method's own flag; *at optimum* means f within "
        f"{report['config']['reached_optimum_rule']}. Ratios are to the fastest peer at the "
        "optimum. Compile = first call − warm median.\n"
    )
    for name, prob in report["problems"].items():
        lines.append(f"## {name}: {prob['description']}\n")
        lines.append(
            f"Target ‖g‖∞ ≤ {prob['gtol_abs']:.0e} (hessjax relative gtol "
            f"{prob['hessjax_gtol_relative']:.2e}); best f = {prob['f_best']:.12g}; "
            f"fastest peer at the optimum: {prob['fastest_peer']}.\n"
        )
        lines.append(
            "| method | iters | nfev | ‖g‖∞ (final) | f − f_best | success | at optimum | "
            "warm median (ms) | warm min (ms) | compile (s) | × fastest peer |"
        )
        lines.append("|---|---:|---:|---:|---:|:---:|:---:|---:|---:|---:|---:|")
        for meth, r in prob["methods"].items():
            ratio = r["ratio_to_fastest_peer"]
            lines.append(
                f"| {meth} | {r['nit']} | {r['nfev'] if r['nfev'] is not None else '–'} | "
                f"{r['grad_inf']:.1e} | {r['fun_minus_best']:.1e} | "
                f"{'yes' if r['success'] else 'no'} | {'yes' if r['reached_optimum'] else '**no**'} | "
                f"{fmt_time(r['warm_median_s'])} | {fmt_time(r['warm_min_s'])} | "
                f"{r['compile_s']:.2f} | "
                f"{'–' if ratio is None else f'{ratio:.2f}'} |"
            )
        lines.append("")
    t = report["target"]
    lines.append("## Target (negative binomial, warm)\n")
    lines.append(t["summary"] + "\n")
    ov = report["overhead"]
    lines.append("## Per-call overhead on a trivial problem (n=2, quadratic)\n")
    lines.append("| call | median (µs) |")
    lines.append("|---|---:|")
    for k, v in ov.items():
        if isinstance(v, float):
            lines.append(f"| {k} | {v * 1e6:.0f} |")
    lines.append("")
    return "\n".join(lines)


def evaluate_target(problems: dict) -> dict:
    prob = problems.get("negbin")
    if prob is None or prob["fastest_peer"] is None:
        return dict(met=False, summary="Target not evaluated (no converged peer on negbin).")
    rows = prob["methods"]
    peer = prob["fastest_peer"]
    peer_row = rows[peer]
    hj_ok = [m for m in HESSJAX_METHODS if m in rows and rows[m]["reached_optimum"]]
    if not hj_ok:
        return dict(met=False, summary="Target NOT met: no hessjax method reached the optimum.")
    # Issue 12 target 3 is about the default options: ``hessjax bfgs`` when it reached
    # the optimum (else the fastest hessjax method that did, said so in the summary).
    default = "hessjax bfgs"
    best = default if default in hj_ok else min(hj_ok, key=lambda m: rows[m]["warm_median_s"])
    ratio = rows[best]["warm_median_s"] / peer_row["warm_median_s"]
    grad_ok = rows[best]["grad_inf"] <= max(peer_row["grad_inf"], prob["gtol_abs"])
    grad_strict = rows[best]["grad_inf"] <= peer_row["grad_inf"]
    compile_max = max(
        r["compile_s"] for pname, p in problems.items() for m, r in p["methods"].items()
        if m in HESSJAX_METHODS
    )
    compile_nb_max = max(rows[m]["compile_s"] for m in HESSJAX_METHODS if m in rows)
    time_ok = ratio <= 0.5
    compile_ok = compile_nb_max < 2.0
    met = time_ok and grad_ok and compile_ok
    summary = (
        f"hessjax with default options on negbin: {best}, {rows[best]['warm_median_s'] * 1e3:.2f} ms vs "
        f"fastest peer {peer} {peer_row['warm_median_s'] * 1e3:.2f} ms: ratio {ratio:.2f} "
        f"({'≤' if time_ok else '>'} 0.5). Final ‖g‖∞ {rows[best]['grad_inf']:.1e} vs "
        f"{peer_row['grad_inf']:.1e} ({'equal or better' if grad_strict else 'worse than the peer'}"
        f"{'' if grad_strict else (', but within the target' if grad_ok else ', and above the target')}). "
        f"hessjax compile time on negbin at most {compile_nb_max:.2f} s "
        f"({'<' if compile_ok else '≥'} 2 s; at most {compile_max:.2f} s over all problems). "
        f"Issue 12 target 3 (default minimize <= 0.5x the fastest peer at an equal or better "
        f"gradient): {'MET' if time_ok and grad_strict else 'MISSED'}. "
        f"Earlier target (incl. compile < 2 s): {'MET' if met else 'NOT met'}."
    )
    # The same ratio against the fastest peer that also reports success itself.
    flagged = [
        m for m in PEER_METHODS if m in rows and rows[m]["reached_optimum"] and rows[m]["success"]
    ]
    if flagged:
        alt = min(flagged, key=lambda m: rows[m]["warm_median_s"])
        alt_ratio = rows[best]["warm_median_s"] / rows[alt]["warm_median_s"]
        summary += (
            f" (Against the fastest peer that also reports success itself, {alt}: "
            f"ratio {alt_ratio:.2f}.)"
        )
    else:
        alt, alt_ratio = None, None
    return dict(
        met=met,
        fastest_self_successful_peer=alt,
        ratio_to_fastest_self_successful_peer=alt_ratio,
        best_hessjax=best,
        fastest_peer=peer,
        ratio=ratio,
        time_ok=time_ok,
        grad_ok=grad_ok,
        grad_strictly_equal_or_better=grad_strict,
        compile_negbin_max_s=compile_nb_max,
        compile_all_max_s=compile_max,
        compile_ok=compile_ok,
        summary=summary,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems and repeats")
    parser.add_argument("--repeats", type=int, default=None, help="warm repeats (default 7, quick 3)")
    parser.add_argument(
        "--problems", default="negbin,logistic,rosenbrock", help="comma-separated subset"
    )
    parser.add_argument("--methods", default=None, help="comma-separated subset of methods")
    parser.add_argument("--out", default=str(RESULTS), help="output directory")
    ns = parser.parse_args(argv)
    repeats = ns.repeats or (3 if ns.quick else 7)
    # Cap on the total warm time per method (slow methods get fewer repeats, at least 2).
    budget_s = 10.0 if ns.quick else 20.0
    methods = ns.methods.split(",") if ns.methods else list(FACTORIES)
    unknown = set(methods) - set(FACTORIES)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {list(FACTORIES)}")
    wanted = set(ns.problems.split(","))

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    with jax.enable_x64(True):
        problems = [p for p in make_problems(ns.quick) if p.name in wanted]
        results = {}
        for problem in problems:
            prepare(problem)
            print(f"\n{problem.name}: {problem.description}", flush=True)
            results[problem.name] = benchmark_problem(problem, methods, repeats, budget_s)
        overhead = measure_overhead(repeats)

    report = dict(
        machine=machine_info(("optimistix", "jaxopt"), load_before[0]),
        config=dict(
            quick=ns.quick,
            repeats=repeats,
            warm_budget_s=budget_s,
            max_steps=MAX_STEPS,
            optimistix_rtol_atol=OPTX_TOL,
            reached_optimum_rule=(
                f"f - f_best <= {F_RTOL} * max(|f_best|, 1) and "
                f"grad_inf <= {GRAD_SLACK} * gtol_abs"
            ),
        ),
        problems=results,
        overhead=overhead,
    )
    report["target"] = evaluate_target(results)
    report["total_wall_s"] = time.perf_counter() - t_start

    write_results(ns.out, "minimize", report, markdown(report))
    print(report["target"]["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
