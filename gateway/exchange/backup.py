"""``gateway backup``: an online copy of the embedded SQLite store, safe while the gateway
serves (docs/deployment.md, "Backup and restore").

SQLite's backup API copies the database page by page. Done in one step (``pages=-1``) it
reads inside one read transaction: in WAL mode that is a consistent snapshot that never
blocks the gateway's writers, and nothing committed after it started is half in the copy.
The copy is written beside the destination (``0600``), checked (``PRAGMA integrity_check``,
the tables counted) and only then renamed into place, so a failed backup never leaves a
truncated file under the destination's name.

PostgreSQL is backed up with its own tools (``pg_dump``), not by this command.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gateway.exchange.store.sqlite import path_of


class BackupError(Exception):
    """The backup could not be made (the message says which file and why)."""


@dataclass(frozen=True)
class BackupReport:
    source: str
    destination: Path
    messages: int
    deliveries: int
    audit_records: int
    bytes: int


def backup(url: str, destination: Path) -> BackupReport:
    """Copy the SQLite store at ``url`` to ``destination`` (see the module docstring)."""
    if not url.startswith("sqlite:"):
        raise BackupError(
            f"{url.split('://', 1)[0]}: `gateway backup` copies the embedded SQLite store; back "
            "up PostgreSQL with pg_dump (docs/deployment.md)"
        )
    source = path_of(url)
    if source == ":memory:" or not Path(source).is_file():
        raise BackupError(f"{source}: no database file there (server.database)")
    destination = destination.resolve()
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
    except OSError as exc:
        raise BackupError(f"{destination}: cannot write: {exc.strerror or exc}") from None
    try:
        report = _copy(source, partial, destination)
        os.replace(partial, destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return report


def _copy(source: str, partial: Path, destination: Path) -> BackupReport:
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # one step: one read transaction, one consistent snapshot
                (check,) = dst.execute("PRAGMA integrity_check").fetchone()
                if check != "ok":
                    raise BackupError(f"{destination}: the copy fails the integrity check: {check}")
                counts = [
                    dst.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("messages", "deliveries", "audit")
                ]
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: SQLite: {exc}") from None
    messages, deliveries, audit = counts
    return BackupReport(source, destination, messages, deliveries, audit, partial.stat().st_size)


__all__ = ["BackupError", "BackupReport", "backup"]
