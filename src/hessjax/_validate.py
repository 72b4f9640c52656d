"""Eager argument checks shared by every entry point.

Everything here runs before anything is traced or compiled, on plain Python
and NumPy values, and raises a ``ValueError`` that names the argument, the
accepted range and what to pass instead. Step counts become static loop
bounds of an ``int32`` counter (:func:`hessjax.optimize.base.iterate`), so
they are capped at ``2**31 - 1`` (beyond it the bound would wrap to a negative
number or 0, and the solver would silently take no step). Tolerances become
float64 data of the compiled program (no recompile when they change).

Like SciPy, counts accept integer-valued floats (``max_steps=100.0``) but not
fractional ones, strings or booleans.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "INT32_MAX",
    "is_real",
    "is_integer",
    "check_count",
    "check_max_steps",
    "check_tolerance",
]

#: Largest step count: the loops count steps in int32.
INT32_MAX = 2**31 - 1


def is_real(value) -> bool:
    """A finite real scalar (Python or NumPy), not a bool."""
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    ) and bool(np.isfinite(value))


def is_integer(value) -> bool:
    """A Python or NumPy integer, not a bool (integer-valued floats are not)."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def _integral(value) -> bool:
    """An integer, or a finite float with an integer value (as SciPy accepts for counts)."""
    if is_integer(value):
        return True
    return is_real(value) and float(value) == math.floor(float(value))


def check_count(value, argname: str, default: int, low: int = 1, high: int | None = None) -> int:
    """``value`` (or ``default`` when None) as int, after checking low <= value <= high.

    ``high`` is capped at :data:`INT32_MAX` (the loop counters are int32).
    """
    if value is None:
        return default
    high = INT32_MAX if high is None else min(int(high), INT32_MAX)
    if not (_integral(value) and low <= value <= high):
        if _integral(value) and value > high and high == INT32_MAX:
            fix = f"loop counters are int32: pass {argname}={INT32_MAX} or less"
        elif _integral(value):
            fix = f"pass a value in that range, or omit `{argname}` for the default"
        else:
            fix = f"pass a whole number such as {argname}={max(low, min(default, high))}"
        raise ValueError(f"`{argname}` must be an integer in [{low}, {high}], got {value!r}; {fix}.")
    return int(value)


def check_max_steps(value, default: int, argname: str = "max_steps") -> int:
    """``max_steps``: an integer in [0, 2**31 - 1]; 0 evaluates at the start and stops."""
    return check_count(value, argname, default, low=0)


def check_tolerance(
    value,
    argname: str,
    default: float,
    upper: float | None = None,
    positive: bool = True,
) -> np.float64:
    """``value`` (or ``default`` when None) as float64, after checking its range.

    The value must be finite and > 0 (``positive``; for tolerances where 0 can
    never be met or means "use the default") or >= 0, and below ``upper``
    when given.
    """
    if value is None:
        return np.float64(default)
    low_ok = is_real(value) and (value > 0 if positive else value >= 0)
    if not (low_ok and (upper is None or value < upper)):
        sign = "> 0" if positive else ">= 0"
        bound = f" and < {upper:g}" if upper is not None else ""
        fallback = f"the default {default:.3g}" if default > 0 else "the automatic choice"
        raise ValueError(
            f"`{argname}` must be a finite number {sign}{bound}, got {value!r}; pass such a "
            f"number, or omit `{argname}` for {fallback}."
        )
    return np.float64(value)
