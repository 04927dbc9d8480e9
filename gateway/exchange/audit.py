"""The audit trail: append-only, each record chained to the one before by hash, so a changed,
removed or inserted record shows (``gateway audit --verify``).

A record's hash is SHA-256 over the previous record's hash and the record's canonical form
(sorted-key JSON of seq, time, actor, action, message, recipient and detail). The store keeps
the order and the hashes; this module computes and checks them. Records hold metadata and
content hashes only, never payloads.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from gateway.exchange.store.base import AuditEntry, AuditRecord


def canonical(seq: int, entry: AuditEntry) -> bytes:
    """The bytes a record's hash covers (stable across databases and processes)."""
    return orjson.dumps(
        {
            "seq": seq,
            "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": entry.actor,
            "action": entry.action,
            "message": entry.message_id,
            "recipient": entry.recipient_id,
            "detail": dict(entry.detail),
        },
        option=orjson.OPT_SORT_KEYS,
    )


def chain_hash(prev_hash: str, seq: int, entry: AuditEntry) -> str:
    """The hash of record ``seq`` following a record whose hash is ``prev_hash`` ("" first)."""
    h = hashlib.sha256(prev_hash.encode("ascii"))
    h.update(b"\n")
    h.update(canonical(seq, entry))
    return h.hexdigest()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain does not hold: the record's seq and what is wrong (no content)."""

    seq: int
    problem: str


async def verify(records: AsyncIterator[AuditRecord]) -> tuple[int, list[Break]]:
    """Check a whole trail (in seq order, from the first record): numbering without gaps,
    each record's ``prev_hash`` the previous record's hash, each hash recomputed. Returns how
    many records were read and every break found."""
    breaks: list[Break] = []
    prev = ""
    expected = 1
    count = 0
    async for rec in records:
        count += 1
        if rec.seq != expected:
            breaks.append(Break(rec.seq, f"expected record {expected} here (removed or inserted)"))
        if rec.prev_hash != prev:
            breaks.append(Break(rec.seq, "does not follow the previous record's hash"))
        if chain_hash(rec.prev_hash, rec.seq, rec.entry) != rec.hash:
            breaks.append(Break(rec.seq, "its content does not match its hash (changed)"))
        prev = rec.hash
        expected = rec.seq + 1
    return count, breaks


def now() -> datetime:
    return datetime.now(UTC)


__all__ = ["Break", "canonical", "chain_hash", "content_hash", "now", "verify"]
