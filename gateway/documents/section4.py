"""§4 notification: the region tells Försäkringskassan that a patient offered coordination
efforts can be assumed to need rehabilitation measures (4 § lagen (2019:1297) om
koordineringsinsatser). SKR's recommendation (seed 003) limits it to the fixed statement, the
patient's name and personnummer, and the coordinating function's contact details; one consent
per transfer.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from gateway.documents.common import (
    CareUnit,
    Code,
    Consent,
    Contact,
    DocumentKind,
    HealthcareProfessional,
    Identifier,
    Model,
    Organisation,
    Person,
)

#: SKR's two fixed phrases (seed 003).
STATEMENT = "Behov av rehabiliteringsåtgärder enligt 30 kap. SFB"
CONTACT_HEADING = (
    "Kontaktuppgifter till den funktion som ansvarar för koordinering av nämnda patient"
)


class Section4Notification(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("reason", "note")

    kind: Literal[DocumentKind.SECTION4_NOTIFICATION] = DocumentKind.SECTION4_NOTIFICATION
    id: str
    sent_at: datetime
    statement: str = STATEMENT
    patient: Person
    coordinator: Contact  # the coordinating function
    region: Organisation  # the sending region (HSA-id)
    unit: CareUnit  # the sending unit
    sent_by: HealthcareProfessional | None = None  # needed to render SendMessageToRecipient
    consent: Consent | None = None
    certificate_id: Identifier | None = None  # the certificate it refers to, if any
    #: What SKR advises against sending (reasons, diagnoses, other text): the model can carry
    #: it so the gateway can see and remove it; Försäkringskassan never receives it.
    reason: str | None = None
    diagnoses: list[Code] = []
    note: str | None = None
