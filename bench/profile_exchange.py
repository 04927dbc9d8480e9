"""Where the server's CPU per message goes: ``gateway serve`` under 16 saturating posters (the
load of ``bench/bench_exchange.py``: Inera-style FK7804 certificates for Försäkringskassan, a
mock RIVTA SOAP recipient), sampled with py-spy (``pip install -e ".[bench]"``) across every
server process, and each step of the flow's share of the samples in which a server thread held
the GIL (py-spy ``--gil``: running Python or C called with the GIL held, such as lxml; not
waiting for the disk, a queue or the event loop's poll, nor SQLite, which runs without it).

    .venv/bin/python bench/profile_exchange.py                 # this tree, --workers 2, 15 s
    .venv/bin/python bench/profile_exchange.py --compiled      # the mypyc build
    .venv/bin/python bench/profile_exchange.py --top 40        # and the 40 hottest functions

A step's share counts every sample with one of its functions on the stack (shares of nested
steps overlap: "accept request" holds "validate", "copy for the recipient" and the others of
the accept). The sampler slows the server: CPU ms per message under it is above
``bench_exchange``'s; compare shares, not rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_exchange as bx
from _trees import ROOT, compile_in_place, working_copy
from loadgen import saturate

#: (step of the flow, a frame that marks it[, a frame that excludes it]).
STEPS: tuple[tuple[str, ...], ...] = (
    ("accept request (the handler, all below)", "post_message (gateway/exchange/server/"),
    ("  validate (parse, XSD, reader, rules)", "validate_bytes (gateway/validation/service"),
    ("  policy step", "apply_policy (gateway/policy/"),
    ("  copy for the recipient (render)", "render_copy (gateway/transfer/"),
    ("  plan index entry and flags", "index_accepted (gateway/exchange/plan_index/"),
    ("  store the accept (SQL, audit)", "SQLiteStore.accept."),
    ("deliver (claim, SOAP post, settle)", "gateway/exchange/outbox.py"),
    ("  HTTP client", "HttpPoster.post (gateway/exchange/transports/http"),
    ("plan index drain (deadlines)", "drain (gateway/exchange/plan_index/"),
    ("aiohttp server outside the handler", "aiohttp/web_protocol.py", "post_message ("),
    ("logging (access log, outbox log)", "Logger."),
)


def shares(raw: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(busy samples, samples per step, samples per function as the innermost frame)."""
    busy, steps, own = 0, Counter[str](), Counter[str]()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        busy += n
        own[frames[-1]] += n
        for step, marker, *unless in STEPS:
            if marker in stack and not any(u in stack for u in unless):
                steps[step] += n
    return busy, steps, own


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--posters", type=int, default=16)
    ap.add_argument("--compiled", action="store_true", help="the mypyc-compiled build")
    ap.add_argument("--top", type=int, default=0, help="also the N hottest functions")
    ap.add_argument("--keep", type=Path, help="copy py-spy's raw samples to this file")
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit('py-spy is not installed: pip install -e ".[bench]"')
    gateway = [sys.executable, "-m", "gateway"]
    with tempfile.TemporaryDirectory(prefix="profile-exchange-") as tmp_name:
        tmp = Path(tmp_name)
        tree = ROOT
        if args.compiled:
            (tmp / "compiled").mkdir()
            tree = working_copy(tmp / "compiled")
            compile_in_place(tree)
        mock = bx.start([*gateway, "mock-recipient", "--role", "forsakringskassan", "--quiet"])
        config = bx.gateway_config(tmp, f"{mock.url}/rivta", f"sqlite:///{tmp}/gw.db", args.workers)
        server = bx.start(
            [*gateway, "serve", "--config", str(config), "--port", "0"],
            env={"PROMETHEUS_MULTIPROC_DIR": str(tmp), "PYTHONPATH": str(tree)},
        )
        raw = tmp / "samples.raw"
        try:
            endpoint, request = f"{server.url}/messages", bx.request_for(f"p{os.getpid()}")
            asyncio.run(saturate(endpoint, request, count=300, seconds=5, concurrency=16))
            sampler = subprocess.Popen(
                [spy, "record", "--gil", "--rate", "200", "--format", "raw", "--output", str(raw),
                 "--subprocesses", "--pid", str(server.proc.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)  # the sampler attached
            cpu0 = bx.group_cpu(server.proc.pid)
            run = asyncio.run(
                saturate(endpoint, request, count=10**6, seconds=args.seconds,
                         concurrency=args.posters, first=10**6)
            )  # fmt: skip
            time.sleep(1.0)  # the last deliveries
            cpu_ms = (bx.group_cpu(server.proc.pid) - cpu0) * 1000 / max(run.accepted, 1)
            sampler.send_signal(signal.SIGINT)
            sampler.wait(timeout=120)
        finally:
            bx.stop(server)
            bx.stop(mock)
        busy, steps, own = shares(raw)
        if args.keep is not None:
            shutil.copyfile(raw, args.keep)
    build = "compiled" if args.compiled else "pure"
    print(
        f"gateway serve --workers {args.workers} ({build}), {args.posters} posters, "
        f"{args.seconds:g} s under py-spy: {run.rate:.0f} msgs/s, {cpu_ms:.2f} CPU ms a message, "
        f"{busy} samples holding the GIL"
    )
    print(f"{'step of the flow':44} {'share':>6} {'~CPU ms/msg':>11}")
    for step, *_ in STEPS:
        share = steps[step] / max(busy, 1)
        print(f"{step:44} {share:6.1%} {share * cpu_ms:11.2f}")
    if args.top:
        print(f"\nhottest functions (innermost frame), of {busy} samples")
        for name, n in own.most_common(args.top):
            print(f"{n / busy:6.1%}  {name}")


if __name__ == "__main__":
    main()
