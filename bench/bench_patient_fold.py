"""What one more document costs a patient who already has N in the plan index: the fold the
accept runs in its write transaction (the flags over the patient's entries) and the one the
drain runs after it (the deadlines), for N certificates back to back in one sick-leave case,
this tree beside a git ref, in turn on the machine. CPU ms per call, best of the repeats.

    .venv/bin/python bench/bench_patient_fold.py --baseline main [--sizes 10 100 1000 3000]

The entries are made by each tree's own code (bench/bench_coordination.py's templates), as
the store keeps them: their JSON text, read back and parsed by the fold.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import at_once, baseline_tree, row

ROOT = Path(__file__).resolve().parent.parent


def measure(sizes: list[int], repeats: int) -> dict[str, Any]:
    """In the tree on PYTHONPATH: best CPU seconds of fold and fold_deadlines per size."""
    tree = Path(os.environ["PYTHONPATH"])
    sys.path[:0] = [str(tree / "bench"), str(tree / "tests")]
    from dataclasses import replace
    from datetime import date, timedelta

    from bench_coordination import Templates

    import gateway
    from gateway.exchange.plan_index import fold, fold_deadlines

    base = Templates().entries(7)[0]
    out: dict[str, Any] = {"gateway": gateway.__file__}
    for n in sizes:
        entries = []
        for i in range(n):
            start = date(2015, 1, 1) + timedelta(days=14 * i)
            period = {"start": start.isoformat(), "end": (start + timedelta(days=13)).isoformat()}
            entries.append(
                replace(
                    base,
                    key=f"certificate:c-{i}",
                    document_id=f"c-{i}",
                    message_id=f"c-{i}",
                    facts={**base.facts, "periods": [{**period, "degree": 100}]},
                )
            )
        stored = [(e.to_json().decode(), e.consents_json()) for e in entries]
        new = replace(base, key="certificate:new", document_id="new", message_id="new")
        accept_rows = [("e", base.patient, body, consents) for body, consents in stored]
        drain_rows = [("e", base.patient, body, consents, None) for body, consents in stored]
        best_accept = best_drain = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            fold({base.patient: [new]}, accept_rows)
            t1 = time.process_time()
            fold_deadlines([base.patient], drain_rows)
            t2 = time.process_time()
            best_accept, best_drain = min(best_accept, t1 - t0), min(best_drain, t2 - t1)
        out[str(n)] = [best_accept, best_drain]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="main", help="git ref to measure beside this tree")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 3000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # a child run: its arguments
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.sizes, args.repeats)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-fold-") as tmp:
        trees = {
            f"baseline ({args.baseline})": baseline_tree(ROOT, args.baseline, Path(tmp)),
            "this tree": ROOT,
        }
        argv = [__file__, "--measure", "1", "--sizes", *map(str, args.sizes)]
        argv += ["--repeats", str(args.repeats)]
        results: dict[str, dict[str, Any]] = {}
        for name, tree in trees.items():  # in turn: each alone on the machine
            results.update(at_once({name: tree}, argv, "the run"))
    names = list(trees)
    print("CPU ms per call, best of the repeats (x: baseline / this tree)")
    widths = (36, 22, 14, 9)
    for step, column in (("accept: flags", 0), ("drain: deadlines", 1)):
        print(row(step, names[0][:22], names[1][:14], "x", widths=widths))
        for n in args.sizes:
            a = results[names[0]][str(n)][column] * 1000
            b = results[names[1]][str(n)][column] * 1000
            name = f"  patient with {n:,} certificates"
            print(row(name, f"{a:,.2f}", f"{b:,.2f}", f"{a / b:.1f}", widths=widths))


if __name__ == "__main__":
    main()
