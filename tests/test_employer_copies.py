"""An employer's copy is valid for what it says it is (issue 12, Build 4): every employer copy
of every valid certificate fixture and of Inera's samples validates with the gateway's own
validator in every format, and its RIVTA rendering with Inera's XSD and Inera's Schematron
for its type. An FK7804 goes as AG7804's view of it (it could not be a valid FK7804 without
svar 6), or is refused when that view would break AG7804's rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import RIVTA, SAMPLES
from lxml import etree
from schematron import validate as schematron

from gateway import FIXTURES_DIR
from gateway.documents import Certificate, Recipient
from gateway.documents.certificate import Answer, CertificateType, SubAnswer
from gateway.documents.common import Code
from gateway.documents.issues import SeverityOverrides
from gateway.formats.base import Format
from gateway.formats.registry import render
from gateway.harness.fixtures import discover
from gateway.policy import apply_policy
from gateway.transfer import render_copy
from gateway.validation.service import validate_bytes

AT = datetime(2026, 1, 1, tzinfo=UTC)
#: Inera's made-up 192703104321 has a wrong check digit (sklintyg README)
INERA = SeverityOverrides(warn=frozenset({"ID-PERSON-CHECKSUM"}))
SCHEMATRON = {
    CertificateType.AG7804: RIVTA / "schematron" / "ag7804.v1.sch",
    CertificateType.AG1_14: RIVTA / "schematron" / "ag114.v1.sch",
}
INERA_XSD = (
    RIVTA / "interactions/RegisterCertificateInteraction/RegisterCertificateResponder_3.1.xsd"
)

FIXTURES = [f.path for f in discover(FIXTURES_DIR / "certificate") if f.expected["valid"]]
# every sample the gateway accepts (the INVALID one is refused before any policy runs)
INERA_SAMPLES = sorted(
    p for p in SAMPLES.glob("*.RegisterCertificate.xml") if "INVALID" not in p.name
)


@pytest.fixture(scope="module")
def inera_xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(INERA_XSD)))


def employer_copy(path: Path) -> tuple[Certificate, Certificate]:
    source = validate_bytes(path.read_bytes(), overrides=INERA)
    assert source.valid, source.issues
    assert isinstance(source.document, Certificate)
    result = apply_policy(source.document, Recipient.EMPLOYER, at=AT, check_consent=False)
    assert not result.refused, result.report
    _, result = render_copy(result, Format.XML)
    assert isinstance(result.document, Certificate)
    return source.document, result.document


@pytest.mark.parametrize("path", [*FIXTURES, *INERA_SAMPLES], ids=lambda p: p.name.split(".")[0])
def test_every_employer_copy_is_valid_for_what_it_says_it_is(
    path: Path, inera_xsd: etree.XMLSchema
) -> None:
    source, copy = employer_copy(path)
    assert copy.type in (CertificateType.AG7804, CertificateType.AG1_14)
    fk = source.type is CertificateType.FK7804
    assert copy.type is (CertificateType.AG7804 if fk else source.type)
    for fmt in (Format.XML, Format.FHIR_JSON, Format.FHIR_XML):
        result = apply_policy(source, Recipient.EMPLOYER, at=AT, check_consent=False)
        out, _ = render_copy(result, fmt)
        again = validate_bytes(out, overrides=INERA)
        assert again.valid, (fmt, again.issues)
        assert isinstance(again.document, Certificate) and again.document.type is copy.type
        if fmt is Format.XML:
            tree = etree.fromstring(out)
            assert inera_xsd.validate(tree), inera_xsd.error_log
            assert schematron(SCHEMATRON[copy.type], out) == []


def test_fk7804_becomes_ag7804_as_webcert_derives_it() -> None:
    source, copy = employer_copy(FIXTURES_DIR / "certificate" / "fk7804-valid.xml")
    assert source.type is CertificateType.FK7804
    assert copy.type is CertificateType.AG7804
    assert copy.type_code.code == "AG7804" and copy.type_version == "1.0"
    assert copy.id == source.id and copy.patient.id == source.patient.id
    assert copy.answers_to("100")[0].parts == [SubAnswer(id="100.1", value="false")]
    carried = {"1", "27", "28", "29", "35", "17", "19", "20", "32", "37", "33", "34", "39"}
    carried |= {"40", "44", "25", "100"}
    assert {a.id for a in copy.answers} <= carried
    assert copy.answers_to("6") == copy.answers_to("26") == []
    kept = [a for a in source.answers if a.id in carried]
    assert [a.id for a in copy.answers if a.id != "100"] == [a.id for a in kept]


def test_fk7804_whose_ag7804_view_would_be_invalid_is_refused() -> None:
    """Measures only outside AG7804's subset: AG7804 needs one of its own (svar 40), so no
    valid view exists and the employer gets a refusal, not a broken document."""
    source = validate_bytes((FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes())
    doc = source.document
    assert isinstance(doc, Certificate)
    answers = [a for a in doc.answers if a.id != "40"]
    nytt = SubAnswer(id="40.1", value=Code(code="SOKA_NYTT_ARBETE", system="KV_FKMU_0004"))
    answers.append(Answer(id="40", instance=1, parts=[nytt]))
    doc = doc.model_copy(update={"answers": answers})
    assert validate_bytes(render(doc, Format.XML)).valid  # a valid FK7804
    result = apply_policy(doc, Recipient.EMPLOYER, at=AT, check_consent=False)
    assert result.refused and result.document is None
    refusal = result.report[-1]
    assert (refusal.action, refusal.code) == ("refused", "POLICY-CERTIFICATE-VIEW-INVALID")
    assert refusal.message == (
        "AG7804's view of this FK7804 breaks AG7804's rules (CERT-QUESTION-MISSING); it is not sent"
    )


def test_schematron_runner_finds_what_inera_says_is_wrong() -> None:
    """The runner is an outsider's check only if it fails what Inera's fails."""
    bad = SAMPLES / "ag7804-v1-INVALID-diagnosis-despite-optout.RegisterCertificate.xml"
    failed = {f.pattern for f in schematron(SCHEMATRON[CertificateType.AG7804], bad.read_bytes())}
    assert failed == {"intyg", "q100.1-false"}


PLANS = [
    f.path
    for kind in ("sip", "return-to-work-plan")
    for f in discover(FIXTURES_DIR / kind)
    if f.expected["valid"]
]


@pytest.mark.parametrize("path", PLANS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_employer_copy_of_a_plan_validates_in_every_format(path: Path) -> None:
    source = validate_bytes(path.read_bytes())
    assert source.valid and source.document is not None
    for fmt in (Format.XML, Format.FHIR_JSON, Format.FHIR_XML):
        result = apply_policy(source.document, Recipient.EMPLOYER, at=AT, check_consent=False)
        if result.refused:  # a SIP whose own consent does not name the employer
            assert result.report[-1].code == "POLICY-CONSENT-NOT-COVERING", result.report
            continue
        out, _ = render_copy(result, fmt)
        again = validate_bytes(out)
        assert again.valid, (fmt, again.issues)
        assert again.document is not None and again.document.kind is source.document.kind


def test_the_plans_test_is_not_vacuous() -> None:
    sent = [
        p
        for p in PLANS
        if not apply_policy(
            validate_bytes(p.read_bytes()).document,  # type: ignore[arg-type]
            Recipient.EMPLOYER,
            at=AT,
            check_consent=False,
        ).refused
    ]
    assert len(sent) >= 14  # of 19 today: five SIPs have a consent that names no employer
