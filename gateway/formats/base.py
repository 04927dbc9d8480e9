"""The codec seam: one small protocol per format.

``parse(bytes) -> ParseResult`` never raises for bad input: whatever is wrong comes back as
issues, and ``document`` is ``None`` when nothing usable could be read. ``render(document)``
writes bytes and raises only for our own bugs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from gateway.documents import Document
from gateway.documents.common import Consent
from gateway.documents.issues import Issue, SourceMap


class Format(StrEnum):
    XML = "xml"
    FHIR_JSON = "fhir-json"
    FHIR_XML = "fhir-xml"
    RIVTA_MESSAGE = "rivta-message"


D = TypeVar("D", bound=Document, covariant=True)


@dataclass
class ParseResult(Generic[D]):
    document: D | None
    issues: list[Issue] = field(default_factory=list)
    source_map: SourceMap = field(default_factory=SourceMap)
    #: the FHIR wire tree it was read from (JSON objects, either wire format)
    tree: dict[str, Any] | None = None
    #: a FHIR message's envelope (``formats.fhir.envelope.Envelope``: destinations, focus,
    #: message id), read once by the codec; ``None`` for anything else
    envelope: Any = None
    #: every consent record offered beside the document (a message's Consent entries, a
    #: Bundle's further ones), read completely: the policy reads them all, a no wins
    consents: list[Consent] = field(default_factory=list)


class CannotRender(ValueError):
    """A document lacks what the target format requires (e.g. a §4 notification without the
    certificate or sender that SendMessageToRecipient needs). The message says what is
    missing and carries no patient data."""


class Codec(Protocol):
    format: Format

    def parse(self, data: bytes) -> ParseResult[Document]: ...

    def render(self, document: Document) -> bytes: ...
