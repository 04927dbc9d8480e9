"""The patient's plan index in the store: entries and flags written inside the accept
transaction, deadlines recomputed in a follow-up transaction (:meth:`PlanIndex.drain`, made
durable by the patient's mark in ``plan_dirty`` written with the message); read by the HTTP
API (``server/coordination.py``) and the ``deadlines`` and ``statistics`` commands.

One seam, two databases, like the store: :class:`PlanIndex` is what readers use;
``sqlite.py`` and ``postgresql.py`` implement it over the store's own connection, and each
has ``index_accepted``, the hook its store's ``accept`` calls for the messages it accepts
(the pure work is :func:`gateway.coordination.index.apply`), and ``recompute``, the drain's
step. Tables: migrations ``0005_plan_index.sql`` and ``0011_plan_dirty.sql``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Protocol

import orjson
from pydantic import TypeAdapter

from gateway.coordination.chain import Deadline, deadlines
from gateway.coordination.entries import Entry
from gateway.coordination.flags import Flag
from gateway.coordination.index import Changes, apply
from gateway.documents.common import Consent
from gateway.exchange.store.base import AuditEntry, NewMessage, Store, StoreError

#: The actor that raises flags in the audit trail.
FLAGGER = "coordination"


@dataclass(frozen=True)
class PatientRecord:
    entries: list[Entry]
    flags: list[Flag]
    deadlines: list[Deadline]


@dataclass(frozen=True)
class Section4Row:
    """A §4 notification's entry and whether its Försäkringskassan delivery was delivered."""

    entry: Entry
    delivered: bool


class PlanIndex(Protocol):
    """Reads of the plan index (every method one short read), and the drain that brings the
    deadlines up to date. The accept transaction writes entries and flags and marks the
    patient dirty; :meth:`drain` recomputes marked patients' deadlines. The reads that show
    deadlines (:meth:`patient`, :meth:`actor_deadlines`) drain what they would show first,
    so they are never stale."""

    async def patient(self, patient: str) -> PatientRecord:
        """The patient's entries, flags and deadlines as stored (the deadlines recomputed
        first if the patient is marked)."""
        ...

    async def patients(self, patients: Sequence[str]) -> dict[str, PatientRecord]:
        """:meth:`patient` of each of ``patients``, in one read of each table."""
        ...

    async def drain(self, patients: Sequence[str] | None = None, *, wait: bool = False) -> int:
        """Recompute the deadlines of marked patients (``patients``: those of them only), each
        batch in its own transaction that also removes the marks; how many were recomputed.
        ``wait``: also wait for patients another process is recomputing (a reader);
        otherwise skip them (the worker)."""
        ...

    async def entries_of(self, patients: Sequence[str]) -> dict[str, list[Entry]]:
        """Entries per patient, for many patients at once (deadline lists)."""
        ...

    async def actor_deadlines(
        self, role: str, org: str, *, since: date, until: date, limit: int, offset: int = 0
    ) -> list[Deadline]:
        """Deadlines on one actor's list, earliest first: open tasks due on or before
        ``until`` (overdue ones too), and milestones between ``since`` and ``until`` (every
        marked patient recomputed first, at ``offset`` 0)."""
        ...

    async def section4(self, start: datetime, end: datetime) -> list[Section4Row]:
        """§4 notifications accepted in [start, end), with their delivery to Försäkringskassan."""
        ...

    async def certificates(self, start: datetime, end: datetime) -> list[Entry]:
        """Certificate entries accepted before ``end`` whose periods may reach ``start``."""
        ...


def plan_index_for(store: Store) -> PlanIndex:
    """The reader over ``store``'s own connection, chosen by its URL as ``store_for`` chose
    the store (a wrapper that hands its store's attributes on works too)."""
    if store.url.startswith("sqlite:"):
        from gateway.exchange.plan_index.sqlite import SQLitePlanIndex

        return SQLitePlanIndex(store)  # type: ignore[arg-type]
    if store.url.startswith(("postgresql:", "postgres:")):
        from gateway.exchange.plan_index.postgresql import PostgreSQLPlanIndex

        return PostgreSQLPlanIndex(store)  # type: ignore[arg-type]
    raise TypeError(f"no plan index for a store at {store.url.split(':', 1)[0]}:")


class NoPlanIndex:
    """The reader for a store with no plan index (a kind of store the index does not know):
    every read fails as an unavailable store does, so the server keeps serving the rest and
    answers the coordination routes 503."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __getattr__(self, name: str) -> Any:
        if name in (
            "patient",
            "patients",
            "drain",
            "entries_of",
            "actor_deadlines",
            "section4",
            "certificates",
        ):

            async def unavailable(*args: Any, **kwargs: Any) -> Any:
                raise StoreError(self.reason)

            return unavailable
        raise AttributeError(name)


# -- rows, as both databases store them --------------------------------------------------------


_CONSENTS = TypeAdapter(tuple[Consent, ...])


@lru_cache(maxsize=8192)
def consents_from_json(text: str) -> tuple[Consent, ...]:
    """An entry's stored consent records, parsed once per process (the same records are asked
    about for every read of their patient)."""
    return _CONSENTS.validate_json(text)


def entry_from_row(body: str | bytes, consents: str | None) -> Entry:
    return Entry.from_json(body, consents_from_json(consents) if consents else ())


def deadline_state(d: Deadline) -> str:
    if d.type == "milestone":
        return "milestone"
    return "closed" if d.met_on is not None or d.waived else "open"


def deadline_body(d: Deadline) -> bytes:
    """A deadline as stored: its fields (orjson writes the dataclass itself, fast)."""
    return orjson.dumps(d)


def deadline_from_row(body: str | bytes) -> Deadline:
    f = orjson.loads(body)
    return Deadline(
        **{
            **f,
            "due": date.fromisoformat(f["due"]),
            "opens": date.fromisoformat(f["opens"]) if f["opens"] else None,
            "met_on": date.fromisoformat(f["met_on"]) if f["met_on"] else None,
            "basis": tuple(f["basis"]),
        }
    )


def flag_body(f: Flag) -> bytes:
    return orjson.dumps(f)


def flag_from_row(body: str | bytes) -> Flag:
    f = orjson.loads(body)
    return Flag(
        **{**f, "raised_at": datetime.fromisoformat(f["raised_at"]), "entries": tuple(f["entries"])}
    )


@dataclass
class Fold:
    """What the accept hook writes for one accepted batch, whatever the database: the
    patients' entries and flags as :func:`apply` computed them, the flags' audit records, and
    the patients whose deadlines are now to be recomputed (:func:`fold_deadlines`, in a
    follow-up transaction)."""

    entries: list[tuple[Entry, str | None]]  # with its consents as stored
    flags: list[Flag]
    audit: list[AuditEntry]
    dirty: list[str]


def fold(by_patient: dict[str, list[Entry]], rows: Iterable[tuple[str, str, Any, Any]]) -> Fold:
    """``rows``: what the store holds for the patients, as (what, patient, a, b) with what
    ``e`` (a = body, b = consents) or ``f`` (a = flag id).

    Stored entries are read without their consents (neither the flags nor the status
    changes look at consent): an earlier entry rewritten for its status keeps its stored
    consents text as it is."""
    existing: dict[str, list[Entry]] = {p: [] for p in by_patient}
    stored_consents: dict[str, str | None] = {}
    raised: dict[str, set[str]] = {p: set() for p in by_patient}
    for what, patient, a, b in rows:
        if what == "e":
            e = Entry.from_json(a)
            existing[patient].append(e)
            stored_consents[e.key] = b
        else:
            raised[patient].add(a)
    out = Fold([], [], [], sorted(by_patient))
    for patient, new in by_patient.items():
        changes = apply(
            patient,
            existing[patient],
            raised[patient],
            new,
            new[-1].received_at,
            with_deadlines=False,
        )
        arrived = {e.key for e in new}
        out.entries += [
            (e, e.consents_json() if e.key in arrived else stored_consents.get(e.key))
            for e in changes.entries
        ]
        out.flags += changes.flags
        out.audit += flag_audit(changes)
    return out


@dataclass
class DeadlineFold:
    """What one recomputation writes: the patients' deadlines (:func:`chain.deadlines` over
    their entries as stored), diffed against the rows stored - an unchanged row is not
    rewritten, and a row whose place on its actor's list (state, due date) is unchanged has
    only its body rewritten, which leaves the list's index alone (most of a new
    certificate's recomputation: its basis changes, not its date)."""

    deadlines: list[tuple[Deadline, str]]  # new, or moved on its list, with its stored body
    bodies: list[tuple[Deadline, str]]  # the same place on its list, a new body
    removed: list[tuple[str, str]]  # (patient, deadline id) no longer there


def fold_deadlines(
    patients: Sequence[str], rows: Iterable[tuple[str, str, Any, Any, Any]]
) -> DeadlineFold:
    """``rows``: what the store holds for ``patients``, as (what, patient, a, b, c) with what
    ``e`` (a = body, b = consents) or ``d`` (a = deadline id, b = body, c = its place on its
    list, :func:`list_place`)."""
    entries: dict[str, list[Entry]] = {p: [] for p in patients}
    stored: dict[str, tuple[str, str, str]] = {}
    for what, patient, a, b, c in rows:
        if what == "e":
            entries[patient].append(Entry.from_json(a))  # (the chain does not read consent)
        else:
            stored[a] = (patient, b, c)
    out = DeadlineFold([], [], [])
    kept: set[str] = set()
    for patient, found in entries.items():
        for d in deadlines(patient, found):
            kept.add(d.id)
            body = deadline_body(d).decode()
            was = stored.get(d.id)
            if was is None or was[2] != list_place(d):
                out.deadlines.append((d, body))
            elif was[1] != body:
                out.bodies.append((d, body))
    out.removed = sorted((p, i) for i, (p, _, _) in stored.items() if i not in kept)
    return out


def list_place(d: Deadline) -> str:
    """A deadline's place on its actor's list as both databases select it back
    (``state || ' ' || due_on``)."""
    return f"{deadline_state(d)} {d.due.isoformat()}"


def arrivals(messages: Sequence[NewMessage]) -> dict[str, list[Entry]]:
    """The accepted messages' entries by patient, in the order accepted."""
    out: dict[str, list[Entry]] = {}
    for m in messages:
        if m.index is not None:
            out.setdefault(m.index.patient, []).append(m.index)
    return out


def flag_audit(changes: Changes) -> list[AuditEntry]:
    """One audit record per raised flag: code, flag id and the entries it names (ids only)."""
    return [
        AuditEntry(
            f.raised_at,
            FLAGGER,
            "flagged",
            f.message_id,
            None,
            {"code": f.code, "flag": f.id, "entries": list(f.entries)},
        )
        for f in changes.flags
    ]


__all__ = [
    "FLAGGER",
    "DeadlineFold",
    "Fold",
    "NoPlanIndex",
    "PatientRecord",
    "PlanIndex",
    "Section4Row",
    "arrivals",
    "consents_from_json",
    "deadline_body",
    "deadline_from_row",
    "deadline_state",
    "entry_from_row",
    "flag_audit",
    "flag_body",
    "flag_from_row",
    "fold",
    "fold_deadlines",
    "list_place",
    "plan_index_for",
]
