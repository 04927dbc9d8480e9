"""Outbox semantics: the transport's Verdict decides, backoff with jitter and a maximum,
dead letter, redeliver, leases returning a crashed worker's claims, graceful stop."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from exchange_support import T0, Clock, FakeTransport, NewStore, make_config, run
from hypothesis import given
from hypothesis import strategies as st

from gateway.exchange.config import DeliveryConfig
from gateway.exchange.outbox import Outbox, backoff, settlement_for
from gateway.exchange.store.base import (
    AcceptStatus,
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    NewDelivery,
    NewMessage,
    Outcome,
)
from gateway.exchange.transport import Answer, Verdict

POLICY = DeliveryConfig(
    initial_backoff_seconds=2, max_backoff_seconds=60, backoff_multiplier=2, max_attempts=5
)
LEASE = timedelta(seconds=30)


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0, max_value=1))
def test_backoff_grows_exponentially_with_jitter_up_to_the_maximum(attempts: int, r: float) -> None:
    class Fixed(random.Random):
        def random(self) -> float:
            return min(r, 0.999999)

    wait = backoff(attempts, POLICY, Fixed())
    ceiling = min(60.0, 2.0 * 2 ** (attempts - 1))
    assert ceiling / 2 <= wait <= ceiling
    assert wait <= POLICY.max_backoff_seconds


def test_verdicts_decide_the_settlement() -> None:
    now = T0
    ok = settlement_for(Answer(Verdict.DELIVERED, "RegisterCertificate: OK"), 1, POLICY, now)
    assert (ok.outcome, ok.error) == (Outcome.DELIVERED, None)  # delivered is no error
    perm = settlement_for(Answer(Verdict.PERMANENT, "VALIDATION_ERROR: bad"), 1, POLICY, now)
    assert (perm.outcome, perm.error) == (Outcome.DEAD, "VALIDATION_ERROR: bad")
    retry = settlement_for(Answer(Verdict.RETRY, "503"), 1, POLICY, now, random.Random(1))
    assert retry.outcome is Outcome.RETRY
    assert retry.delay is not None
    assert timedelta(seconds=1) <= retry.delay <= timedelta(seconds=2)
    # the recipient's Retry-After is a floor (capped at the maximum backoff)
    asked = settlement_for(Answer(Verdict.RETRY, "429", retry_after=30), 1, POLICY, now)
    assert asked.delay == timedelta(seconds=30)
    last = settlement_for(Answer(Verdict.RETRY, "503"), 5, POLICY, now)
    assert last.outcome is Outcome.DEAD
    assert last.error == "gave up after 5 attempts: 503"


def _message(mid: str, recipients: tuple[str, ...] = ("acme",)) -> NewMessage:
    return NewMessage(
        mid,
        "region-vg",
        "certificate",
        "hash-" + mid,
        T0,
        b"{}",
        tuple(
            NewDelivery(f"{mid}/{r}", r, DeliveryMode.PUSH, "xml", "application/xml", b"<x/>")
            for r in recipients
        ),
        (AuditEntry(T0, "region-vg", "received", mid),),
    )


def test_fail_first_then_deliver_with_backoff(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        clock = Clock()
        acme = FakeTransport([Answer(Verdict.RETRY, "503 Service Unavailable")] * 2)
        outbox = Outbox(store, {"acme": acme}, POLICY, name="w", clock=clock, rng=random.Random(0))
        assert (await store.accept([_message("m1")]))[0].status is AcceptStatus.ACCEPTED
        for _ in range(3):
            await outbox.run_once()
            await outbox.drain()
            assert await outbox.run_once() == 0  # not due yet: backoff
            clock.advance(120)
        assert acme.delivery_ids == ["m1/acme"] * 3  # the same delivery id every attempt
        status = await store.message("m1")
        assert status is not None
        d = status.deliveries[0]
        assert (d.state, d.attempts) == (DeliveryState.DELIVERED, 3)
        actions = [r.entry.action async for r in store.audit_records(message_id="m1")]
        assert actions == ["received", "attempt-failed", "attempt-failed", "delivered"]
        await store.close()

    run(main())


def test_permanent_answer_dead_letters_at_once_and_redeliver_sends_again(
    new_store: NewStore,
) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        clock = Clock()
        fk = FakeTransport([Answer(Verdict.PERMANENT, "VALIDATION_ERROR: intyg saknas")])
        acme = FakeTransport()
        outbox = Outbox(store, {"fk": fk, "acme": acme}, POLICY, name="w", clock=clock)
        await store.accept([_message("m1", ("fk", "acme"))])
        await outbox.run_once()
        await outbox.drain()
        status = await store.message("m1")
        assert status is not None
        states = {d.recipient_id: (d.state, d.last_error) for d in status.deliveries}
        assert states == {
            "fk": (DeliveryState.DEAD, "VALIDATION_ERROR: intyg saknas"),
            "acme": (DeliveryState.DELIVERED, None),
        }
        clock.advance(3600)
        assert await outbox.run_once() == 0  # a dead letter waits for a command
        entry = AuditEntry(clock(), "operator", "redelivered", "m1")
        assert await store.redeliver("m1", None, entry, now=clock()) == 1
        await outbox.run_once()
        await outbox.drain()
        status = await store.message("m1")
        assert status is not None
        assert [d.state for d in status.deliveries] == [DeliveryState.DELIVERED] * 2
        assert len(fk.parcels) == 2 and len(acme.parcels) == 1
        await store.close()

    run(main())


def test_too_many_retries_dead_letter(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        clock = Clock()
        acme = FakeTransport([Answer(Verdict.RETRY, "connection refused")] * 10)
        outbox = Outbox(store, {"acme": acme}, POLICY, name="w", clock=clock)
        await store.accept([_message("m1")])
        for _ in range(8):
            await outbox.run_once()
            await outbox.drain()
            clock.advance(61)
        assert len(acme.parcels) == POLICY.max_attempts
        status = await store.message("m1")
        assert status is not None
        assert status.deliveries[0].state is DeliveryState.DEAD
        assert status.deliveries[0].last_error == "gave up after 5 attempts: connection refused"
        await store.close()

    run(main())


def test_a_crashed_workers_claims_return_after_the_lease(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        clock = Clock()
        await store.accept([_message("m1")])
        # a worker claims and dies (never settles)
        claims = await store.claim("dead-worker", now=clock(), lease=LEASE, limit=5)
        assert len(claims) == 1
        acme = FakeTransport()
        outbox = Outbox(store, {"acme": acme}, POLICY, name="w2", clock=clock)
        assert await outbox.run_once() == 0
        clock.advance(31)
        assert await outbox.run_once() == 1
        await outbox.drain()
        assert acme.delivery_ids == ["m1/acme"]
        await store.close()

    run(main())


def test_graceful_stop_hands_in_flight_deliveries_back(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        await store.open()
        acme = FakeTransport()
        acme.gate = asyncio.Event()  # the recipient hangs
        outbox = Outbox(store, {"acme": acme}, make_config().delivery, name="w", clock=Clock())
        await store.accept([_message("m1")])
        outbox.start()
        while not acme.parcels:
            await asyncio.sleep(0.01)
        await outbox.stop(grace=0.05)
        # handed back: another worker can claim it at once, no attempt counted
        (c,) = await store.claim("w2", now=T0, lease=LEASE, limit=5)
        assert (c.delivery_id, c.attempts) == ("m1/acme", 0)
        await store.close()

    run(main())


def test_a_transport_that_raises_is_retried_not_lost(new_store: NewStore) -> None:
    class Broken(FakeTransport):
        async def deliver(self, parcel):  # type: ignore[no-untyped-def]
            raise RuntimeError("bug")

    async def main() -> None:
        store = new_store()
        await store.open()
        outbox = Outbox(store, {"acme": Broken()}, POLICY, name="w", clock=Clock())
        await store.accept([_message("m1")])
        await outbox.run_once()
        await outbox.drain()
        status = await store.message("m1")
        assert status is not None
        d = status.deliveries[0]
        assert (d.state, d.last_error) == (DeliveryState.RETRYING, "transport error (RuntimeError)")
        await store.close()

    run(main())


def test_stop_does_not_wait_for_a_free_slot(new_store: NewStore) -> None:
    """Every slot held by a hanging recipient: SIGTERM still ends within the grace period."""

    async def main() -> None:
        store = new_store()
        await store.open()
        acme = FakeTransport()
        acme.gate = asyncio.Event()
        policy = DeliveryConfig(concurrency=2, poll_seconds=0.01)
        outbox = Outbox(store, {"acme": acme}, policy, name="w", clock=Clock())
        await store.accept([_message(f"m{i}") for i in range(4)])
        outbox.start()
        while len(acme.parcels) < 2:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(outbox.stop(grace=0.05), 5)
        claims = await store.claim("w2", now=T0, lease=LEASE, limit=9)
        assert len(claims) == 4  # two handed back, two never claimed
        await store.close()

    run(main())


def test_an_attempt_that_outlives_its_lease_is_not_sent_twice_by_its_own_outbox(
    new_store: NewStore,
) -> None:
    """The same outbox claims its own delivery again after the lease expired mid-attempt:
    no second send, the attempt in flight stays tracked (the concurrency cap and stop() see
    it), and its verdict is settled with the new claim's token, not dropped as lease lost."""

    async def main() -> None:
        store = new_store()
        await store.open()
        clock = Clock()
        acme = FakeTransport()
        acme.gate = asyncio.Event()  # the recipient takes longer than the lease
        policy = DeliveryConfig(lease_seconds=30, concurrency=4)
        outbox = Outbox(store, {"acme": acme}, policy, name="w", clock=clock)
        await store.accept([_message("m1")])
        assert await outbox.run_once() == 1
        while not acme.parcels:
            await asyncio.sleep(0)
        clock.advance(31)  # the lease has expired; the attempt still runs
        assert await outbox.run_once() == 1  # claimed again, by this same outbox ...
        assert len(acme.parcels) == 1  # ... and not sent again
        assert list(outbox._inflight) == ["m1/acme"]
        acme.gate.set()
        await outbox.drain()
        status = await store.message("m1")
        assert status is not None
        d = status.deliveries[0]
        assert (d.state, d.attempts) == (DeliveryState.DELIVERED, 1)
        actions = [r.entry.action async for r in store.audit_records(message_id="m1")]
        assert actions == ["received", "delivered"]
        await store.close()

    run(main())


def test_another_worker_that_claimed_after_the_lease_decides_not_the_late_one(
    new_store: NewStore,
) -> None:
    """Another process claimed the delivery after the lease expired: the first attempt's
    late verdict is refused by its old token and writes nothing."""

    async def main() -> None:
        store = new_store()
        await store.open()
        clock = Clock()
        acme = FakeTransport([Answer(Verdict.PERMANENT, "400 late")])
        acme.gate = asyncio.Event()
        outbox = Outbox(store, {"acme": acme}, POLICY, name="w1", clock=clock)
        await store.accept([_message("m1")])
        await outbox.run_once()
        clock.advance(31)
        (other,) = await store.claim("w2", now=clock(), lease=LEASE, limit=5)
        acme.gate.set()
        await outbox.drain()  # w1's PERMANENT verdict comes too late
        from gateway.exchange.store.base import Settlement

        done = Settlement(Outcome.DELIVERED)
        assert await store.settle(other.delivery_id, other.token, done, [], now=clock())
        status = await store.message("m1")
        assert status is not None
        d = status.deliveries[0]
        assert (d.state, d.attempts, d.last_error) == (DeliveryState.DELIVERED, 1, None)
        await store.close()

    run(main())
