"""Number formatting for the journal: a NaN, infinite or missing number reads "n/a", never "nan%"."""

from __future__ import annotations

import math

NA = "n/a"


def finite(x: float | None) -> bool:
    """True for a real, finite number (None, NaN and ±inf are not)."""
    return x is not None and not isinstance(x, bool) and math.isfinite(x)


def pct(x: float | None, signed: bool = True) -> str:
    """A fraction as a percentage with one decimal ("+12.3%"), or "n/a"."""
    if not finite(x):
        return NA
    return f"{x:+.1%}" if signed else f"{x:.1%}"


def num(x: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals, or "n/a"."""
    return f"{x:.{digits}f}" if finite(x) else NA
