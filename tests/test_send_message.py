"""A §4 notification as RIVTA SendMessageToRecipient v2: valid against Inera's XSD, the subject
and phrases SKR prescribes, and nothing else of the notification."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from strategies_plans import section4_notifications

from gateway import FIXTURES_DIR, PROJECT_ROOT
from gateway.documents.common import Code
from gateway.documents.section4 import CONTACT_HEADING, STATEMENT, Section4Notification
from gateway.formats.base import CannotRender
from gateway.formats.ownxml.section4 import Section4XmlCodec
from gateway.formats.rivta.namespaces import SEND_MESSAGE_TO_RECIPIENT, TYPES
from gateway.formats.rivta.send_message import render_send_message
from gateway.formats.xsd import load_schema

INTEROP = Path(PROJECT_ROOT).parent / "shared" / "interop"
XSD = (
    INTEROP / "rivta" / "interactions" / "SendMessageToRecipientInteraction"
    / "SendMessageToRecipientResponder_2.1.xsd"
)  # fmt: skip
SAMPLE = INTEROP / "sklintyg" / "sendMessageToRecipient-v2-OVRIGT.soap.xml"
TNS = f"{{{SEND_MESSAGE_TO_RECIPIENT}}}"
T = f"{{{TYPES}}}"


def _fixture(name: str) -> Section4Notification:
    path = FIXTURES_DIR / "section4-notification" / f"{name}.xml"
    parsed = Section4XmlCodec().parse(path.read_bytes())
    assert parsed.document is not None
    return parsed.document


@pytest.fixture
def notification() -> Section4Notification:
    return _fixture("valid-refers-to-certificate")


def _root(n: Section4Notification, **kw: str) -> etree._Element:
    return etree.fromstring(render_send_message(n, **kw))


def test_valid_against_ineras_schema(notification: Section4Notification) -> None:
    schema = load_schema(XSD)
    assert schema.validate(_root(notification)), schema.error_log


@settings(max_examples=50, deadline=None)
@given(section4_notifications(renderable=True))
def test_every_renderable_notification_is_schema_valid(n: Section4Notification) -> None:
    schema = load_schema(XSD)
    assert schema.validate(_root(n)), schema.error_log


def test_content_is_skrs_phrases_patient_and_coordinator(
    notification: Section4Notification,
) -> None:
    root = _root(notification)
    assert root.findtext(f"{TNS}meddelande-id") == "s4-2025-0002"
    assert root.findtext(f"{TNS}skickatTidpunkt") == "2025-04-10T14:05:00"
    assert root.findtext(f"{TNS}intygs-id/{T}root") == "TSTNMT2321000156-ALMC"
    assert root.findtext(f"{TNS}intygs-id/{T}extension") == "9f02dd2f-f57c-4a73-8190-2fe602bd6ed1"
    assert root.findtext(f"{TNS}patientPerson-id/{T}extension") == "191212121212"
    assert root.findtext(f"{TNS}logiskAdressMottagare") == "2021005521"
    assert root.findtext(f"{TNS}amne/{T}code") == "OVRIGT"
    assert root.findtext(f"{TNS}amne/{T}codeSystem") == "ffa59d8f-8d7e-46ae-ac9e-31804e8e8499"
    assert root.findtext(f"{TNS}rubrik") == STATEMENT
    assert root.findtext(f"{TNS}meddelande") == "\n".join(
        [
            STATEMENT,
            "Patient: Tolvan Tolvansson, 191212121212",
            f"{CONTACT_HEADING}:",
            "Rehabiliteringskoordinator, Vårdcentralen Ekbacken",
            "Rehabiliteringskoordinator",
            "Telefon: 010-123 45 67",
            "E-post: rehab.ekbacken@regiontestlan.example",
        ]
    )
    sender = root.find(f"{TNS}skickatAv")
    assert sender is not None
    assert [etree.QName(el).localname for el in sender] == [
        "personal-id", "fullstandigtNamn", "enhet"
    ]  # fmt: skip


def test_same_shape_as_ineras_sample(notification: Section4Notification) -> None:
    sample = etree.parse(str(SAMPLE)).getroot()
    body = sample.find(f".//{TNS}SendMessageToRecipient")
    assert body is not None

    def shape(el: etree._Element) -> list[str]:
        return [etree.QName(child).localname for child in el]

    ours = _root(notification)
    assert shape(ours) == shape(body)
    assert shape(ours.find(f"{TNS}amne")) == shape(body.find(f"{TNS}amne"))  # type: ignore[arg-type]


def test_message_id_and_recipient_can_be_given(notification: Section4Notification) -> None:
    root = _root(notification, message_id="msg-1", recipient="FK")
    assert root.findtext(f"{TNS}meddelande-id") == "msg-1"
    assert root.findtext(f"{TNS}logiskAdressMottagare") == "FK"


def test_time_with_offset_is_written_as_swedish_time(notification: Section4Notification) -> None:
    n = notification.model_copy(update={"sent_at": datetime(2025, 1, 10, 12, 5, tzinfo=UTC)})
    assert _root(n).findtext(f"{TNS}skickatTidpunkt") == "2025-01-10T13:05:00"


@settings(max_examples=50, deadline=None)
@given(section4_notifications(renderable=True), st.sampled_from(["reason", "note", "diagnoses"]))
def test_nothing_beyond_skrs_content_leaves(n: Section4Notification, field: str) -> None:
    marker = "HEMLIGT-7f3a"
    value: object = [Code(code=marker, display=marker)] if field == "diagnoses" else marker
    n = n.model_copy(update={field: value})
    assert marker.encode() not in render_send_message(n)


@pytest.mark.parametrize(
    ("update", "missing"),
    [
        ({"certificate_id": None}, "certificateId"),
        ({"sent_by": None}, "sentBy"),
    ],
)
def test_cannot_render_without_certificate_or_sender(
    notification: Section4Notification, update: dict[str, object], missing: str
) -> None:
    with pytest.raises(CannotRender, match=missing) as raised:
        render_send_message(notification.model_copy(update=update))
    assert isinstance(raised.value, ValueError)
    assert "Tolvan" not in str(raised.value) and "191212121212" not in str(raised.value)


def test_plain_notification_cannot_render() -> None:
    with pytest.raises(CannotRender, match=r"certificateId.*sentBy"):
        render_send_message(_fixture("valid-notification"))
