"""The store seam: one protocol, one module per database (``sqlite.py``, ``postgresql.py``),
the way procrastinate has one connector per driver. The router, the outbox workers, the audit
trail and the HTTP API are written against :class:`Store` only.

The store holds four things:

* **messages**: what was accepted, from whom, with the content hash and the first answer
  (Idempotent Receiver: the same id with the same content gets that answer again);
* **deliveries**: one per (message, recipient), the outbox rows the workers claim with a
  lease (Guaranteed Delivery), or the pull recipient's inbox;
* **consent uses**: which consent a §4 notification used (each is used once);
* **the audit trail**: append-only, each record chained to the one before by hash
  (:mod:`gateway.exchange.audit` computes the hashes; a store only keeps the order).

Every method is a coroutine; one call is one transaction unless its docstring says otherwise.
Times are timezone-aware UTC ``datetime`` values. **Two clocks**: what a record says happened
(received, updated, delivered, audit times) is the caller's ``now``; what decides who may
work on a delivery (leases, due times) is the *store's* clock, so hosts whose clocks disagree
cannot take over each other's live leases. SQLite (one host) uses the caller's ``now`` for
both; PostgreSQL uses the database's ``now()`` unless opened with ``caller_clock=True``
(tests that move time). That is why :meth:`Store.claim` takes a lease *duration* and a
:class:`Settlement` a retry *delay*, never instants.

Nothing here stores patient data outside ``payload`` columns: audit details and errors are
metadata (codes, ids, hashes, the recipient's status line), never the document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit


class DeliveryState(StrEnum):
    """Where one delivery stands.

    ``pending`` (never tried, or handed back) and ``retrying`` (tried, failed, due again at
    ``next_attempt_at``) are claimable by push workers; ``offered`` is a pull delivery waiting
    in the recipient's inbox until acknowledged; ``delivered`` is final; ``dead`` (dead-letter
    channel) waits for a redeliver command; ``refused`` means policy refused this recipient's
    copy at accept time (nothing to deliver, the rule code is in ``last_error``)."""

    PENDING = "pending"
    RETRYING = "retrying"
    OFFERED = "offered"
    DELIVERED = "delivered"
    DEAD = "dead"
    REFUSED = "refused"


class DeliveryMode(StrEnum):
    PUSH = "push"  # a worker hands it to the recipient's Transport
    PULL = "pull"  # the recipient fetches it from GET /inbox and acknowledges


class AcceptStatus(StrEnum):
    ACCEPTED = "accepted"  # stored now: message, deliveries, consent use, audit
    DUPLICATE = "duplicate"  # same sender, id and content hash: ``answer`` is the first one
    CONFLICT = "conflict"  # the id is taken by other content (or another sender): HTTP 409
    CONSENT_USED = "consent-used"  # the §4 consent was used by an earlier message


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One fact for the audit trail, before the store chains it. ``action`` is a short verb
    (``received``, ``validated``, ``policy``, ``attempt``, ``delivered``, ``dead-lettered``,
    ``redelivered``, ``acknowledged``, ``purged``); ``actor`` who did it (sender id, recipient
    id, ``worker:<name>``, ``operator``); ``detail`` JSON-serialisable metadata (rule codes,
    redaction report, HTTP status, hashes) and never payload text."""

    at: datetime
    actor: str
    action: str
    message_id: str | None = None
    recipient_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An :class:`AuditEntry` as stored: its position ``seq`` (1, 2, 3, … with no gaps), the
    hash of the record before it (``""`` for the first) and its own hash
    (:func:`gateway.exchange.audit.chain_hash`)."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One recipient's copy of an accepted message. ``payload`` is what the recipient
    receives (already through policy and rendered); ``None`` only with state ``refused``.
    The initial state is ``pending`` for push, ``offered`` for pull, or ``refused``."""

    delivery_id: str
    recipient_id: str
    mode: DeliveryMode
    format: str
    media_type: str
    payload: bytes | None
    state: DeliveryState = DeliveryState.PENDING
    last_error: str | None = None  # for ``refused``: the rule code(s) and reason


@dataclass(frozen=True, slots=True)
class NewMessage:
    """Everything :meth:`Store.accept` commits for one message in one transaction.

    ``content_hash`` (hex SHA-256 of the bytes received) and ``sender_id`` decide between
    DUPLICATE and CONFLICT when ``message_id`` exists. ``answer`` is the JSON body of the
    ``202`` the sender gets, stored so a duplicate gets the same. ``consent_key``, when set
    (a §4 notification's consent), must not have been used by another message."""

    message_id: str
    sender_id: str
    kind: str
    content_hash: str
    received_at: datetime
    answer: bytes
    deliveries: tuple[NewDelivery, ...]
    audit: tuple[AuditEntry, ...]
    consent_key: str | None = None


@dataclass(frozen=True, slots=True)
class AcceptResult:
    """The outcome for one :class:`NewMessage`; ``answer`` is the stored first answer for
    ACCEPTED and DUPLICATE, ``None`` otherwise."""

    message_id: str
    status: AcceptStatus
    answer: bytes | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A push delivery a worker holds until ``lease_until`` (the store's clock). ``attempts``
    counts the attempts made before this one. After the lease expires, any worker may claim
    it again, and gets a new ``token``: only the holder of the latest token can settle or
    release it (a lease belongs to one claim, not to a process)."""

    delivery_id: str
    message_id: str
    recipient_id: str
    kind: str
    format: str
    media_type: str
    payload: bytes
    attempts: int
    accepted_at: datetime
    lease_until: datetime
    token: str


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Settlement:
    """How an attempt ended, for :meth:`Store.settle`. ``delay`` is required for RETRY: the
    delivery is due again that long after the settlement, on the store's clock. ``error`` is
    the recipient's own reason for a RETRY or DEAD (shown in the status and the audit); a
    delivered delivery has none."""

    outcome: Outcome
    error: str | None = None
    delay: timedelta | None = None


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    delivery_id: str
    recipient_id: str
    mode: DeliveryMode
    state: DeliveryState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class MessageStatus:
    message_id: str
    sender_id: str
    kind: str
    received_at: datetime
    deliveries: tuple[DeliveryStatus, ...]


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A pull delivery offered to its recipient (again, until acknowledged)."""

    delivery_id: str
    message_id: str
    kind: str
    format: str
    media_type: str
    payload: bytes
    accepted_at: datetime
    offers: int  # how many times it was offered, this one included


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """For /metrics: deliveries not yet final (pending, retrying, offered), how many are
    dead-lettered, and when the oldest undelivered one was accepted (``None``: none)."""

    depth: int
    dead: int
    oldest_undelivered: datetime | None


class StoreError(Exception):
    """The database is unreachable or refused an operation (not a problem with input)."""


#: (sender id, content hash, first answer) of a message already stored, by message id.
Stored = Mapping[str, tuple[str, str, bytes]]


def decide(
    messages: Sequence[NewMessage], stored: Stored, used: Collection[str]
) -> tuple[list[AcceptResult], list[NewMessage]]:
    """The Idempotent Receiver's decision for a batch, the same for every store: each
    message's result in order, and the messages to write (in order). ``stored`` holds the
    batch's ids already in the database, ``used`` its consent keys already spent. Within the
    batch the first of two equal ids or consent keys wins, as if they had come one after the
    other. Pure: the store reads, this decides, the store writes (in one transaction)."""
    results: list[AcceptResult] = []
    accepted: dict[str, NewMessage] = {}
    spent = set(used)
    for m in messages:
        earlier = accepted.get(m.message_id)
        first = (
            (earlier.sender_id, earlier.content_hash, earlier.answer)
            if earlier is not None
            else stored.get(m.message_id)
        )
        if first is not None:
            same = first[0] == m.sender_id and first[1] == m.content_hash
            results.append(
                AcceptResult(m.message_id, AcceptStatus.DUPLICATE, first[2])
                if same
                else AcceptResult(m.message_id, AcceptStatus.CONFLICT)
            )
        elif m.consent_key is not None and m.consent_key in spent:
            results.append(AcceptResult(m.message_id, AcceptStatus.CONSENT_USED))
        else:
            accepted[m.message_id] = m
            if m.consent_key is not None:
                spent.add(m.consent_key)
            results.append(AcceptResult(m.message_id, AcceptStatus.ACCEPTED, m.answer))
    return results, list(accepted.values())


def has_push_work(messages: Sequence[NewMessage]) -> bool:
    """Whether committing ``messages`` gives the outbox anything to claim (pull and refused
    deliveries give it nothing: no wake-up for them)."""
    return any(d.state is DeliveryState.PENDING for m in messages for d in m.deliveries)


def masked(url: str) -> str:
    """``url`` with its password, if it has one, replaced by ``***`` (for messages and logs;
    a URL without a password is shown as it is)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(
        (parts.scheme, f"{user}:***@{hostport}", parts.path, parts.query, parts.fragment)
    )


class Store(Protocol):
    """The persistence seam. Implementations: :mod:`.sqlite` (embedded, default) and
    :mod:`.postgresql` (several processes and hosts). A store is opened once per process,
    shared by the HTTP handlers and the outbox workers of that process, and must be safe for
    concurrent use from one event loop."""

    url: str

    async def open(self) -> None:
        """Connect and apply pending schema migrations (versioned, each once, in order;
        several processes starting at once must not apply one twice)."""
        ...

    async def close(self) -> None: ...

    async def health(self) -> str | None:
        """``None`` when the store can take writes (GET /ready), else why not, for the
        operator: the database does not answer, or (SQLite) a transaction was left open."""
        ...

    def watch(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from the event loop) when another process, on this host or another,
        commits push deliveries that are due (PostgreSQL: ``LISTEN``/``NOTIFY``), so its
        outbox need not wait for its next poll. A store without such a channel never calls
        it. Set before :meth:`open`."""
        ...

    async def accept(self, messages: Sequence[NewMessage]) -> list[AcceptResult]:
        """Commit a batch of messages, one result per message in the same order.

        One transaction for the whole batch (group commit: the server batches concurrent
        requests): for each ACCEPTED message its row, its deliveries, its consent use and its
        audit entries (chained in order) are all stored or none is. A message whose id
        exists gets DUPLICATE (same sender and content hash; nothing is written) or CONFLICT;
        a message whose ``consent_key`` was used gets CONSENT_USED (nothing is written). Two
        messages in one batch with the same id or consent key: the first wins, as if they had
        come one after the other. The ``202`` must not be sent before this returns."""
        ...

    async def claim(
        self, worker: str, *, now: datetime, lease: timedelta, limit: int
    ) -> list[Claim]:
        """Lease up to ``limit`` due push deliveries to ``worker`` for ``lease`` (each claim
        with a fresh token): state pending, or retrying and due, and no unexpired lease (a
        crashed worker's claims come back when theirs expires). Oldest first. No two
        unexpired leases on one delivery, across processes (PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``). Due and expired are judged on the store's clock (module docstring)."""
        ...

    async def settle(
        self,
        delivery_id: str,
        token: str,
        settlement: Settlement,
        audit: Sequence[AuditEntry],
        *,
        now: datetime,
    ) -> bool:
        """Record an attempt's end and its audit entries in one transaction: attempts + 1,
        state delivered / retrying (due ``settlement.delay`` later) / dead, lease cleared.
        Returns False, and writes nothing, when ``token`` is not the delivery's latest claim
        (the lease expired and the delivery was claimed again): that claim's result decides."""
        ...

    async def release(self, held: Mapping[str, str]) -> int:
        """Hand claims back without counting an attempt (graceful shutdown): for each
        ``delivery_id -> token`` still held by that token, lease cleared, due at once.
        Returns how many were released."""
        ...

    async def redeliver(
        self, message_id: str, recipient_id: str | None, audit: AuditEntry, *, now: datetime
    ) -> int:
        """Dead letters of ``message_id`` (for one recipient, or all) back to pending with
        attempts reset to 0; one copy of ``audit`` per delivery moved (with its
        ``recipient_id`` filled in). Returns how many moved (0: none dead)."""
        ...

    async def message(self, message_id: str) -> MessageStatus | None:
        """The message and the state of each of its deliveries (recipient order as accepted)."""
        ...

    async def inbox(self, recipient_id: str, *, limit: int, now: datetime) -> list[InboxItem]:
        """The recipient's unacknowledged pull deliveries, oldest first; each call offers them
        again (``offers`` + 1) until :meth:`acknowledge`."""
        ...

    async def acknowledge(
        self, recipient_id: str, delivery_id: str, audit: AuditEntry, *, now: datetime
    ) -> bool:
        """Mark a pull delivery delivered. True if it was offered to this recipient (now
        delivered, or already acknowledged earlier: acknowledging twice is harmless);
        False if no such delivery belongs to this recipient. Audit is written on the first."""
        ...

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries that belong to no other write (e.g. a refused message)."""
        ...

    def audit_records(
        self, *, message_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[AuditRecord]:
        """The audit trail in ``seq`` order, optionally only one message's records or those
        at or after ``since``. Streams: memory does not grow with the trail."""
        ...

    async def purge_payloads(self, before: datetime, audit: AuditEntry) -> int:
        """Retention: drop the payload of every delivery delivered (or refused) before
        ``before``; metadata and hashes stay. One ``audit`` entry (with the count in its
        detail) when any was purged. Returns the count."""
        ...

    async def stats(self, *, now: datetime) -> OutboxStats: ...


__all__ = [
    "AcceptResult",
    "AcceptStatus",
    "AuditEntry",
    "AuditRecord",
    "Claim",
    "DeliveryMode",
    "DeliveryState",
    "DeliveryStatus",
    "InboxItem",
    "MessageStatus",
    "NewDelivery",
    "NewMessage",
    "OutboxStats",
    "Outcome",
    "Settlement",
    "Store",
    "StoreError",
    "decide",
    "has_push_work",
    "masked",
]


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of ``migrations/<dialect>/NNNN_name.sql``, in order: the versioned
    schema every store applies at start (package data, so an installed wheel has them)."""
    folder = resources.files("gateway.exchange.store") / "migrations" / dialect
    found = []
    for item in folder.iterdir():
        name = item.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name[:-4], item.read_text(encoding="utf-8")))
    return sorted(found)
