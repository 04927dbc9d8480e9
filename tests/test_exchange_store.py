"""The Store contract (gateway/exchange/store/base.py), run against every store in
conftest.STORES through the ``new_store`` fixture."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta

import pytest
from exchange_support import T0, NewStore, run

from gateway.exchange.audit import verify
from gateway.exchange.store.base import (
    AcceptStatus,
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    NewDelivery,
    NewMessage,
    Outcome,
    Settlement,
)

LEASE = timedelta(seconds=30)


def message(
    mid: str,
    *,
    sender: str = "s1",
    content: str = "h1",
    recipients: tuple[str, ...] = ("r1", "r2"),
    mode: DeliveryMode = DeliveryMode.PUSH,
    consent: str | None = None,
    at: datetime = T0,
) -> NewMessage:
    state = DeliveryState.OFFERED if mode is DeliveryMode.PULL else DeliveryState.PENDING
    return NewMessage(
        message_id=mid,
        sender_id=sender,
        kind="certificate",
        content_hash=content,
        received_at=at,
        answer=f'{{"message_id": "{mid}"}}'.encode(),
        deliveries=tuple(
            NewDelivery(f"{mid}/{r}", r, mode, "xml", "application/xml", f"<{r}/>".encode(), state)
            for r in recipients
        ),
        audit=(AuditEntry(at, sender, "received", mid, detail={"sha256": content}),),
        consent_key=consent,
    )


def test_accept_is_idempotent_and_conflicts_on_other_content(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        first = await store.accept([message("m1")])
        assert [r.status for r in first] == [AcceptStatus.ACCEPTED]
        again = await store.accept(
            [message("m1"), message("m1", content="h2"), message("m1", sender="s2")]
        )
        assert [r.status for r in again] == [
            AcceptStatus.DUPLICATE,
            AcceptStatus.CONFLICT,
            AcceptStatus.CONFLICT,
        ]
        assert again[0].answer == first[0].answer
        status = await store.message("m1")
        assert status is not None and len(status.deliveries) == 2  # nothing added twice
        records = [r async for r in store.audit_records()]
        assert [r.entry.action for r in records] == ["received"]  # duplicates wrote nothing
        await store.close()

    run(main())


def test_one_batch_with_the_same_id_twice_keeps_the_first(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        out = await store.accept([message("m1"), message("m1"), message("m1", content="x")])
        assert [r.status for r in out] == [
            AcceptStatus.ACCEPTED,
            AcceptStatus.DUPLICATE,
            AcceptStatus.CONFLICT,
        ]
        await store.close()

    run(main())


def test_a_consent_is_used_once(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        out = await store.accept([message("a", consent="c1"), message("b", consent="c1")])
        assert [r.status for r in out] == [AcceptStatus.ACCEPTED, AcceptStatus.CONSENT_USED]
        later = await store.accept([message("c", consent="c1"), message("d", consent="c2")])
        assert [r.status for r in later] == [AcceptStatus.CONSENT_USED, AcceptStatus.ACCEPTED]
        assert await store.message("b") is None  # a refused message leaves nothing behind
        await store.close()

    run(main())


def test_claims_are_exclusive_until_the_lease_expires(new_store: NewStore) -> None:
    async def main() -> None:
        one, two = new_store(), new_store()  # two processes on one database
        await one.open()
        await two.open()
        await one.accept([message("m1"), message("m2")])
        a = await one.claim("w1", now=T0, lease=LEASE, limit=10)
        b = await two.claim("w2", now=T0, lease=LEASE, limit=10)
        assert sorted(c.delivery_id for c in a) == ["m1/r1", "m1/r2", "m2/r1", "m2/r2"]
        assert all(c.lease_until == T0 + LEASE for c in a)
        assert b == []
        # w1 crashes; after its leases expire w2 gets the same deliveries
        later = T0 + LEASE + timedelta(seconds=1)
        b = await two.claim("w2", now=later, lease=LEASE, limit=10)
        assert sorted(c.delivery_id for c in b) == sorted(c.delivery_id for c in a)
        assert all(c.attempts == 0 for c in b)
        # the crashed worker's late result does not count: w2's claim holds the lease
        done = Settlement(Outcome.DELIVERED)
        old = next(c for c in a if c.delivery_id == "m1/r1")
        new = next(c for c in b if c.delivery_id == "m1/r1")
        assert old.token != new.token
        assert not await one.settle("m1/r1", old.token, done, [], now=later)
        assert await two.settle("m1/r1", new.token, done, [], now=later)
        status = await two.message("m1")
        assert status is not None
        assert [d.state for d in status.deliveries] == [
            DeliveryState.DELIVERED,
            DeliveryState.PENDING,
        ]
        await one.close()
        await two.close()

    run(main())


def test_retry_waits_for_its_time_then_dead_letter_and_redeliver(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        await store.accept([message("m1", recipients=("r1",))])
        (c,) = await store.claim("w", now=T0, lease=LEASE, limit=5)
        due = T0 + timedelta(seconds=10)
        retry = Settlement(Outcome.RETRY, "503 Service Unavailable", timedelta(seconds=10))
        assert await store.settle(c.delivery_id, c.token, retry, [], now=T0)
        assert await store.claim("w", now=due - timedelta(seconds=1), lease=LEASE, limit=5) == []
        (c,) = await store.claim("w", now=due, lease=LEASE, limit=5)
        assert c.attempts == 1
        status = await store.message("m1")
        assert status is not None and status.deliveries[0].last_error == "503 Service Unavailable"
        dead = Settlement(Outcome.DEAD, "400 Bad Request")
        assert await store.settle(c.delivery_id, c.token, dead, [], now=due)
        assert await store.claim("w", now=due + LEASE * 10, lease=LEASE, limit=5) == []
        status = await store.message("m1")
        assert status is not None
        d = status.deliveries[0]
        assert (d.state, d.attempts, d.last_error) == (DeliveryState.DEAD, 2, "400 Bad Request")
        stats = await store.stats(now=due)
        assert (stats.depth, stats.dead) == (0, 1)
        entry = AuditEntry(due, "operator", "redelivered", "m1")
        assert await store.redeliver("m1", "other", entry, now=due) == 0
        assert await store.redeliver("m1", None, entry, now=due) == 1
        (c,) = await store.claim("w", now=due, lease=LEASE, limit=5)
        assert c.attempts == 0
        records = [r async for r in store.audit_records(message_id="m1")]
        assert [(r.entry.action, r.entry.recipient_id) for r in records][-1] == (
            "redelivered",
            "r1",
        )
        await store.close()

    run(main())


def test_release_hands_claims_back_without_an_attempt(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        await store.accept([message("m1", recipients=("r1",))])
        (c,) = await store.claim("w", now=T0, lease=LEASE, limit=5)
        assert await store.release({c.delivery_id: "another-claims-token"}) == 0
        assert await store.release({c.delivery_id: c.token}) == 1
        (again,) = await store.claim("w2", now=T0, lease=LEASE, limit=5)
        assert again.attempts == 0
        assert not await store.settle(
            c.delivery_id, c.token, Settlement(Outcome.DELIVERED), [], now=T0
        )  # handed back: the old token settles nothing
        await store.close()

    run(main())


def test_pull_inbox_offers_until_acknowledged(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        await store.accept([message("m1", recipients=("emp",), mode=DeliveryMode.PULL)])
        assert await store.claim("w", now=T0, lease=LEASE, limit=5) == []
        (item,) = await store.inbox("emp", limit=10, now=T0)
        assert (item.offers, item.payload) == (1, b"<emp/>")
        (item,) = await store.inbox("emp", limit=10, now=T0)
        assert item.offers == 2  # not acknowledged: offered again
        assert await store.inbox("someone-else", limit=10, now=T0) == []
        ack = AuditEntry(T0, "emp", "acknowledged")
        assert not await store.acknowledge("someone-else", item.delivery_id, ack, now=T0)
        assert await store.acknowledge("emp", item.delivery_id, ack, now=T0)
        assert await store.acknowledge("emp", item.delivery_id, ack, now=T0)  # harmless twice
        assert await store.inbox("emp", limit=10, now=T0) == []
        records = [r async for r in store.audit_records(message_id="m1")]
        assert [r.entry.action for r in records] == ["received", "acknowledged"]
        await store.close()

    run(main())


def test_retention_purges_delivered_payloads_only(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        await store.accept([message("m1", recipients=("r1", "r2"))])
        c1, c2 = await store.claim("w", now=T0, lease=LEASE, limit=5)
        await store.settle(c1.delivery_id, c1.token, Settlement(Outcome.DELIVERED), [], now=T0)
        entry = AuditEntry(T0 + timedelta(days=31), "retention", "purged")
        assert await store.purge_payloads(T0 - timedelta(days=1), entry) == 0  # too recent
        assert await store.purge_payloads(T0 + timedelta(days=1), entry) == 1
        assert await store.purge_payloads(T0 + timedelta(days=1), entry) == 0
        await store.release({c2.delivery_id: c2.token})
        (left,) = await store.claim("w", now=T0, lease=LEASE, limit=5)
        assert left.payload == b"<r2/>"  # undelivered payloads stay
        records = [r async for r in store.audit_records()]
        assert records[-1].entry.action == "purged"
        assert records[-1].entry.detail["payloads"] == 1
        await store.close()

    run(main())


def test_audit_chain_verifies_and_filters(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        for i in range(3):
            await store.accept([message(f"m{i}", at=T0 + timedelta(hours=i))])
        await store.append_audit([AuditEntry(T0 + timedelta(hours=5), "x", "note", "m1")])
        count, breaks = await verify(store.audit_records())
        assert (count, breaks) == (4, [])
        only = [r.entry.message_id async for r in store.audit_records(message_id="m1")]
        assert only == ["m1", "m1"]
        since = [r.seq async for r in store.audit_records(since=T0 + timedelta(hours=2))]
        assert since == [3, 4]
        await store.close()

    run(main())


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_audit_tampering_shows(new_store: NewStore, store_url: str) -> None:
    """Someone with the database file changes, removes or inserts a record: verify says where."""
    path = store_url.removeprefix("sqlite:///")

    async def fill() -> None:
        store = new_store()
        await store.open()
        for i in range(4):
            await store.accept([message(f"m{i}")])
        await store.close()

    async def check() -> list[tuple[int, str]]:
        store = new_store()
        await store.open()
        _count, breaks = await verify(store.audit_records())
        await store.close()
        return [(b.seq, b.problem.split(" ")[0]) for b in breaks]

    run(fill())
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET actor = 'x' WHERE seq = 2")
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute('UPDATE audit SET detail = \'{"sha256":"forged"}\' WHERE seq = 2')
    db.commit()
    assert run(check()) == [(2, "its")]
    db.execute("DELETE FROM audit WHERE seq = 3")
    db.commit()
    assert run(check()) == [(2, "its"), (4, "expected"), (4, "does")]
    db.close()


def test_concurrent_settles_each_count_and_a_lost_lease_still_loses(new_store: NewStore) -> None:
    """Attempts ending together may share a transaction (SQLite's group commit for settles):
    each must still settle its own delivery, and one whose lease is gone must not."""

    async def main() -> None:
        store = new_store()
        await store.open()
        await store.accept([message(f"m{i}", recipients=("r1",)) for i in range(20)])
        claims = await store.claim("w", now=T0, lease=LEASE, limit=50)
        assert len(claims) == 20
        done = Settlement(Outcome.DELIVERED)
        results = await asyncio.gather(
            *(
                store.settle(
                    c.delivery_id,
                    c.token if i else "someone-elses-token",
                    done,
                    [AuditEntry(T0, "w", "delivered", c.message_id, "r1")],
                    now=T0,
                )
                for i, c in enumerate(claims)
            )
        )
        assert results == [False] + [True] * 19
        states = [(await store.message(f"m{i}")).deliveries[0].state for i in range(20)]  # type: ignore[union-attr]
        assert states.count(DeliveryState.DELIVERED) == 19
        count, breaks = await verify(store.audit_records())
        assert (count, breaks) == (20 + 19, [])
        await store.close()

    run(main())
