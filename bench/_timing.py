"""Tiny timing helpers shared by the benchmark scripts (run as scripts, not as tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from statistics import median


def per_second(fn: Callable[[], object], *, min_time: float = 0.5, repeats: int = 5) -> float:
    """Calls per second: the median of ``repeats`` runs, each at least ``min_time`` long."""
    n = 1
    while True:  # calibrate the batch size
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_time / 5:
            break
        n *= 2
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        rates.append(n / (time.perf_counter() - t0))
    return median(rates)


def row(name: str, *cells: str, widths: tuple[int, ...] = (44, 14, 14, 9)) -> str:
    parts = [name.ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells, widths[1:], strict=False)]
    return " ".join(parts)
