"""Warning classes issued by hessjax.

Every warning the library emits derives from :class:`HessjaxWarning`, so a
single filter (``warnings.simplefilter("error", hessjax.HessjaxWarning)``)
turns all of them into errors.
"""

from __future__ import annotations

import warnings as _warnings

__all__ = [
    "HessjaxWarning",
    "PrecisionWarning",
    "ConvergenceWarning",
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


def warn(message: str, category: type[HessjaxWarning], stacklevel: int = 3) -> None:
    """Issue ``message`` as ``category``; ``stacklevel`` counts from the caller."""
    _warnings.warn(message, category, stacklevel=stacklevel)
