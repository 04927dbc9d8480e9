"""A bounded load generator on loopback (count- and time-bounded: it always stops by itself).

Two shapes of load:

* **closed loop** (:func:`saturate`): ``concurrency`` requests in flight until ``count`` are
  answered or ``seconds`` pass: the most the target takes, in messages per second;
* **open loop** (:func:`paced`): requests started at a fixed ``rate`` whatever the answers
  do, each latency measured from its *scheduled* start, so a stall shows in the figures
  instead of slowing the generator down (no coordinated omission).

The client is a few lines of HTTP/1.1 over asyncio streams with keep-alive, not aiohttp's:
it costs the shared CPU a fraction of what a full client does, so more of the machine is
left to the server being measured.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: The n-th request's (body, headers).
Request = Callable[[int], tuple[bytes, dict[str, str]]]
#: Called once every request of a run is answered, before its connections close (e.g. to see
#: which server process holds each connection: :attr:`Run.per_connection`).
BeforeClose = Callable[[], None]


@dataclass
class Run:
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, accepted requests
    accepted_at: dict[int, float] = field(default_factory=dict)  # n -> time.time() of the answer
    answers: dict[int, bytes] = field(default_factory=dict)
    elapsed: float = 0.0
    #: client port of each connection used -> requests answered on it
    per_connection: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        return percentile(self.latencies, p) * 1000


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its answer, then the next."""

    def __init__(self, url: str, ssl: _ssl.SSLContext | None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path or "/"
        self.ssl = ssl if parts.scheme == "https" else None
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.local_port = 0

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
            self.local_port = self._streams[1].get_extra_info("sockname")[1]
        reader, writer = self._streams
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    close = True
            answer = await reader.readexactly(length) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            await self.close()
            raise
        if close:
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def _one(
    conn: Connection, request: Request, n: int, start: float, run: Run, keep_answers: bool
) -> None:
    body, headers = request(n)
    run.sent += 1
    try:
        status, answer = await conn.post(body, headers)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        run.failed += 1
        return
    run.statuses[status] = run.statuses.get(status, 0) + 1
    run.per_connection[conn.local_port] = run.per_connection.get(conn.local_port, 0) + 1
    if status in (200, 201, 202):
        run.accepted += 1
        run.latencies.append(time.perf_counter() - start)
        run.accepted_at[n] = time.time()
        if keep_answers:
            run.answers[n] = answer


async def saturate(
    url: str, request: Request, *, count: int, seconds: float, concurrency: int,
    first: int = 0, ssl: _ssl.SSLContext | None = None, keep_answers: bool = False,
    before_close: BeforeClose | None = None,
) -> Run:  # fmt: skip
    """``count`` requests (or as many as fit in ``seconds``), ``concurrency`` at a time, each
    of the ``concurrency`` posters on a keep-alive connection of its own."""
    run = Run()
    queue = iter(range(first, first + count))
    deadline = time.perf_counter() + seconds
    conns = [Connection(url, ssl) for _ in range(concurrency)]

    async def worker(conn: Connection) -> None:
        for n in queue:
            if time.perf_counter() > deadline:
                return
            await _one(conn, request, n, time.perf_counter(), run, keep_answers)

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(conn) for conn in conns))
        run.elapsed = time.perf_counter() - t0
        if before_close is not None:
            before_close()
    finally:
        for conn in conns:
            await conn.close()
    return run


async def paced(
    url: str, request: Request, *, rate: float, count: int, first: int = 0,
    ssl: _ssl.SSLContext | None = None, keep_answers: bool = False,
    connections: int | None = None, before_close: BeforeClose | None = None,
) -> Run:  # fmt: skip
    """``count`` requests started ``rate`` per second (at most ``count / rate`` seconds of
    sending, plus the last answers). ``connections``: that many posters, each request waiting
    for a free one (its wait counts in its latency); None: a new connection whenever all are
    busy, as a pool without a bound would."""
    run = Run()
    idle: list[Connection] = []  # keep-alive connections between requests, as a pool would
    free: asyncio.Queue[Connection] | None = None
    if connections is not None:
        free = asyncio.Queue()
        for _ in range(connections):
            free.put_nowait(Connection(url, ssl))

    async def one(n: int, scheduled: float) -> None:
        if free is not None:
            conn = await free.get()
            await _one(conn, request, n, scheduled, run, keep_answers)
            free.put_nowait(conn)
            return
        conn = idle.pop() if idle else Connection(url, ssl)
        await _one(conn, request, n, scheduled, run, keep_answers)
        idle.append(conn)

    t0 = time.perf_counter()
    tasks = []
    for i in range(count):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(first + i, scheduled)))
    await asyncio.gather(*tasks)
    run.elapsed = time.perf_counter() - t0
    if before_close is not None:
        before_close()
    while free is not None and not free.empty():
        idle.append(free.get_nowait())
    for conn in idle:
        await conn.close()
    return run
