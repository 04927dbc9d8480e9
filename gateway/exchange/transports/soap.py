"""RIVTA over SOAP 1.1: the envelope around a RegisterCertificate v3 or SendMessageToRecipient
v2 body, and the ``ResultType`` answer (``resultCode`` OK/INFO/ERROR, ``errorId``,
``resultText``) read back. Both the push transport and the mock recipient use these, so what
one writes the other reads the way Inera's services do.

Everything read goes through :func:`gateway.formats.xmlsafe.parse_xml` (no DTD, no entities,
bounded size and depth): a recipient's answer is input like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, cast
from xml.sax.saxutils import escape

from lxml import etree

from gateway.formats.rivta.namespaces import (
    CORE,
    REGISTER_CERTIFICATE,
    SEND_MESSAGE_TO_RECIPIENT,
)
from gateway.formats.xmlsafe import parse_xml

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
#: The RIVTA addressing header (``urn:riv:itintegration:registry:1``).
REGISTRY: Final = "urn:riv:itintegration:registry:1"
CONTENT_TYPE: Final = "text/xml; charset=utf-8"
#: Answers are small; anything bigger is not a RIVTA result.
MAX_ANSWER_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class Interaction:
    """One RIVTA service contract: its request element and responder namespace."""

    name: str
    namespace: str

    @property
    def request_tag(self) -> str:
        return f"{{{self.namespace}}}{self.name}"

    @property
    def response_tag(self) -> str:
        return f"{{{self.namespace}}}{self.name}Response"

    @property
    def soap_action(self) -> str:
        # the soapAction of the contract's WSDL: "<responder namespace>:<operation>"
        return f"{self.namespace}:{self.name}"


REGISTER_CERTIFICATE_V3: Final = Interaction("RegisterCertificate", REGISTER_CERTIFICATE)
SEND_MESSAGE_TO_RECIPIENT_V2: Final = Interaction(
    "SendMessageToRecipient", SEND_MESSAGE_TO_RECIPIENT
)
INTERACTIONS: Final = {
    i.request_tag: i for i in (REGISTER_CERTIFICATE_V3, SEND_MESSAGE_TO_RECIPIENT_V2)
}

_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\?>\s*")
_ROOT_NAME = re.compile(
    rb"<(?:([A-Za-z_][\w.-]*):)?(RegisterCertificate|SendMessageToRecipient)[\s>/]"
)


def interaction_of(body: bytes) -> Interaction | None:
    """The interaction whose request ``body`` (our own rendered bytes) is, by its root
    element; ``None`` for anything else. A cheap look at the first element: the body was
    written by our own renderer, so no parse is needed to address it."""
    start = _DECLARATION.sub(b"", body[:4096], count=1).lstrip()
    match = _ROOT_NAME.match(start)
    if match is None:
        return None
    return (
        REGISTER_CERTIFICATE_V3
        if match.group(2) == b"RegisterCertificate"
        else (SEND_MESSAGE_TO_RECIPIENT_V2)
    )


def envelope(body: bytes, logical_address: str) -> bytes:
    """A SOAP 1.1 envelope with the RIVTA ``LogicalAddress`` header around ``body`` (a UTF-8
    XML document, its declaration dropped). Spliced as bytes: the body is not re-serialised,
    so it reaches the recipient exactly as the policy step rendered it."""
    content = _DECLARATION.sub(b"", body, count=1)
    return b"".join(
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:la="{REGISTRY}">'.encode(),
            f"<soap:Header><la:LogicalAddress>{escape(logical_address)}</la:LogicalAddress>"
            "</soap:Header>".encode(),
            b"<soap:Body>",
            content.rstrip(),
            b"</soap:Body></soap:Envelope>",
        )
    )


class ResultCode(StrEnum):
    OK = "OK"
    INFO = "INFO"
    ERROR = "ERROR"


class ErrorId(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    APPLICATION_ERROR = "APPLICATION_ERROR"
    TECHNICAL_ERROR = "TECHNICAL_ERROR"
    REVOKED = "REVOKED"


@dataclass(frozen=True, slots=True)
class Result:
    """A RIVTA ``ResultType``."""

    code: ResultCode
    error_id: ErrorId | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP 1.1 fault: ``faultcode`` and ``faultstring``."""

    code: str
    text: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An answer that is neither a result of the expected interaction nor a fault."""

    reason: str


def response(interaction: Interaction, result: Result) -> bytes:
    """The responder's answer as Inera's services write it: the response element in the
    responder namespace, ``result``'s children in the core namespace."""
    nsmap = cast("dict[str, str]", {"soap": SOAP_ENV, "ns2": interaction.namespace, None: CORE})
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=nsmap)  # lxml-stubs: no None prefix
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    answer = etree.SubElement(body, interaction.response_tag)
    res = etree.SubElement(answer, f"{{{interaction.namespace}}}result")
    etree.SubElement(res, f"{{{CORE}}}resultCode").text = result.code.value
    if result.text is not None:
        etree.SubElement(res, f"{{{CORE}}}resultText").text = result.text
    if result.error_id is not None:
        etree.SubElement(res, f"{{{CORE}}}errorId").text = result.error_id.value
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault(code: str, text: str) -> bytes:
    """A SOAP 1.1 fault (``soap:Client`` for a bad request, ``soap:Server`` for ours)."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    flt = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(flt, "faultcode").text = code
    etree.SubElement(flt, "faultstring").text = text
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _body(root: etree._Element) -> etree._Element | None:
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        return None
    bodies = [c for c in root if c.tag == f"{{{SOAP_ENV}}}Body"]
    if len(bodies) != 1:
        return None
    children = [c for c in bodies[0] if isinstance(c.tag, str)]
    return children[0] if len(children) == 1 else None


def _text(parent: etree._Element, tag: str) -> str | None:
    found = [c for c in parent if c.tag == tag]
    if len(found) != 1:
        return None
    return (found[0].text or "").strip()


def read_answer(data: bytes, interaction: Interaction) -> Result | Fault | Unreadable:
    """The result (or fault) in a responder's answer to ``interaction``. Names are matched
    with their namespaces, exactly: an answer of another interaction or version, two
    results, or an unknown code is :class:`Unreadable`, never guessed at."""
    if len(data) > MAX_ANSWER_BYTES:
        return Unreadable(f"answer of {len(data)} bytes; at most {MAX_ANSWER_BYTES} are read")
    safe = parse_xml(data)
    if safe.root is None:
        first = safe.issues[0]
        return Unreadable(f"answer is not readable XML ({first.code}: {first.message})")
    payload = _body(safe.root)
    if payload is None:
        return Unreadable("answer is not a SOAP 1.1 envelope with one body element")
    if payload.tag == f"{{{SOAP_ENV}}}Fault":
        return Fault(_text(payload, "faultcode") or "?", _text(payload, "faultstring") or "")
    if payload.tag != interaction.response_tag:
        return Unreadable(
            f"answer is <{etree.QName(payload).localname}>, expected "
            f"<{interaction.name}Response> in {interaction.namespace}"
        )
    results = [c for c in payload if c.tag == f"{{{interaction.namespace}}}result"]
    if len(results) != 1:
        return Unreadable("answer has no single result element")
    result = results[0]
    code = _text(result, f"{{{CORE}}}resultCode")
    if code is None or code not in ResultCode.__members__:
        return Unreadable(f"resultCode {code!r} is not OK, INFO or ERROR")
    error = _text(result, f"{{{CORE}}}errorId")
    if error is not None and error not in ErrorId.__members__:
        return Unreadable(f"errorId {error!r} is not one of ResultType's")
    return Result(
        ResultCode(code),
        ErrorId(error) if error is not None else None,
        _text(result, f"{{{CORE}}}resultText"),
    )


@dataclass(frozen=True, slots=True)
class Request:
    """A RIVTA request as a responder reads it: the logical address, the interaction and its
    request element (still in the parsed envelope)."""

    logical_address: str | None
    interaction: Interaction
    element: etree._Element


def read_request(data: bytes) -> Request | Fault:
    """A SOAP request for one of :data:`INTERACTIONS`, or the fault to answer with."""
    safe = parse_xml(data)
    if safe.root is None:
        first = safe.issues[0]
        return Fault("soap:Client", f"{first.code}: {first.message}")
    element = _body(safe.root)
    if element is None:
        return Fault("soap:Client", "not a SOAP 1.1 envelope with one body element")
    interaction = INTERACTIONS.get(element.tag) if isinstance(element.tag, str) else None
    if interaction is None:
        return Fault("soap:Client", f"no such operation: {etree.QName(element).localname}")
    address = None
    for header in safe.root.iterchildren(f"{{{SOAP_ENV}}}Header"):
        address = _text(header, f"{{{REGISTRY}}}LogicalAddress") or address
    return Request(address, interaction, element)
