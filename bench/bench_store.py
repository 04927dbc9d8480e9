"""The store alone: how many certificate messages per second each store commits durably
(message + two deliveries + three audit records per message, as the accept pipeline writes
them), by batch size, and how many deliveries per second workers claim and settle.

The server batches concurrent requests into one ``Store.accept`` (group commit); this shows
what that batching buys on each database. SQLite runs in a temporary folder; PostgreSQL in a
fresh schema of the server at ``GATEWAY_BENCH_POSTGRESQL`` (default 127.0.0.1:5432/test),
dropped afterwards.

    .venv/bin/python bench/bench_store.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import row

from gateway import PROJECT_ROOT
from gateway.exchange.audit import content_hash
from gateway.exchange.store import store_for
from gateway.exchange.store.base import (
    AuditEntry,
    DeliveryMode,
    NewDelivery,
    NewMessage,
    Outcome,
    Settlement,
    Store,
)

SERVER = os.environ.get("GATEWAY_BENCH_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
SAMPLE = (
    PROJECT_ROOT.parent
    / "shared"
    / "interop"
    / "sklintyg"
    / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
)
BATCHES = (1, 16, 64)
CALLERS = 16  # concurrent accept calls in flight (the server's request handlers)


def messages(run: str, count: int, payload: bytes) -> list[NewMessage]:
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        mid = f"{run}-{n}"
        out.append(
            NewMessage(
                message_id=mid,
                sender_id="region-vg",
                kind="certificate",
                content_hash=content_hash(payload + mid.encode()),
                received_at=now,
                answer=b'{"id": "%s", "status": "/messages/%s"}' % (mid.encode(), mid.encode()),
                deliveries=(
                    NewDelivery(
                        f"{mid}/fk", "fk", DeliveryMode.PUSH, "xml", "application/xml", payload
                    ),
                    NewDelivery(
                        f"{mid}/employer",
                        "employer",
                        DeliveryMode.PUSH,
                        "fhir-json",
                        "application/fhir+json",
                        payload[: len(payload) // 2],
                    ),
                ),
                audit=(
                    AuditEntry(
                        now, "region-vg", "received", mid, None, {"hash": content_hash(payload)}
                    ),
                    AuditEntry(now, "router", "policy", mid, "fk", {"report": []}),
                    AuditEntry(
                        now, "router", "policy", mid, "employer", {"removed": ["diagnosis"]}
                    ),
                ),
            )
        )
    return out


async def accept_rate(
    store: Store, batch: int, count: int, payload: bytes
) -> tuple[float, float, float]:
    """(messages/s, p50 ms, p99 ms per accept call) with CALLERS calls in flight."""
    todo = messages(secrets.token_hex(4), count, payload)
    chunks = [todo[i : i + batch] for i in range(0, count, batch)]
    gate = asyncio.Semaphore(CALLERS)
    latencies: list[float] = []

    async def one(chunk: list[NewMessage]) -> None:
        async with gate:
            t = time.perf_counter()
            await store.accept(chunk)
            latencies.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in chunks))
    rate = count / (time.perf_counter() - t0)
    latencies.sort()
    return (
        rate,
        statistics.median(latencies),
        latencies[int(len(latencies) * 0.99) - 1 if len(latencies) > 1 else 0],
    )


async def settle_rate(store: Store, workers: int = 4) -> float:
    """Deliveries per second claimed and settled as delivered by ``workers`` workers."""
    done = 0

    async def worker(name: str) -> None:
        nonlocal done
        while True:
            now = datetime.now(UTC)
            claims = await store.claim(
                name, now=now, lease_until=now + timedelta(seconds=60), limit=16
            )
            if not claims:
                return
            for c in claims:
                entry = AuditEntry(
                    now,
                    f"worker:{name}",
                    "delivered",
                    c.message_id,
                    c.recipient_id,
                    {"status": 200},
                )
                await store.settle(
                    c.delivery_id, name, Settlement(Outcome.DELIVERED), [entry], now=now
                )
                done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(f"w{i}") for i in range(workers)))
    return done / (time.perf_counter() - t0)


async def bench(name: str, url: str, count: int, payload: bytes) -> None:
    store = store_for(url)
    await store.open()
    try:
        for batch in BATCHES:
            n = count if batch > 1 else max(count // 4, 200)
            rate, p50, p99 = await accept_rate(store, batch, n, payload)
            print(
                row(
                    f"{name}: accept, {batch} per transaction",
                    f"{rate:,.0f}",
                    f"{p50:.1f}",
                    f"{p99:.1f}",
                )
            )
        print(row(f"{name}: claim + settle (4 workers)", f"{await settle_rate(store):,.0f}"))
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000, help="messages per batched run")
    args = parser.parse_args()
    payload = SAMPLE.read_bytes()
    print(
        f"{len(payload)}-byte certificate, 2 deliveries and 3 audit records per message,"
        f" {CALLERS} callers"
    )
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(row("store: operation", "per s", "p50 ms", "p99 ms"))
    with tempfile.TemporaryDirectory() as folder:
        await bench("sqlite", f"sqlite:///{folder}/bench.db", args.messages, payload)
    schema = f"gw_bench_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        await bench(
            "postgresql", f"{SERVER}?schema={schema}&pool_max={CALLERS}", args.messages, payload
        )
    finally:
        conn = await asyncpg.connect(SERVER)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
