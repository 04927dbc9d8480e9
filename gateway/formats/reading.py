"""Reading raw bytes into a canonical model: detect the format and kind, then the one codec's
hardened parse (structure: XML syntax, XSD, FHIR shape). Validation adds the business rules;
every front door reads through here, so a document is parsed once and answered alike.

For FHIR it also reads what the bytes carry besides the document: a message's envelope (the
codec's reading of it) and every consent record offered beside the document, read
completely, so that nothing downstream unwraps the raw tree again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.documents import Document, DocumentKind
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.formats.base import Format, ParseResult
from gateway.formats.registry import as_utf8_json, codec_for, detect

KIND_MISMATCH = RULES.define(
    "INPUT-KIND-MISMATCH",
    "Document is not of the kind asked for",
    RuleKind.SYNTAX,
    "`--kind` names one document kind and the input is another. Drop `--kind` to let the "
    "gateway detect it.",
)


@dataclass
class Reading:
    """What the bytes are and what the codec read (``parsed`` is ``None`` when nothing could
    be handed to a codec; ``issues`` then say why)."""

    kind: DocumentKind | None = None
    format: Format | None = None
    parsed: ParseResult[Document] | None = None
    issues: list[Issue] = field(default_factory=list)


def read_bytes(
    data: bytes, *, kind: DocumentKind | None = None, fmt: Format | None = None
) -> Reading:
    """Detect (unless told) and parse ``data``."""
    out = Reading(kind=kind, format=fmt)
    if fmt is None or (kind is None and fmt is Format.XML):
        detected = detect(data)
        if isinstance(detected, Issue):
            out.issues.append(detected)
            return out
        fmt = fmt or detected.format
        out.format = fmt
        if kind is not None and detected.kind is not None and detected.kind is not kind:
            out.issues.append(issue(KIND_MISMATCH, f"expected a {kind}, got a {detected.kind}"))
            return out
        kind = kind or detected.kind
    codec = codec_for(kind, fmt)
    if isinstance(codec, Issue):
        out.issues.append(codec)
        return out
    if fmt is Format.FHIR_JSON:
        data = as_utf8_json(data)
    parsed = codec.parse(data)
    out.parsed = parsed
    out.issues.extend(parsed.issues)
    doc = parsed.document
    if doc is not None and kind is not None and doc.kind is not kind:
        out.issues.append(issue(KIND_MISMATCH, f"expected a {kind}, got a {doc.kind}"))
        parsed.document = None
        return out
    if doc is not None:
        out.kind = doc.kind
        if parsed.tree is not None:
            _offered_consents(parsed, out.issues)
    return out


def _offered_consents(parsed: ParseResult[Document], issues: list[Issue]) -> None:
    """Every Consent in the tree, read beside the document (its own is read again: harmless,
    the same record); an issue the document's own reading reported already is not repeated."""
    from gateway.formats.fhir.consent import offered_consents

    assert parsed.tree is not None
    consents, found = offered_consents(parsed.tree)
    parsed.consents = consents
    seen = {(i.code, i.location.path, i.message) for i in issues}
    for i in found:
        key = (i.code, i.location.path, i.message)
        if key not in seen:
            seen.add(key)
            issues.append(i)


__all__ = ["KIND_MISMATCH", "Reading", "read_bytes"]
