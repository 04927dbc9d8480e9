r"""The store for scale-out: PostgreSQL, shared by several gateway processes on one host or many
(``gateway serve --database postgresql://user@host:5432/db``).

* **Driver**: asyncpg with a connection pool (binary protocol; measured faster than psycopg 3
  at the batched commits :meth:`PostgreSQLStore.accept` makes, docs/exchange/store.md).
* **Migrations** (``migrations/postgresql/NNNN_name.sql``) are applied at :meth:`open` in one
  transaction under a transaction-scoped advisory lock, so processes starting at once apply
  each version exactly once; the others wait, then find nothing left to do.
* **Few round trips**: an accept reads what exists, then writes the whole batch (messages,
  consent uses, deliveries, audit facts) in one statement; a settlement is one statement. The
  event loop that reads the answers also runs the engine, so each round trip is costly.
* **Claims**: ``SELECT … FOR UPDATE SKIP LOCKED`` picks due rows no other transaction is
  claiming, and a lease (``lease_owner``, ``lease_until``, ``lease_token``) marks them held
  after commit; a crashed worker's rows are due again when the lease expires. A settlement
  only lands with the latest claim's token.
* **The database's clock** decides leases and due times (``now()``), not each host's: a host
  whose clock runs ahead cannot take over live leases, nor one running behind delay new
  messages. (``caller_clock=True`` uses the caller's ``now`` instead: tests that move time.)
* **Wake-ups across hosts**: an accept or redelivery that stores due push deliveries sends
  ``NOTIFY`` on the schema's channel in its own statement (delivered at commit); every
  process ``LISTEN``\s on a connection of its own and wakes its outbox at once, so another
  host's message does not wait for the poll.
* **Audit chain**: a write journals its audit entries in its own transaction
  (``audit_pending``), so the message, its deliveries, its consent use and its audit facts
  commit together, and concurrent commits never wait for each other. A sealer (one task per
  process) then moves committed entries into the chain in order, many per transaction, under
  the row lock of the one-row ``audit_head``: sealers of several processes take turns, ``seq``
  has no gaps, and :meth:`PostgreSQLStore.audit_records` seals before it reads.

URL options of ours (taken out before connecting): ``schema`` (created if missing, and the
only schema on the search path), ``pool_min``, ``pool_max`` (default 1 and 8 connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from gateway.exchange.audit import chain_hash
from gateway.exchange.plan_index.postgresql import index_accepted
from gateway.exchange.store.base import (
    AcceptResult,
    AuditEntry,
    AuditRecord,
    Claim,
    DeliveryMode,
    DeliveryState,
    DeliveryStatus,
    InboxItem,
    MessageStatus,
    NewMessage,
    OutboxStats,
    Outcome,
    Settlement,
    StoreError,
    decide,
    has_push_work,
    masked,
    migrations,
)

_PAGE = 500  # audit rows read per round trip while streaming
_SEAL_BATCH = 5000  # pending audit entries chained per sealing transaction
_SEAL_EVERY = 2.0  # seconds between seals when this process writes nothing
_SEAL_GATHER = 0.05  # seconds a woken sealer waits for more writes before sealing
_RACE_RETRIES = 5  # an accept that lost a race with another process is redone this often
_OURS = ("schema", "pool_min", "pool_max")
_RELISTEN_EVERY = 5.0  # seconds between checks that the LISTEN connection is alive
_IDENT_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

# asyncpg raises these for a database that is down, refuses, or cancels a statement.
#: a connection of our own (migrations) or one lent by the pool
Conn = asyncpg.Connection | PoolConnectionProxy

log = logging.getLogger(__name__)

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """The DSN asyncpg receives and our own options (``schema``, ``pool_min``, ``pool_max``)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OURS}
    rest = urlencode([(k, v) for k, v in query if k not in _OURS])
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, rest, parts.fragment)), ours


#: ``url`` without its password (for messages and logs): the one masker, in store.base.
redacted = masked


def _detail(entry: AuditEntry) -> str:
    return orjson.dumps(dict(entry.detail), option=orjson.OPT_SORT_KEYS).decode()


def _journal(first: int, when: str = "") -> str:
    """An INSERT of audit facts into ``audit_pending`` from six array parameters starting at
    ``$first`` (in array order), for use inside a larger statement."""
    p = [f"${first + i}" for i in range(6)]
    return (
        "INSERT INTO audit_pending (at, actor, action, message_id, recipient_id, detail)"
        f" SELECT at, ac, an, m, r, d FROM unnest({p[0]}::timestamptz[], {p[1]}::text[],"
        f" {p[2]}::text[], {p[3]}::text[], {p[4]}::text[], {p[5]}::text[])"
        f" WITH ORDINALITY AS t(at, ac, an, m, r, d, n) {when} ORDER BY n"
    )


def _journal_args(entries: Sequence[AuditEntry]) -> tuple[list[Any], ...]:
    return (
        [e.at for e in entries],
        [e.actor for e in entries],
        [e.action for e in entries],
        [e.message_id for e in entries],
        [e.recipient_id for e in entries],
        [_detail(e) for e in entries],
    )


class PostgreSQLStore:
    """:class:`gateway.exchange.store.base.Store` over PostgreSQL (see the module docstring)."""

    def __init__(self, url: str, *, caller_clock: bool = False) -> None:
        self.url = url
        self.caller_clock = caller_clock
        self._dsn, options = split_url(url)
        self.schema = options.get("schema")
        if self.schema is not None and (
            not self.schema or not set(self.schema) <= _IDENT_OK or self.schema[0].isdigit()
        ):
            raise ValueError(f"schema {self.schema!r}: use lower-case letters, digits and _")
        try:
            self._pool_min = int(options.get("pool_min", "1"))
            self._pool_max = int(options.get("pool_max", "8"))
        except ValueError as exc:
            raise ValueError(f"pool_min/pool_max in {redacted(url)}: {exc}") from exc
        self._pool: asyncpg.Pool | None = None
        self._sealer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._watchers: list[Callable[[], None]] = []
        self._listener: asyncio.Task[None] | None = None
        self._origin = uuid.uuid4().hex  # our own notifications are not news to us
        self.channel = ""  # set at open: gateway_outbox:<schema>

    def _clock(self, now: datetime) -> datetime | None:
        """The ``$clock`` parameter: ``None`` makes the SQL use the database's ``now()``."""
        return now if self.caller_clock else None

    # -- plumbing ------------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    def _fail(self, exc: BaseException) -> StoreError:
        return StoreError(f"PostgreSQL {redacted(self._dsn)}: {type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def _transaction(self, *, wake: bool = True) -> AsyncIterator[Conn]:
        """One write transaction on a pooled connection; after it commits, wake the sealer
        (it may have journalled audit entries)."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn
        except _DB_ERRORS as exc:
            raise self._fail(exc) from exc
        if wake:
            self._wake.set()

    async def open(self) -> None:
        settings = {"search_path": self.schema} if self.schema else {}
        try:
            if self.schema:  # the schema must exist before the pool's search path names it
                conn = await asyncpg.connect(self._dsn)
                try:
                    await self._migrate(conn, create_schema=True)
                finally:
                    await conn.close()
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._pool_min,
                max_size=self._pool_max,
                server_settings=settings,
            )
            if not self.schema:
                async with self._pool.acquire() as lent:
                    await self._migrate(lent, create_schema=False)
            self.channel = "gateway_outbox:" + await self._pool.fetchval("SELECT current_schema()")
        except _DB_ERRORS as exc:
            await self.close()
            raise self._fail(exc) from exc
        self._closing = False
        self._sealer = asyncio.create_task(self._sealing(), name="audit-sealer")
        self._wake.set()  # entries a crashed process left pending
        if self._watchers:
            self._listener = asyncio.create_task(self._listening(), name="outbox-listener")

    def watch(self, wake: Callable[[], None]) -> None:
        self._watchers.append(wake)

    def _notified(self, _conn: Conn, _pid: int, _channel: str, payload: object) -> None:
        if payload != self._origin:
            for wake in self._watchers:
                wake()

    async def _listening(self) -> None:
        """``LISTEN`` on a connection of our own, reconnected when it drops (a restarted
        database); until then the outbox's poll still finds the work."""
        settings = {"search_path": self.schema} if self.schema else {}
        while not self._closing:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, server_settings=settings)
                await conn.add_listener(self.channel, self._notified)
                for wake in self._watchers:  # what was committed while we were not listening
                    wake()
                while not self._closing and not conn.is_closed():
                    await asyncio.sleep(_RELISTEN_EVERY)
            except _DB_ERRORS as exc:
                log.warning(
                    "LISTEN %s failed (%s); retrying",
                    self.channel,
                    type(exc).__name__,
                    extra={"event": "listen-failed"},
                )
                await asyncio.sleep(_RELISTEN_EVERY)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(*_DB_ERRORS):
                        await conn.close()

    async def _migrate(self, conn: Conn, *, create_schema: bool) -> None:
        """Apply pending migrations in one transaction, one process at a time per schema."""
        async with conn.transaction():
            if create_schema:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('gateway-migrate:' || $1))",
                    self.schema,
                )
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
            else:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('gateway-migrate:' || current_schema()))"
                )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations("postgresql"):
                if version not in done:
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        version,
                        name,
                    )

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            self._closing = True
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        sealer, self._sealer = self._sealer, None
        if sealer is not None:  # it seals what this process wrote last, then stops
            self._closing = True
            self._wake.set()
            await sealer
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def health(self) -> str | None:
        try:
            await self.pool.fetchval("SELECT 1", timeout=5)
        except (StoreError, *_DB_ERRORS) as exc:
            return str(exc if isinstance(exc, StoreError) else self._fail(exc))
        return None

    # -- audit chaining ------------------------------------------------------------------

    @staticmethod
    async def _append(conn: Conn, entries: Sequence[AuditEntry]) -> None:
        """Journal ``entries`` in the caller's transaction (in order); the sealer chains them."""
        if entries:
            await conn.execute(_journal(1), *_journal_args(entries))

    async def _seal(self) -> int:
        """Move every committed pending entry into the chain, oldest first; how many moved.

        Holding the head's row lock, take pending rows in id order, chain them after the head,
        and commit the records, the new head and the removal together. A transaction that
        commits after another has started got a larger id, so the chain keeps cause before
        effect. Crash-safe: a process that dies leaves its entries pending for the next seal."""
        moved = 0
        while True:
            async with self._transaction(wake=False) as conn:
                if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM audit_pending)"):
                    return moved
                head = await conn.fetchrow("SELECT seq, hash FROM audit_head FOR UPDATE")
                if head is None:
                    raise StoreError("the audit chain head is missing (schema not migrated?)")
                rows = sorted(
                    await conn.fetch(
                        "DELETE FROM audit_pending WHERE id IN (SELECT id FROM audit_pending"
                        " ORDER BY id LIMIT $1) RETURNING id, at, actor, action, message_id,"
                        " recipient_id, detail",
                        _SEAL_BATCH,
                    ),
                    key=lambda r: r[0],
                )
                seq, prev = head[0], head[1]
                cols: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [])
                for r in rows:
                    seq += 1
                    # hashed exactly as audit_records will read it back
                    entry = AuditEntry(r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]))
                    digest = chain_hash(prev, seq, entry)
                    for col, value in zip(cols, (seq, *r[1:], prev, digest), strict=True):
                        col.append(value)
                    prev = digest
                await conn.execute(
                    "INSERT INTO audit SELECT * FROM unnest($1::bigint[], $2::timestamptz[],"
                    " $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
                    " $9::text[])",
                    *cols,
                )
                await conn.execute("UPDATE audit_head SET seq = $1, hash = $2", seq, prev)
                moved += len(rows)

    async def _sealing(self) -> None:
        """The background sealer: after each write of this process, every few seconds for
        entries another (perhaps crashed) process left pending, and once more at close. It is
        stopped by a flag, never cancelled mid-statement."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=_SEAL_EVERY)
            if not self._closing:  # let a burst of writes gather: one seal for all of them
                await asyncio.sleep(_SEAL_GATHER)
            self._wake.clear()
            try:
                await self._seal()
            except StoreError as exc:  # the database is away; the next round tries again
                log.warning("audit sealing failed: %s", exc)
            if self._closing:
                return

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        """One statement, its own transaction: one round trip (an index read's access record
        is most of that read's time)."""
        if entries:
            try:
                await self.pool.execute(_journal(1), *_journal_args(entries))
            except _DB_ERRORS as exc:
                raise self._fail(exc) from exc
            self._wake.set()

    # -- accept --------------------------------------------------------------------------

    async def accept(self, messages: Sequence[NewMessage]) -> list[AcceptResult]:
        """Two round trips: read which ids and consents exist, decide, then write everything
        in ONE statement (its own transaction: all rows or none). Few round trips matter: the
        event loop that reads the answers also runs the engine for every other request."""
        if not messages:
            return []
        for _ in range(_RACE_RETRIES):
            try:
                results, accepted = await self._decide(messages)
                if accepted:
                    await self._write(accepted)
                    self._wake.set()
                return results
            except asyncpg.UniqueViolationError:
                continue  # another process stored one of these ids or consents meanwhile
            except _DB_ERRORS as exc:
                raise self._fail(exc) from exc
        raise StoreError("accept kept losing races for the same message ids; try again")

    async def _execute_indexed(self, accepted: Sequence[NewMessage], sql: str, *args: Any) -> None:
        """The accept statement and the plan index (gateway/exchange/plan_index) in one
        transaction; the audit facts of the flags it raises journalled with them."""
        if not any(m.index is not None for m in accepted):
            await self.pool.execute(sql, *args)
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(sql, *args)
            await self._append(conn, await index_accepted(conn, accepted))

    async def _decide(
        self, messages: Sequence[NewMessage]
    ) -> tuple[list[AcceptResult], list[NewMessage]]:
        """Read which ids and consents exist (one round trip), then decide
        (:func:`~gateway.exchange.store.base.decide`)."""
        ids = list({m.message_id for m in messages})
        keys = list({m.consent_key for m in messages if m.consent_key is not None})
        rows = await self.pool.fetch(
            "SELECT message_id, sender_id, content_hash, answer FROM messages"
            " WHERE message_id = ANY($1::text[])"
            " UNION ALL SELECT NULL, consent_key, NULL, NULL FROM consent_uses"
            " WHERE consent_key = ANY($2::text[])",
            ids,
            keys,
        )
        stored = {r[0]: (r[1], r[2], bytes(r[3])) for r in rows if r[0] is not None}
        used = {r[1] for r in rows if r[0] is None}
        return decide(messages, stored, used)

    async def _write(self, accepted: Sequence[NewMessage]) -> None:
        """Messages, consent uses, deliveries and audit facts in one statement (whatever else
        must commit with a message goes here too), and the wake-up for other hosts when there
        is push work. Rows go in id order, so two batches sharing ids lock them in the same
        order (no deadlock); an id or consent another process stored meanwhile fails the
        whole statement (unique key)."""
        new = sorted(accepted, key=lambda m: m.message_id)
        uses = sorted((m.consent_key, m.message_id, m.received_at) for m in new if m.consent_key)
        deliveries: tuple[list[Any], ...] = tuple([] for _ in range(13))
        for m in new:
            for position, d in enumerate(m.deliveries):
                row = (
                    d.delivery_id,
                    m.message_id,
                    position,
                    d.recipient_id,
                    d.mode.value,
                    m.kind,
                    d.format,
                    d.media_type,
                    d.payload,
                    d.state.value,
                    d.last_error,
                    m.received_at,
                    # pending rows are due at once; others are never claimed
                    m.received_at if d.state is DeliveryState.PENDING else None,
                )
                for col, value in zip(deliveries, row, strict=True):
                    col.append(value)
        # audit facts in the order the messages came (the chain tells the story in order)
        audit = [e for m in accepted for e in m.audit]
        await self._execute_indexed(
            accepted,
            "WITH m AS (INSERT INTO messages SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::text[], $5::timestamptz[], $6::bytea[])),"
            " c AS (INSERT INTO consent_uses SELECT * FROM unnest($7::text[], $8::text[],"
            " $9::timestamptz[])),"
            " d AS (INSERT INTO deliveries (delivery_id, message_id, position, recipient_id, mode,"
            " kind, format, media_type, payload, state, last_error, accepted_at, updated_at,"
            " next_attempt_at) SELECT d, m, p, r, mo, k, f, mt, pl, s, e, a, a,"
            " CASE WHEN n IS NOT NULL AND $29 THEN now() ELSE n END"
            " FROM unnest($10::text[], $11::text[], $12::integer[], $13::text[], $14::text[],"
            " $15::text[], $16::text[], $17::text[], $18::bytea[], $19::text[], $20::text[],"
            " $21::timestamptz[], $22::timestamptz[])"
            " AS t(d, m, p, r, mo, k, f, mt, pl, s, e, a, n)),"
            f" a AS ({_journal(23)})"
            " SELECT pg_notify($30, $31) WHERE $32",
            [m.message_id for m in new],
            [m.sender_id for m in new],
            [m.kind for m in new],
            [m.content_hash for m in new],
            [m.received_at for m in new],
            [m.answer for m in new],
            [u[0] for u in uses],
            [u[1] for u in uses],
            [u[2] for u in uses],
            *deliveries,
            *_journal_args(audit),
            not self.caller_clock,  # pending rows due at the database's now()
            self.channel,
            self._origin,
            has_push_work(new),
        )

    # -- outbox --------------------------------------------------------------------------

    async def claim(
        self, worker: str, *, now: datetime, lease: timedelta, limit: int
    ) -> list[Claim]:
        token = uuid.uuid4().hex  # with the delivery id, unique per claim
        try:
            rows = await self.pool.fetch(
                "WITH c AS (SELECT COALESCE($1::timestamptz, now()) AS now),"
                " due AS (SELECT delivery_id FROM deliveries, c"
                " WHERE state IN ('pending', 'retrying') AND next_attempt_at <= c.now"
                " AND (lease_until IS NULL OR lease_until <= c.now)"
                " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE OF deliveries SKIP LOCKED)"
                " UPDATE deliveries AS d SET lease_owner = $3, lease_until = c.now + $4,"
                " lease_token = $5 FROM due, c"
                " WHERE d.delivery_id = due.delivery_id"
                " RETURNING d.delivery_id, d.message_id, d.recipient_id, d.kind, d.format,"
                " d.media_type, d.payload, d.attempts, d.accepted_at, d.next_attempt_at,"
                " d.lease_until",
                self._clock(now),
                limit,
                worker,
                lease,
                token,
            )
        except _DB_ERRORS as exc:
            raise self._fail(exc) from exc
        rows = sorted(rows, key=lambda r: (r[9], r[0]))
        return [
            Claim(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6] or b""), r[7], r[8], r[10], token)
            for r in rows
        ]

    async def settle(
        self,
        delivery_id: str,
        token: str,
        settlement: Settlement,
        audit: Sequence[AuditEntry],
        *,
        now: datetime,
    ) -> bool:
        delivered: datetime | None = None
        delay: timedelta | None = None
        if settlement.outcome is Outcome.DELIVERED:
            state, delivered = DeliveryState.DELIVERED, now
        elif settlement.outcome is Outcome.RETRY:
            if settlement.delay is None:
                raise ValueError("a RETRY settlement needs a delay")
            state, delay = DeliveryState.RETRYING, settlement.delay
        else:
            state = DeliveryState.DEAD
        # Only with the latest claim's token (the lease may have expired, but nobody claimed
        # the row since); one statement, so the state and its audit facts commit together.
        try:
            held = await self.pool.fetchval(
                "WITH u AS (UPDATE deliveries SET state = $1, attempts = attempts + 1,"
                " last_error = $2,"
                " next_attempt_at = COALESCE($8::timestamptz, now()) + $3::interval,"
                " lease_owner = NULL, lease_until = NULL, lease_token = NULL,"
                " updated_at = $4, delivered_at = $5"
                " WHERE delivery_id = $6 AND lease_token = $7"
                " AND state IN ('pending', 'retrying') RETURNING 1),"
                f" a AS ({_journal(9, when='WHERE EXISTS (SELECT 1 FROM u)')})"
                " SELECT count(*) FROM u",
                state.value,
                settlement.error,
                delay,
                now,
                delivered,
                delivery_id,
                token,
                self._clock(now),
                *_journal_args(audit),
            )
        except _DB_ERRORS as exc:
            raise self._fail(exc) from exc
        if held and audit:
            self._wake.set()
        return bool(held)

    async def release(self, held: Mapping[str, str]) -> int:
        if not held:
            return 0
        try:
            rows = await self.pool.fetch(
                "UPDATE deliveries AS d SET lease_owner = NULL, lease_until = NULL,"
                " lease_token = NULL FROM unnest($1::text[], $2::text[]) AS h(id, token)"
                " WHERE d.delivery_id = h.id AND d.lease_token = h.token RETURNING 1",
                list(held),
                list(held.values()),
            )
        except _DB_ERRORS as exc:
            raise self._fail(exc) from exc
        return len(rows)

    async def redeliver(
        self, message_id: str, recipient_id: str | None, audit: AuditEntry, *, now: datetime
    ) -> int:
        async with self._transaction() as conn:
            moved = await conn.fetch(
                "UPDATE deliveries SET state = 'pending', attempts = 0,"
                " next_attempt_at = COALESCE($4::timestamptz, now()),"
                " lease_owner = NULL, lease_until = NULL, lease_token = NULL, updated_at = $1"
                " WHERE message_id = $2 AND state = 'dead'"
                " AND ($3::text IS NULL OR recipient_id = $3)"
                " RETURNING recipient_id, position",
                now,
                message_id,
                recipient_id,
                self._clock(now),
            )
            if moved:  # delivered at commit: other hosts' outboxes look at once
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, self._origin)
            await self._append(
                conn,
                [
                    AuditEntry(audit.at, audit.actor, audit.action, message_id, r[0], audit.detail)
                    for r in sorted(moved, key=lambda r: r[1])
                ],
            )
        return len(moved)

    # -- reading -------------------------------------------------------------------------

    async def message(self, message_id: str) -> MessageStatus | None:
        try:
            async with self.pool.acquire() as conn, conn.transaction(readonly=True):
                m = await conn.fetchrow(
                    "SELECT sender_id, kind, received_at FROM messages WHERE message_id = $1",
                    message_id,
                )
                if m is None:
                    return None
                rows = await conn.fetch(
                    "SELECT delivery_id, recipient_id, mode, state, attempts, last_error,"
                    " next_attempt_at, updated_at, delivered_at FROM deliveries"
                    " WHERE message_id = $1 ORDER BY position",
                    message_id,
                )
        except _DB_ERRORS as exc:
            raise self._fail(exc) from exc
        return MessageStatus(
            message_id,
            m[0],
            m[1],
            m[2],
            tuple(
                DeliveryStatus(
                    r[0],
                    r[1],
                    DeliveryMode(r[2]),
                    DeliveryState(r[3]),
                    r[4],
                    r[5],
                    r[6] if r[3] == DeliveryState.RETRYING else None,
                    r[7],
                    r[8],
                )
                for r in rows
            ),
        )

    # -- pull inbox ----------------------------------------------------------------------

    async def inbox(self, recipient_id: str, *, limit: int, now: datetime) -> list[InboxItem]:
        try:
            rows = await self.pool.fetch(
                "WITH offered AS (SELECT delivery_id FROM deliveries"
                " WHERE recipient_id = $1 AND state = 'offered'"
                " ORDER BY accepted_at, delivery_id LIMIT $2 FOR UPDATE)"
                " UPDATE deliveries AS d SET offers = offers + 1 FROM offered"
                " WHERE d.delivery_id = offered.delivery_id"
                " RETURNING d.delivery_id, d.message_id, d.kind, d.format, d.media_type,"
                " d.payload, d.accepted_at, d.offers",
                recipient_id,
                limit,
            )
        except _DB_ERRORS as exc:
            raise self._fail(exc) from exc
        items = [
            InboxItem(r[0], r[1], r[2], r[3], r[4], bytes(r[5] or b""), r[6], r[7]) for r in rows
        ]
        return sorted(items, key=lambda i: (i.accepted_at, i.delivery_id))

    async def acknowledge(
        self, recipient_id: str, delivery_id: str, audit: AuditEntry, *, now: datetime
    ) -> bool:
        async with self._transaction() as conn:
            row = await conn.fetchrow(
                "SELECT state, message_id FROM deliveries WHERE delivery_id = $1"
                " AND recipient_id = $2 AND mode = 'pull' FOR UPDATE",
                delivery_id,
                recipient_id,
            )
            if row is None:
                return False
            if row[0] != DeliveryState.OFFERED:
                return bool(row[0] == DeliveryState.DELIVERED)
            await conn.execute(
                "UPDATE deliveries SET state = 'delivered', delivered_at = $1,"
                " updated_at = $1, attempts = attempts + 1 WHERE delivery_id = $2",
                now,
                delivery_id,
            )
            entry = AuditEntry(
                audit.at, audit.actor, audit.action, row[1], recipient_id, audit.detail
            )
            await self._append(conn, [entry])
            return True

    # -- audit trail, retention, stats ---------------------------------------------------

    async def audit_records(
        self, *, message_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[AuditRecord]:
        sql = (
            "SELECT seq, at, actor, action, message_id, recipient_id, detail, prev_hash, hash"
            " FROM audit WHERE seq > $1 AND ($2::text IS NULL OR message_id = $2)"
            " AND ($3::timestamptz IS NULL OR at >= $3) ORDER BY seq LIMIT $4"
        )
        await self._seal()  # the trail as of now, entries committed by any process included
        last = 0
        while True:
            try:
                page = await self.pool.fetch(sql, last, message_id, since, _PAGE)
            except _DB_ERRORS as exc:
                raise self._fail(exc) from exc
            for r in page:
                entry = AuditEntry(r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]))
                yield AuditRecord(r[0], entry, r[7], r[8])
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    async def purge_payloads(self, before: datetime, audit: AuditEntry) -> int:
        async with self._transaction() as conn:
            count = len(
                await conn.fetch(
                    "UPDATE deliveries SET payload = NULL WHERE payload IS NOT NULL AND ("
                    " (state = 'delivered' AND delivered_at < $1)"
                    " OR (state = 'refused' AND updated_at < $1)) RETURNING 1",
                    before,
                )
            )
            if count:
                stamp = before.astimezone(UTC).isoformat(timespec="microseconds")
                detail = {**audit.detail, "payloads": count, "before": stamp}
                entry = AuditEntry(
                    audit.at,
                    audit.actor,
                    audit.action,
                    audit.message_id,
                    audit.recipient_id,
                    detail,
                )
                await self._append(conn, [entry])
        return count

    async def stats(self, *, now: datetime) -> OutboxStats:
        try:
            row = await self.pool.fetchrow(
                "SELECT count(*) FILTER (WHERE state IN ('pending', 'retrying', 'offered')),"
                " min(accepted_at) FILTER (WHERE state IN ('pending', 'retrying', 'offered')),"
                " count(*) FILTER (WHERE state = 'dead')"
                " FROM deliveries WHERE state IN ('pending', 'retrying', 'offered', 'dead')"
            )
        except _DB_ERRORS as exc:
            raise self._fail(exc) from exc
        assert row is not None  # an aggregate always yields one row
        return OutboxStats(row[0], row[2], row[1])


__all__ = ["PostgreSQLStore", "migrations", "redacted", "split_url"]
