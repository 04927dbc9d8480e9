"""The console's pages with a full store: how long the operators' overview (and the other
pages) take to render, p50/p95/p99 over sequential requests, beside the bare ``/health``
route and ``/metrics`` (the same outbox figures) in the same run. Target: the overview
≤ 200 ms p95 with 100,000 messages in the store.

The store is filled through ``Store.accept`` (each message: deliveries to a push and a pull
recipient, its audit records of accept time and its delivery outcomes), spread over the last
``--days`` days; about 1 % of deliveries are still open (pending, retrying, offered) and
0.2 % dead letters. The gateway app runs in this process on loopback (``create_app``, no
outbox), an operator logs in with a token, and an aiohttp client requests each page. The
first overview of a process counts the whole day (printed apart); later ones count only the
hours still moving (gateway/console/readmodel/base.py, ``OutcomeCounts``).

    .venv/bin/python bench/bench_console.py [--messages 100000] [--days 30] [--requests 200]
        [--database sqlite|postgresql]

With ``--patients N`` it measures the coordinators' pages instead: the store filled with N
patients' plan index by bench_coordination.py's loader (``populate``: certificates, plans,
§4 notifications, SIPs over 21 regions and 2,000 employers), a coordinator at one region
logged in, and a patient's index page (``POST /console/coordination/patient``, each a
random patient of that region) timed beside the API's ``GET /patients/{id}/plans`` (the same
read function, as the region's EHR) and ``/health`` in the same run; and the region's
deadline list page beside the API's ``GET /deadlines``, and its flags page (every patient of
the deadline list read as the index page reads one).

    .venv/bin/python bench/bench_console.py --patients 100000 [--requests 200]
        [--database sqlite|postgresql]

SQLite runs in a temporary folder; PostgreSQL in a fresh schema of the server at
``GATEWAY_BENCH_POSTGRESQL`` (default 127.0.0.1:5432/test), dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import row

from gateway.exchange.config import parse
from gateway.exchange.server.app import create_app
from gateway.exchange.store import store_for
from gateway.exchange.store.base import (
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    NewDelivery,
    NewMessage,
    Store,
)

SERVER = os.environ.get("GATEWAY_BENCH_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "bench-operator"
CONFIG = {
    "senders": [
        {
            "id": "region-vg",
            "token": "bench-sender",
            "kinds": ["certificate"],
            "recipients": ["fk", "hr"],
        }
    ],
    "recipients": [
        {
            "id": "fk",
            "role": "forsakringskassan",
            "organisation": "2021005521",
            "format": "xml",
            "push": {"kind": "rivta-soap", "url": "https://fk.example/soap"},
        },
        {
            "id": "hr",
            "role": "employer",
            "organisation": "5561234567",
            "format": "fhir-json",
            "pull": True,
            "token": "bench-hr",
        },
    ],
    "users": [{"id": "bench", "role": "operator", "token": TOKEN}],
}


def _message(i: int, at: datetime, rng: random.Random) -> NewMessage:
    mid = f"bench-{i:07d}"
    roll = rng.random()
    if roll < 0.002:
        push_state, outcomes = (
            DeliveryState.DEAD,
            ["attempt-failed", "attempt-failed", "dead-lettered"],
        )
    elif roll < 0.007:
        push_state, outcomes = DeliveryState.RETRYING, ["attempt-failed"]
    elif roll < 0.010:
        push_state, outcomes = DeliveryState.PENDING, []
    else:
        push_state = DeliveryState.DELIVERED
        outcomes = ["attempt-failed", "delivered"] if roll < 0.05 else ["delivered"]
    pull_state = DeliveryState.OFFERED if roll > 0.995 else DeliveryState.DELIVERED
    audit = [
        AuditEntry(at, "region-vg", "received", mid, detail={"sha256": f"{i:064x}"}),
        AuditEntry(at, "region-vg", "validated", mid, detail={"valid": True, "codes": []}),
        AuditEntry(at, "region-vg", "policy", mid, "fk", {"refused": False, "report": []}),
        AuditEntry(at, "region-vg", "policy", mid, "hr", {"refused": False, "report": []}),
    ]
    for n, action in enumerate(outcomes, 1):
        answer = "RegisterCertificate: OK" if action == "delivered" else "HTTP 503"
        audit.append(
            AuditEntry(
                at + timedelta(seconds=n),
                "worker:bench",
                action,
                mid,
                "fk",
                {"attempt": n, "answer": answer},
            )
        )
    if pull_state is DeliveryState.DELIVERED:
        audit.append(AuditEntry(at + timedelta(seconds=30), "hr", "acknowledged", mid, "hr"))
    return NewMessage(
        message_id=mid,
        sender_id="region-vg",
        kind="certificate",
        content_hash=f"{i:064x}",
        received_at=at,
        answer=b"{}",
        deliveries=(
            NewDelivery(
                f"{mid}/fk", "fk", DeliveryMode.PUSH, "xml", "application/xml", b"<x/>", push_state
            ),
            NewDelivery(
                f"{mid}/hr",
                "hr",
                DeliveryMode.PULL,
                "fhir-json",
                "application/fhir+json",
                b"{}",
                pull_state,
            ),
        ),
        audit=tuple(audit),
    )


async def fill(store: Store, messages: int, days: float, now: datetime) -> float:
    rng = random.Random(18)
    started = time.perf_counter()
    span = days * 86400
    batch = []
    for i in range(messages):
        # oldest first, as they would have arrived
        at = (
            now
            - timedelta(seconds=span * (1 - (i + rng.random()) / messages))
            - timedelta(seconds=60)
        )
        batch.append(_message(i, at, rng))
        if len(batch) == 1000:
            await store.accept(batch)
            batch = []
    if batch:
        await store.accept(batch)
    return time.perf_counter() - started


async def timed(fn: Callable[[], Awaitable[int]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status = await fn()
        out.append((time.perf_counter() - t0) * 1000)
        assert status == 200, status
    return out


def figures(ms: list[float]) -> tuple[str, str, str]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"{q[49]:.1f}", f"{q[94]:.1f}", f"{q[98]:.1f}"


async def bench(url: str, messages: int, days: float, requests: int) -> None:
    now = datetime.now(UTC)
    store = store_for(url)
    await store.open()
    took = await fill(store, messages, days, now)
    stats = await store.stats(now=now)
    await store.close()
    print(
        f"store: {url.split('?')[0]}  {messages:,} messages over {days:g} days, filled in "
        f"{took:.0f} s; open {stats.depth:,}, dead {stats.dead:,}"
    )

    app = create_app(parse(CONFIG, overrides={"database": url}), transports={}, run_outbox=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            login = await http.get(f"{base}/console/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', await login.text())
            assert csrf is not None
            # the cookies are Secure: over plain loopback HTTP they are sent by hand
            login_cookie = login.cookies["__Host-gateway-console-login"].value
            answer = await http.post(
                f"{base}/console/login",
                data={"csrf": csrf.group(1), "token": TOKEN},
                headers={
                    "Cookie": f"__Host-gateway-console-login={login_cookie}",
                    "Sec-Fetch-Site": "same-origin",
                },
                allow_redirects=False,
            )
            assert answer.status == 303, await answer.text()
            secret = answer.cookies["__Host-gateway-console"].value
            session = {"Cookie": f"__Host-gateway-console={secret}"}
            dead_one = "bench-0000000"

            def get(
                path: str, headers: dict[str, str] | None = None
            ) -> Callable[[], Awaitable[int]]:
                async def call() -> int:
                    async with http.get(
                        f"{base}{path}", headers=headers or {}, allow_redirects=False
                    ) as r:
                        await r.read()
                        return r.status

                return call

            t0 = time.perf_counter()
            overview = await (await http.get(f"{base}/console/", headers=session)).text()
            first = (time.perf_counter() - t0) * 1000  # counts the whole day once
            shown = re.search(r'data-figure="dead">(?:<a [^>]*>)?(\d+)', overview)
            assert shown is not None and int(shown.group(1)) == stats.dead, "not the overview"
            search = await (
                await http.get(f"{base}/console/messages?state=dead", headers=session)
            ).text()
            found = re.search(r'/console/messages/(bench-\d+)"', search)
            dead_one = found.group(1) if found else dead_one
            pages = [
                ("GET /health (bare route, baseline)", get("/health")),
                ("GET /metrics (the same outbox figures)", get("/metrics")),
                ("GET /console/ (overview)", get("/console/", session)),
                ("GET /console/live/overview (refresh)", get("/console/live/overview", session)),
                ("GET /console/messages?state=dead", get("/console/messages?state=dead", session)),
                (
                    "GET /console/messages?sender=region-vg",
                    get("/console/messages?sender=region-vg", session),
                ),
                (
                    "GET /console/messages/ID (one message)",
                    get(f"/console/messages/{dead_one}", session),
                ),
                ("GET /console/audit (newest 50)", get("/console/audit", session)),
                ("GET /console/recipients", get("/console/recipients", session)),
            ]
            for _name, call in pages:  # warm every page once (caches, templates)
                await timed(call, 3)
            print(f"first overview of this process (every hour of the day counted): {first:.0f} ms")
            print(row("request", "p50 ms", "p95 ms", "p99 ms"))
            for name, call in pages:
                ms = await timed(call, requests)
                print(row(name, *figures(ms)))
    finally:
        await runner.cleanup()


async def _login(http: aiohttp.ClientSession, base: str, token: str) -> dict[str, str]:
    """A console session by token (the Secure cookies sent by hand over loopback HTTP)."""
    login = await http.get(f"{base}/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await login.text())
    assert csrf is not None
    login_cookie = login.cookies["__Host-gateway-console-login"].value
    answer = await http.post(
        f"{base}/console/login",
        data={"csrf": csrf.group(1), "token": token},
        headers={
            "Cookie": f"__Host-gateway-console-login={login_cookie}",
            "Sec-Fetch-Site": "same-origin",
        },
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    return {"Cookie": f"__Host-gateway-console={answer.cookies['__Host-gateway-console'].value}"}


async def bench_coordination(url: str, patients: int, requests: int) -> None:
    """The coordinators' pages with ``patients`` patients in the plan index."""
    import bench_coordination as loader

    store = store_for(url)
    await store.open()
    took = await loader.populate(store, patients)
    await store.close()
    print(f"store: {url.split('?')[0]}  {patients:,} patients' plan index, filled in {took:.0f} s")
    region = loader.region_org(0)
    config = {
        "senders": [
            {
                "id": "region-ehr",
                "token": "bench-ehr",
                "role": "region",
                "organisation": region,
                "kinds": ["certificate"],
                "recipients": ["fk"],
            }
        ],
        "recipients": [
            {
                "id": "fk",
                "role": "forsakringskassan",
                "organisation": loader.FK,
                "format": "xml",
                "push": {"kind": "rivta-soap", "url": "https://fk.example/soap"},
            }
        ],
        "users": [
            {
                "id": "kim",
                "role": "coordinator",
                "organisation": region,
                "actor_role": "region",
                "token": TOKEN,
            }
        ],
    }
    now = loader.T0 + timedelta(days=200)  # the loader's cases are under way then
    app = create_app(
        parse(config, overrides={"database": url}),
        transports={},
        run_outbox=False,
        clock=lambda: now,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    rng = random.Random(17)
    # patients of the coordinator's region (the loader's region of patient n: n % 21)
    mine = [loader.person(n) for n in range(0, patients, loader.REGIONS)]
    api = {"Authorization": "Bearer bench-ehr"}
    try:
        async with aiohttp.ClientSession() as http:
            session = await _login(http, base, TOKEN)
            page = await http.get(f"{base}/console/coordination/", headers=session)
            csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text())
            assert csrf is not None
            form_headers = {**session, "Sec-Fetch-Site": "same-origin"}

            async def index_page() -> int:
                pnr = rng.choice(mine)
                async with http.post(
                    f"{base}/console/coordination/patient",
                    data={"csrf": csrf.group(1), "patient": pnr},
                    headers=form_headers,
                ) as r:
                    body = await r.text()
                    assert "data-entry=" in body, "the page shows no entry"
                    return r.status

            async def index_api() -> int:
                async with http.get(f"{base}/patients/{rng.choice(mine)}/plans", headers=api) as r:
                    await r.read()
                    return r.status

            def get(path: str, headers: dict[str, str]) -> Callable[[], Awaitable[int]]:
                async def call() -> int:
                    async with http.get(f"{base}{path}", headers=headers) as r:
                        await r.read()
                        return r.status

                return call

            pages = [
                ("GET /health (bare route, baseline)", get("/health", {})),
                ("GET /patients/{id}/plans (API, same read)", index_api),
                ("POST /console/coordination/patient", index_page),
                ("GET /deadlines?limit=200 (API, the list)", get("/deadlines?limit=200", api)),
                (
                    "GET /console/coordination/deadlines",
                    get("/console/coordination/deadlines", session),
                ),
                (  # every patient of the deadline list read and audited
                    "GET /console/coordination/flags",
                    get("/console/coordination/flags", session),
                ),
            ]
            for _name, call in pages:
                await timed(call, 3)
            print(row("request", "p50 ms", "p95 ms", "p99 ms"))
            for name, call in pages:
                ms = await timed(call, requests)
                print(row(name, *figures(ms)))
            async with http.get(f"{base}/console/coordination/flags", headers=session) as r:
                read = re.search(r"\((\d+) patient", await r.text())
            print(f"the flags page reads {read[1] if read else '?'} patients of the deadline list")
    finally:
        await runner.cleanup()


async def _postgresql(messages: int, days: float, requests: int, patients: int = 0) -> None:
    schema = f"bench_console_{secrets.token_hex(4)}"
    try:
        if patients:
            await bench_coordination(f"{SERVER}?schema={schema}", patients, requests)
        else:
            await bench(f"{SERVER}?schema={schema}", messages, days, requests)
    finally:
        conn = await asyncpg.connect(SERVER)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--patients",
        type=int,
        default=0,
        help="measure the coordinators' pages with this many patients",
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.database == "postgresql":
        asyncio.run(_postgresql(args.messages, args.days, args.requests, args.patients))
        return
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        url = f"sqlite:///{tmp}/gateway.db"
        if args.patients:
            asyncio.run(bench_coordination(url, args.patients, args.requests))
        else:
            asyncio.run(bench(url, args.messages, args.days, args.requests))


if __name__ == "__main__":
    main()
