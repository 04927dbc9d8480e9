"""FHIR R4 for SIP, return-to-work plan and §4 notification: round trips, strict R4, the
mapping files against both codecs, and exact issues for broken input."""

from __future__ import annotations

import copy
import re
import tomllib
from datetime import date, datetime
from typing import Any, cast

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import BaseModel
from strategies_plans import return_to_work_plans, section4_notifications, sips

from gateway import MAPPINGS_DIR
from gateway.documents import Document, DocumentKind
from gateway.documents.common import (
    Address,
    CareUnit,
    Code,
    Consent,
    ConsentMethod,
    ConsentPolicyRule,
    ConsentProvision,
    ConsentScope,
    ConsentStatus,
    Contact,
    HealthcareProfessional,
    Identifier,
    Model,
    Organisation,
    Period,
    Person,
    PersonName,
    ProvisionType,
    Recipient,
)
from gateway.documents.consent import purpose_code
from gateway.documents.return_to_work import (
    FollowUp,
    MeasureType,
    ParticipantRole,
    ReturnToWorkMeasure,
    ReturnToWorkParticipant,
    ReturnToWorkPlan,
)
from gateway.documents.section4 import Section4Notification
from gateway.documents.sip import (
    EffortStatus,
    PrincipalType,
    Sip,
    SipCoordinator,
    SipEffort,
    SipGoal,
    SipNeed,
    SipParticipant,
)
from gateway.formats.base import Format
from gateway.formats.fhir.codec import FhirJsonCodec, FhirXmlCodec, detect_kind, read_tree
from gateway.formats.fhir.conformance import strict_issues
from gateway.formats.fhir.datatypes import STOCKHOLM
from gateway.formats.ownxml.codec import OwnXmlCodec
from gateway.formats.registry import codec_for
from gateway.validation.engine import check_document

JSON = FhirJsonCodec()
XML = FhirXmlCodec()
STRATEGIES = {
    DocumentKind.SIP: sips(),
    DocumentKind.RETURN_TO_WORK_PLAN: return_to_work_plans(),
    DocumentKind.SECTION4_NOTIFICATION: section4_notifications(),
}
KINDS = list(STRATEGIES)


def local_time(doc: Model) -> Document:
    """The model as FHIR gives it back: date-times in Swedish local time without offset (FHIR
    requires an offset; the canonical model holds local time, datatypes.py)."""

    def walk(value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(STOCKHOLM).replace(tzinfo=None)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return cast("Document", type(doc).model_validate(walk(doc.model_dump())))


def documents(kind: DocumentKind) -> st.SearchStrategy[Document]:
    return STRATEGIES[kind].map(local_time)


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=50)
@given(data=st.data())
def test_json_round_trip_is_identity(kind: DocumentKind, data: st.DataObject) -> None:
    doc = data.draw(documents(kind))
    back = JSON.parse(JSON.render(doc))
    assert back.issues == []
    assert back.document == doc


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40)
@given(data=st.data())
def test_xml_round_trip_is_identity(kind: DocumentKind, data: st.DataObject) -> None:
    doc = data.draw(documents(kind))
    back = XML.parse(XML.render(doc))
    assert back.issues == []
    assert back.document == doc


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40)
@given(data=st.data())
def test_own_xml_to_fhir_to_own_xml_is_identity(kind: DocumentKind, data: st.DataObject) -> None:
    own = codec_for(kind, Format.XML)
    assert isinstance(own, OwnXmlCodec)
    xml = own.render(data.draw(documents(kind)))
    first = own.parse(xml)
    assert first.issues == [] and first.document is not None
    for fhir in (JSON, XML):
        back = fhir.parse(fhir.render(first.document))
        assert back.document is not None
        assert own.render(back.document) == xml


_FHIR_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_FHIR_STRING = re.compile(r"[ \r\n\t\S]+")  # R4 string: no other whitespace (NBSP, U+2028)


def fhir_safe(doc: Document) -> bool:
    """Whether every value can be written as valid R4 at all: a ``code`` has no leading,
    trailing or double whitespace, a code system is a URI without spaces, and a string holds
    no whitespace but space, tab, CR and LF. (Such input is carried, not made strict.)"""
    ok = True

    def walk(value: Any) -> None:
        nonlocal ok
        if isinstance(value, Code):
            ok &= bool(_FHIR_CODE.fullmatch(value.code))
            ok &= value.system is None or not re.search(r"\s", value.system)
        if isinstance(value, str) and value:
            ok &= bool(_FHIR_STRING.fullmatch(value))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))

    walk(doc)
    return ok


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25)
@given(data=st.data())
def test_every_output_is_valid_base_r4(kind: DocumentKind, data: st.DataObject) -> None:
    doc = data.draw(documents(kind).filter(fhir_safe))
    tree = JSON.to_tree(doc)
    assert strict_issues(tree) == []


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=20)
@given(data=st.data())
def test_detected_as_its_kind(kind: DocumentKind, data: st.DataObject) -> None:
    assert detect_kind(JSON.to_tree(data.draw(documents(kind)))) is kind


# -- the mapping files hold --------------------------------------------------------------------

ADDRESS = Address(street="Storgatan 1", postal_code="12345", city="Småstad")
CONTACT = Contact(
    name="Anna Andersson",
    role="Koordinator",
    phone="010-123 45 67",
    email="a@x.example",
    address=ADDRESS,
)
PATIENT = Person(
    id=Identifier(system="1.2.752.129.2.1.3.1", value="191212121212"),
    name=PersonName(given="Tolvan", family="Tolvansson", middle="Mellan"),
    address=ADDRESS,
)
HSA = "1.2.752.129.2.1.4.1"
CONSENT = Consent(
    id="c1",
    status=ConsentStatus.ACTIVE,
    scope=ConsentScope(kind=DocumentKind.SIP),
    patient=PATIENT.id,
    given_by=PATIENT.id,
    given_at=datetime(2025, 3, 1, 9, 0),
    method=ConsentMethod.WRITTEN,
    policy_rule=ConsentPolicyRule.OPT_IN_RESTRICTED,
    recipients=[Recipient.REGION, Recipient.FORSAKRINGSKASSAN],
    purposes=[purpose_code("sip"), purpose_code("rehabilitation")],
    recorded_by=Identifier(system=HSA, value="SE2321000016-REKO"),
    valid_from=datetime(2025, 3, 1, 10, 0),
    withdrawn_at=datetime(2025, 4, 1, 9, 0),
    provisions=[
        ConsentProvision(
            type=ProvisionType.DENY,
            start=datetime(2025, 3, 2, 0, 0),
            end=datetime(2025, 3, 3, 0, 0),
            recipients=[Recipient.EMPLOYER, Recipient.ARBETSFORMEDLINGEN],
            purposes=[purpose_code("sick-pay")],
        ),
        ConsentProvision(type=ProvisionType.PERMIT, recipients=[Recipient.MUNICIPALITY]),
    ],
)


def consent_for(kind: DocumentKind, document_id: str, purpose: str) -> Consent:
    """CONSENT, scoped to one document of ``kind`` for one of its purposes."""
    return CONSENT.model_copy(
        update={
            "scope": ConsentScope(kind=kind, document_id=document_id),
            "purposes": [purpose_code(purpose)],
        }
    )


CODE = Code(code="F32.1", system="1.2.752.116.1.1.1.1.3", display="Depression")
UNIT = CareUnit(
    id=Identifier(system=HSA, value="SE2321000016-UNIT"),
    name="Vårdcentralen",
    workplace_code=Identifier(system="1.2.752.29.4.71", value="1234567890"),
    address=ADDRESS,
    phone="010-2",
    email="vc@x.invalid",
    care_provider=Organisation(
        id=Identifier(system=HSA, value="SE2321000016-PROV"), name="Region", contact=CONTACT
    ),
)

FULL: dict[DocumentKind, Document] = {
    DocumentKind.SIP: Sip(
        id="sip-1",
        version="2",
        created_at=datetime(2025, 3, 14, 10, 30),
        patient=PATIENT,
        participants=[
            SipParticipant(
                ref="p1",
                organisation=Organisation(
                    id=Identifier(system=HSA, value="SE2321000016-REG1"),
                    name="Region",
                    contact=CONTACT,
                ),
                principal_type=PrincipalType.REGION,
                contact=CONTACT,
            ),
            SipParticipant(
                ref="p2",
                organisation=Organisation(
                    id=Identifier(system="2.5.4.97", value="212000-0142"), name="Kommunen"
                ),
                principal_type=PrincipalType.MUNICIPALITY,
            ),
        ],
        coordinator=SipCoordinator(participant="p1", contact=CONTACT),
        needs=[SipNeed(ref="n1", description="Bostad", area="boende")],
        goals=[SipGoal(ref="g1", description="Bo kvar", need_refs=["n1"])],
        efforts=[
            SipEffort(
                ref="e1",
                description="Boendestöd",
                responsible="p1",
                status=EffortStatus.ONGOING,
                period=Period(start=date(2025, 3, 17), end=date(2025, 9, 30)),
                goal_refs=["g1"],
            )
        ],
        meeting_date=date(2025, 3, 14),
        next_follow_up=date(2025, 6, 13),
        notes="Anteckning",
        consent=consent_for(DocumentKind.SIP, "sip-1", "sip"),
    ),
    DocumentKind.RETURN_TO_WORK_PLAN: ReturnToWorkPlan(
        id="rtw-1",
        version="1.1",
        employer=Organisation(
            id=Identifier(system="2.5.4.97", value="556677-8899"), name="AB", contact=CONTACT
        ),
        employee=PATIENT,
        first_day_of_reduced_capacity=date(2025, 2, 3),
        expected_leave_60_days_or_more=True,
        plan_not_needed_reason="Ej aktuellt",
        plan_date=date(2025, 2, 27),
        measures=[
            ReturnToWorkMeasure(
                ref="m1",
                type=MeasureType.PART_TIME,
                description="Halvtid",
                period=Period(start=date(2025, 3, 3), end=date(2025, 3, 30)),
                responsible="Chefen",
            )
        ],
        contact_during_leave="Chefen ringer",
        follow_ups=[FollowUp(on=date(2025, 3, 28), how="Möte")],
        participants=[ReturnToWorkParticipant(name="Karin", role=ParticipantRole.MANAGER)],
        notes="Anteckning",
        consent=consent_for(DocumentKind.RETURN_TO_WORK_PLAN, "rtw-1", "return-to-work"),
    ),
    DocumentKind.SECTION4_NOTIFICATION: Section4Notification(
        id="s4-1",
        sent_at=datetime(2025, 4, 10, 14, 5),
        patient=PATIENT,
        coordinator=CONTACT,
        region=Organisation(
            id=Identifier(system=HSA, value="SE2321000016-REG1"), name="Region", contact=CONTACT
        ),
        unit=UNIT,
        sent_by=HealthcareProfessional(
            id=Identifier(system=HSA, value="SE2321000016-DOC1"),
            name="Doktor",
            prescriber_code="1234567",
            positions=[CODE],
            specialities=[CODE],
            licensed_professions=[CODE],
            unit=UNIT,
        ),
        consent=consent_for(DocumentKind.SECTION4_NOTIFICATION, "s4-1", "section4"),
        certificate_id=Identifier(system="SE2321000016-UNIT", value="abc"),
        reason="Varför",
        diagnoses=[CODE],
        note="Notering",
    ),
}


def mapping_rows(kind: DocumentKind) -> list[dict[str, str]]:
    with open(MAPPINGS_DIR / f"{kind}.toml", "rb") as f:
        rows: list[dict[str, str]] = tomllib.load(f)["field"]
    return rows


def xml_leaf_paths(data: bytes) -> set[str]:
    root = etree.fromstring(data)
    out = set()
    for el in root.iter():
        if isinstance(el.tag, str) and len(el) == 0:
            steps = [etree.QName(a).localname for a in [*reversed(list(el.iterancestors())), el]]
            out.add("/" + "/".join(steps))
    return out


def fhir_paths(tree: dict[str, Any]) -> set[str]:
    """Every Resource.element.element path below the entries (indexes dropped)."""
    out: set[str] = set()

    def walk(value: Any, path: str) -> None:
        out.add(path)
        if isinstance(value, dict):
            for k, v in value.items():
                if k != "resourceType":
                    walk(v, f"{path}.{k.lstrip('_')}")
        elif isinstance(value, list):
            for v in value:
                walk(v, path)

    for entry in tree["entry"]:
        res = entry["resource"]
        walk(res, res["resourceType"])
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_every_mapped_xml_path_is_in_the_own_xml_and_every_leaf_is_mapped(
    kind: DocumentKind,
) -> None:
    own = codec_for(kind, Format.XML)
    rendered = xml_leaf_paths(own.render(FULL[kind]))  # type: ignore[union-attr]
    mapped = {row["xml"] for row in mapping_rows(kind)}
    assert mapped - rendered == set()
    assert rendered - mapped == set()


@pytest.mark.parametrize("kind", KINDS)
def test_every_mapped_fhir_path_is_in_the_fhir_output(kind: DocumentKind) -> None:
    rendered = fhir_paths(JSON.to_tree(FULL[kind]))
    assert {row["fhir"] for row in mapping_rows(kind)} - rendered == set()


@pytest.mark.parametrize("kind", KINDS)
def test_the_full_documents_round_trip_and_are_valid_r4(kind: DocumentKind) -> None:
    for codec in (JSON, XML):
        back = codec.parse(codec.render(FULL[kind]))
        assert (back.issues, back.document) == ([], FULL[kind])
    assert strict_issues(JSON.to_tree(FULL[kind])) == []


# -- broken input: exact codes at exact places ---------------------------------------------------


def tree_of(kind: DocumentKind) -> dict[str, Any]:
    """A full document whose consent still holds: no business rule breaks."""
    own = getattr(FULL[kind], "consent", None)
    assert isinstance(own, Consent)
    doc = FULL[kind].model_copy(update={"consent": own.model_copy(update={"withdrawn_at": None})})
    return copy.deepcopy(JSON.to_tree(doc))


def issues_of(tree: dict[str, Any]) -> list[tuple[str, str]]:
    result = read_tree(tree)
    found = [(i.code, i.location.path) for i in result.issues]
    if result.document is not None:
        found += [
            (i.code, i.location.path) for i in check_document(result.document, result.source_map)
        ]
    return found


def entry(tree: dict[str, Any], rtype: str, n: int = 0) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        e["resource"] for e in tree["entry"] if e["resource"]["resourceType"] == rtype
    ]
    return found[n]


def test_patient_identifier_in_an_unknown_system_is_reported() -> None:
    tree = tree_of(DocumentKind.SIP)
    entry(tree, "Patient")["identifier"][0]["system"] = "urn:oid:1.2.3"
    assert ("FHIR-SYSTEM", "Bundle.entry[1].resource.identifier[0].system") in issues_of(tree)


def test_alias_systems_are_accepted() -> None:
    tree = tree_of(DocumentKind.SIP)
    system = "http://electronichealth.se/identifier/personnummer"
    entry(tree, "Patient")["identifier"][0]["system"] = system
    result = read_tree(tree)
    assert result.issues == []
    assert isinstance(result.document, Sip)
    assert result.document.patient.id.system == "1.2.752.129.2.1.3.1"


def test_a_reference_outside_the_bundle_is_reported() -> None:
    tree = tree_of(DocumentKind.SIP)
    tree["entry"][0]["resource"]["goal"][0]["reference"] = "Goal/nowhere"
    # the goal is not read, so the effort that serves it now names an unknown goal
    assert issues_of(tree) == [
        ("FHIR-REFERENCE", "Bundle.entry[0].resource.goal[0].reference"),
        ("SIP-REF-UNRESOLVED", "Bundle.entry[0].resource.activity[0].detail.goal[0]"),
    ]


def test_a_missing_subject_makes_the_plan_unreadable() -> None:
    tree = tree_of(DocumentKind.RETURN_TO_WORK_PLAN)
    del tree["entry"][0]["resource"]["subject"]
    result = read_tree(tree)
    assert result.document is None
    assert [(i.code, i.location.path) for i in result.issues] == [
        ("FHIR-REQUIRED", "Bundle.entry[0].resource.subject")
    ]


def test_unknown_principal_type_is_reported_at_its_coding() -> None:
    tree = tree_of(DocumentKind.SIP)
    team = entry(tree, "CareTeam")
    team["participant"][0]["role"][0]["coding"][0]["code"] = "county"
    idx = next(i for i, e in enumerate(tree["entry"]) if e["resource"] is team)
    path = f"Bundle.entry[{idx}].resource.participant[0].role[0].coding[0].code"
    # read as "other", so the plan also lacks its region
    assert issues_of(tree) == [
        ("FHIR-SYSTEM", path),
        ("SIP-PRINCIPALS", "Bundle.entry[0].resource"),
    ]


def test_a_dangling_local_ref_reaches_the_business_rule() -> None:
    tree = tree_of(DocumentKind.SIP)
    detail = tree["entry"][0]["resource"]["activity"][0]["detail"]
    detail["performer"] = [{"identifier": {"system": _local_ref(), "value": "hemtjansten"}}]
    assert issues_of(tree) == [
        ("SIP-RESPONSIBLE-UNKNOWN", "Bundle.entry[0].resource.activity[0].detail.performer[0]")
    ]


def _local_ref() -> str:
    from gateway.formats.fhir.localrefs import LOCAL_REF_SYSTEM

    return LOCAL_REF_SYSTEM


def test_a_business_rule_is_located_by_fhirpath_and_xml_line() -> None:
    doc = FULL[DocumentKind.SECTION4_NOTIFICATION]
    assert isinstance(doc, Section4Notification)
    bad = doc.model_copy(update={"statement": "Patienten behöver rehabilitering"})
    result = XML.parse(XML.render(bad))
    assert result.document is not None
    found = check_document(result.document, result.source_map)
    statement = [i for i in found if i.code == "S4-STATEMENT"]
    assert [i.location.path for i in statement] == [
        "Bundle.entry[0].resource.payload[0].contentString"
    ]
    assert statement[0].location.line is not None


def test_consent_without_recipients_is_reported() -> None:
    tree = tree_of(DocumentKind.SECTION4_NOTIFICATION)
    consent = entry(tree, "Consent")
    del consent["provision"]["actor"]
    idx = next(i for i, e in enumerate(tree["entry"]) if e["resource"] is consent)
    result = read_tree(tree)
    assert [(i.code, i.location.path) for i in result.issues] == [
        ("FHIR-REQUIRED", f"Bundle.entry[{idx}].resource.provision.actor")
    ]
    assert result.document is None


def test_output_is_deterministic() -> None:
    """The same document renders the same bytes however it came to be: a copy of it, and
    what reading the output gives back (entry URLs are stable; no set order leaks)."""
    for doc in FULL.values():
        out = JSON.render(doc)
        back = JSON.parse(out).document
        assert back is not None
        assert JSON.render(doc.model_copy(deep=True)) == out
        assert JSON.render(back) == out
        assert orjson.loads(out)["type"] == "collection"
