"""The FHIR messaging envelope: wrap, unwrap, route, and locate issues in the message."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_certificate import fk7804
from strategies_plans import return_to_work_plans, section4_notifications, sips
from test_fhir_plans import local_time

from gateway import FIXTURES_DIR
from gateway.documents import Document, DocumentKind, Recipient
from gateway.formats.fhir.codec import FhirJsonCodec, FhirXmlCodec, read_tree
from gateway.formats.fhir.conformance import strict_issues
from gateway.formats.fhir.envelope import (
    EVENT_SYSTEM,
    RECIPIENT_ENDPOINT,
    SENDER_ENDPOINT,
    unwrap_message,
    wrap_message,
)
from gateway.formats.fhir.xml import parse_fhir_xml, render_fhir_xml
from gateway.validation.engine import check_document

JSON = FhirJsonCodec()
SENDER = "SE2321000016-15CJ"
PLANS = {
    DocumentKind.SIP: sips(),
    DocumentKind.RETURN_TO_WORK_PLAN: return_to_work_plans(),
    DocumentKind.SECTION4_NOTIFICATION: section4_notifications(),
}
recipients = st.lists(st.sampled_from(list(Recipient)), min_size=1, max_size=3, unique=True)


def documents() -> st.SearchStrategy[Document]:
    plans = st.one_of(*(s.map(local_time) for s in PLANS.values()))
    return st.one_of(plans, st.just(fk7804()))


@settings(max_examples=40)
@given(doc=documents(), to=recipients)
def test_unwrap_gives_back_what_was_wrapped(doc: Document, to: list[Recipient]) -> None:
    message = wrap_message(JSON.to_tree(doc), doc.kind, SENDER, to)
    envelope, payload, issues = unwrap_message(message)
    assert issues == []
    assert envelope is not None and payload is not None
    assert (envelope.kind, envelope.destinations) == (doc.kind, tuple(to))
    assert (envelope.source, envelope.source_name) == (SENDER_ENDPOINT + SENDER, SENDER)
    result = read_tree(payload, doc.kind)
    assert result.issues == []
    assert result.document == doc


@settings(max_examples=15)
@given(doc=documents(), to=recipients)
def test_every_message_is_valid_base_r4_and_survives_fhir_xml(
    doc: Document, to: list[Recipient]
) -> None:
    message = wrap_message(JSON.to_tree(doc), doc.kind, "https://sender.example/fhir", to)
    if doc.kind is DocumentKind.CERTIFICATE:  # plans: strictness is shown in test_fhir_plans
        assert strict_issues(message) == []
    tree, issues, _lines = parse_fhir_xml(render_fhir_xml(message))
    assert issues == []
    assert tree == message


def test_the_header_names_event_source_destinations_and_focus() -> None:
    doc = fk7804()
    message = wrap_message(JSON.to_tree(doc), "certificate", SENDER, ["employer"])
    header = message["entry"][0]["resource"]
    assert message["type"] == "message"
    assert header["eventCoding"] == {"system": EVENT_SYSTEM, "code": "certificate"}
    assert header["destination"][0]["endpoint"] == RECIPIENT_ENDPOINT + "employer"
    assert header["focus"] == [{"reference": message["entry"][1]["fullUrl"]}]
    assert message["entry"][1]["resource"]["type"] == "document"


def plan_message() -> dict[str, Any]:
    from test_fhir_plans import FULL

    doc = FULL[DocumentKind.SIP]
    return wrap_message(JSON.to_tree(doc), DocumentKind.SIP, SENDER, ["region", "municipality"])


def test_issues_in_the_payload_are_located_in_the_message() -> None:
    message = plan_message()
    patient = message["entry"][2]["resource"]
    assert patient["resourceType"] == "Patient"
    patient["identifier"][0]["value"] = "191212121213"  # wrong check digit
    envelope, payload, issues = unwrap_message(message)
    assert issues == [] and envelope is not None and payload is not None
    result = read_tree(payload)
    assert result.document is not None
    found = envelope.relocate_issues(check_document(result.document, result.source_map))
    codes = [(i.code, i.location.path) for i in found]
    assert ("ID-PERSON-CHECKSUM", "Bundle.entry[2].resource.identifier[0].value") in codes


def test_entries_after_a_malformed_one_keep_their_numbers() -> None:
    message = plan_message()
    message["entry"].insert(1, None)  # skipped (reported): the focus is now entry 2
    envelope, payload, issues = unwrap_message(message)
    assert [(i.code, i.location.path) for i in issues] == [("FHIR-STRUCTURE", "Bundle.entry[1]")]
    assert envelope is not None and payload is not None
    assert payload["entry"][0] is message["entry"][2]
    assert envelope.relocate("Bundle.entry[0].resource") == "Bundle.entry[2].resource"
    assert envelope.relocate("Bundle.entry[1].resource") == "Bundle.entry[3].resource"


def test_a_certificate_payload_is_relocated_below_its_entry() -> None:
    message = wrap_message(JSON.to_tree(fk7804()), "certificate", SENDER, ["forsakringskassan"])
    envelope, _payload, _issues = unwrap_message(message)
    assert envelope is not None
    assert envelope.relocate("Bundle.entry[3].resource") == (
        "Bundle.entry[1].resource.entry[3].resource"
    )


def test_a_plan_message_is_also_read_directly_by_the_fhir_codec() -> None:
    from test_fhir_plans import FULL

    message = plan_message()
    for codec in (JSON, FhirXmlCodec()):
        data = codec.render(FULL[DocumentKind.SIP])
        assert codec.parse(data).document == FULL[DocumentKind.SIP]
    assert read_tree(message).document == FULL[DocumentKind.SIP]


def broken(edit: str) -> list[tuple[str, str]]:
    message = copy.deepcopy(plan_message())
    header = message["entry"][0]["resource"]
    if edit == "not-a-message":
        message["type"] = "collection"
    elif edit == "no-header":
        message["entry"] = message["entry"][1:]
    elif edit == "unknown-event":
        header["eventCoding"]["code"] = "referral"
    elif edit == "event-mismatch":
        header["eventCoding"]["code"] = "section4-notification"
    elif edit == "focus-outside":
        header["focus"][0]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    elif edit == "unknown-destination":
        header["destination"][1]["receiver"]["identifier"]["value"] = "police"
    elif edit == "no-destination":
        del header["destination"]
    elif edit == "no-source":
        del header["source"]
    elif edit == "entry-not-an-object":  # entry numbers still name the entries after it
        message["entry"].insert(1, 5)
    elif edit == "header-not-an-object":
        message["entry"][0] = "MessageHeader"
    envelope, payload, issues = unwrap_message(message)
    routable = envelope is not None and payload is not None
    return [(i.code, i.location.path) for i in issues] + [("routable", str(routable))]


H = "Bundle.entry[0].resource"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("not-a-message", [("FHIR-STRUCTURE", "Bundle.type"), ("routable", "False")]),
        ("no-header", [("FHIR-REQUIRED", H), ("routable", "False")]),
        ("unknown-event", [("FHIR-SYSTEM", f"{H}.eventCoding"), ("routable", "False")]),
        ("event-mismatch", [("FHIR-UNKNOWN-KIND", f"{H}.focus[0]"), ("routable", "False")]),
        ("focus-outside", [("FHIR-REFERENCE", f"{H}.focus[0].reference"), ("routable", "False")]),
        (
            "unknown-destination",
            [("FHIR-SYSTEM", f"{H}.destination[1].receiver.identifier"), ("routable", "True")],
        ),
        ("no-destination", [("FHIR-REQUIRED", f"{H}.destination"), ("routable", "True")]),
        ("no-source", [("FHIR-REQUIRED", f"{H}.source"), ("routable", "True")]),
        ("entry-not-an-object", [("FHIR-STRUCTURE", "Bundle.entry[1]"), ("routable", "True")]),
        (
            "header-not-an-object",
            [("FHIR-STRUCTURE", "Bundle.entry[0]"), ("FHIR-REQUIRED", H), ("routable", "False")],
        ),
    ],
)
def test_broken_envelopes_give_exact_issues(edit: str, expected: list[tuple[str, str]]) -> None:
    assert broken(edit) == expected


def test_a_certificate_travels_in_a_message_and_issues_name_the_message_path() -> None:
    """The codec unwraps a message Bundle of any kind; locations point into the message."""
    from gateway.validation.service import validate_bytes

    single = FIXTURES_DIR / "certificate" / "fk7804-fhir-person-checksum.fhir.json"
    message = FIXTURES_DIR / "certificate" / "fk7804-fhir-message-person-checksum.fhir.json"
    alone, wrapped = validate_bytes(single.read_bytes()), validate_bytes(message.read_bytes())
    assert wrapped.document == alone.document
    assert [(i.code, i.location.path) for i in wrapped.issues] == [
        ("ID-PERSON-CHECKSUM", "Bundle.entry[1].resource.entry[1].resource.identifier[0].value")
    ]
