"""Updating one patient's plan index: the pure step the store runs inside the accept
transaction (gateway/exchange/plan_index/), so that the index entries and their flags commit
with the message or not at all (the deadlines follow in a transaction of their own, made
durable by a mark written with the message: docs/coordination.md).

:func:`apply` takes what the index holds for the patient and the entries of the documents now
accepted, and returns what to write: the entries (new ones, new versions, and earlier entries
whose status changed - a notification acknowledged, a certificate replaced), the flags the
arrivals raise, and the patient's deadlines, recomputed whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from gateway.coordination.chain import Deadline, deadlines
from gateway.coordination.entries import Entry
from gateway.coordination.flags import Flag, flags_for
from gateway.documents import DocumentKind


@dataclass
class Changes:
    entries: list[Entry] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)


def _version(v: str | None) -> tuple[int, ...]:
    """A version as numbers for comparison ("1.10" after "1.9"); unreadable parts are 0."""
    return tuple(int(p) if p.isdigit() else 0 for p in (v or "").split("."))


def apply(
    patient: str,
    existing: Iterable[Entry],
    raised: Iterable[str],
    arrivals: Sequence[Entry],
    at: datetime,
    *,
    with_deadlines: bool = True,
) -> Changes:
    """Fold ``arrivals`` (in the order accepted) into the patient's index.

    ``existing``: the patient's entries as stored; ``raised``: the ids of its flags already
    raised (a flag is raised once). ``with_deadlines=False``: leave the deadlines out (the
    store recomputes them in a follow-up transaction, :func:`chain.deadlines` over the
    entries as stored)."""
    state = {e.key: e for e in existing}
    seen = set(raised)
    changed: dict[str, Entry] = {}
    out = Changes()
    for new in arrivals:
        old = state.get(new.key)
        if old is not None:
            if _version(new.version) < _version(old.version):
                continue  # an older version arriving late does not replace the newer
            first = old.facts.get("first_received", old.received_at.isoformat())
            new = new.with_facts(first_received=first)
            if new.kind is DocumentKind.SECTION4_NOTIFICATION:  # keep FK's answer
                new = replace(
                    new.with_facts(acknowledgement=old.facts.get("acknowledgement")),
                    status=old.status,
                )
        state[new.key] = changed[new.key] = new
        for other in _side_effects(new, state):
            state[other.key] = changed[other.key] = other
        for flag in flags_for(new, state, at):
            if flag.id not in seen:
                seen.add(flag.id)
                out.flags.append(flag)
    out.entries = list(changed.values())
    if with_deadlines:
        out.deadlines = deadlines(patient, list(state.values()))
    return out


def _side_effects(new: Entry, state: dict[str, Entry]) -> Iterable[Entry]:
    """Earlier entries whose status the arrival changes."""
    if new.kind is DocumentKind.SECTION4_ACKNOWLEDGEMENT:
        key = f"{DocumentKind.SECTION4_NOTIFICATION}:{new.facts['notification']}"
        n = state.get(key)
        if n is not None:
            ack = {"key": new.key, **new.facts}
            status = "handled" if new.facts["status"] == "handled" else "acknowledged"
            yield replace(n.with_facts(acknowledgement=ack), status=status)
    elif new.kind is DocumentKind.CERTIFICATE:
        for replaced in new.facts.get("replaces", ()):
            old = state.get(f"{DocumentKind.CERTIFICATE}:{replaced}")
            if old is not None and old.status == "current":
                yield replace(old.with_facts(replaced_by=new.document_id), status="replaced")


__all__ = ["Changes", "apply"]
