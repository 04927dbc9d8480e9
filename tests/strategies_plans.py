"""Hypothesis strategies for valid SIPs, return-to-work plans and §4 notifications.

"Valid" means: no business rule of the kind reports an error (warnings allowed: a §4
notification may carry a reason, diagnoses or a note, which only warn). Every text is XML-safe.
Reuse them for FHIR round trips and policy properties:
``from strategies_plans import sips, return_to_work_plans, section4_notifications``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from hypothesis import strategies as st
from strategies_common import hsa_ids, org_number_ids, person_ids

from gateway.documents import DocumentKind
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
    Organisation,
    Period,
    Person,
    PersonName,
    ProvisionType,
    Recipient,
)
from gateway.documents.consent import purpose_code, purpose_system
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

# ---------------------------------------------------------------------------- primitives

T = TypeVar("T")

#: Characters XML 1.0 can carry (no controls but tab, LF and CR; no
#: surrogates or non-characters).
_CHARS = st.characters(exclude_categories=("Cs", "Cc", "Cn"), include_characters="\n\t\r")
texts = st.text(_CHARS, max_size=40)
nonempty_texts = st.text(_CHARS, min_size=1, max_size=40)
tokens = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20
)
dates = st.dates(date(2015, 1, 1), date(2035, 12, 31))
datetimes = st.datetimes(datetime(2015, 1, 1), datetime(2035, 12, 31)).flatmap(
    lambda d: st.sampled_from([d, d.replace(tzinfo=UTC)])
)


def _opt(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


addresses = st.builds(Address, street=texts, postal_code=texts, city=texts)
names = st.builds(PersonName, given=texts, family=texts, middle=_opt(texts))
contacts = st.builds(
    Contact,
    name=_opt(texts),
    role=_opt(texts),
    phone=_opt(texts),
    email=_opt(texts),
    address=_opt(addresses),
)
#: A contact that can be reached: a phone number or an e-mail address.
reachable_contacts = contacts.filter(lambda c: bool(c.phone or c.email))
codes = st.builds(Code, code=nonempty_texts, system=_opt(texts), display=_opt(texts))


@st.composite
def persons(draw: st.DrawFn) -> Person:
    return Person(id=draw(person_ids()), name=draw(names), address=draw(_opt(addresses)))


def organisations(ids: st.SearchStrategy[Identifier | None]) -> st.SearchStrategy[Organisation]:
    return st.builds(Organisation, id=ids, name=nonempty_texts, contact=_opt(contacts))


care_units = st.builds(
    CareUnit,
    id=hsa_ids,
    name=nonempty_texts,
    workplace_code=_opt(tokens.map(lambda v: Identifier(system="1.2.752.29.4.71", value=v))),
    address=addresses,
    phone=texts,
    email=_opt(nonempty_texts),
    care_provider=organisations(hsa_ids),
)
healthcare_professionals = st.builds(
    HealthcareProfessional,
    id=hsa_ids,
    name=texts,
    prescriber_code=_opt(tokens),
    positions=st.lists(codes, max_size=2),
    specialities=st.lists(codes, max_size=2),
    licensed_professions=st.lists(codes, max_size=2),
    unit=care_units,
)


@st.composite
def consents(
    draw: st.DrawFn,
    given_by: Identifier,
    latest: datetime,
    kind: DocumentKind,
    document_id: str,
    must_cover: Recipient | None = None,
) -> Consent:
    """A consent that authorises the document: active, opt-in, by ``given_by``, given at or
    before ``latest``, for one of the kind's purpose codes, scoped to ``kind`` (and maybe to
    ``document_id``), withdrawn only in the future, with nested provisions that do not apply
    (permits, and denies for purposes of other kinds)."""
    ps = purpose_system()
    given_at = latest - draw(st.timedeltas(timedelta(0), timedelta(days=90)))
    recipients = draw(
        st.lists(st.sampled_from(list(Recipient)), min_size=1, max_size=3, unique=True)
    )
    if must_cover is not None and must_cover not in recipients:
        recipients.append(must_cover)
    own = sorted(ps.for_kind(kind))
    others = sorted(set(ps.kinds) - set(own))
    # later than any document's time (datetimes end 2035) and any test's transfer: a
    # withdrawal dated then must not stop the consent now (one reading, both layers)
    future = st.datetimes(datetime(2037, 1, 1), datetime(2040, 12, 31)).map(
        lambda t: t.replace(tzinfo=UTC)
    )
    provisions = st.builds(
        ConsentProvision,
        type=st.just(ProvisionType.PERMIT),
        recipients=st.lists(st.sampled_from(list(Recipient)), max_size=2, unique=True),
        purposes=st.lists(st.sampled_from(own).map(purpose_code), max_size=1),
    ) | st.builds(
        ConsentProvision,
        type=st.just(ProvisionType.DENY),
        start=_opt(future),
        purposes=st.lists(st.sampled_from(others).map(purpose_code), min_size=1, max_size=2),
    )
    return Consent(
        id=draw(tokens),
        status=ConsentStatus.ACTIVE,
        scope=ConsentScope(kind=kind, document_id=draw(_opt(st.just(document_id)))),
        patient=draw(_opt(st.just(given_by))),
        given_by=given_by,
        given_at=given_at,
        method=draw(st.sampled_from(list(ConsentMethod))),
        policy_rule=draw(
            st.sampled_from([ConsentPolicyRule.OPT_IN, ConsentPolicyRule.OPT_IN_RESTRICTED])
        ),
        recipients=recipients,
        purposes=draw(
            st.lists(st.sampled_from(own).map(purpose_code), min_size=1, max_size=2, unique=True)
        ),
        recorded_by=draw(_opt(hsa_ids)),
        valid_from=draw(_opt(st.just(given_at))),
        withdrawn_at=draw(_opt(future)),
        provisions=draw(st.lists(provisions, max_size=2)),
    )


#: The shapes a coordinator's telephone is written in (Swedish and E.164).
phones = st.builds(
    lambda sep, digits, intl: (
        f"+46 70{sep}{digits[:3]} {digits[3:5]} {digits[5:]}"
        if intl
        else f"070{sep}{digits[:3]} {digits[3:5]} {digits[5:]}"
    ),
    st.sampled_from(["-", " ", ""]),
    st.text("0123456789", min_size=7, max_size=7),
    st.booleans(),
)
emails = st.from_regex(
    r"[a-z][a-z0-9]{0,8}(\.[a-z0-9]{1,8})?@[a-z]{2,10}\.(se|example|com)", fullmatch=True
)
#: The coordinator of a §4 notification: reachable, by a real telephone number or e-mail.
section4_contacts = st.builds(
    Contact,
    name=_opt(texts),
    role=_opt(texts),
    phone=_opt(phones),
    email=_opt(emails),
    address=_opt(addresses),
).filter(lambda c: bool(c.phone or c.email))


# ------------------------------------------------------------------------------------ SIP

_PARTICIPANT_IDS = st.none() | hsa_ids | org_number_ids


@st.composite
def sips(draw: st.DrawFn) -> Sip:
    patient = draw(persons())
    created_at = draw(datetimes)
    extra = draw(st.lists(st.sampled_from(list(PrincipalType)), max_size=2))
    types_ = [PrincipalType.REGION, PrincipalType.MUNICIPALITY, *extra]
    participants = [
        SipParticipant(
            ref=f"p{i}",
            organisation=draw(organisations(_PARTICIPANT_IDS)),
            principal_type=t,
            contact=draw(_opt(contacts)),
        )
        for i, t in enumerate(draw(st.permutations(types_)), 1)
    ]
    refs = [p.ref for p in participants]
    needs = [
        SipNeed(ref=f"n{i}", description=draw(nonempty_texts), area=draw(_opt(texts)))
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    need_refs = [n.ref for n in needs]
    goals = [
        SipGoal(
            ref=f"g{i}",
            description=draw(nonempty_texts),
            need_refs=draw(st.lists(st.sampled_from(need_refs), max_size=2)) if needs else [],
        )
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    goal_refs = [g.ref for g in goals]
    efforts = [
        SipEffort(
            ref=f"e{i}",
            description=draw(nonempty_texts),
            responsible=draw(st.sampled_from(refs)),
            status=draw(st.sampled_from(list(EffortStatus))),
            period=draw(_opt(ordered_periods())),
            goal_refs=draw(st.lists(st.sampled_from(goal_refs), max_size=2)) if goals else [],
        )
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    sip_id = draw(tokens)
    return Sip(
        id=sip_id,
        version=draw(st.sampled_from(["1.0", "2"])),
        created_at=created_at,
        patient=patient,
        participants=participants,
        coordinator=SipCoordinator(participant=draw(st.sampled_from(refs)), contact=draw(contacts)),
        needs=needs,
        goals=goals,
        efforts=efforts,
        meeting_date=draw(_opt(dates)),
        next_follow_up=draw(_opt(st.dates(created_at.date(), date(2036, 12, 31)))),
        notes=draw(_opt(texts)),
        consent=draw(consents(patient.id, created_at, DocumentKind.SIP, sip_id)),
    )


@st.composite
def ordered_periods(draw: st.DrawFn) -> Period:
    start = draw(_opt(dates))
    end = draw(_opt(dates))
    if start is not None and end is not None and end < start:
        start, end = end, start
    return Period(start=start, end=end)


# ------------------------------------------------------------------- return-to-work plan


@st.composite
def return_to_work_plans(draw: st.DrawFn) -> ReturnToWorkPlan:
    employee = draw(persons())
    first_day = draw(dates)
    expected_long = draw(st.booleans())
    not_needed = draw(st.none() | nonempty_texts) if draw(st.integers(0, 4)) == 0 else None
    latest = 29 if expected_long and not_needed is None else 120
    plan_date = first_day + timedelta(days=draw(st.integers(-10, latest)))
    measures = [
        ReturnToWorkMeasure(
            ref=f"m{i}",
            type=draw(st.sampled_from(list(MeasureType))),
            description=draw(nonempty_texts),
            period=draw(_opt(ordered_periods())),
            responsible=draw(_opt(texts)),
        )
        for i in range(1, draw(st.integers(0 if not_needed else 1, 3)) + 1)
    ]
    follow_ups = draw(
        st.lists(
            st.builds(FollowUp, on=dates, how=nonempty_texts),
            min_size=0 if not_needed else 1,
            max_size=3,
        )
    )
    plan_id = draw(tokens)
    return ReturnToWorkPlan(
        id=plan_id,
        version=draw(st.sampled_from(["1.0", "1.1"])),
        employer=draw(organisations(org_number_ids)),
        employee=employee,
        first_day_of_reduced_capacity=first_day,
        expected_leave_60_days_or_more=expected_long,
        plan_not_needed_reason=not_needed,
        plan_date=plan_date,
        measures=measures,
        contact_during_leave=draw(texts),
        follow_ups=follow_ups,
        participants=draw(
            st.lists(
                st.builds(
                    ReturnToWorkParticipant,
                    name=nonempty_texts,
                    role=st.sampled_from(list(ParticipantRole)),
                ),
                max_size=3,
            )
        ),
        notes=draw(_opt(texts)),
        consent=draw(
            _opt(
                consents(
                    employee.id,
                    datetime.combine(plan_date, datetime.min.time()),
                    DocumentKind.RETURN_TO_WORK_PLAN,
                    plan_id,
                )
            )
        ),
    )


# --------------------------------------------------------------------- §4 notification


@st.composite
def section4_notifications(draw: st.DrawFn, renderable: bool = False) -> Section4Notification:
    """A valid §4 notification; ``renderable`` ones also carry what SendMessageToRecipient
    needs (a certificate id, a sender, a workplace code and an HSA-id'd care provider)."""
    patient = draw(persons())
    sent_at = draw(datetimes)
    unit = draw(care_units)
    if renderable and unit.workplace_code is None:
        unit = unit.model_copy(
            update={"workplace_code": Identifier(system="1.2.752.29.4.71", value=draw(tokens))}
        )
    cert = st.builds(Identifier, system=st.just("SE2321000016-15CJ"), value=tokens)
    notification_id = draw(tokens)
    return Section4Notification(
        id=notification_id,
        sent_at=sent_at,
        patient=patient,
        coordinator=draw(section4_contacts),
        region=draw(organisations(hsa_ids)),
        unit=unit,
        sent_by=draw(healthcare_professionals if renderable else _opt(healthcare_professionals)),
        consent=draw(
            consents(
                patient.id,
                sent_at,
                DocumentKind.SECTION4_NOTIFICATION,
                notification_id,
                Recipient.FORSAKRINGSKASSAN,
            )
        ),
        certificate_id=draw(cert if renderable else _opt(cert)),
        reason=draw(_opt(texts)),
        diagnoses=draw(st.lists(codes, max_size=2)),
        note=draw(_opt(texts)),
    )
