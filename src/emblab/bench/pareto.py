"""Quality-vs-bytes comparisons: the Pareto front and the best method at or under a byte budget.

A point is ``(bytes_per_vector, score)``, higher score better. A point is on the Pareto front when
no other point is at least as small *and* at least as good, with one of the two strictly.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


def pareto_front(bytes_per_vector: Sequence[float], scores: Sequence[float]) -> np.ndarray:
    """Boolean mask (n,) of the points on the front.

    Examples
    --------
    >>> pareto_front([32, 64, 64, 128], [0.5, 0.7, 0.6, 0.69]).tolist()
    [True, True, False, False]
    """
    b = np.asarray(bytes_per_vector, np.float64)
    s = np.asarray(scores, np.float64)
    dominated = ((b[None, :] <= b[:, None]) & (s[None, :] >= s[:, None])
                 & ((b[None, :] < b[:, None]) | (s[None, :] > s[:, None])))
    return ~dominated.any(axis=1)


def front_value(bytes_per_vector: Sequence[float], scores: Sequence[float], budget: float) -> float | None:
    """Best score of any point with bytes <= ``budget`` (the front's height there); None if none."""
    b = np.asarray(bytes_per_vector, np.float64)
    s = np.asarray(scores, np.float64)
    ok = b <= budget
    return float(s[ok].max()) if ok.any() else None


def best_under(records: Sequence[dict[str, Any]], budget: float, score: Callable[[dict], float | None],
               keep: Callable[[dict], bool] = lambda r: True) -> dict[str, Any] | None:
    """The record with the highest ``score(r)`` among those with ``bytes_per_vector <= budget``."""
    cands = [(score(r), r) for r in records if keep(r) and r.get("bytes_per_vector") is not None
             and r["bytes_per_vector"] <= budget and score(r) is not None]
    return max(cands, key=lambda c: c[0])[1] if cands else None
