"""The employer's plan for return to work (plan för återgång i arbete).

Due no later than day 30 of the sick period when the work capacity can be assumed to be
reduced for at least 60 days (30 kap. 6 § SFB); its contents follow seed 003, annex 2.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal

from gateway.documents.common import Consent, DocumentKind, Model, Organisation, Period, Person


class MeasureType(StrEnum):
    PART_TIME = "part-time"
    ADJUSTED_TASKS = "adjusted-tasks"
    ADJUSTED_WORKPLACE = "adjusted-workplace"
    TEMPORARY_RELOCATION = "temporary-relocation"
    PERMANENT_RELOCATION = "permanent-relocation"
    WORK_AIDS = "work-aids"  # arbetstekniska hjälpmedel
    TRAINING = "training"  # utbildning eller omskolning
    OCCUPATIONAL_HEALTH = "occupational-health"  # företagshälsovård
    REHABILITATION_PROVIDER = "rehabilitation-provider"
    OTHER = "other"


class ReturnToWorkMeasure(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("description",)

    ref: str
    type: MeasureType
    description: str
    period: Period | None = None  # when the measure happens (the plan's time plan)
    responsible: str | None = None


class ParticipantRole(StrEnum):
    EMPLOYER = "employer"
    EMPLOYEE = "employee"
    MANAGER = "manager"
    OCCUPATIONAL_HEALTH = "occupational-health"
    UNION = "union"
    OTHER = "other"


class ReturnToWorkParticipant(Model):
    name: str
    role: ParticipantRole


class FollowUp(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = ("how",)

    on: date
    how: str


class ReturnToWorkPlan(Model):
    #: free text (allow-listed per recipient: docs/policy.md); the rest is structured
    FREE_TEXT: ClassVar[tuple[str, ...]] = (
        "plan_not_needed_reason",
        "contact_during_leave",
        "notes",
    )

    kind: Literal[DocumentKind.RETURN_TO_WORK_PLAN] = DocumentKind.RETURN_TO_WORK_PLAN
    id: str
    version: str = "1.0"
    employer: Organisation  # id: organisation number
    employee: Person
    first_day_of_reduced_capacity: date
    expected_leave_60_days_or_more: bool
    #: Set when it is clearly evident that the employee cannot return at all (no plan due).
    plan_not_needed_reason: str | None = None
    plan_date: date
    measures: list[ReturnToWorkMeasure] = []
    contact_during_leave: str = ""
    follow_ups: list[FollowUp] = []
    participants: list[ReturnToWorkParticipant] = []
    notes: str | None = None
    consent: Consent | None = None
