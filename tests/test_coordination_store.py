"""The plan index in the store, on SQLite and PostgreSQL: it commits with the message or not
at all, folds a batch in order, and stays right when several processes accept documents of
one patient at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from coordination_support import (
    EMPLOYER_ORG,
    FK_ORG,
    PATIENT,
    REGION_ORG,
    at,
    certificate,
    day,
    entry,
    plan,
)
from exchange_support import NewStore, run

from gateway.coordination.entries import Entry
from gateway.exchange.plan_index import plan_index_for
from gateway.exchange.store.base import AcceptStatus, AuditEntry, NewMessage

TO_FK = ("fk", "forsakringskassan", FK_ORG)


def message(e: Entry, *, consent_key: str | None = None, content: str = "x") -> NewMessage:
    return NewMessage(
        message_id=e.message_id,
        sender_id=e.sender,
        kind=str(e.kind),
        content_hash=content,
        received_at=e.received_at,
        answer=b"{}",
        deliveries=(),
        audit=(AuditEntry(e.received_at, e.sender, "received", e.message_id),),
        consent_key=consent_key,
        index=e,
    )


def cert(cid: str, n: int, periods: list[tuple[int, int, int]]) -> Entry:
    return entry(
        certificate(cid, [(day(a), day(b), d) for a, b, d in periods], signed=at(n)),
        received=at(n),
        sender="region-ehr",
        sender_org=REGION_ORG,
        sender_role="region",
        to=[TO_FK],
        message_id=f"msg-{cid}",
    )


def rtw(n: int) -> Entry:
    return entry(
        plan(
            "plan-1", plan_date=day(29), measures=[("part-time", "Arbete 50 %", day(35), day(60))]
        ),
        received=at(n),
        sender="hr-acme",
        sender_org=EMPLOYER_ORG,
        sender_role="employer",
        to=[TO_FK],
        message_id="msg-plan-1",
    )


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_the_index_commits_with_the_message_or_not_at_all(new_store: NewStore) -> None:
    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            index = plan_index_for(store)
            first = cert("c1", 1, [(1, 90, 100)])
            assert [r.status for r in await store.accept([message(first)])] == ["accepted"]
            # the same id with other content is refused: nothing of it reaches the index
            other = cert("c1-other", 2, [(1, 10, 50)])
            clash = replace(message(other, content="y"), message_id=first.message_id)
            assert [r.status for r in await store.accept([clash])] == [AcceptStatus.CONFLICT]
            record = await index.patient(PATIENT)
            assert [e.key for e in record.entries] == ["certificate:c1"]
            assert {d.code for d in record.deadlines} >= {
                "return-to-work-plan",
                "assessment-day-90",
            }
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_one_batch_is_folded_in_order(new_store: NewStore) -> None:
    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            batch = [message(cert("c1", 1, [(1, 90, 100)])), message(rtw(34))]
            await store.accept(batch)
            record = await plan_index_for(store).patient(PATIENT)
            assert sorted(f.code for f in record.flags) == ["COORD-RTW-DEGREE", "COORD-RTW-LATE"]
            flagged = [r.entry async for r in store.audit_records() if r.entry.action == "flagged"]
            assert sorted(r.detail["code"] for r in flagged) == [
                "COORD-RTW-DEGREE",
                "COORD-RTW-LATE",
            ]
            assert all(r.message_id == "msg-plan-1" for r in flagged)
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_processes_accepting_one_patient_at_once_miss_nothing(new_store: NewStore) -> None:
    """Two stores on one database (two processes): certificates and the plan of one patient
    accepted concurrently; every entry is indexed and the plan's conflict is flagged once."""

    async def go() -> None:
        a, b = new_store(), new_store()
        await a.open()
        await b.open()
        try:
            certs = [message(cert(f"c{i}", 1 + i, [(1 + i, 60 + i, 100)])) for i in range(8)]
            await asyncio.gather(
                *(s.accept([m]) for s, m in zip([a, b] * 4, certs, strict=True)),
                b.accept([message(rtw(34))]),
            )
            record = await plan_index_for(a).patient(PATIENT)
            assert len(record.entries) == 9
            assert [f.code for f in record.flags].count("COORD-RTW-LATE") == 1
            assert "COORD-RTW-DEGREE" in {f.code for f in record.flags}
        finally:
            await a.close()
            await b.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_an_actors_list_is_its_own_open_deadlines_earliest_first(new_store: NewStore) -> None:
    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            await store.accept([message(cert("c1", 1, [(1, 90, 100)]))])
            index = plan_index_for(store)
            fk = await index.actor_deadlines(
                "forsakringskassan", FK_ORG, since=day(1), until=day(100), limit=10
            )
            # (the transition's window closes on day 180, projected: beyond day 100)
            assert [d.code for d in fk] == [
                "sick-pay-period",
                "return-to-work-plan",
                "assessment-day-90",
            ]
            assert [d.due for d in fk] == sorted(d.due for d in fk)
            none = await index.actor_deadlines(
                "employer", EMPLOYER_ORG, since=day(1), until=day(100), limit=10
            )
            assert none == []  # no employer is related to this patient
            assert datetime.now(UTC)  # (the store's times are its callers')
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_what_is_stored_is_what_a_recomputation_gives(new_store: NewStore) -> None:
    """Only changed deadline rows are written (a body alone when its place on the list is
    the same, the row moved when its state or date changes, gone when it no longer is): what
    the store holds after each accept equals the deadlines recomputed from every entry."""
    from gateway.coordination.chain import deadlines

    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            index = plan_index_for(store)
            steps = [
                cert("c1", 1, [(1, 20, 100)]),  # no plan due yet: the case is 20 days
                cert("c2", 19, [(21, 70, 100)]),  # the case reaches day 60: a plan is due
                rtw(34),  # the plan: the task is met (late), its follow-ups listed
                cert("c3", 69, [(71, 200, 50)]),  # the dates move on (day 180, transition)
            ]
            for e in steps:
                await store.accept([message(e)])
                record = await index.patient(PATIENT)
                expected = deadlines(PATIENT, record.entries)
                assert sorted(record.deadlines, key=lambda d: d.id) == sorted(
                    expected, key=lambda d: d.id
                )
            fk = await index.actor_deadlines(
                "forsakringskassan", FK_ORG, since=day(1), until=day(400), limit=50
            )
            assert {d.id for d in fk} == {
                d.id
                for d in expected
                if (d.role == "forsakringskassan" and d.type == "milestone")
                or (d.role == "forsakringskassan" and d.met_on is None and not d.waived)
            }
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_an_entry_rewritten_for_its_status_keeps_its_consents(new_store: NewStore) -> None:
    """The accept reads stored entries without their consents (nothing it computes asks);
    a certificate marked replaced by a later one keeps the consents it was stored with, and
    a new version carries its own."""
    from coordination_support import employer_consent

    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            first = entry(
                certificate("c1", [(day(1), day(30), 100)], signed=at(1)),
                received=at(1),
                sender="region-ehr",
                sender_org=REGION_ORG,
                sender_role="region",
                to=[TO_FK],
                envelope_consent=employer_consent(),
                message_id="msg-c1",
            )
            later = entry(
                certificate("c2", [(day(1), day(60), 100)], signed=at(5), replaces="c1"),
                received=at(5),
                sender="region-ehr",
                sender_org=REGION_ORG,
                sender_role="region",
                to=[TO_FK],
                message_id="msg-c2",
            )
            await store.accept([message(first)])
            await store.accept([message(later)])
            record = await plan_index_for(store).patient(PATIENT)
            by_key = {e.key: e for e in record.entries}
            assert by_key["certificate:c1"].status == "replaced"
            assert by_key["certificate:c1"].consents == first.consents != ()
            assert by_key["certificate:c2"].consents == ()
        finally:
            await store.close()

    run(go())


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_many_patients_are_read_together_as_each_is_read_alone(new_store: NewStore) -> None:
    """``patients`` (the console's flags page) gives each patient what ``patient`` gives:
    entries, flags and deadlines, the marked patients' deadlines recomputed first, an unknown
    patient empty, in the order asked."""
    from gateway.exchange.plan_index import PatientRecord

    other, unknown = "191010101010", "190101010101"

    async def go() -> None:
        store = new_store()
        await store.open()
        try:
            theirs = replace(cert("c2", 2, [(1, 30, 50)]), patient=other)
            await store.accept([message(cert("c1", 1, [(1, 90, 100)])), message(rtw(34))])
            await store.accept([message(theirs)])
            index = plan_index_for(store)
            together = await index.patients([other, PATIENT, unknown])
            assert list(together) == [other, PATIENT, unknown]
            assert sorted(f.code for f in together[PATIENT].flags) == [
                "COORD-RTW-DEGREE",
                "COORD-RTW-LATE",
            ]
            assert together[PATIENT].deadlines and together[other].deadlines
            assert [e.key for e in together[other].entries] == [theirs.key]
            assert together[unknown] == PatientRecord([], [], [])
            for patient, record in together.items():
                assert record == await index.patient(patient)
        finally:
            await store.close()

    run(go())
