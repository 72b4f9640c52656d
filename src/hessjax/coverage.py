"""``coverage_study``: do the standard errors deliver their nominal coverage?

Simulate many datasets at known parameters, fit them all at once, and compare
the Wald intervals of each kind of standard error against the truth:

- ``"hessian"``: exact observed information at the Newton estimate (hessjax);
- ``"robust"``: the sandwich H^-1 (sum s_i s_i') H^-1 at the same estimate;
- ``"bfgs"``: BFGS's own ``inv_hessian`` at BFGS's own estimate (what
  ``scipy.optimize.minimize(method="BFGS").hess_inv`` users read);
- ``"fd"``: the inverse of a central finite-difference Hessian (per-parameter
  step eps^(1/4) max(|x|, 1)) at the Newton estimate.

Per parameter and method: empirical coverage with its Monte Carlo standard
error sqrt(c (1 - c) / R), bias, the ratio of the mean SE to the empirical SD
of the estimates (1 when the SEs are calibrated), and the convergence rate.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import as_float64_params, float64_entry_point
from .approximations import fd_step, second_differences
from .batch import as_key, batch_plan, map_chunks, run_batch, simulate_batch
from .covariance import normal_quantile, sandwich_covariance, standard_errors
from .report import render_coverage_text, render_text_html
from .results import FitResult

__all__ = ["coverage_study", "CoverageStudy", "SE_METHODS"]

SE_METHODS = ("hessian", "robust", "bfgs", "fd")


@dataclasses.dataclass(frozen=True)
class CoverageStudy:
    """Results of :func:`coverage_study`; every per-method field is a dict
    ``{method: array over parameters}``.

    Attributes
    ----------
    names : tuple of str
    true_values : np.ndarray
    level : float
    n_rep : int
    methods : tuple of str
        The SE methods studied (``"robust"`` is dropped, with a note, when
        ``loglik`` returns a scalar).
    coverage, coverage_mc_se : dict
        Fraction of replications whose Wald interval covers the truth (among
        those with a usable SE) and its Monte Carlo standard error.
    bias, sd_estimate, mean_se, se_ratio : dict
        Mean estimate minus truth, SD of the estimates, mean SE, and
        mean SE / SD (calibrated SEs give 1).
    usable_rate : dict
        Fraction of replications with a valid fit (``diagnostics.is_valid``:
        a certified maximum whose Wald intervals can be used) and a finite SE;
        coverage, bias and SE/SD are over these.
    convergence_rate : dict
        ``{method: float}``: fraction of fits that converged.
    estimates, standard_errors : dict
        ``{method: (n_rep, n)}`` raw per-replication values.
    notes : tuple of str
    """

    names: tuple
    true_values: np.ndarray
    level: float
    n_rep: int
    methods: tuple
    coverage: dict
    coverage_mc_se: dict
    bias: dict
    sd_estimate: dict
    mean_se: dict
    se_ratio: dict
    usable_rate: dict
    convergence_rate: dict
    estimates: dict
    standard_errors: dict
    notes: tuple = ()

    def __str__(self) -> str:
        return render_coverage_text(self)

    def _repr_html_(self) -> str:
        return render_text_html(str(self))

    def to_dict(self) -> dict:
        """Plain JSON-ready summary (no per-replication arrays)."""
        out = {"names": list(self.names), "true_values": self.true_values.tolist(),
               "level": self.level, "n_rep": self.n_rep, "methods": list(self.methods),
               "notes": list(self.notes)}
        for field in ("coverage", "coverage_mc_se", "bias", "sd_estimate", "mean_se", "se_ratio",
                      "usable_rate"):
            out[field] = {m: np.asarray(v).tolist() for m, v in getattr(self, field).items()}
        out["convergence_rate"] = dict(self.convergence_rate)
        return out


def _flat(tree: Any, n_rep: int) -> np.ndarray:
    return np.concatenate(
        [np.reshape(leaf, (n_rep, -1)) for leaf in jax.tree_util.tree_leaves(tree)], axis=1
    )


def _side_program(obj, kind: str) -> Callable:
    """Vmapped SEs from the fitted Newton results: sandwich or central FD."""

    def robust(x, cov, args):
        return standard_errors(sandwich_covariance(cov, obj.scores(x, args)))

    def fd(x, cov, args):
        hess, _ = second_differences(obj.value, x, fd_step(x, "central", jnp), args, "central")
        inv = jnp.linalg.inv(0.5 * (hess + hess.T))
        return standard_errors(inv)

    fn = robust if kind == "robust" else fd
    return obj.program(("coverage", kind), lambda: jax.jit(jax.vmap(fn)))


def _summarize(est, se, ok_fit, truth, z):
    usable = ok_fit[:, None] & np.isfinite(se) & np.isfinite(est)
    covered = (np.abs(est - truth) <= z * se) & usable
    n_usable = usable.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        coverage = covered.sum(axis=0) / n_usable
        mc_se = np.sqrt(coverage * (1 - coverage) / n_usable)
        conv = np.where(ok_fit[:, None], est, np.nan)
        bias = np.nanmean(conv, axis=0) - truth
        sd = np.nanstd(conv, axis=0, ddof=1)
        mean_se = np.nanmean(np.where(usable, se, np.nan), axis=0)
    return dict(
        coverage=coverage, coverage_mc_se=mc_se, bias=bias, sd_estimate=sd, mean_se=mean_se,
        se_ratio=mean_se / sd, usable_rate=usable.mean(axis=0),
    )


@float64_entry_point
def coverage_study(
    simulate: Callable,
    loglik: Callable,
    true_params: Any,
    n_rep: int = 1000,
    key: Any = None,
    level: float = 0.95,
    methods: tuple = SE_METHODS,
    init: Any = None,
    chunk_size: int | None = None,
    progress: bool = False,
    bounds: dict | None = None,
    fixed: Any = None,
    **options: Any,
) -> CoverageStudy:
    """Simulate, fit all datasets at once, and measure the coverage of each kind of SE.

    Parameters
    ----------
    simulate : callable
        ``simulate(key, params) -> data tuple`` (one dataset: the arguments of
        ``loglik`` after ``params``), written in JAX so it can be vmapped.
    loglik : callable
        ``loglik(params, *data)``; return per-observation values for the
        ``"robust"`` method.
    true_params : pytree
        The parameters the data are simulated at.
    n_rep : int
        Replications (the Monte Carlo SE of a 0.95 coverage is 0.0069 at 1000).
    key : jax.random key or int
        Randomness (required).
    level : float
        Nominal coverage of the Wald intervals.
    methods : sequence of {"hessian", "robust", "bfgs", "fd"}
        SE methods to study (see the module docstring).
    init : pytree, optional
        Start of every fit (default ``true_params``). BFGS's ``inv_hessian``
        depends on its path, so the start matters for ``"bfgs"``.
    chunk_size, progress, **options
        As for :func:`hessjax.fit_batch` (``options`` go to both optimizers).
    bounds, fixed
        As for :func:`hessjax.fit`; then only ``methods=("hessian",)`` is
        measured (natural-scale SEs by the exact delta method). A replicate
        whose estimate is on a bound is not valid and does not count.

    Returns
    -------
    CoverageStudy
        ``str()`` is a table per parameter and method.

    Raises
    ------
    ValueError
        If ``n_rep`` is not an int >= 2; ``level`` is not in (0, 1);
        ``methods`` is empty or names an unknown method (or one other than
        ``"hessian"`` with ``bounds``/``fixed``); ``true_params`` has
        no elements; ``key`` is None; ``simulate(key, params)`` fails while
        tracing; or for any reason :func:`hessjax.fit_batch` gives (an
        option value, ``chunk_size``, ``init``, ``loglik``'s output or
        tracing).
    TypeError
        If a leaf of ``true_params`` is not a real floating array (integers
        included); ``key`` is neither a JAX random key nor an int seed;
        ``simulate`` or ``loglik`` is not callable; or an option is not
        valid for one of the optimizers run (Newton, and BFGS when
        ``"bfgs"`` is in ``methods``).

    Warns
    -----
    PrecisionWarning
        When ``simulate`` returns data with less than float64 precision.
    StaleDataWarning
        When ``loglik`` reads data from its closure or globals and they
        changed since it was compiled.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"]
    >>> def simulate(key, p):
    ...     return (p["mu"] + jnp.exp(p["log_sigma"]) * jax.random.normal(key, (100,)),)
    >>> study = hj.coverage_study(simulate, loglik, {"mu": 1.0, "log_sigma": 0.0},
    ...                           n_rep=400, key=0, methods=("hessian",))
    >>> c, se = study.coverage["hessian"][1], study.coverage_mc_se["hessian"][1]   # mu
    >>> bool(abs(c - 0.95) < 4 * se)
    True
    """
    if not isinstance(n_rep, (int, np.integer)) or isinstance(n_rep, bool) or n_rep < 2:
        raise ValueError(f"`n_rep` must be an int >= 2, got {n_rep!r}.")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    unknown = [m for m in methods if m not in SE_METHODS]
    if unknown or not methods:
        raise ValueError(
            f"unknown methods {unknown or methods!r}; choose from {', '.join(map(repr, SE_METHODS))}."
        )
    if (bounds or fixed) and set(methods) - {"hessian"}:
        raise ValueError(
            f"with bounds or fixed parameters coverage_study measures methods=('hessian',) only "
            f"(natural-scale SEs by the delta method); drop {sorted(set(methods) - {'hessian'})}."
        )
    true_params, _ = as_float64_params(true_params, argname="true_params")
    init = true_params if init is None else init
    n_rep = int(n_rep)
    keys = jax.random.split(as_key(key), n_rep)
    data = simulate_batch(simulate, keys, true_params)
    truth = _flat(jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[None], true_params), 1)[0]
    z = float(normal_quantile(float(level)))

    common = dict(chunk_size=chunk_size, progress=progress, options=options)
    fits: FitResult = run_batch(loglik, init, data, bounds=bounds, fixed=fixed, **common)
    notes = []
    if "robust" in methods and fits.nobs is None:
        methods = tuple(m for m in methods if m != "robust")
        notes.append("robust: skipped, loglik returns a scalar (per-observation values are needed)")
    estimates, ses, converged, valid = {}, {}, {}, {}
    newton_est, newton_ok = _flat(fits.params, n_rep), np.asarray(fits.converged)
    newton_valid = np.asarray(fits.diagnostics.is_valid)
    for method in methods:
        if method == "hessian":
            estimates[method], ses[method] = newton_est, _flat(fits.se, n_rep)
            converged[method], valid[method] = newton_ok, newton_valid
        elif method == "bfgs":
            # SciPy's identity start, so the SEs are the ones SciPy users read.
            scipy_like = dict(common, options={"init_hessian": "identity", **(options or {})})
            bfgs = run_batch(loglik, init, data, method="bfgs", **scipy_like)
            estimates[method] = _flat(bfgs.optimizer.x, n_rep)
            inv = np.asarray(bfgs.optimizer.inv_hessian)
            diag = np.diagonal(inv, axis1=1, axis2=2)
            ses[method] = np.where(diag >= 0, np.sqrt(np.abs(diag)), np.nan)
            converged[method] = np.asarray(bfgs.converged)
            valid[method] = np.asarray(bfgs.diagnostics.is_valid)
        else:
            program = _side_program(fits.objective, method)
            args = (newton_est, np.asarray(fits.cov), *data)
            mesh, size = batch_plan(
                n_rep, newton_est.shape[1], sum(int(np.size(leaf[0])) for leaf in jax.tree_util.tree_leaves(data)),
                chunk_size,
            )
            ses[method] = map_chunks(
                lambda chunk: program(chunk[0], chunk[1], tuple(chunk[2:])),
                args, (True,) * len(args), n_rep, size, mesh, progress,
            )
            estimates[method], converged[method], valid[method] = newton_est, newton_ok, newton_valid
    # Only valid fits count: a replicate whose estimate runs off to infinity or sits
    # at a bound (separation, a variance at zero) has no usable SE of any kind.
    summaries = {m: _summarize(estimates[m], ses[m], valid[m], truth, z) for m in methods}
    fields = {k: {m: summaries[m][k] for m in methods} for k in next(iter(summaries.values()))}
    return CoverageStudy(
        names=tuple(fits.names),
        true_values=truth,
        level=float(level),
        n_rep=n_rep,
        methods=methods,
        convergence_rate={m: float(np.mean(converged[m])) for m in methods},
        estimates=estimates,
        standard_errors=ses,
        notes=tuple(notes),
        **fields,
    )
