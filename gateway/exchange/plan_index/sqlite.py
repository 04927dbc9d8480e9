"""The plan index on SQLite: the accept hook (inside the store's write transaction, on its
one connection), the deadlines' recomputation (a write transaction of its own, under the
same single-writer lock as every accept) and the reads (on the same connection, through the
store's executor)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.coordination.chain import Deadline
from gateway.coordination.entries import Entry
from gateway.exchange.plan_index import (
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
from gateway.exchange.store.base import AuditEntry, NewMessage

if TYPE_CHECKING:
    from gateway.exchange.store.sqlite import SQLiteStore

T = TypeVar("T")
_CHUNK = 500  # patients per IN (...) list (SQLite allows 32766 parameters)


def _ts(value: datetime) -> str:
    from gateway.exchange.store.sqlite import ts

    return ts(value)


def index_accepted(db: sqlite3.Connection, messages: Sequence[NewMessage]) -> list[AuditEntry]:
    """Fold the accepted messages' entries into their patients' index and mark the patients
    for recomputation (:func:`recompute`), in the caller's write transaction; the audit
    records of the flags raised, for the caller to chain."""
    by_patient = arrivals(messages)
    if not by_patient:
        return []
    patients = sorted(by_patient)
    rows: list[tuple[str, str, Any, Any]] = []
    for i in range(0, len(patients), _CHUNK):
        part = patients[i : i + _CHUNK]
        marks = ", ".join("?" * len(part))
        rows += db.execute(
            f"SELECT 'e', patient, body, consents FROM plan_entries WHERE patient IN ({marks})"
            f" UNION ALL SELECT 'f', patient, flag_id, NULL FROM plan_flags"
            f" WHERE patient IN ({marks})",
            part * 2,
        ).fetchall()
    out = fold(by_patient, rows)
    db.executemany(
        "INSERT INTO plan_entries (entry_key, patient, kind, received_at, body, consents)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entry_key) DO UPDATE SET"
        " kind = excluded.kind, received_at = excluded.received_at, body = excluded.body,"
        " consents = excluded.consents",
        [
            (e.key, e.patient, str(e.kind), _ts(e.received_at), e.to_json().decode(), consents)
            for e, consents in out.entries
        ],
    )
    db.executemany(
        "INSERT INTO plan_flags VALUES (?, ?, ?, ?, ?)",
        [(f.id, f.patient, f.code, _ts(f.raised_at), flag_body(f).decode()) for f in out.flags],
    )
    at = _ts(messages[0].received_at)
    db.executemany(
        "INSERT INTO plan_dirty VALUES (?, ?) ON CONFLICT (patient) DO NOTHING",
        [(p, at) for p in out.dirty],
    )
    return out.audit


def recompute(db: sqlite3.Connection, patients: Sequence[str] | None = None) -> int:
    """Recompute the deadlines of up to :data:`_CHUNK` marked patients (``patients``: those of
    them only) and remove their marks, in the caller's write transaction (SQLite's one
    writer: no accept runs meanwhile); how many patients."""
    if patients is None:
        todo = [
            p
            for (p,) in db.execute(
                "SELECT patient FROM plan_dirty ORDER BY patient LIMIT ?", (_CHUNK,)
            )
        ]
    else:
        wanted = sorted(set(patients))[:_CHUNK]
        todo = [
            p
            for (p,) in db.execute(
                "SELECT patient FROM plan_dirty"
                f" WHERE patient IN ({', '.join('?' * len(wanted))}) ORDER BY patient",
                wanted,
            )
        ]
    if not todo:
        return 0
    marks = ", ".join("?" * len(todo))
    rows = db.execute(
        f"SELECT 'e', patient, body, consents, NULL FROM plan_entries WHERE patient IN ({marks})"
        f" UNION ALL SELECT 'd', patient, deadline_id, body, state || ' ' || due_on"
        f" FROM plan_deadlines WHERE patient IN ({marks})",
        todo * 2,
    ).fetchall()
    out = fold_deadlines(todo, rows)
    db.executemany("DELETE FROM plan_deadlines WHERE patient = ? AND deadline_id = ?", out.removed)
    db.executemany(
        "INSERT INTO plan_deadlines VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (patient, deadline_id) DO UPDATE SET"
        " state = excluded.state, due_on = excluded.due_on, body = excluded.body",
        [
            (d.patient, d.id, d.role, d.org, deadline_state(d), d.due.isoformat(), body)
            for d, body in out.deadlines
        ],
    )
    db.executemany(  # the body alone: the actor list's index is not touched
        "UPDATE plan_deadlines SET body = ? WHERE patient = ? AND deadline_id = ?",
        [(body, d.patient, d.id) for d, body in out.bodies],
    )
    db.execute(f"DELETE FROM plan_dirty WHERE patient IN ({marks})", todo)
    return len(todo)


def _records(
    db: sqlite3.Connection, *, patients: list[str], skip_marked: bool
) -> dict[str, PatientRecord]:
    """The records of ``patients`` (``skip_marked``: not of those marked for recomputation),
    a few statements per chunk of them."""
    out: dict[str, PatientRecord] = {}
    for i in range(0, len(patients), _CHUNK):
        part = patients[i : i + _CHUNK]
        marks = ", ".join("?" * len(part))
        marked = set()
        if skip_marked:
            sql = f"SELECT patient FROM plan_dirty WHERE patient IN ({marks})"
            marked = {p for (p,) in db.execute(sql, part)}
        got = {p: PatientRecord([], [], []) for p in part if p not in marked}
        sql = f"SELECT patient, body, consents FROM plan_entries WHERE patient IN ({marks})"
        for p, b, c in db.execute(sql, part):
            if p in got:
                got[p].entries.append(entry_from_row(b, c))
        sql = f"SELECT patient, body FROM plan_flags WHERE patient IN ({marks}) ORDER BY raised_at"
        for p, b in db.execute(sql, part):
            if p in got:
                got[p].flags.append(flag_from_row(b))
        sql = (
            f"SELECT patient, body FROM plan_deadlines WHERE patient IN ({marks})"
            " ORDER BY due_on, deadline_id"
        )
        for p, b in db.execute(sql, part):
            if p in got:
                got[p].deadlines.append(deadline_from_row(b))
        out |= got
    return out


class SQLitePlanIndex:
    """:class:`gateway.exchange.plan_index.PlanIndex` over a :class:`SQLiteStore`."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.store.read(fn)

    async def drain(self, patients: Sequence[str] | None = None, *, wait: bool = False) -> int:
        # one writer at a time (the store's lock): nothing to skip, nothing to wait for
        def dirty(db: sqlite3.Connection) -> bool:
            return db.execute("SELECT 1 FROM plan_dirty LIMIT 1").fetchone() is not None

        if patients is None and not await self._read(dirty):
            return 0
        total = 0
        if patients is not None:
            wanted = sorted(set(patients))
            for i in range(0, len(wanted), _CHUNK):
                part = wanted[i : i + _CHUNK]
                total += await self.store.write(partial(recompute, patients=part))
            return total
        while True:
            n = await self.store.write(recompute)
            total += n
            if n < _CHUNK:
                return total

    async def patient(self, patient: str) -> PatientRecord:
        return (await self.patients([patient]))[patient]

    async def patients(self, patients: Sequence[str]) -> dict[str, PatientRecord]:
        wanted = sorted(set(patients))
        found = await self._read(partial(_records, patients=wanted, skip_marked=True))
        marked = [p for p in wanted if p not in found]
        if marked:  # their deadlines recomputed first
            await self.drain(marked)
            found |= await self._read(partial(_records, patients=marked, skip_marked=False))
        return {p: found[p] for p in patients}

    async def entries_of(self, patients: Sequence[str]) -> dict[str, list[Entry]]:
        wanted = sorted(set(patients))

        def run(db: sqlite3.Connection) -> dict[str, list[Entry]]:
            out: dict[str, list[Entry]] = {p: [] for p in wanted}
            for i in range(0, len(wanted), _CHUNK):
                part = wanted[i : i + _CHUNK]
                marks = ", ".join("?" * len(part))
                for p, b, c in db.execute(
                    f"SELECT patient, body, consents FROM plan_entries WHERE patient IN ({marks})",
                    part,
                ):
                    out[p].append(entry_from_row(b, c))
            return out

        return await self._read(run)

    async def actor_deadlines(
        self, role: str, org: str, *, since: date, until: date, limit: int, offset: int = 0
    ) -> list[Deadline]:
        if offset == 0:
            await self.drain(wait=True)

        def run(db: sqlite3.Connection) -> list[Deadline]:
            rows = db.execute(
                "SELECT due_on, patient, deadline_id, body FROM ("
                " SELECT due_on, patient, deadline_id, body FROM plan_deadlines"
                "  WHERE role = ? AND org = ? AND state = 'open' AND due_on <= ?"
                " UNION ALL"
                " SELECT due_on, patient, deadline_id, body FROM plan_deadlines"
                "  WHERE role = ? AND org = ? AND state = 'milestone' AND due_on BETWEEN ? AND ?"
                ") ORDER BY due_on, patient, deadline_id LIMIT ? OFFSET ?",
                (
                    role,
                    org,
                    until.isoformat(),
                    role,
                    org,
                    since.isoformat(),
                    until.isoformat(),
                    limit,
                    offset,
                ),
            ).fetchall()
            return [deadline_from_row(r[3]) for r in rows]

        return await self._read(run)

    async def section4(self, start: datetime, end: datetime) -> list[Section4Row]:
        def run(db: sqlite3.Connection) -> list[Section4Row]:
            rows = db.execute(
                "SELECT e.body, e.consents, EXISTS (SELECT 1 FROM deliveries d"
                "  WHERE d.message_id = json_extract(e.body, '$.message_id')"
                "  AND d.state = 'delivered' AND d.recipient_id IN ("
                "   SELECT json_extract(value, '$[0]') FROM json_each(e.body, '$.recipients')"
                "   WHERE json_extract(value, '$[1]') = 'forsakringskassan'))"
                " FROM plan_entries e WHERE e.kind = 'section4-notification'"
                " AND e.received_at >= ? AND e.received_at < ?",
                (_ts(start), _ts(end)),
            ).fetchall()
            return [Section4Row(entry_from_row(b, c), bool(d)) for b, c, d in rows]

        return await self._read(run)

    async def certificates(self, start: datetime, end: datetime) -> list[Entry]:
        def run(db: sqlite3.Connection) -> list[Entry]:
            rows = db.execute(
                "SELECT body, consents FROM plan_entries WHERE kind = 'certificate'"
                " AND received_at < ?",
                (_ts(end),),
            ).fetchall()
            return [entry_from_row(b, c) for b, c in rows]

        return await self._read(run)


__all__ = ["SQLitePlanIndex", "index_accepted", "recompute"]
