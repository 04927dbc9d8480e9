"""The plan index on PostgreSQL: the accept hook (inside the store's write transaction, on the
same connection) and the reads (on the store's pool).

Several processes accept at once: the hook takes a transaction-scoped advisory lock per
patient (in a fixed order, so two batches never wait on each other in a circle), then reads
the patient's index in a new statement - so it sees whatever another process committed while
it waited - and writes everything in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from gateway.coordination.chain import Deadline
from gateway.coordination.entries import Entry
from gateway.exchange.plan_index import (
    Fold,
    PatientRecord,
    Section4Row,
    arrivals,
    deadline_from_row,
    deadline_state,
    entry_from_row,
    flag_body,
    flag_from_row,
    fold,
)
from gateway.exchange.store.base import AuditEntry, NewMessage

if TYPE_CHECKING:
    from gateway.exchange.store.postgresql import Conn, PostgreSQLStore

#: The first key of the two-key advisory locks on patients (its own key space: the
#: migration lock uses the one-key form).
LOCK_CLASS = 1717

_WRITE = (
    "WITH e AS (INSERT INTO plan_entries SELECT * FROM unnest($1::text[], $2::text[],"
    " $3::text[], $4::timestamptz[], $5::text[], $6::text[])"
    " ON CONFLICT (entry_key) DO UPDATE SET kind = excluded.kind,"
    " received_at = excluded.received_at, body = excluded.body, consents = excluded.consents),"
    " f AS (INSERT INTO plan_flags SELECT * FROM unnest($7::text[], $8::text[], $9::text[],"
    " $10::timestamptz[], $11::text[])),"
    " x AS (DELETE FROM plan_deadlines WHERE deadline_id = ANY($12::text[])),"
    " d AS (INSERT INTO plan_deadlines SELECT * FROM unnest($13::text[], $14::text[],"
    " $15::text[], $16::text[], $17::text[], $18::date[], $19::text[])"
    " ON CONFLICT (deadline_id) DO UPDATE SET"
    " state = excluded.state, due_on = excluded.due_on, body = excluded.body),"
    # the body alone: no indexed column changes, so the row is updated in place (HOT)
    " b AS (UPDATE plan_deadlines p SET body = u.body"
    " FROM unnest($20::text[], $21::text[]) AS u(id, body) WHERE p.deadline_id = u.id)"
    " SELECT 1"
)


async def index_accepted(conn: Conn, messages: Sequence[NewMessage]) -> list[AuditEntry]:
    """Fold the accepted messages' entries into their patients' index, in the caller's
    transaction on ``conn``; the audit records of the flags raised, for the caller to journal."""
    by_patient = arrivals(messages)
    if not by_patient:
        return []
    patients = sorted(by_patient)
    await conn.execute(
        "SELECT pg_advisory_xact_lock($2, k) FROM (SELECT DISTINCT hashtext(p) AS k"
        " FROM unnest($1::text[]) AS p ORDER BY k) AS s",
        patients,
        LOCK_CLASS,
    )
    rows = await conn.fetch(
        "SELECT 'e', patient, body, consents, NULL FROM plan_entries"
        " WHERE patient = ANY($1::text[])"
        " UNION ALL SELECT 'f', patient, flag_id, NULL, NULL FROM plan_flags"
        " WHERE patient = ANY($1::text[])"
        " UNION ALL SELECT 'd', patient, deadline_id, body, state || ' ' || due_on::text"
        " FROM plan_deadlines WHERE patient = ANY($1::text[])",
        patients,
    )
    out = fold(by_patient, [tuple(r) for r in rows])
    await conn.execute(_WRITE, *_columns(out))
    return out.audit


def _columns(out: Fold) -> list[Any]:
    deadlines = [d for d, _ in out.deadlines]
    return [
        [e.key for e in out.entries],
        [e.patient for e in out.entries],
        [str(e.kind) for e in out.entries],
        [e.received_at for e in out.entries],
        [e.to_json().decode() for e in out.entries],
        [e.consents_json() for e in out.entries],
        [f.id for f in out.flags],
        [f.patient for f in out.flags],
        [f.code for f in out.flags],
        [f.raised_at for f in out.flags],
        [flag_body(f).decode() for f in out.flags],
        [i for _, i in out.removed],
        [d.id for d in deadlines],
        [d.patient for d in deadlines],
        [d.role for d in deadlines],
        [d.org for d in deadlines],
        [deadline_state(d) for d in deadlines],
        [d.due for d in deadlines],
        [body for _, body in out.deadlines],
        [d.id for d, _ in out.bodies],
        [body for _, body in out.bodies],
    ]


class PostgreSQLPlanIndex:
    """:class:`gateway.exchange.plan_index.PlanIndex` over a :class:`PostgreSQLStore`."""

    def __init__(self, store: PostgreSQLStore) -> None:
        self.store = store

    async def patient(self, patient: str) -> PatientRecord:
        rows = await self.store.pool.fetch(
            "SELECT 'e', body, consents, NULL::date FROM plan_entries WHERE patient = $1"
            " UNION ALL SELECT 'f', body, NULL, NULL FROM plan_flags WHERE patient = $1"
            " UNION ALL SELECT 'd', body, NULL, due_on FROM plan_deadlines WHERE patient = $1",
            patient,
        )
        entries = [entry_from_row(r[1], r[2]) for r in rows if r[0] == "e"]
        flags = sorted(
            (flag_from_row(r[1]) for r in rows if r[0] == "f"), key=lambda f: f.raised_at
        )
        deadlines = sorted(
            (deadline_from_row(r[1]) for r in rows if r[0] == "d"), key=lambda d: (d.due, d.id)
        )
        return PatientRecord(entries, flags, deadlines)

    async def entries_of(self, patients: Sequence[str]) -> dict[str, list[Entry]]:
        wanted = sorted(set(patients))
        out: dict[str, list[Entry]] = {p: [] for p in wanted}
        rows = await self.store.pool.fetch(
            "SELECT patient, body, consents FROM plan_entries WHERE patient = ANY($1::text[])",
            wanted,
        )
        for p, b, c in rows:
            out[p].append(entry_from_row(b, c))
        return out

    async def actor_deadlines(
        self, role: str, org: str, *, since: date, until: date, limit: int, offset: int = 0
    ) -> list[Deadline]:
        rows = await self.store.pool.fetch(
            "SELECT body FROM ("
            " (SELECT due_on, deadline_id, body FROM plan_deadlines"
            "  WHERE role = $1 AND org = $2 AND state = 'open' AND due_on <= $4"
            "  ORDER BY due_on, deadline_id LIMIT $5::int + $6::int)"
            " UNION ALL"
            " (SELECT due_on, deadline_id, body FROM plan_deadlines"
            "  WHERE role = $1 AND org = $2 AND state = 'milestone' AND due_on BETWEEN $3 AND $4"
            "  ORDER BY due_on, deadline_id LIMIT $5::int + $6::int)"
            ") AS u ORDER BY due_on, deadline_id LIMIT $5::int OFFSET $6::int",
            role,
            org,
            since,
            until,
            limit,
            offset,
        )
        return [deadline_from_row(r[0]) for r in rows]

    async def section4(self, start: datetime, end: datetime) -> list[Section4Row]:
        rows = await self.store.pool.fetch(
            "SELECT e.body, e.consents, EXISTS (SELECT 1 FROM deliveries d"
            "  WHERE d.message_id = e.body::jsonb ->> 'message_id' AND d.state = 'delivered'"
            "  AND d.recipient_id IN (SELECT r ->> 0 FROM jsonb_array_elements("
            "   e.body::jsonb -> 'recipients') AS r WHERE r ->> 1 = 'forsakringskassan'))"
            " FROM plan_entries e WHERE e.kind = 'section4-notification'"
            " AND e.received_at >= $1 AND e.received_at < $2",
            start,
            end,
        )
        return [Section4Row(entry_from_row(b, c), bool(d)) for b, c, d in rows]

    async def certificates(self, start: datetime, end: datetime) -> list[Entry]:
        rows = await self.store.pool.fetch(
            "SELECT body, consents FROM plan_entries WHERE kind = 'certificate'"
            " AND received_at < $1",
            end,
        )
        return [entry_from_row(b, c) for b, c in rows]


__all__ = ["LOCK_CLASS", "PostgreSQLPlanIndex", "index_accepted"]
