"""Exact float64 -> 18-decimal integer quantisation for on-chain reports.

Conversion goes through :class:`fractions.Fraction`, which represents a float64
exactly, so ``floor`` / truncation are exact and identical on every machine (no
intermediate float multiply by ``1e18``, no float32).
"""

from __future__ import annotations

import math
from fractions import Fraction

from mia.protocol.constants import MAX_ABS_DELTA, WAD

__all__ = ["DELTA_MAX", "DELTA_MIN", "WAD", "delta_to_wad", "quality_to_wad"]

DELTA_MAX = MAX_ABS_DELTA
DELTA_MIN = -MAX_ABS_DELTA


def quality_to_wad(q: float) -> int:
    """``floor(q * 1e18)`` clamped to ``[0, 1e18]``; NaN maps to 0 (fail closed)."""
    qf = float(q)
    if math.isnan(qf) or qf <= 0.0:
        return 0
    if qf >= 1.0:
        return WAD
    return min(WAD, max(0, math.floor(Fraction(qf) * WAD)))


def delta_to_wad(delta: float) -> int:
    """``trunc(delta * 1e18)`` (toward zero) clamped to ``[-1e36, 1e36]``; NaN -> 0."""
    df = float(delta)
    if math.isnan(df):
        return 0
    if math.isinf(df):
        return DELTA_MAX if df > 0 else DELTA_MIN
    return min(DELTA_MAX, max(DELTA_MIN, int(Fraction(df) * WAD)))
