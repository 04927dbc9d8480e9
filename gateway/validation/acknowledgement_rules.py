"""Business rules of Försäkringskassan's acknowledgement of a §4 notification.

SKR and Försäkringskassan (seed 003, question 7) name the deviations to follow up: the impulse
not picked up or not handled, and "no need for coordination" decided without telling the
patient. The acknowledgement states exactly that, so it must state it completely: a handled
notification has an outcome and a time, a "no need" says whether the patient was told, and the
answer comes from Försäkringskassan. The answer carries no consent: it is Försäkringskassan's
reply to the region on the notification the patient consented to.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.documents.acknowledgement import HandlingStatus, Outcome, Section4Acknowledgement
from gateway.documents.consent import aware
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID
from gateway.documents.issues import RULES, Finding, RuleKind, Severity
from gateway.validation.contact_rules import email_problem, phone_problem
from gateway.validation.identity_rules import (
    check_hsa_id,
    check_organisation_number,
    check_person_id,
)

_SEED = (
    "SKR, rekommendation om 4 § lagen (2019:1297) om koordineringsinsatser (seed 003), question 7"
)
#: Försäkringskassan's organisation number.
FK_ORGANISATION_NUMBER = "2021005521"

SENDER = RULES.define(
    "ACK-SENDER",
    "Acknowledgement not from Försäkringskassan",
    RuleKind.BUSINESS,
    "Only Försäkringskassan answers a §4 notification: the sender is identified by its "
    "organisation number 202100-5521 (system 2.5.4.97).",
    source=_SEED,
)
OUTCOME_MISSING = RULES.define(
    "ACK-OUTCOME-MISSING",
    "Handled without an outcome or a time",
    RuleKind.BUSINESS,
    "With status `handled` the acknowledgement says when (`handledAt`) and what was decided "
    "(`outcome`: coordination, already-coordinated or no-need).",
    source=_SEED,
)
OUTCOME_EARLY = RULES.define(
    "ACK-OUTCOME-EARLY",
    "An outcome before the notification is handled",
    RuleKind.BUSINESS,
    "With status `received` the notification is not handled yet: it has no `handledAt`, no "
    "`outcome` and no `patientInformed`. Send another acknowledgement once it is handled.",
    source=_SEED,
)
ORDER = RULES.define(
    "ACK-ORDER",
    "Times out of order",
    RuleKind.BUSINESS,
    "Försäkringskassan receives the notification, then handles it, then answers: "
    "`receivedAt` <= `handledAt` <= `sentAt`. Times without an offset are Swedish time.",
    source=_SEED,
)
PATIENT_INFORMED_MISSING = RULES.define(
    "ACK-PATIENT-INFORMED-MISSING",
    "A no-need outcome that does not say whether the patient was told",
    RuleKind.BUSINESS,
    "When Försäkringskassan decides that no coordination is needed, the patient must be told; "
    "the acknowledgement says whether that was done (`patientInformed` true or false).",
    source=_SEED,
)
PATIENT_NOT_INFORMED = RULES.define(
    "ACK-PATIENT-NOT-INFORMED",
    "No need for coordination, and the patient was not told",
    RuleKind.BUSINESS,
    "Försäkringskassan decided that no coordination is needed and says it did not tell the "
    "patient: a deviation SKR and Försäkringskassan follow up. The acknowledgement is valid; "
    "the plan index flags it to the coordinator (COORD-S4-NO-NEED-UNTOLD) and the §4 "
    "statistics count it.",
    severity=Severity.WARNING,
    source=_SEED,
)
CASE_OFFICER_CONTACT = RULES.define(
    "ACK-CASE-OFFICER-CONTACT",
    "Case officer's telephone or e-mail malformed",
    RuleKind.BUSINESS,
    "The case officer's `phone` is a Swedish telephone number and `email` an e-mail address "
    "(the same checks as a §4 coordinator's).",
    source=_SEED,
)


def check(ack: Section4Acknowledgement) -> Iterator[Finding]:
    yield from check_person_id(ack.patient.id, ("patient", "id"))
    yield from _parties(ack)
    yield from _status(ack)
    yield from _order(ack)
    yield from _no_need(ack)
    officer = ack.case_officer
    if officer is not None:
        if officer.phone and (why := phone_problem(officer.phone)):
            yield Finding(CASE_OFFICER_CONTACT, ("case_officer", "phone"), why)
        if officer.email and (why := email_problem(officer.email)):
            yield Finding(CASE_OFFICER_CONTACT, ("case_officer", "email"), why)


def _parties(ack: Section4Acknowledgement) -> Iterator[Finding]:
    """Försäkringskassan sends it; the recipient is a care unit (HSA-id) or an organisation."""
    sender = ack.sender.id
    if (
        sender is None
        or sender.system != ORGANISATIONSNUMMER_OID
        or (sender.value.replace("-", "") != FK_ORGANISATION_NUMBER)
    ):
        yield Finding(
            SENDER,
            ("sender", "id") if sender else ("sender",),
            "the sender is not Försäkringskassan (organisation number 202100-5521)",
        )
    else:
        yield from check_organisation_number(sender.value, ("sender", "id", "value"))
    recipient = ack.recipient.id
    if recipient is not None and recipient.system == HSA_ID_OID:
        yield from check_hsa_id(recipient, ("recipient", "id"))
    elif recipient is not None and recipient.system == ORGANISATIONSNUMMER_OID:
        yield from check_organisation_number(recipient.value, ("recipient", "id", "value"))


def _status(ack: Section4Acknowledgement) -> Iterator[Finding]:
    """Handled: with its outcome and time; only received: with neither."""
    if ack.status is HandlingStatus.HANDLED:
        if ack.outcome is None:
            yield Finding(OUTCOME_MISSING, ("outcome",), "handled, but no outcome is given")
        if ack.handled_at is None:
            yield Finding(OUTCOME_MISSING, ("handled_at",), "handled, but not when")
    else:
        for name in ("handled_at", "outcome", "patient_informed"):
            if getattr(ack, name) is not None:
                yield Finding(OUTCOME_EARLY, (name,), f"status received, yet {name} is given")


def _no_need(ack: Section4Acknowledgement) -> Iterator[Finding]:
    """No need for coordination: the patient is to be told, and the answer says so."""
    if ack.outcome is not Outcome.NO_NEED:
        return
    if ack.patient_informed is None:
        yield Finding(
            PATIENT_INFORMED_MISSING,
            ("outcome",),
            "no need for coordination: say whether the patient was told",
        )
    elif ack.patient_informed is False:
        yield Finding(
            PATIENT_NOT_INFORMED,
            ("patient_informed",),
            "no need for coordination, and the patient was not told",
        )


def _order(ack: Section4Acknowledgement) -> Iterator[Finding]:
    received, sent = aware(ack.received_at), aware(ack.sent_at)
    if received > sent:
        yield Finding(ORDER, ("received_at",), "received after the acknowledgement was sent")
    if ack.handled_at is not None:
        handled = aware(ack.handled_at)
        if handled < received:
            yield Finding(ORDER, ("handled_at",), "handled before it was received")
        elif handled > sent:
            yield Finding(ORDER, ("handled_at",), "handled after the acknowledgement was sent")
