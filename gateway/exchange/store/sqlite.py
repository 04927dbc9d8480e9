"""The embedded store: SQLite in WAL mode, one file (default ``./gateway-data/gateway.db``).

One connection per process, used from one thread (a single-thread executor), so the event
loop never waits on the disk and calls are serialised in order. Several processes may share
the file (``gateway serve --workers N``): writes take the database lock with
``BEGIN IMMEDIATE`` and wait for it (busy timeout). ``synchronous=FULL``: a commit is on disk
before the ``202``; batching many messages into one :meth:`SQLiteStore.accept` is what makes
that cheap.

The file holds payloads with personnummer: it is created ``0600`` in a directory created
``0700``; an existing file readable by others is used, with a warning. A failed ``COMMIT``
(e.g. a deferred constraint) is rolled back, so the connection never stays inside a dead
transaction; :meth:`SQLiteStore.health` says so if it ever does.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
import stat
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson

from gateway.exchange.audit import chain_hash
from gateway.exchange.plan_index.sqlite import index_accepted
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
    migrations,
)
from gateway.exchange.store.groupcommit import GroupCommit

T = TypeVar("T")
log = logging.getLogger("gateway.store")
_SETTLE_BATCH = 512  # settlements per shared transaction at most
_BUSY_MS = 30_000
_PAGE = 500  # audit rows read per round trip while streaming


def ts(value: datetime) -> str:
    """A time as stored: UTC, fixed width, so text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def path_of(url: str) -> str:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite://:memory:``."""
    rest = url.removeprefix("sqlite:")
    if rest in ("", "//", "///", "//:memory:", ":memory:"):
        return ":memory:"
    if rest.startswith("///"):
        return rest[3:]
    if rest.startswith("//"):
        return rest[2:]
    return rest


class SQLiteStore:
    """:class:`gateway.exchange.store.base.Store` over SQLite (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_of(url)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db: sqlite3.Connection | None = None
        self._lockfile: int | None = None  # fd of <database>-writer.lock
        # settlements that end together share one transaction (one fsync for all of them)
        self._settles: GroupCommit[Callable[[sqlite3.Connection], bool], bool] = GroupCommit(
            self._settle_batch, max_batch=_SETTLE_BATCH, name="sqlite-settle"
        )

    # -- plumbing ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise StoreError("the store is not open")
        try:
            return fn(self._db)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from exc

    def _write(self, db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction (lock taken up front, so no upgrade deadlock).

        Processes sharing the file queue on an ``flock`` first: SQLite's own busy handler
        sleeps 1-100 ms between tries, which would make a writer wait long after the lock is
        free; a blocked ``flock`` wakes as soon as the other process lets go."""
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX)
        try:
            if db.in_transaction:  # left open by a failure we could not roll back: do now
                db.execute("ROLLBACK")
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
                db.execute("COMMIT")
            except BaseException:
                # the body failed, or COMMIT did (a deferred constraint, a full disk): a
                # failed COMMIT leaves the transaction open, and every later BEGIN would fail
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return result
        finally:
            if self._lockfile is not None:
                fcntl.flock(self._lockfile, fcntl.LOCK_UN)

    async def open(self) -> None:
        if self.path != ":memory:":
            try:
                self._prepare_file()
            except FileExistsError as exc:  # a file where the directory should be
                raise StoreError(f"SQLite {exc.filename}: exists and is not a directory") from None
            except OSError as exc:
                where = exc.filename or self.path
                raise StoreError(f"SQLite {where}: {exc.strerror or exc}") from None

        def connect() -> None:
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_MS / 1000
            )
            db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            self._db = db
            self._write(db, self._migrate)

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, connect)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite {self.path}: {exc}") from exc

    def _prepare_file(self) -> None:
        """The directory (0700 when we create it), the file (0600 when we create it; a warning
        when an existing one is readable by others) and the writers' lock file."""
        path = Path(self.path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        if mode & 0o077:
            log.warning(
                "the database file %s is readable by others (mode %o); it holds personal "
                "data: chmod 600 it",
                self.path,
                mode,
                extra={"event": "store-permissions", "mode": f"{mode:o}"},
            )
        self._lockfile = os.open(f"{self.path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations("sqlite"):
            if version in done:
                continue
            for statement in _statements(sql):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (version, name, ts(datetime.now(UTC))),
            )

    async def close(self) -> None:
        await self._settles.stop()

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lockfile is not None:
                os.close(self._lockfile)
                self._lockfile = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` (a read) on the store's connection: the plan index's reads."""
        return await self._run(fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction of its own: the plan index's deadline drain."""
        return await self._run(lambda db: self._write(db, fn))

    async def health(self) -> str | None:
        def check(db: sqlite3.Connection) -> str | None:
            # calls are serialised on one thread: between them no transaction is open
            if db.in_transaction:
                return "SQLite: a transaction was left open (a failed write could not roll back)"
            db.execute("SELECT 1").fetchone()
            return None

        try:
            return await self._run(check)
        except StoreError as exc:
            return str(exc)

    def watch(self, wake: Callable[[], None]) -> None:
        """One host: each process wakes its own outbox after its accepts (and polls)."""

    # -- audit chaining ------------------------------------------------------------------

    @staticmethod
    def _append(db: sqlite3.Connection, entries: Sequence[AuditEntry]) -> None:
        """Chain ``entries`` after the last record; the caller holds the write lock."""
        if not entries:
            return
        row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0], row[1]) if row else (0, "")
        rows = []
        for entry in entries:
            seq += 1
            digest = chain_hash(prev, seq, entry)
            rows.append(
                (
                    seq,
                    ts(entry.at),
                    entry.actor,
                    entry.action,
                    entry.message_id,
                    entry.recipient_id,
                    orjson.dumps(dict(entry.detail), option=orjson.OPT_SORT_KEYS).decode(),
                    prev,
                    digest,
                )
            )
            prev = digest
        db.executemany("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        await self._run(lambda db: self._write(db, lambda d: self._append(d, entries)))

    # -- accept --------------------------------------------------------------------------

    async def accept(self, messages: Sequence[NewMessage]) -> list[AcceptResult]:
        return await self._run(lambda db: self._write(db, lambda d: self._accept(d, messages)))

    def _accept(self, db: sqlite3.Connection, messages: Sequence[NewMessage]) -> list[AcceptResult]:
        """Read what exists, decide (:func:`~gateway.exchange.store.base.decide`), write the
        accepted messages: all inside the caller's write transaction."""
        ids = list({m.message_id for m in messages})
        keys = list({m.consent_key for m in messages if m.consent_key is not None})
        stored = {
            r[0]: (r[1], r[2], bytes(r[3]))
            for r in db.execute(
                "SELECT message_id, sender_id, content_hash, answer FROM messages"
                f" WHERE message_id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        used = (
            {
                r[0]
                for r in db.execute(
                    "SELECT consent_key FROM consent_uses"
                    f" WHERE consent_key IN ({','.join('?' * len(keys))})",
                    keys,
                )
            }
            if keys
            else set()
        )
        results, accepted = decide(messages, stored, used)
        if accepted:
            self._insert(db, accepted)
        return results

    def _insert(self, db: sqlite3.Connection, accepted: Sequence[NewMessage]) -> None:
        """The rows of accepted messages: messages, consent uses, deliveries, audit (in the
        order the messages came). Whatever else must commit with a message goes here."""
        db.executemany(
            "INSERT INTO consent_uses VALUES (?, ?, ?)",
            [(m.consent_key, m.message_id, ts(m.received_at)) for m in accepted if m.consent_key],
        )
        db.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
            [
                (m.message_id, m.sender_id, m.kind, m.content_hash, ts(m.received_at), m.answer)
                for m in accepted
            ],
        )
        db.executemany(
            "INSERT INTO deliveries (delivery_id, message_id, position, recipient_id, mode,"
            " kind, format, media_type, payload, state, last_error, next_attempt_at,"
            " accepted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    d.delivery_id,
                    m.message_id,
                    i,
                    d.recipient_id,
                    d.mode.value,
                    m.kind,
                    d.format,
                    d.media_type,
                    d.payload,
                    d.state.value,
                    d.last_error,
                    at,
                    at,
                    at,
                )
                for m in accepted
                for at in (ts(m.received_at),)
                for i, d in enumerate(m.deliveries)
            ],
        )
        audit = [e for m in accepted for e in m.audit]
        audit += index_accepted(db, accepted)  # the plan index (gateway/exchange/plan_index)
        self._append(db, audit)

    # -- outbox --------------------------------------------------------------------------

    async def claim(
        self, worker: str, *, now: datetime, lease: timedelta, limit: int
    ) -> list[Claim]:
        lease_until = now + lease
        n, until = ts(now), ts(lease_until)
        token = uuid.uuid4().hex  # with the delivery id, unique per claim

        def run(db: sqlite3.Connection) -> list[Claim]:
            rows = db.execute(
                "UPDATE deliveries SET lease_owner = ?, lease_until = ?, lease_token = ?"
                " WHERE delivery_id IN ("
                " SELECT delivery_id FROM deliveries"
                " WHERE state IN ('pending', 'retrying') AND next_attempt_at <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?)"
                " ORDER BY next_attempt_at LIMIT ?)"
                " RETURNING delivery_id, message_id, recipient_id, kind, format, media_type,"
                " payload, attempts, accepted_at",
                (worker, until, token, n, n, limit),
            ).fetchall()
            return [
                Claim(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    bytes(r[6]),
                    r[7],
                    _ts(r[8]),
                    lease_until,
                    token,
                )
                for r in rows
            ]

        return await self._run(lambda db: self._write(db, run))

    async def settle(
        self,
        delivery_id: str,
        token: str,
        settlement: Settlement,
        audit: Sequence[AuditEntry],
        *,
        now: datetime,
    ) -> bool:
        n = ts(now)
        if settlement.outcome is Outcome.DELIVERED:
            state, delivered, due = DeliveryState.DELIVERED, n, None
        elif settlement.outcome is Outcome.RETRY:
            if settlement.delay is None:
                raise ValueError("a RETRY settlement needs a delay")
            state, delivered, due = DeliveryState.RETRYING, None, ts(now + settlement.delay)
        else:
            state, delivered, due = DeliveryState.DEAD, None, None

        def run(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ?, lease_owner = NULL, lease_until = NULL,"
                " lease_token = NULL, updated_at = ?, delivered_at = ?"
                " WHERE delivery_id = ? AND lease_token = ? AND state IN ('pending', 'retrying')",
                (state.value, settlement.error, due, n, delivered, delivery_id, token),
            )
            if cur.rowcount != 1:
                return False
            self._append(db, audit)
            return True

        # one write transaction shared with the settlements that ended meanwhile: each is
        # all-or-nothing with the batch; none raises for a lost lease
        return await self._settles.submit(run)

    async def _settle_batch(self, fns: list[Callable[[sqlite3.Connection], bool]]) -> list[bool]:
        return await self._run(lambda db: self._write(db, lambda d: [fn(d) for fn in fns]))

    async def release(self, held: Mapping[str, str]) -> int:
        if not held:
            return 0

        def run(db: sqlite3.Connection) -> int:
            return db.executemany(
                "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, lease_token = NULL"
                " WHERE delivery_id = ? AND lease_token = ?",
                list(held.items()),
            ).rowcount

        return await self._run(lambda db: self._write(db, run))

    async def redeliver(
        self, message_id: str, recipient_id: str | None, audit: AuditEntry, *, now: datetime
    ) -> int:
        n = ts(now)

        def run(db: sqlite3.Connection) -> int:
            sql = (
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?,"
                " lease_owner = NULL, lease_until = NULL, lease_token = NULL, updated_at = ?"
                " WHERE message_id = ? AND state = 'dead'"
            )
            args: tuple[Any, ...] = (n, n, message_id)
            if recipient_id is not None:
                sql += " AND recipient_id = ?"
                args += (recipient_id,)
            moved = db.execute(sql + " RETURNING recipient_id", args).fetchall()
            self._append(
                db,
                [
                    AuditEntry(audit.at, audit.actor, audit.action, message_id, r[0], audit.detail)
                    for r in moved
                ],
            )
            return len(moved)

        return await self._run(lambda db: self._write(db, run))

    # -- reading -------------------------------------------------------------------------

    async def message(self, message_id: str) -> MessageStatus | None:
        def run(db: sqlite3.Connection) -> MessageStatus | None:
            m = db.execute(
                "SELECT sender_id, kind, received_at FROM messages WHERE message_id = ?",
                (message_id,),
            ).fetchone()
            if m is None:
                return None
            rows = db.execute(
                "SELECT delivery_id, recipient_id, mode, state, attempts, last_error,"
                " next_attempt_at, updated_at, delivered_at FROM deliveries"
                " WHERE message_id = ? ORDER BY position",
                (message_id,),
            ).fetchall()
            return MessageStatus(
                message_id,
                m[0],
                m[1],
                _ts(m[2]),
                tuple(
                    DeliveryStatus(
                        r[0],
                        r[1],
                        DeliveryMode(r[2]),
                        DeliveryState(r[3]),
                        r[4],
                        r[5],
                        parse_ts(r[6]) if r[3] == DeliveryState.RETRYING else None,
                        _ts(r[7]),
                        parse_ts(r[8]),
                    )
                    for r in rows
                ),
            )

        return await self._run(run)

    # -- pull inbox ----------------------------------------------------------------------

    async def inbox(self, recipient_id: str, *, limit: int, now: datetime) -> list[InboxItem]:
        def run(db: sqlite3.Connection) -> list[InboxItem]:
            rows = db.execute(
                "UPDATE deliveries SET offers = offers + 1 WHERE delivery_id IN ("
                " SELECT delivery_id FROM deliveries WHERE recipient_id = ? AND state = 'offered'"
                " ORDER BY accepted_at, delivery_id LIMIT ?)"
                " RETURNING delivery_id, message_id, kind, format, media_type, payload,"
                " accepted_at, offers",
                (recipient_id, limit),
            ).fetchall()
            items = [
                InboxItem(r[0], r[1], r[2], r[3], r[4], bytes(r[5] or b""), _ts(r[6]), r[7])
                for r in rows
            ]
            return sorted(items, key=lambda i: (i.accepted_at, i.delivery_id))

        return await self._run(lambda db: self._write(db, run))

    async def acknowledge(
        self, recipient_id: str, delivery_id: str, audit: AuditEntry, *, now: datetime
    ) -> bool:
        n = ts(now)

        def run(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT state, message_id FROM deliveries WHERE delivery_id = ?"
                " AND recipient_id = ? AND mode = 'pull'",
                (delivery_id, recipient_id),
            ).fetchone()
            if row is None:
                return False
            if row[0] == DeliveryState.OFFERED:
                db.execute(
                    "UPDATE deliveries SET state = 'delivered', delivered_at = ?, updated_at = ?,"
                    " attempts = attempts + 1 WHERE delivery_id = ?",
                    (n, n, delivery_id),
                )
                self._append(
                    db,
                    [
                        AuditEntry(
                            audit.at, audit.actor, audit.action, row[1], recipient_id, audit.detail
                        )
                    ],
                )
                return True
            return bool(row[0] == DeliveryState.DELIVERED)

        return await self._run(lambda db: self._write(db, run))

    # -- audit trail, retention, stats ---------------------------------------------------

    async def audit_records(
        self, *, message_id: str | None = None, since: datetime | None = None
    ) -> AsyncIterator[AuditRecord]:
        where, args = ["seq > ?"], [0]
        if message_id is not None:
            where.append("message_id = ?")
            args.append(message_id)  # type: ignore[arg-type]
        if since is not None:
            where.append("at >= ?")
            args.append(ts(since))  # type: ignore[arg-type]
        sql = (
            "SELECT seq, at, actor, action, message_id, recipient_id, detail, prev_hash, hash"
            f" FROM audit WHERE {' AND '.join(where)} ORDER BY seq LIMIT {_PAGE}"
        )
        last = 0
        while True:
            args[0] = last
            page = await self._run(lambda db: db.execute(sql, args).fetchall())
            for r in page:
                entry = AuditEntry(_ts(r[1]), r[2], r[3], r[4], r[5], orjson.loads(r[6]))
                yield AuditRecord(r[0], entry, r[7], r[8])
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    async def purge_payloads(self, before: datetime, audit: AuditEntry) -> int:
        b = ts(before)

        def run(db: sqlite3.Connection) -> int:
            count = db.execute(
                "UPDATE deliveries SET payload = NULL WHERE payload IS NOT NULL AND ("
                " (state = 'delivered' AND delivered_at < ?)"
                " OR (state = 'refused' AND updated_at < ?))",
                (b, b),
            ).rowcount
            if count:
                detail = {**audit.detail, "payloads": count, "before": b}
                self._append(
                    db,
                    [
                        AuditEntry(
                            audit.at,
                            audit.actor,
                            audit.action,
                            audit.message_id,
                            audit.recipient_id,
                            detail,
                        )
                    ],
                )
            return count

        return await self._run(lambda db: self._write(db, run))

    async def stats(self, *, now: datetime) -> OutboxStats:
        def run(db: sqlite3.Connection) -> OutboxStats:
            depth, oldest = db.execute(
                "SELECT count(*), min(accepted_at) FROM deliveries"
                " WHERE state IN ('pending', 'retrying', 'offered')"
            ).fetchone()
            (dead,) = db.execute("SELECT count(*) FROM deliveries WHERE state = 'dead'").fetchone()
            return OutboxStats(depth, dead, parse_ts(oldest))

        return await self._run(run)


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (``sqlite3.complete_statement`` keeps triggers whole)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        if not buf and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


__all__ = ["SQLiteStore", "parse_ts", "path_of", "ts"]
