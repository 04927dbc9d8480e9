"""The policy step on real certificates and hand-made documents: exact reports, exact copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from strategies_common import TOLVAN, hsa
from strategies_policy import (
    AT,
    EMPLOYER_ANSWER_IDS,
    EMPLOYER_ORGANISATION,
    PATIENT,
    STAFF,
    consent,
    icd,
    leaks,
    output_formats,
    render,
    return_to_work_plan,
    section4,
    sip,
    visible_text,
)

from gateway.documents import Certificate, Document, DocumentKind, Recipient, Sip
from gateway.documents.certificate import Relation, SubAnswer
from gateway.documents.common import (
    Code,
    ConsentScope,
    Contact,
    Identifier,
    Organisation,
    PersonName,
)
from gateway.documents.consent import purpose_code
from gateway.documents.return_to_work import ReturnToWorkParticipant
from gateway.documents.section4 import STATEMENT
from gateway.documents.sip import SipCoordinator, SipGoal
from gateway.formats.rivta.register_certificate import RegisterCertificateCodec
from gateway.policy import apply_policy, policies
from gateway.policy.allowlist import build_spec, spec_problems
from gateway.policy.policies import MODELS

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "interop" / "sklintyg"


def certificate(name: str) -> Certificate:
    """An Inera sample, its patient set to Tolvan (some samples carry 192703104321, whose
    check digit is wrong), so that the test consents below are hers."""
    data = (SAMPLES / f"{name}.RegisterCertificate.xml").read_bytes()
    cert = RegisterCertificateCodec().parse(data).document
    assert isinstance(cert, Certificate)
    return cert.model_copy(update={"patient": cert.patient.model_copy(update={"id": TOLVAN})})


def entries(result: object) -> list[tuple[str, str, str]]:
    return [(str(e.action), e.path, e.code) for e in result.report]  # type: ignore[attr-defined]


EMPLOYER_CONSENT = consent([Recipient.EMPLOYER], "sick-pay")


# ------------------------------------------------------------------------------- routes


def test_routes_are_the_policy_files() -> None:
    routes = {(str(k), str(r)) for k, r in policies()}
    assert routes == {
        ("certificate", "employer"),
        ("certificate", "forsakringskassan"),
        ("certificate", "occupational-health"),
        ("certificate", "region"),
        ("sip", "region"),
        ("sip", "municipality"),
        ("sip", "forsakringskassan"),
        ("sip", "arbetsformedlingen"),
        ("sip", "occupational-health"),
        ("sip", "employer"),
        ("return-to-work-plan", "employer"),
        ("return-to-work-plan", "forsakringskassan"),
        ("return-to-work-plan", "occupational-health"),
        ("return-to-work-plan", "region"),
        ("section4-notification", "forsakringskassan"),
    }


def test_spec_problems_catch_typos_and_required_fields() -> None:
    spec = build_spec(["id", "patient.idd", "sent_at"])
    assert spec_problems(spec, MODELS[DocumentKind.SECTION4_NOTIFICATION]) == [
        "patient.idd: no such field in Person",
        "patient.id: required, must be allowed",
        "coordinator: required, must be allowed",
        "region: required, must be allowed",
        "unit: required, must be allowed",
    ]


def test_section4_goes_to_forsakringskassan_only() -> None:
    result = apply_policy(section4(), Recipient.EMPLOYER, at=AT)
    assert result.refused and result.document is None
    assert entries(result) == [("refused", "", "POLICY-RECIPIENT-NOT-PERMITTED")]


def test_ag7804_is_not_for_forsakringskassan() -> None:
    result = apply_policy(certificate("ag7804-v1-no-diagnosis"), "forsakringskassan", at=AT)
    assert entries(result) == [("refused", "", "POLICY-RECIPIENT-NOT-PERMITTED")]


# ---------------------------------------------------------------- certificates to employers


def test_ag7804_with_shared_diagnosis_reaches_employer_without_it() -> None:
    cert = certificate("ag7804-v1-full-diagnosis-shared")
    result = apply_policy(
        cert,
        Recipient.EMPLOYER,
        consent=EMPLOYER_CONSENT,
        at=AT,
        organisation=EMPLOYER_ORGANISATION,
    )
    assert not result.refused
    # the treatments, 37 and "övrigt" are not written for the employer: withheld whatever
    # they hold; no text of Inera's sample names a diagnosis
    assert entries(result) == [
        ("recorded", "answers[id=100].parts[id=100.1]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=6]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=19].parts[id=19.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=20].parts[id=20.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=37].parts[id=37.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=25].parts[id=25.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "patient.address", "POLICY-NOT-ALLOWED"),
    ]
    out = result.document
    assert isinstance(out, Certificate)
    assert out.answers_to("6") == []
    assert out.answers_to("100")[0].parts[0].value == "false"
    assert out.patient.address is None
    assert len(out.answers) == len(cert.answers) - 5
    assert result.consent_id == "c1"


def test_fk7804_bound_for_employer_becomes_an_employer_view() -> None:
    result = apply_policy(
        certificate("fk7804-lisjp-v1-full"),
        "employer",
        consent=EMPLOYER_CONSENT,
        at=AT,
        organisation=EMPLOYER_ORGANISATION,
    )
    assert entries(result) == [
        ("removed", "answers[id=6]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=19].parts[id=19.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=20].parts[id=20.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=37].parts[id=37.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=40,instance=3].parts[id=40.1]", "POLICY-NOT-ALLOWED"),
        ("removed", "answers[id=40,instance=7].parts[id=40.1]", "POLICY-NOT-ALLOWED"),
        ("removed", "answers[id=25].parts[id=25.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=26]", "POLICY-NOT-ALLOWED"),
        ("recorded", "type", "POLICY-CERTIFICATE-VIEW"),
        ("removed", "patient.address", "POLICY-NOT-ALLOWED"),
    ]
    out = result.document
    assert isinstance(out, Certificate)
    # the employer's own certificate type, as Webcert derives an AG7804 from an LISJP
    assert (out.type, out.type_code.code, out.type_version) == ("AG7804", "AG7804", "1.0")
    assert out.answers_to("100")[0].parts == [SubAnswer(id="100.1", value="false")]
    measures = [a.parts[0].value.code for a in out.answers_to("40")]  # type: ignore[union-attr]
    assert "SOKA_NYTT_ARBETE" not in measures and "KONFLIKTHANTERING" not in measures
    assert len(measures) == 8
    assert {a.id for a in out.answers} <= EMPLOYER_ANSWER_IDS


def test_ag114_keeps_the_patients_wish_in_the_report_only() -> None:
    result = apply_policy(
        certificate("ag114-v1-maxed"),
        "employer",
        consent=EMPLOYER_CONSENT,
        at=AT,
        organisation=EMPLOYER_ORGANISATION,
    )
    assert entries(result) == [
        ("recorded", "answers[id=3].parts[id=3.1]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=4,instance=1]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=4,instance=2]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=4,instance=3]", "POLICY-DIAGNOSIS-WITHHELD"),
    ]
    out = result.document
    assert isinstance(out, Certificate)
    assert out.answers_to("4") == [] and out.answers_to("6") != []  # AG1-14 6 is not diagnosis


def test_signature_does_not_survive_redaction() -> None:
    cert = certificate("fk7804-lisjp-v1-signed-underskrift")
    assert cert.signature is not None
    result = apply_policy(
        cert, "employer", consent=EMPLOYER_CONSENT, at=AT, organisation=EMPLOYER_ORGANISATION
    )
    assert ("removed", "signature", "POLICY-SIGNATURE-REMOVED") in entries(result)
    assert isinstance(result.document, Certificate) and result.document.signature is None


def test_forsakringskassan_receives_fk7804_as_issued() -> None:
    cert = certificate("fk7804-lisjp-v1-signed-underskrift")
    result = apply_policy(cert, "forsakringskassan", at=AT)
    assert result.report == [] and result.document is cert


def test_free_text_naming_the_diagnosis_is_withheld_whole() -> None:
    cert = certificate("ag7804-v1-full-diagnosis-shared")
    answers = list(cert.answers)
    i = next(n for n, a in enumerate(answers) if a.id == "17")
    part = (
        answers[i]
        .parts[0]
        .model_copy(
            update={"value": "Åter i arbete snart. Har huntingtons  sjukdom och D50. Ring gärna!"}
        )
    )
    answers[i] = answers[i].model_copy(update={"parts": [part]})
    cert = cert.model_copy(update={"answers": answers})
    result = apply_policy(
        cert, "employer", consent=EMPLOYER_CONSENT, at=AT, organisation=EMPLOYER_ORGANISATION
    )
    assert ("removed", "answers[id=17].parts[id=17.1]", "POLICY-FREE-TEXT-WITHHELD") in entries(
        result
    )
    out = result.document
    assert isinstance(out, Certificate)
    assert out.answers_to("17") == []  # its only part withheld, the answer goes
    messages = [e.message for e in result.report if e.code == "POLICY-FREE-TEXT-WITHHELD"]
    assert messages == [
        "delsvar 17.1 names a diagnosis (an ICD-10 or KSH97-P code) and was withheld whole"
    ]
    assert "huntington" not in str(result.report_dicts()).casefold()


def test_diagnosis_code_outside_the_diagnosis_question_is_withheld() -> None:
    cert = certificate("ag7804-v1-no-diagnosis")
    issuer = cert.issuer.model_copy(
        update={"specialities": [icd("F32.1", "Medelsvår depressiv episod"), Code(code="1")]}
    )
    cert = cert.model_copy(update={"issuer": issuer})
    result = apply_policy(
        cert, "employer", consent=EMPLOYER_CONSENT, at=AT, organisation=EMPLOYER_ORGANISATION
    )
    assert ("removed", "issuer.specialities[0]", "POLICY-DIAGNOSIS-WITHHELD") in entries(result)
    assert isinstance(result.document, Certificate)
    assert result.document.issuer.specialities == [Code(code="1")]


# -------------------------------------------------------------------------------- consent


def test_bare_certificate_without_consent_is_refused_unless_previewing() -> None:
    cert = certificate("ag7804-v1-no-diagnosis")
    refused = apply_policy(cert, "employer", at=AT)
    assert refused.refused
    assert entries(refused) == [("refused", "consent", "POLICY-CONSENT-MISSING")]
    preview = apply_policy(cert, "employer", at=AT, check_consent=False)
    assert not preview.refused
    assert entries(preview)[0] == ("note", "consent", "POLICY-CONSENT-NOT-CHECKED")


@pytest.mark.parametrize(
    ("record", "code", "path"),
    [
        (
            consent([Recipient.REGION], "sick-pay"),
            "POLICY-CONSENT-NOT-COVERING",
            "consent[id=c1].recipients",
        ),
        (
            consent([Recipient.EMPLOYER], "marketing"),
            "POLICY-CONSENT-PURPOSE-UNCODED",
            "consent[id=c1].purposes",
        ),
        (
            consent(
                [Recipient.EMPLOYER],
                "sick-pay",
                given_by=Identifier(system=TOLVAN.system, value="201212121212"),
            ),
            "POLICY-CONSENT-OTHER-PATIENT",
            "consent[id=c1].given_by",
        ),
        (
            consent([Recipient.EMPLOYER], "sick-pay", given_at=AT + timedelta(seconds=1)),
            "POLICY-CONSENT-LATE",
            "consent[id=c1].given_at",
        ),
        (
            consent([Recipient.EMPLOYER], "sick-pay", withdrawn_at=AT),
            "POLICY-CONSENT-WITHDRAWN",
            "consent[id=c1].withdrawn_at",
        ),
    ],
)
def test_consent_that_does_not_allow_the_transfer(record: object, code: str, path: str) -> None:
    result = apply_policy(
        certificate("ag7804-v1-no-diagnosis"),
        "employer",
        consent=record,  # type: ignore[arg-type]
        at=AT,
    )
    assert result.refused and result.document is None
    assert entries(result) == [("refused", path, code)]


def test_consent_edge_cases_that_allow_the_transfer() -> None:
    cert = certificate("ag7804-v1-no-diagnosis")
    for record in [
        consent([Recipient.EMPLOYER], "rehabilitation"),  # any purpose the route accepts
        consent(
            [Recipient.EMPLOYER],
            "sick-pay",
            scope=ConsentScope(kind=cert.kind, document_id=cert.id.value),
        ),
        consent([Recipient.EMPLOYER], "sick-pay", given_at=AT),  # same instant
        consent([Recipient.EMPLOYER], "sick-pay", withdrawn_at=AT + timedelta(days=1)),
        consent([Recipient.EMPLOYER], "sick-pay", given_at=datetime(2026, 3, 1, 12, 59)),
    ]:
        assert not apply_policy(cert, "employer", consent=record, at=AT).refused, record
    # naive times are Swedish local time (UTC+1 in March): 13:01 local is after 12:00 UTC
    late = consent([Recipient.EMPLOYER], "sick-pay", given_at=datetime(2026, 3, 1, 13, 1))
    assert apply_policy(cert, "employer", consent=late, at=AT).refused


def test_envelope_consent_or_document_consent_either_will_do() -> None:
    doc = sip()
    bad = consent([Recipient.REGION], "coordinated-plan", ident="other")
    result = apply_policy(doc, "municipality", consent=bad, at=AT)
    assert not result.refused and result.consent_id == "c1"


# ------------------------------------------------------------------------------------- §4


def test_section4_minimised_for_forsakringskassan() -> None:
    doc = section4(
        statement="Behov av rehabilitering, patienten har F32.1",
        reason="Deprimerad sedan i höstas",
        diagnoses=[icd("F32.1", "Medelsvår depressiv episod")],
        note="Ring mig",
    )
    result = apply_policy(doc, "forsakringskassan", at=AT)
    assert not result.refused and result.consent_id == "c1"
    assert entries(result) == [
        ("removed", "statement", "POLICY-SECTION4-MINIMISED"),
        ("removed", "patient.address", "POLICY-SECTION4-MINIMISED"),
        ("removed", "consent", "POLICY-NOT-ALLOWED"),
        ("removed", "reason", "POLICY-SECTION4-MINIMISED"),
        ("removed", "diagnoses", "POLICY-SECTION4-MINIMISED"),
        ("removed", "note", "POLICY-SECTION4-MINIMISED"),
    ]
    out = result.document
    assert out == section4(
        statement=STATEMENT,
        patient=PATIENT.model_copy(update={"address": None}),
        consent=None,
    )


def test_section4_strict_refuses_instead() -> None:
    doc = section4(reason="Deprimerad")
    result = apply_policy(doc, "forsakringskassan", at=AT, strict=True)
    assert result.refused and result.document is None
    assert entries(result) == [
        ("refused", "patient.address", "POLICY-SECTION4-STRICT"),
        ("refused", "reason", "POLICY-SECTION4-STRICT"),
    ]
    clean = section4(patient=PATIENT.model_copy(update={"address": None}))
    ok = apply_policy(clean, "forsakringskassan", at=AT, strict=True)
    assert not ok.refused
    assert entries(ok) == [("removed", "consent", "POLICY-NOT-ALLOWED")]


def test_section4_consent_must_name_forsakringskassan_and_purpose() -> None:
    doc = section4(
        consent=consent(
            [Recipient.FORSAKRINGSKASSAN], "rehabilitation", kind=DocumentKind.SECTION4_NOTIFICATION
        )
    )
    assert entries(apply_policy(doc, "forsakringskassan", at=AT)) == [
        ("refused", "consent[id=c1].purposes", "POLICY-CONSENT-PURPOSE")
    ]
    assert entries(apply_policy(section4(consent=None), "forsakringskassan", at=AT)) == [
        ("refused", "consent", "POLICY-CONSENT-MISSING")
    ]


# ----------------------------------------------------------------------- SIP and the plan


def test_sip_for_employer_loses_address_notes_and_diagnosis_texts() -> None:
    doc = sip(
        notes="Nästa möte i maj.",
        goals=[SipGoal(ref="g1", description="Minskad depression.", need_refs=["n1"])],
    )
    result = apply_policy(doc, "employer", at=AT, organisation=EMPLOYER_ORGANISATION)
    assert entries(result) == [
        ("removed", "patient.address", "POLICY-NOT-ALLOWED"),
        ("removed", "needs", "POLICY-NOT-ALLOWED"),
        ("removed", "goals[ref=g1].need_refs", "POLICY-NOT-ALLOWED"),
        ("removed", "notes", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "goals[ref=g1].description", "POLICY-FREE-TEXT-WITHHELD"),
    ]
    out = result.document
    assert isinstance(out, Sip)
    assert out.notes is None and out.goals[0].description == "[uppgift undanhållen]"
    assert out.needs == [] and out.goals[0].need_refs == []


def test_sip_for_municipality_passes_whole() -> None:
    doc = sip(notes="Diagnos M54.5 enligt journal.")
    result = apply_policy(doc, "municipality", at=AT)
    assert result.report == [] and result.document is doc


def test_return_to_work_plan_for_employer_needs_no_consent() -> None:
    doc = return_to_work_plan(
        notes="Ryggbesvär (M54) gör att lyft undviks.",
        measures=[],
    )
    result = apply_policy(doc, "employer", at=AT)
    assert entries(result) == [
        ("removed", "employee.address", "POLICY-NOT-ALLOWED"),
        ("removed", "notes", "POLICY-FREE-TEXT-WITHHELD"),
    ]
    assert result.document.notes is None  # type: ignore[union-attr]


def test_return_to_work_plan_to_region_needs_consent() -> None:
    result = apply_policy(return_to_work_plan(), "region", at=AT)
    assert entries(result) == [("refused", "consent", "POLICY-CONSENT-MISSING")]


def test_documents_are_never_mutated() -> None:
    doc = section4(reason="x", diagnoses=[icd("F32")])
    before = doc.model_dump()
    apply_policy(doc, "forsakringskassan", at=AT)
    assert doc.model_dump() == before
    assert STAFF.unit.id == hsa("VC1") and UTC


def test_fields_a_policy_does_not_know_are_dropped() -> None:
    """A field added to a model later (a new format version) is not on any allow-list yet, so
    it never reaches an employer until a policy names it."""
    from gateway.policy.allowlist import apply_spec

    class FutureSip(Sip):
        health_state: str | None = None

    doc = FutureSip(**sip().model_dump(), health_state="Utmattningssyndrom")
    removed: list[str] = []
    out = apply_spec(
        doc,
        policies()[(DocumentKind.SIP, Recipient.EMPLOYER)].fields,
        lambda path, label: removed.append(label),
    )
    assert isinstance(out, FutureSip) and out.health_state is None
    assert "health_state" in removed


def test_fixed_statement_is_skrs() -> None:
    policy = policies()[(DocumentKind.SECTION4_NOTIFICATION, Recipient.FORSAKRINGSKASSAN)]
    assert policy.fixed == {"statement": STATEMENT}
    assert policy.single_use_consent and policy.minimisation


# ------------------------------------------- every text an employer receives is scanned

_PLANT = "Depression F32.1"
_CONTACT = Contact(name=_PLANT, role=_PLANT, phone="010-1", email="a@b.se")


def _with_participant(doc: Sip, **changes: object) -> Sip:
    first = doc.participants[0].model_copy(update=changes)
    return doc.model_copy(update={"participants": [first, *doc.participants[1:]]})


_S, _P = sip(), return_to_work_plan()
_PLANTED: dict[str, Document] = {
    "sip patient name": _S.model_copy(
        update={"patient": PATIENT.model_copy(update={"name": PersonName(given=_PLANT)})}
    ),
    "sip participant name": _with_participant(
        _S, organisation=Organisation(id=hsa("RG1"), name=_PLANT)
    ),
    "sip participant contact": _with_participant(_S, contact=_CONTACT),
    "sip coordinator contact name": _S.model_copy(
        update={"coordinator": SipCoordinator(participant="p1", contact=_CONTACT)}
    ),
    "sip consent purpose": _S.model_copy(
        update={
            "consent": _S.consent.model_copy(  # type: ignore[union-attr]
                update={"purposes": [purpose_code("sip").model_copy(update={"display": _PLANT})]}
            )
        }
    ),
    "plan participant name": _P.model_copy(
        update={"participants": [ReturnToWorkParticipant(name=_PLANT, role="manager")]}
    ),
    "plan employer contact": _P.model_copy(
        update={"employer": _P.employer.model_copy(update={"contact": _CONTACT})}
    ),
    "plan consent purpose": _P.model_copy(
        update={
            "consent": consent(
                [Recipient.EMPLOYER],
                "return-to-work",
                purposes=[purpose_code("return-to-work").model_copy(update={"display": _PLANT})],
            )
        }
    ),
}


@pytest.mark.parametrize("where", sorted(_PLANTED))
def test_every_text_an_employer_receives_is_scanned(where: str) -> None:
    doc = _PLANTED[where]
    result = apply_policy(doc, Recipient.EMPLOYER, at=AT)
    assert result.document is not None, result.report
    assert {"POLICY-FREE-TEXT-WITHHELD", "POLICY-TEXT-NOT-FOR-RECIPIENT"} & {
        e.code for e in result.report
    }
    for fmt in output_formats(doc.kind):
        assert leaks(visible_text(render(result.document, fmt))) == [], fmt


def test_certificate_header_texts_and_required_codes_reach_no_employer() -> None:
    cert = certificate("ag7804-v1-no-diagnosis")
    unit = cert.issuer.unit.model_copy(update={"name": f"Mottagning för {_PLANT}"})
    issuer = cert.issuer.model_copy(
        update={
            "name": _PLANT,
            "unit": unit,
            "specialities": [Code(code="X1", system="1.2.3.4", display=_PLANT)],
        }
    )
    relation = Relation(
        type=Code(code="F32.1", system="1.2.752.116.1.1.1", display="Medelsvår depressiv episod"),
        certificate_id=Identifier(system="1.2.3", value="other-cert"),
    )
    cert = cert.model_copy(update={"issuer": issuer, "relations": [relation]})
    result = apply_policy(
        cert,
        Recipient.EMPLOYER,
        consent=EMPLOYER_CONSENT,
        at=AT,
        organisation=EMPLOYER_ORGANISATION,
    )
    out = result.document
    assert isinstance(out, Certificate), result.report
    assert out.relations == []
    assert ("removed", "relations[0]", "POLICY-DIAGNOSIS-WITHHELD") in entries(result)
    for fmt in output_formats(cert.kind):
        assert leaks(visible_text(render(out, fmt))) == [], fmt


def test_certificate_typed_with_a_diagnosis_code_is_refused_for_an_employer() -> None:
    cert = certificate("ag7804-v1-no-diagnosis")
    cert = cert.model_copy(update={"type_code": icd("F32.1", "Medelsvår depressiv episod")})
    result = apply_policy(
        cert,
        Recipient.EMPLOYER,
        consent=EMPLOYER_CONSENT,
        at=AT,
        organisation=EMPLOYER_ORGANISATION,
    )
    assert result.refused and result.document is None
    assert entries(result)[-1] == ("refused", "", "POLICY-DIAGNOSIS-WITHHELD")
