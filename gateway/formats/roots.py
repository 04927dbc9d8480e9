"""Every XML document the gateway reads or writes, by its root element (namespace and local
name): the one place for them. Detection (registry.py), the codecs and their writers, the SOAP
transport's envelope and FHIR XML take their namespaces and roots from here."""

from __future__ import annotations

from typing import Final, NamedTuple

from gateway.documents import DocumentKind


class Root(NamedTuple):
    """An XML root element: its namespace and its local name."""

    namespace: str
    name: str

    @property
    def tag(self) -> str:
        """Clark notation, as lxml names elements: ``{namespace}name``."""
        return f"{{{self.namespace}}}{self.name}"


FHIR_NS: Final = "http://hl7.org/fhir"  # every FHIR XML resource is its root
SOAP_ENVELOPE: Final = Root("http://schemas.xmlsoap.org/soap/envelope/", "Envelope")

REGISTER_CERTIFICATE: Final = Root(
    "urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:3",
    "RegisterCertificate",
)
SEND_MESSAGE: Final = Root(
    "urn:riv:clinicalprocess:healthcond:certificate:SendMessageToRecipientResponder:2",
    "SendMessageToRecipient",
)
#: Försäkringskassan's answers to care (the acknowledgement of a §4 notification)
SEND_MESSAGE_TO_CARE: Final = Root(
    "urn:riv:clinicalprocess:healthcond:certificate:SendMessageToCareResponder:2",
    "SendMessageToCare",
)
SIP: Final = Root("urn:gateway:sip:1", "sip")
RETURN_TO_WORK_PLAN: Final = Root("urn:gateway:return-to-work-plan:1", "returnToWorkPlan")
SECTION4_NOTIFICATION: Final = Root("urn:gateway:section4-notification:1", "section4Notification")
SECTION4_ACKNOWLEDGEMENT: Final = Root(
    "urn:gateway:section4-acknowledgement:1", "section4Acknowledgement"
)

#: The document kind of each XML document root (SendMessageToRecipient and SendMessageToCare:
#: a format of their own, rivta-message, carrying §4 notifications and their
#: acknowledgements).
KINDS: Final[dict[Root, DocumentKind]] = {
    REGISTER_CERTIFICATE: DocumentKind.CERTIFICATE,
    SIP: DocumentKind.SIP,
    RETURN_TO_WORK_PLAN: DocumentKind.RETURN_TO_WORK_PLAN,
    SECTION4_NOTIFICATION: DocumentKind.SECTION4_NOTIFICATION,
    SECTION4_ACKNOWLEDGEMENT: DocumentKind.SECTION4_ACKNOWLEDGEMENT,
}

__all__ = [
    "FHIR_NS",
    "KINDS",
    "REGISTER_CERTIFICATE",
    "RETURN_TO_WORK_PLAN",
    "SECTION4_ACKNOWLEDGEMENT",
    "SECTION4_NOTIFICATION",
    "SEND_MESSAGE",
    "SEND_MESSAGE_TO_CARE",
    "SIP",
    "SOAP_ENVELOPE",
    "Root",
]
