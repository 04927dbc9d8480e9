"""Plan for return to work in the gateway's own XML (``schemas/return-to-work-plan-v1.xsd``,
namespace ``urn:gateway:return-to-work-plan:1``)."""

from __future__ import annotations

from gateway.documents import DocumentKind, ReturnToWorkPlan
from gateway.formats import roots
from gateway.formats.ownxml.codec import OwnXmlCodec

NAMESPACE, ROOT = roots.RETURN_TO_WORK_PLAN
SCHEMA = "return-to-work-plan-v1.xsd"


class ReturnToWorkXmlCodec(OwnXmlCodec[ReturnToWorkPlan]):
    def __init__(self) -> None:
        super().__init__(
            DocumentKind.RETURN_TO_WORK_PLAN, ReturnToWorkPlan, NAMESPACE, ROOT, SCHEMA
        )
