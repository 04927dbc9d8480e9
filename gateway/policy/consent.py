"""Consent at the transfer: a transfer that needs the patient's consent goes only when the
one reading of every consent offered (:func:`gateway.documents.consent.evaluate_consents`, the
same validation, the server and the coordination index use) authorises it: active, a privacy
consent, opt-in, no deny that applies in any of them, within its period, the document's
patient's, naming the recipient (an employer by its organisation), a purpose code the route
accepts, scoped to this document (4 kap. 2 § PDL; seed 003: one consent per transfer for §4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

from gateway.documents import Certificate, Document
from gateway.documents.common import SWEDISH_TIME, Consent, Identifier
from gateway.documents.consent import (
    ConsentDecision,
    ConsentProblem,
    Disclosure,
    evaluate_consents,
)
from gateway.documents.issues import RULES, RuleKind, Severity
from gateway.documents.return_to_work import ReturnToWorkPlan
from gateway.documents.section4 import Section4Notification
from gateway.documents.sip import Sip
from gateway.policy.policies import Policy
from gateway.policy.report import Action, ReportEntry

CONSENT_NOT_CHECKED = RULES.define(
    "POLICY-CONSENT-NOT-CHECKED",
    "Consent not checked in this preview",
    RuleKind.POLICY,
    "`gateway redact` rendered a document that carries no consent record and was given none "
    "with `--consent` (a bare RIVTA certificate, say). The preview shows the content filter; "
    "the server always checks consent per transfer and refuses one without it.",
    severity=Severity.INFORMATION,
)


def disclosure(
    document: Document,
    policy: Policy,
    *,
    at: datetime,
    organisation: str | None = None,
) -> Disclosure:
    """What a transfer of ``document`` on ``policy``'s route asks of the consents."""
    return Disclosure(
        kind=document.kind,
        at=at,
        document_id=document_id(document),
        patient=patient_id(document),
        document_time=document_time(document),
        recipient=policy.recipient,
        purposes=policy.purposes,
        organisation=organisation,
        named_organisation=policy.consent_names_organisation,
    )


def check_consents(
    candidates: Sequence[Consent], what: Disclosure
) -> tuple[Consent | None, list[ReportEntry]]:
    """The consent the transfer rests on and the notes, or ``None`` and the refusal."""
    decision: ConsentDecision = evaluate_consents(candidates, what)
    if decision.problem is not None:
        return None, [_entry(decision.refusing, decision.problem, Action.REFUSED)]
    notes = [_entry(decision.consent, n, Action.NOTE) for n in decision.notes]
    return decision.consent, notes


def not_checked() -> ReportEntry:
    return ReportEntry(
        Action.NOTE,
        "consent",
        CONSENT_NOT_CHECKED.code,
        "consent not checked: the document carries no consent record and none was given; "
        "the server checks consent per transfer",
    )


def document_id(document: Document) -> str:
    """The id a consent's scope names a document by (a certificate's intygs-id value)."""
    return document.id.value if isinstance(document.id, Identifier) else document.id


def patient_id(document: Document) -> Identifier | None:
    person = getattr(document, "patient", None) or getattr(document, "employee", None)
    ident = getattr(person, "id", None)
    return ident if isinstance(ident, Identifier) else None


def document_time(document: Document) -> datetime | None:
    """The document's own time, which a consent's data period is read against: a
    certificate's signing (or sending) time, a SIP's creation, a plan's date, a §4
    notification's sending."""
    t: datetime | date | None = None
    if isinstance(document, Certificate):
        t = document.signed_at or document.sent_at
    elif isinstance(document, Sip):
        t = document.created_at
    elif isinstance(document, ReturnToWorkPlan):
        t = document.plan_date
    elif isinstance(document, Section4Notification):
        t = document.sent_at
    if isinstance(t, datetime) or t is None:
        return t
    return datetime.combine(t, time(12), SWEDISH_TIME)


def _label(consent: Consent | None, path: tuple[str | int, ...]) -> str:
    if consent is None:
        return "consent"
    out = f"consent[id={consent.id}]"
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out


def _entry(consent: Consent | None, problem: ConsentProblem, action: Action) -> ReportEntry:
    return ReportEntry(
        action,
        _label(consent, problem.path),
        problem.rule.code,
        problem.message,
        ("consent", *problem.path),
    )


__all__ = [
    "CONSENT_NOT_CHECKED",
    "check_consents",
    "disclosure",
    "document_id",
    "document_time",
    "not_checked",
    "patient_id",
]
