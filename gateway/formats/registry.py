"""Content-based routing of raw bytes to the codec that reads them.

Detection sniffs the first bytes (a JSON object, or the root element's name and namespace) so
that the document is parsed once, by its codec. Codecs are imported on first use: a command
that handles one format does not load the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from gateway.documents import Document, DocumentKind
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.formats.base import CannotRender, Codec, Format
from gateway.formats.xmlsafe import doctype_refused

FHIR_NS = "http://hl7.org/fhir"

UNKNOWN_FORMAT = RULES.define(
    "INPUT-UNKNOWN-FORMAT",
    "Format or document kind not recognised",
    RuleKind.SYNTAX,
    "The input is neither FHIR JSON, FHIR XML, RIVTA RegisterCertificate v3 nor one of the "
    "gateway's own XML documents (SIP, return-to-work plan, §4 notification), judged by its "
    "first bytes and root element. Pass --kind and --format if detection guesses wrong.",
)
NO_CODEC = RULES.define(
    "INPUT-NO-CODEC",
    "No reader for this kind in this format",
    RuleKind.SYNTAX,
    "The gateway has no reader for the requested combination of document kind and format, "
    "e.g. a SIP in rivta-message (that format is only written, for §4 notifications).",
)

#: Root element (namespace, local name) -> document kind, for the XML formats.
XML_ROOTS: dict[tuple[str, str], DocumentKind] = {
    (
        "urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:3",
        "RegisterCertificate",
    ): DocumentKind.CERTIFICATE,
    ("urn:gateway:sip:1", "sip"): DocumentKind.SIP,
    ("urn:gateway:return-to-work-plan:1", "returnToWorkPlan"): DocumentKind.RETURN_TO_WORK_PLAN,
    (
        "urn:gateway:section4-notification:1",
        "section4Notification",
    ): DocumentKind.SECTION4_NOTIFICATION,
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
}
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


def detect(data: bytes) -> Detected | Issue:
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"{":
        return Detected(Format.FHIR_JSON, None)
    if start == b"<":
        refused = doctype_refused(data)
        if refused is not None:
            return refused
        root = _xml_root(data)
        if root is not None:
            if root[0] == FHIR_NS:
                return Detected(Format.FHIR_XML, None)
            kind = XML_ROOTS.get(root)
            if kind is not None:
                return Detected(Format.XML, kind)
            ns, local = root
            return issue(UNKNOWN_FORMAT, f"unknown root element {local!r} in namespace {ns!r}")
    return issue(UNKNOWN_FORMAT, "input is neither JSON nor XML")


def codec_for(kind: DocumentKind | None, fmt: Format) -> Codec | Issue:
    key = (None, fmt) if fmt in (Format.FHIR_JSON, Format.FHIR_XML) else (kind, fmt)
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
