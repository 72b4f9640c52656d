#!/usr/bin/env python
"""Benchmark ``hessjax.fit_batch`` (many small fits with SEs) against a SciPy loop and
vmapped optimistix.

Usage::

    python benchmarks/batch.py            # full run (about 10-15 minutes on 2 CPU cores)
    python benchmarks/batch.py --quick    # N = 200 and 1000 datasets, SciPy subset 20
    python benchmarks/batch.py --render benchmarks/results/batch.json --notes notes.md
                                          # re-render batch.md (with a "what this shows" text)

The default XLA CPU thread pool is used (PJRT_NPROC, when set, is recorded).

Two models, each fitted to N = 2,000 and N = 20,000 simulated datasets (float64):

* ``normal``: y_i ~ Normal(mu, sigma), n = 200 observations per dataset, parameters
  ``{"mu", "log_sigma"}`` (true mu = 1, sigma = 2), start mu = 0, log sigma = 0;
* ``negbin``: NB2 regression, n = 500 observations per dataset, design = intercept + 4
  standard normal columns **drawn per dataset** (X is batched, shape (N, 500, 5); 400 MB
  per draw at N = 20,000, which fits in memory), parameters ``{"beta" (5), "log_alpha"}``
  (true beta = [0.5, 0.3, -0.2, 0.1, 0.0], alpha = 0.5), start 0. Log-likelihood with
  ``jax.scipy.special.gammaln``.

Pipelines, each producing estimates and standard errors for every dataset:

* ``hessjax``: ``hj.fit_batch(loglik, init, *data, progress=False)`` with its defaults
  (exact-Hessian trust-region Newton, Cholesky-gated covariance, default ``chunk_size``
  from its memory budget; the chunk size used is recorded). loglik returns per-observation
  values;
* ``optimistix``: ``jax.jit(jax.vmap(one))`` over the datasets, where ``one``
  runs ``optx.minimise(nll, optx.BFGS(rtol=OPTX_TOL, atol=OPTX_TOL, norm=optx.max_norm),
  x0, args=data, max_steps=OPTX_MAX_STEPS, throw=False)`` and then ``jax.hessian`` +
  ``jnp.linalg.inv`` at the solution for SEs; by default in the same chunks as
  ``fit_batch``'s default chunk size (the last one padded the same way; one chunk = the
  whole batch when fit_batch uses one). Memory would allow the whole batch at once (about
  5.7 GB peak at N = 20,000 negbin; ``--optx-chunk all``), but a vmapped while loop runs
  until the slowest fit of the batch stops, so one slow dataset stalls all 20,000: in a
  whole-batch run the first negbin N = 20,000 call took 931 s against 106 s warm;
* ``scipy loop``: per dataset, ``scipy.optimize.minimize(fun, x0, jac=True,
  method="BFGS", options={"gtol": gtol})`` with a jitted JAX ``value_and_grad``, then
  a jitted ``jax.hessian`` at the optimum and SEs from ``np.linalg.inv``; gtol = 1e-5
  (SciPy's default, the primary and faster row) and 1e-8 (see SCIPY_VARIANTS). The loop is
  timed on the first ``--subset`` datasets only and **extrapolated linearly** to N
  (per-fit time x N).

Profile hint: the warm time of one ``jit(vmap(value, grad, hessian))`` of the summed
negative log-likelihood over the whole batch (in hessjax's chunks), i.e. the derivative work
of one Newton iteration for every fit; each pipeline's time is also given in these units.

Timing. Data are passed as host NumPy arrays to every pipeline and every pipeline returns
host NumPy arrays (transfers are inside the timings). Each JAX pipeline's first call runs on
one draw of the data ("compile draw"); the warm calls run on a second, independent draw of
the same shape ("warm draw"), ``--repeats`` times, interleaved between the two JAX
pipelines (round robin, so background load hits both alike), except that a pipeline whose
warm calls have used ``--budget`` seconds sits out the remaining rounds (at least one warm
call; this keeps the full run near 15 minutes); warm time = median. Compile
time = the durations of JAX's compilation events (``/jax/core/compile/*``: tracing,
lowering, XLA compilation) recorded by a ``jax.monitoring`` listener during the first call
(the SciPy loop: its first fit); first call - warm median is also recorded but is unreliable
(shared machine; optimistix's first call also pays for the slowest-stopping fit of the
compile draw). Each (model, N) uses fresh function objects, so nothing is
reused from another configuration's compilation. The SciPy loop's compile time is its
first fit (on the compile draw, including the jit compilation of value_and_grad and
hessian) minus its warm per-fit time.

Accuracy. For every pipeline the gradient of the summed negative log-likelihood is
recomputed identically (jitted, vmapped ``jax.grad``) at the returned estimates; the table
reports its inf-norm (max over datasets and median). Converged = each pipeline's own flag
(hessjax ``converged``, optimistix ``result == successful``, scipy ``success``); hessjax's
``batch_summary`` (valid = converged + positive-definite information + certificate) is also
recorded. SE agreement: max relative difference of the hessjax SEs against the SciPy-loop
SEs on the SciPy subset and against the optimistix SEs on the whole batch.

Outputs ``benchmarks/results/batch.json`` and ``benchmarks/results/batch.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

# jaxlib 0.10.2's batched CPU LAPACK kernels (eigh, cholesky) block XLA pool threads;
# independent batched calls deadlocked fit_batch on 2 cores until hessjax serialized them
# (optimization barriers in fit.py) and stopped overlapping chunks on CPU. The default
# thread pool is used here; set PJRT_NPROC to override it.

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # the peers run in float64 (hessjax scopes it itself)

import jax.numpy as jnp  # noqa: E402
import optimistix as optx  # noqa: E402
import scipy.optimize  # noqa: E402
from jax.scipy.special import gammaln  # noqa: E402

import hessjax as hj  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

OPTX_TOL = 1e-8  # rtol = atol of optimistix BFGS (Cauchy termination on step and f change)
OPTX_MAX_STEPS = 1000
# scipy BFGS inf-norm gradient tolerances: the primary row uses SciPy's default 1e-5 (every
# fit reports success; the tighter 1e-8 mostly ends in "precision loss" line-search failures
# that roughly double the time without lowering the worst gradient, so it is the slower and
# not the more accurate peer). Both are timed; the ratio target uses the primary (faster) one.
SCIPY_VARIANTS = {"scipy loop": 1e-5, "scipy loop (gtol 1e-8)": 1e-8}
SCIPY_MAX_ITER = 1000
GRAD_CHUNK = 4096
BAD_GRAD = 1e-3  # a fit whose final ||grad||_inf exceeds this did not reach the optimum  # datasets per call of the (untimed) gradient check

# Compile time = the JAX compilation events (trace, lowering, XLA compile) recorded while a
# call runs; robust to machine load and to how long the computation itself takes.
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]


def _on_event_duration(event: str, duration: float, **_) -> None:
    if event in COMPILE_EVENTS:
        _compile_seconds[0] += duration


jax.monitoring.register_event_duration_secs_listener(_on_event_duration)


def timed(fn: Callable, *args) -> tuple:
    """(fn(*args), wall seconds, seconds of JAX compilation inside)."""
    c0, t0 = _compile_seconds[0], time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0, _compile_seconds[0] - c0


TARGET_SCIPY_RATIO = 300.0  # scipy loop / hessjax >= this
TARGET_OPTX_RATIO = 0.5  # hessjax / optimistix <= this


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Model:
    name: str
    description: str
    n_obs: int
    names: tuple  # flat parameter order used by the peers
    init: dict  # hessjax init (pytree)
    make_loglik: Callable  # () -> fresh per-observation loglik(params_tree, *data)
    make_nll: Callable  # () -> fresh summed nll(theta_flat, *data)
    to_flat: Callable  # batched params pytree -> (N, k) array in `names` order
    draw: Callable  # (N, seed) -> tuple of NumPy data arrays, batched along axis 0

    @property
    def x0(self) -> np.ndarray:
        return np.asarray(self.to_flat(jax.tree_util.tree_map(lambda v: np.asarray(v)[None], self.init))[0])


def normal_model(n_obs: int = 200) -> Model:
    mu_true, sigma_true = 1.0, 2.0

    def make_loglik():
        def loglik(p, y):
            z = (y - p["mu"]) * jnp.exp(-p["log_sigma"])
            return -0.5 * z**2 - p["log_sigma"]

        return loglik

    def make_nll():
        def nll(theta, y):
            mu, log_sigma = theta[0], theta[1]
            z = (y - mu) * jnp.exp(-log_sigma)
            return jnp.sum(0.5 * z**2 + log_sigma)

        return nll

    def to_flat(p):
        return np.stack([np.asarray(p["mu"]), np.asarray(p["log_sigma"])], axis=1)

    def draw(N, seed):
        rng = np.random.default_rng(seed)
        return (rng.normal(mu_true, sigma_true, size=(N, n_obs)),)

    return Model(
        name="normal",
        description=(
            f"Normal(mu, sigma), n = {n_obs} observations per dataset, params mu, log_sigma "
            f"(true 1, log 2), start 0"
        ),
        n_obs=n_obs,
        names=("mu", "log_sigma"),
        init={"mu": 0.0, "log_sigma": 0.0},
        make_loglik=make_loglik,
        make_nll=make_nll,
        to_flat=to_flat,
        draw=draw,
    )


def _nb2_terms(beta, log_alpha, X, y):
    eta = X @ beta
    log_r = -log_alpha  # r = 1 / alpha
    r = jnp.exp(log_r)
    log_r_mu = jnp.logaddexp(log_r, eta)  # log(r + mu)
    return (
        gammaln(y + r) - gammaln(r) - gammaln(y + 1.0) + r * (log_r - log_r_mu) + y * (eta - log_r_mu)
    )


def negbin_model(n_obs: int = 500) -> Model:
    beta_true = np.array([0.5, 0.3, -0.2, 0.1, 0.0])
    alpha_true = 0.5
    k = beta_true.size

    def make_loglik():
        def loglik(p, X, y):
            return _nb2_terms(p["beta"], p["log_alpha"], X, y)

        return loglik

    def make_nll():
        def nll(theta, X, y):
            return -jnp.sum(_nb2_terms(theta[:-1], theta[-1], X, y))

        return nll

    def to_flat(p):
        return np.concatenate(
            [np.asarray(p["beta"]), np.asarray(p["log_alpha"])[:, None]], axis=1
        )

    def draw(N, seed):
        rng = np.random.default_rng(seed)
        X = np.empty((N, n_obs, k))
        X[:, :, 0] = 1.0
        X[:, :, 1:] = rng.standard_normal((N, n_obs, k - 1))
        mu = np.exp(X @ beta_true)
        r = 1.0 / alpha_true
        y = rng.negative_binomial(r, r / (r + mu)).astype(np.float64)
        return X, y

    return Model(
        name="negbin",
        description=(
            f"NB2 regression, n = {n_obs} observations per dataset, intercept + 4 N(0,1) "
            f"covariates (X drawn per dataset, batched) + log alpha = 6 params "
            f"(true beta = {beta_true.tolist()}, alpha = {alpha_true}), start 0"
        ),
        n_obs=n_obs,
        names=tuple(f"beta[{i}]" for i in range(k)) + ("log_alpha",),
        init={"beta": np.zeros(k), "log_alpha": 0.0},
        make_loglik=make_loglik,
        make_nll=make_nll,
        to_flat=to_flat,
        draw=draw,
    )


# --------------------------------------------------------------------------------------
# pipelines: each returns dict(x=(N, k), se=(N, k), converged=(N,), iters=(N,) or None, ...)
# --------------------------------------------------------------------------------------


def make_hessjax(model: Model) -> Callable:
    loglik = model.make_loglik()  # fresh function: its own compilation

    def run(data):
        fits = hj.fit_batch(loglik, model.init, *data, progress=False)
        return dict(
            x=model.to_flat(fits.params),
            se=model.to_flat(fits.se),
            converged=np.asarray(fits.converged),
            iters=np.asarray(fits.optimizer.nit),
            summary=dict(fits.batch_summary._asdict()),
        )

    return run


def make_optimistix(model: Model, chunk: int | None = None) -> Callable:
    nll = model.make_nll()
    solver = optx.BFGS(rtol=OPTX_TOL, atol=OPTX_TOL, norm=optx.max_norm)

    def one(x0, data):
        sol = optx.minimise(
            lambda y, a: nll(y, *a), solver, x0, args=data, max_steps=OPTX_MAX_STEPS, throw=False
        )
        x = sol.value
        H = jax.hessian(nll)(x, *data)
        se = jnp.sqrt(jnp.diag(jnp.linalg.inv(H)))
        return x, se, sol.result == optx.RESULTS.successful, sol.stats["num_steps"]

    program = jax.jit(jax.vmap(one, in_axes=(None, 0)))
    x0 = jnp.asarray(model.x0)

    def run(data):
        N = data[0].shape[0]
        size = N if chunk is None else min(chunk, N)
        pieces = []
        for s in range(0, N, size):
            # the last chunk is padded by repeating the final dataset: one compilation
            index = np.minimum(np.arange(s, s + size), N - 1)
            pieces.append(program(x0, tuple(a[index] if size < N else a for a in data)))
        x, se, ok, steps = (np.concatenate([np.asarray(p[i]) for p in pieces])[:N] for i in range(4))
        return dict(x=x, se=se, converged=ok, iters=steps)

    return run


def make_scipy(model: Model, gtol: float) -> Callable:
    nll = model.make_nll()
    vg = jax.jit(jax.value_and_grad(nll))
    hess = jax.jit(jax.hessian(nll))
    x0 = model.x0

    def fit_one(data_i):
        args = tuple(jnp.asarray(a) for a in data_i)

        def fun(x):
            v, g = vg(x, *args)
            return float(v), np.asarray(g)

        res = scipy.optimize.minimize(
            fun, x0, jac=True, method="BFGS",
            options={"gtol": gtol, "maxiter": SCIPY_MAX_ITER},
        )
        H = np.asarray(hess(res.x, *args))
        se = np.sqrt(np.diag(np.linalg.inv(H)))
        return res.x, se, bool(res.success), int(res.nit)

    def run(data, count):
        out = [fit_one(tuple(a[i] for a in data)) for i in range(count)]
        return dict(
            x=np.stack([o[0] for o in out]),
            se=np.stack([o[1] for o in out]),
            converged=np.array([o[2] for o in out]),
            iters=np.array([o[3] for o in out]),
        )

    return run


# --------------------------------------------------------------------------------------
# accuracy
# --------------------------------------------------------------------------------------


def grad_inf_norms(model: Model, x: np.ndarray, data: tuple) -> np.ndarray:
    """||grad nll(x_i; data_i)||_inf for every dataset (same jitted code for every pipeline)."""
    nll = model.make_nll()
    g = jax.jit(jax.vmap(lambda t, *d: jnp.max(jnp.abs(jax.grad(nll)(t, *d)))))
    out = []
    for s in range(0, x.shape[0], GRAD_CHUNK):
        out.append(np.asarray(g(jnp.asarray(x[s:s + GRAD_CHUNK]), *(a[s:s + GRAD_CHUNK] for a in data))))
    return np.concatenate(out)


def batched_hessian_time(model: Model, data: tuple, repeats: int) -> float:
    """Warm median time of ``jit(vmap(value, grad, hessian))`` of the summed nll over the
    whole batch at the start point, host data in, host arrays out (the derivative work of
    one Newton iteration for every fit), in chunks of the hessjax chunk size."""
    nll = model.make_nll()

    def one(t, *d):
        return nll(t, *d), jax.grad(nll)(t, *d), jax.hessian(nll)(t, *d)

    f = jax.jit(jax.vmap(one, in_axes=(None,) + (0,) * len(data)))
    x0 = jnp.asarray(model.x0)
    N = data[0].shape[0]
    chunk = hessjax_chunk(model, N, data) or N

    def run():
        for s in range(0, N, chunk):
            jax.tree_util.tree_map(np.asarray, f(x0, *(a[s:s + chunk] for a in data)))

    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def hessjax_chunk(model: Model, N: int, data: tuple) -> int | None:
    """The default chunk size fit_batch uses (private helper; None if it changes)."""
    try:
        from hessjax.batch import batch_plan

        per_fit_elements = sum(int(np.size(a[0])) for a in data)
        return int(batch_plan(N, len(model.names), per_fit_elements)[1])
    except Exception:  # pragma: no cover - private API
        return None


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def accuracy_row(model: Model, out: dict, data: tuple) -> dict:
    g = grad_inf_norms(model, out["x"], data)
    out["grad_inf"] = g
    iters = out.get("iters")
    return dict(
        n_fits=int(out["x"].shape[0]),
        converged_fraction=float(np.mean(out["converged"])),
        grad_inf_max=float(np.max(g)),
        grad_inf_median=float(np.median(g)),
        grad_inf_max_converged=float(np.max(g[out["converged"]])) if np.any(out["converged"]) else None,
        se_finite_fraction=float(np.mean(np.all(np.isfinite(out["se"]), axis=1))),
        iters_mean=None if iters is None else float(np.mean(iters)),
        iters_max=None if iters is None else int(np.max(iters)),
    )


# --------------------------------------------------------------------------------------
# one (model, N) configuration
# --------------------------------------------------------------------------------------


def benchmark_config(
    model: Model, N: int, subset: int, repeats: int, seed: int, budget_s: float,
    optx_chunk: str,
) -> dict:
    print(f"\n{model.name}, N = {N}: drawing data", flush=True)
    data_compile = model.draw(N, seed)
    data_warm = model.draw(N, seed + 1)

    chunk = hessjax_chunk(model, N, data_warm)
    if optx_chunk == "hessjax":
        optx_size = chunk if chunk is not None and chunk < N else None
    elif optx_chunk == "all":
        optx_size = None
    else:
        optx_size = int(optx_chunk)
    runs = {"hessjax": make_hessjax(model), "optimistix": make_optimistix(model, optx_size)}
    first, times, outs, first_outs = {}, {name: [] for name in runs}, {}, {}
    compile_s, warm_compile_s = {}, {name: 0.0 for name in runs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: recorded as flags
        for name, run in runs.items():
            first_outs[name], first[name], compile_s[name] = timed(run, data_compile)
            print(
                f"  {name:<11} first call {first[name]:8.2f} s, compiling {compile_s[name]:.2f} s "
                f"(compile draw: iters max "
                f"{int(np.max(first_outs[name]['iters']))}, converged "
                f"{np.mean(first_outs[name]['converged']):.4f})",
                flush=True,
            )
        for r in range(repeats):
            for name, run in runs.items():
                if times[name] and sum(times[name]) > budget_s:
                    continue  # slow pipeline: fewer warm calls (at least one)
                outs[name], seconds, recompiled = timed(run, data_warm)
                times[name].append(seconds)
                warm_compile_s[name] += recompiled
                print(f"  {name:<11} warm call {r + 1}: {times[name][-1]:8.2f} s", flush=True)

        # SciPy loops: compile on the first dataset of the compile draw, time the subset.
        count = min(subset, N)
        scipy_first, scipy_subset_s = {}, {}
        for name, gtol in SCIPY_VARIANTS.items():
            scipy_run = make_scipy(model, gtol)
            _, scipy_first[name], compile_s[name] = timed(scipy_run, data_compile, 1)
            t0 = time.perf_counter()
            outs[name] = scipy_run(data_warm, count)
            scipy_subset_s[name] = time.perf_counter() - t0
            per_fit = scipy_subset_s[name] / count
            print(
                f"  {name}: {count} fits {scipy_subset_s[name]:.2f} s = {per_fit * 1e3:.2f} "
                f"ms/fit -> extrapolated {per_fit * N:.1f} s for {N}",
                flush=True,
            )

    # Profile hint (untimed in the comparison): one batched exact value/grad/Hessian
    # evaluation of the whole warm draw, the unit of work of one Newton iteration.
    floor = batched_hessian_time(model, data_warm, min(repeats, 3))

    rows = {}
    for name in runs:
        warm = statistics.median(times[name])
        fo = first_outs[name]
        rows[name] = dict(
            warm_median_s=warm,
            warm_times_s=times[name],
            first_call_s=first[name],
            compile_s=compile_s[name],
            first_minus_warm_s=first[name] - warm,
            compile_during_warm_calls_s=warm_compile_s[name],
            fits_per_s=N / warm,
            extrapolated=False,
            compile_draw=dict(
                converged_fraction=float(np.mean(fo["converged"])),
                iters_mean=float(np.mean(fo["iters"])),
                iters_max=int(np.max(fo["iters"])),
            ),
            **accuracy_row(model, outs[name], data_warm),
        )

    rows["hessjax"]["batch_summary"] = outs["hessjax"]["summary"]
    sub = tuple(a[:count] for a in data_warm)
    for name, gtol in SCIPY_VARIANTS.items():
        per_fit = scipy_subset_s[name] / count
        rows[name] = dict(
            warm_median_s=per_fit * N,
            warm_times_s=[scipy_subset_s[name]],
            first_call_s=scipy_first[name],
            compile_s=compile_s[name],
            fits_per_s=1.0 / per_fit,
            extrapolated=True,
            gtol=gtol,
            timed_fits=count,
            timed_subset_s=scipy_subset_s[name],
            per_fit_s=per_fit,
            **accuracy_row(model, outs[name], sub),
        )

    hj_out, op_out, sp_out = outs["hessjax"], outs["optimistix"], outs["scipy loop"]
    comparison = dict(
        scipy_over_hessjax=rows["scipy loop"]["warm_median_s"] / rows["hessjax"]["warm_median_s"],
        scipy_tight_over_hessjax=(
            rows["scipy loop (gtol 1e-8)"]["warm_median_s"] / rows["hessjax"]["warm_median_s"]
        ),
        hessjax_over_optimistix=rows["hessjax"]["warm_median_s"] / rows["optimistix"]["warm_median_s"],
        se_max_rel_diff_hessjax_vs_scipy_subset=max_rel_diff(hj_out["se"][:count], sp_out["se"]),
        est_max_abs_diff_hessjax_vs_scipy_subset=float(np.max(np.abs(hj_out["x"][:count] - sp_out["x"]))),
        se_max_rel_diff_hessjax_vs_optimistix=max_rel_diff(hj_out["se"], op_out["se"]),
        optimistix_fits_grad_above=int(np.sum(op_out["grad_inf"] > BAD_GRAD)),
        optimistix_fits_grad_above_flagged_converged=int(
            np.sum((op_out["grad_inf"] > BAD_GRAD) & op_out["converged"])
        ),
        se_max_rel_diff_hessjax_vs_optimistix_grad_ok=max_rel_diff(
            hj_out["se"][op_out["grad_inf"] <= BAD_GRAD], op_out["se"][op_out["grad_inf"] <= BAD_GRAD]
        ),
        est_max_abs_diff_hessjax_vs_optimistix=float(np.max(np.abs(hj_out["x"] - op_out["x"]))),
        se_max_rel_diff_hessjax_vs_scipy_tight_subset=max_rel_diff(
            hj_out["se"][:count], outs["scipy loop (gtol 1e-8)"]["se"]
        ),
        scipy_subset_size=count,
        batched_hessian_eval_s=floor,
        hessjax_in_hessian_evals=rows["hessjax"]["warm_median_s"] / floor,
        optimistix_in_hessian_evals=rows["optimistix"]["warm_median_s"] / floor,
        optimistix_chunk_size=optx_size,
    )
    comparison["scipy_target_met"] = comparison["scipy_over_hessjax"] >= TARGET_SCIPY_RATIO
    comparison["optimistix_target_met"] = comparison["hessjax_over_optimistix"] <= TARGET_OPTX_RATIO
    for name, row in rows.items():
        print(
            f"  {name:<22} warm {row['warm_median_s']:9.3f} s{' (extrap.)' if row['extrapolated'] else '':10} "
            f"compile {row['compile_s']:6.2f} s  conv {row['converged_fraction']:.4f}  "
            f"max|g| {row['grad_inf_max']:.1e}  iters mean {row['iters_mean']:.1f} max {row['iters_max']}",
            flush=True,
        )
    print(
        f"  scipy/hessjax {comparison['scipy_over_hessjax']:.1f}x, hessjax/optimistix "
        f"{comparison['hessjax_over_optimistix']:.2f}, SE rel diff vs scipy "
        f"{comparison['se_max_rel_diff_hessjax_vs_scipy_subset']:.1e}; one batched Hessian "
        f"{floor:.3f} s (hessjax = {comparison['hessjax_in_hessian_evals']:.1f} of them)",
        flush=True,
    )
    n_params = len(model.names)
    return dict(
        N=N,
        n_obs=model.n_obs,
        n_params=n_params,
        data_bytes_per_draw=int(sum(a.nbytes for a in data_warm)),
        hessjax_chunk_size=chunk,
        hessjax_chunks=None if chunk is None else -(-N // chunk),
        hessjax_padded_fits=None if chunk is None else -(-N // chunk) * chunk - N,
        optimistix_chunk_size=optx_size,
        pipelines=rows,
        comparison=comparison,
    )


# --------------------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------------------


def fmt_s(s: float) -> str:
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def markdown(report: dict) -> str:
    m, c = report["machine"], report["config"]
    git = m["hessjax_git"] or {}
    lines = ["# hessjax.fit_batch benchmark\n"]
    lines.append(
        f"{m['date']} · hessjax {m['hessjax']} ({git.get('commit')}"
        f"{', uncommitted src changes' if git.get('src_dirty') else ''}) · jax {m['jax']} · "
        f"optimistix {m.get('optimistix')} · scipy {m['scipy']} · {m['cpu_count']} CPU cores "
        f"({m['processor']}), devices {', '.join(m['jax_devices'])} · float64 · "
        f"{'quick' if c['quick'] else 'full'} run · load average {m['loadavg_1min_before']:.1f} "
        f"before, {m['loadavg_1min_after']:.1f} after · total {report['total_wall_s']:.0f} s\n"
    )
    lines.append(
        f"XLA CPU thread pool: PJRT_NPROC = {c['pjrt_nproc'] or 'unset (default pool)'}.\n"
    )
    lines.append(
        f"Warm = median of up to {c['repeats']} calls (fewer once a pipeline's warm calls "
        f"exceed {c['warm_budget_s']:.0f} s) on a fresh draw of the data (after a first, "
        "compiling call on another draw), interleaved between the two JAX pipelines. Times cover host NumPy data in → host NumPy estimates and "
        f"SEs out. **SciPy loop times are extrapolated** from a timed loop over the first "
        f"{c['subset']} datasets (per-fit time × N). optimistix: BFGS rtol = atol = "
        f"{c['optimistix_rtol_atol']:g}, max_steps {c['optimistix_max_steps']}, vmapped, "
        + (
            "over the whole batch in one call; " if c["optimistix_chunk"] == "all"
            else "in the same chunks as fit_batch's default (last one padded the same way); "
            if c["optimistix_chunk"] == "hessjax"
            else f"chunks of {c['optimistix_chunk']} fits; "
        )
        + "SciPy BFGS gtol = 1e-5 (default; primary row and ratio) "
        "and 1e-8; hessjax defaults. "
        "‖g‖∞ is recomputed identically for every pipeline (gradient of the summed negative "
        "log-likelihood at the returned estimates). Converged = each pipeline's own flag. "
        "Compile = JAX's own compilation events (tracing, lowering, XLA compilation) recorded "
        "during the first call (for the SciPy loop: its first fit); first call = that whole "
        "call on the compile draw (first call − warm is unreliable here: the machine was "
        "shared, and a vmapped loop runs until the slowest fit of a chunk stops, so one "
        "slow dataset in the compile draw lengthens optimistix's first call).\n"
    )
    for mname, mres in report["models"].items():
        lines.append(f"## {mname}: {mres['description']}\n")
        lines.append(
            "| N | pipeline | warm (s) | warm calls | compile (s) | first call (s) | fits/s | "
            "converged | max ‖g‖∞ | median ‖g‖∞ | iters mean / max |"
        )
        lines.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for cfg in mres["configs"]:
            for pname, r in cfg["pipelines"].items():
                label = pname
                if r["extrapolated"]:
                    label += f" (extrapolated from {r['timed_fits']})"
                lines.append(
                    f"| {cfg['N']:,} | {label} | {fmt_s(r['warm_median_s'])} | "
                    f"{'–' if r['extrapolated'] else len(r['warm_times_s'])} | {r['compile_s']:.2f} | "
                    f"{r['first_call_s']:.2f} | {r['fits_per_s']:,.0f} | "
                    f"{r['converged_fraction']:.4f} | {r['grad_inf_max']:.1e} | "
                    f"{r['grad_inf_median']:.1e} | {r['iters_mean']:.1f} / {r['iters_max']} |"
                )
        lines.append("")
        lines.append(
            "| N | scipy loop / hessjax (target ≥ 300) | same, gtol 1e-8 loop | "
            "hessjax / optimistix (target ≤ 0.5) | "
            "SE max rel. diff hessjax vs scipy (subset) | vs optimistix (all / where its ‖g‖∞ ≤ 1e-3) | "
            "optimistix fits with ‖g‖∞ > 1e-3 (flagged converged) | "
            "hessjax valid fits | chunks (padded fits) | one batched Hessian (s) | "
            "hessjax / optimistix in batched Hessians |"
        )
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for cfg in mres["configs"]:
            cmp_ = cfg["comparison"]
            s = cfg["pipelines"]["hessjax"]["batch_summary"]
            lines.append(
                f"| {cfg['N']:,} | {cmp_['scipy_over_hessjax']:.0f}× "
                f"{'✓' if cmp_['scipy_target_met'] else '✗'} | "
                f"{cmp_['scipy_tight_over_hessjax']:.0f}× | "
                f"{cmp_['hessjax_over_optimistix']:.2f} "
                f"{'✓' if cmp_['optimistix_target_met'] else '✗'} | "
                f"{cmp_['se_max_rel_diff_hessjax_vs_scipy_subset']:.1e} "
                f"(n = {cmp_['scipy_subset_size']}) | "
                f"{cmp_['se_max_rel_diff_hessjax_vs_optimistix']:.1e} / "
                f"{cmp_['se_max_rel_diff_hessjax_vs_optimistix_grad_ok']:.1e} | "
                f"{cmp_['optimistix_fits_grad_above']} "
                f"({cmp_['optimistix_fits_grad_above_flagged_converged']}) | "
                f"{s['valid']:,} / {s['n_fits']:,} | {cfg['hessjax_chunks']} × "
                f"{cfg['hessjax_chunk_size']} ({cfg['hessjax_padded_fits']}) | "
                f"{fmt_s(cmp_['batched_hessian_eval_s'])} | "
                f"{cmp_['hessjax_in_hessian_evals']:.1f} / {cmp_['optimistix_in_hessian_evals']:.1f} |"
            )
        lines.append("")
    lines.append("## What this shows\n")
    lines.append(report.get("notes", "(see benchmarks/results/batch.json)") + "\n")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 200, 1000; SciPy subset 20")
    parser.add_argument("--sizes", default=None, help="comma-separated N (default 2000,20000)")
    parser.add_argument("--subset", type=int, default=None, help="SciPy-loop datasets timed (200)")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per JAX pipeline")
    parser.add_argument(
        "--budget", type=float, default=150.0,
        help="a JAX pipeline whose warm calls have used this many seconds sits out the "
        "remaining repeats (default 150; at least one warm call)",
    )
    parser.add_argument(
        "--optx-chunk", default="hessjax",
        help="optimistix chunking: 'hessjax' (default: the same chunk size as fit_batch's "
        "default, padded the same way), 'all' (the whole batch in one call) or a number",
    )
    parser.add_argument("--models", default="normal,negbin", help="comma-separated subset")
    parser.add_argument("--notes", default=None, help="file with the 'what this shows' text")
    parser.add_argument("--out", default=str(RESULTS), help="output directory")
    parser.add_argument(
        "--render", default=None, metavar="JSON",
        help="only re-render batch.md (and the notes) from an existing batch.json",
    )
    ns = parser.parse_args(argv)
    if ns.render:
        report = json.loads(Path(ns.render).read_text())
        if ns.notes:
            report["notes"] = Path(ns.notes).read_text().strip()
            Path(ns.render).write_text(json.dumps(report, indent=2) + "\n")
        md_path = Path(ns.render).with_suffix(".md")
        md_path.write_text(markdown(report))
        print(f"wrote {md_path}")
        return 0
    sizes = [int(s) for s in ns.sizes.split(",")] if ns.sizes else (
        [200, 1000] if ns.quick else [2000, 20000]
    )
    subset = ns.subset or (20 if ns.quick else 200)
    models = {m.name: m for m in (normal_model(), negbin_model())}
    wanted = ns.models.split(",")

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    results = {}
    for i, name in enumerate(wanted):
        model = models[name]
        configs = [
            benchmark_config(
                model, N, subset, ns.repeats, seed=1000 * (i + 1) + 10 * j,
                budget_s=ns.budget, optx_chunk=ns.optx_chunk,
            )
            for j, N in enumerate(sizes)
        ]
        results[name] = dict(description=model.description, params=list(model.names), configs=configs)

    report = dict(
        machine=machine_info(("optimistix",), load_before[0]),
        config=dict(
            quick=ns.quick,
            sizes=sizes,
            subset=subset,
            repeats=ns.repeats,
            pjrt_nproc=os.environ.get("PJRT_NPROC"),
            warm_budget_s=ns.budget,
            optimistix_chunk=ns.optx_chunk,
            optimistix_rtol_atol=OPTX_TOL,
            optimistix_max_steps=OPTX_MAX_STEPS,
            scipy_variants_gtol=SCIPY_VARIANTS,
            scipy_maxiter=SCIPY_MAX_ITER,
            targets=dict(scipy_over_hessjax_min=TARGET_SCIPY_RATIO,
                         hessjax_over_optimistix_max=TARGET_OPTX_RATIO),
        ),
        models=results,
    )
    report["total_wall_s"] = time.perf_counter() - t_start
    if ns.notes:
        report["notes"] = Path(ns.notes).read_text().strip()

    write_results(ns.out, "batch", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
