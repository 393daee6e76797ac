"""Latency of one call, as benchmarks report it: the median over repeated single calls after a warm-up."""

from __future__ import annotations

import time
from typing import Any, Callable


def median_latency(fn: Callable[[int], Any], repeats: int = 20, *, warmup: int = 1) -> float:
    """Median wall time in milliseconds of ``fn(i)`` for ``i = warmup .. warmup + repeats - 1``.

    ``fn(0) .. fn(warmup - 1)`` run first and are not timed (caches, lazy structures).
    """
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(warmup, warmup + repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    times.sort()
    mid = len(times) // 2
    return 1e3 * (times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2)
