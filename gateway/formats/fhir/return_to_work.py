"""Return-to-work plan <-> FHIR: a ``collection`` Bundle around a CarePlan
(docs/fhir/return-to-work-plan.md), written and read by the row engine from
``mappings/return-to-work-plan.toml`` alone: no field needs hand-written code.

CarePlan (category ``return-to-work-plan``) -> Patient (the employee), author the employer's
Organization, a CareTeam of the people who drew it up, one activity per measure (its type
coded, its responsible party as ``performer``) and one per follow-up, and the Consent
(``supportingInfo``). What the sick-leave case adds (first day of reduced capacity, the
60-day expectation, why no plan is needed, contact during the leave) are extensions.
"""

from __future__ import annotations

from gateway.documents import DocumentKind
from gateway.documents.return_to_work import ReturnToWorkPlan
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.engine import RowMapping

MAPPING = register(RowMapping(DocumentKind.RETURN_TO_WORK_PLAN, ReturnToWorkPlan))

__all__ = ["MAPPING"]
