"""Warning classes issued by hessjax.

Every warning the library emits derives from :class:`HessjaxWarning`, so a
single filter (``warnings.simplefilter("error", hessjax.HessjaxWarning)``)
turns all of them into errors.
"""

from __future__ import annotations

import os
import sys
import warnings as _warnings

import jax
import jaxlib

__all__ = [
    "HessjaxWarning",
    "PrecisionWarning",
    "ConvergenceWarning",
    "HessianWarning",
    "BoundaryWarning",
    "IntervalWarning",
    "StaleDataWarning",
    "warn",
]


class HessjaxWarning(UserWarning):
    """Base class of every warning issued by hessjax."""


class PrecisionWarning(HessjaxWarning):
    """An input had less than float64 precision and was promoted.

    Digits lost before promotion cannot be recovered: build the arrays as
    float64 inside ``jax.enable_x64(True)`` (or from NumPy float64 arrays
    passed straight to hessjax) to silence this warning.
    """


class ConvergenceWarning(HessjaxWarning):
    """An optimizer stopped without passing its gradient test.

    The result is returned with ``success=False`` and a ``status`` whose
    message says what happened and what to try.
    """


class HessianWarning(HessjaxWarning):
    """A Hessian cannot be trusted.

    The observed information is not positive definite at the estimate
    (standard errors are NaN; ``diagnostics.directions()`` names the flat or
    negative-curvature directions), it understates the curvature on both sides
    at the scale of the SEs (a degenerate optimum), its entries are not finite
    although the function is, or a finite-difference element is undetermined
    (its error estimate as large as the element).
    """


class BoundaryWarning(HessjaxWarning):
    """A Wald interval cannot be used because the estimate is at or near a boundary.

    The log-likelihood is NaN at an end of the 95% Wald interval (the interval
    leaves the parameter space), or it barely drops on one side (the estimate
    is running off to infinity: separation, a variance or probability at its
    bound). Use profile intervals, a bound, more data or a reparametrization;
    ``diagnostics.wald_failures()`` names the parameters.
    """


class IntervalWarning(HessjaxWarning):
    """Profile and Wald intervals disagree materially, a profile interval could
    not be closed (the likelihood is too flat in that direction), or Wald
    intervals / delta-method SEs were requested from a fit whose certificate
    says they cannot be used (``diagnostics.problems()`` says why)."""


class StaleDataWarning(HessjaxWarning):
    """A function read data from its closure or globals, and the data changed.

    JAX compiles values a function reads besides its arguments into the
    program as constants. hessjax noticed the change and recompiled, so the
    result is correct, but every new dataset costs a compilation. Pass data as
    arguments, ``loglik(params, *data)``: one compilation then serves every
    dataset of the same shape.
    """


# Frames in these packages are skipped when attributing a warning.
_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (sys.modules[__name__.rpartition(".")[0]], jax, jaxlib)
)


def _user_stacklevel() -> int:
    """Stack level of the first frame outside hessjax and JAX: the user's line."""
    frame = sys._getframe(2)  # the caller of warn()
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_INTERNAL_DIRS):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[HessjaxWarning]) -> None:
    """Issue ``message`` as ``category``, attributed to the user's calling line."""
    _warnings.warn(message, category, stacklevel=_user_stacklevel())
