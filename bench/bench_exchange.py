"""The exchange server under load on loopback, ``gateway serve --workers 2`` beside a baseline
of bare aiohttp + lxml + SQLite: for 1, 16 and 64 posters, the accepted messages per second
(saturated: every poster posts again as soon as it is answered) and the accept latency at
300 messages/s offered (paced), with each worker process's share of the requests; the
gateway's accepted-to-delivered latency and CPU per message beside them.

The baseline (``BARE_SERVER``) is what any aiohttp server that stores what it validates
costs on this machine: pre-forked like ``gateway serve`` (one socket, N processes), it reads
the body, parses it with lxml (hardened), validates it against Inera's XSD and inserts it into
SQLite (WAL, ``synchronous=FULL``; the messages that arrive together in one durable
transaction, as the gateway's group commit does), then answers 202.

A worker's share is read from the kernel, so it needs nothing of the server: once a phase's
requests are answered, each poster's connection is matched (``/proc/net/tcp``) to the server
process that holds its socket (``/proc/PID/fd``), and the requests of the connection are
counted to that process.

Bounded: every phase stops after ``--count`` messages or ``--seconds``, whichever comes
first; the servers it starts are stopped at the end (SIGTERM, then SIGKILL).

    .venv/bin/python bench/bench_exchange.py                       # SQLite, ~3 min
    .venv/bin/python bench/bench_exchange.py --compiled            # and the compiled build
    .venv/bin/python bench/bench_exchange.py --postgres-too        # and PostgreSQL
    .venv/bin/python bench/bench_exchange.py --posters 16 --rate 300 --rate-seconds 8

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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _trees import ROOT, compile_in_place, working_copy
from loadgen import Run, paced, percentile, saturate

from gateway import FIXTURES_DIR, PROJECT_ROOT

CERTIFICATE = (FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes()
CERT_ID = b"9020fbb9-e387-40b0-ba75-0001"
PATIENT = b"191212121212"
TOKEN = "bench-token"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
INERA_XSD = (
    PROJECT_ROOT.parent
    / "shared/interop/rivta/interactions/RegisterCertificateInteraction"
    / "RegisterCertificateResponder_3.1.xsd"
)
POSTERS = (1, 16, 64)

#: The baseline of the poster sweep: aiohttp + lxml + SQLite, the least a server that parses,
#: validates and durably stores each message costs; pre-forked like ``gateway serve``, and
#: like it committing the messages that arrive together in one transaction (a commit is a
#: flush to disk: one per message would measure the disk, not the server).
BARE_SERVER = """
import asyncio, os, socket, sqlite3, sys
from aiohttp import web
from lxml import etree
db_path, xsd, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
schema = etree.XMLSchema(etree.parse(xsd, parser))

def connect():
    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=10000")
    return db

connect().execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(1024)
print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
for _ in range(workers - 1):
    if os.fork() == 0:
        break
db = connect()
pending = []  # (body, future): the next group commit's
wake = None

def insert(bodies):  # one durable transaction for every message that came meanwhile
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO messages (body) VALUES (?)", [(b,) for b in bodies])
    db.execute("COMMIT")

async def committer(app):
    global wake
    wake = asyncio.Event()
    async def loop():
        while True:
            await wake.wait()
            wake.clear()
            batch = pending[:]
            del pending[:]
            await asyncio.to_thread(insert, [b for b, _ in batch])
            for _, done in batch:
                done.set_result(None)
    task = asyncio.create_task(loop())
    yield
    task.cancel()

async def accept(request):
    body = await request.read()
    try:
        valid = schema.validate(etree.fromstring(body, parser))
    except etree.XMLSyntaxError:
        valid = False
    if not valid:
        return web.json_response({"status": "invalid"}, status=400)
    done = asyncio.get_running_loop().create_future()
    pending.append((body, done))
    wake.set()
    await done
    return web.json_response({"status": "accepted"}, status=202)

app = web.Application(client_max_size=4 * 1024 * 1024)
app.router.add_post("/messages", accept)
app.cleanup_ctx.append(committer)
web.run_app(app, sock=sock, print=None, access_log=None)
"""


def personnummer(n: int) -> bytes:
    """A valid personnummer of its own for message ``n`` (16.8 million before one repeats):
    each message a patient of its own, as a region's traffic is, so the plan index folds
    each into a small index rather than one patient's ever-growing one."""
    day, month, year = 1 + n % 28, 1 + n // 28 % 12, 1950 + n // 336 % 50
    nine = f"{year % 100:02d}{month:02d}{day:02d}{n // 16800 % 1000:03d}"
    total = sum(sum(divmod(int(c) * (2 - i % 2), 10)) for i, c in enumerate(nine))
    return f"{year // 100}{nine}{(10 - total % 10) % 10}".encode()


def certificate(run_id: str, n: int) -> bytes:
    body = CERTIFICATE.replace(CERT_ID, f"{run_id}-{n:07d}".encode())
    return body.replace(PATIENT, personnummer(n))


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


def owners(pgid: int, port: int) -> dict[int, int]:
    """Client port of each connection to ``port`` -> pid of the server process (of process
    group ``pgid``) that holds its socket."""
    pid_of: dict[int, int] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    pid_of[int(link[8:-1])] = int(proc.name)
        except (OSError, ValueError):
            continue
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
                if int(local.rsplit(":", 1)[1], 16) == port and state == "01" and inode in pid_of:
                    found[int(remote.rsplit(":", 1)[1], 16)] = pid_of[inode]
    return found


@dataclass
class Phase:
    """One phase of the poster sweep: its run and the requests each server process took."""

    run: Run
    share: dict[int, int]  # pid -> requests
    cpu_ms: float = float("nan")
    harness_ms: float = float("nan")  # the load generator's and the mock recipient's CPU
    delivered: list[float] = field(default_factory=list)
    undelivered: int = 0

    def shares(self) -> str:
        total = sum(self.share.values()) or 1
        return ":".join(f"{100 * n / total:.0f}" for n in sorted(self.share.values(), reverse=True))


@dataclass
class Sweep:
    name: str
    saturated: dict[int, Phase] = field(default_factory=dict)
    paced: dict[int, Phase] = field(default_factory=dict)


def sweep(
    name: str,
    server: Server,
    args: argparse.Namespace,
    mock_url: str | None,
    run_id: str,
    mock_pgid: int | None = None,
) -> Sweep:
    """Saturated, then paced at ``args.rate``, for each poster count of ``args.posters``."""
    request = request_for(run_id)
    endpoint = f"{server.url}/messages"
    port = int(server.url.rsplit(":", 1)[1])
    pgid = server.proc.pid  # started in a session of its own: its workers share the group
    out = Sweep(name)
    asyncio.run(saturate(endpoint, request, count=200, seconds=5, concurrency=16, first=10**7))
    first = 0
    for posters in args.posters:
        seen: dict[int, int] = {}
        cpu0 = group_cpu(pgid)
        harness0 = time.process_time() + (group_cpu(mock_pgid) if mock_pgid else 0.0)
        run = asyncio.run(
            saturate(endpoint, request, count=args.count, seconds=args.seconds,
                     concurrency=posters, first=first,
                     before_close=lambda seen=seen: seen.update(owners(pgid, port)))
        )  # fmt: skip
        harness = time.process_time() + (group_cpu(mock_pgid) if mock_pgid else 0.0) - harness0
        phase = Phase(run, _share(run, seen), harness_ms=harness * 1000 / max(run.accepted, 1))
        if mock_url is not None:  # the deliveries are part of what a message costs
            keys = {f"{run_id}-{n:07d}" for n in run.accepted_at}
            wait_delivered(mock_url, keys, args.deliver_timeout)
        phase.cpu_ms = (group_cpu(pgid) - cpu0) * 1000 / max(run.accepted, 1)
        out.saturated[posters] = phase
        first += args.count
    for posters in args.posters:
        seen = {}
        count = int(args.rate * args.rate_seconds)
        run = asyncio.run(
            paced(endpoint, request, rate=args.rate, count=count, first=first,
                  connections=posters,
                  before_close=lambda seen=seen: seen.update(owners(pgid, port)))
        )  # fmt: skip
        phase = Phase(run, _share(run, seen))
        if mock_url is not None:
            keys = {f"{run_id}-{n:07d}": t for n, t in run.accepted_at.items()}
            got = wait_delivered(mock_url, set(keys), args.deliver_timeout)
            phase.delivered = [got[k] - t for k, t in keys.items() if k in got]
            phase.undelivered = len(keys) - len(phase.delivered)
        out.paced[posters] = phase
        first += count
    return out


def _share(run: Run, owner: dict[int, int]) -> dict[int, int]:
    share: dict[int, int] = {}
    for client_port, requests in run.per_connection.items():
        pid = owner.get(client_port, 0)  # 0: not found (the connection was closed)
        share[pid] = share.get(pid, 0) + requests
    return share


def _errors(run: Run) -> int:
    return run.failed + sum(c for status, c in run.statuses.items() if status >= 300)


def report_sweeps(sweeps: list[Sweep], args: argparse.Namespace) -> None:
    rate = f"@{args.rate:g}/s"
    print(
        f"\n{'':40}{'saturated':>9}{'':35}{'paced ' + rate:>20}\n"
        f"{'target':40}{'posters':>7} {'msgs/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'workers %':>10}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'workers %':>10} {'deliv p99':>9} {'CPU ms/msg':>10}"
        f" {'harness':>7}  errors"
    )
    for sw in sweeps:
        for posters in args.posters:
            sat, slow = sw.saturated[posters], sw.paced[posters]
            deliv = (
                f"{percentile(slow.delivered, 99) * 1000:9.1f}" if slow.delivered else f"{'-':>9}"
            )
            extra = f" undelivered={slow.undelivered}" if slow.undelivered else ""
            print(
                f"{sw.name if posters == args.posters[0] else '':40}{posters:7d} "
                f"{sat.run.rate:7.0f} {sat.run.percentile(50):7.1f} {sat.run.percentile(99):7.1f} "
                f"{sat.shares():>10} {slow.run.percentile(50):7.1f} {slow.run.percentile(99):7.1f} "
                f"{slow.shares():>10} {deliv} {sat.cpu_ms:10.2f} {sat.harness_ms:7.2f}  "
                f"{_errors(sat.run) + _errors(slow.run)}{extra}"
            )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{os.cpu_count()} cores; load average at the end (1/5/15 min): {load}")
    print(
        f"saturated: each poster posts again when answered, {args.count} messages or "
        f"{args.seconds:g} s; paced: {args.rate:g} msgs/s offered for {args.rate_seconds:g} s "
        "over the posters' connections, latency from each request's scheduled start"
    )
    print(
        "workers %: each server process's share of the requests (largest first); CPU ms/msg: "
        "the server's processes' CPU per accepted message, saturated (accept and delivery); "
        "harness: the load generator's and the mock recipient's, on the same cores"
    )
    print("targets: >= 1000 msgs/s at 16 posters; p99 <= 50 ms at 300 msgs/s")


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
    ap.add_argument("--count", type=int, default=4000, help="messages per saturated phase")
    ap.add_argument("--seconds", type=float, default=8.0, help="time bound of that phase")
    ap.add_argument("--posters", type=int, nargs="+", default=list(POSTERS))
    ap.add_argument("--rate", type=float, default=300.0, help="paced phase: messages/s")
    ap.add_argument("--rate-seconds", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2, help="server processes")
    ap.add_argument("--deliver-timeout", type=float, default=60.0)
    ap.add_argument("--postgres", default=POSTGRES)
    ap.add_argument("--postgres-too", action="store_true", help="the PostgreSQL store as well")
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only (the default)")
    ap.add_argument("--no-gateway", action="store_true", help="the baseline only")
    ap.add_argument(
        "--compiled", action="store_true", help="also the gateway's compiled build (setup.py)"
    )
    args = ap.parse_args()

    sweeps: list[Sweep] = []
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        bare = start(
            [sys.executable, "-c", BARE_SERVER, f"{tmp}/bare.db", str(INERA_XSD),
             str(args.workers)]
        )  # fmt: skip
        try:
            label = f"baseline: aiohttp+lxml+SQLite ({args.workers} proc)"
            sweeps.append(sweep(label, bare, args, None, "bare"))
        finally:
            stop(bare)
        if not args.no_gateway:
            _gateways(args, Path(tmp), sweeps)
    report_sweeps(sweeps, args)


def _gateways(args: argparse.Namespace, tmp: Path, sweeps: list[Sweep]) -> None:
    gateway = [sys.executable, "-m", "gateway"]
    builds: list[tuple[str, Path]] = [("", ROOT)]
    if args.compiled:
        (tmp / "compiled").mkdir()
        copy = working_copy(tmp / "compiled")
        compile_in_place(copy)
        builds.append((", compiled", copy))
    mock = start([*gateway, "mock-recipient", "--role", "forsakringskassan", "--quiet"])
    try:
        databases = [("gateway, SQLite", f"sqlite:///{tmp}/gateway-{{}}.db")]
        with postgres_schema(args.postgres) as schema:
            if args.postgres_too:
                if schema is None:
                    print(f"PostgreSQL at {args.postgres} does not answer: skipped")
                else:
                    sep = "&" if "?" in args.postgres else "?"
                    url = f"{args.postgres}{sep}schema={schema}"  # one schema for both
                    databases.append(("gateway, PostgreSQL", url))
            i = 0
            for name, database in databases:
                for build, tree in builds:
                    workdir = tmp / str(i)
                    workdir.mkdir()
                    config = gateway_config(
                        workdir, f"{mock.url}/rivta", database.format(i), args.workers
                    )
                    server = start(
                        [*gateway, "serve", "--config", str(config), "--port", "0"],
                        env={"PROMETHEUS_MULTIPROC_DIR": str(workdir), "PYTHONPATH": str(tree)},
                    )
                    try:
                        label = f"{name}{build} ({args.workers} proc)"
                        sweeps.append(
                            sweep(label, server, args, mock.url, f"b{i}{os.getpid()}",
                                  mock_pgid=mock.proc.pid)
                        )  # fmt: skip
                    finally:
                        stop(server)
                    i += 1
    finally:
        stop(mock)


if __name__ == "__main__":
    main()
