"""The plan index's deadlines, recomputed after the accept (docs/coordination.md "Where the
deadlines are computed"): the accept transaction marks the patient, a follow-up transaction
recomputes and removes the mark. A process killed, or a recomputation aborted, between the
two loses nothing; readers never show stale deadlines; on PostgreSQL two processes never
recompute one patient at once, and a drain waiting for an accept in flight sees its entry."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from coordination_support import FK_ORG, PATIENT, REGION_ORG, at, certificate, day, entry
from exchange_support import NewStore, run

from gateway.coordination.chain import Deadline, deadlines
from gateway.coordination.entries import Entry
from gateway.exchange import plan_index
from gateway.exchange.plan_index import plan_index_for
from gateway.exchange.store.base import AuditEntry, NewMessage, StoreError

TESTS = Path(__file__).resolve().parent
GUARD = 60.0  # seconds: a wait that never ends fails the test instead of hanging it
OTHERS = ["197001011236", "198002022383", "199003032399", "200004042369", "201005052383"]


def cert(cid: str, n: int, first: int, last: int, patient: str = PATIENT) -> Entry:
    e = entry(
        certificate(cid, [(day(first), day(last), 100)], signed=at(n)),
        received=at(n),
        sender="region-ehr",
        sender_org=REGION_ORG,
        sender_role="region",
        to=[("fk", "forsakringskassan", FK_ORG)],
        message_id=f"msg-{cid}",
    )
    return replace(e, patient=patient)


def message(e: Entry) -> NewMessage:
    return NewMessage(
        message_id=e.message_id,
        sender_id=e.sender,
        kind=str(e.kind),
        content_hash="x",
        received_at=e.received_at,
        answer=b"{}",
        deliveries=(),
        audit=(AuditEntry(e.received_at, e.sender, "received", e.message_id),),
        index=e,
    )


async def marked(store: Any) -> list[str]:
    """The patients marked for recomputation, straight from the table."""
    sql = "SELECT patient FROM plan_dirty ORDER BY patient"
    if store.url.startswith("sqlite:"):
        found: list[str] = await store.read(lambda db: [r[0] for r in db.execute(sql)])
        return found
    return [r[0] for r in await store.pool.fetch(sql)]


async def stored_deadlines(store: Any, patient: str) -> list[str]:
    """The deadline rows as stored (ids), bypassing the reader's own drain."""
    sql = "SELECT deadline_id FROM plan_deadlines WHERE patient = {} ORDER BY deadline_id"
    if store.url.startswith("sqlite:"):
        found: list[str] = await store.read(
            lambda db: [r[0] for r in db.execute(sql.format("?"), (patient,))]
        )
        return found
    return [r[0] for r in await store.pool.fetch(sql.format("$1"), patient)]


def ids(found: Sequence[Deadline]) -> list[str]:
    return sorted(d.id for d in found)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any) -> Counter[str]:
    """Count each patient's recomputations (the pure step every drain calls)."""
    seen: Counter[str] = Counter()
    real = plan_index.fold_deadlines

    def fold(patients: Sequence[str], rows: Any) -> Any:
        seen.update(patients)
        return real(patients, rows)

    monkeypatch.setattr(module, "fold_deadlines", fold)
    return seen


_KILLED = """
import asyncio, os, signal, sys
sys.path.insert(0, {tests!r})
from test_coordination_drain import cert, message
from gateway.exchange.store import store_for

async def go():
    store = store_for({url!r}, caller_clock=True)
    await store.open()
    await store.accept([message(cert("c1", 1, 1, 90)), message(cert("c2", 2, 1, 30, {other!r}))])
    os.kill(os.getpid(), signal.SIGKILL)  # after the accept committed, before any drain

asyncio.run(go())
"""


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_a_process_killed_after_accepting_leaves_its_patients_to_the_next_drain(
    store_url: str, new_store: NewStore
) -> None:
    script = _KILLED.format(tests=str(TESTS), url=store_url, other=OTHERS[0])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]

    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            # the entries committed with the messages; the deadlines not yet, the marks kept
            assert await marked(store) == sorted([PATIENT, OTHERS[0]])
            assert await stored_deadlines(store, PATIENT) == []
            index = plan_index_for(store)
            assert await index.drain() == 2  # what the server's drain does at start-up
            assert await marked(store) == []
            for patient in (PATIENT, OTHERS[0]):
                record = await index.patient(patient)
                assert record.deadlines, patient
                assert ids(record.deadlines) == ids(deadlines(patient, record.entries))
                assert await stored_deadlines(store, patient) == ids(record.deadlines)
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_an_aborted_recomputation_keeps_the_mark_and_the_next_drain_recomputes(
    new_store: NewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            index = plan_index_for(store)
            await store.accept([message(cert("c1", 1, 1, 20))])
            assert await index.drain() == 1
            before = await stored_deadlines(store, PATIENT)
            await store.accept([message(cert("c2", 19, 21, 90))])  # the plan now due
            module = sys.modules[type(index).__module__]
            real = module.fold_deadlines

            def broken(patients: Sequence[str], rows: Any) -> Any:
                real(patients, rows)
                raise StoreError("the database went away mid-recomputation")

            monkeypatch.setattr(module, "fold_deadlines", broken)
            with pytest.raises(StoreError):
                await index.drain()
            assert await marked(store) == [PATIENT]  # rolled back: the mark stays
            assert await stored_deadlines(store, PATIENT) == before  # and the old rows
            monkeypatch.setattr(module, "fold_deadlines", real)
            record = await index.patient(PATIENT)  # a reader recomputes it first
            assert "return-to-work-plan" in {d.code for d in record.deadlines}
            assert ids(record.deadlines) == ids(deadlines(PATIENT, record.entries))
            assert await marked(store) == []
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_the_deadline_list_recomputes_what_is_marked_before_it_answers(
    new_store: NewStore,
) -> None:
    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            index = plan_index_for(store)
            await store.accept([message(cert(f"c{i}", 1, 1, 90, p)) for i, p in enumerate(OTHERS)])
            assert len(await marked(store)) == len(OTHERS)
            fk = await index.actor_deadlines(
                "forsakringskassan", FK_ORG, since=day(1), until=day(100), limit=100
            )
            assert {d.patient for d in fk} == set(OTHERS)
            assert await marked(store) == []
            assert await index.drain() == 0
        finally:
            await store.close()

    run(go())


async def _waiting_for_a_lock(store: Any) -> None:
    """Until another connection of this database waits for a lock (a row's or a patient's):
    asked of PostgreSQL itself, not timed."""
    while not await store.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid())"
    ):
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_processes_never_recompute_one_patient_at_once(
    new_store: NewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process A holds three marked patients mid-recomputation; process B's drain skips them
    and recomputes the rest; a reader of B waiting for one of A's finds it done and does not
    recompute it again; every patient is recomputed exactly once."""
    from gateway.exchange.plan_index import postgresql as pg

    seen = counting(monkeypatch, pg)

    async def go() -> None:
        a, b = new_store(), new_store()
        await a.open()
        await b.open()
        try:
            patients = sorted([PATIENT, *OTHERS])
            await a.accept([message(cert(f"c{i}", 1, 1, 90, p)) for i, p in enumerate(patients)])
            held = patients[:3]
            async with a.pool.acquire() as conn, conn.transaction():  # type: ignore[attr-defined]
                assert await pg.claim(conn, limit=3) == held
                # B's worker: skips A's three, recomputes the other three (never waits for
                # them: a guard, so that a drain that waited fails here rather than hangs)
                assert await asyncio.wait_for(plan_index_for(b).drain(), GUARD) == 3
                assert await marked(b) == held
                # B's reader of one of A's patients waits for A's transaction
                reader = asyncio.create_task(plan_index_for(b).patient(held[0]))
                await asyncio.wait_for(_waiting_for_a_lock(b), GUARD)
                assert not reader.done()
                await pg.recompute(conn, held)
            record = await reader
            assert ids(record.deadlines) == ids(deadlines(held[0], record.entries))
            assert await marked(b) == []
            assert seen == Counter(patients)  # each exactly once
        finally:
            await a.close()
            await b.close()

    run(go())


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_drain_waits_for_an_accept_in_flight_and_sees_its_entry(new_store: NewStore) -> None:
    """An accept holds the patient's lock (its mark already there, from an earlier accept not
    yet drained): another process's drain claims the mark, waits for the accept to commit,
    then recomputes from the entries the accept committed - the new certificate included."""
    from gateway.exchange.plan_index import postgresql as pg

    async def go() -> None:
        a, b = new_store(), new_store()
        await a.open()
        await b.open()
        try:
            await a.accept([message(cert("c1", 1, 1, 20))])
            later = cert("c2", 19, 21, 200)
            async with a.pool.acquire() as conn, conn.transaction():  # type: ignore[attr-defined]
                await pg.index_accepted(conn, [message(later)])
                drain = asyncio.create_task(plan_index_for(b).drain())
                await asyncio.wait_for(_waiting_for_a_lock(b), GUARD)
                assert not drain.done()
            assert await drain == 1
            assert await marked(b) == []
            record = await plan_index_for(b).patient(PATIENT)
            assert later.key in {k for d in record.deadlines for k in d.basis}
            assert ids(record.deadlines) == ids(deadlines(PATIENT, record.entries))
            assert await stored_deadlines(b, PATIENT) == ids(record.deadlines)
        finally:
            await a.close()
            await b.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_the_servers_drain_recomputes_at_start_and_at_stop(new_store: NewStore) -> None:
    from gateway.exchange.server.coordination import DeadlineDrain

    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            await store.accept([message(cert("c1", 1, 1, 90))])  # left marked (a crash)
            drain = DeadlineDrain(plan_index_for(store), every=3600)
            drain.start()
            await store.accept([message(cert("c2", 2, 1, 30, OTHERS[0]))])
            await drain.stop()  # its first round, and its last, ran
            assert await marked(store) == []
            for patient in (PATIENT, OTHERS[0]):
                stored = await stored_deadlines(store, patient)
                record = await plan_index_for(store).patient(patient)
                assert stored == ids(record.deadlines) == ids(deadlines(patient, record.entries))
        finally:
            await store.close()

    run(go())
