"""Consent at the transfer: a transfer that needs the patient's consent goes only with a
consent record that authorises it by the one reading of ``gateway.documents.consent`` (the
same validation uses): active, opt-in, no deny that applies, within its period, the
document's patient's, for this recipient, a purpose code the route accepts, scoped to this
document (4 kap. 2 § PL; seed 003: one consent per transfer for §4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.documents.common import Consent, DocumentKind, Identifier, Recipient
from gateway.documents.consent import MISSING, ConsentProblem, consent_problems
from gateway.documents.issues import RULES, RuleKind, Severity
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


def consent_problem(
    consent: Consent,
    *,
    kind: DocumentKind,
    document_id: str | None,
    recipient: Recipient,
    purposes: frozenset[str],
    at: datetime,
    patient: Identifier | None,
) -> ReportEntry | None:
    """Why this consent does not allow this transfer (the first reason), or ``None``."""
    for problem in consent_problems(
        consent,
        kind=kind,
        document_id=document_id,
        patient=patient,
        at=at,
        recipient=recipient,
        purposes=purposes,
    ):
        return _refusal(consent, problem)
    return None


def check_consents(
    candidates: Sequence[Consent],
    *,
    kind: DocumentKind,
    document_id: str | None,
    recipient: Recipient,
    purposes: frozenset[str],
    at: datetime,
    patient: Identifier | None,
) -> tuple[Consent | None, ReportEntry | None]:
    """The first candidate that allows the transfer, else the refusal for the first one."""
    if not candidates:
        return None, ReportEntry(
            Action.REFUSED,
            "consent",
            MISSING.code,
            f"a transfer of this document to {recipient} needs the patient's consent, and "
            "there is no consent record",
        )
    first: ReportEntry | None = None
    for c in candidates:
        problem = consent_problem(
            c,
            kind=kind,
            document_id=document_id,
            recipient=recipient,
            purposes=purposes,
            at=at,
            patient=patient,
        )
        if problem is None:
            return c, None
        first = first or problem
    return None, first


def not_checked() -> ReportEntry:
    return ReportEntry(
        Action.NOTE,
        "consent",
        CONSENT_NOT_CHECKED.code,
        "consent not checked: the document carries no consent record and none was given; "
        "the server checks consent per transfer",
    )


def _label(consent: Consent, path: tuple[str | int, ...]) -> str:
    out = f"consent[id={consent.id}]"
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else f".{step}"
    return out


def _refusal(consent: Consent, problem: ConsentProblem) -> ReportEntry:
    return ReportEntry(
        Action.REFUSED,
        _label(consent, problem.path),
        problem.rule.code,
        problem.message,
        ("consent", *problem.path),
    )
