"""The optimum certificate: is the estimate a strict local maximum?

Each flag is computed from exact derivatives at the estimate and judged on the
correlation-scaled observed information S = D^-1 H D^-1 (unit diagonal), so
the verdict does not depend on parameter units.

Flags, their causes and fixes
-----------------------------
converged
    The optimizer's gradient test passed. If false: raise ``max_steps``, start
    closer, rescale parameters, or check the optimizer message.
grad_norm
    Largest absolute gradient component of the log-likelihood. Informational;
    what matters for the estimate is the Newton decrement.
newton_decrement
    g' H^-1 g, exact: twice the predicted log-likelihood gain of one more
    Newton step. Above ``decrement_tolerance`` the estimate is measurably short
    of the maximum (by more than about 1e-4 standard errors).
hessian_is_pd
    The observed information is positive definite beyond ``flat_tolerance``
    (scaled eigenvalues). If false, standard errors are NaN: the model is
    not identified along a flat direction, or the point is a saddle. Fix the
    model (drop or constrain a parameter) or the start; see ``directions``.
min_eigenvalue, max_eigenvalue
    Extreme eigenvalues of the observed information in the parameters' own
    units.
condition_number
    max/min eigenvalue of the scaled information: how much the data
    distinguish the best- from the worst-determined combination of parameters.
    Above 1/flat_tolerance (~4.5e12) the worst combination is numerically
    flat: its standard error would have fewer than three correct digits.
is_saddle
    A negative scaled eigenvalue: the likelihood increases along some
    direction, so this is not a maximum. Refit with ``method="newton"`` (it
    follows negative curvature) or from another start.
at_boundary
    Per parameter: the log-likelihood is not finite at one end of the 95%
    Wald interval, so the interval leaves the parameter space and is invalid.
    Use profile intervals, or reparameterize (log, logit).
is_valid
    converged and hessian_is_pd and not is_saddle and the Newton decrement
    below tolerance: the standard errors can be trusted as far as the
    local quadratic approximation goes.
"""

from __future__ import annotations

import dataclasses
import jax
import jax.numpy as jnp
import numpy as np

from ._precision import EPS
from .covariance import ScaledSpectrum, flat_tolerance

__all__ = ["Diagnostics", "certify", "decrement_tolerance"]

#: Newton decrements above this mean the estimate is short of the maximum by
#: more than about sqrt(tolerance) ~ 1e-4 standard errors.
decrement_tolerance = float(np.sqrt(EPS))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """Certificate of the optimum (see the module docstring for each flag).

    ``str(diagnostics)`` is a one-screen verdict; :meth:`directions` names
    the parameter combinations along flat or negative-curvature directions.

    Examples
    --------
    >>> import numpy as np, jax.numpy as jnp, hessjax as hj
    >>> def loglik(p, y):  # y ~ N(a + b, 1): only a + b is identified
    ...     return -0.5 * jnp.sum((y - p["a"] - p["b"]) ** 2)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     res = hj.fit(loglik, {"a": 0.0, "b": 0.0}, np.array([1.0, 2.0, 3.0]))
    >>> bool(res.diagnostics.is_valid), bool(res.diagnostics.hessian_is_pd)
    (False, False)
    >>> print(res.diagnostics.directions()[0])
    0.707 a - 0.707 b: flat (scaled eigenvalue 0) - a and b are not separately identified
    """

    converged: jax.Array
    grad_norm: jax.Array
    newton_decrement: jax.Array
    hessian_is_pd: jax.Array
    min_eigenvalue: jax.Array
    max_eigenvalue: jax.Array
    condition_number: jax.Array
    is_saddle: jax.Array
    is_valid: jax.Array
    at_boundary: jax.Array
    scaled_eigenvalues: jax.Array
    scaled_eigenvectors: jax.Array
    names: tuple = dataclasses.field(default=(), metadata=dict(static=True))

    def directions(self, threshold: float = 0.1) -> list[str]:
        """Name the flat and negative-curvature directions, worst first.

        Each is a unit vector in scaled coordinates (parameter units divided
        by their curvature scale), showing components above ``threshold``.
        """
        lam = np.asarray(self.scaled_eigenvalues)
        if lam.ndim != 1:
            raise ValueError("directions() needs an unbatched result; index it first.")
        vecs = np.asarray(self.scaled_eigenvectors)
        top = np.max(np.abs(lam)) if lam.size else 0.0
        out = []
        for k in np.argsort(lam):
            value = lam[k]
            flat = abs(value) <= flat_tolerance * top
            negative = value < -flat_tolerance * top
            if not (flat or negative):
                continue
            v = vecs[:, k]
            v = v * np.sign(v[np.argmax(np.abs(v))])
            idx = [i for i in np.argsort(-np.abs(v)) if abs(v[i]) >= threshold]
            # The largest component is positive (sign fixed above) and comes first.
            parts = [f"{v[idx[0]]:.3g} {self.names[idx[0]]}"]
            parts += [f"{'-' if v[i] < 0 else '+'} {abs(v[i]):.3g} {self.names[i]}" for i in idx[1:]]
            combo = " ".join(parts)
            involved = [self.names[i] for i in idx]
            shown = f"{value:.3g}" if abs(value) > EPS * max(top, 1.0) else "0"
            if negative:
                out.append(
                    f"{combo}: negative curvature (scaled eigenvalue {shown}) - the likelihood "
                    "increases along this direction: a saddle, not a maximum"
                )
            else:
                who = (
                    " and ".join(involved)
                    if len(involved) <= 2
                    else ", ".join(involved[:-1]) + " and " + involved[-1]
                )
                what = "are not separately identified" if len(involved) > 1 else "is not identified"
                out.append(f"{combo}: flat (scaled eigenvalue {shown}) - {who} {what}")
        return out

    def __str__(self) -> str:
        from .report import render_diagnostics

        return render_diagnostics(self)

    def _repr_html_(self) -> str:
        from .report import render_diagnostics_html

        return render_diagnostics_html(self)


def certify(
    converged: jax.Array,
    grad: jax.Array,
    hessian: jax.Array,
    cov: jax.Array,
    cholesky_ok: jax.Array,
    spectrum: ScaledSpectrum,
    at_boundary: jax.Array,
    names: tuple,
) -> Diagnostics:
    """Compute the certificate from exact derivatives at the estimate (pure)."""
    lam = spectrum.eigenvalues
    top = jnp.max(jnp.abs(lam))
    pd = jnp.all(jnp.isfinite(lam)) & (lam[0] > flat_tolerance * top) & cholesky_ok
    saddle = lam[0] < -flat_tolerance * top
    decrement = jnp.where(pd, grad @ cov @ grad, jnp.nan)
    raw = jnp.linalg.eigvalsh(0.5 * (hessian + hessian.T))
    condition = jnp.where(lam[0] > 0, lam[-1] / jnp.where(lam[0] > 0, lam[0], 1.0), jnp.inf)
    valid = converged & pd & ~saddle & (decrement <= decrement_tolerance)
    return Diagnostics(
        converged=converged,
        grad_norm=jnp.max(jnp.abs(grad)),
        newton_decrement=decrement,
        hessian_is_pd=pd,
        min_eigenvalue=raw[0],
        max_eigenvalue=raw[-1],
        condition_number=condition,
        is_saddle=saddle,
        is_valid=valid,
        at_boundary=at_boundary,
        scaled_eigenvalues=lam,
        scaled_eigenvectors=spectrum.eigenvectors,
        names=tuple(names),
    )
