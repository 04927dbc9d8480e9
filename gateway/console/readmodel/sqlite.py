"""The console's queries on the embedded SQLite store.

A connection of its own on the store's file, in a thread of its own: in WAL mode readers
never wait for the writer, so an operator's page never holds up accepts and deliveries
(the store's own connection serialises every call in order). The session table's few writes
(log in, log out, a touch a minute) take SQLite's write lock and wait for it like any writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import orjson

from gateway.console.readmodel.base import (
    OPEN_QUERIES,
    AuditQuery,
    DeliveryView,
    MessageQuery,
    MessageRow,
    MessageView,
    OutcomeCounts,
    Overview,
    Session,
    Where,
    assemble,
    audit_where,
    message_where,
)
from gateway.exchange.store.base import AuditEntry, AuditRecord, StoreError
from gateway.exchange.store.sqlite import parse_ts, ts

T = TypeVar("T")
_BUSY_MS = 30_000
_AUDIT_COLUMNS = "seq, at, actor, action, message_id, recipient_id, detail, prev_hash, hash"


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _record(r: Sequence[Any]) -> AuditRecord:
    entry = AuditEntry(_t(r[1]), r[2], r[3], r[4], r[5], orjson.loads(r[6]))
    return AuditRecord(r[0], entry, r[7], r[8])


def _outcomes(
    db: sqlite3.Connection, recipient_id: str, low: str, high: str | None
) -> tuple[int, int]:
    """Delivered and failed attempts to one recipient at or after ``low`` (before ``high``)."""
    row = db.execute(
        "SELECT count(*) FILTER (WHERE action IN ('delivered', 'acknowledged')),"
        " count(*) FILTER (WHERE action IN ('attempt-failed', 'dead-lettered'))"
        " FROM audit WHERE action IN ('delivered', 'acknowledged', 'attempt-failed',"
        " 'dead-lettered') AND recipient_id = ? AND at >= ?"
        + (" AND at < ?" if high is not None else ""),
        (recipient_id, low) if high is None else (recipient_id, low, high),
    ).fetchone()
    return int(row[0]), int(row[1])


class SQLiteReadModel:
    """:class:`gateway.console.readmodel.base.ReadModel` on the store file ``path``."""

    def __init__(self, path: str) -> None:
        if path == ":memory:":
            raise StoreError("the console needs the store in a file, not sqlite://:memory:")
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-read")
        self._db: sqlite3.Connection | None = None
        self._outcomes = OutcomeCounts()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            if self._db is None:
                raise StoreError("the console's read model is not open")
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        def connect() -> None:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_MS / 1000
            )
            db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            self._db = db

        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite {self.path}: {exc}") from exc

    async def close(self) -> None:
        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)

    # -- pages ---------------------------------------------------------------------------

    async def overview(self, *, now: datetime, recipients: Sequence[str]) -> Overview:
        def read(db: sqlite3.Connection) -> list[tuple[str, str, int, datetime | None]]:
            db.execute("BEGIN")  # one snapshot for the three
            try:
                return [
                    (r[0], r[1], r[2], parse_ts(r[3]))
                    for sql in OPEN_QUERIES
                    for r in db.execute(sql)
                ]
            finally:
                db.execute("COMMIT")

        open_rows = await self._run(read)
        ids = list(dict.fromkeys([*recipients, *(r[0] for r in open_rows)]))
        day_rows, hour_rows = await self._outcomes.rows(self._count, ids, now)
        return assemble(now, ids, open_rows, day_rows, hour_rows)

    async def _count(
        self, ranges: Sequence[tuple[Sequence[str], datetime, datetime | None]]
    ) -> list[dict[str, tuple[int, int]]]:
        """Outcomes per recipient in each time range, in one read: a range scan of
        ``audit_outcomes`` per recipient and range (no grouping, so no sort however many
        fall in a range)."""
        bounds = [(ids, ts(lo), ts(hi) if hi is not None else None) for ids, lo, hi in ranges]

        def run(db: sqlite3.Connection) -> list[dict[str, tuple[int, int]]]:
            db.execute("BEGIN")  # one snapshot for every range
            try:
                return [{rid: _outcomes(db, rid, lo, hi) for rid in ids} for ids, lo, hi in bounds]
            finally:
                db.execute("COMMIT")

        return await self._run(run)

    async def messages(self, query: MessageQuery) -> list[MessageRow]:
        args: list[Any] = []

        def param(value: Any) -> str:
            args.append(value)
            return "?"

        w = Where(param)
        message_where(query, w, ts)
        sql = (
            "SELECT m.message_id, m.sender_id, m.kind, m.received_at FROM messages m"
            f" WHERE {w.sql()} ORDER BY m.received_at DESC, m.message_id DESC LIMIT ?"
        )

        def run(db: sqlite3.Connection) -> list[MessageRow]:
            rows = db.execute(sql, (*args, query.limit)).fetchall()
            states: dict[str, list[tuple[str, str]]] = {r[0]: [] for r in rows}
            if rows:
                marks = ", ".join("?" * len(rows))
                for mid, rid, state in db.execute(
                    "SELECT message_id, recipient_id, state FROM deliveries"
                    f" WHERE message_id IN ({marks}) ORDER BY message_id, position",
                    [r[0] for r in rows],
                ):
                    states[mid].append((rid, state))
            return [MessageRow(r[0], r[1], r[2], _t(r[3]), tuple(states[r[0]])) for r in rows]

        return await self._run(run)

    async def message(self, message_id: str) -> MessageView | None:
        def run(db: sqlite3.Connection) -> MessageView | None:
            m = db.execute(
                "SELECT message_id, sender_id, kind, content_hash, received_at FROM messages"
                " WHERE message_id = ?",
                (message_id,),
            ).fetchone()
            if m is None:
                return None
            rows = db.execute(
                "SELECT delivery_id, recipient_id, mode, format, state, attempts, offers,"
                " last_error, next_attempt_at, updated_at, delivered_at FROM deliveries"
                " WHERE message_id = ? ORDER BY position",
                (message_id,),
            ).fetchall()
            deliveries = tuple(
                DeliveryView(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    parse_ts(r[8]) if r[4] == "retrying" else None,
                    _t(r[9]),
                    parse_ts(r[10]),
                )
                for r in rows
            )
            return MessageView(m[0], m[1], m[2], m[3], _t(m[4]), deliveries)

        return await self._run(run)

    async def audit(self, query: AuditQuery) -> list[AuditRecord]:
        args: list[Any] = []

        def param(value: Any) -> str:
            args.append(value)
            return "?"

        w = Where(param)
        audit_where(query, w, ts)
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE {w.sql()} ORDER BY seq DESC LIMIT ?"
        return await self._run(
            lambda db: [_record(r) for r in db.execute(sql, (*args, query.limit))]
        )

    async def recent_answers(self, recipient_id: str, *, limit: int) -> list[AuditRecord]:
        sql = (
            f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE recipient_id = ? AND action IN"
            " ('delivered', 'acknowledged', 'attempt-failed', 'dead-lettered')"
            " ORDER BY at DESC, seq DESC LIMIT ?"
        )
        return await self._run(
            lambda db: [_record(r) for r in db.execute(sql, (recipient_id, limit))]
        )

    # -- sessions ------------------------------------------------------------------------

    async def _write(self, sql: str, args: Sequence[Any]) -> int:
        def run(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                count = db.execute(sql, args).rowcount
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return count

        return await self._run(run)

    async def start_session(
        self, session_hash: str, user_id: str, method: str, *, now: datetime, expires: datetime
    ) -> None:
        n = ts(now)
        await self._write(
            "INSERT INTO console_sessions VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (session_hash, user_id, method, n, n, ts(expires)),
        )

    async def session(self, session_hash: str) -> Session | None:
        def run(db: sqlite3.Connection) -> Session | None:
            r = db.execute(
                "SELECT user_id, method, created_at, seen_at, expires_at, ended_at"
                " FROM console_sessions WHERE session_hash = ?",
                (session_hash,),
            ).fetchone()
            if r is None:
                return None
            return Session(r[0], r[1], _t(r[2]), _t(r[3]), _t(r[4]), parse_ts(r[5]))

        return await self._run(run)

    async def touch_session(self, session_hash: str, *, now: datetime) -> None:
        await self._write(
            "UPDATE console_sessions SET seen_at = ? WHERE session_hash = ? AND ended_at IS NULL",
            (ts(now), session_hash),
        )

    async def end_session(self, session_hash: str, *, now: datetime) -> bool:
        return bool(
            await self._write(
                "UPDATE console_sessions SET ended_at = ?"
                " WHERE session_hash = ? AND ended_at IS NULL",
                (ts(now), session_hash),
            )
        )

    async def purge_sessions(self, *, before: datetime) -> int:
        b = ts(before)
        return await self._write(
            "DELETE FROM console_sessions WHERE expires_at < ? OR ended_at < ?", (b, b)
        )


__all__ = ["SQLiteReadModel"]
