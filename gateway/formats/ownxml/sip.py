"""SIP in the gateway's own XML (``schemas/sip-v1.xsd``, namespace ``urn:gateway:sip:1``)."""

from __future__ import annotations

from gateway.documents import DocumentKind, Sip
from gateway.formats import roots
from gateway.formats.ownxml.codec import OwnXmlCodec

NAMESPACE, ROOT = roots.SIP
SCHEMA = "sip-v1.xsd"


class SipXmlCodec(OwnXmlCodec[Sip]):
    def __init__(self) -> None:
        super().__init__(DocumentKind.SIP, Sip, NAMESPACE, ROOT, SCHEMA)
