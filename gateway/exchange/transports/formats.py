"""What a push transport carries a document in, where that is not the recipient's configured
format, and what it cannot carry at all: the router asks here, so only the transports know
their own kinds."""

from __future__ import annotations

from gateway.documents import DocumentKind
from gateway.formats.base import Format

RIVTA_SOAP = "rivta-soap"

#: A RIVTA SOAP endpoint's interactions (transports/soap.py): RegisterCertificate for a
#: certificate, SendMessageToRecipient for a §4 notification (docs/policy.md), whatever
#: format the recipient is configured with; it has none for another kind.
_RIVTA = {
    DocumentKind.CERTIFICATE: Format.XML,
    DocumentKind.SECTION4_NOTIFICATION: Format.RIVTA_MESSAGE,
}


def carried_as(push_kind: str, kind: DocumentKind, configured: Format) -> Format | None:
    """The format a push transport of ``push_kind`` sends ``kind`` in (the recipient is
    configured with ``configured``); ``None``: the transport cannot carry it."""
    if push_kind == RIVTA_SOAP:
        return _RIVTA.get(kind)
    return configured


def carried_kinds(push_kind: str) -> tuple[DocumentKind, ...] | None:
    """The kinds a push transport can carry (``None``: every kind), for saying so."""
    return tuple(_RIVTA) if push_kind == RIVTA_SOAP else None
