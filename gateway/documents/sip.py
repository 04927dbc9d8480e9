"""SIP – samordnad individuell plan (coordinated individual plan).

Drawn up by the region and the municipality (and others) together when the patient needs
efforts from both and consents (2 kap. 7 § SoL, 16 kap. 4 § HSL). It says which efforts are
needed and which principal (huvudman) is responsible for each.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar, Literal

from gateway.documents.common import (
    Consent,
    Contact,
    DocumentKind,
    Model,
    Organisation,
    Period,
    Person,
)


class PrincipalType(StrEnum):
    """The kind of principal (huvudman) an organisation is."""

    REGION = "region"
    MUNICIPALITY = "municipality"
    FORSAKRINGSKASSAN = "forsakringskassan"
    ARBETSFORMEDLINGEN = "arbetsformedlingen"
    EMPLOYER = "employer"
    OTHER = "other"


class SipParticipant(Model):
    """An organisation taking part in the plan; ``ref`` is its local id inside the plan."""

    ref: str
    organisation: Organisation
    principal_type: PrincipalType
    contact: Contact | None = None


class SipNeed(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("description", "area")

    ref: str
    description: str
    area: str | None = None  # e.g. "boende", "arbete", "hälsa"


class SipGoal(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("description",)

    ref: str
    description: str
    need_refs: list[str] = []


class EffortStatus(StrEnum):
    PLANNED = "planned"
    ONGOING = "ongoing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class SipEffort(Model):
    """An effort (insats); ``responsible`` is the ``ref`` of the responsible principal."""

    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("description",)

    ref: str
    description: str
    responsible: str | None = None
    status: EffortStatus = EffortStatus.PLANNED
    period: Period | None = None
    goal_refs: list[str] = []


class SipCoordinator(Model):
    """Who coordinates the plan: a participant and a person to contact."""

    participant: str  # a participant's ref
    contact: Contact


class Sip(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("notes",)

    kind: Literal[DocumentKind.SIP] = DocumentKind.SIP
    id: str
    version: str = "1.0"
    created_at: datetime
    patient: Person
    participants: list[SipParticipant]
    coordinator: SipCoordinator
    needs: list[SipNeed] = []
    goals: list[SipGoal] = []
    efforts: list[SipEffort] = []
    meeting_date: date | None = None  # the SIP meeting the plan came from
    next_follow_up: date | None = None
    notes: str | None = None
    consent: Consent | None = None
