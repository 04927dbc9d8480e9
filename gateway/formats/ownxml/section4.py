"""§4 notification in the gateway's own XML (``schemas/section4-notification-v1.xsd``,
namespace ``urn:gateway:section4-notification:1``)."""

from __future__ import annotations

from gateway.documents import DocumentKind, Section4Notification
from gateway.formats import roots
from gateway.formats.ownxml.codec import OwnXmlCodec

NAMESPACE, ROOT = roots.SECTION4_NOTIFICATION
SCHEMA = "section4-notification-v1.xsd"


class Section4XmlCodec(OwnXmlCodec[Section4Notification]):
    def __init__(self) -> None:
        super().__init__(
            DocumentKind.SECTION4_NOTIFICATION, Section4Notification, NAMESPACE, ROOT, SCHEMA
        )
