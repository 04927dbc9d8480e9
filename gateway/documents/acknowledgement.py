"""Försäkringskassan's acknowledgement of a §4 notification (kvittens och besked).

The notification (``Section4Notification``) tells Försäkringskassan that a patient offered
coordination efforts can be assumed to need rehabilitation measures. SKR and Försäkringskassan
ask that every such impulse be picked up and handled, and that a decision that no coordination
is needed be told to the patient (seed 003, question 7). The acknowledgement carries exactly
that back to the region: when Försäkringskassan received the notification, whether and when it
was handled, the outcome, and whether the patient was told - tied to the notification it
answers by the notification's id. It carries no reason and no health data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from gateway.documents.common import (
    Contact,
    DocumentKind,
    Identifier,
    Model,
    Organisation,
    Person,
)

#: The fixed heading of the acknowledgement in Försäkringskassan's case communication.
HEADING = "Svar på information enligt 4 § lagen om koordineringsinsatser"


class HandlingStatus(StrEnum):
    """Where Försäkringskassan's handling of the notification stands."""

    RECEIVED = "received"  # picked up (mottagen), not yet handled
    HANDLED = "handled"  # handled (handlagd): an outcome is given


class Outcome(StrEnum):
    """What Försäkringskassan decided on the notification."""

    COORDINATION = "coordination"  # samordning av arbetslivsinriktad rehabilitering inleds
    ALREADY_COORDINATED = "already-coordinated"  # samordning pågår redan i ärendet
    NO_NEED = "no-need"  # inget behov av samordning (the patient must be told)


class Section4Acknowledgement(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("note",)

    kind: Literal[DocumentKind.SECTION4_ACKNOWLEDGEMENT] = DocumentKind.SECTION4_ACKNOWLEDGEMENT
    id: str  # Försäkringskassan's message id
    notification_id: str  # the id of the §4 notification it answers
    sent_at: datetime
    patient: Person
    sender: Organisation  # Försäkringskassan, by organisation number
    recipient: Organisation  # the region (care provider) or unit the answer goes to
    received_at: datetime  # when Försäkringskassan received the notification
    status: HandlingStatus
    handled_at: datetime | None = None
    outcome: Outcome | None = None
    #: whether Försäkringskassan told the patient its decision (required with no-need)
    patient_informed: bool | None = None
    case_officer: Contact | None = None  # Försäkringskassan's contact for the coordinator
    #: the certificate the notification referred to (RIVTA's case communication needs one)
    certificate_id: Identifier | None = None
    note: str | None = None


__all__ = ["HEADING", "HandlingStatus", "Outcome", "Section4Acknowledgement"]
