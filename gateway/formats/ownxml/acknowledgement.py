"""Försäkringskassan's acknowledgement of a §4 notification in the gateway's own XML
(``schemas/section4-acknowledgement-v1.xsd``, namespace
``urn:gateway:section4-acknowledgement:1``)."""

from __future__ import annotations

from gateway.documents import DocumentKind, Section4Acknowledgement
from gateway.formats import roots
from gateway.formats.ownxml.codec import OwnXmlCodec

NAMESPACE, ROOT = roots.SECTION4_ACKNOWLEDGEMENT
SCHEMA = "section4-acknowledgement-v1.xsd"


class AcknowledgementXmlCodec(OwnXmlCodec[Section4Acknowledgement]):
    def __init__(self) -> None:
        super().__init__(
            DocumentKind.SECTION4_ACKNOWLEDGEMENT,
            Section4Acknowledgement,
            NAMESPACE,
            ROOT,
            SCHEMA,
        )
