"""``fit``: maximum likelihood with exact-Hessian inference and a certificate.

The whole pipeline (optimizer, exact Hessian at the optimum, Cholesky-gated
covariance, certificate) is one pure function compiled once per log-likelihood
and data shape, so it also runs under ``vmap`` for many datasets at once. The
eager shell validates inputs before compiling and turns flags into warnings.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import float64_entry_point, is_traced
from ._tree import spec_names
from .covariance import (
    cholesky_covariance,
    correlation,
    delta_covariance,
    pinv_covariance,
    sandwich_covariance,
    scaled_spectrum,
    standard_errors,
    wald_intervals,
)
from .diagnostics import (
    Diagnostics,
    certify,
    likelihood_probes,
    needs_refit,
    steep_both_sides,
    refit_probes,
)
from .hessian import DEFAULT_HESSIAN_MAX_BYTES, HessianMemoryError, hessian_memory_estimate
from .objective import Objective, bind
from .optimize.base import MinimizeResult, Status
from .optimize.minimize import pure_solve, solver_settings
from .warnings import BoundaryWarning, ConvergenceWarning, HessianWarning, IntervalWarning, warn

__all__ = ["fit", "FitResult", "DeltaResult", "BatchSummary", "COVARIANCE_METHODS"]

COVARIANCE_METHODS = ("cholesky", "pinv")


class BatchSummary(NamedTuple):
    """Counts over a batched :class:`FitResult` (see :func:`hessjax.fit_batch`)."""

    n_fits: int
    converged: int
    hessian_pd: int
    valid: int
    saddle: int
    wald_inadequate: int = 0  # PD information, but some Wald interval cannot be used

    def __str__(self) -> str:
        return (
            f"{self.n_fits} fits: {self.converged} converged, {self.hessian_pd} with a positive "
            f"definite observed information, {self.valid} valid, {self.saddle} at saddle points, "
            f"{self.wald_inadequate} with unusable Wald intervals (estimate at infinity or a bound)"
        )


class DeltaResult(NamedTuple):
    """Value and delta-method uncertainty of a derived quantity ``g(params)``."""

    value: Any  # pytree like g's output
    se: Any  # pytree like g's output
    cov: jax.Array  # over ravel_pytree order of g's output
    jacobian: jax.Array  # dg/dparams, (m, n)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, repr=False)
class FitResult:
    """Result of :func:`fit`; a pytree (batched fits carry a leading axis).

    Attributes
    ----------
    params : pytree like ``init``
        The maximum-likelihood estimate.
    loglik : jax.Array
        Log-likelihood at ``params``.
    grad : pytree like ``init``
        Gradient of the log-likelihood at ``params`` (about zero).
    hessian : jax.Array
        Exact Hessian of the **negative** log-likelihood (the observed
        information), ``(n, n)`` over ``ravel_pytree`` order.
    cov, corr : jax.Array
        Inverse observed information (through a Cholesky factor) and its
        correlation matrix; all NaN when the information is not positive
        definite (see ``diagnostics``), unless ``covariance="pinv"`` was
        requested (then ``covariance_method == "pinv"`` flags it).
    se : pytree like ``init``
        Standard errors sqrt(diag(cov)).
    converged : jax.Array
        The certificate's ``converged``: the optimizer's test passed, or the
        estimate is within 1e-3 SE of the maximum (``optimizer.success`` is the
        optimizer's own flag).
    diagnostics : Diagnostics
        The optimum certificate.
    optimizer : MinimizeResult
        The optimizer's own result.
    data : tuple
        The data the model was fitted to (used by ``robust_cov``,
        ``conf_int(method="profile")``).
    names : tuple of str
        Parameter names in ``ravel_pytree`` order.
    nobs : int or None
        Number of observations when ``loglik`` returns per-observation values.
    covariance_method : str
        ``"cholesky"`` or ``"pinv"`` (forced, not a valid covariance).
    """

    params: Any
    loglik: jax.Array
    grad: Any
    hessian: jax.Array
    cov: jax.Array
    se: Any
    corr: jax.Array
    converged: jax.Array
    diagnostics: Diagnostics
    optimizer: MinimizeResult
    data: tuple
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))
    nobs: int | None = dataclasses.field(default=None, metadata=dict(static=True))
    covariance_method: str = dataclasses.field(default="cholesky", metadata=dict(static=True))
    objective: Objective | None = dataclasses.field(
        default=None, metadata=dict(static=True), compare=False
    )
    # The user's loglik, held strongly: the objective holds it weakly (so that
    # caches do not keep functions alive), and an inline lambda would otherwise
    # be gone by the time robust_cov or bootstrap needs it.
    function: Callable | None = dataclasses.field(
        default=None, metadata=dict(static=True), compare=False
    )

    # -- flat views -------------------------------------------------------------------
    @property
    def estimate(self) -> np.ndarray:
        """The estimate as a flat float64 vector in ``names`` order."""
        return np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(self.params)])

    @property
    def se_vector(self) -> np.ndarray:
        """Standard errors as a flat vector in ``names`` order."""
        return np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(self.se)])

    # -- inference ----------------------------------------------------------------------
    def conf_int(self, level: float = 0.95, method: str = "wald") -> np.ndarray:
        """Confidence intervals, ``(n, 2)`` over the flattened parameters.

        Parameters
        ----------
        level : float
            Coverage probability, in (0, 1).
        method : {"wald", "profile"}
            ``"wald"``: estimate +- z SE (NaN when the SEs are not valid).
            ``"profile"``: where the profile log-likelihood drops by
            chi2_1(level)/2; exact-gradient re-maximization of the other
            parameters at each point, warm-started (see :mod:`hessjax.profile`).

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> def loglik(p, y):
        ...     return jnp.sum(-0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"])
        >>> y = np.array([0.5, 1.5, 1.0, 2.0, 0.0])
        >>> res = hj.fit(loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
        >>> np.round(res.conf_int()[1], 3)  # mu: 1.0 +- 1.96 * sigma_hat / sqrt(5)
        array([0.38, 1.62])
        """
        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
        if method == "wald":
            self._warn_if_unusable("conf_int(method='wald')")
            with jax.enable_x64(True):
                return np.asarray(wald_intervals(self.estimate, self.se_vector, float(level)))
        if method == "profile":
            from .profile import profile_intervals

            return profile_intervals(self, level=float(level)).intervals
        raise ValueError(f"unknown method={method!r}; use 'wald' or 'profile'.")

    @float64_entry_point
    def robust_cov(self) -> np.ndarray:
        """Sandwich covariance H^-1 (sum_i s_i s_i') H^-1 (statsmodels ``HC0``).

        Needs ``loglik`` to return per-observation values (a 1-D array): the
        scores s_i are the exact per-observation gradients.

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> def loglik(p, y):  # per-observation values, so the sandwich is available
        ...     return -0.5 * (y - p) ** 2
        >>> y = np.array([0.0, 1.0, 5.0])
        >>> res = hj.fit(loglik, 0.0, y)
        >>> bool(np.isclose(res.robust_cov()[0, 0], np.sum((y - y.mean()) ** 2) / 9, rtol=1e-14))
        True
        """
        self._require_unbatched("robust_cov")
        if self.nobs is None:
            raise ValueError(
                "robust_cov() needs per-observation log-likelihood values: make loglik return "
                "the 1-D array of each observation's contribution (fit sums it), e.g. "
                "`return logpdf(y, mu, sigma)` instead of `jnp.sum(...)`."
            )
        obj = self.objective
        scores = obj.scores_jit(jnp.asarray(self.estimate), self.data)
        return np.asarray(sandwich_covariance(jnp.asarray(self.cov), scores))

    @float64_entry_point
    def delta(self, g: Callable) -> DeltaResult:
        """Value and SE of ``g(params)`` by the exact delta method.

        ``g`` maps the parameter pytree to any pytree of arrays (e.g. the
        natural-scale ``jnp.exp(p["log_sigma"])``); its Jacobian is exact
        (forward-mode autodiff) and the covariance is J cov J'.

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> def loglik(p, y):
        ...     return jnp.sum(-0.5 * ((y - p["mu"]) / jnp.exp(p["log_sigma"])) ** 2 - p["log_sigma"])
        >>> y = np.array([0.5, 1.5, 1.0, 2.0, 0.0])
        >>> res = hj.fit(loglik, {"mu": 0.0, "log_sigma": 0.0}, y)
        >>> sigma = res.delta(lambda p: jnp.exp(p["log_sigma"]))
        >>> round(float(sigma.value), 4), round(float(sigma.se), 4)  # sigma_hat / sqrt(2n)
        (0.7071, 0.2236)
        """
        self._require_unbatched("delta")
        if not callable(g):
            raise TypeError("`g` must be a callable g(params) returning a pytree of arrays.")
        unravel = self.objective.spec.unravel
        x = jnp.asarray(self.estimate)

        def flat_g(z):
            leaves = jax.tree_util.tree_leaves(g(unravel(z)))
            return jnp.concatenate([jnp.ravel(jnp.asarray(leaf, jnp.float64)) for leaf in leaves])

        value_tree = g(unravel(x))
        jac = jax.jacfwd(flat_g)(x)
        self._warn_if_unusable("delta()", np.any(np.asarray(jac) != 0, axis=0))
        cov = delta_covariance(jac, jnp.asarray(self.cov))
        _, unravel_out = jax.flatten_util.ravel_pytree(value_tree)
        se = unravel_out(standard_errors(cov))
        return DeltaResult(value=value_tree, se=se, cov=cov, jacobian=jac)

    # -- batches ----------------------------------------------------------------------------
    @property
    def batch_summary(self) -> BatchSummary:
        """How many fits of a batched result converged, have a PD information, are valid."""
        d = self.diagnostics
        if np.ndim(d.is_valid) != 1:
            raise ValueError("batch_summary needs a result with one leading batch axis (fit_batch).")
        count = lambda flags: int(np.sum(np.asarray(flags)))  # noqa: E731
        return BatchSummary(
            n_fits=int(np.shape(d.is_valid)[0]),
            converged=count(d.converged),
            hessian_pd=count(d.hessian_is_pd),
            valid=count(d.is_valid),
            saddle=count(d.is_saddle),
            wald_inadequate=count(
                np.asarray(d.hessian_is_pd) & ~np.all(np.asarray(d.wald_adequate), axis=-1)
            ),
        )

    def __getitem__(self, index) -> "FitResult":
        """The ``index``-th fit of a batched result (or a sub-batch for a slice/array)."""
        if np.ndim(self.loglik) == 0:
            raise TypeError("this FitResult holds one fit; only batched results can be indexed.")
        return jax.tree_util.tree_map(lambda leaf: leaf[index], self)

    # -- display --------------------------------------------------------------------------
    def summary(self, level: float = 0.95) -> str:
        """Text table (estimate, SE, z, p-value, Wald CI) and the certificate verdict."""
        if np.ndim(self.loglik) != 0:
            return f"FitResult: batch of {np.shape(self.loglik)[0]} fits\n{self.batch_summary}"
        from .report import render_fit_text

        return render_fit_text(self, level=level)

    def _repr_html_(self) -> str:
        if np.ndim(self.loglik) != 0:
            import html

            return f"<pre>{html.escape(self.summary())}</pre>"
        from .report import render_fit_html

        return render_fit_html(self)

    def __repr__(self) -> str:
        if np.ndim(self.loglik) == 1:
            return (
                f"FitResult(batch of {np.shape(self.loglik)[0]} fits, {len(self.names)} parameters; "
                f"{self.batch_summary})"
            )
        if np.ndim(self.loglik) != 0:
            return f"FitResult(batch of shape {np.shape(self.loglik)}, {len(self.names)} parameters)"
        return self.summary()

    def _warn_if_unusable(self, what: str, involved=None) -> None:
        """One IntervalWarning when finite SEs come from a fit that is not valid.

        ``involved``: which parameters the requested quantity depends on (a
        Wald failure elsewhere does not affect it); NaN SEs are flagged already.
        """
        d = self.diagnostics
        if np.ndim(d.is_valid) != 0 or bool(d.is_valid) or not bool(d.hessian_is_pd):
            return
        failures = d.wald_failures()
        if involved is not None and failures and bool(d.converged) and bool(d.at_maximum):
            index = {name: i for i, name in enumerate(self.names)}
            failures = [f for f in failures if bool(involved[index[f[0]]])]
            if not failures:
                return
        reasons = "; ".join(d.problems())
        warn(
            f"{what} on a fit whose standard errors cannot be used: {reasons}.",
            IntervalWarning,
        )

    def _require_unbatched(self, what: str) -> None:
        if np.ndim(self.loglik) != 0:
            raise ValueError(f"{what}() works on one fit; index the batched result first.")


def _analysis(obj: Objective, covariance_method: str, names: tuple, refit: bool = False) -> Callable:
    """The pure post-optimization pipeline: Hessian, covariance, certificate.

    ``refit``: re-fit the other parameters at the Wald probes (4n Hessians a
    step; only run by :func:`recertify_steep` when a straight probe was steep).
    """

    def analyze(x, args, converged):
        f, g, hessian = obj.value_grad_hessian(x, args)
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
    solve = pure_solve(obj, *static)
    analyze = _analysis(obj, covariance_method, names)
    unravel = obj.spec.unravel

    def run(x0, args, options):
        opt = solve(x0, args, options)
        x = jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree_util.tree_leaves(opt.x)])
        f, g, hessian, cov, se, cert = analyze(x, args, opt.success)
        return FitResult(
            params=opt.x,
            loglik=-f,
            grad=unravel(-g),
            hessian=hessian,
            cov=cov,
            se=unravel(se),
            corr=correlation(cov),
            converged=cert.converged,
            diagnostics=cert,
            optimizer=opt,
            data=args,
            names=names,
            nobs=nobs,
            covariance_method=covariance_method,
            objective=obj,
        )

    return jax.jit(run)


def prepare_fit(loglik, init, data, method, covariance, options):
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
    names = spec_names(obj.spec)
    key = ("fit", *static, covariance, nobs)
    run = obj.solver(key, lambda: _build_fit(obj, static, covariance, names, nobs))
    return run, x, args, option_data, obj


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
    program = obj.solver(
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


def warn_about(result) -> None:
    """One warning per kind of trouble, stating the flags (eager results only).

    Shared by ``fit`` and ``least_squares`` (any result with ``diagnostics``,
    ``optimizer`` and ``covariance_method``).
    """
    d = result.diagnostics
    if is_traced(d.is_valid) or np.ndim(d.is_valid) != 0:
        return
    if not bool(d.hessian_is_pd):
        problems = "; ".join(d.problems() + d.directions()) or "the information matrix is not finite"
        what = "a saddle point" if bool(d.is_saddle) else "not positive definite"
        shown = (
            "the requested pseudo-inverse is shown instead, flagged: it is not a valid covariance"
            if getattr(result, "covariance_method", "cholesky") == "pinv"
            else "standard errors are NaN"
        )
        warn(f"the observed information at the estimate is {what}: {shown}. {problems}.", HessianWarning)
    pd = bool(d.hessian_is_pd)
    if not bool(d.converged) or (pd and not bool(d.at_maximum)):
        distance = f", {float(d.newton_step_se):.2g} SE from the maximum" if pd else ""
        warn(
            "the fit did not reach a certified maximum "
            f"(converged={bool(d.converged)}, newton_decrement={float(d.newton_decrement):.3g}"
            f"{distance}): {result.optimizer.message}",
            ConvergenceWarning,
        )
    if not pd:
        return
    failures = d.wald_failures()
    for kinds, category in ((("domain", "flat"), BoundaryWarning), (("steep",), HessianWarning)):
        hit = [(name, why) for name, kind, why in failures if kind in kinds]
        if hit:
            listed = "; ".join(f"{name}: {why}" for name, why in hit)
            warn(
                "the standard errors and Wald intervals of "
                f"{', '.join(name for name, _ in hit)} cannot be used - {listed}. Use "
                "conf_int(method='profile'), a bound on the parameter, more data or a "
                "reparametrization.",
                category,
            )


@float64_entry_point
def fit(
    loglik: Callable,
    init: Any,
    *data: Any,
    method: str = "newton",
    covariance: str = "cholesky",
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
    run, x, args, option_data, obj = prepare_fit(loglik, init, data, method, covariance, options)
    result = dataclasses.replace(run(x, args, option_data), function=loglik)
    opt = result.optimizer
    if not is_traced(opt.status) and int(opt.status) == Status.NONFINITE and int(opt.nit) == 0:
        check_finite_data(loglik, args)  # the loglik is not finite at init: blame the data?
    result = flag_unbounded(recertify_steep(result), obj, x, args)
    warn_about(result)
    return result
