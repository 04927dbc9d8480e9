"""Index entries: what the patient's plan index keeps of each accepted document.

One entry per document (a new version of a SIP or a plan replaces its entry): its kind, id,
version and status, who wrote it and to whom it went, who owns it, and the facts coordination
needs - a certificate's sick-leave periods and degrees, a SIP's principals, efforts (who is
responsible, when, in which state), coordinator and follow-up date, a plan's measures and
follow-ups, a §4 notification's coordinating function and Försäkringskassan's answer.

By construction an entry holds **no free text and no diagnosis**: descriptions, needs, notes,
reasons and diagnosis codes are never copied in (the one number read from text is a
part-time measure's share of full time, ``work_share``). So nothing an actor is shown of the
index can leak what the policy step keeps from it. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cached_property
from typing import Any

import orjson

from gateway.coordination.case import CertificateFacts, DegreePeriod
from gateway.coordination.settings import CaseRules, case_rules
from gateway.documents import (
    Certificate,
    Document,
    DocumentKind,
    Recipient,
    ReturnToWorkPlan,
    Section4Acknowledgement,
    Section4Notification,
    Sip,
)
from gateway.documents.common import SWEDISH_TIME, Consent, Contact, Identifier, Organisation
from gateway.documents.identity import organisation_key
from gateway.documents.questions import (
    INFECTION_CARRIER_QUESTION,
    comparable_value,
    diagnoses,
    sick_leave_periods,
)
from gateway.documents.return_to_work import MeasureType
from gateway.documents.sip import EffortStatus
from gateway.policy.consent import document_time
from gateway.policy.content_filter import own_consents

#: Försäkringskassan's organisation number (as RIVTA writes it).
FK_ORGANISATION = "2021005521"
#: KV_STATUS code of a revoked (makulerat) certificate.
REVOKED = "CANCELLED"


def org_key(value: str | Identifier | None) -> str | None:
    """One spelling per organisation, the identity normaliser's (``organisation_key``): an
    organisation number without its dash or century prefix (556677-8899, 165566778899 ->
    5566778899), an HSA-id upper-cased."""
    if value is None:
        return None
    return organisation_key(value.value if isinstance(value, Identifier) else value) or None


def person_key(value: str) -> str:
    """A personnummer or samordningsnummer as the index keys it: 12 digits, no separator."""
    return value.strip().replace("-", "").replace("+", "")


@dataclass(frozen=True, slots=True)
class Addressee:
    """A recipient the document went to (not refused): its id, role and organisation."""

    id: str
    role: str
    org: str | None


@dataclass(frozen=True)
class Entry:
    key: str  # "<kind>:<document id>" (a plan's: "<kind>:<employer>:<id>")
    kind: DocumentKind
    document_id: str
    patient: str
    status: str
    message_id: str
    sender: str  # the actor that sent it
    sender_org: str | None
    received_at: datetime
    sender_role: str | None = None
    version: str | None = None
    owners: tuple[str, ...] = ()  # organisation keys whose document it is
    recipients: tuple[Addressee, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    #: every consent offered with the document (the envelope's and its own), read again by
    #: the one consent evaluator whenever someone asks to see the entry
    consents: tuple[Consent, ...] = ()
    #: the document's own time, which a consent's data period is read against
    document_time: datetime | None = None

    @property
    def received_on(self) -> date:
        """The Swedish calendar day it arrived (deadlines are days)."""
        return self.received_at.astimezone(SWEDISH_TIME).date()

    def to_json(self) -> bytes:
        """The entry as stored (the consents apart: :meth:`consents_json`)."""
        return orjson.dumps(
            {
                "key": self.key,
                "kind": str(self.kind),
                "document_id": self.document_id,
                "patient": self.patient,
                "status": self.status,
                "message_id": self.message_id,
                "sender": self.sender,
                "sender_org": self.sender_org,
                "sender_role": self.sender_role,
                "received_at": self.received_at.isoformat(),
                "version": self.version,
                "owners": list(self.owners),
                "recipients": [[a.id, a.role, a.org] for a in self.recipients],
                "facts": self.facts,
                "document_time": self.document_time.isoformat() if self.document_time else None,
            }
        )

    def consents_json(self) -> str | None:
        """The consents as stored: a JSON array of consent records (``None``: none)."""
        if not self.consents:
            return None
        return "[" + ",".join(c.model_dump_json() for c in self.consents) + "]"

    @classmethod
    def from_json(cls, data: bytes | str, consents: tuple[Consent, ...] = ()) -> Entry:
        d = orjson.loads(data)
        return cls(
            key=d["key"],
            kind=DocumentKind(d["kind"]),
            document_id=d["document_id"],
            patient=d["patient"],
            status=d["status"],
            message_id=d["message_id"],
            sender=d["sender"],
            sender_org=d["sender_org"],
            sender_role=d["sender_role"],
            received_at=datetime.fromisoformat(d["received_at"]),
            version=d["version"],
            owners=tuple(d["owners"]),
            recipients=tuple(Addressee(*a) for a in d["recipients"]),
            facts=d["facts"],
            consents=consents,
            document_time=(
                datetime.fromisoformat(d["document_time"]) if d.get("document_time") else None
            ),
        )

    def with_facts(self, **changes: Any) -> Entry:
        return replace(self, facts={**self.facts, **changes})

    def addressed_to(self, actor_id: str, org: str | None) -> bool:
        return any(a.id == actor_id or (org is not None and a.org == org) for a in self.recipients)

    @cached_property
    def certificate_facts(self) -> CertificateFacts:
        """What the sick-leave case needs of a certificate entry (worked out once)."""
        f = self.facts
        return CertificateFacts(
            id=self.document_id,
            type=f["subtype"],
            signed_at=datetime.fromisoformat(f["signed_at"]) if f.get("signed_at") else None,
            periods=tuple(
                DegreePeriod(
                    date.fromisoformat(p["start"]), date.fromisoformat(p["end"]), p["degree"]
                )
                for p in f["periods"]
            ),
            counts=f["counts"],
            replaces=tuple(f.get("replaces", ())),
        )


# -- documents -> entries -----------------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _org(o: Organisation | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"org": org_key(o.id), "name": o.name}


def _contact(c: Contact | None) -> dict[str, Any] | None:
    """A coordinating function's or case officer's contact: name, role, telephone, e-mail
    (what SKR's third item is; no address)."""
    if c is None:
        return None
    return {"name": c.name, "role": c.role, "phone": c.phone, "email": c.email}


def certificate_key(cert: Certificate | Identifier) -> str:
    ident = cert.id if isinstance(cert, Certificate) else cert
    return f"{DocumentKind.CERTIFICATE}:{ident.value}"


def _certificate(
    cert: Certificate, rules: CaseRules
) -> tuple[dict[str, Any], tuple[str, ...], str]:
    """(facts, owners, status) of a certificate."""
    periods = []
    for p in sick_leave_periods(cert):
        if p.period.start is None or p.period.end is None or p.percent is None:
            continue
        periods.append(
            {
                "start": p.period.start.isoformat(),
                "end": p.period.end.isoformat(),
                "degree": round(p.percent),
            }
        )
    carrier = any(
        comparable_value(part.value) == "true"
        for a in cert.answers_to(INFECTION_CARRIER_QUESTION)
        for part in a.parts
    )
    revoked = bool(cert.statuses) and max(cert.statuses, key=lambda s: s.at).status.code == REVOKED
    # Inera counts a certificate with a main diagnosis that is no smittskydd certificate; the
    # entry keeps only the verdict, never the diagnosis
    counts = (
        str(cert.type) in rules.counted_types
        and bool(diagnoses(cert))
        and not (carrier and str(cert.type) == "FK7804")
        and not revoked
    )
    replaces = sorted(
        r.certificate_id.value for r in cert.relations if r.type.code in rules.excluded_relations
    )
    unit = cert.issuer.unit
    facts = {
        "subtype": str(cert.type),
        "signed_at": cert.signed_at.isoformat() if cert.signed_at else None,
        "periods": periods,
        "counts": counts,
        "replaces": replaces,
        "unit": {"org": org_key(unit.id), "name": unit.name},
        "care_provider": _org(unit.care_provider),
    }
    owners = tuple(k for k in (org_key(unit.id), org_key(unit.care_provider.id)) if k)
    return facts, owners, "revoked" if revoked else "current"


_SHARE = re.compile(r"(\d{1,3}(?:[.,]\d+)?)\s*(%|procent\b)", re.I)
_HOURS = re.compile(
    r"(\d{1,2}(?:[.,]\d+)?)\s*(?:timmar|timme|tim|h)\b\.?\s*(?:per|/|i|om)\s*(dag|dagen|vecka|veckan)",
    re.I,
)


def work_share(text: str, rules: CaseRules | None = None) -> int | None:
    """The share of full time a part-time measure has the employee work, read from its
    description: the first "NN %", else "N timmar per dag/vecka" against the full-time norms
    of case.toml. ``None`` when the text states neither (or nothing between 0 and 100)."""
    rules = rules or case_rules()
    m = _SHARE.search(text)
    if m is not None:
        value = float(m.group(1).replace(",", "."))
    else:
        h = _HOURS.search(text)
        if h is None:
            return None
        hours = float(h.group(1).replace(",", "."))
        norm = rules.hours_per_day if h.group(2).lower().startswith("dag") else rules.hours_per_week
        value = 100 * hours / norm
    return round(value) if 0 <= value <= 100 else None


def _plan(plan: ReturnToWorkPlan, rules: CaseRules) -> dict[str, Any]:
    return {
        "employer": _org(plan.employer),
        "first_day": plan.first_day_of_reduced_capacity.isoformat(),
        "expected_60_days": plan.expected_leave_60_days_or_more,
        "plan_needed": plan.plan_not_needed_reason is None,
        "plan_date": plan.plan_date.isoformat(),
        "measures": [
            {
                "ref": m.ref,
                "type": str(m.type),
                "start": _day(m.period.start if m.period else None),
                "end": _day(m.period.end if m.period else None),
                "work_share": work_share(m.description, rules)
                if m.type is MeasureType.PART_TIME
                else None,
            }
            for m in plan.measures
        ],
        "follow_ups": sorted({f.on.isoformat() for f in plan.follow_ups}),
    }


def _sip(sip: Sip) -> dict[str, Any]:
    by_ref = {p.ref: p for p in sip.participants}

    def party(ref: str | None) -> dict[str, Any] | None:
        p = by_ref.get(ref) if ref is not None else None
        if p is None:
            return None
        return {"ref": p.ref, "org": org_key(p.organisation.id), "type": str(p.principal_type)}

    coordinator = by_ref.get(sip.coordinator.participant)
    return {
        "created_at": sip.created_at.isoformat(),
        "meeting_date": _day(sip.meeting_date),
        "next_follow_up": _day(sip.next_follow_up),
        "participants": [
            {
                "ref": p.ref,
                "org": org_key(p.organisation.id),
                "name": p.organisation.name,
                "type": str(p.principal_type),
            }
            for p in sip.participants
        ],
        "coordinator": {
            "participant": sip.coordinator.participant,
            "org": org_key(coordinator.organisation.id) if coordinator else None,
            "type": str(coordinator.principal_type) if coordinator else None,
            "contact": _contact(sip.coordinator.contact),
        },
        "efforts": [
            {
                "ref": e.ref,
                "responsible": party(e.responsible),
                "status": str(e.status),
                "start": _day(e.period.start if e.period else None),
                "end": _day(e.period.end if e.period else None),
            }
            for e in sip.efforts
        ],
    }


def _sip_status(sip: Sip) -> str:
    done = {EffortStatus.COMPLETED, EffortStatus.CANCELLED}
    return "completed" if sip.efforts and all(e.status in done for e in sip.efforts) else "active"


def entry_for(
    document: Document,
    *,
    message_id: str,
    sender: str,
    sender_org: str | None,
    received_at: datetime,
    sender_role: str | None = None,
    recipients: Sequence[Addressee] = (),
    consents: Sequence[Consent] = (),
    rules: CaseRules | None = None,
) -> Entry:
    """The index entry of an accepted ``document``. ``consents`` are those its message
    offered (a certificate has no place for its own); the document's own is kept beside them,
    as the policy step reads them all (``content_filter.own_consents``)."""
    rules = rules or case_rules()
    sender_org = org_key(sender_org)
    owners: tuple[str, ...] = (sender_org,) if sender_org else ()
    facts: dict[str, Any]
    version: str | None = None
    if isinstance(document, Certificate):
        key, doc_id = certificate_key(document), document.id.value
        facts, more, status = _certificate(document, rules)
        owners += more
        patient = document.patient.id.value
    elif isinstance(document, Sip):
        key, doc_id = f"{document.kind}:{document.id}", document.id
        facts, status, version = _sip(document), _sip_status(document), document.version
        owners += tuple(k for p in document.participants if (k := org_key(p.organisation.id)))
        patient = document.patient.id.value
    elif isinstance(document, ReturnToWorkPlan):
        employer = org_key(document.employer.id)
        key, doc_id = f"{document.kind}:{employer}:{document.id}", document.id
        facts, version = _plan(document, rules), document.version
        status = "active" if document.plan_not_needed_reason is None else "not-needed"
        owners += (employer,) if employer else ()
        patient = document.employee.id.value
    elif isinstance(document, Section4Notification):
        key, doc_id, status = f"{document.kind}:{document.id}", document.id, "sent"
        facts = {
            "sent_at": document.sent_at.isoformat(),
            "region": _org(document.region),
            "unit": {"org": org_key(document.unit.id), "name": document.unit.name},
            "coordinator": _contact(document.coordinator),
            "certificate": document.certificate_id.value if document.certificate_id else None,
            "consent_id": document.consent.id if document.consent else None,
            "acknowledgement": None,
        }
        owners += tuple(
            k
            for k in (
                org_key(document.region.id),
                org_key(document.unit.id),
                org_key(document.unit.care_provider.id),
            )
            if k
        )
        patient = document.patient.id.value
    elif isinstance(document, Section4Acknowledgement):
        key, doc_id = f"{document.kind}:{document.id}", document.id
        facts = acknowledgement_facts(document)
        status = str(document.outcome or document.status)
        owners += tuple(k for k in (org_key(document.sender.id), FK_ORGANISATION) if k)
        patient = document.patient.id.value
    else:  # pragma: no cover - every kind is above
        raise TypeError(f"no index entry for {type(document).__name__}")
    return Entry(
        key=key,
        kind=document.kind,
        document_id=doc_id,
        patient=person_key(patient),
        status=status,
        message_id=message_id,
        sender=sender,
        sender_org=sender_org,
        sender_role=sender_role,
        received_at=received_at,
        version=version,
        owners=tuple(dict.fromkeys(owners)),
        recipients=tuple(recipients),
        facts=facts,
        consents=(*consents, *own_consents(document)),
        document_time=document_time(document),
    )


def acknowledgement_facts(a: Section4Acknowledgement) -> dict[str, Any]:
    return {
        "notification": a.notification_id,
        "sent_at": a.sent_at.isoformat(),
        "received_at": a.received_at.isoformat(),
        "status": str(a.status),
        "handled_at": a.handled_at.isoformat() if a.handled_at else None,
        "outcome": str(a.outcome) if a.outcome else None,
        "patient_informed": a.patient_informed,
        "case_officer": _contact(a.case_officer),
    }


def recipients_of(
    role_org: Sequence[tuple[str, Recipient | str, str | None]],
) -> tuple[Addressee, ...]:
    """Addressees from (recipient id, role, organisation) triples, organisations keyed."""
    return tuple(Addressee(rid, str(role), org_key(org)) for rid, role, org in role_org)


__all__ = [
    "FK_ORGANISATION",
    "Addressee",
    "Entry",
    "acknowledgement_facts",
    "certificate_key",
    "entry_for",
    "org_key",
    "person_key",
    "recipients_of",
    "work_share",
]
