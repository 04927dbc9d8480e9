"""Memory stays flat: RSS of one ``gateway serve`` process (embedded SQLite) before and after
10,000 messages accepted and delivered, beside the target (growth < 50 MB).

    .venv/bin/python bench/bench_exchange_memory.py [--count 10000]

Each message is the FK7804 RIVTA fixture with its own message id, posted to Försäkringskassan
(pushed to a recipient in this process that answers 200). RSS is read from /proc after a
warm-up of 500 messages (caches, compiled schemas, the first pages of the database), and again
once all messages are delivered. Bounded: ``--seconds`` stops the run; the server is stopped
at the end.
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
from pathlib import Path

import aiohttp
from aiohttp import web

from gateway import PROJECT_ROOT

CERT = (PROJECT_ROOT / "fixtures" / "certificate" / "fk7804-valid.xml").read_bytes()
TOKEN = "memory-bench"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def main(count: int, seconds: float, concurrency: int) -> None:
    received: set[str] = set()

    async def recipient(request: web.Request) -> web.Response:
        await request.read()
        received.add(request.headers.get("Idempotency-Key", ""))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/fk", recipient)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    tmp = Path(tempfile.mkdtemp(prefix="gw-mem-"))
    cfg = tmp / "gw.toml"
    cfg.write_text(
        f"""
[server]
database = "sqlite:///{tmp}/gw.db"
[delivery]
poll_seconds = 0.05
concurrency = 32
[[senders]]
id = "region"
token = "{TOKEN}"
kinds = ["certificate"]
recipients = ["fk"]
[[recipients]]
id = "fk"
role = "forsakringskassan"
organisation = "2021005521"
format = "xml"
push = {{ kind = "fhir", url = "http://127.0.0.1:{port}/fk" }}
""",
        "utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(cfg), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    base = line.split("listening on ", 1)[1].split()[0]
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/xml",
        "Gateway-Recipients": "fk",
    }
    deadline = time.monotonic() + seconds
    try:
        async with aiohttp.ClientSession() as session:
            sem = asyncio.Semaphore(concurrency)

            async def post(n: int) -> None:
                async with sem:
                    h = {**headers, "Gateway-Message-Id": f"mem-{n:06d}"}
                    async with session.post(f"{base}/messages", data=CERT, headers=h) as r:
                        assert r.status == 202, await r.text()

            async def batch(first: int, last: int) -> int:
                done = first
                for start in range(first, last, 500):
                    if time.monotonic() > deadline:
                        break
                    end = min(last, start + 500)
                    await asyncio.gather(*(post(n) for n in range(start, end)))
                    done = end
                while len(received) < done and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                return done

            warm = await batch(0, 500)
            before = rss_mb(proc.pid)
            started = time.monotonic()
            done = await batch(warm, warm + count)
            elapsed = time.monotonic() - started
            after = rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        await runner.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    sent = done - warm
    print(f"{'messages accepted and delivered':40} {sent:>10,}  ({sent / elapsed:,.0f}/s)")
    print(f"{'RSS after warm-up (MB)':40} {before:>10.1f}")
    print(f"{'RSS after (MB)':40} {after:>10.1f}")
    print(f"{'growth (MB)':40} {after - before:>10.1f}   target < 50")
    if len(received) < done:
        print(f"undelivered at the time bound: {done - len(received)}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    asyncio.run(main(args.count, args.seconds, args.concurrency))
