"""What the console reads, and the one table it writes (its sessions): a protocol with one
module per database beside the exchange store's (``sqlite.py``, ``postgresql.py``).

Every query here is metadata: ids, states, counts, times, rule codes, hashes and the
recipients' own answers. None selects a ``payload`` column (a test reads this package's
source to hold it to that), so no page of the console can show a document.

The overview's figures are those of ``/metrics``: deliveries not yet final (pending,
retrying, offered), dead letters and the oldest undelivered come from the same rows as
:meth:`gateway.exchange.store.base.Store.stats`; delivered and failed attempts per recipient
over the last hour and day are counted from the audit trail (``delivered``,
``acknowledged``, ``attempt-failed``, ``dead-lettered``), so they are the same in every
process of a multi-process gateway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from gateway.exchange.store.base import AuditRecord

#: the audit actions the overview counts (delivered) and (failed)
DELIVERED_ACTIONS = ("delivered", "acknowledged")
FAILED_ACTIONS = ("attempt-failed", "dead-lettered")
OUTCOME_ACTIONS = (*DELIVERED_ACTIONS, *FAILED_ACTIONS)
#: delivery states that are not final (the outbox depth) and the dead-letter state
OPEN_STATES = ("pending", "retrying", "offered")
HOURS = 24  # the overview chart's hourly bars
#: the predicates of the partial indexes that hold deliveries in each not-final state
#: (deliveries_due, deliveries_inbox, deliveries_dead)
STATE_INDEXED = {
    "pending": "d.state IN ('pending', 'retrying')",
    "retrying": "d.state IN ('pending', 'retrying')",
    "offered": "d.state = 'offered'",
    "dead": "d.state = 'dead'",
}
#: the open and dead deliveries per recipient and state, one query per partial index
OPEN_QUERIES = tuple(
    "SELECT d.recipient_id, d.state, count(*), min(d.accepted_at) FROM deliveries d"
    f" WHERE {predicate} GROUP BY d.recipient_id, d.state"
    for predicate in dict.fromkeys(STATE_INDEXED.values())
)


@dataclass(frozen=True, slots=True)
class RecipientFigures:
    recipient_id: str
    open: int = 0  # pending, retrying or offered now
    dead: int = 0
    oldest_open: datetime | None = None
    delivered_hour: int = 0
    failed_hour: int = 0
    delivered_day: int = 0
    failed_day: int = 0


@dataclass(frozen=True, slots=True)
class HourFigures:
    start: datetime
    delivered: int
    failed: int


@dataclass(frozen=True, slots=True)
class Overview:
    now: datetime
    depth: int
    dead: int
    oldest_undelivered: datetime | None
    recipients: tuple[RecipientFigures, ...]
    hours: tuple[HourFigures, ...]  # the last 24 hours, oldest first

    @property
    def delivered_hour(self) -> int:
        return sum(r.delivered_hour for r in self.recipients)

    @property
    def failed_hour(self) -> int:
        return sum(r.failed_hour for r in self.recipients)

    @property
    def delivered_day(self) -> int:
        return sum(r.delivered_day for r in self.recipients)

    @property
    def failed_day(self) -> int:
        return sum(r.failed_day for r in self.recipients)


@dataclass(frozen=True, slots=True)
class MessageQuery:
    """Search filters (all optional, combined with AND) and a keyset cursor: results are
    newest first; ``before`` is the (received_at, message_id) of the last row seen."""

    message_id: str | None = None
    sender_id: str | None = None
    recipient_id: str | None = None
    kind: str | None = None
    state: str | None = None  # a delivery of the message is in this state
    since: datetime | None = None
    until: datetime | None = None
    before: tuple[datetime, str] | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class MessageRow:
    message_id: str
    sender_id: str
    kind: str
    received_at: datetime
    deliveries: tuple[tuple[str, str], ...] = ()  # (recipient id, state) in position order


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery_id: str
    recipient_id: str
    mode: str
    format: str
    state: str
    attempts: int
    offers: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class MessageView:
    message_id: str
    sender_id: str
    kind: str
    content_hash: str
    received_at: datetime
    deliveries: tuple[DeliveryView, ...]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Audit filters; newest first, ``before_seq`` the last seq seen."""

    message_id: str | None = None
    actor: str | None = None
    action: str | None = None
    recipient_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    method: str  # "mtls" or "token"
    created_at: datetime
    seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None


class ReadModel(Protocol):
    """The console's queries over one exchange store, and its session table. Opened after the
    store (its migrations made the table and indexes) and closed with the app."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def overview(self, *, now: datetime, recipients: Sequence[str]) -> Overview:
        """The figures for the overview page; ``recipients`` are the configured ids (each
        gets a row, with or without traffic; ids found only in the store are added)."""
        ...

    async def messages(self, query: MessageQuery) -> list[MessageRow]: ...

    async def message(self, message_id: str) -> MessageView | None: ...

    async def audit(self, query: AuditQuery) -> list[AuditRecord]: ...

    async def recent_answers(self, recipient_id: str, *, limit: int) -> list[AuditRecord]:
        """The recipient's last delivery outcomes (newest first): its own answers."""
        ...

    async def start_session(
        self, session_hash: str, user_id: str, method: str, *, now: datetime, expires: datetime
    ) -> None: ...

    async def session(self, session_hash: str) -> Session | None: ...

    async def touch_session(self, session_hash: str, *, now: datetime) -> None: ...

    async def end_session(self, session_hash: str, *, now: datetime) -> bool:
        """Log out: True if the session was open."""
        ...

    async def purge_sessions(self, *, before: datetime) -> int:
        """Forget sessions that ended or expired before ``before``."""
        ...


# -- shared by the two dialects -------------------------------------------------------------


@dataclass
class Where:
    """AND-ed clauses with their parameters; ``param`` writes a placeholder for a value
    (``?`` for SQLite, ``$n`` for PostgreSQL)."""

    param: Callable[[Any], str]
    clauses: list[str] = field(default_factory=list)

    def add(self, template: str, *values: Any) -> None:
        """``template`` with one ``{}`` per value."""
        self.clauses.append(template.format(*(self.param(v) for v in values)))

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def message_where(q: MessageQuery, w: Where, time: Callable[[datetime], Any]) -> None:
    """The WHERE clauses of a message search (``m`` the messages table)."""
    if q.message_id:
        w.add("m.message_id = {}", q.message_id)
    if q.sender_id:
        w.add("m.sender_id = {}", q.sender_id)
    if q.kind:
        w.add("m.kind = {}", q.kind)
    if q.since is not None:
        w.add("m.received_at >= {}", time(q.since))
    if q.until is not None:
        w.add("m.received_at < {}", time(q.until))
    if q.before is not None:
        w.add("(m.received_at, m.message_id) < ({}, {})", time(q.before[0]), q.before[1])
    if q.state in (*OPEN_STATES, "dead"):
        # few rows, found through the store's partial index for the state (its predicate
        # written out as it is, so the database sees it applies)
        sub = Where(w.param)
        sub.add("d.state = {}", q.state)
        if q.recipient_id:
            sub.add("d.recipient_id = {}", q.recipient_id)
        w.clauses.append(
            f"m.message_id IN (SELECT d.message_id FROM deliveries d WHERE"
            f" {STATE_INDEXED[q.state]} AND {sub.sql()})"
        )
    elif q.state or q.recipient_id:
        sub = Where(w.param)
        if q.state:
            sub.add("d.state = {}", q.state)
        if q.recipient_id:
            sub.add("d.recipient_id = {}", q.recipient_id)
        w.clauses.append(
            f"EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = m.message_id AND {sub.sql()})"
        )


def audit_where(q: AuditQuery, w: Where, time: Callable[[datetime], Any]) -> None:
    if q.message_id:
        w.add("message_id = {}", q.message_id)
    if q.actor:
        w.add("actor = {}", q.actor)
    if q.action:
        w.add("action = {}", q.action)
    if q.recipient_id:
        w.add("recipient_id = {}", q.recipient_id)
    if q.since is not None:
        w.add("at >= {}", time(q.since))
    if q.until is not None:
        w.add("at < {}", time(q.until))
    if q.before_seq is not None:
        w.add("seq < {}", q.before_seq)


def hour_of(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def bar_hours(now: datetime) -> list[datetime]:
    """The start of each hour the overview's chart shows, oldest first (the last one is the
    hour now running)."""
    last = hour_of(now.astimezone(UTC))
    return [last - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


#: an hour this long past its end gets no more audit records (they are written at the time
#: of the attempt and chained within seconds), so its counts never change again
SETTLED = timedelta(minutes=10)
#: (delivered, failed) per recipient id
Counts = dict[str, tuple[int, int]]
CountRanges = Callable[
    [Sequence[tuple[Sequence[str], datetime, datetime | None]]], Awaitable[list[Counts]]
]


class OutcomeCounts:
    """Delivered and failed attempts per recipient for the overview: each hour of the chart
    that has settled is counted once per process and kept; what is still moving (the part
    of the day before the chart's first hour, the unsettled hours, the last hour) is counted
    on every call. So a day holding every message costs one full count, then a few hours'."""

    def __init__(self) -> None:
        self._hours: dict[datetime, Counts] = {}

    async def rows(
        self, count: CountRanges, ids: Sequence[str], now: datetime
    ) -> tuple[list[tuple[str, datetime | None, int, int]], list[tuple[str, int, int]]]:
        """The ``day_rows`` and ``hour_rows`` of :func:`assemble`; ``count`` counts a list of
        (recipient ids, low, high) time ranges (``high`` None: no end) in one read."""
        now = now.astimezone(UTC)
        hours = bar_hours(now)
        ranges: list[tuple[Sequence[str], datetime, datetime | None]] = [
            (ids, now - timedelta(days=1), hours[0]),  # the day before the chart's first bar
            (ids, now - timedelta(hours=1), None),  # the last hour
        ]
        plan: list[tuple[datetime, bool, Counts, list[str]]] = []
        for i, hour in enumerate(hours):
            settled = hour + timedelta(hours=1) <= now - SETTLED
            known = self._hours.get(hour, {}) if settled else {}
            wanted = [rid for rid in ids if rid not in known]
            plan.append((hour, settled, known, wanted))
            if wanted:
                end = hour + timedelta(hours=1) if i < len(hours) - 1 else None
                ranges.append((wanted, hour, end))
        counted = iter(await count(ranges))
        before, last = next(counted), next(counted)
        day: list[tuple[str, datetime | None, int, int]] = [
            (rid, None, d, f) for rid, (d, f) in before.items()
        ]
        for hour, settled, known, wanted in plan:
            got = next(counted) if wanted else {}
            counts = {**known, **{rid: got.get(rid, (0, 0)) for rid in wanted}}
            if settled:
                self._hours[hour] = counts
            day += [(rid, hour, d, f) for rid, (d, f) in counts.items() if rid in ids]
        for old in [h for h in self._hours if h < hours[0]]:
            del self._hours[old]
        return day, [(rid, *last.get(rid, (0, 0))) for rid in ids]


def assemble(
    now: datetime,
    recipients: Sequence[str],
    open_rows: Sequence[tuple[str, str, int, datetime | None]],
    day_rows: Sequence[tuple[str, datetime | None, int, int]],
    hour_rows: Sequence[tuple[str, int, int]],
) -> Overview:
    """The overview from the queries' rows: (recipient, state, count, oldest accepted) of open
    and dead deliveries; (recipient, hour, delivered, failed) of delivery outcomes since a
    day ago, by the hour they fell in (``None`` or an hour before the chart: the part of the
    day before its first bar); (recipient, delivered, failed) over the last hour."""
    now = now.astimezone(UTC)
    ids = list(dict.fromkeys([*recipients, *(r[0] for r in open_rows)]))
    figures: dict[str, dict[str, Any]] = {rid: {"recipient_id": rid} for rid in ids}
    depth = dead = 0
    oldest: datetime | None = None
    for rid, state, count, first in open_rows:
        f = figures[rid]
        if state == "dead":
            f["dead"] = f.get("dead", 0) + count
            dead += count
            continue
        f["open"] = f.get("open", 0) + count
        depth += count
        if first is not None:
            if f.get("oldest_open") is None or first < f["oldest_open"]:
                f["oldest_open"] = first
            if oldest is None or first < oldest:
                oldest = first
    bars = {h: [0, 0] for h in bar_hours(now)}
    for rid, hour, delivered, failed in day_rows:
        if rid not in figures:
            continue
        f = figures[rid]
        f["delivered_day"] = f.get("delivered_day", 0) + delivered
        f["failed_day"] = f.get("failed_day", 0) + failed
        if hour in bars:
            bars[hour][0] += delivered
            bars[hour][1] += failed
    for rid, delivered, failed in hour_rows:
        if rid in figures:
            figures[rid]["delivered_hour"] = delivered
            figures[rid]["failed_hour"] = failed
    return Overview(
        now,
        depth,
        dead,
        oldest,
        tuple(RecipientFigures(**figures[rid]) for rid in ids),
        tuple(HourFigures(h, d, x) for h, (d, x) in bars.items()),
    )


__all__ = [
    "DELIVERED_ACTIONS",
    "FAILED_ACTIONS",
    "OPEN_QUERIES",
    "OPEN_STATES",
    "OUTCOME_ACTIONS",
    "AuditQuery",
    "DeliveryView",
    "HourFigures",
    "MessageQuery",
    "MessageRow",
    "MessageView",
    "OutcomeCounts",
    "Overview",
    "ReadModel",
    "RecipientFigures",
    "Session",
    "Where",
    "assemble",
    "audit_where",
    "bar_hours",
    "message_where",
]
