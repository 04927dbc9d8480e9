"""A route that passes signatures on only when they verify (``signature = "verified"``: the
employer's): the copy is rendered, and its signature checked over exactly those bytes.

A signature is carried only when all of this holds, else it is dropped, the copy rendered
again without it, and the report says why (``POLICY-SIGNATURE-UNVERIFIED``):

* the copy is RIVTA XML: an XML-DSig signature signs XML, and no FHIR copy can carry it so
  that the recipient could verify it over what it received;
* it has the plain shape of a certificate signature and nothing a sender could write text
  into: ``SignedInfo`` with one ``Reference URI=""`` (the whole document), the enveloped and
  canonicalisation transforms only, ``KeyInfo`` with X.509 certificates only, base64 values;
* it verifies (signxml) against the trust anchors the gateway is given (``--trust-anchors``,
  a PEM file of the CAs that issue signing certificates, e.g. SITHS): no anchors, no carry;
* what it signs is the whole document, not a part of it.

Inera's own signatures (XSLT and XPath-filter transforms, which signxml does not run and the
gateway would not run on an attacker's behalf) are therefore never passed to an employer; the
as-issued routes carry them unchanged (docs/policy.md).
"""

from __future__ import annotations

import binascii
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Final

from lxml import etree

from gateway.documents import Certificate, Document
from gateway.documents.issues import RULES, RuleKind
from gateway.formats.base import Format
from gateway.formats.registry import render
from gateway.formats.rivta.namespaces import INTYG, REGISTER_CERTIFICATE_ROOT, UNDERSKRIFT
from gateway.formats.signature import DS
from gateway.policy.report import Action, PolicyResult, ReportEntry

SIGNATURE_UNVERIFIED = RULES.define(
    "POLICY-SIGNATURE-UNVERIFIED",
    "Signature not passed on: it does not verify over the copy sent",
    RuleKind.POLICY,
    "A route with `signature = \"verified\"` (the employer's) passes a certificate's signature "
    "on only if it verifies, with XML-DSig against the gateway's trust anchors "
    "(`--trust-anchors`), over exactly the bytes the recipient receives, signs the whole "
    "document, and has the plain shape of a certificate signature (no key names, objects, "
    "XSLT or XPath transforms, ids). Otherwise the signature is dropped; the message says "
    "which condition failed. A FHIR copy never carries one: XML-DSig signs XML.",
)

_ALGORITHMS: Final = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2006/12/xml-c14n11",
    }
)
#: element -> (attributes it may have, whether it holds base64 text)
_SHAPE: Final[dict[str, tuple[frozenset[str], bool]]] = {
    f"{{{DS}}}{name}": (frozenset(attrs), b64)
    for name, attrs, b64 in (
        ("Signature", (), False),
        ("SignedInfo", (), False),
        ("CanonicalizationMethod", ("Algorithm",), False),
        ("SignatureMethod", ("Algorithm",), False),
        ("Reference", ("URI",), False),
        ("Transforms", (), False),
        ("Transform", ("Algorithm",), False),
        ("DigestMethod", ("Algorithm",), False),
        ("DigestValue", (), True),
        ("SignatureValue", (), True),
        ("KeyInfo", (), False),
        ("X509Data", (), False),
        ("X509Certificate", (), True),
    )
}


def _shape_problem(signature: etree._Element) -> str | None:
    references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        return 'it must have one Reference, URI="" (the whole document)'
    for el in signature.iter():
        tag = el.tag
        shape = _SHAPE.get(tag) if isinstance(tag, str) else None
        if shape is None:
            name = etree.QName(tag).localname if isinstance(tag, str) else "node()"
            return f"<{name}> is not part of a plain certificate signature"
        attrs, b64 = shape
        extra = set(el.attrib) - attrs
        if extra:
            return f"<{etree.QName(tag).localname}> carries attributes it has no use for"
        if tag == f"{{{DS}}}Transform" and el.get("Algorithm") not in _ALGORITHMS:
            return "a transform other than enveloped-signature and canonicalisation"
        text = "".join((el.text or "").split())
        if b64:
            try:
                binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
            except (ValueError, UnicodeEncodeError):
                return f"<{etree.QName(tag).localname}> is not base64"
        elif text:
            return f"<{etree.QName(tag).localname}> holds text"
        if "".join((el.tail or "").split()) and el is not signature:
            return "text between the signature's elements"
    return None


def unverified(rendered: bytes, trust_anchors: Path | None) -> str | None:
    """Why the signature in ``rendered`` (a RIVTA certificate) is not passed on, or ``None``."""
    from signxml.exceptions import (
        InvalidCertificate,
        InvalidDigest,
        InvalidInput,
        InvalidSignature,
    )
    from signxml.verifier import SignatureConfiguration, XMLVerifier

    root = etree.fromstring(rendered, etree.XMLParser(resolve_entities=False, no_network=True))
    signature = root.find(f"{INTYG}/{UNDERSKRIFT}/{{{DS}}}Signature")
    if signature is None:
        return "the copy holds no signature"
    why = _shape_problem(signature)
    if why is not None:
        return why
    if trust_anchors is None:
        return "no trust anchors are configured (--trust-anchors), so nothing verifies"
    config = SignatureConfiguration(location=f"./{INTYG}/{UNDERSKRIFT}/", expect_references=1)
    try:
        result = XMLVerifier().verify(
            rendered, ca_pem_file=str(trust_anchors), expect_config=config
        )
    except (InvalidSignature, InvalidDigest, InvalidCertificate, InvalidInput) as exc:
        return f"it does not verify ({type(exc).__name__})"
    except (ValueError, TypeError, etree.LxmlError) as exc:  # e.g. a certificate that is no DER
        return f"it cannot be verified ({type(exc).__name__})"
    signed = result.signed_xml if not isinstance(result, list) else None
    if signed is None or getattr(signed, "tag", None) != REGISTER_CERTIFICATE_ROOT:
        return "it does not sign the whole document"
    return None


def render_copy(
    result: PolicyResult,
    fmt: Format,
    *,
    trust_anchors: Path | None = None,
    finish: Callable[[bytes], bytes] | None = None,
) -> tuple[bytes, PolicyResult]:
    """The recipient's copy in ``fmt``, passed through ``finish`` (e.g. indenting) when given;
    a held-back signature goes in only if it verifies over these very bytes, the finished
    ones, and the returned result's report says when it did not."""
    doc = result.document
    if doc is None:
        raise ValueError("a refused transfer has no copy to render")

    def rendered(document: Document) -> bytes:
        out = render(document, fmt)
        return finish(out) if finish is not None else out

    held = result.held_signature
    if held is None or not isinstance(doc, Certificate):
        return rendered(doc), result
    if fmt is Format.XML:
        signed = doc.model_copy(update={"signature": held})
        out = rendered(signed)
        why = unverified(out, trust_anchors)
        if why is None:
            return out, dataclasses.replace(result, document=signed, held_signature=None)
    else:
        why = f"an XML-DSig signature signs XML; a {fmt} copy cannot carry it verifiably"
    entry = ReportEntry(
        Action.REMOVED,
        "signature",
        SIGNATURE_UNVERIFIED.code,
        f"the signature is not passed on: {why}",
        ("signature",),
    )
    return rendered(doc), dataclasses.replace(
        result, report=[*result.report, entry], held_signature=None
    )
