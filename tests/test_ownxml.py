"""The gateway's own XML codecs: lossless round trips, schema-valid output, located input,
never an exception for bad input, and a documented contract."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import BaseModel
from strategies_plans import return_to_work_plans, section4_notifications, sips

from gateway import FIXTURES_DIR, SCHEMAS_DIR
from gateway.documents import Document, ReturnToWorkPlan, Section4Notification, Sip
from gateway.documents.issues import ModelPath
from gateway.formats.base import Format
from gateway.formats.ownxml.binding import element_name
from gateway.formats.ownxml.codec import OwnXmlCodec
from gateway.formats.ownxml.return_to_work import ReturnToWorkXmlCodec
from gateway.formats.ownxml.section4 import Section4XmlCodec
from gateway.formats.ownxml.sip import SipXmlCodec
from gateway.validation import sip_rules
from gateway.validation.engine import locate

SIP = SipXmlCodec()
RTW = ReturnToWorkXmlCodec()
S4 = Section4XmlCodec()
XS = "{http://www.w3.org/2001/XMLSchema}"


def model_paths(obj: object, path: ModelPath = ()) -> list[ModelPath]:
    """Every path to a set leaf or list item of a model, as the source map should know it."""
    if isinstance(obj, BaseModel):
        out: list[ModelPath] = []
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if name != "kind" and value is not None:
                out += model_paths(value, (*path, name))
        return out
    if isinstance(obj, list):
        return [p for i, item in enumerate(obj) for p in model_paths(item, (*path, i))]
    return [path]


def _round_trip(codec: OwnXmlCodec[Document], document: Document) -> None:
    xml = codec.render(document)
    parsed = codec.parse(xml)
    assert parsed.issues == []  # the output follows the XSD
    assert parsed.document == document
    known = parsed.source_map.materialise()  # type: ignore[attr-defined]
    for path in model_paths(document):
        # a leaf equal to its empty default is not written, so it has no element
        if path in known or getattr(_at(document, path[:-1]), str(path[-1]), None) == "":
            continue
        raise AssertionError(f"no location for {path}")
    assert all(loc.line is not None for loc in known.values())


def _at(obj: object, path: ModelPath) -> object:
    for step in path:
        obj = obj[step] if isinstance(step, int) else getattr(obj, step)  # type: ignore[index]
    return obj


@settings(max_examples=60, deadline=None)
@given(sips())
def test_sip_round_trip(sip: Sip) -> None:
    _round_trip(SIP, sip)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(return_to_work_plans())
def test_return_to_work_plan_round_trip(plan: ReturnToWorkPlan) -> None:
    _round_trip(RTW, plan)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(section4_notifications())
def test_section4_round_trip(notification: Section4Notification) -> None:
    _round_trip(S4, notification)  # type: ignore[arg-type]


def test_codec_attributes() -> None:
    assert (SIP.kind, RTW.kind, S4.kind) == ("sip", "return-to-work-plan", "section4-notification")
    assert SIP.format is RTW.format is S4.format is Format.XML


def test_render_refuses_another_kind() -> None:
    sip = SIP.parse((FIXTURES_DIR / "sip" / "valid-region-and-municipality.xml").read_bytes())
    assert sip.document is not None
    with pytest.raises(TypeError):
        S4.render(sip.document)


def test_element_names_follow_the_convention() -> None:
    assert element_name("first_day_of_reduced_capacity", False) == "firstDayOfReducedCapacity"
    assert element_name("follow_ups", True) == "followUp"
    assert element_name("diagnoses", True) == "diagnosis"
    assert element_name("need_refs", True) == "needRef"


# ------------------------------------------------------------------------ bad input


def test_not_well_formed() -> None:
    result = SIP.parse(b"<sip xmlns='urn:gateway:sip:1'><id>x</id>")
    assert result.document is None
    assert [i.code for i in result.issues] == ["XML-SYNTAX"]


def test_doctype_refused() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE sip [<!ENTITY x "y">]><sip xmlns="urn:gateway:sip:1"/>'
    result = SIP.parse(data)
    assert result.document is None
    assert [i.code for i in result.issues] == ["XML-FORBIDDEN"]


def test_wrong_document() -> None:
    data = (FIXTURES_DIR / "sip" / "valid-region-and-municipality.xml").read_bytes()
    result = S4.parse(data)
    assert result.document is None
    assert [i.code for i in result.issues] == ["XSD-INVALID"]


def test_schema_invalid_optional_value_still_gives_a_model() -> None:
    """A broken optional value is reported and left out, so business rules still run."""
    data = (FIXTURES_DIR / "sip" / "valid-region-and-municipality.xml").read_bytes()
    data = data.replace(
        b"<nextFollowUp>2025-06-13</nextFollowUp>", b"<nextFollowUp>soon</nextFollowUp>"
    )
    result = SIP.parse(data)
    assert [(i.code, i.location.path) for i in result.issues] == [
        ("XSD-INVALID", "/sip/nextFollowUp")
    ]
    assert result.document is not None and result.document.next_follow_up is None
    assert result.document.meeting_date == date(2025, 3, 14)


def test_schema_valid_but_unreadable_value() -> None:
    """xs:date allows a time-zone suffix that the model's date does not: reported at the
    element, the rest still read."""
    data = (FIXTURES_DIR / "sip" / "valid-region-and-municipality.xml").read_bytes()
    data = data.replace(b">2025-06-13</nextFollowUp>", b">2025-06-13Z</nextFollowUp>")
    result = SIP.parse(data)
    assert [(i.code, i.location.path) for i in result.issues] == [
        ("XML-UNREADABLE", "/sip/nextFollowUp")
    ]
    assert result.issues[0].message == "'2025-06-13Z' is not a date YYYY-MM-DD without a time zone"
    assert result.document is not None and result.document.next_follow_up is None


def test_findings_are_located_on_the_offending_element() -> None:
    data = (FIXTURES_DIR / "sip" / "invalid-responsible-not-participant.xml").read_bytes()
    result = SIP.parse(data)
    assert result.document is not None
    issues = locate(sip_rules.check(result.document), result.source_map)
    assert [(i.code, i.location.path) for i in issues] == [
        ("SIP-RESPONSIBLE-UNKNOWN", "/sip/effort[1]/responsible")
    ]
    line = issues[0].location.line
    assert line is not None
    assert b"<responsible>hemtjansten</responsible>" in data.splitlines()[line - 1]


def test_locations_are_worked_out_on_request_as_paths_with_positions() -> None:
    """The source map keeps elements and makes locations only when asked (issue 21), in the
    form they always had: local names, ``[n]`` among equal siblings, the element's line; a
    stray id attribute changes nothing (the own XML has none; RIVTA's ``[@id=...]`` is not
    used here)."""
    data = (FIXTURES_DIR / "sip" / "valid-four-principals.xml").read_bytes()
    data = data.replace(
        b"<participant>\n    <ref>ag</ref>", b'<participant id="x">\n    <ref>ag</ref>'
    )
    result = SIP.parse(data)
    lines = data.decode().splitlines()
    source_map = result.source_map
    assert source_map.locations == {}  # nothing made up front
    expected = {
        (): ("/sip", "<sip "),
        ("participants",): ("/sip/participant[1]", "<participant>"),
        ("participants", 3): ("/sip/participant[4]", '<participant id="x">'),
        ("participants", 3, "organisation", "contact", "phone"): (
            "/sip/participant[4]/organisation/contact/phone",
            "<phone>08-123 456 00</phone>",
        ),
        ("coordinator", "participant"): ("/sip/coordinator/participant", "<participant>region"),
        ("participants", 3, "organisation", "nothing", 7): (
            "/sip/participant[4]/organisation",
            "<organisation>",
        ),  # the nearest known ancestor
    }
    for path, (where, text) in expected.items():
        location = source_map.locate(path)
        assert location.path == where
        assert location.line is not None and text in lines[location.line - 1]
    assert source_map.locate(("no", "such")).path == "/sip"  # the root, as ever


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_never_raises_for_garbage(data: bytes) -> None:
    for codec in (SIP, RTW, S4):
        result = codec.parse(data)
        assert result.document is None
        assert result.issues


@settings(max_examples=40, deadline=None)
@given(sips(), st.data())
def test_never_raises_for_a_damaged_document(sip: Sip, data: st.DataObject) -> None:
    """Cut out any one element: issues, maybe a model, never an exception."""
    root = etree.fromstring(SIP.render(sip))
    elements = list(root.iter())[1:]
    victim = data.draw(st.sampled_from(elements))
    parent = victim.getparent()
    assert parent is not None
    parent.remove(victim)
    result = SIP.parse(etree.tostring(root))
    assert result.issues or result.document is not None


# ----------------------------------------------------------------------- the contract

SCHEMAS = [
    "gateway-common-v1.xsd",
    "sip-v1.xsd",
    "return-to-work-plan-v1.xsd",
    "section4-notification-v1.xsd",
]


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_element_and_type_is_documented(name: str) -> None:
    tree = etree.parse(str(SCHEMAS_DIR / name))
    declared = [
        el
        for tag in ("element", "complexType", "simpleType")
        for el in tree.iter(f"{XS}{tag}")
        if el.get("name")
    ]
    assert declared
    undocumented = [
        el.get("name")
        for el in declared
        if not (el.findtext(f"{XS}annotation/{XS}documentation") or "").strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("sip-v1.xsd", "urn:gateway:sip:1"),
        ("return-to-work-plan-v1.xsd", "urn:gateway:return-to-work-plan:1"),
        ("section4-notification-v1.xsd", "urn:gateway:section4-notification:1"),
    ],
)
def test_schemas_are_namespaced_and_qualified(name: str, namespace: str) -> None:
    root = etree.parse(str(SCHEMAS_DIR / name)).getroot()
    assert root.get("targetNamespace") == namespace
    assert root.get("elementFormDefault") == "qualified"


def test_enumerations_match_the_models() -> None:
    from gateway.documents.common import (
        ConsentMethod,
        ConsentPolicyRule,
        ConsentStatus,
        DocumentKind,
        ProvisionType,
        Recipient,
    )
    from gateway.documents.return_to_work import MeasureType, ParticipantRole
    from gateway.documents.sip import EffortStatus, PrincipalType

    def values(schema: str, type_name: str) -> set[str]:
        tree = etree.parse(str(SCHEMAS_DIR / schema))
        (simple,) = [t for t in tree.iter(f"{XS}simpleType") if t.get("name") == type_name]
        return {str(e.get("value")) for e in simple.iter(f"{XS}enumeration")}

    assert values("gateway-common-v1.xsd", "RecipientType") == set(Recipient)
    assert values("gateway-common-v1.xsd", "ConsentMethodType") == set(ConsentMethod)
    assert values("gateway-common-v1.xsd", "ConsentStatusType") == set(ConsentStatus)
    assert values("gateway-common-v1.xsd", "ConsentPolicyRuleType") == set(ConsentPolicyRule)
    assert values("gateway-common-v1.xsd", "ProvisionTypeType") == set(ProvisionType)
    assert values("gateway-common-v1.xsd", "DocumentKindType") == set(DocumentKind)
    assert values("sip-v1.xsd", "PrincipalTypeType") == set(PrincipalType)
    assert values("sip-v1.xsd", "EffortStatusType") == set(EffortStatus)
    assert values("return-to-work-plan-v1.xsd", "MeasureTypeType") == set(MeasureType)
    assert values("return-to-work-plan-v1.xsd", "ParticipantRoleType") == set(ParticipantRole)


def test_a_comment_or_processing_instruction_inside_a_value_hides_none_of_it() -> None:
    """``<description>F<!-- x -->32.1</description>`` is the text "F32.1": the pieces around
    a comment or a processing instruction are joined, never cut at the first one (the scanner
    and every output see the whole value)."""
    fixture = FIXTURES_DIR / "return-to-work-plan" / "valid-part-time-within-30-days.xml"
    data = fixture.read_bytes()
    plain = RTW.parse(data).document
    assert isinstance(plain, ReturnToWorkPlan)
    first = plain.measures[0].description
    split = first[:3] + "<!-- x -->" + first[3:6] + "<?pi y?>" + first[6:]
    data = data.replace(f"<description>{first}<".encode(), f"<description>{split}<".encode(), 1)
    result = RTW.parse(data)
    assert isinstance(result.document, ReturnToWorkPlan)
    assert result.document.measures[0].description == first
