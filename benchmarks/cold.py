"""Cold-start cost: the first fit in a fresh process, against a raw JAX Hessian and the peers.

A statistician runs a script once: import, fit, print. What they pay is the
compilation of the fit pipeline. For each model this script times, each in a
fresh process (import excluded, medians of ``--repeats`` runs):

- ``raw``: the first call of ``jax.jit(jax.hessian(nll))`` on the model's
  negative summed log-likelihood at the starting values;
- ``fit``: the first ``hj.fit`` (optimizer, exact Hessian, certificate), which
  must end with a valid result (``result.diagnostics.is_valid``);
- ``fit, later process``: the first ``hj.fit`` in a process that finds the
  programs in JAX's persistent compilation cache (a temporary cache directory
  filled by one earlier run);
- the peers that are installed: the same data fitted to the MLE, standard
  errors included, the way a user of that package would, with the largest
  relative difference of their estimates and standard errors from hessjax's
  (on hessjax's parameterization; the notes under the table say what was
  transformed).

Models (issue 12), user-style per-observation log-likelihoods on simulated
data from fixed seeds: ``nb2`` (negative-binomial regression), ``weibull``
(right-censored Weibull AFT regression), ``ordered_logit`` (four categories),
``tobit`` (left-censored at 0), ``zip`` (zero-inflated Poisson) and ``garch``
(GARCH(1,1), variance recursion by ``jax.lax.scan``). Peers: statsmodels,
lifelines, arch and SciPy BFGS + numdifftools.

Usage::

    python benchmarks/cold.py --repeats 3 --write            # results/cold.md
    python benchmarks/cold.py --repeats 1 --models nb2,garch  # print only
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

RAW, FIT, LATER = "raw", "fit", "fit, later process"
#: Issue 12's targets: ratio of a hessjax row to the model's raw first call.
TARGETS = {FIT: 2.0, LATER: 0.5}
CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"


@dataclass(frozen=True)
class Peer:
    """Another package fitting the same model to the same data."""

    name: str  # the child process's argument
    label: str  # the table's row
    imports: tuple[str, ...]  # imported before the clock starts
    fit: Callable[[], tuple[Any, Any]]  # (estimates, standard errors), hessjax's parameterization
    compared: str  # what was compared, for the notes
    fallback: bool = False  # run only when none of the model's other peers is installed


@dataclass(frozen=True)
class Model:
    title: str
    loglik: Callable  # loglik(theta, *data) -> (N,), in jax.numpy
    init: Any
    data: tuple
    peers: tuple[Peer, ...] = ()


# -- transformations of a peer's natural-scale estimates (delta-method standard errors)


def _log(value, se):
    return np.log(value), se / value


def _logit(value, se):
    return np.log(value / (1 - value)), se / (value * (1 - value))


def _split(vector, sizes: dict[str, int]) -> dict:
    """Consecutive pieces of ``vector`` named by ``sizes`` (in order)."""
    bounds = np.cumsum([0, *sizes.values()])
    return {key: np.asarray(vector[lo:hi]) for key, lo, hi in zip(sizes, bounds[:-1], bounds[1:])}


def _scipy_bfgs(loglik_numpy: Callable, init, data) -> tuple[np.ndarray, np.ndarray]:
    """SciPy BFGS (finite-difference gradients), then numdifftools' Hessian for the SEs."""
    import numdifftools as nd
    from scipy.optimize import minimize

    def nll(theta):
        return -np.sum(loglik_numpy(theta, *data))

    theta = minimize(nll, init, method="BFGS").x
    return theta, np.sqrt(np.diag(np.linalg.inv(nd.Hessian(nll)(theta))))


def _scipy_peer(loglik_numpy: Callable, init, data, **options) -> Peer:
    return Peer("scipy", "SciPy BFGS + numdifftools", ("scipy.optimize", "scipy.special", "numdifftools"),
                functools.partial(_scipy_bfgs, loglik_numpy, init, data),
                "all parameters (same parameterization, NumPy copy of the log-likelihood)", **options)


def _scipy_special():
    import scipy.special

    return scipy.special


# -- NB2 regression


def _nb2_loglik(theta, X, y):
    b, log_alpha = theta[:-1], theta[-1]
    r, m = jnp.exp(-log_alpha), jnp.exp(X @ b)
    return (gammaln(y + r) - gammaln(r) - gammaln(y + 1) + r * jnp.log(r / (r + m))
            + y * jnp.log(m / (r + m)))


def _nb2_statsmodels(X, y):
    from statsmodels.discrete.discrete_model import NegativeBinomial

    result = NegativeBinomial(y, X).fit(disp=0)
    log_alpha, se_log_alpha = _log(result.params[-1], result.bse[-1])
    return np.append(result.params[:-1], log_alpha), np.append(result.bse[:-1], se_log_alpha)


def nb2() -> Model:
    rng = np.random.default_rng(0)
    n, p = 2000, 10
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 2))])
    mu = np.exp(X @ (rng.normal(size=p - 1) * 0.3))
    alpha = 0.5
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu)).astype(float)
    peer = Peer("statsmodels", "statsmodels NegativeBinomial", ("statsmodels.discrete.discrete_model",),
                functools.partial(_nb2_statsmodels, X, y), "coefficients and log(alpha) (delta-method SE)")
    return Model(f"NB2 regression, N = {n}, {p} parameters", _nb2_loglik, np.zeros(p), (X, y), (peer,))


# -- Weibull AFT regression with right censoring: log T = X b + W / k, shape k = exp(log_k)


def _weibull_loglik(xp):
    def loglik(theta, X, t, event):
        b, log_k = theta[:-1], theta[-1]
        z = xp.exp(log_k) * (xp.log(t) - X @ b)  # log cumulative hazard
        return event * (log_k - xp.log(t) + z) - xp.exp(z)  # log density if observed, else log survival

    return loglik


def _weibull_lifelines(X, t, event):
    import pandas as pd
    from lifelines import WeibullAFTFitter

    covariates = [f"x{j}" for j in range(1, X.shape[1])]
    frame = pd.DataFrame(X[:, 1:], columns=covariates).assign(t=t, event=event)
    fitter = WeibullAFTFitter().fit(frame, duration_col="t", event_col="event")
    order = [("lambda_", c) for c in ("Intercept", *covariates)] + [("rho_", "Intercept")]
    return fitter.params_[order].to_numpy(), fitter.standard_errors_[order].to_numpy()


def weibull() -> Model:
    rng = np.random.default_rng(1)
    n, b, k = 1500, np.array([1.0, 0.5, -0.7, 0.3]), 1.5
    X = np.column_stack([np.ones(n), rng.normal(size=(n, b.size - 1))])
    failure = np.exp(X @ b) * rng.weibull(k, size=n)
    censoring = rng.exponential(8.0, size=n)
    t, event = np.minimum(failure, censoring), (failure <= censoring).astype(float)
    data = (X, t, event)
    init = np.zeros(b.size + 1)
    peers = (
        Peer("lifelines", "lifelines WeibullAFTFitter", ("lifelines", "pandas"),
             functools.partial(_weibull_lifelines, *data),
             "all parameters (lifelines' lambda_ coefficients are b, its rho_ intercept is log_k)"),
        _scipy_peer(_weibull_loglik(np), init, data),
    )
    title = f"Weibull AFT, right-censored ({1 - event.mean():.0%}), N = {n}, {b.size + 1} parameters"
    return Model(title, _weibull_loglik(jnp), init, data, peers)


# -- Ordered logit: P(y <= j) = F(cut_j - x b), cuts = first cut + cumulated exp(log increments)


def _ordered_logit_loglik(theta, X, y):
    c = theta["cuts"]
    cuts = jnp.cumsum(jnp.concatenate([c[:1], jnp.exp(c[1:])]))
    bounds = jnp.concatenate([jnp.array([-jnp.inf]), cuts, jnp.array([jnp.inf])])
    eta = X @ theta["beta"]
    return jnp.log(jax.nn.sigmoid(bounds[y + 1] - eta) - jax.nn.sigmoid(bounds[y] - eta))


def _ordered_logit_statsmodels(X, y):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    result = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=0)
    sizes = {"beta": X.shape[1], "cuts": result.params.size - X.shape[1]}
    return _split(result.params, sizes), _split(result.bse, sizes)


def ordered_logit() -> Model:
    rng = np.random.default_rng(2)
    n, b, cuts = 1500, np.array([1.0, -0.6, 0.5]), np.array([-1.0, 0.3, 1.5])
    X = rng.normal(size=(n, b.size))
    y = np.sum((X @ b + rng.logistic(size=n))[:, None] > cuts, axis=1)
    init = {"beta": np.zeros(b.size), "cuts": np.array([-1.0, 0.0, 0.0])}
    peer = Peer("statsmodels", "statsmodels OrderedModel", ("statsmodels.miscmodels.ordinal_model",),
                functools.partial(_ordered_logit_statsmodels, X, y),
                "all parameters (statsmodels' thresholds are also first cut + log increments)")
    title = f"ordered logit, {cuts.size + 1} categories, N = {n}, {b.size + cuts.size} parameters (dict)"
    return Model(title, _ordered_logit_loglik, init, (X, y), (peer,))


# -- Tobit, left-censored at 0


def _tobit_loglik(xp, special):
    def loglik(theta, X, y):
        b, log_sigma = theta[:-1], theta[-1]
        eta, sigma = X @ b, xp.exp(log_sigma)
        z = (y - eta) / sigma
        observed = -0.5 * xp.log(2 * xp.pi) - 0.5 * z**2 - log_sigma
        return xp.where(y <= 0, special.log_ndtr(-eta / sigma), observed)

    return loglik


def tobit() -> Model:
    rng = np.random.default_rng(3)
    n, b, sigma = 1500, np.array([0.5, 1.0, -0.8]), 1.2
    X = np.column_stack([np.ones(n), rng.normal(size=(n, b.size - 1))])
    y = np.maximum(X @ b + sigma * rng.normal(size=n), 0.0)
    init = np.zeros(b.size + 1)
    peer = _scipy_peer(lambda theta, *d: _tobit_loglik(np, _scipy_special())(theta, *d), init, (X, y))
    title = f"Tobit, left-censored at 0 ({np.mean(y == 0):.0%}), N = {n}, {b.size + 1} parameters"
    return Model(title, _tobit_loglik(jnp, jax.scipy.special), init, (X, y), (peer,))


# -- Zero-inflated Poisson: logit inflation probability, log-linear Poisson mean


def _zip_loglik(theta, X, Z, y):
    pi, mu = jax.nn.sigmoid(Z @ theta["gamma"]), jnp.exp(X @ theta["beta"])
    zero = jnp.log(pi + (1 - pi) * jnp.exp(-mu))
    positive = jnp.log1p(-pi) + y * jnp.log(mu) - mu - gammaln(y + 1)
    return jnp.where(y == 0, zero, positive)


def _zip_statsmodels(X, Z, y):
    from statsmodels.discrete.count_model import ZeroInflatedPoisson

    result = ZeroInflatedPoisson(y, X, exog_infl=Z).fit(disp=0, maxiter=500)
    sizes = {"gamma": Z.shape[1], "beta": X.shape[1]}  # statsmodels puts the inflation first
    return _split(result.params, sizes), _split(result.bse, sizes)


def zip_() -> Model:
    rng = np.random.default_rng(4)
    n, b, g = 2000, np.array([0.7, 0.4, -0.3]), np.array([-0.8, 0.6])
    X = np.column_stack([np.ones(n), rng.normal(size=(n, b.size - 1))])
    Z = np.column_stack([np.ones(n), rng.normal(size=(n, g.size - 1))])
    inflated = rng.uniform(size=n) < 1 / (1 + np.exp(-Z @ g))
    y = np.where(inflated, 0, rng.poisson(np.exp(X @ b))).astype(float)
    init = {"beta": np.zeros(b.size), "gamma": np.zeros(g.size)}
    peer = Peer("statsmodels", "statsmodels ZeroInflatedPoisson", ("statsmodels.discrete.count_model",),
                functools.partial(_zip_statsmodels, X, Z, y),
                "all parameters (same parameterization); statsmodels' bse come from its analytic ZIP "
                "Hessian, which differs from a numdifftools Hessian of statsmodels' own loglike "
                "(those SEs match hessjax's to about 1e-6)")
    title = f"zero-inflated Poisson ({np.mean(y == 0):.0%} zeros), N = {n}, {b.size + g.size} parameters (dict)"
    return Model(title, _zip_loglik, init, (X, Z, y), (peer,))


# -- GARCH(1,1), normal innovations; theta = (log omega, logit alpha, logit beta)


def _backcast(y2, xp):
    """arch's start of the variance recursion: weighted mean of the first 75 squares."""
    w = 0.94 ** xp.arange(min(75, y2.shape[0]))
    return xp.sum(w * y2[: w.size]) / xp.sum(w)


def _garch_loglik(theta, y):
    omega, alpha, beta = jnp.exp(theta[0]), jax.nn.sigmoid(theta[1]), jax.nn.sigmoid(theta[2])
    y2 = y**2

    def step(carry, y2_t):
        sigma2_prev, y2_prev = carry
        sigma2 = omega + alpha * y2_prev + beta * sigma2_prev
        return (sigma2, y2_t), -0.5 * (jnp.log(2 * jnp.pi) + jnp.log(sigma2) + y2_t / sigma2)

    start = _backcast(y2, jnp)
    return jax.lax.scan(step, (start, start), y2)[1]


def _garch_loglik_numpy(theta, y):
    from scipy.signal import lfilter
    from scipy.special import expit

    omega, alpha, beta = np.exp(theta[0]), expit(theta[1]), expit(theta[2])
    y2 = y**2
    start = _backcast(y2, np)
    drive = omega + alpha * np.concatenate([[start], y2[:-1]])
    sigma2 = lfilter([1.0], [1.0, -beta], drive, zi=[beta * start])[0]  # + beta * sigma2[t-1]
    return -0.5 * (np.log(2 * np.pi) + np.log(sigma2) + y2 / sigma2)


def _garch_arch(y):
    from arch import arch_model

    result = arch_model(y, mean="Zero", vol="GARCH", p=1, q=1).fit(disp="off", cov_type="classic")
    params, se = result.params.to_numpy(), result.std_err.to_numpy()
    pieces = [_log(params[0], se[0]), _logit(params[1], se[1]), _logit(params[2], se[2])]
    return np.array([p[0] for p in pieces]), np.array([p[1] for p in pieces])


def garch() -> Model:
    rng = np.random.default_rng(5)
    n, burn, omega, alpha, beta = 1000, 500, 0.1, 0.1, 0.8
    y, sigma2 = np.empty(n + burn), omega / (1 - alpha - beta)
    for t in range(n + burn):
        y[t] = np.sqrt(sigma2) * rng.normal()
        sigma2 = omega + alpha * y[t] ** 2 + beta * sigma2
    y = y[burn:]
    init = np.array([np.log(0.05), np.log(0.05 / 0.95), np.log(0.9 / 0.1)])
    peers = (
        Peer("arch", "arch arch_model", ("arch",), functools.partial(_garch_arch, y),
             "log omega, logit alpha, logit beta (transformed, delta-method SE from cov_type='classic'); "
             "both start the recursion at arch's backcast"),
        _scipy_peer(_garch_loglik_numpy, init, (y,), fallback=True),
    )
    return Model(f"GARCH(1,1), T = {n}, 3 parameters (lax.scan)", _garch_loglik, init, (y,), peers)


MODELS: dict[str, Callable[[], Model]] = {
    "nb2": nb2, "weibull": weibull, "ordered_logit": ordered_logit, "tobit": tobit, "zip": zip_,
    "garch": garch,
}


# -- child processes: one measurement each, printed as one JSON line


def _jsonable(tree):
    if isinstance(tree, dict):
        return {key: np.asarray(value).tolist() for key, value in tree.items()}
    return np.asarray(tree).tolist()


def _time_raw(model: Model) -> dict:
    jax.config.update("jax_enable_x64", True)
    hessian = jax.jit(jax.hessian(lambda theta, *data: -jnp.sum(model.loglik(theta, *data))))
    start = time.perf_counter()
    jax.block_until_ready(hessian(model.init, *model.data))
    return {"seconds": time.perf_counter() - start}


def _time_fit(model: Model) -> dict:
    import hessjax as hj

    start = time.perf_counter()
    result = hj.fit(model.loglik, model.init, *model.data)
    seconds = time.perf_counter() - start
    if not bool(result.diagnostics.is_valid):
        raise RuntimeError(f"hj.fit did not end with a valid result:\n{result.summary()}")
    return {"seconds": seconds, "params": _jsonable(result.params), "se": _jsonable(result.se)}


def _time_peer(peer: Peer) -> dict:
    for module in peer.imports:
        importlib.import_module(module)
    start = time.perf_counter()
    params, se = peer.fit()
    return {"seconds": time.perf_counter() - start, "params": _jsonable(params), "se": _jsonable(se)}


def _child(model_name: str, what: str) -> dict:
    model = MODELS[model_name]()
    if what == RAW:
        return _time_raw(model)
    if what == FIT:
        return _time_fit(model)
    return _time_peer(next(peer for peer in model.peers if peer.name == what))


# -- the parent: fresh processes, medians, agreement, table


def _run(model_name: str, what: str, cache: str | None = None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != CACHE_ENV}
    if cache:
        env.update({CACHE_ENV: cache, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.1"})
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", model_name, what],
                         capture_output=True, text=True, env=env, timeout=600)
    if out.returncode:
        raise RuntimeError(f"{model_name} / {what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_later_process(model_name: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        _run(model_name, FIT, cache)  # fills the cache
        return _run(model_name, FIT, cache)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module.split(".")[0]) is not None


def _peers_to_run(model: Model) -> list[Peer]:
    installed = [peer for peer in model.peers if all(map(_installed, peer.imports))]
    return [peer for peer in installed if not peer.fallback] or installed


def _measure(model_name: str, peers: list[Peer], repeats: int) -> dict[str, list[dict]]:
    """Label -> one child result per repeat, hessjax rows first."""
    runs = {label: [] for label in (RAW, FIT, LATER, *(peer.label for peer in peers))}
    for _ in range(repeats):
        runs[RAW].append(_run(model_name, RAW))
        runs[FIT].append(_run(model_name, FIT))
        runs[LATER].append(_run_later_process(model_name))
        for peer in peers:
            runs[peer.label].append(_run(model_name, peer.name))
    return runs


def _flat(tree) -> np.ndarray:
    """Leaves in JAX's order (dict keys sorted)."""
    if isinstance(tree, dict):
        return np.concatenate([np.ravel(tree[key]) for key in sorted(tree)])
    return np.ravel(tree)


def _max_rel_diff(peer, reference) -> float:
    peer, reference = _flat(peer), _flat(reference)
    return float(np.max(np.abs(peer - reference) / np.abs(reference)))


def _rows(model_name: str, runs: dict[str, list[dict]]) -> list[str]:
    raw = statistics.median(run["seconds"] for run in runs[RAW])
    reference = runs[FIT][-1]
    lines = []
    for label, results in runs.items():
        median = statistics.median(run["seconds"] for run in results)
        ratio = median / raw
        target = ""
        if label in TARGETS:
            target = f"<= {TARGETS[label]}x (issue 12) " + ("MET" if ratio <= TARGETS[label] else "MISSED")
        agreement = ["", ""]
        if label not in (RAW, FIT, LATER):
            agreement = [f"{_max_rel_diff(results[-1][key], reference[key]):.1e}" for key in ("params", "se")]
        lines.append(f"| {model_name} | {label} | {median:.2f} | {ratio:.2f}x | {target} | "
                     + " | ".join(agreement) + " |")
    return lines


def _notes(model_name: str, model: Model, peers: list[Peer]) -> list[str]:
    notes = [f"- `{model_name}`: {model.title}."]
    notes += [f"  {peer.label}: compared {peer.compared}." for peer in peers]
    notes += [f"  {peer.label}: skipped ({', '.join(m for m in peer.imports if not _installed(m))} "
              "not installed)." for peer in model.peers if not peer.fallback and peer not in peers]
    return notes


def _report(results: list[tuple[str, Model, list[Peer], dict]], repeats: int, names: str) -> str:
    lines = [
        "# Cold start: first fit in a fresh process, against a raw JAX Hessian and the peers",
        "",
        f"`python benchmarks/cold.py --repeats {repeats} --models {names} --write` ({os.cpu_count()} CPUs); "
        "import excluded; medians. Ratios are to the model's raw first call of "
        "`jax.jit(jax.hessian(nll))`; agreement is the largest relative difference from hessjax's "
        "estimates and standard errors.",
        "",
        "| model | what | median s | ratio to raw first call | target | max rel diff, estimates "
        "| max rel diff, SE |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for model_name, _, _, runs in results:
        lines += _rows(model_name, runs)
    lines += ["", "Models and comparisons:", ""]
    for model_name, model, peers, _ in results:
        lines += _notes(model_name, model, peers)
    return "\n".join(lines) + "\n"


def _model_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", type=_model_names, default=list(MODELS),
                        help=f"comma-separated, from {', '.join(MODELS)} (default: all)")
    parser.add_argument("--write", action="store_true", help="write results/cold.md")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "WHAT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    results = []
    for model_name in args.models:
        model = MODELS[model_name]()
        peers = _peers_to_run(model)
        results.append((model_name, model, peers, _measure(model_name, peers, args.repeats)))
    text = _report(results, args.repeats, ",".join(args.models))
    print(text)
    print(json.dumps({name: {label: [run["seconds"] for run in rs] for label, rs in runs.items()}
                      for name, _, _, runs in results}))
    if args.write:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "cold.md")
        with open(path, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
