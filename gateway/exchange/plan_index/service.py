"""What the HTTP API and the command line ask of the plan index: one patient's view, one
actor's deadline list, the §4 statistics. Each read answers as one actor sees it
(:mod:`gateway.coordination.visibility`) and leaves an audit record of who asked, about which
patient, and what was shown - ids only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from gateway.coordination.case import SickLeaveCase, bucket, chain_case
from gateway.coordination.chain import Deadline
from gateway.coordination.entries import Addressee, Entry, entry_for, org_key, person_key
from gateway.coordination.flags import Flag
from gateway.coordination.statistics import (
    Refusal,
    Report,
    month_of,
    notification_from,
    refusal_reason,
    report,
)
from gateway.coordination.visibility import Actor, Viewer, shown_ids
from gateway.documents import Document, DocumentKind
from gateway.documents.common import SWEDISH_TIME, Consent
from gateway.exchange.config import Config, RecipientConfig, SenderConfig
from gateway.exchange.plan_index import PatientRecord, PlanIndex
from gateway.exchange.store.base import AuditEntry, Store


def actor_of(config: Config, principal_id: str) -> Actor:
    """The role and organisation ``principal_id`` acts for: the sender's own (``role``,
    ``organisation``), else those of the recipient with the same id."""
    s = config.sender(principal_id)
    r = config.recipient(principal_id)
    role = (s.role if s is not None else None) or (r.role if r is not None else None)
    org = (s.organisation if s is not None else None) or (r.organisation if r is not None else None)
    return Actor(principal_id, role, org_key(org))


def index_entry(
    document: Document,
    *,
    message_id: str,
    sender: SenderConfig,
    config: Config,
    recipients: Sequence[RecipientConfig],
    consents: Sequence[Consent],
    at: datetime,
) -> Entry:
    """The plan index entry of a document the router accepts (``recipients``: those not
    refused; ``consents``: every consent record the message offered)."""
    actor = actor_of(config, sender.id)
    return entry_for(
        document,
        message_id=message_id,
        sender=sender.id,
        sender_org=actor.org,
        sender_role=str(actor.role) if actor.role else None,
        received_at=at,
        recipients=[Addressee(r.id, str(r.role), org_key(r.organisation)) for r in recipients],
        consents=consents,
    )


class BadPatient(ValueError):
    """A patient id the index cannot key (not a 12-digit personnummer/samordningsnummer)."""


#: What names a patient: 12 digits (``YYYYMMDDNNNC``, the separator form too), optionally
#: as a FHIR token ``system|value``. The index answers alike for a number it does not know.
PATIENT_PATTERN = r"^([^|]*\|)?\d{8}[-+]?\d{4}$"
_PATIENT = re.compile(PATIENT_PATTERN)


def patient_key(raw: str) -> str:
    """``191212121212``, ``19121212-1212`` or ``system|value`` (FHIR token) -> the key."""
    if not _PATIENT.match(raw):
        raise BadPatient(
            "the patient id must be a personnummer or samordningsnummer: 12 digits "
            "(YYYYMMDDNNNC), optionally as system|value"
        )
    return person_key(raw.rsplit("|", 1)[-1])


def today(now: datetime) -> date:
    return now.astimezone(SWEDISH_TIME).date()


def case_summary(case: SickLeaveCase | None, on: date) -> dict[str, Any] | None:
    """The sick-leave case the actor's visible certificates make, as of ``on``."""
    if case is None:
        return None
    covered = case.day_on(on)
    return {
        "start": case.start.isoformat(),
        "end": case.end.isoformat(),
        "covered_days": case.covered_days,
        "day": covered if covered else None,
        "calendar_day": case.calendar_day(on),
        "active": case.active_on(on),
        "degree": case.degree_on(on),
        "length_rehabstod": bucket(case.covered_days, "rehabstod"),
        "length_intygsstatistik": bucket(case.covered_days, "intygsstatistik"),
    }


@dataclass
class PatientView:
    patient: str
    entries: list[dict[str, Any]]
    flags: list[Flag]
    deadlines: list[Deadline]
    visible: list[Entry]
    case: dict[str, Any] | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        on = today(self.at)
        return {
            "patient": self.patient,
            "as_of": self.at.isoformat(),
            "case": self.case,
            "entries": self.entries,
            "flags": [f.to_dict() for f in self.flags],
            "deadlines": [d.to_dict(on) for d in self.deadlines],
        }


async def patient_view(
    index: PlanIndex, store: Store, actor: Actor, patient: str, *, at: datetime, via: str
) -> PatientView:
    """What ``actor`` sees of ``patient`` (the same answer whether or not the index knows
    the patient), audited."""
    out = _view(actor, patient, await index.patient(patient), at)
    await store.append_audit([read_audit(actor, at, via, patient, _shown(out))])
    return out


async def patient_views(
    index: PlanIndex,
    store: Store,
    actor: Actor,
    patients: Sequence[str],
    *,
    at: datetime,
    via: str,
) -> list[PatientView]:
    """:func:`patient_view` of each of ``patients``, read together and with their audit
    records in one transaction (a page of many patients pays one read and one commit, not
    one each a patient)."""
    records = await index.patients(patients)
    views = [_view(actor, p, records[p], at) for p in patients]
    if views:
        await store.append_audit([read_audit(actor, at, via, v.patient, _shown(v)) for v in views])
    return views


def _shown(view: PatientView) -> dict[str, Any]:
    return shown_ids(view.entries, view.flags, view.deadlines)


def _view(actor: Actor, patient: str, record: PatientRecord, at: datetime) -> PatientView:
    v = Viewer(actor, record.entries, at)
    visible = v.visible_entries()
    shown = [v.show(e) for e in visible]
    flags = [f for f in record.flags if v.sees_flag(f)]
    # the deadlines on the actor's own list, of what it may see
    deadlines = [
        d
        for d in record.deadlines
        if actor.role is not None
        and d.role == actor.role
        and (actor.org is None or d.org == actor.org)
        and v.sees_deadline(d)
    ]
    certs = [e for e in visible if e.kind is DocumentKind.CERTIFICATE and e.status != "revoked"]
    case = chain_case([e.certificate_facts for e in certs])
    return PatientView(patient, shown, flags, deadlines, visible, case_summary(case, today(at)), at)


def read_audit(
    actor: Actor, at: datetime, via: str, patient: str | None, shown: dict[str, Any]
) -> AuditEntry:
    """Who asked (the actor), about which patient, what was shown (ids only). An access log
    must say whose record was read (4 kap. 3 § patientdatalagen): the patient's id is kept."""
    detail: dict[str, Any] = {"via": via, **shown}
    if patient is not None:
        detail["patient"] = patient
    return AuditEntry(at, actor.id, "read", detail=detail)


async def actor_deadlines(
    index: PlanIndex,
    store: Store,
    viewer: Actor,
    target: Actor,
    *,
    at: datetime,
    within: int,
    limit: int,
    via: str,
) -> list[Deadline]:
    """The deadlines on ``target``'s list that ``viewer`` may see (an actor asking about
    itself: its own list), due or overdue, earliest first; audited."""
    on = today(at)
    found: list[Deadline] = []
    if target.role is not None and target.org is not None:
        offset, page = 0, max(limit, 50)
        while len(found) < limit:
            rows = await index.actor_deadlines(
                str(target.role),
                target.org,
                since=on - timedelta(days=within),
                until=on + timedelta(days=within),
                limit=page,
                offset=offset,
            )
            if not rows:
                break
            entries = await index.entries_of([d.patient for d in rows])
            viewers = {p: Viewer(viewer, es, at) for p, es in entries.items()}
            found += [d for d in rows if viewers[d.patient].sees_deadline(d)]
            if len(rows) < page:
                break
            offset += page
    found = found[:limit]
    shown = {"deadlines": [d.id for d in found], "patients": sorted({d.patient for d in found})}
    await store.append_audit([read_audit(viewer, at, via, None, {"actor": target.id, **shown})])
    return found


async def section4_report(
    index: PlanIndex,
    store: Store,
    config: Config,
    viewer: Actor | None,
    *,
    first: str,
    last: str,
    at: datetime,
    cutoff: int | None = None,
) -> Report:
    """The §4 statistics of months ``first``..``last`` as ``viewer`` sees them (``None``: the
    operator); its own region's rows whole, other small cells suppressed."""
    start = _month_start(first)
    end = _month_start(_next_month(last))
    region_of = _regions(config)
    rows = await index.section4(start, end)
    notifications = []
    for row in rows:
        e = row.entry
        region = e.sender_org or (e.facts.get("region") or {}).get("org") or e.sender
        name = (e.facts.get("region") or {}).get("name")
        notifications.append(
            notification_from(
                e.facts,
                region=region,
                region_name=name,
                accepted=e.received_at,
                accepted_on=e.received_on,
                delivered=row.delivered,
            )
        )
    refusals = await _refusals(store, region_of, start, end)
    cases = _cases(await index.certificates(start, end), first, last)
    own = viewer.org if viewer is not None and viewer.role == "region" else None
    out = report(
        notifications,
        refusals,
        cases,
        first=first,
        last=last,
        as_of=today(at),
        own_region=own,
        cutoff=cutoff,
    )
    who = viewer or Actor("operator")
    await store.append_audit(
        [read_audit(who, at, "statistics/section4", None, {"months": [first, last]})]
    )
    return out


def _month_start(month: str) -> datetime:
    y, m = int(month[:4]), int(month[5:7])
    return datetime.combine(date(y, m, 1), time.min, SWEDISH_TIME).astimezone(UTC)


def _next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y + 1:04d}-01" if m == 12 else f"{y:04d}-{m + 1:02d}"


def _regions(config: Config) -> dict[str, str]:
    """sender id -> the region (organisation) it sends for."""
    return {s.id: actor_of(config, s.id).org or s.id for s in config.senders}


async def _refusals(
    store: Store, region_of: dict[str, str], start: datetime, end: datetime
) -> list[Refusal]:
    """§4 notifications refused, read from the audit trail (the gateway's own record of every
    refusal): an invalid one by its validation record, a policy refusal by the validation
    record it follows, a spent consent by its own record."""
    out: list[Refusal] = []
    section4: dict[tuple[str, datetime], bool] = {}  # (sender, time) -> valid
    async for rec in store.audit_records(since=start):
        e = rec.entry
        if e.at >= end:
            continue
        month = month_of(e.at.astimezone(SWEDISH_TIME).date())
        region = region_of.get(e.actor, e.actor)
        if e.action == "validated" and e.detail.get("kind") == str(
            DocumentKind.SECTION4_NOTIFICATION
        ):
            section4[(e.actor, e.at)] = bool(e.detail.get("valid"))
            if not e.detail.get("valid"):
                out.append(Refusal(region, month, refusal_reason(e.detail.get("codes", ()))))
        elif e.action == "refused" and section4.get((e.actor, e.at)) is True:
            out.append(Refusal(region, month, refusal_reason(e.detail.get("codes", ()))))
        elif e.action == "consent-used" and not e.detail:
            # (an accepted notification's own record names its consent in the detail)
            out.append(Refusal(region, month, refusal_reason((), reused=True)))
    return out


def _cases(certificates: list[Entry], first: str, last: str) -> dict[tuple[str, str], int]:
    """Sick-leave cases per region and month, Inera's way: FK 7804 only, per sending
    organisation (a new care provider is a new case), counted in every month it had a period."""
    from gateway.coordination.case import build_cases

    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in certificates:
        groups.setdefault((e.patient, e.sender_org or e.sender), []).append(e)
    out: dict[tuple[str, str], int] = {}
    for (_patient, region), entries in groups.items():
        for case in build_cases([e.certificate_facts for e in entries]):
            for y, m in case.months():
                month = f"{y:04d}-{m:02d}"
                if first <= month <= last:
                    out[(region, month)] = out.get((region, month), 0) + 1
    return out


__all__ = [
    "PATIENT_PATTERN",
    "BadPatient",
    "PatientView",
    "actor_deadlines",
    "actor_of",
    "case_summary",
    "index_entry",
    "patient_key",
    "patient_view",
    "read_audit",
    "section4_report",
    "today",
]
