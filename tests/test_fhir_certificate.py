"""The certificate in FHIR: lossless round trips, Inera's samples, strict base R4, shape checks."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import orjson
import pytest
from conftest import SAMPLES
from hypothesis import given
from hypothesis import strategies as st
from strategies_certificate import certificates, fk7804
from strategies_certificate_header import SIGNATURE

from gateway.documents.certificate import (
    Answer,
    Certificate,
    Quantity,
    Relation,
    Status,
    SubAnswer,
)
from gateway.documents.common import Address, Code, Contact, Identifier, Period, PersonName
from gateway.formats.fhir.codec import FhirJsonCodec, FhirXmlCodec, detect_kind
from gateway.formats.fhir.conformance import strict_issues
from gateway.formats.fhir.mapping import render_mapping_table
from gateway.formats.rivta.register_certificate import RegisterCertificateCodec
from gateway.validation.service import validate_bytes

JSON = FhirJsonCodec()
XML = FhirXmlCodec()
RIVTA = RegisterCertificateCodec()
SAMPLE_FILES = sorted(SAMPLES.glob("*.RegisterCertificate.xml"))

text = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "Zs"), exclude_characters="\x00"),
    max_size=20,
).map(str.strip)
codes = st.builds(
    Code,
    # FHIR's code grammar allows single spaces only; no code system here has others
    code=text.filter(bool).map(lambda s: " ".join(s.split())),
    system=st.none() | st.sampled_from(["KV_FKMU_0001", "1.2.752.129.2.2.1.4", "urn:x:y"]),
    display=st.none() | text.filter(bool),
)
times = st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1))
values = st.one_of(
    text,
    st.sampled_from(["true", "false", "1", "2016-08-01", "2016-02-30"]),
    codes,
    st.builds(
        Code, code=st.sampled_from(["F32.1", "M54"]), system=st.just("1.2.752.116.1.1.1.1.3")
    ),
    st.builds(Period, start=st.none() | st.dates(), end=st.none() | st.dates()),
    st.builds(Quantity, value=st.floats(-1e6, 1e6, allow_nan=False), unit=text.filter(bool)),
)
answers = st.lists(
    st.builds(
        Answer,
        id=st.sampled_from(["1", "6", "32", "40"]),
        instance=st.none() | st.integers(1, 9),
        parts=st.lists(st.builds(SubAnswer, id=st.sampled_from(["1.1", "6.2"]), value=values)),
    ),
    max_size=6,
)


@st.composite
def wild_certificates(draw: st.DrawFn) -> Certificate:
    """Certificates whose every optional field varies (not valid by business rules)."""
    base = draw(certificates())
    contact = st.builds(
        Contact,
        name=st.none() | text.filter(bool),
        role=st.none() | text.filter(bool),
        phone=st.none() | text.filter(bool),
        email=st.none() | text.filter(bool),
        address=st.none() | st.builds(Address, street=text, postal_code=text, city=text),
    )
    issuer = base.issuer
    unit = issuer.unit.model_copy(
        update={
            "phone": draw(text),
            "email": draw(st.none() | text.filter(bool)),
            "workplace_code": draw(
                st.none() | st.just(Identifier(system="1.2.752.29.4.71", value="1"))
            ),
            "care_provider": issuer.unit.care_provider.model_copy(
                update={"contact": draw(st.none() | contact), "name": draw(text)}
            ),
        }
    )
    issuer = issuer.model_copy(
        update={
            "unit": unit,
            "name": draw(text),
            "prescriber_code": draw(st.none() | text.filter(bool)),
            "positions": draw(st.lists(codes, max_size=2)),
            "specialities": draw(st.lists(codes, max_size=2)),
            "licensed_professions": draw(st.lists(codes, max_size=2)),
        }
    )
    patient = base.patient.model_copy(
        update={
            "name": PersonName(given=draw(text), family=draw(text), middle=draw(st.none() | text)),
            "address": draw(
                st.none() | st.builds(Address, street=text, postal_code=text, city=text)
            ),
        }
    )
    return base.model_copy(
        update={
            "signed_at": draw(st.none() | times),
            "sent_at": draw(st.none() | times),
            "patient": patient,
            "patient_address_source": draw(st.none() | codes),
            "issuer": issuer,
            "recipients": draw(st.lists(codes, max_size=2)),
            "relations": draw(
                st.lists(
                    st.builds(
                        Relation,
                        type=st.builds(Code, code=st.sampled_from(["ERSATT", "KOMPLT", "X"])),
                        certificate_id=st.builds(
                            Identifier, system=text.filter(bool), value=text.filter(bool)
                        ),
                    ),
                    max_size=2,
                )
            ),
            "statuses": draw(
                st.lists(st.builds(Status, part=codes, status=codes, at=times), max_size=2)
            ),
            "answers": base.answers + draw(answers),
            "signature": draw(st.none() | st.just(SIGNATURE)),
        }
    )


@given(wild_certificates())
def test_model_to_fhir_json_and_back_is_identity(cert: Certificate) -> None:
    parsed = JSON.parse(JSON.render(cert))
    assert parsed.document == cert


@given(wild_certificates())
def test_model_to_fhir_xml_and_back_is_identity(cert: Certificate) -> None:
    parsed = XML.parse(XML.render(cert))
    assert parsed.document == cert


@given(certificates())
def test_valid_certificates_stay_valid_through_fhir(cert: Certificate) -> None:
    for codec in (JSON, XML):
        result = validate_bytes(codec.render(cert))
        assert [i.code for i in result.issues] == []
        assert result.document == cert


@given(wild_certificates())
def test_every_fhir_output_is_valid_base_r4(cert: Certificate) -> None:
    assert strict_issues(JSON.to_tree(cert)) == []


def test_empty_middle_name_and_contact_texts_are_valid_base_r4() -> None:
    """FHIR has no empty strings: an empty middle name, contact role, name, phone or e-mail
    travels as a data-absent-reason (never ``""``, never ``_valueString`` in an extension)."""
    cert = fk7804()
    provider = cert.issuer.unit.care_provider.model_copy(
        update={"contact": Contact(role="", name="", phone="", email="")}
    )
    unit = cert.issuer.unit.model_copy(update={"care_provider": provider})
    cert = cert.model_copy(
        update={
            "patient": cert.patient.model_copy(
                update={"name": PersonName(given="Tolvan", family="Tolvansson", middle="")}
            ),
            "issuer": cert.issuer.model_copy(update={"unit": unit}),
        }
    )
    tree = JSON.to_tree(cert)
    assert strict_issues(tree) == []
    middle = _entry(tree, "Patient")["name"][0]["extension"][0]
    assert "valueString" not in middle and "_valueString" not in middle
    contact = next(e["resource"]["contact"][0] for e in tree["entry"] if "contact" in e["resource"])
    assert "text" not in contact["purpose"] and "text" not in contact["name"]
    for codec in (JSON, XML):
        parsed = codec.parse(codec.render(cert))
        assert parsed.issues == [] and parsed.document == cert


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_inera_sample_survives_rivta_fhir_rivta(path: Any) -> None:
    original = RIVTA.parse(path.read_bytes()).document
    assert original is not None
    for codec in (JSON, XML):
        back = codec.parse(codec.render(original))
        assert back.issues == []
        assert back.document == original
        again = RIVTA.parse(RIVTA.render(back.document))
        assert again.issues == [] and again.document == original
    assert strict_issues(JSON.to_tree(original)) == []


def test_sample_source_map_names_fhirpaths() -> None:
    cert = RIVTA.parse((SAMPLES / "fk7804-lisjp-v1-full.RegisterCertificate.xml").read_bytes())
    parsed = JSON.parse(JSON.render(cert.document))  # type: ignore[arg-type]
    sm = parsed.source_map
    assert (
        sm.locate(("patient", "id", "value")).path == "Bundle.entry[1].resource.identifier[0].value"
    )
    assert sm.locate(("answers", 0, "parts", 0, "value")).path == (
        "Bundle.entry[6].resource.item[0].item[0].answer[0].valueCoding"
    )
    six = next(i for i, a in enumerate(cert.document.answers) if a.id == "6")  # type: ignore[union-attr]
    assert sm.locate(("answers", six, "parts", 1, "value", "code")).path == (
        "Bundle.entry[7].resource.code.coding[0].code"
    )
    assert sm.locate(("issuer", "unit", "care_provider", "name")).path == (
        "Bundle.entry[5].resource.name"
    )


def _tree() -> dict[str, Any]:
    return JSON.to_tree(fk7804())


def _entry(tree: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in tree["entry"] if e["resource"]["resourceType"] == rtype)


def _codes(tree: dict[str, Any]) -> list[tuple[str, str]]:
    result = validate_bytes(orjson.dumps(tree))
    return [(i.code, i.location.path) for i in result.issues]


def test_shape_of_the_bundle() -> None:
    tree = _tree()
    assert tree["type"] == "document"
    assert [e["resource"]["resourceType"] for e in tree["entry"]][:7] == [
        "Composition",
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Organization",
        "QuestionnaireResponse",
    ]
    assert {e["resource"]["resourceType"] for e in tree["entry"][7:]} == {"Condition"}
    assert _entry(tree, "Patient")["identifier"] == [
        {"system": "http://electronichealth.se/identifier/personnummer", "value": "191212121212"}
    ]
    condition = _entry(tree, "Condition")
    assert condition["code"]["coding"][0]["system"] == "urn:oid:1.2.752.116.1.1.1"
    assert detect_kind(tree) is not None


def test_rivta_oids_are_accepted_and_normalised_to_hl7_sweden() -> None:
    tree = _tree()
    _entry(tree, "Patient")["identifier"][0]["system"] = "urn:oid:1.2.752.129.2.1.3.1"
    _entry(tree, "Practitioner")["identifier"][0]["system"] = "urn:oid:1.2.752.129.2.1.4.1"
    _entry(tree, "Condition")["code"]["coding"][0]["system"] = "urn:oid:1.2.752.116.1.1.1.1.8"
    parsed = JSON.parse(orjson.dumps(tree))
    assert parsed.issues == []
    assert parsed.document == fk7804()
    assert _entry(JSON.to_tree(parsed.document), "Patient")["identifier"][0]["system"] == (
        "http://electronichealth.se/identifier/personnummer"
    )


def test_unresolved_reference() -> None:
    tree = _tree()
    _entry(tree, "PractitionerRole")["organization"] = {"reference": "Organization/nope"}
    assert _codes(tree) == [("FHIR-REFERENCE", "Bundle.entry[3].resource.organization.reference")]


def test_reference_to_the_wrong_type() -> None:
    tree = _tree()
    comp = _entry(tree, "Composition")
    comp["subject"] = copy.deepcopy(comp["custodian"])
    assert _codes(tree) == [("FHIR-REFERENCE", "Bundle.entry[0].resource.subject.reference")]


def test_patient_identifier_in_a_foreign_system() -> None:
    tree = _tree()
    _entry(tree, "Patient")["identifier"][0]["system"] = "urn:oid:1.2.3"
    assert _codes(tree) == [
        ("FHIR-SYSTEM", "Bundle.entry[1].resource.identifier[0].system"),
        ("ID-PERSON-FORMAT", "Bundle.entry[1].resource.identifier[0].system"),
    ]


def test_required_by_profile() -> None:
    tree = _tree()
    del _entry(tree, "Condition")["subject"]
    del tree["identifier"]["value"]
    assert sorted(_codes(tree)) == [
        ("FHIR-REQUIRED", "Bundle.entry[7].resource.subject"),
        ("FHIR-REQUIRED", "Bundle.identifier.value"),
    ]


def test_wrong_json_types_are_reported_not_raised() -> None:
    tree = _tree()
    _entry(tree, "QuestionnaireResponse")["item"][0]["item"] = {"linkId": "1.1"}
    _entry(tree, "Patient")["name"][0]["family"] = 42
    assert sorted(_codes(tree)) == [
        ("CERT-PART-MISSING", "Bundle.entry[6].resource.item[0]"),  # the rules still run
        ("CERT-PART-MISSING", "Bundle.entry[6].resource.item[0]"),
        ("FHIR-STRUCTURE", "Bundle.entry[1].resource.name[0].family"),
        ("FHIR-STRUCTURE", "Bundle.entry[6].resource.item[0].item"),
    ]


def test_a_bundle_of_no_known_kind() -> None:
    result = validate_bytes(b'{"resourceType": "Bundle", "type": "collection"}')
    assert [i.code for i in result.issues] == ["FHIR-UNKNOWN-KIND"]


def test_render_mapping_table() -> None:
    table = render_mapping_table("certificate")
    assert table.startswith("# Medical certificate (FK7804, AG7804, AG1-14)\n")
    assert (
        "| `patient.id` | `/RegisterCertificate/intyg/patient/person-id` | `Patient.identifier` |"
        in table
    )
    assert "| `ERSATT` | `replaces` |" in table


def _with_prescriber() -> tuple[Any, dict[str, Any]]:
    cert = fk7804()
    cert = cert.model_copy(
        update={"issuer": cert.issuer.model_copy(update={"prescriber_code": "1234567"})}
    )
    return cert, JSON.to_tree(cert)


def test_the_prescriber_code_is_hl7_swedens_qualification_identifier() -> None:
    cert, tree = _with_prescriber()
    prac = _entry(tree, "Practitioner")
    assert [q["identifier"] for q in prac["qualification"] if "identifier" in q] == [
        [{"system": "urn:oid:1.2.752.116.3.1.2", "value": "1234567"}]
    ]
    assert [i["system"] for i in prac["identifier"]] == ["urn:oid:1.2.752.29.4.19"]
    assert JSON.parse(orjson.dumps(tree)).document == cert


def test_the_earlier_prescriber_form_is_still_read() -> None:
    cert, tree = _with_prescriber()
    prac = _entry(tree, "Practitioner")
    for q in prac["qualification"]:
        q.pop("identifier", None)
    prac["qualification"] = [q for q in prac["qualification"] if "coding" in q["code"]]
    if not prac["qualification"]:
        del prac["qualification"]
    old = {"system": "http://sjukskrivning-gateway.example/fhir/sid/forskrivarkod"}
    prac["identifier"].append({**old, "value": "1234567"})
    parsed = JSON.parse(orjson.dumps(tree))
    assert parsed.issues == []
    assert parsed.document == cert


def test_a_diagnosis_description_sent_as_an_answer_is_still_read() -> None:
    tree = _tree()
    cond = next(e for e in tree["entry"] if e["resource"]["resourceType"] == "Condition")
    text = cond["resource"]["code"].pop("text")
    qr = _entry(tree, "QuestionnaireResponse")
    item = next(i for q in qr["item"] for i in q["item"] if i["linkId"] == "6.1")
    item["answer"] = [{"valueString": text}]
    parsed = JSON.parse(orjson.dumps(tree))
    assert parsed.issues == []
    assert parsed.document == fk7804()


def test_a_description_without_its_code_round_trips_and_only_the_rules_object() -> None:
    cert = fk7804()
    answers = [
        a.model_copy(update={"parts": [p for p in a.parts if p.id != "6.2"]}) for a in cert.answers
    ]
    cert = cert.model_copy(update={"answers": answers})
    data = JSON.render(cert)
    tree = orjson.loads(data)
    conditions = [
        e["resource"] for e in tree["entry"] if e["resource"]["resourceType"] == "Condition"
    ]
    assert any("coding" not in c["code"] and c["code"]["text"] for c in conditions)
    parsed = JSON.parse(data)
    assert parsed.issues == [] and parsed.document == cert
    assert [i.code for i in validate_bytes(data).issues] == ["CERT-PART-MISSING"]
