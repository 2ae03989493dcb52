"""Summaries over repeats: median and spread (min, max, quartiles)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

__all__ = ["summary"]


def summary(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """``{"median", "min", "max", "q1", "q3", "n", "runs"}`` of ``values``."""
    if not values:
        raise ValueError("no values to summarise")
    data = sorted(float(v) for v in values)
    if len(data) >= 2:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    else:
        q1 = q3 = data[0]
    return {
        "median": round(statistics.median(data), digits),
        "min": round(data[0], digits),
        "max": round(data[-1], digits),
        "q1": round(q1, digits),
        "q3": round(q3, digits),
        "n": len(data),
        "runs": [round(float(v), digits) for v in values],
    }
