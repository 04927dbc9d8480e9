"""A certificate's signature (RIVTA ``underskrift``, FHIR ``Bundle.signature.data``) as
opaque, checked bytes.

A signature is signed bytes, never a place for content: it is carried only as the exclusive
canonical form of one ``underskrift`` holding exactly one XML-DSig ``ds:Signature`` that
follows the W3C schema (``schemas/certificate/xmldsig.xsd``) and nothing else: no comments or
processing instructions, no ``ds:Object`` (where arbitrary content would ride), no element
outside XML-DSig and the transforms Inera's signatures use (XPath filter 2.0, XSLT), so no
certificate markup (``svar``, ``patient``) can hide in it. Readers check it
(``CERT-SIGNATURE-MALFORMED``, the signature is not kept); writers check the stored form
again before they put it into a document, so no model, however built, splices markup in.
"""

from __future__ import annotations

import binascii
import threading
from typing import Final

from lxml import etree

from gateway import SCHEMAS_DIR
from gateway.documents.issues import RULES, RuleKind
from gateway.formats.rivta.namespaces import UNDERSKRIFT
from gateway.formats.xmlsafe import parse_xml
from gateway.formats.xsd import load_schema

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
DSF: Final = "http://www.w3.org/2002/06/xmldsig-filter2"
XSL: Final = "http://www.w3.org/1999/XSL/Transform"
SIGNATURE: Final = f"{{{DS}}}Signature"
_OBJECT: Final = f"{{{DS}}}Object"
_TRANSFORM: Final = f"{{{DS}}}Transform"
#: Far above any real signature (Inera's, with its certificate, is 5 KB).
MAX_SIGNATURE_BYTES: Final = 64 * 1024

SIGNATURE_MALFORMED = RULES.define(
    "CERT-SIGNATURE-MALFORMED",
    "Certificate signature is not one XML-DSig signature",
    RuleKind.SCHEMA,
    "A certificate's `underskrift` (FHIR: `Bundle.signature.data`, base64) must hold exactly "
    "one XML-DSig `ds:Signature` that follows the W3C schema, and nothing else: no comments "
    "or processing instructions, no `ds:Object`, no element outside XML-DSig and the XPath "
    "filter / XSLT transforms, at most 64 KiB. Anything else is not carried: a signature is "
    "signed bytes, never a place for content (docs/policy.md).",
)

_SCHEMA = load_schema(SCHEMAS_DIR / "certificate" / "xmldsig.xsd")
#: Namespaces an element inside a signature may have; XSL only inside a ds:Transform.
_NAMESPACES = frozenset({DS, DSF})


def problem(underskrift: etree._Element) -> str | None:
    """Why ``underskrift`` is not a signature the gateway carries, or ``None``."""
    if underskrift.tag != UNDERSKRIFT:
        return f"the root is <{etree.QName(underskrift).localname}>, not <underskrift>"
    if underskrift.attrib:
        return "underskrift has attributes"
    children = list(underskrift)
    if len(children) != 1 or children[0].tag != SIGNATURE:
        return "underskrift must hold exactly one ds:Signature and nothing else"
    if (underskrift.text or "").strip() or (children[0].tail or "").strip():
        return "underskrift holds text beside the ds:Signature"
    signature = children[0]
    why = shape_problem(signature)
    if why is not None:
        return why
    if not _SCHEMA.validate(etree.ElementTree(signature)):
        errors = list(_SCHEMA.error_log)  # type: ignore[call-overload]  # lxml-stubs: not iterable
        return f"not valid XML-DSig: {errors[0].message if errors else 'schema'}"
    return None


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


def shape_problem(signature: etree._Element, *, plain: bool = False) -> str | None:
    """The one shape check of an XML-DSig ``ds:Signature``, in one walk. Any signature the
    gateway carries holds only XML-DSig elements (and the XPath-filter and XSLT transforms
    Inera's use, XSLT only inside a ``ds:Transform``), no comments, processing instructions
    or ``ds:Object``. With ``plain`` (what an employer's copy may carry,
    gateway/policy/signature.py) it is moreover the plain shape of a certificate signature:
    one ``Reference URI=""``, the enveloped and canonicalisation transforms, X.509
    certificates as key info, base64 values and no other text, no attributes a sender could
    write into."""
    if plain:
        references = signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
        if len(references) != 1 or references[0].get("URI") != "":
            return 'it must have one Reference, URI="" (the whole document)'
    for node in signature.iter():
        tag = node.tag
        if not isinstance(tag, str):
            return "a signature holds no comments or processing instructions"
        if tag == _OBJECT:
            return "ds:Object is not carried (a signature is not a container)"
        namespace = tag[1 : tag.find("}")] if tag[0] == "{" else ""
        if namespace not in _NAMESPACES and (
            namespace != XSL or not any(a.tag == _TRANSFORM for a in node.iterancestors())
        ):
            return f"<{etree.QName(tag).localname}> is not part of XML-DSig"
        if plain:
            why = _plain_problem(node, signature)
            if why is not None:
                return why
    return None


def plain_shape_problem(signature: etree._Element) -> str | None:
    """:func:`shape_problem` with ``plain``: what a verified route may carry."""
    return shape_problem(signature, plain=True)


def _plain_problem(el: etree._Element, signature: etree._Element) -> str | None:
    tag = el.tag
    shape = _SHAPE.get(tag)
    if shape is None:
        return f"<{etree.QName(tag).localname}> is not part of a plain certificate signature"
    attrs, b64 = shape
    if set(el.attrib) - attrs:
        return f"<{etree.QName(tag).localname}> carries attributes it has no use for"
    if tag == _TRANSFORM and el.get("Algorithm") not in _ALGORITHMS:
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


def canonical(underskrift: etree._Element) -> str:
    """The exclusive canonical form: what the signature's own c14n sees, and independent of
    the namespaces declared around it, so it is carried unchanged into any document. Only
    call it on what :func:`problem` accepted: the result is remembered as good."""
    return remember(
        etree.tostring(underskrift, method="c14n", exclusive=True, with_comments=False).decode()
    )


def wrap(signature: etree._Element) -> etree._Element:
    """A bare ``ds:Signature`` (as a FHIR sender may put it) inside an ``underskrift``."""
    underskrift = etree.Element(UNDERSKRIFT)
    underskrift.append(signature)
    return underskrift


def read(data: bytes) -> tuple[str | None, str | None]:
    """``(canonical form, None)`` of a signature sent as bytes (FHIR), or ``(None, why)``."""
    if len(data) > MAX_SIGNATURE_BYTES:
        return None, f"{len(data)} bytes; the limit is {MAX_SIGNATURE_BYTES}"
    safe = parse_xml(data)
    root = safe.root
    if root is None:
        return None, "not well-formed XML: " + "; ".join(i.message for i in safe.issues)
    if root.tag == SIGNATURE:
        root = wrap(root)
    why = problem(root)
    return (None, why) if why is not None else (canonical(root), None)


#: Canonical forms known good (read by a reader, or checked by a writer before): a writer
#: re-checks only what it has not seen, so the usual read-then-render pays once.
_KNOWN: dict[str, None] = {}
_KNOWN_MAX: Final = 1024


_KNOWN_LOCK = threading.Lock()


def remember(stored: str) -> str:
    with _KNOWN_LOCK:  # the server reads on many threads
        if len(_KNOWN) >= _KNOWN_MAX:
            _KNOWN.pop(next(iter(_KNOWN)))  # oldest first
        _KNOWN[stored] = None
    return stored


def carried(stored: str) -> bool:
    """Whether a writer may carry ``stored``: exactly what a reader would have kept. A model
    built in code with anything else has its signature left out, never spliced in."""
    if stored in _KNOWN:
        return True
    if read(stored.encode())[0] != stored:
        return False
    remember(stored)
    return True
