"""Validate raw bytes: detect, parse (structure), check (business rules), apply overrides.

The one entry point every front door uses (CLI, harness, server), so that all answer alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.documents import Certificate, Document, DocumentKind, Section4Notification
from gateway.documents.issues import (
    RULES,
    Issue,
    RuleKind,
    SeverityOverrides,
    SourceMap,
    is_valid,
    issue,
)
from gateway.formats.base import Format
from gateway.formats.registry import as_utf8_json, codec_for, detect
from gateway.validation.engine import check_document, locate

KIND_MISMATCH = RULES.define(
    "INPUT-KIND-MISMATCH",
    "Document is not of the kind asked for",
    RuleKind.SYNTAX,
    "`--kind` names one document kind and the input is another. Drop `--kind` to let the "
    "gateway detect it.",
)


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
    result = Validation(source=source, kind=kind, format=fmt)
    if fmt is None or (kind is None and fmt is Format.XML):
        detected = detect(data)
        if isinstance(detected, Issue):
            result.issues.append(detected)
            return result
        fmt = fmt or detected.format
        result.format = fmt
        if kind is not None and detected.kind is not None and detected.kind is not kind:
            msg = f"expected a {kind}, got a {detected.kind}"
            result.issues.append(issue(KIND_MISMATCH, msg))
            return result
        kind = kind or detected.kind
    codec = codec_for(kind, fmt)
    if isinstance(codec, Issue):
        result.issues.append(codec)
        return result
    if fmt is Format.FHIR_JSON:
        data = as_utf8_json(data)
    parsed = codec.parse(data)
    result.issues.extend(parsed.issues)
    result.source_map = parsed.source_map
    result.tree = parsed.tree
    doc = parsed.document
    if doc is not None:
        if kind is not None and doc.kind is not kind:
            result.issues.append(issue(KIND_MISMATCH, f"expected a {kind}, got a {doc.kind}"))
            return result
        result.document = doc
        result.kind = doc.kind
        if isinstance(doc, Section4Notification) and fmt is Format.RIVTA_MESSAGE:
            # no consent travels in the message: the region keeps it
            from gateway.validation.section4_rules import check_content

            result.issues.extend(locate(check_content(doc), parsed.source_map))
        else:
            result.issues.extend(check_document(doc, parsed.source_map))
    if overrides is not None:
        result.issues = overrides.apply(result.issues)
    return result
