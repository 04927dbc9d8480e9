"""The console's queries on the PostgreSQL store, through the store's connection pool.

Audit records reach the chain through the store's sealer (a write journals them first and
wakes its process's sealer, docs/exchange/store.md): the overview and the audit page count
and list sealed records, so a record may show a moment after its write. (Asking the store to
seal first, through ``audit_records``, cost a scan of the whole trail per page: its query's
generic plan cannot use an index.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
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

_AUDIT_COLUMNS = "seq, at, actor, action, message_id, recipient_id, detail, prev_hash, hash"
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def _record(r: Any) -> AuditRecord:
    entry = AuditEntry(r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]))
    return AuditRecord(r[0], entry, r[7], r[8])


class _Params:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


class PostgreSQLReadModel:
    """:class:`gateway.console.readmodel.base.ReadModel` over an opened
    :class:`gateway.exchange.store.postgresql.PostgreSQLStore`."""

    def __init__(self, store: Any) -> None:
        self.store = store  # PostgreSQLStore: its ``pool``
        self._outcomes = OutcomeCounts()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None  # the pool is the store's

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            rows: list[asyncpg.Record] = await self.store.pool.fetch(sql, *args)
        except _DB_ERRORS as exc:
            raise StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
        return rows

    async def _execute(self, sql: str, *args: Any) -> int:
        try:
            status: str = await self.store.pool.execute(sql, *args)
        except _DB_ERRORS as exc:
            raise StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
        return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0

    # -- pages ---------------------------------------------------------------------------

    async def overview(self, *, now: datetime, recipients: Sequence[str]) -> Overview:
        try:
            async with (
                self.store.pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):  # one snapshot for the three
                open_rows = [
                    (r[0], r[1], r[2], r[3]) for sql in OPEN_QUERIES for r in await conn.fetch(sql)
                ]
        except _DB_ERRORS as exc:
            raise StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
        ids = list(dict.fromkeys([*recipients, *(r[0] for r in open_rows)]))
        day_rows, hour_rows = await self._outcomes.rows(self._count, ids, now)
        return assemble(now, ids, open_rows, day_rows, hour_rows)

    async def _count(
        self, ranges: Sequence[tuple[Sequence[str], datetime, datetime | None]]
    ) -> list[dict[str, tuple[int, int]]]:
        """Outcomes per recipient in each time range (``audit_outcomes``), on one connection
        in one snapshot."""
        sql = (
            "SELECT recipient_id,"
            " count(*) FILTER (WHERE action IN ('delivered', 'acknowledged')),"
            " count(*) FILTER (WHERE action IN ('attempt-failed', 'dead-lettered'))"
            " FROM audit WHERE action IN ('delivered', 'acknowledged', 'attempt-failed',"
            " 'dead-lettered') AND recipient_id = ANY($1::text[]) AND at >= $2"
            " AND ($3::timestamptz IS NULL OR at < $3) GROUP BY recipient_id"
        )
        try:
            async with (
                self.store.pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return [
                    {r[0]: (r[1], r[2]) for r in await conn.fetch(sql, list(ids), low, high)}
                    for ids, low, high in ranges
                ]
        except _DB_ERRORS as exc:
            raise StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc

    async def messages(self, query: MessageQuery) -> list[MessageRow]:
        p = _Params()
        w = Where(p)
        message_where(query, w, lambda t: t)
        limit = p(query.limit)
        rows = await self._fetch(
            "SELECT m.message_id, m.sender_id, m.kind, m.received_at FROM messages m"
            f" WHERE {w.sql()} ORDER BY m.received_at DESC, m.message_id DESC LIMIT {limit}",
            *p.values,
        )
        states: dict[str, list[tuple[str, str]]] = {r[0]: [] for r in rows}
        if rows:
            for mid, rid, state in await self._fetch(
                "SELECT message_id, recipient_id, state FROM deliveries"
                " WHERE message_id = ANY($1::text[]) ORDER BY message_id, position",
                [r[0] for r in rows],
            ):
                states[mid].append((rid, state))
        return [MessageRow(r[0], r[1], r[2], r[3], tuple(states[r[0]])) for r in rows]

    async def message(self, message_id: str) -> MessageView | None:
        found = await self._fetch(
            "SELECT message_id, sender_id, kind, content_hash, received_at FROM messages"
            " WHERE message_id = $1",
            message_id,
        )
        if not found:
            return None
        m = found[0]
        rows = await self._fetch(
            "SELECT delivery_id, recipient_id, mode, format, state, attempts, offers,"
            " last_error, next_attempt_at, updated_at, delivered_at FROM deliveries"
            " WHERE message_id = $1 ORDER BY position",
            message_id,
        )
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
                r[8] if r[4] == "retrying" else None,
                r[9],
                r[10],
            )
            for r in rows
        )
        return MessageView(m[0], m[1], m[2], m[3], m[4], deliveries)

    async def audit(self, query: AuditQuery) -> list[AuditRecord]:
        p = _Params()
        w = Where(p)
        audit_where(query, w, lambda t: t)
        limit = p(query.limit)
        rows = await self._fetch(
            f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE {w.sql()} ORDER BY seq DESC LIMIT {limit}",
            *p.values,
        )
        return [_record(r) for r in rows]

    async def recent_answers(self, recipient_id: str, *, limit: int) -> list[AuditRecord]:
        rows = await self._fetch(
            f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE recipient_id = $1 AND action IN"
            " ('delivered', 'acknowledged', 'attempt-failed', 'dead-lettered')"
            " ORDER BY at DESC, seq DESC LIMIT $2",
            recipient_id,
            limit,
        )
        return [_record(r) for r in rows]

    # -- sessions ------------------------------------------------------------------------

    async def start_session(
        self, session_hash: str, user_id: str, method: str, *, now: datetime, expires: datetime
    ) -> None:
        await self._execute(
            "INSERT INTO console_sessions VALUES ($1, $2, $3, $4, $4, $5, NULL)",
            session_hash,
            user_id,
            method,
            now,
            expires,
        )

    async def session(self, session_hash: str) -> Session | None:
        rows = await self._fetch(
            "SELECT user_id, method, created_at, seen_at, expires_at, ended_at"
            " FROM console_sessions WHERE session_hash = $1",
            session_hash,
        )
        return Session(*rows[0]) if rows else None

    async def touch_session(self, session_hash: str, *, now: datetime) -> None:
        await self._execute(
            "UPDATE console_sessions SET seen_at = $1 WHERE session_hash = $2 AND ended_at IS NULL",
            now,
            session_hash,
        )

    async def end_session(self, session_hash: str, *, now: datetime) -> bool:
        return bool(
            await self._execute(
                "UPDATE console_sessions SET ended_at = $1 WHERE session_hash = $2"
                " AND ended_at IS NULL",
                now,
                session_hash,
            )
        )

    async def purge_sessions(self, *, before: datetime) -> int:
        return await self._execute(
            "DELETE FROM console_sessions WHERE expires_at < $1 OR ended_at < $1", before
        )


__all__ = ["PostgreSQLReadModel"]
