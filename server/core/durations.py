"""Durations as people read them in messages ("23 h 57 min", not "86181 s" or "0:00:35.5")."""

from __future__ import annotations

import math


def duration_text(seconds: float) -> str:
    """A duration in its two largest units, rounded up so a wait is never understated:
    "45 s", "1 min 5 s", "23 h 57 min", "3 d 4 h"."""
    total = max(0, math.ceil(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return _two(*divmod(total, 60), "min", "s")
    if total < 2 * 86400:
        return _two(*divmod(math.ceil(total / 60), 60), "h", "min")
    return _two(*divmod(math.ceil(total / 3600), 24), "d", "h")


def _two(large: int, small: int, large_unit: str, small_unit: str) -> str:
    return f"{large} {large_unit} {small} {small_unit}" if small else f"{large} {large_unit}"
