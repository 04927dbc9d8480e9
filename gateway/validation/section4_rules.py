"""Business rules of the §4 notification (4 § lagen (2019:1297) om koordineringsinsatser).

SKR's recommendation (seed 003) is the source: send only with the patient's consent, one
consent per transfer, and only the fixed statement, the patient's name and personnummer and
the coordinating function's contact details.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from gateway.documents.common import SWEDISH_TIME, Recipient
from gateway.documents.issues import RULES, Finding, RuleKind, Severity
from gateway.documents.section4 import STATEMENT, Section4Notification
from gateway.validation.identity_rules import check_hsa_id, check_person_id

_SEED = "SKR, rekommendation om 4 § lagen (2019:1297) om koordineringsinsatser (seed 003)"

CONSENT_MISSING = RULES.define(
    "S4-CONSENT-MISSING",
    "§4 notification without the patient's consent",
    RuleKind.BUSINESS,
    "The region may inform Försäkringskassan only if the patient consents, and each transfer "
    "needs its own consent, documented with the date, how it was obtained and what the "
    "patient consented to. Add the `consent` element.",
    source=f"4 § lagen (2019:1297) om koordineringsinsatser; {_SEED}, question 3",
)
CONSENT_NOT_FK = RULES.define(
    "S4-CONSENT-NOT-FK",
    "Consent does not cover Försäkringskassan",
    RuleKind.BUSINESS,
    "The consent the notification carries lists the recipients the patient agreed to, and "
    "`forsakringskassan` is not among them, so this transfer is not covered.",
    source=f"{_SEED}, question 3",
)
CONSENT_AFTER_SENDING = RULES.define(
    "S4-CONSENT-AFTER-SENDING",
    "Consent dated after the notification was sent",
    RuleKind.BUSINESS,
    "The consent must be obtained before the information is transferred: its `givenAt` is "
    "later than the notification's `sentAt`. Times without an offset are read as Swedish time.",
    source=f"{_SEED}, questions 1 and 3",
)
CONSENT_WITHDRAWN = RULES.define(
    "S4-CONSENT-WITHDRAWN",
    "Consent has been withdrawn",
    RuleKind.BUSINESS,
    "The consent carries a `withdrawnAt` time: the patient has taken it back, so the "
    "notification may not be sent on it.",
    source=f"{_SEED}, question 3",
)
CONSENT_NOT_PATIENT = RULES.define(
    "S4-CONSENT-NOT-PATIENT",
    "Consent given by someone other than the patient",
    RuleKind.BUSINESS,
    "The consent's `givenBy` is not the patient's personnummer. The law asks for the "
    "patient's own consent; if a representative consented, downgrade with `--warn "
    "S4-CONSENT-NOT-PATIENT` after checking the mandate.",
    source="4 § lagen (2019:1297) om koordineringsinsatser",
)
STATEMENT_WORDING = RULES.define(
    "S4-STATEMENT",
    "Statement differs from SKR's fixed wording",
    RuleKind.BUSINESS,
    f'The statement must read exactly "{STATEMENT}" so that Försäkringskassan can tell a §4 '
    "notification from other messages in the same category and count them. Leave the element "
    "out to get the fixed wording.",
    source=_SEED,
)
REGION_ID = RULES.define(
    "S4-REGION-ID",
    "Sending region has no HSA-id",
    RuleKind.BUSINESS,
    "The region that sends the notification must be identified by its HSA-id "
    "(system 1.2.752.129.2.1.4.1), so that Försäkringskassan can count notifications per "
    "region.",
    source=f"{_SEED}, questions 5 and 7",
)
COORDINATOR_CONTACT = RULES.define(
    "S4-COORDINATOR-CONTACT",
    "No way to reach the coordinating function",
    RuleKind.BUSINESS,
    "The notification must give the contact details of the function responsible for "
    "coordinating the patient: at least a telephone number or an e-mail address.",
    source=_SEED,
)
EXTRA_CONTENT = RULES.define(
    "S4-EXTRA-CONTENT",
    "Content Försäkringskassan will not receive",
    RuleKind.BUSINESS,
    "SKR recommends sending only the fixed statement, the patient's name and personnummer "
    "and the coordinator's contact details. A reason, diagnoses or other text are accepted "
    "but removed before the notification is forwarded; leave them out at the source.",
    severity=Severity.WARNING,
    source=f"{_SEED}, question 4 (GDPR: försiktighetsprincipen)",
)


def _aware(value: datetime) -> datetime:
    """Times without an offset are Swedish local time (as RIVTA's), so naive and aware times
    compare."""
    return value if value.tzinfo is not None else value.replace(tzinfo=SWEDISH_TIME)


def check(n: Section4Notification) -> Iterator[Finding]:
    yield from check_content(n)
    yield from _check_consent(n)


def check_content(n: Section4Notification) -> Iterator[Finding]:
    """Every rule but consent's: what SendMessageToRecipient, which carries no consent, can
    be checked for."""
    yield from check_person_id(n.patient.id, ("patient", "id"))
    if n.statement != STATEMENT:
        yield Finding(
            STATEMENT_WORDING,
            ("statement",),
            f"the statement is {n.statement!r}; it must be exactly {STATEMENT!r}",
        )
    if not (n.coordinator.phone or n.coordinator.email):
        yield Finding(
            COORDINATOR_CONTACT,
            ("coordinator",),
            "the coordinator has neither a telephone number nor an e-mail address",
        )
    if n.region.id is None:
        yield Finding(REGION_ID, ("region",), "the region has no HSA-id")
    else:
        yield from check_hsa_id(n.region.id, ("region", "id"))
    yield from check_hsa_id(n.unit.id, ("unit", "id"))
    if n.unit.care_provider.id is not None:
        yield from check_hsa_id(n.unit.care_provider.id, ("unit", "care_provider", "id"))
    if n.sent_by is not None:
        yield from check_hsa_id(n.sent_by.id, ("sent_by", "id"))
    for name, present in (("reason", n.reason), ("diagnoses", n.diagnoses), ("note", n.note)):
        if present:
            yield Finding(
                EXTRA_CONTENT,
                (name,),
                f"`{name}` will be removed: Försäkringskassan receives only the statement, the "
                "patient's name and personnummer and the coordinator's contact details",
            )


def _check_consent(n: Section4Notification) -> Iterator[Finding]:
    consent = n.consent
    if consent is None:
        yield Finding(CONSENT_MISSING, (), "the notification carries no consent")
        return
    if Recipient.FORSAKRINGSKASSAN not in consent.recipients:
        covered = ", ".join(str(r) for r in consent.recipients)
        yield Finding(
            CONSENT_NOT_FK,
            ("consent", "recipients"),
            f"the consent covers {covered}, not forsakringskassan",
        )
    if _aware(consent.given_at) > _aware(n.sent_at):
        yield Finding(
            CONSENT_AFTER_SENDING,
            ("consent", "given_at"),
            f"consent given {consent.given_at.isoformat()}, after the notification was sent "
            f"({n.sent_at.isoformat()})",
        )
    if consent.withdrawn_at is not None:
        yield Finding(
            CONSENT_WITHDRAWN,
            ("consent", "withdrawn_at"),
            f"the consent was withdrawn {consent.withdrawn_at.isoformat()}",
        )
    if consent.given_by != n.patient.id:
        yield Finding(
            CONSENT_NOT_PATIENT,
            ("consent", "given_by"),
            "the consent was given by another person than the patient",
        )
        yield from check_person_id(consent.given_by, ("consent", "given_by"))
