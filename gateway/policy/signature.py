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

import dataclasses
from pathlib import Path

from lxml import etree

from gateway.documents import Certificate
from gateway.documents.issues import RULES, RuleKind
from gateway.formats.base import Format
from gateway.formats.rivta.namespaces import INTYG, REGISTER_CERTIFICATE_ROOT, UNDERSKRIFT
from gateway.formats.signature import DS, plain_shape_problem
from gateway.formats.xmlsafe import parse_xml
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


def unverified(rendered: bytes, trust_anchors: Path | None) -> str | None:
    """Why the signature in ``rendered`` (a RIVTA certificate) is not passed on, or ``None``."""
    from signxml.exceptions import (
        InvalidCertificate,
        InvalidDigest,
        InvalidInput,
        InvalidSignature,
    )
    from signxml.verifier import SignatureConfiguration, XMLVerifier

    root = parse_xml(rendered).root  # the one XML door: no DTD, entities or network
    signature = root.find(f"{INTYG}/{UNDERSKRIFT}/{{{DS}}}Signature") if root is not None else None
    if signature is None:
        return "the copy holds no signature"
    why = plain_shape_problem(signature)
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


def with_held_signature(result: PolicyResult) -> PolicyResult | None:
    """The result with the signature it held back put into its copy, to be rendered and
    checked (:func:`signature_fate`); ``None`` when there is none to try."""
    doc = result.document
    held = result.held_signature
    if held is None or not isinstance(doc, Certificate):
        return None
    return dataclasses.replace(
        result, document=doc.model_copy(update={"signature": held}), held_signature=None
    )


def signature_fate(
    result: PolicyResult, fmt: Format, rendered: bytes | None, trust_anchors: Path | None
) -> PolicyResult | None:
    """Whether the held-back signature may go in the copy ``rendered`` (the bytes of
    :func:`with_held_signature`'s copy in ``fmt``): ``None`` when it verifies over them, else
    the result without it and the report saying why (``POLICY-SIGNATURE-UNVERIFIED``)."""
    if fmt is Format.XML and rendered is not None:
        why = unverified(rendered, trust_anchors)
        if why is None:
            return None
    else:
        why = f"an XML-DSig signature signs XML; a {fmt} copy cannot carry it verifiably"
    entry = ReportEntry(
        Action.REMOVED,
        "signature",
        SIGNATURE_UNVERIFIED.code,
        f"the signature is not passed on: {why}",
        ("signature",),
    )
    return dataclasses.replace(result, report=[*result.report, entry], held_signature=None)
