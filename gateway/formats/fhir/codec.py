"""The FHIR codecs (JSON and XML) and the registry of kind mappings they dispatch to.

One codec per wire format serves every document kind: it loads the tree (bounded), asks each
registered :class:`KindMapping` whether the tree is its kind (``detect_kind``), checks the
entries against that kind's profiles and lets the mapping build the canonical model. FHIR XML
is converted to the same JSON tree first, so mappings are written once. A mapping module
registers itself with :func:`register` at import; :data:`KIND_MODULES` says where each lives,
and modules not written yet are simply absent.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Protocol

import orjson

from gateway.documents import Document, DocumentKind
from gateway.documents.issues import RULES, Issue, Location, RuleKind
from gateway.formats.base import Format, ParseResult
from gateway.formats.fhir.base import rebase
from gateway.formats.fhir.datatypes import BundleIndex
from gateway.formats.fhir.systems import BASE, EARLIER_BASES
from gateway.formats.fhir.tree import (
    Reader,
    Relocate,
    Unreadable,
    load_json,
    modifier_extensions,
)
from gateway.formats.fhir.xml import parse_fhir_xml, render_fhir_xml

UNKNOWN_KIND = RULES.define(
    "FHIR-UNKNOWN-KIND",
    "FHIR resource is none of the gateway's document kinds",
    RuleKind.SCHEMA,
    "The gateway reads a certificate as a `document` Bundle whose Composition.type is a "
    "certificate type, and the other kinds as described in `docs/fhir/`. This resource "
    "matches none of them, or is a different kind from the one asked for.",
)


class KindMapping(Protocol):
    """Maps one document kind between the FHIR JSON tree and its canonical model."""

    kind: DocumentKind

    def matches(self, tree: dict[str, Any]) -> bool:
        """Cheap: is this tree (a Bundle, usually) a document of my kind?"""
        ...

    def to_model(self, tree: dict[str, Any], reader: Reader) -> Document:
        """Read the tree; report problems on ``reader`` with FHIRPaths and fill its source map
        for every model element created. Raise :class:`Unreadable` (after reporting) when a
        model cannot be built at all."""
        ...

    def from_model(self, document: Any) -> dict[str, Any]:
        """The FHIR JSON tree of a model: our canonical form, valid base R4."""
        ...


#: Where each kind's mapping lives; imported on first use.
KIND_MODULES: dict[DocumentKind, str] = {
    DocumentKind.CERTIFICATE: "gateway.formats.fhir.certificate",
    DocumentKind.SIP: "gateway.formats.fhir.sip",
    DocumentKind.RETURN_TO_WORK_PLAN: "gateway.formats.fhir.return_to_work",
    DocumentKind.SECTION4_NOTIFICATION: "gateway.formats.fhir.section4",
    DocumentKind.SECTION4_ACKNOWLEDGEMENT: "gateway.formats.fhir.acknowledgement",
}
_MAPPINGS: dict[DocumentKind, KindMapping] = {}


def register(mapping: KindMapping) -> KindMapping:
    _MAPPINGS[mapping.kind] = mapping
    return mapping


def mapping_for(kind: DocumentKind) -> KindMapping | None:
    found = _MAPPINGS.get(kind)
    if found is None:
        try:
            import_module(KIND_MODULES[kind])
        except ModuleNotFoundError as exc:
            if exc.name != KIND_MODULES[kind]:
                raise
            return None
        found = _MAPPINGS.get(kind)
    return found


def detect_kind(tree: dict[str, Any]) -> DocumentKind | None:
    for kind in KIND_MODULES:
        mapping = mapping_for(kind)
        if mapping is not None and mapping.matches(tree):
            return kind
    return None


def read_tree(
    tree: dict[str, Any],
    kind: DocumentKind | None = None,
    lines: dict[str, int] | None = None,
    relocate: Relocate | None = None,
) -> ParseResult[Document]:
    """A loaded tree -> model, issues and source map (shared by both wire formats).

    A ``message`` Bundle is unwrapped first and its payload read, every location then naming
    the place in the message the sender wrote."""
    if tree.get("resourceType") == "Bundle" and tree.get("type") == "message":
        from gateway.formats.fhir.envelope import unwrap_message  # it imports this module

        envelope, payload, issues = unwrap_message(tree, lines)
        if envelope is None or payload is None:
            return ParseResult(None, issues)
        result = read_tree(payload, kind, lines, envelope.relocate)
        result.issues[:0] = issues
        result.envelope = envelope  # read once: the exchange routes on it
        return result
    reader = Reader(lines, relocate)
    detected = detect_kind(tree)
    if detected is None or (kind is not None and detected is not kind):
        what = f"{tree.get('resourceType')!s}"
        if what == "Bundle":
            BundleIndex(reader, tree)  # names an entry list or entry of the wrong JSON type
        msg = f"a {what} that is not a {kind}" if kind else f"a {what} of no known document kind"
        where = Location(what)
        if not isinstance(tree.get("resourceType"), str):
            msg, where = "JSON, but not a FHIR resource: no resourceType", Location()
        issue = Issue(UNKNOWN_KIND.severity, UNKNOWN_KIND.code, where, msg)
        return ParseResult(None, [*reader.issues, issue])
    mapping = mapping_for(detected)
    assert mapping is not None
    try:
        document: Document | None = mapping.to_model(tree, reader)
    except Unreadable:
        document = None
    return ParseResult(document, reader.issues, reader.source_map)


class FhirJsonCodec:
    """application/fhir+json, every document kind (or only ``kind`` when given)."""

    format = Format.FHIR_JSON

    def __init__(self, kind: DocumentKind | None = None) -> None:
        self.kind = kind

    def parse(self, data: bytes) -> ParseResult[Document]:
        tree, issues = load_json(data)
        if tree is None:
            return ParseResult(None, issues)
        if EARLIER_BASES:  # a document written under an earlier base of ours reads as ours
            rebase(tree, data, BASE, EARLIER_BASES)
        result = read_tree(tree, self.kind)
        if b"modifierExtension" in data:
            result.issues.extend(modifier_extensions(tree))
        result.tree = tree
        return result

    def to_tree(self, document: Document) -> dict[str, Any]:
        mapping = mapping_for(document.kind)
        if mapping is None:
            raise NotImplementedError(f"no FHIR mapping for {document.kind}")
        return mapping.from_model(document)

    def render(self, document: Document) -> bytes:
        return orjson.dumps(self.to_tree(document), option=orjson.OPT_INDENT_2)


class FhirXmlCodec(FhirJsonCodec):
    """application/fhir+xml: converted to the JSON tree, then read like FHIR JSON."""

    format = Format.FHIR_XML

    def parse(self, data: bytes) -> ParseResult[Document]:
        tree, issues, lines = parse_fhir_xml(data)
        if tree is None:
            return ParseResult(None, issues)
        if EARLIER_BASES:
            rebase(tree, data, BASE, EARLIER_BASES)
        result = read_tree(tree, self.kind, lines)
        result.issues[:0] = issues
        if b"modifierExtension" in data:
            result.issues.extend(modifier_extensions(tree, lines))
        result.tree = tree
        return result

    def render(self, document: Document) -> bytes:
        return render_fhir_xml(self.to_tree(document))


__all__ = [
    "KIND_MODULES",
    "UNKNOWN_KIND",
    "FhirJsonCodec",
    "FhirXmlCodec",
    "KindMapping",
    "detect_kind",
    "mapping_for",
    "read_tree",
    "register",
]
