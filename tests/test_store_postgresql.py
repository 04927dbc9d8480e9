"""What only the PostgreSQL store has to show: several processes on one database. Each store
object below has its own connection pool, so to the server they are separate clients, exactly
as separate gateway processes are. (The behaviour both stores share is in the store suite.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from gateway.exchange.audit import verify
from gateway.exchange.store import store_for
from gateway.exchange.store.base import (
    AcceptStatus,
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    NewDelivery,
    NewMessage,
    Outcome,
    Settlement,
    StoreError,
    migrations,
)
from gateway.exchange.store.postgresql import PostgreSQLStore, redacted, split_url

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def message(n: int, *, content: str = "c", consent: str | None = None) -> NewMessage:
    mid = f"msg-{n}"
    return NewMessage(
        message_id=mid,
        sender_id="region",
        kind="certificate",
        content_hash=content,
        received_at=T0,
        answer=b'{"id": "%s"}' % mid.encode(),
        deliveries=tuple(
            NewDelivery(f"{mid}/{r}", r, DeliveryMode.PUSH, "xml", "application/xml", b"<x/>")
            for r in ("employer", "forsakringskassan")
        ),
        audit=(AuditEntry(T0, "region", "received", mid, None, {"hash": content}),),
        consent_key=consent,
    )


async def opened(url: str, count: int, *, caller_clock: bool = False) -> list[PostgreSQLStore]:
    stores = [PostgreSQLStore(url, caller_clock=caller_clock) for _ in range(count)]
    await asyncio.gather(*(s.open() for s in stores))
    return stores


async def close_all(stores: list[PostgreSQLStore]) -> None:
    await asyncio.gather(*(s.close() for s in stores))


def test_processes_starting_at_once_apply_each_migration_once(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> list[tuple[int, str]]:
        stores = await opened(postgresql_url(), 5)  # all race for a schema that is not there
        try:
            rows = await stores[0].pool.fetch(
                "SELECT version, name FROM schema_migrations ORDER BY version"
            )
            return [(r[0], r[1]) for r in rows]
        finally:
            await close_all(stores)

    assert asyncio.run(run()) == [(v, n) for v, n, _ in migrations("postgresql")]


def test_concurrent_accepts_from_several_processes_keep_one_unbroken_audit_chain(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> tuple[int, list[object], list[int], Counter[AcceptStatus]]:
        stores = await opened(postgresql_url(), 3)
        try:
            batches = [[message(n) for n in range(b * 10, b * 10 + 10)] for b in range(12)]
            outcomes = await asyncio.gather(
                *(stores[i % 3].accept(batch) for i, batch in enumerate(batches))
            )
            statuses = Counter(r.status for results in outcomes for r in results)
            count, breaks = await verify(stores[1].audit_records())
            seqs = [r.seq async for r in stores[2].audit_records()]
            return count, list(breaks), seqs, statuses
        finally:
            await close_all(stores)

    count, breaks, seqs, statuses = asyncio.run(run())
    assert statuses == Counter({AcceptStatus.ACCEPTED: 120})
    assert (count, breaks) == (120, [])
    assert seqs == list(range(1, 121))


def test_the_same_id_or_consent_from_two_processes_at_once_is_stored_once(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> tuple[list[AcceptStatus], list[AcceptStatus], list[AcceptStatus], int]:
        a, b = await opened(postgresql_url(), 2)
        try:
            same = await asyncio.gather(*(s.accept([message(1)]) for s in (a, b, a, b)))
            other = await asyncio.gather(
                a.accept([message(2, content="one")]), b.accept([message(2, content="two")])
            )
            consent = await asyncio.gather(
                a.accept([message(3, consent="consent-7")]),
                b.accept([message(4, consent="consent-7")]),
            )
            rows = await a.pool.fetchval("SELECT count(*) FROM deliveries")
            return (
                sorted(r[0].status for r in same),
                sorted(r[0].status for r in other),
                sorted(r[0].status for r in consent),
                rows,
            )
        finally:
            await close_all([a, b])

    same, other, consent, rows = asyncio.run(run())
    assert same == sorted([AcceptStatus.ACCEPTED] + [AcceptStatus.DUPLICATE] * 3)
    assert other == sorted([AcceptStatus.ACCEPTED, AcceptStatus.CONFLICT])
    assert consent == sorted([AcceptStatus.ACCEPTED, AcceptStatus.CONSENT_USED])
    assert rows == 2 * 3  # messages 1, 2 and one of 3/4, two deliveries each


def test_workers_in_several_processes_never_hold_one_delivery_at_once(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> tuple[list[str], int]:
        stores = await opened(postgresql_url(), 3)
        try:
            await stores[0].accept([message(n) for n in range(100)])

            async def worker(store: PostgreSQLStore, name: str) -> list[str]:
                got: list[str] = []
                while claims := await store.claim(name, now=T0, lease=LEASE, limit=7):
                    got += [c.delivery_id for c in claims]
                return got

            held = await asyncio.gather(*(worker(stores[i % 3], f"w{i}") for i in range(6)))
            depth = (await stores[1].stats(now=T0)).depth
            return [d for ids in held for d in ids], depth
        finally:
            await close_all(stores)

    claimed, depth = asyncio.run(run())
    assert len(claimed) == 200
    assert len(set(claimed)) == 200  # each delivery claimed exactly once
    assert depth == 200  # claimed is not delivered: still in the outbox


def test_a_crashed_workers_claims_come_back_and_only_the_new_holder_settles(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> tuple[list[str], list[str], list[str], tuple[bool, bool], list[str]]:
        a, b = await opened(postgresql_url(), 2, caller_clock=True)  # the test moves time
        try:
            await a.accept([message(1)])
            first = await a.claim("crashed", now=T0, lease=LEASE, limit=10)
            during = await b.claim("w2", now=T0 + LEASE / 2, lease=LEASE, limit=10)
            later = T0 + LEASE
            after = await b.claim("w2", now=later, lease=LEASE, limit=10)
            done = Settlement(Outcome.DELIVERED)
            d = first[0].delivery_id

            def fact(worker: str) -> list[AuditEntry]:
                return [AuditEntry(later, worker, "delivered", "msg-1", "employer")]

            old = await a.settle(d, first[0].token, done, fact("crashed"), now=later)
            new = await b.settle(d, after[0].token, done, fact("w2"), now=later)
            actors = [r.entry.actor async for r in a.audit_records()]
            return (
                [c.delivery_id for c in first],
                [c.delivery_id for c in during],
                [c.delivery_id for c in after],
                (old, new),
                actors,
            )
        finally:
            await close_all([a, b])

    first, during, after, settled, actors = asyncio.run(run())
    assert first == ["msg-1/employer", "msg-1/forsakringskassan"]
    assert during == []
    assert after == first
    assert settled == (False, True)
    assert actors == ["region", "w2"]  # the late settlement wrote nothing, its audit neither


def test_the_database_refuses_to_change_or_remove_audit_records(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> list[str]:
        (store,) = await opened(postgresql_url(), 1)
        refusals = []
        try:
            await store.accept([message(1)])
            assert [r.seq async for r in store.audit_records()] == [1]
            for sql in (
                "UPDATE audit SET actor = 'someone else'",
                "DELETE FROM audit",
                "TRUNCATE audit",
            ):
                try:
                    await store.pool.execute(sql)
                except asyncpg.RaiseError as exc:
                    refusals.append(str(exc))
        finally:
            await store.close()
        return refusals

    assert asyncio.run(run()) == ["the audit trail is append-only"] * 3


def test_an_unreachable_database_is_a_store_error_naming_it_without_the_password() -> None:
    async def run() -> str:
        store = PostgreSQLStore("postgresql://gw:s3cret@127.0.0.1:1/test")
        with pytest.raises(StoreError) as caught:
            await store.open()
        assert (await store.health() or "").startswith("the store is not open")
        return str(caught.value)

    text = asyncio.run(run())
    assert text.startswith("PostgreSQL postgresql://gw:***@127.0.0.1:1/test: ")
    assert "s3cret" not in text


def test_our_url_options_are_taken_out_and_checked() -> None:
    dsn, ours = split_url("postgres://u@h:5432/db?schema=gw_1&sslmode=require&pool_max=3")
    assert dsn == "postgresql://u@h:5432/db?sslmode=require"
    assert ours == {"schema": "gw_1", "pool_max": "3"}
    assert redacted("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    # no password: nothing to mask, shown as it is (not "u:***@")
    assert redacted("postgresql://u@h/db") == "postgresql://u@h/db"
    assert (
        redacted("postgres://h:5432/db?sslmode=require") == "postgres://h:5432/db?sslmode=require"
    )
    assert redacted("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert isinstance(store_for("postgresql://h/db"), PostgreSQLStore)
    with pytest.raises(ValueError, match="schema 'Drop;'"):
        PostgreSQLStore("postgresql://h/db?schema=Drop;")
    with pytest.raises(ValueError, match="pool_min/pool_max"):
        PostgreSQLStore("postgresql://h/db?pool_max=many")


def test_tampering_by_someone_who_disables_the_guard_shows_in_verify(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        (store,) = await opened(postgresql_url(), 1)

        async def breaks() -> list[tuple[int, str]]:
            _count, found = await verify(store.audit_records())
            return [(b.seq, b.problem.split(" ")[0]) for b in found]

        try:
            for n in range(4):
                await store.accept([message(n)])
            assert await breaks() == []
            await store.pool.execute("ALTER TABLE audit DISABLE TRIGGER USER")
            await store.pool.execute(
                """UPDATE audit SET detail = '{"hash":"forged"}' WHERE seq = 2"""
            )
            changed = await breaks()
            await store.pool.execute("DELETE FROM audit WHERE seq = 3")
            return changed, await breaks()
        finally:
            await store.close()

    changed, removed = asyncio.run(run())
    assert changed == [(2, "its")]
    assert removed == [(2, "its"), (4, "expected"), (4, "does")]


def test_the_sealer_is_woken_by_writes_and_not_by_its_own_sealing(
    postgresql_url: Callable[[], str],
) -> None:
    async def run() -> tuple[bool, int, bool, int]:
        (store,) = await opened(postgresql_url(), 1)
        try:
            store._wake.clear()
            await store.accept([message(1)])
            woken = store._wake.is_set()
            store._wake.clear()
            moved = await store._seal()
            return woken, moved, store._wake.is_set(), await store._seal()
        finally:
            await store.close()

    # (a background round may have sealed the entry first: then this one moves nothing)
    woken, moved, rewoken, again = asyncio.run(run())
    assert (woken, rewoken, again) == (True, False, 0)
    assert moved in (0, 1)


def test_audit_facts_a_killed_process_left_unchained_are_chained_by_the_next(
    postgresql_url: Callable[[], str],
) -> None:
    """A process killed between its commit and its sealer's turn leaves facts pending (as
    the raw insert below does); any other process chains them, in order, after the head."""
    url = postgresql_url()

    async def run() -> tuple[list[tuple[int, str, str | None]], int]:
        (first,) = await opened(url, 1)
        await first.accept([message(1)])
        await first.close()
        conn = await asyncpg.connect(split_url(url)[0])
        try:
            schema = split_url(url)[1]["schema"]
            await conn.execute(
                f'INSERT INTO "{schema}".audit_pending (at, actor, action, message_id, detail)'
                " VALUES ($1, 'worker:gone', 'attempt', 'msg-1', '{}'),"
                " ($1, 'worker:gone', 'delivered', 'msg-1', '{}')",
                T0,
            )
        finally:
            await conn.close()
        (second,) = await opened(url, 1)
        try:
            records = [r async for r in second.audit_records()]
            _count, breaks = await verify(second.audit_records())
        finally:
            await second.close()
        return [(r.seq, r.entry.action, r.entry.message_id) for r in records], len(breaks)

    records, breaks = asyncio.run(run())
    assert records == [(1, "received", "msg-1"), (2, "attempt", "msg-1"), (3, "delivered", "msg-1")]
    assert breaks == 0


def test_without_a_schema_option_the_store_migrates_the_search_paths_schema(
    postgresql_url: Callable[[], str],
) -> None:
    """The production default: no ``schema=``, the role's search path decides (here set
    through asyncpg's own URL option, to stay inside this session's schemas)."""
    dsn, ours = split_url(postgresql_url())

    async def run() -> tuple[list[int], int]:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'CREATE SCHEMA "{ours["schema"]}"')
        finally:
            await conn.close()
        url = f"{dsn}?search_path={ours['schema']}"
        stores = await opened(url, 2)
        try:
            assert stores[0].schema is None
            await stores[1].accept([message(1)])
            versions = await stores[0].pool.fetch("SELECT version FROM schema_migrations")
            return [r[0] for r in versions], len([r async for r in stores[0].audit_records()])
        finally:
            await close_all(stores)

    versions, records = asyncio.run(run())
    assert versions == [v for v, _n, _s in migrations("postgresql")]
    assert records == 1


def test_the_database_clock_decides_leases_not_a_host_clock_that_runs_ahead(
    postgresql_url: Callable[[], str],
) -> None:
    """Two processes whose own clocks disagree by an hour: the one running ahead cannot take
    over the other's live lease, nor claim a retry before it is due; a message accepted by a
    process whose clock runs behind is due at once. (Each store passes its own wrong clock as
    ``now``; the database's now() decides.)"""
    real = datetime.now(UTC)
    ahead, behind = real + timedelta(hours=1), real - timedelta(hours=1)

    async def run() -> tuple[int, int, int, int, int]:
        a, b = await opened(postgresql_url(), 2)  # the production mode: the database's clock
        try:
            await a.accept([message(1)])
            held = await a.claim("a", now=real, lease=LEASE, limit=10)
            taken = await b.claim("b", now=ahead, lease=LEASE, limit=10)  # B's clock: +1 h
            retry = Settlement(Outcome.RETRY, "503", timedelta(seconds=60))
            for c in held:
                assert await a.settle(c.delivery_id, c.token, retry, [], now=real)
            early = await b.claim("b", now=ahead, lease=LEASE, limit=10)
            late_msg = replace(message(2), received_at=behind)
            await b.accept([late_msg])  # stamped an hour ago by B's clock, due now
            fresh = await a.claim("a", now=behind, lease=LEASE, limit=10)
            return (
                len(held),
                len(taken),
                len(early),
                len(fresh),
                len(await b.claim("b", now=ahead, lease=LEASE, limit=10)),
            )
        finally:
            await close_all([a, b])

    held, taken, early, fresh, rest = asyncio.run(run())
    assert (held, taken, early) == (2, 0, 0)
    assert (fresh, rest) == (2, 0)


def test_another_hosts_new_message_wakes_this_outbox_at_once(
    postgresql_url: Callable[[], str],
) -> None:
    """LISTEN/NOTIFY: a push message accepted through one process wakes the outbox of
    another (as on another host) at commit, without waiting for a poll; a pull-only message
    wakes nobody, nor does a process's own accept wake itself."""
    url = postgresql_url()

    async def run() -> tuple[bool, bool, bool]:
        woken = asyncio.Event()
        listener = PostgreSQLStore(url)
        listener.watch(woken.set)
        sender = PostgreSQLStore(url)
        sender.watch(lambda: None)
        await asyncio.gather(listener.open(), sender.open())
        try:
            await asyncio.sleep(0)
            await asyncio.wait_for(woken.wait(), 10)  # the listener's first round
            woken.clear()
            pull = message(7)
            offered = tuple(
                replace(d, mode=DeliveryMode.PULL, state=DeliveryState.OFFERED)
                for d in pull.deliveries
            )
            pull = replace(pull, deliveries=offered)
            await sender.accept([pull])
            await listener.accept([message(8)])  # its own: no news to itself
            quiet = not await _woken_within(woken, 0.5)
            await sender.accept([message(9)])
            loud = await _woken_within(woken, 10)
            return quiet, loud, listener.channel == sender.channel
        finally:
            await close_all([listener, sender])

    quiet, loud, same = asyncio.run(run())
    assert (quiet, loud, same) == (True, True, True)


async def _woken_within(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True
