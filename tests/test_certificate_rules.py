"""Certificate business rules: Inera's samples, one test per rule, and properties."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from strategies_certificate import (
    ICD10,
    KSH97P,
    adding,
    ag114,
    ag7804,
    answer,
    certificates,
    cv,
    edit_answers,
    edit_part,
    fk7804,
    part,
    period,
    person_ids,
    with_person,
    without,
)

from gateway.documents.certificate import Answer, Certificate, CertificateType, Quantity
from gateway.documents.common import Code, Identifier, Period
from gateway.documents.issues import RULES, Finding, RuleKind
from gateway.formats.rivta.register_certificate import RegisterCertificateCodec
from gateway.validation import certificate_rule_definitions
from gateway.validation.certificate_rules import check

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "interop" / "sklintyg"
TODAY = date(2026, 1, 1)


def codes(found: Iterable[Finding]) -> list[str]:
    return sorted(f.rule.code for f in found)


def run(cert: Certificate) -> list[str]:
    return codes(check(cert, today=TODAY))


def sample(name: str) -> Certificate:
    parsed = RegisterCertificateCodec().parse((SAMPLES / name).read_bytes())
    assert parsed.issues == []
    assert parsed.document is not None
    return parsed.document


# --- Inera's reference certificates -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fk7804-lisjp-v1-full.RegisterCertificate.xml", []),
        ("fk7804-lisjp-v1-signed-underskrift.RegisterCertificate.xml", []),
        ("ag7804-v1-full-diagnosis-shared.RegisterCertificate.xml", []),
        # 192703104321, Inera's made-up personnummer, has a wrong check digit.
        ("fk7804-lisjp-v1-compact.RegisterCertificate.xml", ["ID-PERSON-CHECKSUM"]),
        ("ag7804-v1-no-diagnosis.RegisterCertificate.xml", ["ID-PERSON-CHECKSUM"]),
        ("ag114-v1-maxed.RegisterCertificate.xml", ["ID-PERSON-CHECKSUM"]),
        (
            "ag7804-v1-INVALID-diagnosis-despite-optout.RegisterCertificate.xml",
            ["CERT-AG7804-DIAGNOSIS-OPTOUT", "ID-PERSON-CHECKSUM"],
        ),
    ],
)
def test_inera_samples(name: str, expected: list[str]) -> None:
    assert codes(check(sample(name))) == expected


def test_optout_sample_points_to_the_diagnosis_answer() -> None:
    cert = sample("ag7804-v1-INVALID-diagnosis-despite-optout.RegisterCertificate.xml")
    [optout] = [f for f in check(cert) if f.rule.code == "CERT-AG7804-DIAGNOSIS-OPTOUT"]
    assert optout.path == ("answers", cert.answers.index(cert.answers_to("6")[0]))
    assert "answered no to 100.1 'Önskar förmedla diagnos'" in optout.message


def test_checksum_finding_points_to_the_patient_id() -> None:
    cert = sample("ag114-v1-maxed.RegisterCertificate.xml")
    [found] = check(cert)
    assert found.path == ("patient", "id", "value")
    assert found.rule.severity.value == "error"


# --- every rule, one minimal breach each ---------------------------------------------------

Edit = Callable[[], Certificate]


def _answers(cert: Certificate, edit: Callable[[list[Answer]], list[Answer]]) -> Certificate:
    return edit_answers(cert, edit)


def _instance(cert: Certificate, qid: str, instance: int | None) -> Certificate:
    def go(answers: list[Answer]) -> list[Answer]:
        i = next(k for k, a in enumerate(answers) if a.id == qid)
        answers[i] = answers[i].model_copy(update={"instance": instance})
        return answers

    return _answers(cert, go)


def _add_part(cert: Certificate, qid: str, sub: object) -> Certificate:
    def go(answers: list[Answer]) -> list[Answer]:
        i = next(k for k, a in enumerate(answers) if a.id == qid)
        answers[i] = answers[i].model_copy(update={"parts": [*answers[i].parts, sub]})
        return answers

    return _answers(cert, go)


def _fk_carrier(applies: str) -> Certificate:
    return adding(fk7804(), answer("27", part("27.1", applies)))


BREACHES: dict[str, tuple[Edit, list[str]]] = {
    "unknown question": (
        lambda: adding(fk7804(), answer("42", part("42.1", "x"))),
        ["CERT-QUESTION-UNKNOWN"],
    ),
    "26 is not an AG7804 question": (
        lambda: adding(ag7804(), answer("26", part("26.1", "false"))),
        ["CERT-QUESTION-UNKNOWN"],
    ),
    "unknown AG1-14 question": (
        lambda: adding(ag114(), answer("32", part("32.1", "x"))),
        ["CERT-QUESTION-UNKNOWN"],
    ),
    "missing diagnosis FK7804": (lambda: without(fk7804(), "6"), ["CERT-QUESTION-MISSING"]),
    "missing sick leave": (
        lambda: without(without(fk7804(), "32"), "33"),
        ["CERT-QUESTION-MISSING"],
    ),
    "missing 100 AG7804": (
        lambda: without(ag7804(), "100"),
        ["CERT-AG7804-DIAGNOSIS-OPTOUT", "CERT-QUESTION-MISSING"],
    ),
    "missing AG1-14 7": (lambda: without(ag114(), "7"), ["CERT-QUESTION-MISSING"]),
    "prognosis required unless carrier": (
        lambda: without(fk7804(), "39"),
        ["CERT-QUESTION-MISSING"],
    ),
    "27.1 false does not waive": (
        lambda: without(_fk_carrier("false"), "39"),
        ["CERT-QUESTION-MISSING"],
    ),
    "27.1 true waives": (lambda: without(without(_fk_carrier("true"), "39"), "17"), []),
    "AG7804 35 waived by 27 answered": (
        lambda: without(adding(ag7804(), answer("27", part("27.1", "false"))), "35"),
        [],
    ),
    # Pinned after a mutation run: an absent part is not a false one.
    "27 without 27.1 waives like 27.1 true (only the missing part)": (
        lambda: adding(without(without(fk7804(), "39"), "17"), answer("27")),
        ["CERT-PART-MISSING"],
    ),
    "1.3 with 1.1 absent (allowed_only_when on an absent part)": (
        lambda: edit_part(fk7804(), "1.1", None, nth=1),
        ["CERT-PART-MISSING"],
    ),
    "33.2 with 33.1 absent (forbidden_when on an absent part)": (
        lambda: edit_part(fk7804(), "33.1", None),
        ["CERT-PART-MISSING"],
    ),
    "26.2 with 26.1 absent (forbidden_when on an absent part)": (
        lambda: edit_part(fk7804(), "26.1", None),
        ["CERT-PART-MISSING"],
    ),
    "AG1-14 diagnoses with question 3 missing: no opt-out": (
        lambda: without(ag114(), "3"),
        ["CERT-QUESTION-MISSING"],
    ),
    "FK7804 35 not waived by 27.1 false": (
        lambda: without(_fk_carrier("false"), "35"),
        ["CERT-QUESTION-MISSING"],
    ),
    "too many prognoses": (
        lambda: adding(fk7804(), answer("39", cv("39.1", "PROGNOS_OKLAR", "KV_FKMU_0006"))),
        ["CERT-QUESTION-REPEATED"],
    ),
    "supplementary twice": (
        lambda: adding(
            fk7804(), answer("9001", part("9001.1", "a")), answer("9001", part("9001.1", "b"))
        ),
        ["CERT-QUESTION-REPEATED"],
    ),
    "supplementary without .1": (
        lambda: adding(fk7804(), answer("9001", part("9001.2", "a"))),
        ["CERT-PART-MISSING", "CERT-PART-UNKNOWN"],
    ),
    "supplementary empty": (
        lambda: adding(fk7804(), answer("9002", part("9002.1", "  "))),
        ["CERT-VALUE-EMPTY"],
    ),
    "9xxx not in AG7804": (
        lambda: adding(ag7804(), answer("9001", part("9001.1", "a"))),
        ["CERT-QUESTION-UNKNOWN"],
    ),
    "instance missing": (lambda: _instance(fk7804(), "40", None), ["CERT-INSTANCE"]),
    "instance zero": (lambda: _instance(fk7804(), "32", 0), ["CERT-INSTANCE"]),
    "AG1-14 diagnosis instance missing": (lambda: _instance(ag114(), "4", None), ["CERT-INSTANCE"]),
    "unknown part": (lambda: _add_part(fk7804(), "35", part("35.2", "x")), ["CERT-PART-UNKNOWN"]),
    "39.2 is not a part": (
        lambda: _add_part(fk7804(), "39", part("39.2", "x")),
        ["CERT-PART-UNKNOWN"],
    ),
    "part missing": (lambda: edit_part(fk7804(), "32.2", None), ["CERT-PART-MISSING"]),
    "part repeated": (
        lambda: _add_part(fk7804(), "35", part("35.1", "again")),
        ["CERT-PART-REPEATED"],
    ),
    "text where code expected": (
        lambda: edit_part(fk7804(), "39.1", "PROGNOS_OKLAR"),
        ["CERT-DEPENDENT-PART-UNEXPECTED", "CERT-VALUE-TYPE"],
    ),
    "code where text expected": (
        lambda: edit_part(fk7804(), "17.1", Code(code="X")),
        ["CERT-VALUE-TYPE"],
    ),
    "empty text": (lambda: edit_part(fk7804(), "29.1", " \n "), ["CERT-VALUE-EMPTY"]),
    "not a boolean": (lambda: edit_part(fk7804(), "26.1", "ja"), ["CERT-VALUE-BOOLEAN"]),
    "1/0 are booleans": (lambda: edit_part(edit_part(fk7804(), "26.1", "1"), "33.1", "1"), []),
    "100.1 not a boolean": (
        lambda: edit_part(ag7804(), "100.1", "yes"),
        ["CERT-AG7804-DIAGNOSIS-OPTOUT", "CERT-VALUE-BOOLEAN"],
    ),
    "not a date": (lambda: edit_part(fk7804(), "1.2", "2016-02-30"), ["CERT-VALUE-DATE"]),
    "not ISO date": (lambda: edit_part(fk7804(), "1.2", "01/08/2016"), ["CERT-VALUE-DATE"]),
    "date with zone": (lambda: edit_part(fk7804(), "1.2", "2016-08-01+02:00"), []),
    "AG7804 basis in future": (
        lambda: edit_part(ag7804(), "1.2", "2026-01-02"),
        ["CERT-DATE-IN-FUTURE"],
    ),
    "AG7804 basis today": (lambda: edit_part(ag7804(), "1.2", "2026-01-01"), []),
    "FK7804 basis in future is fine": (lambda: edit_part(fk7804(), "1.2", "2026-01-02"), []),
    "reduction above 100": (
        lambda: edit_part(ag114(), "7.1", Quantity(value=101.0, unit="%")),
        ["CERT-VALUE-RANGE"],
    ),
    "reduction not whole": (
        lambda: edit_part(ag114(), "7.1", Quantity(value=50.5, unit="%")),
        ["CERT-VALUE-RANGE"],
    ),
    "wrong code system": (
        lambda: edit_part(fk7804(), "32.1", Code(code="HELT_NEDSATT", system="KV_FKMU_0001")),
        ["CERT-CODE-SYSTEM"],
    ),
    "code system missing": (
        lambda: edit_part(fk7804(), "39.1", Code(code="ATER_X_ANTAL_DGR")),
        ["CERT-CODE-SYSTEM"],
    ),
    "diagnosis code system not ICD/KSH": (
        lambda: edit_part(fk7804(), "6.2", Code(code="M54", system="1.2.3")),
        ["CERT-CODE-SYSTEM", "CERT-DIAGNOSIS-CODE-SYSTEM-MIXED"],
    ),
    "unknown code": (
        lambda: edit_part(fk7804(), "39.3", Code(code="TIO_DGR", system="KV_FKMU_0007")),
        ["CERT-CODE-UNKNOWN"],
    ),
    "AG1-14 occupation other than current work": (
        lambda: edit_part(ag114(), "1.1", Code(code="STUDIER", system="KV_FKMU_0002")),
        ["CERT-CODE-UNKNOWN"],
    ),
    "KONFLIKTHANTERING not for AG7804": (
        lambda: edit_part(ag7804(), "40.1", Code(code="KONFLIKTHANTERING", system="KV_FKMU_0004")),
        ["CERT-CODE-UNKNOWN"],
    ),
    "same basis twice": (
        lambda: edit_part(fk7804(), "1.1", Code(code="UNDERSOKNING", system="KV_FKMU_0001"), nth=1),
        ["CERT-CODE-REPEATED", "CERT-DEPENDENT-PART-UNEXPECTED"],
    ),
    "same level twice": (
        lambda: edit_part(fk7804(), "32.1", Code(code="HALFTEN", system="KV_FKMU_0003")),
        ["CERT-CODE-REPEATED"],
    ),
    "same measure twice": (
        lambda: edit_part(
            fk7804(), "40.1", Code(code="ARBETSTRANING", system="KV_FKMU_0004"), nth=1
        ),
        ["CERT-CODE-REPEATED"],
    ),
    "diagnosis code too short": (
        lambda: edit_part(fk7804(), "6.2", Code(code="M5", system=ICD10)),
        ["CERT-DIAGNOSIS-CODE-FORMAT"],
    ),
    "F code needs four positions": (
        lambda: edit_part(fk7804(), "6.2", Code(code="F32", system=ICD10)),
        ["CERT-DIAGNOSIS-CODE-FORMAT"],
    ),
    "diagnosis code with dot": (
        lambda: edit_part(fk7804(), "6.4", Code(code="G47.0", system=ICD10)),
        ["CERT-DIAGNOSIS-CODE-FORMAT"],
    ),
    "diagnosis code too long": (
        lambda: edit_part(fk7804(), "6.4", Code(code="G4701", system=ICD10)),
        [],
    ),
    "diagnosis code six long": (
        lambda: edit_part(fk7804(), "6.4", Code(code="G47012", system=ICD10)),
        ["CERT-DIAGNOSIS-CODE-FORMAT"],
    ),
    "AG1-14 has no length limit": (
        lambda: edit_part(ag114(), "4.2", Code(code="G47012", system=ICD10)),
        [],
    ),
    "ANNAT without 1.3": (
        lambda: edit_part(fk7804(), "1.3", None, nth=1),
        ["CERT-DEPENDENT-PART-MISSING"],
    ),
    "1.3 without ANNAT": (
        lambda: edit_part(fk7804(), "1.3", "annan grund", nth=0),
        ["CERT-DEPENDENT-PART-UNEXPECTED"],
    ),
    "AG1-14 ANNAT without 10.3": (
        lambda: edit_part(ag114(), "10.3", None, nth=1),
        ["CERT-DEPENDENT-PART-MISSING"],
    ),
    "ATER_X without 39.3": (
        lambda: edit_part(fk7804(), "39.3", None),
        ["CERT-DEPENDENT-PART-MISSING"],
    ),
    "39.3 without ATER_X": (
        lambda: edit_part(fk7804(), "39.1", Code(code="PROGNOS_OKLAR", system="KV_FKMU_0006")),
        ["CERT-DEPENDENT-PART-UNEXPECTED"],
    ),
    "33.1 true without 33.2": (
        lambda: edit_part(fk7804(), "33.2", None),
        ["CERT-DEPENDENT-PART-MISSING"],
    ),
    "33.1 false with 33.2": (
        lambda: edit_part(fk7804(), "33.1", "false"),
        ["CERT-DEPENDENT-PART-UNEXPECTED"],
    ),
    "26.1 false with 26.2": (
        lambda: edit_part(fk7804(), "26.1", "0"),
        ["CERT-DEPENDENT-PART-UNEXPECTED"],
    ),
    "26.1 true without 26.2 is fine": (lambda: edit_part(fk7804(), "26.2", None), []),
    "103.1 false with 103.2": (
        lambda: edit_part(ag7804(), "103.1", "false"),
        ["CERT-DEPENDENT-PART-UNEXPECTED"],
    ),
    "6.3 without 6.4": (lambda: edit_part(fk7804(), "6.4", None), ["CERT-DEPENDENT-PART-MISSING"]),
    "6.4 without 6.3": (lambda: edit_part(fk7804(), "6.3", None), ["CERT-DEPENDENT-PART-MISSING"]),
    "6.5/6.6 without 6.3/6.4": (
        lambda: edit_part(
            edit_part(edit_part(edit_part(fk7804(), "6.3", None), "6.4", None), "6.5", "Trötthet"),
            "6.6",
            Code(code="R53", system=ICD10),
        ),
        ["CERT-DEPENDENT-PART-MISSING", "CERT-DEPENDENT-PART-MISSING"],
    ),
    "AG1-14 4.1 without 4.2": (
        lambda: edit_part(ag114(), "4.2", None),
        ["CERT-DEPENDENT-PART-MISSING"],
    ),
    "AG1-14 6.1 true without 6.2": (
        lambda: edit_part(ag114(), "6.2", None),
        ["CERT-DEPENDENT-PART-MISSING"],
    ),
    "AG1-14 9.1 true without 9.2": (
        lambda: edit_part(ag114(), "9.2", None),
        ["CERT-DEPENDENT-PART-MISSING"],
    ),
    "period without end": (
        lambda: edit_part(fk7804(), "32.2", Period(start=date(2016, 8, 8))),
        ["CERT-PERIOD-INCOMPLETE"],
    ),
    "period backwards": (
        lambda: edit_part(fk7804(), "32.2", Period(start=date(2016, 8, 21), end=date(2016, 8, 8))),
        ["CERT-PERIOD-ORDER"],
    ),
    "AG1-14 period backwards": (
        lambda: edit_part(ag114(), "7.2", Period(start=date(2016, 8, 21), end=date(2016, 8, 8))),
        ["CERT-PERIOD-ORDER"],
    ),
    "periods share a day": (
        lambda: edit_part(
            fk7804(), "32.2", Period(start=date(2016, 8, 21), end=date(2016, 9, 4)), nth=1
        ),
        ["CERT-PERIOD-OVERLAP"],
    ),
    "period inside another": (
        lambda: edit_part(
            fk7804(), "32.2", Period(start=date(2016, 8, 10), end=date(2016, 8, 12)), nth=1
        ),
        ["CERT-PERIOD-OVERLAP"],
    ),
    "current work without 29": (lambda: without(fk7804(), "29"), ["CERT-CURRENT-WORK"]),
    "29 without current work": (
        lambda: edit_part(fk7804(), "28.1", Code(code="STUDIER", system="KV_FKMU_0002")),
        ["CERT-CURRENT-WORK"],
    ),
    "EJ_AKTUELLT with other measures": (
        lambda: without(
            edit_part(fk7804(), "40.1", Code(code="EJ_AKTUELLT", system="KV_FKMU_0004")), "44"
        ),
        ["CERT-MEASURES-NOT-RELEVANT-COMBINED"],
    ),
    "one measure with 44": (
        lambda: _answers(
            fk7804(), lambda a: [x for x in a if not (x.id == "40" and x.instance == 2)]
        ).model_copy(),
        [],
    ),
    "EJ_AKTUELLT alone with 44": (
        lambda: edit_part(
            _answers(fk7804(), lambda a: [x for x in a if not (x.id == "40" and x.instance == 2)]),
            "40.1",
            Code(code="EJ_AKTUELLT", system="KV_FKMU_0004"),
        ),
        ["CERT-MEASURES-NOT-RELEVANT-DESCRIBED"],
    ),
    "partial level without 33": (lambda: without(fk7804(), "33"), ["CERT-WORKING-TIME"]),
    "partial level without 33, carrier": (lambda: without(_fk_carrier("true"), "33"), []),
    "33 without partial level": (
        lambda: edit_part(
            fk7804(), "32.1", Code(code="TRE_FJARDEDEL", system="KV_FKMU_0003"), nth=1
        ),
        [],
    ),
    "33 with full leave only": (
        lambda: _answers(
            fk7804(), lambda a: [x for x in a if not (x.id == "32" and x.instance == 2)]
        ),
        ["CERT-WORKING-TIME"],
    ),
    "AG7804 share but no diagnosis": (
        lambda: without(ag7804(True), "6"),
        ["CERT-DIAGNOSIS-MISSING"],
    ),
    "AG7804 optout with diagnosis": (
        lambda: adding(ag7804(False), *fk7804().answers_to("6")),
        ["CERT-AG7804-DIAGNOSIS-OPTOUT"],
    ),
    "AG7804 two diagnosis answers": (
        lambda: adding(ag7804(True), *fk7804().answers_to("6")),
        ["CERT-QUESTION-REPEATED"],
    ),
    "AG1-14 share but no diagnosis": (
        lambda: without(ag114(True), "4"),
        ["CERT-DIAGNOSIS-MISSING"],
    ),
    "AG1-14 optout with diagnosis": (
        lambda: adding(ag114(False), *ag114(True).answers_to("4")),
        ["CERT-AG114-DIAGNOSIS-OPTOUT", "CERT-AG114-DIAGNOSIS-OPTOUT"],
    ),
    "AG1-14 four diagnoses": (
        lambda: adding(
            ag114(True),
            *[
                answer("4", part("4.1", "x"), cv("4.2", "S4" + str(n), ICD10), instance=n)
                for n in (3, 4)
            ],
        ),
        ["CERT-QUESTION-REPEATED"],
    ),
    "mixed diagnosis code systems": (
        lambda: edit_part(fk7804(), "6.4", Code(code="G47", system=KSH97P)),
        ["CERT-DIAGNOSIS-CODE-SYSTEM-MIXED"],
    ),
    "all KSH97-P": (
        lambda: edit_part(
            edit_part(fk7804(), "6.4", Code(code="G47", system=KSH97P)),
            "6.2",
            Code(code="M54", system=KSH97P),
        ),
        [],
    ),
    "personnummer check digit": (
        lambda: with_person(fk7804(), "191212121213"),
        ["ID-PERSON-CHECKSUM"],
    ),
    "personnummer malformed": (lambda: with_person(fk7804(), "19121212121"), ["ID-PERSON-FORMAT"]),
    "issuer not an HSA-id system": (
        lambda: fk7804().model_copy(
            update={
                "issuer": fk7804().issuer.model_copy(
                    update={"id": Identifier(system="1.2.3", value="TSTNMT2321000156-1079")}
                )
            }
        ),
        ["ID-HSA-FORMAT"],
    ),
}


@pytest.mark.parametrize("case", list(BREACHES), ids=list(BREACHES))
def test_breach(case: str) -> None:
    edit, expected = BREACHES[case]
    assert run(edit()) == sorted(expected)


def test_every_rule_of_the_module_is_exercised() -> None:
    defined = {
        getattr(certificate_rule_definitions, n).code
        for n in dir(certificate_rule_definitions)
        if getattr(getattr(certificate_rule_definitions, n), "code", None) in RULES
        and RULES[getattr(certificate_rule_definitions, n).code].kind is RuleKind.BUSINESS
    }
    assert len(defined) == 30
    hit = {c for _, expected in BREACHES.values() for c in expected}
    assert defined - hit == set()


def test_rules_are_business_rules_with_source() -> None:
    rules = [r for r in RULES.all() if r.code.startswith("CERT-") and r.kind is RuleKind.BUSINESS]
    assert len(rules) == 30
    for r in rules:
        assert r.source, r.code
        assert r.explanation and r.title, r.code


def test_fixed_examples_are_valid() -> None:
    for cert in (fk7804(), ag7804(True), ag7804(False), ag114(True), ag114(False)):
        assert run(cert) == [], cert.type


def test_finding_paths_are_precise() -> None:
    cert = edit_part(fk7804(), "32.1", Code(code="X", system="KV_FKMU_0003"))
    [found] = check(cert)
    i = cert.answers.index(cert.answers_to("32")[0])
    assert found.path == ("answers", i, "parts", 0, "value", "code")
    assert found.message == (
        "32.1 'Sjukskrivningsnivå': 'X' is not one of EN_FJARDEDEL, HALFTEN, HELT_NEDSATT, "
        "TRE_FJARDEDEL"
    )
    [missing] = check(without(fk7804(), "6"))
    assert missing.path == ("answers",)
    assert missing.message == "question 6 'Typ av diagnos' is required in FK7804"


def test_overlap_message_names_both_periods() -> None:
    cert = edit_part(fk7804(), "32.2", Period(start=date(2016, 8, 21), end=date(2016, 9, 4)), nth=1)
    [found] = check(cert)
    assert found.message == "sick-leave period 2016-08-21–2016-09-04 overlaps 2016-08-08–2016-08-21"
    assert found.path[-2:] == (1, "value")


# --- properties ---------------------------------------------------------------------------


@given(certificates())
def test_generated_certificates_are_valid(cert: Certificate) -> None:
    assert run(cert) == []


@given(certificates(types=[CertificateType.FK7804, CertificateType.AG7804]), st.data())
def test_any_two_periods_sharing_a_day_overlap(cert: Certificate, data: st.DataObject) -> None:
    periods = [
        p.value for a in cert.answers_to("32") for p in a.parts if isinstance(p.value, Period)
    ]
    target = data.draw(st.sampled_from(periods))
    assert target.start is not None and target.end is not None
    day = target.start + timedelta(days=data.draw(st.integers(0, (target.end - target.start).days)))
    length = data.draw(st.integers(0, 30))
    clash = answer(
        "32",
        cv("32.1", "X_NY_NIVA", "KV_FKMU_0003"),
        period("32.2", day, day + timedelta(days=length)),
        instance=9,
    )
    found = run(edit_answers(cert, lambda a: [*a, clash]))
    assert "CERT-PERIOD-OVERLAP" in found
    assert set(found) <= {
        "CERT-PERIOD-OVERLAP",
        "CERT-CODE-UNKNOWN",
        "CERT-QUESTION-REPEATED",
        "CERT-WORKING-TIME",
    }


@given(certificates(), person_ids(), st.integers(1, 9))
def test_a_wrong_check_digit_is_the_only_finding(cert: Certificate, pnr: str, delta: int) -> None:
    wrong = pnr[:-1] + str((int(pnr[-1]) + delta) % 10)
    assert run(with_person(cert, wrong)) == ["ID-PERSON-CHECKSUM"]


@given(certificates(types=[CertificateType.AG7804]))
@example(ag7804(False))
def test_ag7804_diagnoses_only_with_consent(cert: Certificate) -> None:
    withdrawn = edit_part(cert, "100.1", "false")
    diagnosis = answer("6", part("6.1", "Ryggvärk"), cv("6.2", "M54", ICD10))
    with_diagnosis = adding(without(withdrawn, "6"), diagnosis)
    assert run(with_diagnosis) == ["CERT-AG7804-DIAGNOSIS-OPTOUT"]


_values = st.one_of(
    st.text(max_size=5),
    st.builds(Code, code=st.text(max_size=6), system=st.none() | st.text(max_size=12)),
    st.builds(Period, start=st.none() | st.dates(), end=st.none() | st.dates()),
    st.builds(Quantity, value=st.floats(allow_nan=False), unit=st.just("%")),
)
_ids = st.sampled_from(
    ["1", "6", "26", "27", "28", "29", "32", "33", "40", "100", "4", "7", "9001", "x"]
)


@given(
    st.sampled_from(list(CertificateType)),
    st.lists(
        st.builds(
            Answer,
            id=_ids,
            instance=st.none() | st.integers(-2, 5),
            parts=st.lists(
                st.builds(lambda q, n, v: part(f"{q}.{n}", v), _ids, st.integers(1, 7), _values),
                max_size=4,
            ),
        ),
        max_size=12,
    ),
)
def test_any_answers_give_findings_never_exceptions(
    cert_type: CertificateType, answers: list[Answer]
) -> None:
    cert = fk7804().model_copy(update={"type": cert_type, "answers": answers})
    for f in check(cert, today=TODAY):
        assert f.rule.code in RULES
        assert f.path[:1] in ((), ("answers",), ("patient",), ("issuer",))
