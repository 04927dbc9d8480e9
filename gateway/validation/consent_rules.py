"""A document's own consent, read the one way policy reads it (gateway.documents.consent).

Validation knows no transfer: it reads the consent at the document's time (a §4
notification's ``sent_at``; for a SIP or plan now, or its date if later), for the document's
kind, id and patient, with no recipient (a §4 notification's is Försäkringskassan) and the
kind's purpose codes. A kind
keeps its older rule code for a reason it had one for (``S4-CONSENT-WITHDRAWN``, ...); every
other reason is reported with the policy's code, so the sender meets one code per reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from gateway.documents.common import Consent, DocumentKind, Identifier, Recipient
from gateway.documents.consent import OTHER_PATIENT, aware, consent_problems
from gateway.documents.issues import Finding, Rule
from gateway.validation.identity_rules import check_person_id


def document_time(t: datetime) -> datetime:
    """When validation reads a SIP's or plan's consent: now, or the document's own time if it
    is dated later (a plan drawn up ahead is judged at its date)."""
    return max(datetime.now(UTC), aware(t))


def check_consent(
    consent: Consent,
    *,
    kind: DocumentKind,
    document_id: str,
    patient: Identifier,
    at: datetime,
    recipient: Recipient | None = None,
    codes: Mapping[Rule, Rule] | None = None,
) -> Iterator[Finding]:
    codes = codes or {}
    for p in consent_problems(
        consent,
        kind=kind,
        document_id=document_id,
        patient=patient,
        at=at,
        recipient=recipient,
    ):
        yield Finding(codes.get(p.rule, p.rule), ("consent", *p.path), p.message)
        if p.rule is OTHER_PATIENT and p.path == ("given_by",):
            yield from check_person_id(consent.given_by, ("consent", "given_by"))
