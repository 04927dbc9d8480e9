"""Consent: a transfer that needs the patient's consent goes only with a consent record that
covers the recipient and the purpose, was given on or before the transfer, and is not
withdrawn (4 kap. 2 § PL; seed 003: one consent per transfer for §4)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from gateway.documents.common import SWEDISH_TIME, Consent, Identifier, Recipient
from gateway.documents.issues import RULES, Rule, RuleKind, Severity
from gateway.policy.report import Action, ReportEntry

CONSENT_MISSING = RULES.define(
    "POLICY-CONSENT-MISSING",
    "No consent record for a transfer that needs one",
    RuleKind.POLICY,
    "This document kind may go to this recipient only with the patient's consent, and neither "
    "the document nor its envelope carries a consent record. Add the consent (who gave it, "
    "when, how, to which recipients, for which purpose) and send again.",
    source="4 kap. 2 § patientdatalagen; seed 003",
)
CONSENT_NOT_COVERING = RULES.define(
    "POLICY-CONSENT-NOT-COVERING",
    "Consent does not cover this recipient or purpose",
    RuleKind.POLICY,
    "The consent record names other recipients or another purpose than this transfer, or was "
    "given by someone other than the patient the document is about. A consent covers exactly "
    "what the patient agreed to; ask for a consent that names this recipient and purpose. "
    "The purpose is covered when it names one of the terms the route's policy lists, as a "
    "word or phrase (e.g. 'samordnad individuell plan' or 'SIP' for a SIP, '4 §' or "
    "'koordineringsinsatser' for a §4 notification; docs/policy.md).",
    source="4 kap. 2 § patientdatalagen; seed 003",
)
CONSENT_LATE = RULES.define(
    "POLICY-CONSENT-LATE",
    "Consent given after the transfer",
    RuleKind.POLICY,
    "The consent record is dated after the time of the transfer. Consent must be obtained "
    "before information is shared.",
    source="seed 003",
)
CONSENT_WITHDRAWN = RULES.define(
    "POLICY-CONSENT-WITHDRAWN",
    "Consent withdrawn",
    RuleKind.POLICY,
    "The patient withdrew the consent on or before the time of the transfer; nothing may be "
    "sent on it any more.",
    source="4 kap. 2 § patientdatalagen",
)
CONSENT_NOT_CHECKED = RULES.define(
    "POLICY-CONSENT-NOT-CHECKED",
    "Consent not checked in this preview",
    RuleKind.POLICY,
    "`gateway redact` rendered a document that carries no consent record and was given none "
    "with `--consent` (a bare RIVTA certificate, say). The preview shows the content filter; "
    "the server always checks consent per transfer and refuses one without it.",
    severity=Severity.INFORMATION,
)


def _aware(t: datetime) -> datetime:
    """Local Swedish time when the sender gave none (RIVTA timestamps carry no zone)."""
    return t if t.tzinfo is not None else t.replace(tzinfo=SWEDISH_TIME)


def normalise_purpose(purpose: str) -> str:
    return " ".join(purpose.casefold().split())


@lru_cache(maxsize=256)
def _purpose_pattern(terms: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def purpose_covers(purpose: str, terms: frozenset[str]) -> bool:
    """Consent records state their purpose in the sender's words ("Samordnad individuell
    plan", "Information till Försäkringskassan enligt 4 § lagen om koordineringsinsatser"):
    the purpose is covered when it names one of the policy's terms as a word or phrase."""
    return bool(terms) and _purpose_pattern(terms).search(normalise_purpose(purpose)) is not None


def consent_problem(
    consent: Consent,
    *,
    recipient: Recipient,
    purposes: frozenset[str],
    at: datetime,
    patient: Identifier | None,
) -> ReportEntry | None:
    """Why this consent does not allow this transfer, or ``None`` when it does."""
    where = f"consent[id={consent.id}]"
    if recipient not in consent.recipients:
        names = ", ".join(str(r) for r in consent.recipients)
        return _refusal(
            CONSENT_NOT_COVERING,
            f"{where}.recipients",
            f"consent {consent.id} covers {names}, not {recipient}",
        )
    if not purpose_covers(consent.purpose, purposes):
        wanted = ", ".join(sorted(purposes))
        return _refusal(
            CONSENT_NOT_COVERING,
            f"{where}.purpose",
            f"consent {consent.id} is for purpose {consent.purpose!r}; a transfer of this kind "
            f"to {recipient} needs a purpose naming one of: {wanted}",
        )
    if patient is not None and (
        consent.given_by.system != patient.system or consent.given_by.value != patient.value
    ):
        return _refusal(
            CONSENT_NOT_COVERING,
            f"{where}.given_by",
            f"consent {consent.id} was not given by the patient this document is about",
        )
    given, when = _aware(consent.given_at), _aware(at)
    if given > when:
        return _refusal(
            CONSENT_LATE,
            f"{where}.given_at",
            f"consent {consent.id} is dated {consent.given_at.isoformat()}, after the transfer "
            f"at {at.isoformat()}",
        )
    if consent.withdrawn_at is not None and _aware(consent.withdrawn_at) <= when:
        return _refusal(
            CONSENT_WITHDRAWN,
            f"{where}.withdrawn_at",
            f"consent {consent.id} was withdrawn on {consent.withdrawn_at.isoformat()}",
        )
    return None


def check_consents(
    candidates: Sequence[Consent],
    *,
    recipient: Recipient,
    purposes: frozenset[str],
    at: datetime,
    patient: Identifier | None,
) -> tuple[Consent | None, ReportEntry | None]:
    """The first candidate that allows the transfer, else the refusal for the first one."""
    if not candidates:
        return None, _refusal(
            CONSENT_MISSING,
            "consent",
            f"a transfer of this document to {recipient} needs the patient's consent, and "
            "there is no consent record",
        )
    first: ReportEntry | None = None
    for c in candidates:
        problem = consent_problem(c, recipient=recipient, purposes=purposes, at=at, patient=patient)
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


def _refusal(rule: Rule, path: str, message: str) -> ReportEntry:
    return ReportEntry(Action.REFUSED, path, rule.code, message)
