"""``fit``: maximum likelihood with exact-Hessian inference and a certificate.

The whole pipeline (optimizer, exact Hessian at the optimum, Cholesky-gated
covariance, certificate) is one pure function compiled once per log-likelihood
and data shape, so it also runs under ``vmap`` for many datasets at once. The
eager shell validates inputs before compiling and turns flags into warnings.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import float64_entry_point, is_traced
from ._processes import check_agree, describe_tree, replicated_leaves, spans_processes
from ._tree import check_names, spec_names
from .covariance import (
    cholesky_covariance,
    correlation,
    pinv_covariance,
    scaled_spectrum,
    standard_errors,
)
from .diagnostics import (
    certify,
    likelihood_probes,
    needs_refit,
    refit_probes,
    steep_both_sides,
    warn_about,
)
from .hessian import DEFAULT_HESSIAN_MAX_BYTES, HessianMemoryError, hessian_memory_estimate
from .bounded import CONSTRAINT_ARGS, constrain, natural_result
from .objective import Objective, bind
from .optimize.base import Status
from .optimize.minimize import pure_solve, solver_settings
from .results import FitResult

__all__ = ["fit", "COVARIANCE_METHODS", "prepare_fit", "attach"]

COVARIANCE_METHODS = ("cholesky", "pinv")


def _analysis(obj: Objective, covariance_method: str, names: tuple, refit: bool = False) -> Callable:
    """The pure post-optimization pipeline: Hessian, covariance, certificate.

    ``refit``: re-fit the other parameters at the Wald probes (4n Hessians a
    step; only run by :func:`recertify_steep` when a straight probe was steep).
    """

    def analyze(x, args, converged, derivatives=None):
        # ``derivatives``: (f, g, H) at x from the optimizer's final state (Newton
        # carries them), so the fused program holds one Hessian copy fewer.
        f, g, hessian = obj.value_grad_hessian(x, args) if derivatives is None else derivatives
        spectrum = scaled_spectrum(hessian)
        # The LAPACK calls (eigh, Cholesky, eigvalsh) are made to run one after the
        # other: batched under vmap on CPU, jaxlib splits each over XLA's thread pool
        # and blocks a pool thread until its pieces finish, so as many independent
        # calls as pool threads (2 on a 2-core machine) deadlock.
        spectrum, hessian = jax.lax.optimization_barrier((spectrum, hessian))
        cov, chol_ok = cholesky_covariance(hessian, spectrum)
        cov, hessian = jax.lax.optimization_barrier((cov, hessian))
        if covariance_method == "pinv":
            cov = pinv_covariance(spectrum)
        se = standard_errors(cov)
        # The log-likelihood at the ends of each Wald interval (is the quadratic
        # model behind the SEs right at their scale?), along the weakest
        # direction, and a few ulps away (its rounding noise).
        probes = likelihood_probes(lambda z: obj.value(z, args), x, f, g, cov, se, spectrum)
        if refit:
            probes = refit_probes(lambda z: obj.value(z, args), x, cov, se, probes)
        cert = certify(converged, g, hessian, cov, chol_ok, spectrum, probes, names, x=x)
        return f, g, hessian, cov, se, cert

    return analyze


def _build_fit(obj: Objective, static: tuple, covariance_method: str, names: tuple, nobs) -> Callable:
    # Parameter-shaped outputs (params, grad, se, the optimizer's x and grad) stay
    # flat vectors: :func:`attach` unravels them on the host. Unraveled inside the
    # program, a dict of 200 scalars made 800 separate outputs (2x the compile time).
    solve = pure_solve(obj, *static, flat=True, derivatives=True)
    analyze = _analysis(obj, covariance_method, names)

    def run(x0, args, options):
        opt, derivatives = solve(x0, args, options)
        x = opt.x
        f, g, hessian, cov, se, cert = analyze(x, args, opt.success, derivatives)
        return FitResult(
            params=x,
            loglik=-f,
            grad=-g,
            hessian=hessian,
            cov=cov,
            se=se,
            corr=correlation(cov),
            converged=cert.converged,
            diagnostics=cert,
            optimizer=opt,
            data=args,
            names=names,
            nobs=nobs,
            covariance_method=covariance_method,
        )

    return jax.jit(run)


def prepare_fit(loglik, init, data, method, covariance, options, names=None):
    """Eager shell of :func:`fit`: validate, bind, and fetch the compiled pipeline.

    Returns ``(run, x0, args, option_data, objective)``; ``run(x0, args, option_data)``
    is pure and jitted (``fit_batch`` vmaps it).
    """
    if covariance not in COVARIANCE_METHODS:
        raise ValueError(
            f"unknown covariance={covariance!r}; use 'cholesky' (default) or 'pinv' "
            "(a flagged pseudo-inverse, only for diagnosis)."
        )
    static, option_data = solver_settings(method, options)
    obj, x, args, _ = bind(
        loglik, init, data, fname="loglik", pname="init", negate=True, per_observation=True
    )
    if spans_processes(args):  # one program across processes: all must pass the same
        check_agree(
            {"parameter structure (init)": describe_tree(init), "starting values (init)": x,
             "data shapes": describe_tree(args),
             "replicated data (bounds, fixed values, unsharded arguments)": replicated_leaves(args),
             "method and options": repr((static, covariance, jax.tree_util.tree_leaves(option_data), names))},
            "fit on data sharded over several processes",
        )
    n = obj.spec.size
    # Newton, the covariance and the certificate hold about six dense n x n
    # matrices (Hessian, eigenvectors, covariance, correlation, ...).
    if hessian_memory_estimate(n) * 6 > DEFAULT_HESSIAN_MAX_BYTES:
        raise HessianMemoryError(
            f"fit() works with dense n x n matrices, and {n} parameters need about "
            f"{hessian_memory_estimate(n) * 6 / 2**30:,.1f} GiB. Use hessjax.fit_large(loglik, "
            "init, *data, which=[...]) instead: Newton-CG on Hessian-vector products, CG "
            "standard errors for the parameters you select, Lanczos for the certificate."
        )
    shape = obj.output_shape(args)
    nobs = int(shape[0]) if len(shape) == 1 else None
    names = check_names(names, spec_names(obj.spec))
    key = ("fit", *static, covariance, nobs, names)
    run = obj.program(key, lambda: _build_fit(obj, static, covariance, names, nobs))
    return run, x, args, option_data, obj


def attach(result, obj: Objective, function: Callable):
    """``result`` unraveled to the parameter pytree, with its objective and the
    user's function attached.

    Compiled programs return arrays only (and static names), parameter-shaped
    ones flat; the eager shell unravels them (in NumPy, keeping a batch axis;
    with JAX operations when traced) and attaches the Python objects. A
    program that returned the objective as a static pytree field would put it
    in JAX's global caches (the output tree of every compiled program is kept),
    so the objective, its compiled programs and the user's function would never
    be released: a process that fitted fresh functions in a loop ran out of
    memory maps and crashed.
    """
    unravel = obj.spec.unravel_host
    opt = result.optimizer
    opt = dataclasses.replace(opt, x=unravel(opt.x), grad=unravel(opt.grad))
    return dataclasses.replace(
        result,
        params=unravel(result.params),
        grad=unravel(result.grad),
        se=unravel(result.se),
        optimizer=opt,
        objective=obj,
        function=function,
    )


def _data_names(fun: Callable, count: int) -> list[str]:
    """``data[k]`` labels for error messages, with the parameter name where known."""
    import inspect

    try:
        params = list(inspect.signature(fun).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    names = []
    for k in range(count):
        p = params[k] if k < len(params) else None
        named = p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        names.append(f"data argument {k + 1} (`{p.name}`)" if named else f"data argument {k + 1}")
    return names


def check_finite_data(loglik: Callable, args: tuple) -> None:
    """Raise when the loglik was not finite at ``init`` and the data hold NaN/inf.

    Called only after the optimizer stopped at ``init`` because the objective
    was not finite there (``Status.NONFINITE`` with no step), so finite fits pay
    nothing. A model may legitimately mask missing values
    (``jnp.where(jnp.isnan(y), 0, ...)``): non-finite data alone are no error.

    Raises
    ------
    ValueError
        Naming the data argument (position and parameter name), how many values
        are not finite, and the first indices.
    """
    bad = []
    labels = _data_names(loglik, len(args))
    for k, arg in enumerate(args):
        for path, leaf in jax.tree_util.tree_flatten_with_path(arg)[0]:
            if is_traced(leaf) or not hasattr(leaf, "dtype"):
                continue
            if not jnp.issubdtype(leaf.dtype, jnp.inexact):
                continue
            values = np.asarray(leaf)
            finite = np.isfinite(values)
            if not finite.all():
                where = np.argwhere(~finite)[:5]
                first = ", ".join(str(tuple(int(i) for i in w)) if values.ndim > 1 else str(int(w[0]))
                                  for w in where)
                bad.append(f"{labels[k]}{jax.tree_util.keystr(path)} has {int((~finite).sum())} "
                           f"non-finite value(s) (NaN/inf), first at index {first}")
    if not bad:
        return
    raise ValueError(
        "the log-likelihood is not finite at `init` and the data are not: "
        + "; ".join(bad)
        + ". Remove or impute those observations (or mask them inside loglik with jnp.where), "
        "then fit again."
    )


def recertify_steep(result: FitResult) -> FitResult:
    """Re-certify a fit whose straight-line Wald probes were too steep, re-fitting
    the other parameters at each probe (a separate program, compiled only when
    needed; see :func:`hessjax.diagnostics.refit_probes`)."""
    d = result.diagnostics
    if is_traced(d.is_valid) or np.ndim(d.is_valid) != 0 or not bool(d.hessian_is_pd):
        return result
    if not needs_refit(d.quadratic_ratio):
        return result
    obj = result.objective
    key = ("fit-refit", result.covariance_method, result.nobs)
    program = obj.program(
        key, lambda: jax.jit(_analysis(obj, result.covariance_method, result.names, refit=True))
    )
    *_, cert = program(jnp.asarray(result.estimate), result.data, result.optimizer.success)
    return dataclasses.replace(result, diagnostics=cert)


def recertify_steep_batch(result: FitResult) -> FitResult:
    """:func:`recertify_steep` for the fits of a batch that need it (one program for all)."""
    d = result.diagnostics
    if is_traced(d.is_valid) or np.ndim(d.is_valid) != 1:
        return result
    ratio = np.asarray(d.quadratic_ratio)
    steep = np.asarray(d.hessian_is_pd) & np.any(steep_both_sides(ratio), axis=-1)
    if not steep.any():
        return result
    leaves = [np.array(leaf) for leaf in jax.tree_util.tree_leaves(d)]
    treedef = jax.tree_util.tree_structure(d)
    for i in np.flatnonzero(steep):
        new = jax.tree_util.tree_leaves(recertify_steep(result[int(i)]).diagnostics)
        for full, one in zip(leaves, new):
            full[i] = np.asarray(one)
    return dataclasses.replace(result, diagnostics=jax.tree_util.tree_unflatten(treedef, leaves))


def flag_unbounded(result: FitResult, obj: Objective, x0, args: tuple) -> FitResult:
    """Set ``grows_without_bound`` when a failed fit ran the loglik up without limit.

    The rule: no maximum was reached, and the log-likelihood rose from its
    value at ``init`` by more than 1e3 (1 + |loglik(init)|) (or to +inf) -
    orders of magnitude beyond what any finite maximum of a model at its
    start value gives (separation: from -28 to 0). Costs one evaluation of
    loglik at ``x0`` (and its compilation) only for failed fits.
    """
    d = result.diagnostics
    if is_traced(d.is_valid) or (bool(d.converged) and not bool(d.is_saddle)):
        return result
    start = -float(obj.value_jit(jnp.asarray(x0), args))
    end = float(result.loglik)
    if not np.isfinite(start) or np.isnan(end):
        return result
    if end == np.inf or end - start > 1e3 * (1.0 + abs(start)):
        diagnostics = dataclasses.replace(
            d, grows_without_bound=np.asarray(True), loglik_start=np.asarray(start)
        )
        result = dataclasses.replace(result, diagnostics=diagnostics)
    return result


@float64_entry_point
def fit(
    loglik: Callable,
    init: Any,
    *data: Any,
    method: str = "newton",
    covariance: str = "cholesky",
    bounds: dict | None = None,
    fixed: Any = None,
    names: Any = None,
    **options: Any,
) -> FitResult:
    """Maximum-likelihood fit with exact-Hessian standard errors and a certificate.

    Parameters
    ----------
    loglik : callable
        ``loglik(params, *data)`` in ``jax.numpy``, returning the total
        log-likelihood (scalar) or per-observation values (1-D, summed; needed
        for :meth:`FitResult.robust_cov`). It is **maximized**.
    init : pytree of floating arrays
        Starting values. Transformed parameters (``log_sigma``, logits) keep
        the optimizer unconstrained; report natural-scale SEs with
        :meth:`FitResult.delta`.
    *data
        Data passed to ``loglik`` as arguments (one compilation serves every
        dataset of the same shapes).
    method : {"newton", "bfgs"}
        Optimizer; the default trust-region Newton on the exact Hessian leaves
        saddle points.
    covariance : {"cholesky", "pinv"}
        ``"cholesky"`` (default): the inverse observed information through a
        Cholesky factor; NaN when it is not positive definite. ``"pinv"``:
        a pseudo-inverse for diagnosis only, flagged in the result.
    bounds : dict, optional
        ``{name: (lower, upper)}``, ``None`` for an open side; ``name`` is a
        top-level key of a dict ``init`` (all its elements) or a flattened
        name as :func:`param_names` prints it (``"beta[2]"``). The optimizer
        works on free coordinates (log / logit maps, :mod:`hessjax.constraints`);
        ``params``, ``se``, ``cov``, ``conf_int`` and ``summary`` are on the
        natural scale, the SEs by the exact delta method. An estimate ON a
        bound is flagged (``diagnostics.at_bound``), its SE is NaN with a
        ``BoundaryWarning``, and its profile interval is one-sided.
    fixed : str or sequence of str, optional
        Names (same naming) held at their ``init`` values: SE 0, zero rows and
        columns in ``cov``, marked in the summary, not counted in
        :attr:`FitResult.n_free` (AIC, BIC, likelihood-ratio df).
    names : sequence of str, optional
        One name per parameter, in ``ravel_pytree`` order, for an ``init``
        that is a flat array (whose own names are ``x[0], x[1], ...``): the
        summary, ``bounds``, ``fixed``, ``profile``, ``wald_test`` and the
        plots use them.
    **options
        Passed to the optimizer (``gtol``, ``max_steps``, ...; see
        :func:`hessjax.minimize`).

    Returns
    -------
    FitResult
        With ``params``, ``se``, ``cov``, ``hessian`` (observed information),
        ``diagnostics`` and methods ``conf_int``, ``robust_cov``, ``delta``,
        ``summary``. Troubles (no convergence, information not positive
        definite, estimate at a boundary) set flags and emit one
        :class:`~hessjax.HessjaxWarning` subclass each.

    Raises
    ------
    ValueError
        If ``covariance`` or ``method`` is not one of the listed values;
        ``names`` is not one distinct string per parameter;
        ``gtol`` or ``initial_radius`` is not a finite number > 0;
        ``max_steps`` is not an integer in ``[0, 2**31 - 1]``;
        ``init_hessian`` (BFGS) is not ``"identity"``, ``"scaled"`` or
        ``"exact"``; ``init`` has no elements; ``loglik`` returns neither a
        scalar nor a 1-D array; a DataFrame or Series in ``data`` has
        non-numeric columns; calling ``loglik(init, *data)`` fails while
        tracing (a key ``init`` lacks, mismatched shapes, data that do not
        match ``loglik``'s signature); or ``loglik`` is not finite at
        ``init`` and the data hold NaN or inf (the message names them).
    TypeError
        If ``bounds``/``fixed`` are given under ``jax.jit``/``vmap`` (use
        :func:`hessjax.fit_batch` with them); if an option is not valid for ``method`` (data passed as keywords
        are named as such), ``loglik`` is not callable, a leaf of ``init`` is
        not a real number or array (booleans, complex, strings), ``loglik``
        does not return one floating array, or tracing ``loglik`` fails
        because it applies NumPy or a Python ``if``/``int()``/``float()`` to
        a traced value.
    HessianMemoryError
        If the dense ``n x n`` matrices of the fit would exceed 4 GiB (above
        about 9,400 parameters); the message points to :func:`fit_large`.

    Warns
    -----
    ConvergenceWarning
        When the fit did not reach a certified maximum.
    HessianWarning
        When the observed information is not positive definite (SEs are
        NaN), or the log-likelihood falls far faster than the Hessian
        predicts around the estimate (a degenerate optimum).
    BoundaryWarning
        When a Wald interval leaves the parameter space or the
        log-likelihood is flat on one side (estimate at a bound or running
        off to infinity).
    PrecisionWarning
        When the data had less than float64 precision.
    StaleDataWarning
        When ``loglik`` reads data from its closure or globals and they
        changed since it was compiled.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     sigma = jnp.exp(p["log_sigma"])
    ...     return jnp.sum(-0.5 * ((y - p["mu"]) / sigma) ** 2 - p["log_sigma"])
    >>> y = np.array([0.5, 1.5, 1.0, 2.0, 0.0])
    >>> res = hj.fit(loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
    >>> round(float(res.params["mu"]), 6), round(float(res.se["mu"]), 6)  # sigma_hat/sqrt(n)
    (1.0, 0.316228)
    >>> bool(res.diagnostics.is_valid)
    True
    """
    if spans_processes(data):  # before the constrained and unconstrained paths part ways
        check_agree({"bounds, fixed and names": repr((sorted((bounds or {}).items()), fixed, names))},
                    "fit on data sharded over several processes")
    problem = constrain(loglik, init, bounds, fixed, names)
    if problem is None:
        result = _fit_quietly(loglik, init, data, method, covariance, options, names=names)
    else:
        inner = _fit_quietly(
            problem.loglik, problem.z0, (*problem.constraints.data, *data), method, covariance,
            options, names=problem.constraints.free_names, data_loglik=loglik,
        )
        if is_traced(inner.loglik):
            raise TypeError(
                "fit(bounds=..., fixed=...) maps its results to the natural scale on the host, so it "
                "does not run under jax.jit/vmap; fit many datasets with "
                "hessjax.fit_batch(loglik, init, *data, bounds=..., fixed=...) instead."
            )
        result = natural_result(inner, problem.constraints, loglik)
    warn_about(result)
    return result


def _fit_quietly(loglik, init, data, method, covariance, options, names=None, data_loglik=None):
    """:func:`fit` without the warnings: ``names`` overrides the parameter names
    (the free coordinates of a constrained fit), ``data_loglik`` is the function
    whose data a non-finite start is blamed on."""
    run, x, args, option_data, obj = prepare_fit(loglik, init, data, method, covariance, options, names)
    result = attach(run(x, args, option_data), obj, loglik)
    opt = result.optimizer
    if not is_traced(opt.status) and int(opt.status) == Status.NONFINITE and int(opt.nit) == 0:
        # The loglik is not finite at init: blame the data?
        skip = 0 if data_loglik is None else CONSTRAINT_ARGS
        check_finite_data(data_loglik or loglik, args[skip:])
    return flag_unbounded(recertify_steep(result), obj, x, args)
