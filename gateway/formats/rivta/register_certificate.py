"""RIVTA RegisterCertificate v3 codec: FK7804 (LISJP), AG7804 and AG1-14 certificates.

``parse``: hardened XML parse -> our own XSD (``schemas/certificate/``) -> mapping to the
canonical :class:`Certificate`, with a source map from model paths to elements. The mapping
runs even when the schema fails, so business rules still see what can be read.
``render``: the certificate as Inera's services send it (valid against Inera's XSD).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from gateway import SCHEMAS_DIR
from gateway.documents import Document
from gateway.documents.certificate import Certificate
from gateway.documents.common import DocumentKind
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.formats.base import Format, ParseResult
from gateway.formats.rivta.certificate_reader import CertificateReader
from gateway.formats.rivta.certificate_writer import render_certificate
from gateway.formats.rivta.namespaces import REGISTER_CERTIFICATE, REGISTER_CERTIFICATE_ROOT
from gateway.formats.xmlsafe import element_location, parse_xml
from gateway.formats.xsd import load_schema, validate_tree

SCHEMA_PATH: Final = SCHEMAS_DIR / "certificate" / "RegisterCertificate-3.xsd"

WRONG_ROOT = RULES.define(
    "CERT-WRONG-ROOT",
    "Not a RegisterCertificate v3 message",
    RuleKind.SCHEMA,
    "A certificate in RIVTA XML must have the root element `RegisterCertificate` in namespace "
    f"`{REGISTER_CERTIFICATE}`. Other RIVTA messages, other versions and SOAP envelopes are "
    "not read as certificates (send the SOAP body's content).",
)

# Compiled once per process: the schema is the same for every message.
_SCHEMA = load_schema(SCHEMA_PATH)


class RegisterCertificateCodec:
    format = Format.XML
    kind = DocumentKind.CERTIFICATE

    def parse(self, data: bytes) -> ParseResult[Certificate]:
        safe = parse_xml(data)
        root = safe.root
        if root is None:
            return ParseResult(None, safe.issues)
        if root.tag != REGISTER_CERTIFICATE_ROOT:
            return ParseResult(None, [_wrong_root(root)])
        issues = validate_tree(_SCHEMA, root)
        reader = CertificateReader()
        document = reader.read(root)
        if not issues:  # the schema did not speak: report what only the reader saw
            issues.extend(reader.schema_issues)
        issues.extend(reader.issues)
        return ParseResult(document, issues, reader.source_map())

    def render(self, document: Document) -> bytes:
        if not isinstance(document, Certificate):
            raise TypeError(
                f"RegisterCertificate renders certificates, not {type(document).__name__}"
            )
        return render_certificate(document)


def _wrong_root(root: etree._Element) -> Issue:
    name = etree.QName(root)
    where = f"{{{name.namespace}}}" if name.namespace else "no namespace"
    return issue(
        WRONG_ROOT,
        f"root element is <{name.localname}> in {where}; expected <RegisterCertificate> in "
        f"{REGISTER_CERTIFICATE}",
        element_location(root),
    )
