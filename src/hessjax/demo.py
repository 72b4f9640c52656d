"""``hessjax demo``: which standard errors can you trust? The motivating case, end to end.

A negative-binomial regression on data generated here (no downloads): log
mean = b0 + b_age * age + b_conc * conc, with age in years (~45) and a
concentration in mol/L (~0.001), so the coefficients differ by four orders of
magnitude, as real covariates' do. It is fitted the way users do it,
``scipy.optimize.minimize(method="BFGS")`` without a gradient, and then the
standard errors people read off are put side by side at SciPy's estimate:

- ``res.hess_inv``: BFGS's record of its path, not the inverse Hessian;
- statsmodels ``approx_hess`` (when installed): a careful FD Hessian;
- a naive forward-difference Hessian with a fixed step 1e-5, written by hand in NumPy;
- hessjax's central FD with a per-parameter step rule;
- the exact Hessian (automatic differentiation).

Then the optimum is certified (gradient, Newton decrement, eigenvalues) at
SciPy's point and at hessjax's own fit, and a plain-language verdict is
derived from the numbers.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .compare import Candidate, HessianComparison, compare_hessians
from .fit import fit
from .results import FitResult

__all__ = ["NAMES", "nb2_loglik", "simulate_demo_data", "DemoResult", "run_demo", "render_demo"]

NAMES = ("intercept", "age", "conc", "log_alpha")
TRUE_PARAMS = np.array([0.3, 0.02, 300.0, np.log(0.7)])
NAIVE_STEP = 1e-5


def nb2_loglik(p, X, y):
    """Per-observation NB2 log-likelihood; ``p = [beta..., log_alpha]``."""
    beta, log_alpha = p[:-1], p[-1]
    mu = jnp.exp(X @ beta)
    r = jnp.exp(-log_alpha)
    return (
        gammaln(y + r) - gammaln(r) - gammaln(y + 1.0)
        + r * jnp.log(r / (r + mu)) + y * jnp.log(mu / (r + mu))
    )


def _negloglik(p, X, y):
    return -jnp.sum(nb2_loglik(p, X, y))


def _negloglik_numpy(p, X, y):
    """The same objective in plain NumPy/SciPy, as a SciPy user writes it."""
    from scipy.special import gammaln as g

    beta, log_alpha = p[:-1], p[-1]
    mu = np.exp(X @ beta)
    r = np.exp(-log_alpha)
    return -np.sum(
        g(y + r) - g(r) - g(y + 1.0) + r * np.log(r / (r + mu)) + y * np.log(mu / (r + mu))
    )


def _hand_written_forward_hessian(f, x: np.ndarray, h: float) -> np.ndarray:
    """The forward-difference Hessian as users write it, in NumPy, one fixed step
    for every parameter: (f(x+h e_i+h e_j) - f(x+h e_i) - f(x+h e_j) + f(x)) / h^2.

    The demo's point is what this gives; ``hj.fd_hessian(..., scheme="forward")``
    is the same formula with a per-parameter step and an error estimate.
    """
    n = x.size
    shifted = [x + h * np.eye(n)[i] for i in range(n)]
    f0, fi = f(x), np.array([f(z) for z in shifted])
    hess = np.empty((n, n))
    with np.errstate(all="ignore"):
        for i in range(n):
            for j in range(i, n):
                fij = f(shifted[i] + h * np.eye(n)[j])
                hess[i, j] = hess[j, i] = (fij - fi[i] - fi[j] + f0) / (h * h)
    return hess


def simulate_demo_data(seed: int = 0, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: intercept, age in years, concentration in mol/L; NB2 counts."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20.0, 70.0, n)
    conc = rng.lognormal(np.log(1e-3), 0.5, n)
    X = np.column_stack([np.ones(n), age, conc])
    mu = np.exp(X @ TRUE_PARAMS[:-1])
    r = np.exp(-TRUE_PARAMS[-1])
    y = rng.negative_binomial(r, r / (r + mu)).astype(np.float64)
    return X, y


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """Everything the demo computed (see :func:`run_demo`)."""

    scipy_result: object
    comparison: HessianComparison
    at_scipy: FitResult  # certificate at SciPy's estimate (no optimizer steps)
    fit: FitResult  # hessjax's own fit
    se: dict  # method label -> SEs at SciPy's estimate (NaN: negative variance)
    seconds: float


def _se_from_hessian(h: np.ndarray) -> np.ndarray:
    var = np.diag(np.linalg.inv(h))
    return np.where(var > 0, np.sqrt(np.abs(var)), np.nan)


def run_demo(seed: int = 0, n: int = 1000) -> DemoResult:
    """Fit the demo model with SciPy BFGS and measure every SE people use against the exact one.

    Examples
    --------
    >>> from hessjax.demo import run_demo
    >>> demo = run_demo(n=300)
    >>> bool(demo.fit.diagnostics.is_valid)
    True
    >>> list(demo.se)[:2]
    ['exact (hessjax)', 'BFGS hess_inv']
    """
    import scipy.optimize

    start = time.perf_counter()
    X, y = simulate_demo_data(seed, n)
    with np.errstate(all="ignore"):
        res = scipy.optimize.minimize(_negloglik_numpy, np.zeros(4), args=(X, y), method="BFGS")
    x = np.asarray(res.x, dtype=np.float64)
    naive = _hand_written_forward_hessian(lambda p: _negloglik_numpy(p, X, y), x, NAIVE_STEP)
    candidates = {
        "BFGS hess_inv": Candidate(res.hess_inv, "inverse", "quasi-newton"),
        f"forward FD, h={NAIVE_STEP:g}": Candidate(naive, "hessian", "fd", np.full(4, NAIVE_STEP)),
    }
    try:
        from statsmodels.tools.numdiff import approx_hess

        candidates["statsmodels approx_hess"] = Candidate(
            approx_hess(x, lambda p: _negloglik_numpy(p, X, y)), "hessian", "fd"
        )
    except ImportError:  # the `compare` extra is optional
        pass
    cmp = compare_hessians(_negloglik, x, X, y, candidates=candidates, include=("central",), names=NAMES)
    exact_se = np.asarray(cmp.exact_se)
    se = {"exact (hessjax)": exact_se}
    ratios = {c.name: c.se_ratio for c in cmp.candidates}
    for name in ("BFGS hess_inv", "statsmodels approx_hess", f"forward FD, h={NAIVE_STEP:g}", "fd central"):
        if name in ratios:
            se["central FD (step rule)" if name == "fd central" else name] = exact_se * ratios[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the report states every flag itself
        at_scipy = fit(nb2_loglik, x, X, y, max_steps=0)
        own = fit(nb2_loglik, np.zeros(4), X, y)
    return DemoResult(res, cmp, at_scipy, own, se, time.perf_counter() - start)


def _verdict_lines(demo: DemoResult) -> list[str]:
    exact = demo.se["exact (hessjax)"]
    lines = []
    for label, values in demo.se.items():
        if label.startswith("exact"):
            continue
        ratio = values / exact
        if np.any(~np.isfinite(ratio)):
            bad = [NAMES[i] for i in np.flatnonzero(~np.isfinite(ratio))]
            lines.append(f"- {label}: NEGATIVE variance for {', '.join(bad)}: unusable.")
            continue
        worst = int(np.argmax(np.abs(np.log(ratio))))
        off = ratio[worst]
        if abs(off - 1) <= 0.01:
            lines.append(f"- {label}: agrees with the exact SEs to {100 * np.max(np.abs(ratio - 1)):.2g}%.")
        else:
            factor = f"{off:.3g}x" if off >= 0.1 else f"1/{1 / off:.3g}"
            lines.append(f"- {label}: wrong by up to a factor {factor} (SE of {NAMES[worst]}).")
    return lines


def render_demo(demo: DemoResult) -> str:
    """The demo's report as text."""
    res, cmp = demo.scipy_result, demo.comparison
    d_scipy, d_own = demo.at_scipy.diagnostics, demo.fit.diagnostics
    labels = list(demo.se)
    width = max(len(n) for n in NAMES)
    head = f"{'parameter':<{width}}  " + "  ".join(f"{lab:>24}" for lab in labels)
    rows = []
    for i, name in enumerate(NAMES):
        exact = demo.se[labels[0]][i]
        cells = [f"{exact:24.4g}"]
        for lab in labels[1:]:
            v = demo.se[lab][i]
            cells.append(f"{'NEGATIVE var':>24}" if not np.isfinite(v) else f"{v:13.4g} ({v / exact:7.3g}x)")
        rows.append(f"{name:<{width}}  " + "  ".join(cells))
    verdicts = {c.name: c.verdict for c in cmp.candidates}
    est_gap = np.max(np.abs(demo.fit.estimate - np.asarray(res.x)) / demo.fit.se_vector)
    lines = [
        "hessjax demo: which standard errors can you trust?",
        f"Negative-binomial regression, n = {demo.fit.nobs}: log mean = b0 + b_age*age + b_conc*conc "
        "(age ~ 45 years, conc ~ 0.001 mol/L), dispersion log_alpha.",
        "",
        "1. Fitted as users do: scipy.optimize.minimize(negloglik, zeros, method='BFGS')",
        f"   {res.message} ({res.nit} iterations, -loglik = {res.fun:.6f})",
        "",
        "2. Standard errors at SciPy's estimate (ratio to the exact SE):",
        head,
        "-" * len(head),
        *rows,
        *([] if "statsmodels approx_hess" in demo.se else [
            "   (no statsmodels approx_hess column: pip install 'hessjax[compare]' adds it)"]),
        "",
        "3. Is SciPy's estimate a maximum? Certificate at res.x:",
        f"   max|gradient| = {float(d_scipy.grad_norm):.3g}, Newton decrement = "
        f"{float(d_scipy.newton_decrement):.3g}, information positive definite: "
        f"{bool(d_scipy.hessian_is_pd)}, condition number (scaled) = {float(d_scipy.condition_number):.3g}",
        f"   hessjax's own fit (trust-region Newton, exact Hessian): valid = {bool(d_own.is_valid)}, "
        f"max|gradient| = {float(d_own.grad_norm):.2g}; SciPy's estimate is "
        f"{est_gap:.2g} standard errors from it, so the comparison at res.x is fair: the "
        "disagreements below are in the matrices, not in the point.",
        "",
        "4. Verdict:",
        *_verdict_lines(demo),
        "- Why BFGS hess_inv: " + verdicts.get("BFGS hess_inv", ""),
        f"- Why the naive FD: {verdicts.get(f'forward FD, h={NAIVE_STEP:g}', '')}",
        "- Trust the exact Hessian at a certified maximum: it is the observed information itself, "
        "with no step size and no optimizer history in it. Validate the SEs themselves by "
        "simulation (hj.coverage_study) or bootstrap (hj.bootstrap).",
        "",
        f"({demo.seconds:.1f} s, compilation included)",
    ]
    return "\n".join(lines)
