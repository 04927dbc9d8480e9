"""Business rules of the §4 notification (4 § lagen (2019:1297) om koordineringsinsatser).

SKR's recommendation (seed 003) is the source: send only with the patient's consent, one
consent per transfer, and only the fixed statement, the patient's name and personnummer and
the coordinating function's contact details.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.documents import consent
from gateway.documents.common import Recipient
from gateway.documents.issues import RULES, Finding, RuleKind, Severity
from gateway.documents.section4 import STATEMENT, Section4Notification
from gateway.validation.consent_rules import check_consent
from gateway.validation.contact_rules import email_problem, phone_problem
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
    "The consent's `withdrawnAt` (FHIR `provision.period.end`) is at or before the "
    "notification's `sentAt`: the patient had taken it back, so the notification may not be "
    "sent on it. A withdrawal dated after the sending does not stop it (policy reads the "
    "consent the same way, at the transfer's time).",
    source=f"{_SEED}, question 3",
)
CONSENT_NOT_PATIENT = RULES.define(
    "S4-CONSENT-NOT-PATIENT",
    "Consent given by someone other than the patient",
    RuleKind.BUSINESS,
    "The consent's `givenBy` (or the patient it is about) is not the notification's patient. "
    "The law asks for the patient's own consent; if a representative consented, downgrade "
    "with `--warn S4-CONSENT-NOT-PATIENT` after checking the mandate.",
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
COORDINATOR_PHONE = RULES.define(
    "S4-COORDINATOR-PHONE",
    "Coordinator's telephone is not a telephone number",
    RuleKind.BUSINESS,
    "Försäkringskassan receives the coordinating function's telephone number and nothing "
    "else in its place: digits with spaces, hyphens, parentheses and one leading +, a valid "
    "Swedish or international (E.164) number (Google's phonenumbers). Anything more "
    "(`010-123 45 67 (psykosteamet, F20.0)`) is refused, not trimmed: move it out, or leave it "
    "out. Policy refuses the same as POLICY-SECTION4-CONTACT.",
    source=_SEED,
)
COORDINATOR_EMAIL = RULES.define(
    "S4-COORDINATOR-EMAIL",
    "Coordinator's e-mail is not an e-mail address",
    RuleKind.BUSINESS,
    "Försäkringskassan receives the coordinating function's e-mail address and nothing else "
    "in its place: one ASCII address as email-validator accepts it (deliverability is not "
    "checked; reserved domains such as .invalid and .test are not addresses). Policy refuses "
    "the same as POLICY-SECTION4-CONTACT.",
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


#: The reasons this kind had a code for before the one reading (gateway.documents.consent).
_CONSENT_CODES = {
    consent.NOT_COVERING: CONSENT_NOT_FK,
    consent.LATE: CONSENT_AFTER_SENDING,
    consent.WITHDRAWN: CONSENT_WITHDRAWN,
    consent.OTHER_PATIENT: CONSENT_NOT_PATIENT,
}


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
    yield from check_coordinator_contact(n)
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


def check_coordinator_contact(n: Section4Notification) -> Iterator[Finding]:
    """The coordinator's telephone and e-mail are exactly that (contact_rules)."""
    if n.coordinator.phone:
        problem = phone_problem(n.coordinator.phone)
        if problem is not None:
            yield Finding(
                COORDINATOR_PHONE, ("coordinator", "phone"), f"coordinator.phone {problem}"
            )
    if n.coordinator.email:
        problem = email_problem(n.coordinator.email)
        if problem is not None:
            yield Finding(
                COORDINATOR_EMAIL, ("coordinator", "email"), f"coordinator.email {problem}"
            )


def _check_consent(n: Section4Notification) -> Iterator[Finding]:
    if n.consent is None:
        yield Finding(CONSENT_MISSING, (), "the notification carries no consent")
        return
    yield from check_consent(
        n.consent,
        kind=n.kind,
        document_id=n.id,
        patient=n.patient.id,
        at=n.sent_at,
        recipient=Recipient.FORSAKRINGSKASSAN,
        codes=_CONSENT_CODES,
    )
