"""The certificate question catalogue: conformance with Inera's Schematron and the accessors."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from lxml import etree
from strategies_certificate import ag114, ag7804, certificates, edit_part, fk7804

from gateway.documents.certificate import Certificate, CertificateType
from gateway.documents.common import Period
from gateway.documents.questions import (
    Diagnosis,
    SickLeavePeriod,
    ValueType,
    catalogue,
    diagnoses,
    diagnosis_part_ids,
    diagnosis_question_ids,
    field_name,
    parse_boolean,
    part,
    question,
    share_diagnosis,
    sick_leave_periods,
)
from gateway.formats.rivta.register_certificate import RegisterCertificateCodec

INTEROP = Path(__file__).resolve().parent.parent.parent / "shared" / "interop"
SCHEMATRON = {
    CertificateType.FK7804: INTEROP / "rivta" / "schematron" / "lisjp.v1.sch",
    CertificateType.AG7804: INTEROP / "rivta" / "schematron" / "ag7804.v1.sch",
    CertificateType.AG1_14: INTEROP / "rivta" / "schematron" / "ag114.v1.sch",
}
ISO = {"iso": "http://purl.oclc.org/dsdl/schematron"}
_EXTENDS = {
    "non-empty-string": ValueType.TEXT,
    "boolean": ValueType.BOOLEAN,
    "date": ValueType.DATE,
    "cv": ValueType.CODE,
    "period": ValueType.PERIOD,
    "pq": ValueType.QUANTITY,
}


def _rules(cert_type: CertificateType) -> list[tuple[str, etree._Element]]:
    """(context, rule element) of every concrete rule of the Schematron."""
    tree = etree.parse(str(SCHEMATRON[cert_type]))
    return [(r.get("context", ""), r) for r in tree.iterfind(".//iso:rule[@context]", ISO)]


def _last_id(context: str) -> str | None:
    ids = re.findall(r"@id\s*=\s*'([0-9.]+)'", context)
    return ids[-1] if ids else None


def _asserts(rule: etree._Element) -> list[str]:
    return [a.get("test", "") for a in rule.iterfind("iso:assert", ISO)]


TYPES = list(CertificateType)


@pytest.mark.parametrize("cert_type", TYPES)
def test_part_types_code_systems_and_value_sets_match_the_schematron(
    cert_type: CertificateType,
) -> None:
    checked = 0
    for context, rule in _rules(cert_type):
        if "gn:delsvar" not in context.rsplit("/", 1)[-1]:
            continue
        pid = _last_id(context)
        if pid is None or "matches" in context:  # conditional rules (q33.1-33.2, ...)
            continue
        spec = part(cert_type, pid)
        assert spec is not None, f"{cert_type} {pid} missing from the catalogue"
        for ext in rule.iterfind("iso:extends", ISO):
            assert spec.type is _EXTENDS[ext.get("rule", "")], pid
            checked += 1
        for test in _asserts(rule):
            system = re.search(r"tp:codeSystem = '([^']+)'", test)
            if system:
                assert spec.code_systems == {system.group(1)}, pid
            oids = re.search(r"tp:codeSystem\), '\(([^)]+)\)'\)", test)
            if oids:
                assert spec.code_systems == set(oids.group(1).split("|")), pid
            values = re.search(r"tp:cv/tp:code\), '\^\(([A-Z_|]+)\)\$'\)", test)
            if values:
                assert spec.codes == frozenset(values.group(1).split("|")), pid
            pattern = re.search(r"tp:cv/tp:code\),'(\^.+\$)'\)", test)
            if pattern:
                assert spec.code_pattern is not None and spec.code_pattern.pattern == pattern.group(
                    1
                ), pid
            length = re.search(r"string-length\(normalize-space\(tp:cv/tp:code\)\) le (\d+)", test)
            if length:
                assert spec.code_max_length == int(length.group(1)), pid
    assert checked > 5


@pytest.mark.parametrize("cert_type", TYPES)
def test_questions_parts_and_instances_match_the_schematron(cert_type: CertificateType) -> None:
    cat = catalogue(cert_type)
    with_instance: set[str] = set()
    for context, rule in _rules(cert_type):
        if not re.fullmatch(r"//gn:svar\[@id='[0-9]+'\]", context):
            continue
        qid = _last_id(context)
        assert qid is not None
        q = cat.question(qid)
        assert q is not None, f"{cert_type} question {qid} missing from the catalogue"
        for let in rule.iterfind("iso:let[@name='delsvarsIdExpr']", ISO):
            allowed = re.compile(let.get("value", "").strip("'"))
            candidates = {f"{qid}.{n}" for n in range(1, 10)} | set(q.parts)
            assert {c for c in candidates if allowed.match(c)} == set(q.parts), qid
        for test in _asserts(rule):
            if test == "count(gn:instans) = 1":
                with_instance.add(qid)
            required = re.fullmatch(r"count\(gn:delsvar\[@id='([0-9.]+)'\]\) = 1", test)
            if required:
                assert q.parts[required.group(1)].min == 1, required.group(1)
            optional = re.fullmatch(r"count\(gn:delsvar\[@id='([0-9.]+)'\]\) le 1", test)
            if optional:
                assert q.parts[optional.group(1)].min == 0, optional.group(1)
    assert with_instance == {q.id for q in cat.questions.values() if q.instance}


@pytest.mark.parametrize("cert_type", TYPES)
def test_question_counts_match_the_schematron(cert_type: CertificateType) -> None:
    cat = catalogue(cert_type)
    [intyg] = [r for c, r in _rules(cert_type) if c == "//rg:intyg"]
    for test in _asserts(intyg):
        at_most = re.fullmatch(r"count\(gn:svar\[@id='(\d+)'\]\) le (\d+)", test)
        if at_most:
            q = cat.question(at_most.group(1))
            if q is not None:  # 26 in AG7804's regex but not a question of it
                assert q.max == int(at_most.group(2)), test
        exactly = re.fullmatch(r"count\(gn:svar\[@id='(\d+)'\]\) = 1", test)
        if exactly:
            q = cat.question(exactly.group(1))
            assert q is not None and (q.min, q.max) == (1, 1), test
        svar_ids = intyg.find("iso:let[@name='svarsIdExpr']", ISO)
        if svar_ids is not None:
            allowed = re.compile(svar_ids.get("value", "").strip("'"))
            assert all(allowed.match(qid) for qid in cat.questions)


def test_catalogue_is_loaded_once() -> None:
    assert catalogue("FK7804") is catalogue(CertificateType.FK7804)
    assert question("FK7804", "9001") is question("FK7804", "9001")


def test_names_and_titles() -> None:
    assert field_name("FK7804", "32") == "sick_leave"
    assert field_name("FK7804", "32.1") == "sick_leave.level"
    assert field_name("AG7804", "100.1") == "share_diagnosis.wanted"
    assert field_name("AG1-14", "7.1") == "sick_leave.reduction_percent"
    assert field_name("AG1-14", "3") == "share_diagnosis"
    assert field_name("FK7804", "27") == "infection_carrier"
    assert field_name("FK7804", "9003.1") == "supplementary_9003.text"
    assert field_name("AG7804", "9003") is None
    assert field_name("AG7804", "26") is None
    q = question("FK7804", "40")
    assert q is not None and q.title == "Arbetslivsinriktade åtgärder" and q.max == 10
    q = question("AG7804", "40")
    assert q is not None and q.max == 8
    names = {q.name for t in TYPES for q in catalogue(t).questions.values()}
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)


def test_diagnosis_flags() -> None:
    assert diagnosis_question_ids("FK7804") == {"6"}
    assert diagnosis_question_ids("AG7804") == {"6"}
    assert diagnosis_question_ids("AG1-14") == {"4"}
    assert diagnosis_part_ids("FK7804") == {"6.1", "6.2", "6.3", "6.4", "6.5", "6.6"}
    assert diagnosis_part_ids("AG1-14") == {"4.1", "4.2"}


def _sample(name: str) -> Certificate:
    doc = (
        RegisterCertificateCodec()
        .parse((INTEROP / "sklintyg" / f"{name}.RegisterCertificate.xml").read_bytes())
        .document
    )
    assert doc is not None
    return doc


def test_accessors_on_inera_samples() -> None:
    full = _sample("fk7804-lisjp-v1-full")
    assert diagnoses(full) == [
        Diagnosis("D50", "1.2.752.116.1.1.1.1.3", None, "Järnbristanemi"),
        Diagnosis("G10", "1.2.752.116.1.1.1.1.3", None, "Huntingtons sjukdom"),
        Diagnosis(
            "T241",
            "1.2.752.116.1.1.1.1.3",
            None,
            "Brännskada av första graden på höft och nedre extremitet utom fotled och fot",
        ),
    ]
    assert share_diagnosis(full) is None
    assert sick_leave_periods(full) == [
        SickLeavePeriod(
            Period(start=date(2016, 8, 8), end=date(2016, 8, 22)), "HELT_NEDSATT", 100.0
        ),
        SickLeavePeriod(
            Period(start=date(2016, 8, 23), end=date(2016, 8, 24)), "TRE_FJARDEDEL", 75.0
        ),
        SickLeavePeriod(Period(start=date(2016, 8, 25), end=date(2016, 8, 27)), "HALFTEN", 50.0),
        SickLeavePeriod(
            Period(start=date(2016, 8, 29), end=date(2016, 11, 26)), "EN_FJARDEDEL", 25.0
        ),
    ]
    assert share_diagnosis(_sample("ag7804-v1-no-diagnosis")) is False
    assert diagnoses(_sample("ag7804-v1-no-diagnosis")) == []
    maxed = _sample("ag114-v1-maxed")
    assert share_diagnosis(maxed) is True
    assert [d.code for d in diagnoses(maxed)] == ["S47", "S48", "S49"]
    assert diagnoses(maxed)[0].description == "Klämskada skuldra"
    assert sick_leave_periods(maxed) == [
        SickLeavePeriod(Period(start=date(2018, 11, 10), end=date(2018, 11, 20)), None, 70.0)
    ]


def test_share_diagnosis_reads_booleans_as_sent() -> None:
    assert share_diagnosis(edit_part(ag7804(), "100.1", "1")) is True
    assert share_diagnosis(edit_part(ag7804(), "100.1", " 0 ")) is False
    assert share_diagnosis(edit_part(ag7804(), "100.1", "kanske")) is None
    assert share_diagnosis(ag114(False)) is False
    assert share_diagnosis(fk7804()) is None
    assert parse_boolean("true") is True and parse_boolean("TRUE") is None


@given(certificates())
def test_every_diagnosis_part_is_flagged(cert: Certificate) -> None:
    flagged = diagnosis_part_ids(cert.type)
    stated = {
        p.id for a in cert.answers if a.id in diagnosis_question_ids(cert.type) for p in a.parts
    }
    assert stated <= flagged
    assert len(diagnoses(cert)) == len(
        [
            p
            for a in cert.answers
            for p in a.parts
            if p.id in flagged
            and part(cert.type, p.id) is not None
            and part(cert.type, p.id).type is ValueType.CODE  # type: ignore[union-attr]
        ]
    )
