"""Argument checks shared by every boundary: one way to say "a positive integer" or "a finite number".

Each check returns the value in its canonical type and raises the caller's exception class with
the argument's name and the value it got, so messages read the same everywhere.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_integer(value: Any) -> bool:
    """True for Python and numpy integers, never for bools."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(value: Any, name: str, error: type[Exception] = ValueError, minimum: int = 1) -> int:
    """``int(value)`` when it is an integer >= ``minimum``.

    Raises:
        error: naming ``name`` and the value received.

    >>> positive_int(3, "steps")
    3
    >>> positive_int(0, "grid_size", minimum=0)
    0
    """
    if not is_integer(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise error(f"{name} must be {what}, got {value!r}")
    return int(value)


def finite_number(value: Any, name: str, error: type[Exception] = ValueError) -> float:
    """``float(value)`` when it is a finite real number (bools are refused).

    Raises:
        error: naming ``name`` and the value received.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise error(f"{name} must be finite, got {value!r}")
    return float(value)
