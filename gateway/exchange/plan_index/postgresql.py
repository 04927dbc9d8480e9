"""The plan index on PostgreSQL: the accept hook (inside the store's write transaction, on the
same connection) and the reads (on the store's pool).

Several processes accept at once: the hook takes a transaction-scoped advisory lock per
patient (in a fixed order, so two batches never wait on each other in a circle), then reads
the patient's index in a new statement - so it sees whatever another process committed while
it waited - and writes the entries, the flags and the patient's mark in ``plan_dirty`` in one
statement.

The drain (:meth:`PostgreSQLPlanIndex.drain`: the server's worker, and a reader about to
show deadlines) claims marked patients with ``FOR UPDATE SKIP LOCKED`` - two processes never
recompute one patient at once - takes the same patient locks, reads the entries in a new
statement, and writes the deadline rows and removes the marks in one statement. Locks are
taken accept: patient lock -> (mark, never waiting); drain: mark -> patient lock; the accept
never waits for a mark's row lock, so the two never wait on each other in a circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

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
    fold_deadlines,
)
from gateway.exchange.store.base import AuditEntry, NewMessage, StoreError

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
    " $10::timestamptz[], $11::text[]))"
    # the mark: never waits on a drain that holds it (DO NOTHING takes no row lock), and a
    # drain that holds it waits for this transaction's patient lock before reading
    " INSERT INTO plan_dirty SELECT unnest($12::text[]), $13::timestamptz"
    " ON CONFLICT (patient) DO NOTHING"
)

#: Claim up to $1 marked patients (all, or those in $3) and take their patient locks, in a
#: fixed order (no two transactions wait on each other in a circle).
_CLAIM = (
    "WITH c AS (SELECT patient FROM plan_dirty {where} ORDER BY patient LIMIT $1 FOR UPDATE{skip}),"
    " l AS (SELECT count(*) FROM (SELECT pg_advisory_xact_lock($2, k) FROM"
    " (SELECT DISTINCT hashtext(patient) AS k FROM c ORDER BY k) AS s) AS t)"
    " SELECT patient FROM c, l"
)

_RECOMPUTED = (
    "WITH x AS (DELETE FROM plan_deadlines WHERE deadline_id = ANY($1::text[])),"
    " d AS (INSERT INTO plan_deadlines SELECT * FROM unnest($2::text[], $3::text[],"
    " $4::text[], $5::text[], $6::text[], $7::date[], $8::text[])"
    " ON CONFLICT (deadline_id) DO UPDATE SET"
    " state = excluded.state, due_on = excluded.due_on, body = excluded.body),"
    # the body alone: no indexed column changes, so the row is updated in place (HOT)
    " b AS (UPDATE plan_deadlines p SET body = u.body"
    " FROM unnest($9::text[], $10::text[]) AS u(id, body) WHERE p.deadline_id = u.id)"
    " DELETE FROM plan_dirty WHERE patient = ANY($11::text[])"
)

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

#: Patients per recomputation transaction.
BATCH = 500


async def index_accepted(conn: Conn, messages: Sequence[NewMessage]) -> list[AuditEntry]:
    """Fold the accepted messages' entries into their patients' index and mark the patients
    for recomputation (:func:`recompute`), in the caller's transaction on ``conn``; the audit
    records of the flags raised, for the caller to journal."""
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
        "SELECT 'e', patient, body, consents FROM plan_entries WHERE patient = ANY($1::text[])"
        " UNION ALL SELECT 'f', patient, flag_id, NULL FROM plan_flags"
        " WHERE patient = ANY($1::text[])",
        patients,
    )
    out = fold(by_patient, [tuple(r) for r in rows])
    await conn.execute(_WRITE, *_columns(out), out.dirty, messages[0].received_at)
    return out.audit


def _columns(out: Fold) -> list[Any]:
    entries = [e for e, _ in out.entries]
    return [
        [e.key for e in entries],
        [e.patient for e in entries],
        [str(e.kind) for e in entries],
        [e.received_at for e in entries],
        [e.to_json().decode() for e in entries],
        [consents for _, consents in out.entries],
        [f.id for f in out.flags],
        [f.patient for f in out.flags],
        [f.code for f in out.flags],
        [f.raised_at for f in out.flags],
        [flag_body(f).decode() for f in out.flags],
    ]


async def claim(
    conn: Conn, patients: Sequence[str] | None = None, *, wait: bool = False, limit: int = BATCH
) -> list[str]:
    """Claim up to ``limit`` marked patients in the caller's transaction: their marks' row
    locks (another drain skips them - ``FOR UPDATE SKIP LOCKED`` - so no patient is
    recomputed by two at once; ``wait``: wait for those another holds instead, a reader that
    must not show stale rows) and their patient locks (so no accept for them commits until
    this transaction does). A mark another drain removed meanwhile is not claimed."""
    where = "WHERE patient = ANY($3::text[])" if patients is not None else ""
    sql = _CLAIM.format(where=where, skip="" if wait else " SKIP LOCKED")
    args: list[Any] = [limit, LOCK_CLASS]
    if patients is not None:
        args.append(sorted(set(patients)))
    return [r[0] for r in await conn.fetch(sql, *args)]


async def recompute(conn: Conn, patients: Sequence[str]) -> None:
    """Recompute the deadlines of ``patients`` (claimed by :func:`claim` in this transaction)
    and remove their marks. The read is a statement after the claim, so it sees every accept
    that committed while the claim waited for a patient lock."""
    rows = await conn.fetch(
        "SELECT 'e', patient, body, consents, NULL FROM plan_entries"
        " WHERE patient = ANY($1::text[])"
        " UNION ALL SELECT 'd', patient, deadline_id, body, state || ' ' || due_on::text"
        " FROM plan_deadlines WHERE patient = ANY($1::text[])",
        list(patients),
    )
    out = fold_deadlines(patients, [tuple(r) for r in rows])
    deadlines = [d for d, _ in out.deadlines]
    await conn.execute(
        _RECOMPUTED,
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
        list(patients),
    )


class PostgreSQLPlanIndex:
    """:class:`gateway.exchange.plan_index.PlanIndex` over a :class:`PostgreSQLStore`."""

    def __init__(self, store: PostgreSQLStore) -> None:
        self.store = store

    async def drain(self, patients: Sequence[str] | None = None, *, wait: bool = False) -> int:
        total = 0
        try:
            while True:
                async with self.store.pool.acquire() as conn, conn.transaction():
                    todo = await claim(conn, patients, wait=wait)
                    if todo:
                        await recompute(conn, todo)
                total += len(todo)
                if len(todo) < BATCH:
                    return total
        except _DB_ERRORS as exc:
            # the class only: a database's message may quote a row (a patient's id)
            raise StoreError(f"PostgreSQL: {type(exc).__name__}") from exc

    async def patient(self, patient: str) -> PatientRecord:
        return (await self.patients([patient]))[patient]

    async def patients(self, patients: Sequence[str]) -> dict[str, PatientRecord]:
        wanted = sorted(set(patients))
        rows = await self._rows(wanted)
        marked = sorted({r[1] for r in rows if r[0] == "x"})
        if marked:  # their deadlines recomputed first
            await self.drain(marked, wait=True)
            rows = await self._rows(wanted)
        out = {p: PatientRecord([], [], []) for p in wanted}
        for what, p, body, consents in rows:
            record = out[p]
            if what == "e":
                record.entries.append(entry_from_row(body, consents))
            elif what == "f":
                record.flags.append(flag_from_row(body))
            elif what == "d":
                record.deadlines.append(deadline_from_row(body))
        for record in out.values():
            record.flags.sort(key=lambda f: f.raised_at)
            record.deadlines.sort(key=lambda d: (d.due, d.id))
        return {p: out[p] for p in patients}

    async def _rows(self, patients: list[str]) -> list[Any]:
        return await self.store.pool.fetch(
            "SELECT 'e', patient, body, consents FROM plan_entries WHERE patient = ANY($1::text[])"
            " UNION ALL SELECT 'f', patient, body, NULL FROM plan_flags"
            " WHERE patient = ANY($1::text[])"
            " UNION ALL SELECT 'd', patient, body, NULL FROM plan_deadlines"
            " WHERE patient = ANY($1::text[])"
            " UNION ALL SELECT 'x', patient, NULL, NULL FROM plan_dirty"
            " WHERE patient = ANY($1::text[])",
            patients,
        )

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
        if offset == 0 and await self.store.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM plan_dirty)"
        ):
            await self.drain(wait=True)
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


__all__ = ["LOCK_CLASS", "PostgreSQLPlanIndex", "claim", "index_accepted", "recompute"]
