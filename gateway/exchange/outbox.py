"""Outbox workers (Guaranteed Delivery over the transactional outbox).

A worker claims due push deliveries with a lease, hands each to its recipient's
:class:`~gateway.exchange.transport.Transport`, and settles it by the transport's
:class:`~gateway.exchange.transport.Verdict`:

* ``DELIVERED`` -> delivered;
* ``RETRY`` -> due again after an exponential backoff with jitter (``initial * multiplier **
  attempts``, at most ``max_backoff``, then a random 50-100 % of it so that retries spread;
  a recipient's ``Retry-After`` is a floor), until ``max_attempts`` -> dead letter;
* ``PERMANENT`` -> dead letter at once, with the recipient's reason.

A worker that crashes keeps nothing: its leases expire and any worker claims them again.
That gives at-least-once delivery; recipients drop repeats by the delivery id, which is the
same on every attempt (Idempotent Receiver). :meth:`Outbox.stop` (SIGTERM) stops claiming,
lets attempts in flight finish for a grace period and hands the rest back.

Each claim has its own token, and only the latest claim of a delivery can settle it. The
configuration refuses a recipient timeout that could outlive the lease
(:mod:`gateway.exchange.config`); should an attempt outlive it all the same (a stalled loop,
a slow store) and this outbox claim the delivery again, it does not send it a second time:
the attempt in flight takes the new claim's token and settles with it.

Logs: one line per attempt's end (``delivered``, ``retry``, ``dead-letter``) and per lost
lease, with ids and the verdict only: never the payload, never the recipient's reason text
(it is in the delivery's status and the audit trail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from gateway.documents import DocumentKind
from gateway.exchange.config import DeliveryConfig
from gateway.exchange.store.base import AuditEntry, Claim, Outcome, Settlement, Store
from gateway.exchange.transport import Answer, Parcel, Transport, Verdict
from gateway.formats.base import Format

log = logging.getLogger("gateway.outbox")
# a library's loggers say nothing until the application (gateway serve: logs.setup) decides
logging.getLogger("gateway").addHandler(logging.NullHandler())

Clock = Callable[[], datetime]
#: Called after each settled attempt: (claim, answer, outcome, seconds since accepted).
Observer = Callable[[Claim, Answer, Outcome, float], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int, policy: DeliveryConfig, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1, 2, …): exponential,
    capped, with "equal jitter" (half fixed, half random) so retries of many deliveries do
    not arrive together."""
    base = min(
        policy.max_backoff_seconds,
        policy.initial_backoff_seconds * policy.backoff_multiplier ** max(0, attempts - 1),
    )
    r = (rng or random).random()
    return base / 2 + base / 2 * r


def settlement_for(
    answer: Answer,
    attempts: int,
    policy: DeliveryConfig,
    now: datetime,
    rng: random.Random | None = None,
) -> Settlement:
    """What one attempt's answer means; ``attempts`` counts this attempt."""
    if answer.verdict is Verdict.DELIVERED:
        return Settlement(Outcome.DELIVERED)  # no error; the answer is in the audit trail
    if answer.verdict is Verdict.PERMANENT:
        return Settlement(Outcome.DEAD, answer.detail)
    if attempts >= policy.max_attempts:
        return Settlement(Outcome.DEAD, f"gave up after {attempts} attempts: {answer.detail}")
    wait = backoff(attempts, policy, rng)
    if answer.retry_after is not None:
        wait = max(wait, min(answer.retry_after, policy.max_backoff_seconds))
    return Settlement(Outcome.RETRY, answer.detail, timedelta(seconds=wait))


class Outbox:
    """The delivery workers of one process: one claiming loop, up to ``concurrency``
    attempts in flight."""

    def __init__(
        self,
        store: Store,
        transports: Mapping[str, Transport],
        policy: DeliveryConfig,
        *,
        name: str,
        clock: Clock = utcnow,
        observer: Observer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.transports = transports
        self.policy = policy
        self.name = name
        self.clock = clock
        self.observer = observer
        self.rng = rng
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._tokens: dict[str, str] = {}  # delivery id -> its latest claim's token
        self._loop_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name=f"outbox-{self.name}")

    def wake(self) -> None:
        """New deliveries were committed: look now instead of at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            # cleared before looking, so a wake-up that comes while we look is not lost
            self._wake.clear()
            try:
                claimed = await self.run_once()
            except Exception as exc:  # the store went away for a moment: log, wait, go on
                log.error(
                    "outbox %s: claiming failed (%s)",
                    self.name,
                    type(exc).__name__,
                    extra={"event": "claim-failed", "error": type(exc).__name__},
                )
                claimed = 0
            if claimed and not self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.poll_seconds)

    async def run_once(self) -> int:
        """Claim what is due (as many as there are free slots) and start attempts; returns
        how many were claimed. Tests drive the outbox with this and :meth:`drain`. With every
        slot busy it claims nothing; a finished attempt wakes the loop."""
        free = self.policy.concurrency - len(self._inflight)
        if free <= 0:
            return 0
        claims = await self.store.claim(
            self.name,
            now=self.clock(),
            lease=timedelta(seconds=self.policy.lease_seconds),
            limit=free,
        )
        for claim in claims:
            self._tokens[claim.delivery_id] = claim.token
            if claim.delivery_id in self._inflight:
                # our own attempt outlived its lease and we claimed the delivery again: the
                # attempt in flight settles with the new token; no second send
                log.warning(
                    "outbox %s: lease on %s expired during its attempt; renewed",
                    self.name,
                    claim.delivery_id,
                    extra=_ids(claim, event="lease-renewed"),
                )
                continue
            task = asyncio.create_task(self._attempt(claim))
            self._inflight[claim.delivery_id] = task
            task.add_done_callback(self._forget(claim.delivery_id))
        return len(claims)

    def _forget(self, delivery_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._inflight.pop(delivery_id, None)
            self._tokens.pop(delivery_id, None)
            # look for more once a quarter of the slots are free (or all): a claim is a write
            # transaction, so claiming one delivery per finished attempt would cost as much
            # as the attempts themselves
            free = self.policy.concurrency - len(self._inflight)
            if not self._inflight or free >= max(1, self.policy.concurrency // 4):
                self._wake.set()

        return done

    async def drain(self) -> None:
        """Wait for every attempt in flight (tests)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)

    async def _attempt(self, claim: Claim) -> None:
        transport = self.transports.get(claim.recipient_id)
        if transport is None:
            answer = Answer(Verdict.PERMANENT, f"no transport configured for {claim.recipient_id}")
        else:
            parcel = Parcel(
                delivery_id=claim.delivery_id,
                message_id=claim.message_id,
                recipient_id=claim.recipient_id,
                kind=DocumentKind(claim.kind),
                format=Format(claim.format),
                payload=claim.payload,
                media_type=claim.media_type,
            )
            try:
                answer = await transport.deliver(parcel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a transport bug: retry, never lose the delivery
                log.error(
                    "outbox %s: transport for %s raised %s",
                    self.name,
                    claim.recipient_id,
                    type(exc).__name__,
                    extra=_ids(claim, event="transport-error", error=type(exc).__name__),
                )
                answer = Answer(Verdict.RETRY, f"transport error ({type(exc).__name__})")
        now = self.clock()
        attempts = claim.attempts + 1
        settlement = settlement_for(answer, attempts, self.policy, now, self.rng)
        action = {
            Outcome.DELIVERED: "delivered",
            Outcome.RETRY: "attempt-failed",
            Outcome.DEAD: "dead-lettered",
        }[settlement.outcome]
        detail: dict[str, object] = {
            "attempt": attempts,
            "verdict": str(answer.verdict),
            "answer": answer.detail,
            "delivery": claim.delivery_id,
        }
        if settlement.delay is not None:
            detail["retry_in_seconds"] = round(settlement.delay.total_seconds(), 3)
        audit = AuditEntry(
            now, f"worker:{self.name}", action, claim.message_id, claim.recipient_id, detail
        )
        token = self._tokens.get(claim.delivery_id, claim.token)
        held = await self.store.settle(claim.delivery_id, token, settlement, [audit], now=now)
        if not held:
            log.warning(
                "outbox %s: lease on %s lost before settling",
                self.name,
                claim.delivery_id,
                extra=_ids(claim, event="lease-lost", attempt=attempts),
            )
            return
        _log_settled(claim, answer, settlement, attempts)
        if self.observer is not None:
            age = (now - claim.accepted_at).total_seconds()
            self.observer(claim, answer, settlement.outcome, age)

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; give attempts in flight ``grace`` seconds, then cancel them and hand
        their deliveries back (due at once, no attempt counted)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        grace = self.policy.shutdown_grace_seconds if grace is None else grace
        pending = list(self._inflight.values())
        released = 0
        if pending:
            _done, still = await asyncio.wait(pending, timeout=grace)
            if still:
                held = {
                    d: self._tokens[d]
                    for d, t in list(self._inflight.items())
                    if t in still and d in self._tokens
                }
                for t in still:
                    t.cancel()
                await asyncio.gather(*still, return_exceptions=True)
                released = await self.store.release(held)
        log.info(
            "outbox %s stopped: %d attempts finished, %d deliveries handed back",
            self.name,
            len(pending) - released,
            released,
            extra={"event": "outbox-stopped", "handed_back": released},
        )


def _ids(claim: Claim, **more: object) -> dict[str, object]:
    """A log line's fields for one delivery: ids only."""
    return {
        "delivery_id": claim.delivery_id,
        "message_id": claim.message_id,
        "recipient": claim.recipient_id,
        "kind": claim.kind,
        **more,
    }


def _log_settled(claim: Claim, answer: Answer, settlement: Settlement, attempt: int) -> None:
    fields = _ids(claim, attempt=attempt, verdict=str(answer.verdict))
    if settlement.outcome is Outcome.DELIVERED:
        fields["event"] = "delivered"
        log.info("delivered %s to %s", claim.delivery_id, claim.recipient_id, extra=fields)
    elif settlement.outcome is Outcome.RETRY:
        wait = settlement.delay.total_seconds() if settlement.delay else 0.0
        fields.update(event="retry", retry_in_seconds=round(wait, 3))
        log.warning(
            "attempt %d of %s to %s failed; retry in %.1f s",
            attempt,
            claim.delivery_id,
            claim.recipient_id,
            wait,
            extra=fields,
        )
    else:
        fields["event"] = "dead-letter"
        log.warning(
            "dead-lettered %s to %s after %d attempts",
            claim.delivery_id,
            claim.recipient_id,
            attempt,
            extra=fields,
        )
