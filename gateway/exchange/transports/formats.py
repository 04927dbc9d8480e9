"""What a push transport needs a document in, where that is not the recipient's configured
format: the router asks here, so only the transports know their own kinds."""

from __future__ import annotations

from gateway.documents import DocumentKind
from gateway.formats.base import Format

RIVTA_SOAP = "rivta-soap"


def required_format(push_kind: str, kind: DocumentKind) -> Format | None:
    """A RIVTA SOAP endpoint takes a §4 notification as SendMessageToRecipient
    (docs/policy.md), whatever format its certificates come in; otherwise ``None``."""
    if push_kind == RIVTA_SOAP and kind is DocumentKind.SECTION4_NOTIFICATION:
        return Format.RIVTA_MESSAGE
    return None
