"""Scale-out on PostgreSQL: two separate ``gateway serve`` processes (as on two hosts: each
its own port, one database) take 1,000 messages between them and deliver every one exactly
once; both processes' workers share the deliveries (FOR UPDATE SKIP LOCKED), and the audit
trail both wrote is one unbroken chain."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
from exchange_support import FK7804_XML, certificate_message, run
from test_exchange_crash import TOKEN, Recipient, ready, start_gateway, wait_for, write_config

from gateway.exchange.audit import verify
from gateway.exchange.router import delivery_id
from gateway.exchange.store.postgresql import PostgreSQLStore

N = 1000
PLACEHOLDER = "scale-placeholder"


def test_two_gateways_on_one_postgresql_deliver_1000_messages_once_each(
    tmp_path: Path, postgresql_url: Callable[[], str]
) -> None:
    database = postgresql_url()
    body = certificate_message(FK7804_XML, ("employer",), message_id=PLACEHOLDER)
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
    ids = [f"scale-{i:04d}" for i in range(N)]

    async def main() -> tuple[Counter[str], Counter[str], int, list[object]]:
        recipient = Recipient()
        recipient.gate.set()
        cfg = write_config(tmp_path, await recipient.start(), lease=30.0, database=database)
        gateways = [await start_gateway(cfg) for _ in range(2)]
        try:
            async with aiohttp.ClientSession() as session:
                for _proc, base in gateways:
                    await wait_for(lambda base=base: ready(session, base))
                gate = asyncio.Semaphore(16)

                async def post(n: int, mid: str) -> int:
                    base = gateways[n % 2][1]
                    data = body.replace(PLACEHOLDER.encode(), mid.encode())
                    async with (
                        gate,
                        session.post(f"{base}/messages", data=data, headers=auth) as r,
                    ):
                        return r.status

                statuses = await asyncio.gather(*(post(n, mid) for n, mid in enumerate(ids)))
                assert Counter(statuses) == Counter({202: N})

                async def all_arrived() -> bool:
                    return len(set(recipient.arrivals)) == N

                await wait_for(all_arrived, timeout=300)
        finally:
            for proc, _base in gateways:
                proc.send_signal(signal.SIGTERM)
            for proc, _base in gateways:
                await asyncio.wait_for(proc.wait(), 30)
        await recipient.stop()

        store = PostgreSQLStore(database)
        await store.open()
        try:
            records = [r async for r in store.audit_records()]
            count, breaks = await verify(store.audit_records())
        finally:
            await store.close()
        delivered_by = Counter(r.entry.actor for r in records if r.entry.action == "delivered")
        return Counter(recipient.arrivals), delivered_by, count, list(breaks)

    arrivals, delivered_by, count, breaks = run(main())
    # none lost, none twice
    assert arrivals == Counter({delivery_id(mid, "acme"): 1 for mid in ids})
    assert sum(delivered_by.values()) == N
    assert len(delivered_by) == 2  # both processes' workers delivered a share
    assert count >= 2 * N and breaks == []  # received + delivered, at least, in one chain
