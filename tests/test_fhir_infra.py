"""FHIR infrastructure: bounded loading, FHIR XML <-> JSON, the systems table, OperationOutcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from gateway.documents.issues import Issue, Location, Severity
from gateway.formats.fhir import systems
from gateway.formats.fhir.conformance import strict_issues
from gateway.formats.fhir.datatypes import parse_datetime, write_datetime
from gateway.formats.fhir.outcome import RULE_SYSTEM, operation_outcome
from gateway.formats.fhir.tree import load_json
from gateway.formats.fhir.xml import parse_fhir_xml, render_fhir_xml


def _codes(issues: list[Issue]) -> list[str]:
    return [i.code for i in issues]


def test_json_syntax_error_is_an_issue() -> None:
    tree, issues = load_json(b'{"resourceType": ')
    assert tree is None and _codes(issues) == ["FHIR-JSON-SYNTAX"]


def test_top_level_must_be_an_object() -> None:
    assert _codes(load_json(b"[1, 2]")[1]) == ["FHIR-JSON-SYNTAX"]


def test_size_bound() -> None:
    tree, issues = load_json(b"{}" + b" " * 100, max_bytes=50)
    assert tree is None and _codes(issues) == ["FHIR-LIMIT"]


def test_depth_bound_is_exact() -> None:
    def nested(levels: int) -> bytes:
        return b'{"a":' * (levels - 1) + b"{}" + b"}" * (levels - 1)

    assert load_json(nested(64))[1] == []
    assert _codes(load_json(nested(65))[1]) == ["FHIR-LIMIT"]
    assert _codes(load_json(b'{"a":' + b"[" * 200 + b"]" * 200 + b"}")[1]) == ["FHIR-LIMIT"]


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "text": {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Tolvan &amp; co</p></div>',
    },
    "extension": [{"url": "http://example.org/x", "valueCoding": {"code": "a"}}],
    "identifier": [{"system": "urn:oid:1.2.752.129.2.1.3.1", "value": "191212121212"}],
    "active": True,
    "name": [
        {
            "given": ["Tolvan", "Mellan"],
            "_given": [None, {"id": "g2", "extension": [{"url": "http://e", "valueInteger": 3}]}],
            "family": "Tolvansson",
        }
    ],
    "multipleBirthInteger": 2,
}


def test_fhir_xml_follows_the_xml_rules() -> None:
    xml = render_fhir_xml(PATIENT).decode()
    assert '<Patient xmlns="http://hl7.org/fhir">' in xml
    assert '<extension url="http://example.org/x">' in xml
    assert '<given id="g2" value="Mellan">' in xml
    assert '<active value="true"/>' in xml
    assert '<div xmlns="http://www.w3.org/1999/xhtml"><p>Tolvan &amp; co</p></div>' in xml
    # element order is FHIR's, not the JSON's
    assert xml.index("<identifier>") < xml.index("<active") < xml.index("<name>")


def test_fhir_xml_round_trip_with_lines() -> None:
    tree, issues, lines = parse_fhir_xml(render_fhir_xml(PATIENT))
    assert issues == []
    assert tree == PATIENT
    assert lines["Patient.name[0].given[1]"] == 21


def test_a_single_repeating_element_becomes_an_array() -> None:
    xml = b"""<Patient xmlns="http://hl7.org/fhir"><name><family value="T"/></name></Patient>"""
    tree, issues, _ = parse_fhir_xml(xml)
    assert issues == [] and tree == {"resourceType": "Patient", "name": [{"family": "T"}]}


def test_unknown_and_foreign_elements_are_reported() -> None:
    xml = b"""<Patient xmlns="http://hl7.org/fhir" xmlns:x="urn:x">
  <nickname value="T"/>
  <x:family value="T"/>
  <active value="true"/>
  <active value="false"/>
</Patient>"""
    tree, issues, _ = parse_fhir_xml(xml)
    assert [(i.code, i.location.path, i.location.line) for i in issues] == [
        ("FHIR-STRUCTURE", "Patient.nickname", 2),
        ("FHIR-STRUCTURE", "Patient.family", 3),
        ("FHIR-STRUCTURE", "Patient.active", 5),
    ]
    assert tree == {"resourceType": "Patient", "active": True}


def test_fhir_xml_is_parsed_hardened() -> None:
    xml = b'<!DOCTYPE x [<!ENTITY e "boom">]><Patient xmlns="http://hl7.org/fhir"/>'
    tree, issues, _ = parse_fhir_xml(xml)
    assert tree is None and _codes(issues) == ["XML-FORBIDDEN"]


def test_not_a_resource() -> None:
    tree, issues, _ = parse_fhir_xml(b'<Patientx xmlns="http://hl7.org/fhir"/>')
    assert tree is None and _codes(issues) == ["FHIR-STRUCTURE"]


def test_aliases_normalise_to_one_canonical_form() -> None:
    assert systems.to_model("http://electronichealth.se/identifier/personnummer") == (
        "1.2.752.129.2.1.3.1"
    )
    assert systems.to_model("urn:oid:1.2.752.29.4.19") == "1.2.752.129.2.1.4.1"
    for icd in ("urn:oid:1.2.752.116.1.1.1", "urn:oid:1.2.752.116.1.1.1.1.8"):
        assert systems.to_model(icd) == "1.2.752.116.1.1.1.1.3"
    assert systems.to_uri("1.2.752.116.1.1.1.1.3") == "urn:oid:1.2.752.116.1.1.1"
    assert systems.normalise("1.2.752.116.1.1.1") == "1.2.752.116.1.1.1.1.3"
    assert systems.to_uri("KV_FKMU_0003") == (
        "http://sjukskrivning-gateway.example/fhir/CodeSystem/KV_FKMU_0003"
    )
    assert systems.is_diagnosis("1.2.752.116.1.3.1.4.1")


model_systems = st.one_of(
    st.from_regex(r"\A[12](\.[1-9][0-9]{0,3}){1,8}\Z"),
    st.uuids().map(str),
    st.from_regex(r"\A[A-Z][A-Z0-9_]{0,12}\Z"),
    st.sampled_from([s.model for s in systems.SYSTEMS]),
)


@given(model_systems)
def test_to_model_inverts_to_uri(system: str) -> None:
    assert systems.to_model(systems.to_uri(system)) == system


def test_operation_outcome() -> None:
    issues = [
        Issue(Severity.ERROR, "FHIR-REQUIRED", Location("Bundle.entry[0].resource.status"), "m"),
        Issue(Severity.WARNING, "ID-PERSON-CHECKSUM", Location("/a/b", 12), "n"),
    ]
    outcome = operation_outcome(issues)
    assert outcome["issue"][0] == {
        "severity": "error",
        "code": "required",
        "details": {"coding": [{"system": RULE_SYSTEM, "code": "FHIR-REQUIRED"}]},
        "diagnostics": "m",
        "expression": ["Bundle.entry[0].resource.status"],
    }
    assert outcome["issue"][1]["location"] == ["/a/b"]
    assert outcome["issue"][1]["extension"][0]["valueInteger"] == 12
    assert strict_issues(outcome) == []
    assert strict_issues(operation_outcome([])) == []


def test_strict_mode_reports_base_r4_problems() -> None:
    bad = orjson.loads(b'{"resourceType": "Patient", "active": "yes", "nickname": "T"}')
    assert {i.code for i in strict_issues(bad)} == {"FHIR-BASE-R4"}


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
def test_local_times_round_trip_even_in_dst_gaps_and_folds(value: datetime) -> None:
    # regression: 2000-03-26 02:00 with fold=1 (inside the spring gap) came back as 01:00
    assert parse_datetime(write_datetime(value)) == value


def test_a_spring_gap_time_with_fold_round_trips() -> None:
    value = datetime(2000, 3, 26, 2, 0, fold=1)
    assert write_datetime(value) == "2000-03-26T02:00:00+01:00"
    assert parse_datetime(write_datetime(value)) == value


@given(st.text())
def test_uuid5_is_the_standard_librarys(name: str) -> None:
    import uuid

    from gateway.formats.fhir.bundles import uuid5_in

    for ns in (uuid.UUID("0b9c5f4e-6a0d-5c55-8f0e-3d2b1a9c7e42"), uuid.NAMESPACE_URL):
        assert uuid5_in(ns)(name) == str(uuid.uuid5(ns, name))
