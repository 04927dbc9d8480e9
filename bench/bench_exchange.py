"""The exchange server under load on loopback: accepted messages per second, accept latency
(p50/p99) and accepted-to-delivered latency, for the embedded SQLite store and PostgreSQL,
beside a baseline: a bare aiohttp handler that reads the body and answers 202 (the most any
aiohttp server on this machine answers, with nothing stored).

Bounded: every phase stops after ``--count`` messages or ``--seconds``, whichever comes
first; the servers it starts are stopped at the end (SIGTERM, then SIGKILL).

    .venv/bin/python bench/bench_exchange.py                 # SQLite and PostgreSQL
    .venv/bin/python bench/bench_exchange.py --no-postgres   # SQLite only

Each message is Inera-style RegisterCertificate (the FK7804 fixture, 5.7 KB) with its own
certificate id, posted by a bearer-token sender to Försäkringskassan, a mock RIVTA SOAP
recipient (``gateway mock-recipient``) in its own process; the accepted-to-delivered latency
is the mock's receipt time minus the 202's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Run, paced, percentile, saturate

from gateway import FIXTURES_DIR

CERTIFICATE = (FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes()
CERT_ID = b"9020fbb9-e387-40b0-ba75-0001"
TOKEN = "bench-token"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

#: The baseline: pre-forked like ``gateway serve`` (one socket, N processes), nothing stored.
ECHO_SERVER = """
import os, socket, sys
from aiohttp import web
async def accept(request):
    await request.read()
    return web.json_response({"status": "accepted"}, status=202)
app = web.Application(client_max_size=4 * 1024 * 1024)
app.router.add_post("/messages", accept)
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(1024)
print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
for _ in range(int(sys.argv[1]) - 1):
    if os.fork() == 0:
        break
web.run_app(app, sock=sock, print=None, access_log=None)
"""


def certificate(run_id: str, n: int) -> bytes:
    return CERTIFICATE.replace(CERT_ID, f"{run_id}-{n:07d}".encode())


def request_for(run_id: str):  # type: ignore[no-untyped-def]
    def request(n: int) -> tuple[bytes, dict[str, str]]:
        return certificate(run_id, n), {
            "Content-Type": "application/xml",
            "Authorization": f"Bearer {TOKEN}",
            "Gateway-Recipients": "fk",
            "Gateway-Message-Id": f"{run_id}-{n:07d}",
        }

    return request


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str


def start(
    argv: list[str], marker: str = "listening on ", env: dict[str, str] | None = None
) -> Server:
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if marker in line:
            # keep reading what it prints (a line per receipt): a full pipe would stall it
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return Server(proc, line.split(marker, 1)[1].split()[0])
        if time.monotonic() > deadline:
            break
    stop(Server(proc, ""))
    raise SystemExit(f"{' '.join(argv[:4])}: did not start")


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGTERM)
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


def gateway_config(directory: Path, fk_url: str, database: str, workers: int) -> Path:
    path = directory / "gateway.toml"
    path.write_text(
        f"""
[server]
database = "{database}"
workers = {workers}

[delivery]
initial_backoff_seconds = 0.2
poll_seconds = 0.05

[[senders]]
id = "region-bench"
token = "{TOKEN}"
kinds = ["certificate"]
recipients = ["fk"]

[[recipients]]
id = "fk"
role = "forsakringskassan"
organisation = "2021005521"
format = "xml"
push = {{ kind = "rivta-soap", url = "{fk_url}", logical_address = "2021005521" }}
""",
        "utf-8",
    )
    return path


def received_at(mock_url: str) -> dict[str, float]:
    """The mock's receipts: certificate id -> receipt time (epoch seconds)."""
    with urllib.request.urlopen(f"{mock_url}/received", timeout=30) as resp:
        listing = json.load(resp)
    return {r["key"]: datetime.fromisoformat(r["at"]).timestamp() for r in listing["received"]}


def wait_delivered(mock_url: str, keys: set[str], seconds: float) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    while True:
        got = received_at(mock_url)
        if keys <= got.keys() or time.monotonic() > deadline:
            return got
        time.sleep(0.25)


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group:
    the server's parent and its forked workers (each started in a session of its own)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp; utime, stime follow at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / ticks


@dataclass
class Figures:
    name: str
    saturated: Run
    at_rate: Run
    delivered: list[float]  # seconds from 202 to receipt
    undelivered: int
    cpu_ms: float = float("nan")  # server CPU per accepted message in the saturated phase


def measure(
    name: str, server: Server, args: argparse.Namespace, mock_url: str | None, run_id: str
) -> Figures:
    request = request_for(run_id)
    endpoint = f"{server.url}/messages"
    warm = asyncio.run(
        saturate(endpoint, request, count=200, seconds=5, concurrency=16, first=10**6)
    )
    if mock_url is not None:
        keys = {f"{run_id}-{n:07d}" for n in warm.accepted_at}
        wait_delivered(mock_url, keys, args.deliver_timeout)
    cpu0 = group_cpu(server.proc.pid)
    sat = asyncio.run(
        saturate(endpoint, request, count=args.count, seconds=args.seconds,
                 concurrency=args.concurrency)
    )  # fmt: skip
    if mock_url is not None:  # let the backlog drain, so the paced phase starts clean
        keys = {f"{run_id}-{n:07d}" for n in sat.accepted_at}
        wait_delivered(mock_url, keys, args.deliver_timeout)
    cpu_ms = (group_cpu(server.proc.pid) - cpu0) * 1000 / max(sat.accepted, 1)
    first = 2 * 10**6
    count = int(args.rate * args.rate_seconds)
    slow = asyncio.run(paced(endpoint, request, rate=args.rate, count=count, first=first))
    delivered: list[float] = []
    missing = 0
    if mock_url is not None:
        keys = {f"{run_id}-{n:07d}": t for n, t in slow.accepted_at.items()}
        got = wait_delivered(mock_url, set(keys), args.deliver_timeout)
        delivered = [got[k] - t for k, t in keys.items() if k in got]
        missing = len(keys) - len(delivered)
    return Figures(name, sat, slow, delivered, missing, cpu_ms)


def report(rows: list[Figures], args: argparse.Namespace) -> None:
    print()
    print(
        f"{'target':34} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8}   "
        f"{'@' + str(int(args.rate)) + '/s p50':>11} {'p99 ms':>8}   "
        f"{'deliv p50':>9} {'p99 ms':>8} {'CPU ms/msg':>10}  errors"
    )
    for f in rows:
        d50 = f"{percentile(f.delivered, 50) * 1000:9.1f}" if f.delivered else f"{'-':>9}"
        d99 = f"{percentile(f.delivered, 99) * 1000:8.1f}" if f.delivered else f"{'-':>8}"
        errors = (
            f.saturated.failed
            + f.at_rate.failed
            + sum(c for s, c in {**f.saturated.statuses}.items() if s >= 300)
        )
        extra = f" undelivered={f.undelivered}" if f.undelivered else ""
        print(
            f"{f.name:34} {f.saturated.rate:8.0f} {f.saturated.percentile(50):8.1f} "
            f"{f.saturated.percentile(99):8.1f}   {f.at_rate.percentile(50):11.1f} "
            f"{f.at_rate.percentile(99):8.1f}   {d50} {d99} {f.cpu_ms:10.2f}  {errors}{extra}"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{os.cpu_count()} cores; load average during the run (1/5/15 min): {load}")
    print(
        "CPU ms/msg: CPU time of the server's processes per accepted message while saturated "
        "(accept and delivery; the capacity of n idle cores is about n x 1000 / it)"
    )
    print(
        f"saturated: {args.concurrency} requests in flight, {args.count} messages or "
        f"{args.seconds:.0f} s; paced: {args.rate:.0f} msgs/s for {args.rate_seconds:.0f} s, "
        "latency from each request's scheduled start"
    )


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str | None]:
    """A schema of our own (dropped afterwards), or None when PostgreSQL does not answer."""
    schema = f"gw_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        import asyncpg  # type: ignore[import-not-found]
    except ImportError:
        yield None
        return

    async def run(sql: str) -> bool:
        try:
            conn = await asyncpg.connect(url, timeout=5)
        except (OSError, asyncpg.PostgresError):
            return False
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
        return True

    if not asyncio.run(run("SELECT 1")):
        yield None
        return
    try:
        yield schema
    finally:
        asyncio.run(run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=6000, help="messages in the saturated phase")
    ap.add_argument("--seconds", type=float, default=10.0, help="time bound of that phase")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rate", type=float, default=300.0, help="paced phase: messages/s")
    ap.add_argument("--rate-seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2, help="gateway processes")
    ap.add_argument("--deliver-timeout", type=float, default=60.0)
    ap.add_argument("--postgres", default=POSTGRES)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-gateway", action="store_true", help="baseline only")
    args = ap.parse_args()

    rows: list[Figures] = []
    echo = start([sys.executable, "-c", ECHO_SERVER, str(args.workers)])
    try:
        label = f"baseline: bare aiohttp 202 ({args.workers} proc)"
        rows.append(measure(label, echo, args, None, "echo"))
    finally:
        stop(echo)
    if not args.no_gateway:
        gateway = [sys.executable, "-m", "gateway"]
        with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
            mock = start([*gateway, "mock-recipient", "--role", "forsakringskassan"])
            try:
                databases = [("gateway, SQLite", f"sqlite:///{tmp}/gateway.db")]
                with postgres_schema(args.postgres) as schema:
                    if not args.no_postgres:
                        if schema is None:
                            print(f"PostgreSQL at {args.postgres} does not answer: skipped")
                        else:
                            sep = "&" if "?" in args.postgres else "?"
                            databases.append(
                                ("gateway, PostgreSQL", f"{args.postgres}{sep}schema={schema}")
                            )
                    for i, (name, database) in enumerate(databases):
                        workdir = Path(tmp) / str(i)
                        workdir.mkdir()
                        config = gateway_config(
                            workdir, f"{mock.url}/rivta", database, args.workers
                        )
                        server = start([*gateway, "serve", "--config", str(config), "--port", "0"])
                        try:
                            label = f"{name} ({args.workers} proc)"
                            rows.append(
                                measure(label, server, args, mock.url, f"b{i}{os.getpid()}")
                            )
                        finally:
                            stop(server)
            finally:
                stop(mock)
    report(rows, args)


if __name__ == "__main__":
    main()
