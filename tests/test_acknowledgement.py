"""Försäkringskassan's acknowledgement of a §4 notification, a kind of its own: own XML, FHIR
(a Task), and RIVTA SendMessageToCare v2 - the case communication the other way - checked
against Inera's own schema; its rules; its route to the region only."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import RIVTA
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway import FIXTURES_DIR, SCHEMAS_DIR
from gateway.cli.main import main
from gateway.documents.acknowledgement import HandlingStatus, Outcome, Section4Acknowledgement
from gateway.documents.common import Contact, Identifier, Organisation, Person, PersonName
from gateway.formats.base import CannotRender, Format
from gateway.formats.registry import detect, render
from gateway.transfer import prepare
from gateway.validation.service import validate_bytes

INERA = RIVTA / "interactions/SendMessageToCareInteraction/SendMessageToCareResponder_2.0.xsd"
FOLDER = FIXTURES_DIR / "section4-acknowledgement"
VALID = sorted(
    p
    for p in FOLDER.glob("*valid-*")
    if "invalid" not in p.name and ".expected" not in p.name and ".redaction." not in p.name
)


@pytest.fixture(scope="module")
def inera() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(INERA), parser))


def _document(path: Path) -> Section4Acknowledgement:
    v = validate_bytes(path.read_bytes())
    assert v.valid and isinstance(v.document, Section4Acknowledgement), (path, v.issues)
    return v.document


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_valid_fixture_as_send_message_to_care_passes_ineras_schema(
    path: Path, inera: etree.XMLSchema
) -> None:
    ack = _document(path)
    data = render(ack, Format.RIVTA_MESSAGE)
    root = etree.fromstring(data)
    assert inera.validate(root), inera.error_log
    back = validate_bytes(data)
    assert back.valid and back.format is Format.RIVTA_MESSAGE
    doc = back.document
    assert isinstance(doc, Section4Acknowledgement)
    # what SendMessageToCare carries comes back exactly
    for name in (
        "id",
        "notification_id",
        "sent_at",
        "received_at",
        "status",
        "handled_at",
        "outcome",
        "patient_informed",
        "certificate_id",
        "note",
    ):
        assert getattr(doc, name) == getattr(ack, name), name
    assert doc.patient.id == ack.patient.id and doc.recipient.id == ack.recipient.id
    assert render(doc, Format.RIVTA_MESSAGE) == data  # a fixed point


def test_detection_tells_the_two_directions_apart() -> None:
    notification = FIXTURES_DIR / "section4-notification/valid-refers-to-certificate.xml"
    n = validate_bytes(notification.read_bytes()).document
    assert n is not None
    to_fk = detect(render(n, Format.RIVTA_MESSAGE))
    soap = (FOLDER / "rivta-valid-soap-received-not-yet-handled.xml").read_bytes()
    back = detect(soap)
    assert (to_fk.kind, back.kind) == ("section4-notification", "section4-acknowledgement")  # type: ignore[union-attr]


def test_without_a_certificate_it_cannot_travel_as_rivta() -> None:
    ack = _document(FOLDER / "valid-handled-coordination.xml")
    with pytest.raises(CannotRender, match="certificateId"):
        render(ack.model_copy(update={"certificate_id": None}), Format.RIVTA_MESSAGE)


def test_it_goes_to_the_region_and_to_no_employer() -> None:
    ack = _document(FOLDER / "valid-handled-no-need-patient-told.xml")
    at = datetime(2025, 3, 21)
    region = prepare(ack, "region", at=at, to=Format.FHIR_JSON)
    assert not region.refused and region.payload is not None
    employer = prepare(ack, "employer", at=at, to=Format.FHIR_JSON)
    assert employer.refused
    assert [e["code"] for e in employer.policy.report_dicts()] == ["POLICY-RECIPIENT-NOT-PERMITTED"]


def test_convert_to_rivta_message_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ack.xml"
    src = FOLDER / "fhir-valid-handled-no-need-patient-told.fhir.json"
    assert main(["convert", str(src), "--to", "rivta-message", "--output", str(out)]) == 0
    assert etree.fromstring(out.read_bytes()).tag.endswith("}SendMessageToCare")
    capsys.readouterr()


def test_the_schemas_enumerations_match_the_model() -> None:
    xs = "{http://www.w3.org/2001/XMLSchema}"
    tree = etree.parse(str(SCHEMAS_DIR / "section4-acknowledgement-v1.xsd"))

    def values(name: str) -> set[str]:
        (t,) = [t for t in tree.iter(f"{xs}simpleType") if t.get("name") == name]
        return {str(e.get("value")) for e in t.iter(f"{xs}enumeration")}

    assert values("HandlingStatusType") == set(HandlingStatus)
    assert values("OutcomeType") == set(Outcome)


texts = (
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
moments = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)).map(
    lambda t: t.replace(microsecond=0)
)


@st.composite
def acknowledgements(draw: st.DrawFn) -> Section4Acknowledgement:
    received = draw(moments)
    handled = draw(st.booleans())
    outcome = draw(st.sampled_from(Outcome)) if handled else None
    informed = draw(st.booleans()) if outcome is Outcome.NO_NEED else None
    handled_at = received + timedelta(days=draw(st.integers(0, 60))) if handled else None
    return Section4Acknowledgement(
        id=draw(texts),
        notification_id=draw(texts),
        sent_at=(handled_at or received) + timedelta(hours=draw(st.integers(0, 48))),
        patient=Person(
            id=Identifier(system="1.2.752.129.2.1.3.1", value="191212121212"),
            name=PersonName(given=draw(texts), family=draw(texts)),
        ),
        sender=Organisation(
            id=Identifier(system="2.5.4.97", value="202100-5521"), name="Försäkringskassan"
        ),
        recipient=Organisation(
            id=Identifier(system="1.2.752.129.2.1.4.1", value="TSTNMT2321000156-ALMC"),
            name=draw(texts),
        ),
        received_at=received,
        status=HandlingStatus.HANDLED if handled else HandlingStatus.RECEIVED,
        handled_at=handled_at,
        outcome=outcome,
        patient_informed=informed,
        case_officer=draw(
            st.none() | st.builds(Contact, name=texts, phone=st.just("010-123 45 67"))
        ),
        certificate_id=Identifier(system="TSTNMT2321000156-ALMC", value=draw(texts)),
        note=draw(st.none() | texts),
    )


@given(acknowledgements())
def test_round_trips_are_lossless_and_the_verdict_is_the_same(ack: Section4Acknowledgement) -> None:
    verdicts = set()
    for fmt in (Format.XML, Format.FHIR_JSON, Format.FHIR_XML):
        back = validate_bytes(render(ack, fmt))
        assert back.document == ack, fmt
        verdicts.add((back.valid, tuple(sorted(i.code for i in back.issues))))
    rivta = validate_bytes(render(ack, Format.RIVTA_MESSAGE))
    assert isinstance(rivta.document, Section4Acknowledgement)
    assert rivta.document.note == (" ".join(ack.note.splitlines()) if ack.note else None)
    assert rivta.document.outcome == ack.outcome and rivta.document.status == ack.status
    assert len(verdicts) == 1 and next(iter(verdicts))[0]
