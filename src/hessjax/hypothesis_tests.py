"""Model comparison: information criteria, likelihood-ratio and Wald tests.

AIC and BIC follow statsmodels' definitions, -2 llf + 2k and -2 llf + k log(n),
k the number of *free* parameters (``FitResult.n_free``: fixed ones do not
count). The likelihood-ratio test (Wilks 1938) compares two nested maximized
log-likelihoods; the Wald test (Wald 1943) uses one fit's estimate and
covariance. Both refer their statistic to a chi-square distribution, which
needs the null hypothesis to lie in the interior of the parameter space (see
``docs/comparing-models.md`` for the boundary case).

Functions here read a :class:`~hessjax.FitResult` by its fields (this stage
sits below ``results``); :class:`~hessjax.FitResult` exposes ``aic``, ``bic``
and ``wald_test``, and :func:`lr_test` is public.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import jax
import numpy as np

from ._precision import EPS
from ._tree import name_groups
from .covariance import definiteness
from .report import render_test_result

__all__ = [
    "TestResult",
    "lr_test",
    "akaike_criterion",
    "bayesian_criterion",
    "wald_restrictions",
    "wald_statistic",
]

# Rounding noise counts only beyond this multiple of the noise measured at each
# estimate (the certificate's own margin for "a change above the noise").
_NOISE_MULTIPLE = 64.0


@dataclasses.dataclass(frozen=True)
class TestResult:
    """A chi-square test: ``statistic``, its degrees of freedom ``df`` and ``pvalue``.

    Returned by :func:`hessjax.lr_test` and :meth:`hessjax.FitResult.wald_test`;
    ``str(result)`` is a one-line report.

    Attributes
    ----------
    statistic : float
        The chi-square statistic (LR: 2 (llf_full - llf_restricted); Wald:
        (R theta - q)' (R V R')^-1 (R theta - q)).
    df : int
        Degrees of freedom of the reference chi-square distribution.
    pvalue : float
        P(chi2_df >= statistic) (``scipy.stats.chi2.sf``).
    test : str
        ``"likelihood-ratio"`` or ``"Wald"``.

    Examples
    --------
    >>> import hessjax as hj
    >>> print(hj.TestResult(statistic=3.841458820694124, df=1, pvalue=0.05, test="Wald"))
    Wald test: chi2(1) = 3.8415, p-value = 0.05
    """

    __test__ = False  # not a pytest test class, despite its name

    statistic: float
    df: int
    pvalue: float
    test: str = ""

    def __str__(self) -> str:
        return render_test_result(self)


def _chi2_pvalue(statistic: float, df: int) -> float:
    from scipy import stats  # imported when needed: 0.5 s of `import hessjax`

    return float(stats.chi2.sf(statistic, df))


# -- information criteria --------------------------------------------------------------
def akaike_criterion(loglik: Any, k: int) -> np.ndarray:
    """-2 llf + 2k (statsmodels ``aic``); elementwise over a batch."""
    return -2.0 * np.asarray(loglik, dtype=np.float64) + 2.0 * k


def bayesian_criterion(loglik: Any, k: int, nobs: int | None) -> np.ndarray:
    """-2 llf + k log(nobs) (statsmodels ``bic``); elementwise over a batch.

    Raises ``ValueError`` when ``nobs`` is None (a scalar log-likelihood).
    """
    if nobs is None:
        raise ValueError(
            "bic needs the number of observations, and this fit's loglik returned a scalar: "
            "return per-observation values instead (the 1-D array of each observation's "
            "log-likelihood, which fit sums), e.g. `return logpdf(y, mu, sigma)` instead of "
            "`jnp.sum(...)`."
        )
    return -2.0 * np.asarray(loglik, dtype=np.float64) + k * float(np.log(nobs))


# -- likelihood ratio --------------------------------------------------------------------
def _check_fit(fit: Any, role: str) -> None:
    if not all(hasattr(fit, field) for field in ("loglik", "diagnostics", "n_free", "nobs")):
        raise TypeError(
            f"`{role}` must be a FitResult from hj.fit(...), got {type(fit).__name__}."
        )
    if np.ndim(fit.loglik) != 0:
        raise ValueError(
            f"`{role}` is a batch of fits; lr_test compares two single fits: index the batch "
            f"first, e.g. lr_test(restricted[i], full[i])."
        )
    d = fit.diagnostics
    if not bool(d.is_valid):
        reasons = "; ".join(d.problems()) or "the certificate says it is not valid"
        raise ValueError(
            f"the {role} fit is not valid, so its maximized log-likelihood cannot be used in a "
            f"likelihood-ratio test: {reasons}."
        )


def _loglik_tolerance(fit: Any) -> float:
    """How far ``fit.loglik`` may sit from its true maximum through numerics alone.

    Rounding: the noise measured at the estimate (at least eps |llf|), with the
    certificate's margin. Optimization: a valid fit stops where the quadratic
    model still promises a gain of half the Newton decrement g'H^-1 g (below
    ``decrement_tolerance`` / 2 = 5e-7).
    """
    llf = float(fit.loglik)
    d = fit.diagnostics
    noise = float(d.loglik_noise) if d.loglik_noise is not None else np.nan
    noise = max(noise if np.isfinite(noise) else 0.0, EPS * abs(llf))
    decrement = float(d.newton_decrement) if d.newton_decrement is not None else 0.0
    return _NOISE_MULTIPLE * noise + 0.5 * max(decrement if np.isfinite(decrement) else 0.0, 0.0)


def lr_test(restricted: Any, full: Any) -> TestResult:
    """Likelihood-ratio test of a restricted model against the full model it is nested in.

    The statistic 2 (llf_full - llf_restricted) is asymptotically chi-square
    with df = ``full.n_free - restricted.n_free`` degrees of freedom under the
    null hypothesis that the restrictions hold (Wilks 1938). The same as
    statsmodels' ``full_res.compare_lr_test(restricted_res)``, which returns
    ``(statistic, pvalue, df)``.

    The models must be nested (the restricted one is the full one with some
    parameters held at values *inside* their range) and fitted to the same
    data; hessjax checks what it can (the number of observations, the order
    of the log-likelihoods, the degrees of freedom), not the nesting itself.
    The simplest nested pair is one log-likelihood fitted twice, the
    restricted fit with ``fit(..., fixed=...)`` holding the tested parameters
    at their ``init`` values.
    When a restricted value lies on the boundary of the parameter space (a
    variance at 0) the chi-square reference is wrong: see
    ``docs/comparing-models.md``.

    Parameters
    ----------
    restricted : FitResult
        The fit of the smaller (null) model, from :func:`hessjax.fit`.
    full : FitResult
        The fit of the larger model.

    Returns
    -------
    TestResult
        ``statistic`` (float, clipped at 0 when the restricted log-likelihood
        is above the full one by no more than rounding), ``df`` (int) and
        ``pvalue`` (``scipy.stats.chi2.sf(statistic, df)``).

    Raises
    ------
    TypeError
        If either argument is not a :class:`~hessjax.FitResult`.
    ValueError
        If either fit is batched or not valid (``diagnostics.is_valid`` false;
        the message names the fit and quotes ``diagnostics.problems()``), the
        two fits have different ``nobs``, ``df <= 0`` (the arguments are in
        the wrong order or the models are not nested), or the restricted
        log-likelihood exceeds the full one by more than rounding.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> y = np.array([0.3, 1.9, 1.2, 2.4, 0.7, 1.5])
    >>> def restricted(p, y):  # H0: mu = 0, with sigma free in both models
    ...     s = jnp.exp(p["log_sigma"])
    ...     return -0.5 * (y / s) ** 2 - p["log_sigma"]
    >>> def unrestricted(p, y):
    ...     s = jnp.exp(p["log_sigma"])
    ...     return -0.5 * ((y - p["mu"]) / s) ** 2 - p["log_sigma"]
    >>> r = hj.fit(restricted, {"log_sigma": 0.0}, y)
    >>> f = hj.fit(unrestricted, {"mu": 0.0, "log_sigma": 0.0}, y)
    >>> lr = hj.lr_test(r, f)
    >>> lr.df, round(lr.statistic, 4)  # n log(sum y^2 / sum (y - ybar)^2)
    (1, 9.1399)
    >>> print(lr)
    Likelihood-ratio test: chi2(1) = 9.1399, p-value = 0.002501
    >>> bool(np.isclose(lr.statistic, y.size * np.log(np.sum(y**2) / np.sum((y - y.mean())**2))))
    True
    """
    _check_fit(restricted, "restricted")
    _check_fit(full, "full")
    if restricted.nobs != full.nobs:
        raise ValueError(
            f"the fits have different numbers of observations (restricted nobs={restricted.nobs}, "
            f"full nobs={full.nobs}): a likelihood-ratio test compares two models of the same "
            "data. Fit both to the same data, and return per-observation values from both "
            "logliks so hessjax can check it."
        )
    df = int(full.n_free) - int(restricted.n_free)
    if df <= 0:
        raise ValueError(
            f"the full model must have more free parameters than the restricted one, got "
            f"full.n_free={full.n_free} and restricted.n_free={restricted.n_free} (df={df}). "
            "Call lr_test(restricted, full) in that order, with the restricted model nested in "
            "the full one."
        )
    llf_restricted, llf_full = float(restricted.loglik), float(full.loglik)
    statistic = 2.0 * (llf_full - llf_restricted)
    # A nested model cannot fit better than the model it is nested in: a restricted
    # maximum above the full one is numerical (each maximized loglik is off by its
    # rounding noise and by half its Newton decrement, see _loglik_tolerance) or a
    # sign that the models are not nested or the full fit missed its maximum.
    tolerance = _loglik_tolerance(restricted) + _loglik_tolerance(full)
    if llf_restricted - llf_full > tolerance:
        raise ValueError(
            f"the restricted fit has the larger log-likelihood ({llf_restricted:.10g} > "
            f"{llf_full:.10g}, by {llf_restricted - llf_full:.3g}, beyond the rounding "
            f"tolerance {tolerance:.3g}): the models are not nested, the arguments are swapped "
            "(lr_test(restricted, full)), or the full fit stopped at a lower local maximum - "
            "refit it from the restricted estimate."
        )
    statistic = max(statistic, 0.0)
    return TestResult(statistic, df, _chi2_pvalue(statistic, df), "likelihood-ratio")


# -- Wald ---------------------------------------------------------------------------------
def _name_rows(items: list, fit: Any) -> np.ndarray:
    names = tuple(fit.names)
    spec = getattr(getattr(fit, "objective", None), "spec", None)
    groups = (name_groups(spec, names) if spec is not None and spec.size == len(names)
              else {name: (i,) for i, name in enumerate(names)})
    rows = []
    for item in items:
        if item not in groups:
            close = difflib.get_close_matches(item, list(groups), n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"R={item!r} is not a parameter name of this fit; names are as fit.names gives "
                f"them, e.g. {', '.join(map(repr, names[:3]))}.{hint}"
            )
        for i in groups[item]:
            row = np.zeros(len(names))
            row[i] = 1.0
            rows.append(row)
    return np.asarray(rows).reshape(len(rows), len(names))


def wald_restrictions(fit: Any, R: Any, q: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """``(R, q)`` as a float64 ``(k, n)`` matrix and ``(k,)`` vector, validated.

    ``R`` is a matrix over the flattened parameters, one row, a parameter
    name or a list of names (each name a unit row; a leaf name such as
    ``"beta"`` stands for all of its elements). ``q`` is None (zeros), a
    scalar (broadcast) or a length-k vector. Raises ``ValueError`` on bad
    shapes, unknown names and restrictions on fixed parameters.
    """
    names = tuple(fit.names)
    n = len(names)
    if isinstance(R, str) or (isinstance(R, (list, tuple)) and R and all(isinstance(r, str) for r in R)):
        matrix = _name_rows([R] if isinstance(R, str) else [str(r) for r in R], fit)
    else:
        try:
            matrix = np.array(R, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                "`R` must be a (k, n) array over the flattened parameters (fit.names order), a "
                f"length-n row, a parameter name or a list of names; got {R!r}."
            ) from err
        if matrix.ndim == 1:
            matrix = matrix[None, :]
        if matrix.ndim != 2 or matrix.shape[0] == 0:
            raise ValueError(
                f"`R` must be 2-D (k restrictions, n parameters) or 1-D for one restriction; got "
                f"shape {np.shape(R)}."
            )
        if matrix.shape[1] != n:
            raise ValueError(
                f"`R` has {matrix.shape[1]} columns but the fit has n={n} parameters "
                f"({', '.join(names)}): R's columns follow fit.names order."
            )
        if not np.all(np.isfinite(matrix)):
            raise ValueError("`R` has non-finite entries (NaN or inf).")
    k = matrix.shape[0]
    if q is None:
        vector = np.zeros(k)
    else:
        try:
            vector = np.array(q, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"`q` must be a number or a length-{k} vector, got {q!r}.") from err
        if vector.ndim == 0:
            vector = np.full(k, float(vector))
        elif vector.shape != (k,) and not (vector.ndim == 2 and vector.shape in ((k, 1), (1, k))):
            raise ValueError(
                f"`q` must be a number or have one entry per row of R (k={k}); got shape "
                f"{vector.shape}."
            )
        vector = vector.reshape(k)
        if not np.all(np.isfinite(vector)):
            raise ValueError("`q` has non-finite entries (NaN or inf).")
    held = set(fit.fixed)
    fixed = [name for j, name in enumerate(names) if name in held and np.any(matrix[:, j] != 0)]
    if fixed:
        raise ValueError(
            f"`R` restricts the fixed parameter(s) {', '.join(fixed)}: a parameter held at its "
            "init value has no sampling variance to test. Drop those columns' entries, or fit "
            "without fixing them."
        )
    return matrix, vector


def wald_statistic(estimate: np.ndarray, cov: np.ndarray, R: np.ndarray, q: np.ndarray) -> TestResult:
    """(R theta - q)' (R V R')^-1 (R theta - q), chi-square with k = rows of R df.

    Solved through a Cholesky factor of R V R' scaled to unit diagonal (no
    explicit inverse): scaling removes the units of the restrictions before
    :func:`~hessjax.covariance.definiteness` decides whether the matrix is
    positive definite, and the triangular solve keeps the statistic accurate
    to about cond(scaled R V R') eps. Raises ``ValueError`` when R V R' is
    not finite or not positive definite.
    """
    import scipy.linalg  # imported when needed (see _chi2_pvalue)

    residual = R @ np.asarray(estimate, dtype=np.float64) - q
    middle = R @ np.asarray(cov, dtype=np.float64) @ R.T
    middle = 0.5 * (middle + middle.T)
    if not (np.all(np.isfinite(middle)) and np.all(np.isfinite(residual))):
        raise ValueError(
            "the covariance of the restricted combinations R V R' is not finite: the fit has no "
            "usable covariance for these parameters (see fit.diagnostics.problems())."
        )
    scale = np.sqrt(np.abs(np.diag(middle)))
    scale = np.where(scale > 0, scale, 1.0)
    scaled = middle / np.outer(scale, scale)
    lam = np.linalg.eigvalsh(scaled)
    with jax.enable_x64(True):
        pd = bool(definiteness(lam[0], np.max(np.abs(lam)))[0])
    if not pd:
        raise ValueError(
            "R V R' is not positive definite (smallest scaled eigenvalue "
            f"{lam[0]:.3g}): the rows of R are linearly dependent, or they restrict a combination "
            "of parameters with no variance. Drop the redundant rows."
        )
    chol = np.linalg.cholesky(scaled)
    z = scipy.linalg.solve_triangular(chol, residual / scale, lower=True)
    statistic = float(z @ z)
    df = int(R.shape[0])
    return TestResult(statistic, df, _chi2_pvalue(statistic, df), "Wald")
