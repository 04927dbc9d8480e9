"""Documents of one sick-leave case, built from the fixtures, for the coordination tests.

Every builder returns a canonical model that validates (the fixtures' test persons and
organisations: Tolvan Tolvansson 191212121212, Testbolaget AB 556677-8899), changed only
where coordination looks: certificate periods and degrees, a plan's measures and dates, a
SIP's principals and follow-up, a §4 notification's id and consent, Försäkringskassan's
answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from gateway import FIXTURES_DIR
from gateway.coordination.entries import Addressee, Entry, entry_for
from gateway.documents import Document
from gateway.documents.acknowledgement import HandlingStatus, Outcome, Section4Acknowledgement
from gateway.documents.certificate import Answer, Certificate, Relation, SubAnswer
from gateway.documents.common import (
    SWEDISH_TIME,
    Code,
    Consent,
    ConsentMethod,
    ConsentScope,
    ConsentStatus,
    Contact,
    DocumentKind,
    Identifier,
    Organisation,
    Period,
    Person,
    PersonName,
    Recipient,
)
from gateway.documents.consent import purpose_code
from gateway.documents.identity import ORGANISATIONSNUMMER_OID
from gateway.documents.return_to_work import (
    FollowUp,
    MeasureType,
    ReturnToWorkMeasure,
    ReturnToWorkPlan,
)
from gateway.documents.section4 import Section4Notification
from gateway.documents.sip import (
    EffortStatus,
    PrincipalType,
    Sip,
    SipCoordinator,
    SipEffort,
    SipParticipant,
)
from gateway.validation.service import validate_bytes

PATIENT = "191212121212"
HSA = "1.2.752.129.2.1.4.1"
PATIENT_ID = Identifier(system="1.2.752.129.2.1.3.1", value=PATIENT)
EMPLOYER_ORG = "5566778899"
FK_ORG = "2021005521"
REGION_ORG = "TSTNMT2321000156-REG1"
MUNICIPALITY_ORG = "2120000142"
LEVELS = {100: "HELT_NEDSATT", 75: "TRE_FJARDEDEL", 50: "HALFTEN", 25: "EN_FJARDEDEL"}
DAY1 = date(2025, 2, 3)


def day(n: int) -> date:
    """Calendar day ``n`` of the case (day 1 = DAY1)."""
    return DAY1 + timedelta(days=n - 1)


def at(n: int, hour: int = 10) -> datetime:
    """A moment on day ``n``, Swedish time, as UTC."""
    return datetime.combine(day(n), time(hour), SWEDISH_TIME).astimezone(UTC)


@cache
def _fixture(path: str) -> Document:
    v = validate_bytes((FIXTURES_DIR / path).read_bytes())
    assert v.valid and v.document is not None, (path, v.issues)
    return v.document


def local(t: datetime) -> datetime:
    """Swedish local time without an offset, as RIVTA and most senders write it."""
    return t.astimezone(SWEDISH_TIME).replace(tzinfo=None)


def consent(
    kind: DocumentKind,
    recipients: Sequence[Recipient],
    purposes: Sequence[str],
    *,
    cid: str,
    given: datetime | None = None,
    withdrawn: datetime | None = None,
    organisations: Sequence[str] = (),
) -> Consent:
    """A consent to ``recipients`` (an employer only by its organisation: ``organisations``,
    organisation numbers)."""
    return Consent(
        id=cid,
        status=ConsentStatus.ACTIVE,
        scope=ConsentScope(kind=kind),
        given_by=PATIENT_ID,
        given_at=given or at(1, 8),
        method=ConsentMethod.WRITTEN,
        recipients=list(recipients),
        purposes=[purpose_code(p) for p in purposes],
        recorded_by=Identifier(system="1.2.752.129.2.1.4.1", value="TSTNMT2321000156-REKO"),
        withdrawn_at=withdrawn,
        organisations=[Identifier(system=ORGANISATIONSNUMMER_OID, value=o) for o in organisations],
    )


def certificate(
    cid: str,
    periods: Sequence[tuple[date, date, int]],
    *,
    signed: datetime | None = None,
    replaces: str | None = None,
    cert_type: str = "FK7804",
) -> Certificate:
    path = {
        "FK7804": "certificate/fk7804-valid.xml",
        "AG7804": "certificate/ag7804-valid-diagnosis-shared.xml",
    }[cert_type]
    base = _fixture(path)
    assert isinstance(base, Certificate)
    # 33 (working hours) only goes with a partial degree (Inera's Schematron)
    partial = any(d < 100 for _s, _e, d in periods)
    answers = [a for a in base.answers if a.id != "32" and (partial or a.id != "33")]
    for i, (start, end, degree) in enumerate(periods, start=1):
        answers.append(
            Answer(
                id="32",
                instance=i,
                parts=[
                    SubAnswer(id="32.1", value=Code(code=LEVELS[degree], system="KV_FKMU_0003")),
                    SubAnswer(id="32.2", value=Period(start=start, end=end)),
                ],
            )
        )
    relations = []
    if replaces is not None:
        relations.append(
            Relation(
                type=Code(code="ERSATT", system="c2362fcd-eda0-4f9a-bd13-b3bbaf7f2146"),
                certificate_id=Identifier(system=base.id.system, value=replaces),
            )
        )
    return base.model_copy(
        update={
            "id": Identifier(system=base.id.system, value=cid),
            "answers": answers,
            "signed_at": (signed or at(1)).astimezone(SWEDISH_TIME).replace(tzinfo=None),
            "relations": relations,
        }
    )


def plan(
    pid: str,
    *,
    plan_date: date,
    first_day: date = DAY1,
    measures: Sequence[tuple[str, str, date, date | None]] = (),
    follow_ups: Sequence[date] = (),
    expected: bool = True,
    not_needed: str | None = None,
    with_consent: bool = True,
    version: str = "1.0",
) -> ReturnToWorkPlan:
    """``measures``: (type, description, start, end)."""
    base = _fixture("return-to-work-plan/valid-part-time-within-30-days.xml")
    assert isinstance(base, ReturnToWorkPlan)
    rows = [
        ReturnToWorkMeasure(
            ref=f"m{i}",
            type=MeasureType(kind),
            description=text,
            period=Period(start=start, end=end),
            responsible="Karin Chef",
        )
        for i, (kind, text, start, end) in enumerate(measures, start=1)
    ]
    return base.model_copy(
        update={
            "id": pid,
            "version": version,
            "first_day_of_reduced_capacity": first_day,
            "plan_date": plan_date,
            "expected_leave_60_days_or_more": expected,
            "plan_not_needed_reason": not_needed,
            "measures": rows or base.measures,
            "follow_ups": [FollowUp(on=d, how="Uppföljningsmöte") for d in follow_ups]
            or base.follow_ups,
            "consent": consent(
                DocumentKind.RETURN_TO_WORK_PLAN,
                [Recipient.FORSAKRINGSKASSAN, Recipient.REGION],
                ["return-to-work"],
                cid=f"samtycke-{pid}",
            )
            if with_consent
            else None,
        }
    )


def sip(
    sid: str,
    *,
    created: datetime,
    follow_up: date | None,
    region_org: str = REGION_ORG,
    municipality_org: str = "212000-0142",
    af_effort: tuple[date, date] | None = None,
    recipients: Sequence[Recipient] = (
        Recipient.REGION,
        Recipient.MUNICIPALITY,
        Recipient.FORSAKRINGSKASSAN,
        Recipient.ARBETSFORMEDLINGEN,
        Recipient.EMPLOYER,
    ),
) -> Sip:
    participants = [
        SipParticipant(
            ref="region",
            organisation=Organisation(
                id=Identifier(system="1.2.752.129.2.1.4.1", value=region_org),
                name="Region Testlän",
            ),
            principal_type=PrincipalType.REGION,
        ),
        SipParticipant(
            ref="kommun",
            organisation=Organisation(
                id=Identifier(system="2.5.4.97", value=municipality_org), name="Testkommun"
            ),
            principal_type=PrincipalType.MUNICIPALITY,
        ),
    ]
    efforts = [
        SipEffort(
            ref="i1",
            description="Samtalsstöd",
            responsible="region",
            status=EffortStatus.ONGOING,
            period=Period(start=created.date(), end=created.date() + timedelta(days=60)),
        )
    ]
    if af_effort is not None:
        participants.append(
            SipParticipant(
                ref="af",
                organisation=Organisation(
                    id=Identifier(system="2.5.4.97", value="202100-5646"),
                    name="Arbetsförmedlingen",
                ),
                principal_type=PrincipalType.ARBETSFORMEDLINGEN,
            )
        )
        efforts.append(
            SipEffort(
                ref="i2",
                description="Kartläggning inför annat arbete",
                responsible="af",
                status=EffortStatus.PLANNED,
                period=Period(start=af_effort[0], end=af_effort[1]),
            )
        )
    return Sip(
        id=sid,
        created_at=created.astimezone(SWEDISH_TIME).replace(tzinfo=None),
        patient=Person(id=PATIENT_ID),
        participants=participants,
        coordinator=SipCoordinator(
            participant="region",
            contact=Contact(
                name="Anna Andersson", role="Rehabiliteringskoordinator", phone="010-123 45 67"
            ),
        ),
        efforts=efforts,
        meeting_date=created.date(),
        next_follow_up=follow_up,
        consent=consent(
            DocumentKind.SIP, recipients, ["sip"], cid=f"samtycke-{sid}", given=created
        ),
    )


def notification(
    nid: str, *, sent: datetime, with_consent: bool = True, region_org: str | None = None
) -> Section4Notification:
    base = _fixture("section4-notification/valid-refers-to-certificate.xml")
    assert isinstance(base, Section4Notification)
    assert base.consent is not None
    region = base.region
    if region_org is not None:
        region = region.model_copy(update={"id": Identifier(system=HSA, value=region_org)})
    return base.model_copy(
        update={
            "id": nid,
            "region": region,
            "sent_at": sent.astimezone(SWEDISH_TIME).replace(tzinfo=None),
            "consent": base.consent.model_copy(
                update={"id": f"samtycke-{nid}", "given_at": sent - timedelta(hours=1)}
            )
            if with_consent
            else None,
        }
    )


def acknowledgement(
    aid: str,
    notification_id: str,
    *,
    received: datetime,
    handled: datetime | None,
    outcome: Outcome | None,
    informed: bool | None = None,
) -> Section4Acknowledgement:
    last = handled or received
    return Section4Acknowledgement(
        id=aid,
        notification_id=notification_id,
        sent_at=local(last + timedelta(hours=1)),
        patient=Person(id=PATIENT_ID, name=PersonName(given="Tolvan", family="Tolvansson")),
        sender=Organisation(
            id=Identifier(system="2.5.4.97", value="202100-5521"), name="Försäkringskassan"
        ),
        recipient=Organisation(
            id=Identifier(system="1.2.752.129.2.1.4.1", value=REGION_ORG), name="Region Testlän"
        ),
        received_at=local(received),
        status=HandlingStatus.HANDLED if handled else HandlingStatus.RECEIVED,
        handled_at=local(handled) if handled else None,
        outcome=outcome,
        patient_informed=informed,
        case_officer=Contact(name="Handläggare Test", phone="0771-524 524"),
    )


def entry(
    document: Document,
    *,
    received: datetime,
    sender: str,
    sender_org: str | None,
    sender_role: str | None,
    to: Sequence[tuple[str, str, str | None]] = (),
    envelope_consent: Consent | None = None,
    message_id: str | None = None,
) -> Entry:
    """The index entry the router would attach (``to``: (id, role, organisation))."""
    return entry_for(
        document,
        message_id=message_id or f"msg-{document.kind}-{received.isoformat()}",
        sender=sender,
        sender_org=sender_org,
        sender_role=sender_role,
        received_at=received,
        recipients=[Addressee(i, r, o) for i, r, o in to],
        consents=(envelope_consent,) if envelope_consent is not None else (),
    )


def employer_consent() -> Consent:
    """The consent a certificate travels to the employer with (the envelope's)."""
    return consent(
        DocumentKind.CERTIFICATE,
        [Recipient.EMPLOYER],
        ["sick-pay"],
        cid="samtycke-ag-1",
        organisations=[EMPLOYER_ORG],
    )


def certificate_message(
    cert: Certificate,
    audiences: Sequence[str],
    *,
    message_id: str,
    envelope_consent: Consent | None = None,
) -> bytes:
    """A FHIR message carrying ``cert`` to ``audiences``, with the consent (for the employer)
    as the envelope's Consent entry, the way a region's system sends one."""
    import orjson

    from gateway.formats.fhir.codec import FhirJsonCodec
    from gateway.formats.fhir.consent import write_consent
    from gateway.formats.fhir.envelope import wrap_message

    tree = FhirJsonCodec().to_tree(cert)
    msg = wrap_message(
        tree, "certificate", "SE2321000016-EHR1", list(audiences), message_id=message_id
    )
    if envelope_consent is not None:
        msg["entry"].append(
            {
                "fullUrl": f"urn:uuid:consent-{envelope_consent.id}",
                "resource": write_consent(envelope_consent, tree["entry"][1]["fullUrl"]),
            }
        )
    return orjson.dumps(msg)
