"""The plan index, pure: entries from documents, the chain's deadlines, the flags, and who sees
what (mappings/coordination/*.toml). The store and the server are tested in
test_coordination_store.py and test_coordination_scenario.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from coordination_support import (
    EMPLOYER_ORG,
    FK_ORG,
    PATIENT,
    REGION_ORG,
    acknowledgement,
    at,
    certificate,
    day,
    employer_consent,
    entry,
    notification,
    plan,
    sip,
)

from gateway.coordination.entries import Addressee, Entry
from gateway.coordination.flags import Flag
from gateway.coordination.index import Changes, apply
from gateway.coordination.visibility import Actor, Viewer, view
from gateway.documents import Recipient
from gateway.documents.acknowledgement import Outcome
from gateway.documents.issues import RULES

REGION = Actor("region-ehr", Recipient.REGION, REGION_ORG)
EMPLOYER = Actor("hr-acme", Recipient.EMPLOYER, EMPLOYER_ORG)
FK = Actor("fk", Recipient.FORSAKRINGSKASSAN, FK_ORG)
MUNICIPALITY = Actor("malmo", Recipient.MUNICIPALITY, "2120000142")
STRANGER = Actor("other-region", Recipient.REGION, "SE2321000016-OTHR")
TO_FK = ("fk", "forsakringskassan", FK_ORG)
TO_EMPLOYER = ("acme", "employer", EMPLOYER_ORG)


def cert_entry(
    cid: str, periods: list[tuple[date, date, int]], n: int, *, employer: bool = True, **kw: object
) -> Entry:
    return entry(
        certificate(cid, periods, signed=at(n), **kw),  # type: ignore[arg-type]
        received=at(n),
        sender="region-ehr",
        sender_org=REGION_ORG,
        sender_role="region",
        to=[TO_FK, *([TO_EMPLOYER] if employer else [])],
        envelope_consent=employer_consent() if employer else None,
    )


def plan_entry(n: int, **kw: object) -> Entry:
    kw.setdefault("measures", [("occupational-health", "Ergonomisk genomgång", day(40), day(45))])
    return entry(
        plan("plan-1", **kw),  # type: ignore[arg-type]
        received=at(n),
        sender="hr-acme",
        sender_org=EMPLOYER_ORG,
        sender_role="employer",
        to=[TO_FK, ("region-skane", "region", REGION_ORG)],
    )


class Index:
    """One patient's index, folded as the store folds it."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.flags: dict[str, Flag] = {}
        self.last = Changes()

    def add(self, e: Entry) -> Changes:
        self.last = apply(PATIENT, self.entries.values(), self.flags, [e], e.received_at)
        for x in self.last.entries:
            self.entries[x.key] = x
        for f in self.last.flags:
            self.flags[f.id] = f
        return self.last

    def deadlines(self, actor: Actor, n: int) -> dict[str, str]:
        v = Viewer(actor, self.entries.values(), at(n))
        mine = [d for d in self.last.deadlines if d.role == actor.role and d.org == actor.org]
        return {d.code: d.status(day(n)) for d in mine if v.sees_deadline(d)}

    def seen(self, actor: Actor, n: int) -> tuple[set[str], set[str]]:
        shown, flags, _ = view(
            actor, list(self.entries.values()), list(self.flags.values()), [], at(n)
        )
        return {e["entry"] for e in shown}, {f.code for f in flags}


def test_the_chain_of_one_case_day_by_day() -> None:
    idx = Index()
    idx.add(cert_entry("c1", [(day(1), day(90), 100)], 1))
    assert idx.deadlines(EMPLOYER, 10) == {
        "sick-pay-period": "upcoming",
        "employer-certificate-day-8": "met",  # the certificate reached the employer on day 1
        "return-to-work-plan": "due",
        "assessment-day-90": "upcoming",
    }
    assert idx.deadlines(EMPLOYER, 34)["return-to-work-plan"] == "overdue"
    fk = idx.deadlines(FK, 34)
    assert (
        fk["assessment-day-90"] == "upcoming" and fk["transition-arbetsformedlingen"] == "upcoming"
    )
    (rtw,) = [
        d for d in idx.last.deadlines if d.code == "return-to-work-plan" and d.org == EMPLOYER_ORG
    ]
    assert (rtw.due, rtw.day) == (day(30), 30)
    assert "overdue" in rtw.describe(day(34)) and "(day 30, 4 day(s) ago)" in rtw.describe(day(34))

    changes = idx.add(plan_entry(34, plan_date=day(29)))
    assert [f.code for f in changes.flags] == ["COORD-RTW-LATE"]
    assert changes.flags[0].detail == {
        "due": day(30).isoformat(),
        "arrived": day(34).isoformat(),
        "day": 34,
        "case_start": day(1).isoformat(),
    }
    assert idx.deadlines(EMPLOYER, 35)["return-to-work-plan"] == "met-late"
    # a new version of the plan neither moves its first arrival nor raises the flag again
    again = idx.add(plan_entry(36, plan_date=day(29), version="1.1"))
    assert again.flags == []
    assert idx.deadlines(EMPLOYER, 37)["return-to-work-plan"] == "met-late"


def test_no_plan_is_due_for_a_short_leave_and_a_plan_not_needed_waives_it() -> None:
    idx = Index()
    idx.add(cert_entry("c1", [(day(1), day(40), 100)], 1))
    assert "return-to-work-plan" not in idx.deadlines(EMPLOYER, 20)
    idx = Index()
    idx.add(cert_entry("c1", [(day(1), day(90), 100)], 1))
    idx.add(plan_entry(20, plan_date=day(20), not_needed="Kan inte återgå", measures=[]))
    assert idx.deadlines(EMPLOYER, 40)["return-to-work-plan"] == "waived"


def test_a_gap_moves_day_30() -> None:
    """Day 30 is the 30th day of reduced capacity: a gap the certificates leave is not
    counted (case.toml merges it into the case)."""
    idx = Index()
    idx.add(cert_entry("c1", [(day(1), day(20), 100)], 1))
    idx.add(cert_entry("c2", [(day(24), day(90), 100)], 20))
    (rtw,) = [
        d for d in idx.last.deadlines if d.code == "return-to-work-plan" and d.role == "employer"
    ]
    assert rtw.due == day(33)


def test_a_certificate_contradicting_the_plan_is_flagged_once() -> None:
    idx = Index()
    idx.add(cert_entry("c1", [(day(1), day(34), 100)], 1))
    measures = [("part-time", "Arbete 50 % förmiddagar", day(35), day(60))]
    idx.add(plan_entry(25, plan_date=day(25), measures=measures))
    assert idx.last.flags == []
    # a certificate saying 100 % for the plan's part-time weeks: the plan asks more work
    changes = idx.add(cert_entry("c2", [(day(35), day(60), 100)], 34, employer=False))
    (flag,) = changes.flags
    assert flag.code == "COORD-RTW-DEGREE"
    assert flag.detail["work_share"] == 50 and flag.detail["degree"] == 100
    assert flag.detail["plan_asks"] == "more"
    assert set(flag.entries) == {"return-to-work-plan:5566778899:plan-1", "certificate:c2"}
    # a replacement at 50 % agrees with the plan: no new flag; the old one stays on record
    agree = idx.add(cert_entry("c3", [(day(35), day(60), 50)], 36, employer=False, replaces="c2"))
    assert agree.flags == []
    assert idx.entries["certificate:c2"].status == "replaced"


def test_parallel_sips_tracks_and_coordinators_are_flagged() -> None:
    idx = Index()
    idx.add(cert_entry("c1", [(day(1), day(120), 100)], 1))
    measures = [("adjusted-tasks", "Lättare uppgifter", day(50), day(90))]
    idx.add(plan_entry(25, plan_date=day(25), measures=measures))

    def sip_entry(sid: str, n: int, **kw: object) -> Entry:
        return entry(
            sip(sid, created=at(n), follow_up=day(n + 30), **kw),  # type: ignore[arg-type]
            received=at(n),
            sender="region-ehr",
            sender_org=REGION_ORG,
            sender_role="region",
            to=[TO_FK, ("malmo", "municipality", "2120000142")],
        )

    assert [f.code for f in idx.last.flags] == ["COORD-RTW-DEGREE"]  # at work, 100 % sick
    one = idx.add(sip_entry("sip-1", 40, af_effort=(day(60), day(80))))
    assert [f.code for f in one.flags] == ["COORD-PARALLEL-TRACKS"]
    same = entry(
        notification("s4-0", sent=at(42)),
        received=at(42),
        sender="region-ehr",
        sender_org=REGION_ORG,
        sender_role="region",
        to=[TO_FK],
    )
    assert idx.add(same).flags == []  # the SIP's coordinator is this region's
    two = idx.add(sip_entry("sip-2", 45, region_org="SE2321000016-OTHR"))
    assert [f.code for f in two.flags] == ["COORD-SIP-PARALLEL"]
    n = entry(
        notification("s4-1", sent=at(50), region_org="SE2321000016-OTHR"),
        received=at(50),
        sender="other-ehr",
        sender_org="SE2321000016-OTHR",
        sender_role="region",
        to=[TO_FK],
    )
    assert "COORD-S4-COORDINATOR" in {f.code for f in idx.add(n).flags}


def test_acknowledgements_update_the_notification_and_flag_an_untold_no_need() -> None:
    idx = Index()
    idx.add(
        entry(
            notification("s4-1", sent=at(10)),
            received=at(10),
            sender="region-ehr",
            sender_org=REGION_ORG,
            sender_role="region",
            to=[TO_FK],
        )
    )
    assert idx.deadlines(FK, 20) == {"section4-handling": "due"}
    assert idx.deadlines(FK, 41) == {"section4-handling": "overdue"}
    ack = acknowledgement(
        "fk-1", "s4-1", received=at(11), handled=at(30), outcome=Outcome.NO_NEED, informed=False
    )
    changes = idx.add(
        entry(
            ack,
            received=at(30),
            sender="fk",
            sender_org=FK_ORG,
            sender_role="forsakringskassan",
            to=[("region-skane", "region", REGION_ORG)],
        )
    )
    assert [f.code for f in changes.flags] == ["COORD-S4-NO-NEED-UNTOLD"]
    n = idx.entries["section4-notification:s4-1"]
    assert n.status == "handled" and n.facts["acknowledgement"]["outcome"] == "no-need"
    assert idx.deadlines(FK, 41) == {"section4-handling": "met"}
    unknown = acknowledgement("fk-2", "nope", received=at(11), handled=None, outcome=None)
    orphan = idx.add(
        entry(
            unknown,
            received=at(31),
            sender="fk",
            sender_org=FK_ORG,
            sender_role="forsakringskassan",
        )
    )
    assert [f.code for f in orphan.flags] == ["COORD-ACK-UNKNOWN"]


def test_who_sees_what() -> None:
    idx = Index()
    idx.add(cert_entry("c1", [(day(1), day(90), 100)], 1))
    idx.add(
        entry(
            notification("s4-1", sent=at(5)),
            received=at(5),
            sender="region-ehr",
            sender_org=REGION_ORG,
            sender_role="region",
            to=[TO_FK],
        )
    )
    idx.add(plan_entry(34, plan_date=day(29)))
    idx.add(
        entry(
            sip("sip-1", created=at(40), follow_up=day(70)),
            received=at(40),
            sender="region-ehr",
            sender_org=REGION_ORG,
            sender_role="region",
            to=[TO_FK, TO_EMPLOYER, ("malmo", "municipality", "2120000142")],
        )
    )
    everything = set(idx.entries)
    seen, flags = idx.seen(EMPLOYER, 41)
    # the employer: its own plan and the certificate its consent covers; never the SIP (even
    # addressed to it, with consent) or the §4 notification
    assert seen == {"certificate:c1", "return-to-work-plan:5566778899:plan-1"}
    assert flags == {"COORD-RTW-LATE"}  # about its own plan
    shown = {e["entry"]: e for e in view(EMPLOYER, list(idx.entries.values()), [], [], at(41))[0]}
    assert set(shown["certificate:c1"]["facts"]) == {"subtype", "signed_at", "periods"}
    assert "unit" not in shown["certificate:c1"]["facts"]
    assert idx.seen(REGION, 41)[0] == everything
    assert idx.seen(FK, 41)[0] == everything
    assert idx.seen(MUNICIPALITY, 41)[0] == {"sip:sip-1"}
    assert idx.seen(STRANGER, 41) == (set(), set())  # not related to the patient
    # the certificate's consent withdrawn: the employer no longer sees it
    c1 = idx.entries["certificate:c1"]
    (given,) = c1.consents
    withdrawn = given.model_copy(update={"withdrawn_at": at(38)})
    idx.entries["certificate:c1"] = replace(c1, consents=(withdrawn,))
    assert idx.seen(EMPLOYER, 41)[0] == {"return-to-work-plan:5566778899:plan-1"}


def test_consent_is_to_a_named_employer_through_the_one_evaluator() -> None:
    """The employer's entry rests on a consent naming its organisation: the same document
    addressed to another employer, or to an actor naming no organisation, is not shown; a
    second consent offered beside it that says no hides it (a no in any consent wins)."""
    from gateway.coordination.visibility import consent_allows
    from gateway.documents.common import ProvisionType
    from gateway.policy.policies import policy_for

    c1 = cert_entry("c1", [(day(1), day(90), 100)], 1)
    policy = policy_for(c1.kind, Recipient.EMPLOYER)
    assert policy is not None and policy.consent_names_organisation

    def allows(actor: Actor, e: Entry = c1) -> bool:
        return consent_allows(e.consents, actor=actor, entry=e, policy=policy, at=at(10))

    assert allows(EMPLOYER)
    assert allows(Actor("hr-acme", Recipient.EMPLOYER, "556677-8899"))  # however written
    assert not allows(Actor("hr-other", Recipient.EMPLOYER, "5560000000"))
    assert not allows(Actor("hr-none", Recipient.EMPLOYER, None))
    (given,) = c1.consents
    deny = given.model_copy(update={"id": "samtycke-ag-2", "type": ProvisionType.DENY})
    assert not allows(EMPLOYER, replace(c1, consents=(given, deny)))
    other = replace(
        c1, recipients=(*c1.recipients, Addressee("hr-other", "employer", "5560000000"))
    )
    assert (
        Viewer(Actor("hr-other", Recipient.EMPLOYER, "5560000000"), [other], at(10)).sees(c1.key)
        is False
    )


@pytest.mark.parametrize(
    "code",
    [
        "COORD-RTW-LATE",
        "COORD-RTW-DEGREE",
        "COORD-SIP-PARALLEL",
        "COORD-PARALLEL-TRACKS",
        "COORD-S4-COORDINATOR",
        "COORD-S4-NO-NEED-UNTOLD",
        "COORD-ACK-UNKNOWN",
    ],
)
def test_every_flag_is_in_the_rule_catalogue(code: str) -> None:
    rule = RULES[code]
    assert rule.kind == "coordination" and rule.source and len(rule.explanation) > 80


def test_deadline_rows_name_their_sources() -> None:
    from gateway.coordination.settings import deadline_rules

    for rule in deadline_rules():
        assert rule.source and rule.title
    assert timedelta(days=1)  # keeps the import honest


def test_a_plan_is_late_whichever_arrives_first() -> None:
    """The certificates may reach the gateway after the plan: the case they make still dates
    it, and the flag is raised once, either way round."""
    plan_first, cert_first = Index(), Index()
    late_plan = plan_entry(34, plan_date=day(29))
    certificate_entry = cert_entry("c1", [(day(1), day(90), 100)], 1)
    plan_first.add(late_plan)
    assert plan_first.last.flags == []  # no case yet
    plan_first.add(certificate_entry)
    cert_first.add(certificate_entry)
    cert_first.add(late_plan)
    for idx in (plan_first, cert_first):
        assert [f.code for f in idx.flags.values()] == ["COORD-RTW-LATE"]
