"""`validate` reads SendMessageToRecipient v2 (format rivta-message): our own XSD agrees with
Inera's on every sample and every one-element change of them, what the gateway writes reads
back valid, and the §4 content rules name what differs from SKR's shape."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from conftest import RIVTA, SAMPLES
from hypothesis import given, settings
from lxml import etree
from strategies_plans import section4_notifications

from gateway import FIXTURES_DIR
from gateway.documents.section4 import Section4Notification
from gateway.formats.base import CannotRender, Format
from gateway.formats.ownxml.section4 import Section4XmlCodec
from gateway.formats.registry import Detected, detect
from gateway.formats.rivta.send_message import render_send_message
from gateway.formats.rivta.send_message_reader import SCHEMA_PATH
from gateway.formats.xsd import load_schema
from gateway.validation.service import Validation, validate_bytes

INERA_XSD = (
    RIVTA / "interactions" / "SendMessageToRecipientInteraction"
    / "SendMessageToRecipientResponder_2.1.xsd"
)  # fmt: skip
KOMPLT = SAMPLES / "sendMessageToRecipient-v2-KOMPLT.xml"
OVRIGT_SOAP = SAMPLES / "sendMessageToRecipient-v2-OVRIGT.soap.xml"
STATEMENT_LINE = "Behov av rehabiliteringsåtgärder enligt 30 kap. SFB"


def _notifications() -> list[Section4Notification]:
    out = []
    for path in sorted((FIXTURES_DIR / "section4-notification").glob("*.xml")):
        doc = Section4XmlCodec().parse(path.read_bytes()).document
        if doc is not None:
            out.append(doc)
    return out


def _ours() -> list[bytes]:
    """Every §4 fixture the gateway can send as SendMessageToRecipient, as it writes it."""
    out = []
    for n in _notifications():
        try:
            out.append(render_send_message(n))
        except CannotRender:
            continue
    return out


def _body(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    if etree.QName(root).localname == "Envelope":
        body = root.find("{*}Body")
        assert body is not None
        return body[0]
    return root


def _samples() -> list[etree._Element]:
    return [_body(KOMPLT.read_bytes()), _body(OVRIGT_SOAP.read_bytes()), *map(_body, _ours())]


def _variants(root: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """The sample, and each element removed or given a wrong text, one at a time."""
    yield "as is", root
    for i, el in enumerate(root.iter()):
        if el is root or not isinstance(el.tag, str):
            continue
        removed = copy.deepcopy(root)
        target = list(removed.iter())[i]
        parent = target.getparent()
        assert parent is not None
        parent.remove(target)
        yield f"without {etree.QName(el).localname}", removed
        if len(el) == 0:
            wrong = copy.deepcopy(root)
            list(wrong.iter())[i].text = "x"
            yield f"{etree.QName(el).localname} = 'x'", wrong


def test_there_are_samples_of_inera_and_of_ours() -> None:
    assert len(_ours()) >= 1
    assert len(_samples()) == 2 + len(_ours())


@pytest.mark.parametrize("index", range(3))
def test_our_schema_agrees_with_ineras_on_every_sample_and_change(index: int) -> None:
    ours, inera = load_schema(SCHEMA_PATH), load_schema(INERA_XSD)
    sample = _samples()[index]
    verdicts = {True: 0, False: 0}
    for what, variant in _variants(sample):
        verdict = inera.validate(variant)
        assert ours.validate(variant) == verdict, (what, str(inera.error_log))
        verdicts[verdict] += 1
    assert verdicts[True] >= 1 and verdicts[False] >= 10  # both verdicts were exercised


def _validate(data: bytes) -> Validation:
    return validate_bytes(data, source="message.xml")


def _codes(v: Validation) -> list[str]:
    return [i.code for i in v.issues]


def test_detection_knows_the_message_bare_and_in_soap() -> None:
    for path in (KOMPLT, OVRIGT_SOAP):
        detected = detect(path.read_bytes())
        assert isinstance(detected, Detected)
        assert detected.format is Format.RIVTA_MESSAGE


def test_ineras_komplt_sample_is_schema_valid_but_no_section4_notification() -> None:
    v = _validate(KOMPLT.read_bytes())
    assert (v.valid, str(v.format), _codes(v)) == (False, "rivta-message", ["S4MSG-SUBJECT"])
    assert v.issues[0].location.line == 16
    assert "'KOMPLT'" in v.issues[0].message


def test_ineras_ovrigt_sample_names_heading_and_text() -> None:
    v = _validate(OVRIGT_SOAP.read_bytes())
    assert _codes(v) == ["S4MSG-HEADING", "S4MSG-TEXT"]
    assert v.issues[1].location.path.endswith("/SendMessageToRecipient/meddelande")


def test_every_message_the_gateway_writes_reads_back_valid() -> None:
    for n in _notifications():
        try:
            data = render_send_message(n)
        except CannotRender:
            continue
        v = _validate(data)
        assert v.valid, v.issues
        assert all(i.code != "S4-CONSENT-MISSING" for i in v.issues)  # none travels in it
        doc = v.document
        assert isinstance(doc, Section4Notification)
        assert (doc.patient.id, doc.certificate_id, doc.unit.id) == (
            n.patient.id,
            n.certificate_id,
            n.unit.id,
        )
        assert (doc.coordinator.phone, doc.coordinator.email) == (
            n.coordinator.phone,
            n.coordinator.email,
        )


@settings(max_examples=30, deadline=None)
@given(section4_notifications(renderable=True))
def test_every_renderable_notification_reads_back_with_its_patient(
    n: Section4Notification,
) -> None:
    v = _validate(render_send_message(n))
    assert "XSD-INVALID" not in _codes(v)
    assert not {c for c in _codes(v) if c.startswith("S4MSG-")}
    assert isinstance(v.document, Section4Notification)
    assert v.document.patient.id == n.patient.id


def _message() -> bytes:
    return next(iter(_ours()))


def _edit_text(data: bytes, old: str, new: str) -> bytes:
    text = data.decode()
    assert old in text
    return text.replace(old, new, 1).encode()


def test_a_line_beyond_skrs_items_is_extra_text() -> None:
    data = _message()
    changed = _edit_text(data, "</ns2:meddelande>", "\nDiagnos: F32.1</ns2:meddelande>")
    assert _codes(_validate(changed)) == ["S4MSG-EXTRA-TEXT"]


def test_another_patient_in_the_text_is_named() -> None:
    data = _message()
    n = _body(data)
    pid = n.find("{*}patientPerson-id/{*}extension")
    assert pid is not None and pid.text
    changed = _edit_text(data, f", {pid.text}\n", ", 201212121212\n")
    assert "S4MSG-PATIENT" in _codes(_validate(changed))


def test_a_reworded_heading_is_named() -> None:
    changed = _edit_text(_message(), f"<ns2:rubrik>{STATEMENT_LINE}", "<ns2:rubrik>Info")
    assert _codes(_validate(changed)) == ["S4MSG-HEADING"]


def test_a_text_without_the_statement_is_not_read() -> None:
    changed = _edit_text(_message(), f"<ns2:meddelande>{STATEMENT_LINE}", "<ns2:meddelande>Hej")
    v = _validate(changed)
    assert (_codes(v), v.document) == (["S4MSG-TEXT"], None)
