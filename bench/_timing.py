"""Tiny timing helpers shared by the benchmark scripts (run as scripts, not as tests)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any


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


# -- this tree beside a baseline, in one run --------------------------------------------------


def baseline_tree(root: Path, ref: str, into: Path) -> Path:
    """``git archive REF`` of the repository at ``root``, unpacked below ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", ref],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def at_once(trees: dict[str, Path], argv: list[str], what: str) -> dict[str, dict[str, Any]]:
    """``python ARGV`` in every tree (``PYTHONPATH`` = the tree), all started together so that
    whatever else the machine runs falls on each alike; each prints one JSON object whose
    ``gateway`` is the file of the gateway it imported (checked: that tree's)."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, *argv], cwd=tree, text=True,
            env={**os.environ, "PYTHONPATH": str(tree)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for name, tree in trees.items()
    }  # fmt: skip
    results: dict[str, dict[str, Any]] = {}
    for name, proc in procs.items():
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{what} of {name} failed:\n{err[-3000:]}")
        result = json.loads(out)
        if not str(result.pop("gateway")).startswith(str(trees[name])):
            raise SystemExit(f"{name}: imported another tree's gateway")
        results[name] = result
    return results
