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
    #: the FHIR wire tree it was read from (JSON objects, either wire format): the exchange
    #: reads a message's envelope from it instead of parsing the bytes a second time
    tree: dict[str, Any] | None = None


class CannotRender(ValueError):
    """A document lacks what the target format requires (e.g. a §4 notification without the
    certificate or sender that SendMessageToRecipient needs). The message says what is
    missing and carries no patient data."""


class Codec(Protocol):
    format: Format

    def parse(self, data: bytes) -> ParseResult[Document]: ...

    def render(self, document: Document) -> bytes: ...
