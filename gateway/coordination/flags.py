"""Conflicting and parallel plans, flagged (seed 002: plans made in parallel by actors who do
not know of each other; "parallella och oförenliga planer").

When a document arrives, its index entry is compared with the patient's other active entries;
each finding is a :class:`Flag` with a code declared here (``gateway explain COORD-…``,
docs/rules.md), the entries it implicates and a detail of dates and numbers only. A flag is
raised once: its id is derived from its code and what it implicates. Who sees it is decided
by :mod:`gateway.coordination.visibility` (coordinators; an employer only about its own plan).
Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from gateway.coordination.case import SickLeaveCase, chain_case
from gateway.coordination.chain import first_received
from gateway.coordination.entries import Entry
from gateway.documents import DocumentKind
from gateway.documents.issues import RULES, Rule, RuleKind, Severity

_NS = uuid.UUID("a3c1f7e2-8b4d-5c6e-9f0a-1b2c3d4e5f60")
_SEED2 = "seed 002 (Arbetsgivarverket: parallella och oförenliga planer)"


def _flag(code: str, title: str, explanation: str, source: str) -> Rule:
    return RULES.define(
        f"COORD-{code}",
        title,
        RuleKind.COORDINATION,
        explanation,
        severity=Severity.WARNING,
        source=source,
    )


RTW_LATE = _flag(
    "RTW-LATE",
    "Return-to-work plan reached the planning space after day 30",
    "The sick-leave case, as the certificates count it (docs/coordination.md), can be assumed "
    "to last 60 days or more, and the employer's plan for return to work first reached the "
    "gateway after day 30 of it. The plan's own date is checked against its own first day by "
    "RTW-PLAN-LATE; this flag counts from the case's day 1 and the day the others could see "
    "the plan. The coordinators and the employer see it.",
    "30 kap. 6 § SFB; seed 003 annex 2",
)
RTW_DEGREE = _flag(
    "RTW-DEGREE",
    "Return-to-work plan contradicts the certificate's sick-leave degree",
    "For the same dates, a measure of the return-to-work plan has the employee work another "
    "share of full time than the certificate leaves (100 % minus the degree of sick leave; "
    "where certificates overlap, the latest signed), or has the employee at work (adjusted "
    "tasks or workplace, relocation) while the certificate says full sick leave. The share is "
    "read from a part-time measure's description (case.toml work_share).",
    f"{_SEED2}; 30 kap. 6 § SFB",
)
SIP_PARALLEL = _flag(
    "SIP-PARALLEL",
    "Two SIPs for the patient from different regions or municipalities",
    "The patient has two active SIPs (samordnad individuell plan) whose regions, or whose "
    "municipalities, are different organisations: plans made in parallel by principals who may "
    "not know of each other. One SIP per patient is the aim.",
    f"{_SEED2}; 2 kap. 7 § SoL, 16 kap. 4 § HSL",
)
PARALLEL_TRACKS = _flag(
    "PARALLEL-TRACKS",
    "Efforts toward another labour market overlap a return to the employer",
    "A SIP effort for which Arbetsförmedlingen is responsible (orientation toward the labour "
    "market) overlaps in time a return-to-work plan's measures at the workplace (part-time "
    "work, adjusted tasks or workplace, relocation): two tracks toward different work at "
    "once.",
    f"{_SEED2}; seed 004 (Arbetsförmedlingen and Försäkringskassan's joint work)",
)
S4_COORDINATOR = _flag(
    "S4-COORDINATOR",
    "§4 notification for a patient whose coordinator is recorded elsewhere",
    "A §4 notification arrived for a patient for whom another organisation is already recorded "
    "as coordinating (an earlier §4 notification, or a SIP's coordinator). Försäkringskassan "
    "would get two contacts for one patient.",
    "seed 003 question 1; seed 002",
)
S4_NO_NEED_UNTOLD = _flag(
    "S4-NO-NEED-UNTOLD",
    "Försäkringskassan found no need for coordination and did not tell the patient",
    "Försäkringskassan's acknowledgement of a §4 notification says no coordination is needed "
    "and that the patient was not told. SKR and Försäkringskassan name this a deviation to "
    "follow up; the coordinator can tell the patient.",
    "seed 003 question 7",
)
ACK_UNKNOWN = _flag(
    "ACK-UNKNOWN",
    "Acknowledgement of a §4 notification the gateway does not know",
    "Försäkringskassan's acknowledgement names a §4 notification id that the gateway never "
    "accepted for this patient. The acknowledgement is kept; check the id with "
    "Försäkringskassan.",
    "seed 003 question 7",
)

#: Measures that have the employee at the workplace.
AT_WORK = frozenset(
    {
        "part-time",
        "adjusted-tasks",
        "adjusted-workplace",
        "temporary-relocation",
        "permanent-relocation",
    }
)
_DONE = frozenset({"completed", "cancelled"})


@dataclass(frozen=True)
class Flag:
    id: str
    patient: str
    code: str
    raised_at: datetime
    message_id: str
    entries: tuple[str, ...]
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "patient": self.patient,
            "code": self.code,
            "title": self.rule.title,
            "raised_at": self.raised_at.isoformat(),
            "message_id": self.message_id,
            "entries": list(self.entries),
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Flag:
        return cls(
            id=d["id"],
            patient=d["patient"],
            code=d["code"],
            raised_at=datetime.fromisoformat(d["raised_at"]),
            message_id=d["message_id"],
            entries=tuple(d["entries"]),
            detail=d.get("detail") or {},
        )


def _make(
    rule: Rule,
    new: Entry,
    at: datetime,
    implicated: Iterable[str],
    detail: dict[str, Any],
    discriminator: str = "",
) -> Flag:
    keys = tuple(sorted(set(implicated)))
    fid = uuid.uuid5(_NS, f"{new.patient}|{rule.code}|{'|'.join(keys)}|{discriminator}")
    return Flag(str(fid), new.patient, rule.code, at, new.message_id, keys, detail)


def flags_for(new: Entry, entries: Mapping[str, Entry], at: datetime) -> list[Flag]:
    """The flags ``new`` raises against the patient's other entries (``entries`` holds every
    entry of the patient as it now stands, ``new`` included)."""
    check = _ON_ARRIVAL.get(new.kind)
    return list(check(new, entries, at)) if check else []


def _active(entries: Iterable[Entry], kind: DocumentKind) -> list[Entry]:
    return [e for e in entries if e.kind is kind and e.status == "active"]


def _certificates(entries: Mapping[str, Entry]) -> tuple[list[Entry], SickLeaveCase | None]:
    certs = [e for e in entries.values() if e.kind is DocumentKind.CERTIFICATE]
    return certs, chain_case([c.certificate_facts for c in certs if c.status != "revoked"])


def _plan_arrived(new: Entry, entries: Mapping[str, Entry], at: datetime) -> Iterator[Flag]:
    if new.status != "active":
        return
    certs, case = _certificates(entries)
    yield from _late(new, case, at)
    yield from _degree(new, certs, case, at)
    others = (e for k, e in entries.items() if k != new.key)
    yield from _tracks(new, _active(others, DocumentKind.SIP), at)


def _certificate_arrived(new: Entry, entries: Mapping[str, Entry], at: datetime) -> Iterator[Flag]:
    certs, case = _certificates(entries)
    others = (e for k, e in entries.items() if k != new.key)
    for plan in _active(others, DocumentKind.RETURN_TO_WORK_PLAN):
        # the case may now date a plan that came first as late
        yield from _late(plan, case, at)
        yield from _degree(plan, certs, case, at, arrived=new)


def _sip_arrived(new: Entry, entries: Mapping[str, Entry], at: datetime) -> Iterator[Flag]:
    if new.status != "active":
        return
    others = [e for k, e in entries.items() if k != new.key]
    yield from _parallel_sips(new, others, at)
    for plan in _active(others, DocumentKind.RETURN_TO_WORK_PLAN):
        yield from _tracks(plan, [new], at, arrived=new)


def _notification_arrived(new: Entry, entries: Mapping[str, Entry], at: datetime) -> Iterator[Flag]:
    yield from _coordinator(new, [e for k, e in entries.items() if k != new.key], at)


def _late(plan: Entry, case: SickLeaveCase | None, at: datetime) -> Iterator[Flag]:
    if case is None:
        return
    expected = case.covered_days >= 60 or plan.facts["expected_60_days"]
    day30 = case.day_date(30)
    if not expected or day30 is None:
        return
    arrived = first_received(plan)
    if arrived > day30:
        yield _make(
            RTW_LATE,
            plan,
            at,
            [plan.key],
            {
                "due": day30.isoformat(),
                "arrived": arrived.isoformat(),
                "day": case.day_on(arrived),
                "case_start": case.start.isoformat(),
            },
        )


def _degree(
    plan: Entry,
    certs: Sequence[Entry],
    case: SickLeaveCase | None,
    at: datetime,
    arrived: Entry | None = None,
) -> Iterator[Flag]:
    if case is None:
        return
    by_id = {c.document_id: c for c in certs}
    for m in plan.facts["measures"]:
        share = m["work_share"]
        if m["type"] not in AT_WORK or m["start"] is None:
            continue
        start = date.fromisoformat(m["start"])
        end = date.fromisoformat(m["end"]) if m["end"] else start
        for p in case.periods:
            if p.end < start or p.start > end:
                continue
            capacity = 100 - p.degree
            if share is not None and m["type"] == "part-time":
                if share == capacity:
                    continue
                what = "more" if share > capacity else "less"
            elif p.degree == 100:
                what, share = "at work during full sick leave", None
            else:
                continue
            cert = by_id.get(p.source)
            if cert is None:
                continue
            yield _make(
                RTW_DEGREE,
                arrived or plan,
                at,
                [plan.key, cert.key],
                {
                    "measure": m["ref"],
                    "measure_type": m["type"],
                    "work_share": share,
                    "degree": p.degree,
                    "capacity": capacity,
                    "from": max(start, p.start).isoformat(),
                    "to": min(end, p.end).isoformat(),
                    "plan_asks": what,
                },
                discriminator=f"{m['ref']}|{p.start}|{p.degree}",
            )


def _principals(sip: Entry, kind: str) -> set[str]:
    return {p["org"] for p in sip.facts["participants"] if p["type"] == kind and p["org"]}


def _parallel_sips(new: Entry, others: Sequence[Entry], at: datetime) -> Iterator[Flag]:
    for other in others:
        if other.kind is not DocumentKind.SIP or other.status != "active":
            continue
        for principal in ("region", "municipality"):
            mine, theirs = _principals(new, principal), _principals(other, principal)
            if mine and theirs and not mine & theirs:
                yield _make(
                    SIP_PARALLEL,
                    new,
                    at,
                    [new.key, other.key],
                    {"principal": principal, "sips": sorted([new.document_id, other.document_id])},
                    discriminator=principal,
                )


def _span(item: Mapping[str, Any]) -> tuple[date, date] | None:
    if not item.get("start"):
        return None
    start = date.fromisoformat(item["start"])
    return start, date.fromisoformat(item["end"]) if item.get("end") else date.max


def _tracks(
    plan: Entry, sips: Sequence[Entry], at: datetime, arrived: Entry | None = None
) -> Iterator[Flag]:
    for sip in sips:
        for effort in sip.facts["efforts"]:
            who = effort.get("responsible") or {}
            span = _span(effort)
            if who.get("type") != "arbetsformedlingen" or effort["status"] in _DONE or not span:
                continue
            for m in plan.facts["measures"]:
                other = _span(m)
                if m["type"] not in AT_WORK or other is None:
                    continue
                if span[0] <= other[1] and other[0] <= span[1]:
                    yield _make(
                        PARALLEL_TRACKS,
                        arrived or plan,
                        at,
                        [plan.key, sip.key],
                        {
                            "effort": effort["ref"],
                            "measure": m["ref"],
                            "from": max(span[0], other[0]).isoformat(),
                        },
                        discriminator=f"{effort['ref']}|{m['ref']}",
                    )


def _coordinator(new: Entry, others: Sequence[Entry], at: datetime) -> Iterator[Flag]:
    mine = set(new.owners)
    for other in others:
        if other.kind is DocumentKind.SECTION4_NOTIFICATION:
            theirs = set(other.owners)
        elif other.kind is DocumentKind.SIP and other.status == "active":
            org = other.facts["coordinator"]["org"]
            theirs = {org} if org else set()
        else:
            continue
        if theirs and not theirs & mine:
            yield _make(
                S4_COORDINATOR,
                new,
                at,
                [new.key, other.key],
                {"recorded_in": str(other.kind)},
            )


def _acknowledgement(ack: Entry, entries: Mapping[str, Entry], at: datetime) -> Iterator[Flag]:
    key = f"{DocumentKind.SECTION4_NOTIFICATION}:{ack.facts['notification']}"
    notification = entries.get(key)
    if notification is None:
        yield _make(ACK_UNKNOWN, ack, at, [ack.key], {"notification": ack.facts["notification"]})
        return
    if ack.facts["outcome"] == "no-need" and ack.facts["patient_informed"] is False:
        yield _make(
            S4_NO_NEED_UNTOLD,
            ack,
            at,
            [notification.key, ack.key],
            {"notification": notification.document_id},
        )


#: The checks a document's arrival runs, by its kind.
_Check = Callable[[Entry, Mapping[str, Entry], datetime], Iterator[Flag]]
_ON_ARRIVAL: dict[DocumentKind, _Check] = {
    DocumentKind.RETURN_TO_WORK_PLAN: _plan_arrived,
    DocumentKind.CERTIFICATE: _certificate_arrived,
    DocumentKind.SIP: _sip_arrived,
    DocumentKind.SECTION4_NOTIFICATION: _notification_arrived,
    DocumentKind.SECTION4_ACKNOWLEDGEMENT: _acknowledgement,
}


__all__ = [
    "ACK_UNKNOWN",
    "PARALLEL_TRACKS",
    "RTW_DEGREE",
    "RTW_LATE",
    "S4_COORDINATOR",
    "S4_NO_NEED_UNTOLD",
    "SIP_PARALLEL",
    "Flag",
    "flags_for",
]
