"""Business rules of SIP, return-to-work plan and §4 notification, rule by rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_plans import return_to_work_plans, section4_notifications, sips

from gateway import FIXTURES_DIR
from gateway.documents.common import Code, Contact, Identifier, Period, Recipient
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID, PERSONNUMMER_OID
from gateway.documents.issues import RULES, Finding, RuleKind, Severity
from gateway.documents.return_to_work import ReturnToWorkPlan
from gateway.documents.section4 import STATEMENT, Section4Notification
from gateway.documents.sip import PrincipalType, Sip, SipEffort, SipNeed
from gateway.formats.ownxml.section4 import Section4XmlCodec
from gateway.formats.ownxml.sip import SipXmlCodec
from gateway.validation import return_to_work_rules, section4_rules, sip_rules

EXAMPLES = settings(max_examples=50, deadline=None)


def codes(found: object) -> list[str]:
    return sorted(f.rule.code for f in found)  # type: ignore[attr-defined]


@pytest.fixture
def sip_fixture() -> Sip:
    parsed = SipXmlCodec().parse(
        (FIXTURES_DIR / "sip" / "valid-region-and-municipality.xml").read_bytes()
    )
    assert parsed.document is not None
    return parsed.document


@pytest.fixture
def s4_fixture() -> Section4Notification:
    path = FIXTURES_DIR / "section4-notification" / "valid-notification.xml"
    parsed = Section4XmlCodec().parse(path.read_bytes())
    assert parsed.document is not None
    return parsed.document


def errors(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.rule.severity is Severity.ERROR]


# ----------------------------------------------------------------------- rule catalogue

OUR_CODES = {
    "SIP-PRINCIPALS", "SIP-EFFORT-RESPONSIBLE", "SIP-RESPONSIBLE-UNKNOWN",
    "SIP-COORDINATOR-UNKNOWN", "SIP-REF-DUPLICATE", "SIP-REF-UNRESOLVED",
    "SIP-FOLLOW-UP-BEFORE-CREATION", "SIP-EFFORT-PERIOD", "SIP-CONSENT-MISSING",
    "SIP-CONSENT-WITHDRAWN", "RTW-PLAN-LATE", "RTW-EMPLOYER-ID", "RTW-MEASURE-PERIOD",
    "RTW-NO-MEASURES", "RTW-FOLLOW-UP-MISSING", "S4-CONSENT-MISSING", "S4-CONSENT-NOT-FK",
    "S4-CONSENT-AFTER-SENDING", "S4-CONSENT-WITHDRAWN", "S4-CONSENT-NOT-PATIENT",
    "S4-STATEMENT", "S4-REGION-ID", "S4-COORDINATOR-CONTACT", "S4-EXTRA-CONTENT",
    "S4-COORDINATOR-PHONE", "S4-COORDINATOR-EMAIL",
}  # fmt: skip


def test_rules_are_declared_as_business_rules() -> None:
    for code in OUR_CODES:
        rule = RULES[code]
        assert rule.kind is RuleKind.BUSINESS and rule.overridable
        assert rule.title and rule.explanation
    assert RULES["S4-EXTRA-CONTENT"].severity is Severity.WARNING
    assert {c for c in OUR_CODES if RULES[c].severity is Severity.WARNING} == {"S4-EXTRA-CONTENT"}
    assert "30 kap. 6 § SFB" in RULES["RTW-PLAN-LATE"].source
    assert "16 kap. 4 § HSL" in RULES["SIP-PRINCIPALS"].source


# -------------------------------------------------------------------------------- valid


@EXAMPLES
@given(sips())
def test_valid_sips_pass(sip: Sip) -> None:
    assert list(sip_rules.check(sip)) == []


@EXAMPLES
@given(return_to_work_plans())
def test_valid_plans_pass(plan: ReturnToWorkPlan) -> None:
    assert list(return_to_work_rules.check(plan)) == []


@EXAMPLES
@given(section4_notifications())
def test_valid_notifications_only_warn_about_extra_content(n: Section4Notification) -> None:
    found = list(section4_rules.check(n))
    assert errors(found) == []
    extra = [name for name in ("reason", "diagnoses", "note") if getattr(n, name)]
    assert [f.path for f in found] == [(name,) for name in extra]


# ---------------------------------------------------------------------------------- SIP


@EXAMPLES
@given(sips(), st.sampled_from([PrincipalType.REGION, PrincipalType.MUNICIPALITY]))
def test_sip_needs_region_and_municipality(sip: Sip, dropped: PrincipalType) -> None:
    kept = [p for p in sip.participants if p.principal_type is not dropped]
    refs = {p.ref for p in kept}
    sip = sip.model_copy(
        update={
            "participants": kept,
            "coordinator": sip.coordinator.model_copy(update={"participant": kept[0].ref}),
            "efforts": [e.model_copy(update={"responsible": kept[0].ref})
                        if e.responsible not in refs else e for e in sip.efforts],
        }
    )  # fmt: skip
    found = list(sip_rules.check(sip))
    assert codes(found) == ["SIP-PRINCIPALS"]
    assert found[0].path == ("participants",) and str(dropped) in found[0].message


@EXAMPLES
@given(sips().filter(lambda s: bool(s.efforts)), st.sampled_from([None, "", "nobody"]))
def test_sip_effort_responsible(sip: Sip, responsible: str | None) -> None:
    efforts = [sip.efforts[0].model_copy(update={"responsible": responsible}), *sip.efforts[1:]]
    found = list(sip_rules.check(sip.model_copy(update={"efforts": efforts})))
    if responsible == "nobody":
        assert [(f.rule.code, f.path) for f in found] == [
            ("SIP-RESPONSIBLE-UNKNOWN", ("efforts", 0, "responsible"))
        ]
    else:
        assert [(f.rule.code, f.path) for f in found] == [
            ("SIP-EFFORT-RESPONSIBLE", ("efforts", 0))
        ]


@EXAMPLES
@given(sips())
def test_sip_coordinator_must_participate(sip: Sip) -> None:
    sip = sip.model_copy(
        update={"coordinator": sip.coordinator.model_copy(update={"participant": "elsewhere"})}
    )
    assert codes(sip_rules.check(sip)) == ["SIP-COORDINATOR-UNKNOWN"]


@EXAMPLES
@given(sips())
def test_sip_refs_are_unique_across_the_plan(sip: Sip) -> None:
    clash = SipNeed(ref=sip.participants[0].ref, description="x")
    found = list(sip_rules.check(sip.model_copy(update={"needs": [*sip.needs, clash]})))
    assert [(f.rule.code, f.path) for f in found] == [
        ("SIP-REF-DUPLICATE", ("needs", len(sip.needs), "ref"))
    ]


@EXAMPLES
@given(sips())
def test_sip_references_resolve(sip: Sip) -> None:
    effort = SipEffort(ref="extra", description="x", responsible=sip.participants[0].ref,
                       goal_refs=["no-such-goal"])  # fmt: skip
    found = list(sip_rules.check(sip.model_copy(update={"efforts": [*sip.efforts, effort]})))
    assert [(f.rule.code, f.path) for f in found] == [
        ("SIP-REF-UNRESOLVED", ("efforts", len(sip.efforts), "goal_refs", 0))
    ]


@EXAMPLES
@given(sips(), st.integers(-3, 3))
def test_sip_follow_up_not_before_creation(sip: Sip, offset: int) -> None:
    follow_up = sip.created_at.date() + timedelta(days=offset)
    found = codes(sip_rules.check(sip.model_copy(update={"next_follow_up": follow_up})))
    assert found == (["SIP-FOLLOW-UP-BEFORE-CREATION"] if offset < 0 else [])


@EXAMPLES
@given(sips())
def test_sip_consent_required_and_not_withdrawn(sip: Sip) -> None:
    assert codes(sip_rules.check(sip.model_copy(update={"consent": None}))) == [
        "SIP-CONSENT-MISSING"
    ]
    assert sip.consent is not None
    withdrawn = sip.consent.model_copy(update={"withdrawn_at": sip.consent.given_at})
    assert codes(sip_rules.check(sip.model_copy(update={"consent": withdrawn}))) == [
        "SIP-CONSENT-WITHDRAWN"
    ]
    # withdrawn after every SIP's date and after now: the consent still holds (validation and
    # policy read it the same way; they used to disagree here)
    later = sip.consent.model_copy(update={"withdrawn_at": datetime(2036, 6, 1)})
    assert codes(sip_rules.check(sip.model_copy(update={"consent": later}))) == []


def test_sip_checks_known_organisation_identifiers(sip_fixture: Sip) -> None:
    org = sip_fixture.participants[1].organisation
    bad_orgnr = org.model_copy(
        update={"id": Identifier(system=ORGANISATIONSNUMMER_OID, value="212000-0143")}
    )
    bad_hsa = org.model_copy(update={"id": Identifier(system=HSA_ID_OID, value="kommunen")})
    other = org.model_copy(update={"id": Identifier(system="1.2.3.4", value="anything")})
    for organisation, expected in ((bad_orgnr, ["ID-ORGNR"]), (bad_hsa, ["ID-HSA-FORMAT"]),
                                   (other, [])):  # fmt: skip
        participant = sip_fixture.participants[1].model_copy(update={"organisation": organisation})
        sip = sip_fixture.model_copy(
            update={"participants": [sip_fixture.participants[0], participant]}
        )
        assert codes(sip_rules.check(sip)) == expected


# ------------------------------------------------------------------- return-to-work plan


def _long_plan(plan: ReturnToWorkPlan, days_after_first: int) -> ReturnToWorkPlan:
    first = plan.first_day_of_reduced_capacity
    return plan.model_copy(
        update={
            "expected_leave_60_days_or_more": True,
            "plan_date": first + timedelta(days=days_after_first),
            "consent": None,  # drawn for the former date; optional, and not what is tested
        }
    )


@EXAMPLES
@given(return_to_work_plans().filter(lambda p: p.plan_not_needed_reason is None),
       st.integers(-5, 400))  # fmt: skip
def test_plan_due_by_day_30(plan: ReturnToWorkPlan, days: int) -> None:
    found = list(return_to_work_rules.check(_long_plan(plan, days)))
    if days <= 29:  # day 30 is the first day + 29
        assert found == []
    else:
        assert [(f.rule.code, f.path) for f in found] == [("RTW-PLAN-LATE", ("plan_date",))]
        assert f"{days - 29} day(s) after day 30" in found[0].message


@EXAMPLES
@given(return_to_work_plans(), st.integers(30, 400))
def test_no_deadline_for_short_leave_or_when_no_plan_is_needed(
    plan: ReturnToWorkPlan, days: int
) -> None:
    late = _long_plan(plan, days)
    short = late.model_copy(update={"expected_leave_60_days_or_more": False})
    assert "RTW-PLAN-LATE" not in codes(return_to_work_rules.check(short))
    hopeless = late.model_copy(update={"plan_not_needed_reason": "kan inte återgå"})
    assert codes(return_to_work_rules.check(hopeless)) == []


@EXAMPLES
@given(return_to_work_plans().filter(lambda p: p.plan_not_needed_reason is None))
def test_plan_needs_measures_and_follow_up(plan: ReturnToWorkPlan) -> None:
    assert codes(return_to_work_rules.check(plan.model_copy(update={"measures": []}))) == [
        "RTW-NO-MEASURES"
    ]
    assert codes(return_to_work_rules.check(plan.model_copy(update={"follow_ups": []}))) == [
        "RTW-FOLLOW-UP-MISSING"
    ]


@EXAMPLES
@given(return_to_work_plans().filter(lambda p: bool(p.measures)))
def test_measure_periods_in_order(plan: ReturnToWorkPlan) -> None:
    period = Period(start=date(2025, 5, 2), end=date(2025, 5, 1))
    measure = plan.measures[-1].model_copy(update={"period": period})
    found = list(return_to_work_rules.check(
        plan.model_copy(update={"measures": [*plan.measures[:-1], measure]})
    ))  # fmt: skip
    assert [(f.rule.code, f.path) for f in found] == [
        ("RTW-MEASURE-PERIOD", ("measures", len(plan.measures) - 1, "period"))
    ]


@EXAMPLES
@given(return_to_work_plans())
def test_employer_identified_by_organisation_number(plan: ReturnToWorkPlan) -> None:
    no_id = plan.employer.model_copy(update={"id": None})
    hsa = plan.employer.model_copy(
        update={"id": Identifier(system=HSA_ID_OID, value="SE2321000016-15CJ")}
    )
    bad = plan.employer.model_copy(
        update={"id": Identifier(system=ORGANISATIONSNUMMER_OID, value="556677-8898")}
    )
    for employer, expected in ((no_id, "RTW-EMPLOYER-ID"), (hsa, "RTW-EMPLOYER-ID"),
                               (bad, "ID-ORGNR")):  # fmt: skip
        assert codes(
            return_to_work_rules.check(plan.model_copy(update={"employer": employer}))
        ) == [expected]


@EXAMPLES
@given(return_to_work_plans())
def test_employee_check_digit(plan: ReturnToWorkPlan) -> None:
    bad = plan.employee.model_copy(
        update={"id": Identifier(system=PERSONNUMMER_OID, value="199001012383")}
    )
    plan = plan.model_copy(update={"employee": bad, "consent": None})
    assert codes(return_to_work_rules.check(plan)) == ["ID-PERSON-CHECKSUM"]


# ------------------------------------------------------------------------ §4 notification


def _plain(n: Section4Notification) -> Section4Notification:
    return n.model_copy(update={"reason": None, "diagnoses": [], "note": None})


@EXAMPLES
@given(section4_notifications())
def test_s4_consent(n: Section4Notification) -> None:
    n = _plain(n)
    consent = n.consent
    assert consent is not None

    def with_consent(**update: object) -> list[str]:
        return codes(section4_rules.check(n.model_copy(
            update={"consent": consent.model_copy(update=update)}
        )))  # fmt: skip

    assert codes(section4_rules.check(n.model_copy(update={"consent": None}))) == [
        "S4-CONSENT-MISSING"
    ]
    others = [r for r in Recipient if r is not Recipient.FORSAKRINGSKASSAN]
    assert with_consent(recipients=others) == ["S4-CONSENT-NOT-FK"]
    assert with_consent(given_at=n.sent_at + timedelta(seconds=1)) == ["S4-CONSENT-AFTER-SENDING"]
    assert with_consent(given_at=n.sent_at) == []
    assert with_consent(withdrawn_at=n.sent_at) == ["S4-CONSENT-WITHDRAWN"]
    someone_else = Identifier(system=PERSONNUMMER_OID, value="201212121212")
    if someone_else != n.patient.id:
        assert with_consent(given_by=someone_else) == ["S4-CONSENT-NOT-PATIENT"]
        assert with_consent(patient=someone_else) == ["S4-CONSENT-NOT-PATIENT"]
    assert with_consent(withdrawn_at=n.sent_at + timedelta(seconds=1)) == []


def test_s4_consent_time_without_offset_is_swedish(s4_fixture: Section4Notification) -> None:
    """12:05 UTC is 14:05 in Stockholm in April (CEST): a consent at 14:00 local is before,
    one at 14:10 local is after."""
    n = s4_fixture.model_copy(update={"sent_at": datetime(2025, 4, 10, 12, 5, tzinfo=UTC)})
    assert n.consent is not None
    for local, expected in (((14, 0), []), ((14, 10), ["S4-CONSENT-AFTER-SENDING"])):
        consent = n.consent.model_copy(update={"given_at": datetime(2025, 4, 10, *local)})
        assert codes(section4_rules.check(n.model_copy(update={"consent": consent}))) == expected


@EXAMPLES
@given(section4_notifications(), st.text(min_size=1, max_size=20))
def test_s4_statement_is_fixed(n: Section4Notification, wording: str) -> None:
    n = _plain(n)
    found = codes(section4_rules.check(n.model_copy(update={"statement": wording})))
    assert found == ([] if wording == STATEMENT else ["S4-STATEMENT"])


@EXAMPLES
@given(section4_notifications())
def test_s4_coordinator_reachable(n: Section4Notification) -> None:
    n = _plain(n)
    for contact, expected in (
        (Contact(name="Koordinatorn"), ["S4-COORDINATOR-CONTACT"]),
        (Contact(phone="010-123 45 67"), []),
        (Contact(email="rehab@region.example"), []),
        (Contact(phone="+46 10 123 45 67", email="rehab@region.se"), []),
        (Contact(phone="010-123 45 67 (psykosteamet, F20.0)"), ["S4-COORDINATOR-PHONE"]),
        (Contact(phone="F20.0"), ["S4-COORDINATOR-PHONE"]),
        (Contact(phone="010-1"), ["S4-COORDINATOR-PHONE"]),
        (Contact(email="rehab@region.se (F20.0)"), ["S4-COORDINATOR-EMAIL"]),
        (Contact(email="psykosteamet F20.0"), ["S4-COORDINATOR-EMAIL"]),
        (Contact(email="rehab@region.invalid"), ["S4-COORDINATOR-EMAIL"]),
    ):
        assert (
            codes(section4_rules.check(n.model_copy(update={"coordinator": contact}))) == expected
        )


@EXAMPLES
@given(section4_notifications())
def test_s4_identifiers(n: Section4Notification) -> None:
    n = _plain(n)
    assert codes(section4_rules.check(
        n.model_copy(update={"region": n.region.model_copy(update={"id": None})})
    )) == ["S4-REGION-ID"]  # fmt: skip
    bad_unit = n.unit.model_copy(update={"id": Identifier(system=HSA_ID_OID, value="unit-1")})
    found = list(section4_rules.check(n.model_copy(update={"unit": bad_unit})))
    assert [(f.rule.code, f.path) for f in found] == [("ID-HSA-FORMAT", ("unit", "id", "value"))]


def test_s4_extra_content_warns_per_field(s4_fixture: Section4Notification) -> None:
    n = s4_fixture.model_copy(
        update={"reason": "skäl", "diagnoses": [Code(code="F32.1")], "note": "övrigt"}
    )
    found = list(section4_rules.check(n))
    assert [(f.rule.code, f.rule.severity, f.path) for f in found] == [
        ("S4-EXTRA-CONTENT", Severity.WARNING, ("reason",)),
        ("S4-EXTRA-CONTENT", Severity.WARNING, ("diagnoses",)),
        ("S4-EXTRA-CONTENT", Severity.WARNING, ("note",)),
    ]
    assert all("skäl" not in f.message and "F32" not in f.message for f in found)


def test_messages_do_not_name_the_patient(
    sip_fixture: Sip, s4_fixture: Section4Notification
) -> None:
    broken_sip = sip_fixture.model_copy(update={"consent": None, "needs": [], "goals": []})
    broken_s4 = s4_fixture.model_copy(update={"consent": None, "statement": "x", "note": "y"})
    for f in [*sip_rules.check(broken_sip), *section4_rules.check(broken_s4)]:
        assert "Tolvan" not in f.message and "Tolvansson" not in f.message
