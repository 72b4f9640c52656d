"""Every result record of hessjax, in one place.

Each is a frozen dataclass or named tuple; the pytree ones (``FitResult``,
``LeastSquaresResult``, ``SelectedSE``, ``EigenBounds``, ``LargeFitResult``)
carry a leading axis when batched. Compiled programs return them with arrays
(and static names) only; the eager shell attaches the Python objects
(``FitResult.objective`` and ``.function``) afterwards, so that JAX's caches
never hold the user's function (see :func:`hessjax.fit.attach`). Display goes
through :mod:`hessjax.report`; flag-to-warning text lives in
:mod:`hessjax.diagnostics`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ._precision import float64_entry_point
from ._processes import check_agree, spans_processes
from .constraints import natural_covariance
from .covariance import delta_covariance, sandwich_covariance, standard_errors, wald_intervals
from .diagnostics import Diagnostics
from .hypothesis_tests import (
    TestResult,
    akaike_criterion,
    bayesian_criterion,
    wald_restrictions,
    wald_statistic,
)
from .objective import Objective
from .optimize.base import MinimizeResult
from .profile import ProfileCurve, profile_contour, profile_curve, profile_intervals
from .report import (
    render_fit_html,
    render_fit_text,
    render_large_fit,
    render_least_squares,
    render_selected_se,
    render_text_html,
)
from .warnings import IntervalWarning, warn

__all__ = [
    "FitResult",
    "DeltaResult",
    "BatchSummary",
    "LeastSquaresResult",
    "SelectedSE",
    "EigenBounds",
    "LargeFitResult",
]


# -- fit, fit_batch ---------------------------------------------------------------------
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
    fixed : tuple of str
        Names of the parameters held at their ``init`` values (``fit(...,
        fixed=...)``): SE 0, zero rows and columns in ``cov``, not counted in
        :attr:`n_free`.
    random, random_se : pytree like ``random_init`` or None
        :func:`fit_laplace` only: the conditional modes of the random effects
        at the MLE and their standard errors (TMB's ``sdreport``).
    free_fit : FitResult or None
        With ``bounds`` or ``fixed``: the fit over the free, unconstrained
        coordinates, where the optimizer, the exact Hessian and the
        certificate ran (see :mod:`hessjax.constraints`). ``params``, ``se``,
        ``cov`` and ``hessian`` above are on the natural scale.
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
    fixed: tuple = dataclasses.field(default=(), metadata=dict(static=True))
    # fit(..., bounds=..., fixed=...): the map to free coordinates, and the fit
    # over them (optimizer, exact Hessian and certificate ran there).
    constraints: Any = dataclasses.field(default=None, metadata=dict(static=True), compare=False)
    free_fit: "FitResult | None" = None
    # fit_laplace: the conditional modes u_hat at the MLE and their sdreport SEs.
    random: Any = None
    random_se: Any = None
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
    def n_free(self) -> int:
        """Number of estimated parameters (``fixed`` ones excluded): the k of AIC,
        BIC and likelihood-ratio degrees of freedom."""
        return len(self.names) - len(self.fixed)

    @property
    def aic(self) -> np.ndarray:
        """Akaike information criterion -2 loglik + 2 k, k = :attr:`n_free`.

        statsmodels' definition (``LikelihoodModelResults.aic``); fixed
        parameters are not counted. Smaller is better; only differences
        between models fitted to the same data mean anything.

        Returns
        -------
        numpy.float64 or numpy.ndarray
            A scalar for one fit, shape ``(batch,)`` for a batched result.

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> def loglik(p, y):
        ...     return -0.5 * (y - p["mu"]) ** 2 - 0.5 * jnp.log(2 * jnp.pi)
        >>> y = np.array([0.5, 1.5, 1.0, 2.0, 0.0])
        >>> res = hj.fit(loglik, {"mu": 0.0}, y)
        >>> bool(np.isclose(res.aic, -2 * float(res.loglik) + 2 * 1, rtol=1e-15))
        True
        """
        return akaike_criterion(self.loglik, self.n_free)

    @property
    def bic(self) -> np.ndarray:
        """Bayesian (Schwarz) information criterion -2 loglik + k log(nobs), k = :attr:`n_free`.

        statsmodels' definition (``LikelihoodModelResults.bic``); needs
        :attr:`nobs`, so ``loglik`` must return per-observation values.

        Returns
        -------
        numpy.float64 or numpy.ndarray
            A scalar for one fit, shape ``(batch,)`` for a batched result.

        Raises
        ------
        ValueError
            If ``nobs`` is None: ``loglik`` returned a scalar instead of
            per-observation values.

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> def loglik(p, y):  # per-observation values: nobs = 5
        ...     return -0.5 * (y - p["mu"]) ** 2 - 0.5 * jnp.log(2 * jnp.pi)
        >>> res = hj.fit(loglik, {"mu": 0.0}, np.array([0.5, 1.5, 1.0, 2.0, 0.0]))
        >>> bool(np.isclose(res.bic, -2 * float(res.loglik) + np.log(5), rtol=1e-15))
        True
        """
        return bayesian_criterion(self.loglik, self.n_free, self.nobs)

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

        Returns
        -------
        numpy.ndarray
            ``(n, 2)`` lower and upper ends, in ``names`` order.

        Raises
        ------
        ValueError
            If ``level`` is not in (0, 1) or ``method`` is not ``"wald"`` or
            ``"profile"``. With ``"profile"``, also if the result is a batch
            or the fit is not a certified strict maximum (see
            :func:`hessjax.profile_intervals`).

        Warns
        -----
        IntervalWarning
            With ``"wald"``, when the fit's certificate says its standard
            errors cannot be used; with ``"profile"``, when profile and Wald
            intervals disagree or an endpoint could not be found.

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
        self._require_unbatched("conf_int")
        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
        if method == "wald":
            self._warn_if_unusable("conf_int(method='wald')")
            with jax.enable_x64(True):
                return np.asarray(wald_intervals(self.estimate, self.se_vector, float(level)))
        if method == "profile":
            self._agree_across_processes(f"conf_int(level={float(level)!r}, method='profile')")
            return profile_intervals(self, level=float(level)).intervals
        raise ValueError(f"unknown method={method!r}; use 'wald' or 'profile'.")

    def profile(self, name: str, n_points: int = 21, bound=None) -> ProfileCurve:
        """The profile log-likelihood curve of one parameter (see :func:`hessjax.profile_curve`).

        Returns
        -------
        ProfileCurve
            ``values``, ``loglik``, ``drop`` (loglik at the MLE minus the
            profile), ``params`` (the other parameters' constrained optima).

        Raises
        ------
        ValueError
            See :func:`hessjax.profile_curve`.

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> res = hj.fit(lambda p, y: -0.5 * (y - p) ** 2, 0.0, np.array([0.0, 2.0]))
        >>> np.round(res.profile("x", n_points=3, bound=(0.0, 2.0)).drop, 6)
        array([1., 0., 1.])
        """
        self._agree_across_processes(f"profile({name!r}, n_points={n_points!r}, bound={bound!r})")
        return profile_curve(self, name, n_points=n_points, bound=bound)

    def contour(self, name1: str, name2: str, level: float = 0.95, n_points: int = 40) -> np.ndarray:
        """``(n_points, 2)`` points on the boundary of the 2-D profile-likelihood region
        (iminuit's ``mncontour``; see :func:`hessjax.profile_contour`).

        Raises
        ------
        ValueError
            See :func:`hessjax.profile_contour`.

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> def loglik(p, y):
        ...     return -0.5 * ((y[:, 0] - p["a"]) ** 2 + (y[:, 1] - p["b"]) ** 2)
        >>> res = hj.fit(loglik, {"a": 0.0, "b": 0.0}, np.array([[0.0, 1.0], [2.0, 3.0]]))
        >>> res.contour("a", "b", n_points=6).shape
        (6, 2)
        """
        self._agree_across_processes(f"contour({name1!r}, {name2!r}, level={level!r}, n_points={n_points!r})")
        return profile_contour(self, name1, name2, level=level, n_points=n_points)

    @float64_entry_point
    def robust_cov(self) -> np.ndarray:
        """Sandwich covariance H^-1 (sum_i s_i s_i') H^-1 (statsmodels ``HC0``).

        Needs ``loglik`` to return per-observation values (a 1-D array): the
        scores s_i are the exact per-observation gradients.

        Returns
        -------
        numpy.ndarray
            ``(n, n)`` covariance over ``names`` order.

        Raises
        ------
        ValueError
            If the result is a batch (index it first), or ``loglik`` returned
            a scalar instead of per-observation values.

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
        self._agree_across_processes("robust_cov()")
        if self.nobs is None:
            raise ValueError(
                "robust_cov() needs per-observation log-likelihood values: make loglik return "
                "the 1-D array of each observation's contribution (fit sums it), e.g. "
                "`return logpdf(y, mu, sigma)` instead of `jnp.sum(...)`."
            )
        if self.free_fit is not None:  # bounds/fixed: the sandwich over free coordinates, mapped
            hits = np.asarray(self.diagnostics.at_bound)
            return natural_covariance(self.constraints, self.free_fit.params, self.free_fit.robust_cov(), hits)
        obj = self.objective
        scores = obj.scores_jit(jnp.asarray(self.estimate), self.data)
        return np.asarray(sandwich_covariance(jnp.asarray(self.cov), scores))

    @float64_entry_point
    def delta(self, g: Callable) -> DeltaResult:
        """Value and SE of ``g(params)`` by the exact delta method.

        ``g`` maps the parameter pytree to any pytree of arrays (e.g. the
        natural-scale ``jnp.exp(p["log_sigma"])``); its Jacobian is exact
        (forward-mode autodiff) and the covariance is J cov J'.

        Returns
        -------
        DeltaResult
            ``value`` and ``se`` (pytrees like ``g``'s output), ``cov`` and
            the Jacobian ``jacobian``.

        Raises
        ------
        ValueError
            If the result is a batch (index it first).
        TypeError
            If ``g`` is not callable.

        Warns
        -----
        IntervalWarning
            When the fit's certificate says the standard errors of a
            parameter ``g`` depends on cannot be used.

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
        spec = self.objective.spec if self.constraints is None else self.constraints.spec
        unravel = spec.unravel
        x = jnp.asarray(self.estimate)

        def flat_g(z):
            leaves = jax.tree_util.tree_leaves(g(unravel(z)))
            return jnp.concatenate([jnp.ravel(jnp.asarray(leaf, jnp.float64)) for leaf in leaves])

        value_tree = g(unravel(x))
        jac = jax.jacfwd(flat_g)(x)
        involved = np.any(np.asarray(jac) != 0, axis=0)
        self._warn_if_unusable("delta()", involved)
        # Rows of parameters g does not depend on do not enter (a NaN there, from an
        # estimate on a bound, would otherwise spread through 0 * NaN).
        cov = delta_covariance(jac, jnp.where(np.outer(involved, involved), jnp.asarray(self.cov), 0.0))
        _, unravel_out = jax.flatten_util.ravel_pytree(value_tree)
        se = unravel_out(standard_errors(cov))
        return DeltaResult(value=value_tree, se=se, cov=cov, jacobian=jac)

    def wald_test(self, R: Any, q: Any = None) -> TestResult:
        """Wald test of the linear hypothesis H0: R theta = q (Wald 1943).

        W = (R theta - q)' (R V R')^-1 (R theta - q), chi-square with k
        degrees of freedom (the rows of ``R``), V = :attr:`cov`; the same as
        statsmodels' ``res.wald_test(R, q, use_f=False, scalar=True)``. R V R'
        is solved through a Cholesky factor of its unit-diagonal scaling,
        never inverted explicitly. The likelihood-ratio test
        (:func:`hessjax.lr_test`) is the better choice where the two disagree:
        the Wald statistic rests on the quadratic approximation at the
        estimate and changes under reparametrization.

        Parameters
        ----------
        R : array_like or str or list of str
            ``(k, n)`` matrix over the flattened parameters in :attr:`names`
            order; a length-n vector for one restriction; a parameter name
            (``"x1"``, ``"beta[2]"``; a leaf name such as ``"beta"`` stands
            for all its elements) for H0: that parameter = q; or a list of
            names for the joint hypothesis that each equals its q.
        q : float or array_like, optional
            Right-hand side: None (zeros), a number (the same for every row)
            or a length-k vector.

        Returns
        -------
        TestResult
            ``statistic``, ``df`` (= k) and ``pvalue``.

        Raises
        ------
        ValueError
            If the result is a batch (index it first); ``R`` or ``q`` has the
            wrong shape, non-finite entries or an unknown parameter name;
            ``R`` restricts a fixed parameter; the covariance is not available
            (not positive definite: see ``diagnostics.problems()``); or R V R'
            is singular (linearly dependent rows).

        Warns
        -----
        IntervalWarning
            When the fit's certificate says the standard errors of a
            parameter in the hypothesis cannot be used (the statistic is
            still computed, as for :meth:`conf_int`).

        Examples
        --------
        >>> import numpy as np, jax.numpy as jnp, hessjax as hj
        >>> def loglik(p, y):  # y ~ N(mu, 1): W = n (ybar - mu0)^2
        ...     return -0.5 * (y - p["mu"]) ** 2
        >>> y = np.array([0.5, 1.5, 1.0, 2.0, 0.0])
        >>> res = hj.fit(loglik, {"mu": 0.0}, y)
        >>> w = res.wald_test("mu", q=0.5)
        >>> w.df, round(w.statistic, 12)  # 5 * (1.0 - 0.5)^2
        (1, 1.25)
        >>> print(w)
        Wald test: chi2(1) = 1.25, p-value = 0.2636
        """
        self._require_unbatched("wald_test")
        matrix, vector = wald_restrictions(self, R, q)
        self._warn_if_unusable("wald_test()", np.any(matrix != 0, axis=0))
        return wald_statistic(self.estimate, np.asarray(self.cov), matrix, vector)

    # -- batches ----------------------------------------------------------------------------
    @property
    def batch_summary(self) -> BatchSummary:
        """How many fits of a batched result converged, have a PD information, are valid.

        Raises
        ------
        ValueError
            If the result does not have exactly one leading batch axis (a
            single fit from :func:`fit`).
        """
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
        """The ``index``-th fit of a batched result (or a sub-batch for a slice/array).

        Raises
        ------
        TypeError
            If the result holds one fit (only batched results can be indexed).
        IndexError
            If ``index`` is out of range for the batch.
        """
        if np.ndim(self.loglik) == 0:
            raise TypeError("this FitResult holds one fit; only batched results can be indexed.")
        return jax.tree_util.tree_map(lambda leaf: leaf[index], self)

    # -- display --------------------------------------------------------------------------
    def summary(self, level: float = 0.95) -> str:
        """Text table (estimate, SE, z, p-value, Wald CI) and the certificate verdict."""
        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
        if np.ndim(self.loglik) != 0:
            return f"FitResult: batch of {np.shape(self.loglik)[0]} fits\n{self.batch_summary}"
        return render_fit_text(self, level=level)

    def _repr_html_(self) -> str:
        if np.ndim(self.loglik) != 0:
            return render_text_html(self.summary())
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

    def _agree_across_processes(self, call: str) -> None:
        """For a fit of data sharded over several processes, a later call is one
        collective program: check that every process makes it with the same arguments
        (a ValueError in all of them otherwise). A process that skips the call still
        leaves the others waiting: make every call in every process."""
        data = self.data if self.free_fit is None else self.free_fit.data
        if spans_processes(data):
            check_agree({"call and arguments": call}, "a call on a fit of data sharded over several processes")


# -- least_squares -------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, repr=False)
class LeastSquaresResult:
    """Result of :func:`least_squares` (a pytree).

    Attributes
    ----------
    params : pytree like ``init``
        Least-squares estimate.
    se, cov, corr
        NIST convention: sqrt(diag(s^2 (J'J)^-1)), s^2 = rss / dof; with
        ``absolute_sigma``, (J'J)^-1 (``curve_fit``'s ``pcov`` either way).
    se_mle, cov_mle
        Inverse exact observed information of the Gaussian likelihood
        (sigma^2 = rss / nobs; 1 with ``absolute_sigma``); see the module
        docstring of :mod:`hessjax.least_squares` for the difference.
    rss, s2, dof
        Residual sum of squares, residual variance rss/dof, degrees of freedom.
        With ``sigma``: the chi-square sum((r / sigma)^2) and the reduced
        chi-square.
    residuals, jacobian
        At the estimate; ``jacobian`` is exact, ``(nobs, n)``. With ``sigma``,
        of the weighted residuals r / sigma (so ``rss`` = sum(residuals^2)).
    hessian
        Exact Hessian of rss / 2.
    converged, diagnostics, optimizer, names, nobs
        As for :class:`~hessjax.FitResult`; the certificate is computed on the
        Gaussian likelihood.
    weighted, absolute_sigma
        Whether ``sigma`` was given, and the ``absolute_sigma`` of the call.
    """

    params: Any
    se: Any
    cov: jax.Array
    corr: jax.Array
    se_mle: Any
    cov_mle: jax.Array
    rss: jax.Array
    s2: jax.Array
    residuals: jax.Array
    jacobian: jax.Array
    hessian: jax.Array
    converged: jax.Array
    diagnostics: Diagnostics
    optimizer: MinimizeResult
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))
    nobs: int = dataclasses.field(default=0, metadata=dict(static=True))
    dof: int = dataclasses.field(default=0, metadata=dict(static=True))
    weighted: bool = dataclasses.field(default=False, metadata=dict(static=True))
    absolute_sigma: bool = dataclasses.field(default=False, metadata=dict(static=True))

    @property
    def estimate(self) -> np.ndarray:
        """Flat estimate in ``names`` order."""
        return np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(self.params)])

    def conf_int(self, level: float = 0.95) -> np.ndarray:
        """``(n, 2)`` intervals estimate +- t_{dof} se (the curve_fit/NIST convention);
        estimate +- z se with ``absolute_sigma`` (known errors: no variance estimated).

        Parameters
        ----------
        level : float
            Coverage probability, in (0, 1).

        Returns
        -------
        numpy.ndarray
            ``(n, 2)`` lower and upper ends, in ``names`` order.

        Raises
        ------
        ValueError
            If ``level`` is not in (0, 1).
        """
        from scipy import stats  # imported when needed: 0.5 s of `import hessjax`

        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"`level` must be in (0, 1), got {level!r}.")
        se = np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(self.se)])
        quantile = stats.norm if self.absolute_sigma else stats.t(self.dof)
        t = quantile.ppf(0.5 + 0.5 * level)
        return np.stack([self.estimate - t * se, self.estimate + t * se], axis=-1)

    def summary(self) -> str:
        """Text table of estimates with both standard errors, and the certificate."""
        return render_least_squares(self)

    def __repr__(self) -> str:
        if np.ndim(self.rss) != 0:
            return f"LeastSquaresResult(batch of {np.shape(self.rss)[0]} fits)"
        return self.summary()


# -- fit_large, selected_se, extreme_eigenvalues -----------------------------------------
@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, repr=False)
class SelectedSE:
    """Standard errors of selected parameters by CG solves with exact HVPs.

    Attributes
    ----------
    names : tuple of str
        Names of the selected parameters (``hj.param_names`` order).
    index : numpy.ndarray
        Their flat indices.
    se : numpy.ndarray
        sqrt((H^-1)_ii), H the observed information; NaN where the solve
        met non-positive curvature or did not converge (see the flags).
    cg_iterations : numpy.ndarray
        Hessian-vector products used by each solve.
    residual : numpy.ndarray
        Final relative residual ||e_i - H z|| (recomputed, not the recurrence).
    converged : numpy.ndarray of bool
        The solve reached ``rtol`` with a positive variance.
    indefinite : numpy.ndarray of bool
        The solve met a direction with p'Hp <= 0 (or a negative variance):
        H is not positive definite.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):
    ...     return -0.5 * jnp.sum((y - p["mu"]) ** 2 / jnp.exp(2 * p["log_s"])) - y.size * p["log_s"]
    >>> out = hj.selected_se(loglik, {"log_s": 0.0, "mu": 0.0}, np.zeros(4), which="mu")
    >>> out.names, np.round(out.se, 12)  # sigma / sqrt(n)
    (('mu',), array([0.5]))
    """

    index: Any
    se: Any
    cg_iterations: Any
    residual: Any
    converged: Any
    indefinite: Any
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))

    def __str__(self) -> str:
        return render_selected_se(self)

    __repr__ = __str__


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class EigenBounds:
    """Extreme eigenvalues of the observed information by Lanczos, with error bounds.

    ``min_eigenvalue`` and ``max_eigenvalue`` are the extreme Ritz values;
    an eigenvalue lies within ``min_error`` (``max_error``) of each. Ritz
    values lie inside the spectrum: ``min_eigenvalue`` is never below the
    true smallest eigenvalue, ``max_eigenvalue`` never above the largest.

    Attributes
    ----------
    min_eigenvalue, max_eigenvalue : numpy.ndarray
        Smallest and largest Ritz value.
    min_error, max_error : numpy.ndarray
        Residual norms ||H y - theta y|| of the two Ritz pairs.
    steps : numpy.ndarray
        Lanczos steps taken (fewer than asked when the Krylov space became
        invariant: then the values are exact).
    converged : numpy.ndarray of bool
        Both errors are below ``LANCZOS_RTOL`` (sqrt(eps)) times their value.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> d = np.array([1.0, 2.0, 3.0, 10.0])
    >>> eig = hj.extreme_eigenvalues(lambda b: -0.5 * jnp.sum(d * b**2), np.zeros(4))
    >>> round(float(eig.min_eigenvalue), 12), round(float(eig.max_eigenvalue), 12), bool(eig.converged)
    (1.0, 10.0, True)
    """

    min_eigenvalue: Any
    max_eigenvalue: Any
    min_error: Any
    max_error: Any
    steps: Any
    converged: Any

    @property
    def condition_number(self) -> np.ndarray:
        """max/min Ritz value (inf unless the smallest is positive); unscaled."""
        lo, hi = np.asarray(self.min_eigenvalue), np.asarray(self.max_eigenvalue)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(lo > 0, hi / np.where(lo > 0, lo, 1.0), np.inf)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, repr=False)
class LargeFitResult:
    """Result of :func:`fit_large`; a pytree (batched fits carry a leading axis).

    Attributes
    ----------
    params : pytree like ``init``
        The maximum-likelihood estimate.
    loglik : numpy.ndarray
        Log-likelihood at ``params``.
    grad : pytree like ``init``
        Gradient of the log-likelihood at ``params``.
    se : SelectedSE
        Standard errors of the ``which`` parameters (NaN unless
        ``hessian_is_pd``).
    eigen : EigenBounds
        Extreme eigenvalues of the observed information (Lanczos).
    converged : numpy.ndarray of bool
        The optimizer's gradient and curvature tests passed.
    grad_norm : numpy.ndarray
        max_i |g_i| of the log-likelihood gradient.
    newton_decrement : numpy.ndarray
        g'H^-1 g by one CG solve (a lower bound, short by at most
        rtol^2 cond(H) relative); NaN unless ``hessian_is_pd``.
    hessian_is_pd : numpy.ndarray of bool
        min Ritz value minus its error bound exceeds ``flat_tolerance`` times
        the largest, on the **unscaled** information (:func:`hessjax.fit`
        judges the correlation-scaled one). Assumes Lanczos found the
        smallest eigenvalue: a Ritz value converges to the nearest
        eigenvalue, and one far from the start vector's reach can be missed.
    is_saddle : numpy.ndarray of bool
        A Ritz value below -flat_tolerance times the largest: certainly a
        negative eigenvalue (the smallest eigenvalue is below every Ritz value).
    condition_number : numpy.ndarray
        max/min Ritz value, unscaled (inf unless ``hessian_is_pd``).
    is_valid : numpy.ndarray of bool
        converged, positive definite, no saddle, Newton decrement below
        ``hessjax.diagnostics.decrement_tolerance`` and every SE solve converged.
    optimizer : MinimizeResult
        The Newton-CG result (``nhev`` counts Hessian-vector products).
    names : tuple of str
        All parameter names in ``ravel_pytree`` order.
    nobs : int or None
        Number of observations when ``loglik`` returns per-observation values.
    """

    params: Any
    loglik: Any
    grad: Any
    se: SelectedSE
    eigen: EigenBounds
    converged: Any
    grad_norm: Any
    newton_decrement: Any
    hessian_is_pd: Any
    is_saddle: Any
    condition_number: Any
    is_valid: Any
    optimizer: MinimizeResult
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))
    nobs: int | None = dataclasses.field(default=None, metadata=dict(static=True))

    @property
    def estimate(self) -> np.ndarray:
        """The estimate as a flat vector in ``names`` order."""
        return np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(self.params)])

    def __str__(self) -> str:
        return render_large_fit(self)

    __repr__ = __str__
