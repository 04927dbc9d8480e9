"""The rehabilitation chain's deadlines for one patient, from the patient's index entries.

Rows of ``mappings/coordination/chain.toml`` (each with its source) say what is due when and
whose task it is; this module only evaluates their conditions over the entries. One
:class:`Deadline` per (deadline, actor organisation): the responsible role's and each informed
role's organisations that are related to the patient (they wrote or received one of its
documents, or take part in its SIP), so that a deadline list per actor is one indexed lookup.
Statuses depend on the day asked (:meth:`Deadline.status`); the rows do not. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from gateway.coordination.case import SickLeaveCase, chain_case
from gateway.coordination.entries import FK_ORGANISATION, Entry
from gateway.coordination.settings import DeadlineRule, deadline_rules, section4_settings
from gateway.documents import DocumentKind, Recipient
from gateway.documents.common import SWEDISH_TIME

_ROLES = frozenset(r.value for r in Recipient)


@dataclass(frozen=True)
class Deadline:
    id: str
    patient: str
    code: str
    type: str  # "task" or "milestone"
    due: date
    role: str  # whose list it is on
    org: str  # that actor's organisation (key)
    relation: str  # "responsible" or "informed"
    basis: tuple[str, ...]  # the index entries it rests on
    day: int | None = None  # the chain's day (covered days), when it is one
    opens: date | None = None  # a window's first day (from_day)
    met_on: date | None = None
    waived: bool = False
    detail: Mapping[str, Any] = field(default_factory=dict)

    def status(self, today: date) -> str:
        if self.type == "milestone":
            return "reached" if self.due <= today else "upcoming"
        if self.waived:
            return "waived"
        if self.met_on is not None:
            return "met-late" if self.met_on > self.due else "met"
        return "due" if today <= self.due else "overdue"

    def describe(self, today: date) -> str:
        """One line for people: "return-to-work-plan overdue since 2025-03-04 (day 34)"."""
        status = self.status(today)
        when = f"day {self.day}, " if self.day else ""
        if status == "overdue":
            late = (today - self.due).days
            return f"{self.code} overdue: due {self.due} ({when}{late} day(s) ago)"
        if status in ("met", "met-late"):
            return f"{self.code} {status} on {self.met_on} (due {when}{self.due})"
        return f"{self.code} {status}: {when}{self.due}"

    def to_dict(self, today: date | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "patient": self.patient,
            "code": self.code,
            "type": self.type,
            "due": self.due.isoformat(),
            "day": self.day,
            "opens": self.opens.isoformat() if self.opens else None,
            "role": self.role,
            "organisation": self.org,
            "relation": self.relation,
            "met_on": self.met_on.isoformat() if self.met_on else None,
            "waived": self.waived,
            "basis": list(self.basis),
            "detail": dict(self.detail),
        }
        if today is not None:
            out["status"] = self.status(today)
            out["text"] = self.describe(today)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Deadline:
        return cls(
            id=d["id"],
            patient=d["patient"],
            code=d["code"],
            type=d["type"],
            due=date.fromisoformat(d["due"]),
            role=d["role"],
            org=d["organisation"],
            relation=d["relation"],
            basis=tuple(d["basis"]),
            day=d.get("day"),
            opens=date.fromisoformat(d["opens"]) if d.get("opens") else None,
            met_on=date.fromisoformat(d["met_on"]) if d.get("met_on") else None,
            waived=bool(d.get("waived")),
            detail=d.get("detail") or {},
        )


@dataclass(frozen=True)
class _Due:
    """One occurrence of a rule before it is put on actors' lists."""

    rule: DeadlineRule
    due: date
    basis: tuple[str, ...]
    instance: str = ""
    day: int | None = None
    opens: date | None = None
    met_on: date | None = None
    waived: bool = False
    responsible: tuple[tuple[str, str], ...] = ()  # (role, org), when not the rule's role
    detail: Mapping[str, Any] = field(default_factory=dict)


def deadline_id(*parts: str) -> str:
    """A stable id for a deadline on one actor's list (the same on every recomputation, so an
    unchanged deadline is not rewritten)."""
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def related_orgs(entries: Iterable[Entry]) -> dict[str, set[str]]:
    """role -> the organisations of that role related to the patient."""
    out: dict[str, set[str]] = {}
    for e in entries:
        if e.sender_role and e.sender_org:
            out.setdefault(e.sender_role, set()).add(e.sender_org)
        for a in e.recipients:
            if a.org:
                out.setdefault(a.role, set()).add(a.org)
        if e.kind is DocumentKind.SIP:
            for p in e.facts["participants"]:
                if p["org"] and p["type"] in _ROLES:
                    out.setdefault(p["type"], set()).add(p["org"])
        if e.kind is DocumentKind.RETURN_TO_WORK_PLAN and e.facts["employer"]["org"]:
            out.setdefault(Recipient.EMPLOYER.value, set()).add(e.facts["employer"]["org"])
    out.setdefault(Recipient.FORSAKRINGSKASSAN.value, set()).add(FK_ORGANISATION)
    return out


def deadlines(patient: str, entries: Sequence[Entry]) -> list[Deadline]:
    """Every deadline of the patient's chain and plans, on every related actor's list."""
    certs = [e for e in entries if e.kind is DocumentKind.CERTIFICATE and e.status != "revoked"]
    case = chain_case([e.certificate_facts for e in certs])
    basis = _keys(e for e in certs if case is not None and e.document_id in case.certificate_ids)
    on = _Patient(case, basis, entries, certs)
    found: list[_Due] = []
    for rule in deadline_rules():
        found.extend(_evaluate(rule, on))
    orgs = related_orgs(entries)
    out: list[Deadline] = []
    for d in found:
        lists: list[tuple[str, str, str]] = []
        if d.responsible:
            lists += [(role, org, "responsible") for role, org in d.responsible]
        else:
            lists += [
                (d.rule.responsible, o, "responsible") for o in orgs.get(d.rule.responsible, ())
            ]
        for role in d.rule.informed:
            if role == "participants":
                continue  # the SIP rule names its participants itself (responsible tuple)
            lists += [(role, o, "informed") for o in orgs.get(role, ())]
        seen: set[tuple[str, str]] = set()
        for role, org, relation in lists:
            if (role, org) in seen:
                continue
            seen.add((role, org))
            out.append(
                Deadline(
                    id=deadline_id(patient, d.rule.code, d.instance, role, org),
                    patient=patient,
                    code=d.rule.code,
                    type=d.rule.type,
                    due=d.due,
                    role=role,
                    org=org,
                    relation=relation,
                    basis=d.basis,
                    day=d.day,
                    opens=d.opens,
                    met_on=d.met_on,
                    waived=d.waived,
                    detail=d.detail,
                )
            )
    return sorted(out, key=lambda x: (x.due, x.code, x.role, x.org))


def _keys(entries: Iterable[Entry]) -> tuple[str, ...]:
    return tuple(sorted(e.key for e in entries))


@dataclass(frozen=True)
class _Patient:
    """What every condition reads of the patient: the chain's case, the keys of its
    certificates (a deadline's basis), every entry, the certificates not revoked."""

    case: SickLeaveCase | None
    basis: tuple[str, ...]
    entries: Sequence[Entry]
    certs: list[Entry]


def _evaluate(rule: DeadlineRule, on: _Patient) -> Iterable[_Due]:
    """The occurrences of ``rule``, by its condition (settings.py refuses a deadlines.toml row
    naming none of :data:`_CONDITIONS`)."""
    return _CONDITIONS[rule.condition](rule, on)


def _reaches_day(rule: DeadlineRule, on: _Patient) -> Iterable[_Due]:
    assert rule.day is not None
    case = on.case
    # a window (from_day) is listed once it opens; its end projected if not yet certified
    first = rule.from_day or rule.day
    if case is None or case.covered_days < first:
        return
    opens = case.day_date(rule.from_day) if rule.from_day else None
    due = case.day_date(rule.day)
    detail: dict[str, Any] = {"case_start": case.start.isoformat()}
    if due is None:
        assert opens is not None
        due = opens + timedelta(days=rule.day - first)
        detail["projected"] = True
    met_on = None
    if rule.met_by == "certificate-to-employer":
        to_employer = [
            e.received_on
            for e in on.certs
            if e.document_id in case.certificate_ids
            and any(a.role == Recipient.EMPLOYER for a in e.recipients)
        ]
        met_on = min(to_employer) if to_employer else None
    yield _Due(rule, due, on.basis, day=rule.day, opens=opens, met_on=met_on, detail=detail)


def _expected_60_days(rule: DeadlineRule, on: _Patient) -> Iterable[_Due]:
    return _plan_due(rule, on.case, on.basis, on.entries)


def _sip_next_follow_up(rule: DeadlineRule, on: _Patient) -> Iterable[_Due]:
    for e in on.entries:
        if e.kind is not DocumentKind.SIP or e.status != "active":
            continue
        when = e.facts.get("next_follow_up")
        if not when:
            continue
        coordinator = e.facts["coordinator"]
        responsible = []
        if coordinator["org"] and coordinator["type"]:
            responsible.append((coordinator["type"], coordinator["org"]))
        if "participants" in rule.informed:
            responsible += [
                (p["type"], p["org"])
                for p in e.facts["participants"]
                if p["org"] and p["type"] in _ROLES
            ]
        yield _Due(
            rule,
            date.fromisoformat(when),
            (e.key,),
            instance=e.key,
            responsible=tuple(responsible),
            detail={"sip": e.document_id, "version": e.version},
        )


def _plan_follow_up(rule: DeadlineRule, on: _Patient) -> Iterable[_Due]:
    for e in on.entries:
        if e.kind is not DocumentKind.RETURN_TO_WORK_PLAN or e.status != "active":
            continue
        employer = e.facts["employer"]["org"]
        for when in e.facts["follow_ups"]:
            day = date.fromisoformat(when)
            yield _Due(
                rule,
                day,
                (e.key,),
                instance=f"{e.key}|{when}",
                # a plan revised on or after the date has been followed up
                met_on=e.received_on if e.received_on >= day else None,
                responsible=((Recipient.EMPLOYER.value, employer),) if employer else (),
                detail={"plan": e.document_id, "version": e.version},
            )


def _section4_sent(rule: DeadlineRule, on: _Patient) -> Iterable[_Due]:
    days = timedelta(days=section4_settings().handling_days)
    for e in on.entries:
        if e.kind is not DocumentKind.SECTION4_NOTIFICATION:
            continue
        ack = e.facts.get("acknowledgement") or {}
        handled = ack.get("handled_at") if ack.get("status") == "handled" else None
        yield _Due(
            rule,
            e.received_on + days,
            (e.key, *((ack["key"],) if ack.get("key") else ())),
            instance=e.key,
            met_on=swedish_day(handled) if handled else None,
            detail={"notification": e.document_id},
        )


#: A deadline rule's ``condition`` (deadlines.toml) -> the occurrences it yields.
_CONDITIONS = {
    "reaches-day": _reaches_day,
    "expected-60-days": _expected_60_days,
    "sip-next-follow-up": _sip_next_follow_up,
    "plan-follow-up": _plan_follow_up,
    "section4-sent": _section4_sent,
}


def first_received(e: Entry) -> date:
    """The Swedish day the first version of a document arrived (later versions keep it)."""
    first = e.facts.get("first_received")
    return swedish_day(first) if first else e.received_on


def swedish_day(moment: str) -> date:
    """The Swedish calendar day of an ISO time (deadlines are days in Sweden)."""
    t = datetime.fromisoformat(moment)
    return (t if t.tzinfo else t.replace(tzinfo=SWEDISH_TIME)).astimezone(SWEDISH_TIME).date()


def _plan_due(
    rule: DeadlineRule, case: SickLeaveCase | None, basis: tuple[str, ...], entries: Sequence[Entry]
) -> Iterable[_Due]:
    """The return-to-work plan: due on day 30 when the leave can be assumed to last 60 days or
    more - the certified periods reach day 60, or a plan of the employer's says so."""
    assert rule.day is not None
    plans = [e for e in entries if e.kind is DocumentKind.RETURN_TO_WORK_PLAN]
    if case is not None:  # this case's plans, not an earlier case's
        plans = [p for p in plans if p.received_on >= case.start]
    expected = (case is not None and case.covered_days >= 60) or any(
        p.facts["expected_60_days"] for p in plans
    )
    if not expected:
        return
    if case is not None and case.covered_days >= rule.day:
        due = case.day_date(rule.day)
        start = case.start
    elif plans:
        start = min(date.fromisoformat(p.facts["first_day"]) for p in plans)
        due = start + timedelta(days=rule.day - 1)
        basis = ()
    else:
        return
    assert due is not None
    met_on = min((first_received(p) for p in plans), default=None)
    waived = bool(plans) and all(not p.facts["plan_needed"] for p in plans)
    yield _Due(
        rule,
        due,
        tuple(sorted({*basis, *(p.key for p in plans)})),
        day=rule.day,
        met_on=met_on,
        waived=waived,
        detail={"case_start": start.isoformat()},
    )


__all__ = ["Deadline", "deadlines", "first_received", "related_orgs"]
