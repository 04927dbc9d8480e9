"""Validate raw bytes: read them (``gateway.formats.reading``: detect, parse, structure),
check the business rules, apply overrides.

The one entry point every front door uses (CLI, harness, server), so that all answer alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.documents import Certificate, Document, DocumentKind, Section4Notification
from gateway.documents.common import Consent
from gateway.documents.issues import Issue, SeverityOverrides, SourceMap, is_valid
from gateway.formats.base import Format
from gateway.formats.reading import KIND_MISMATCH, read_bytes
from gateway.validation.engine import check_document, locate

if TYPE_CHECKING:
    from gateway.formats.fhir.envelope import Envelope


@dataclass
class Validation:
    """The outcome for one input: what it is, the model if it could be read, every issue."""

    source: str
    kind: DocumentKind | None = None
    format: Format | None = None
    document: Document | None = None
    issues: list[Issue] = field(default_factory=list)
    source_map: SourceMap = field(default_factory=SourceMap)
    #: the FHIR wire tree (ParseResult.tree), for callers that read more of it
    tree: dict[str, Any] | None = None
    #: what the bytes carried besides the document, read once by the codec: a FHIR
    #: message's envelope (destinations, focus, message id) and every consent offered
    envelope: Envelope | None = None
    consents: list[Consent] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.document is not None and is_valid(self.issues)

    @property
    def subtype(self) -> str | None:
        return str(self.document.type) if isinstance(self.document, Certificate) else None

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "kind": str(self.kind) if self.kind else None,
            "subtype": self.subtype,
            "format": str(self.format) if self.format else None,
            "valid": self.valid,
            "issues": [i.to_dict() for i in self.issues],
        }


def validate_bytes(
    data: bytes,
    *,
    source: str = "-",
    kind: DocumentKind | None = None,
    fmt: Format | None = None,
    overrides: SeverityOverrides | None = None,
) -> Validation:
    """Read (:func:`gateway.formats.reading.read_bytes`), then check the business rules."""
    reading = read_bytes(data, kind=kind, fmt=fmt)
    result = Validation(
        source=source, kind=reading.kind, format=reading.format, issues=reading.issues
    )
    parsed = reading.parsed
    if parsed is not None:
        result.source_map = parsed.source_map
        result.tree = parsed.tree
        result.envelope = parsed.envelope
        result.consents = parsed.consents
        doc = parsed.document
        if doc is not None:
            result.document = doc
            if isinstance(doc, Section4Notification) and reading.format is Format.RIVTA_MESSAGE:
                # no consent travels in the message: the region keeps it
                from gateway.validation.section4_rules import check_content

                result.issues.extend(locate(check_content(doc), parsed.source_map))
            else:
                result.issues.extend(check_document(doc, parsed.source_map))
    if overrides is not None:
        result.issues = overrides.apply(result.issues)
    return result


__all__ = ["KIND_MISMATCH", "Validation", "validate_bytes"]
