"""Content-based routing of raw bytes to the codec that reads them.

Detection sniffs the first bytes (a JSON object, or the root element's name and namespace) so
that the document is parsed once, by its codec. Codecs are imported on first use: a command
that handles one format does not load the others.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import orjson

from gateway.documents import Document, DocumentKind
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.formats import roots
from gateway.formats.base import CannotRender, Codec, Format
from gateway.formats.xmlsafe import doctype_refused

UNKNOWN_FORMAT = RULES.define(
    "INPUT-UNKNOWN-FORMAT",
    "Format or document kind not recognised",
    RuleKind.SYNTAX,
    "The input is neither FHIR JSON, FHIR XML, RIVTA RegisterCertificate v3, RIVTA "
    "SendMessageToRecipient v2 nor one of the gateway's own XML documents (SIP, return-to-work "
    "plan, §4 notification), judged by its first bytes and root element; the message says "
    "what it is instead (empty, a JSON array, JSON but not a FHIR resource, another root "
    "element). Pass --kind and --input-format if detection guesses wrong.",
)
NO_CODEC = RULES.define(
    "INPUT-NO-CODEC",
    "No reader for this kind in this format",
    RuleKind.SYNTAX,
    "The gateway has no reader for the requested combination of document kind and format.",
)

#: Root element (namespace, local name) -> document kind, for the XML formats (roots.py).
XML_ROOTS: dict[tuple[str, str], DocumentKind] = {
    (root.namespace, root.name): kind for root, kind in roots.KINDS.items()
}

#: (kind, format) -> "module:Class" of its codec. FHIR codecs read every kind.
_CODECS: dict[tuple[DocumentKind | None, Format], str] = {
    (DocumentKind.CERTIFICATE, Format.XML): (
        "gateway.formats.rivta.register_certificate:RegisterCertificateCodec"
    ),
    (DocumentKind.SIP, Format.XML): "gateway.formats.ownxml.sip:SipXmlCodec",
    (DocumentKind.RETURN_TO_WORK_PLAN, Format.XML): (
        "gateway.formats.ownxml.return_to_work:ReturnToWorkXmlCodec"
    ),
    (DocumentKind.SECTION4_NOTIFICATION, Format.XML): (
        "gateway.formats.ownxml.section4:Section4XmlCodec"
    ),
    (None, Format.FHIR_JSON): "gateway.formats.fhir.codec:FhirJsonCodec",
    (None, Format.FHIR_XML): "gateway.formats.fhir.codec:FhirXmlCodec",
    (None, Format.RIVTA_MESSAGE): "gateway.formats.rivta.send_message_reader:SendMessageCodec",
}
#: Formats whose one codec reads every kind they carry (rivta-message: §4 notifications).
_ANY_KIND = (Format.FHIR_JSON, Format.FHIR_XML, Format.RIVTA_MESSAGE)
_SEND_MESSAGE = roots.SEND_MESSAGE
_SOAP_ENVELOPE = roots.SOAP_ENVELOPE
_instances: dict[tuple[DocumentKind | None, Format], Any] = {}

_ROOT_TAG = re.compile(rb"<(?![?!])(?:([\w.-]+):)?([\w.-]+)([^>]*)>")
_XMLNS = re.compile(rb"""xmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']""")
_PROLOG = re.compile(rb"\A(?:\s|<\?.*?\?>|<!--.*?-->)*", re.S)


@dataclass(frozen=True)
class Detected:
    format: Format
    kind: DocumentKind | None  # None: decided by the codec (FHIR)


def _xml_root(data: bytes) -> tuple[str, str] | None:
    head = data[:4096]
    m = _ROOT_TAG.search(head, _PROLOG.match(head).end())  # type: ignore[union-attr]
    if m is None:
        return None
    prefix = (m.group(1) or b"").decode("ascii", "replace")
    local = m.group(2).decode("ascii", "replace")
    for ns_prefix, uri in _XMLNS.findall(m.group(3)):
        if ns_prefix.decode("ascii", "replace") == prefix:
            return uri.decode("utf-8", "replace"), local
    return "", local


#: Byte order marks, longest first (UTF-32 LE's begins with UTF-16 LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: XML without a BOM announces UTF-16/32 by its first ``<?`` (XML 1.0, appendix F).
_XML_STARTS = (
    (b"<\0\0\0", "utf-32-le"),
    (b"\0\0\0<", "utf-32-be"),
    (b"<\0?\0", "utf-16-le"),
    (b"\0<\0?", "utf-16-be"),
)


def encoding_of(data: bytes) -> tuple[str, int]:
    """The encoding a BOM or an XML document's first bytes announce, and the BOM's length."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    for start, name in _XML_STARTS:
        if data.startswith(start):
            return name, 0
    return "utf-8", 0


def as_utf8_json(data: bytes) -> bytes:
    """JSON as orjson reads it: UTF-8 without a BOM (Windows tools write one; RFC 8259 lets
    a reader ignore it; UTF-16/32 with a BOM are transcoded)."""
    name, bom = encoding_of(data)
    if name == "utf-8":
        return data[bom:]
    try:
        return data[bom:].decode(name).encode("utf-8")
    except UnicodeDecodeError:
        return data  # the JSON parser names the bad bytes


def _sniff(data: bytes) -> bytes:
    """The head of the input as UTF-8, whatever its encoding, for detection only (the codec
    reads the original bytes; XML parsers honour BOMs and declarations themselves)."""
    name, bom = encoding_of(data)
    head = data[bom : bom + 4096]
    if name == "utf-8":
        return head
    return head.decode(name, errors="ignore").encode("utf-8")


def _what_json(data: bytes) -> str | None:
    """Say what a JSON document that is not an object is; None if it is no JSON at all."""
    try:
        value = orjson.loads(as_utf8_json(data))
    except orjson.JSONDecodeError:
        return None
    what = {list: "a JSON array", str: "a JSON string", bool: "a JSON boolean"}.get(
        type(value), "JSON null" if value is None else "a JSON number"
    )
    return f"JSON, but not a FHIR resource: {what} (a FHIR document is one JSON object)"


def detect(data: bytes) -> Detected | Issue:
    head = _sniff(data)
    start = head.lstrip(b" \t\r\n")[:1]
    if not start:
        return issue(UNKNOWN_FORMAT, "empty input" if not data else "empty input (only blanks)")
    if start == b"{":
        return Detected(Format.FHIR_JSON, None)
    if start == b"<":
        refused = doctype_refused(head)
        if refused is not None:
            return refused
        root = _xml_root(head)
        if root is not None:
            if root[0] == roots.FHIR_NS:
                return Detected(Format.FHIR_XML, None)
            if root == _SEND_MESSAGE or (
                root == _SOAP_ENVELOPE and _SEND_MESSAGE[0].encode() in head
            ):
                return Detected(Format.RIVTA_MESSAGE, DocumentKind.SECTION4_NOTIFICATION)
            kind = XML_ROOTS.get(root)
            if kind is not None:
                return Detected(Format.XML, kind)
            ns, local = root
            return issue(UNKNOWN_FORMAT, f"unknown root element {local!r} in namespace {ns!r}")
        return issue(UNKNOWN_FORMAT, "XML, but no root element in its first 4 KiB")
    if start in b'["-0123456789tfn':
        what = _what_json(data)
        if what is not None:
            return issue(UNKNOWN_FORMAT, what)
    return issue(UNKNOWN_FORMAT, "input is neither JSON nor XML")


def codec_for(kind: DocumentKind | None, fmt: Format) -> Codec | Issue:
    key = (None, fmt) if fmt in _ANY_KIND else (kind, fmt)
    codec = _instances.get(key)
    if codec is None:
        target = _CODECS.get(key)
        if target is None:
            return issue(NO_CODEC, f"no reader for {kind or 'documents'} in format {fmt}")
        module, name = target.split(":")
        codec = getattr(import_module(module), name)()
        _instances[key] = codec
    return codec  # type: ignore[no-any-return]


def render(document: Document, fmt: Format) -> bytes:
    """Render a canonical document in a format (Message Translator's output side).

    Raises :class:`CannotRender` when the format cannot carry this document."""
    if fmt is Format.RIVTA_MESSAGE:
        from gateway.documents.section4 import Section4Notification
        from gateway.formats.rivta.send_message import render_send_message

        if not isinstance(document, Section4Notification):
            raise CannotRender("rivta-message is the format of §4 notifications only")
        return render_send_message(document)
    codec = codec_for(document.kind, fmt)
    if isinstance(codec, Issue):
        raise CannotRender(codec.message)
    return codec.render(document)
