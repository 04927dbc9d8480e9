"""One whole sick-leave case through a real server, on SQLite and on PostgreSQL (issue 17,
"Done when"): a certificate on day 1, a §4 notification with consent, Försäkringskassan's
acknowledgement, a return-to-work plan arriving on day 34 (flagged late), a SIP, a
certificate whose degree contradicts the plan (flagged) - and at every step what each actor
sees of the index and its deadline list; the employer never anything it may not see.

Actors (each a configured sender with a role and organisation; bearer tokens): the region's
EHR, the employer's HR system, Försäkringskassan's case system, the municipality's social
services, and a region with no part in the case.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from coordination_support import (
    EMPLOYER_ORG,
    PATIENT,
    REGION_ORG,
    acknowledgement,
    at,
    certificate,
    certificate_message,
    day,
    employer_consent,
    notification,
    plan,
    sip,
)
from exchange_support import Clock, FakeTransport, NewStore, run, serving

from gateway.documents.acknowledgement import Outcome
from gateway.documents.common import Identifier
from gateway.exchange.config import Config, parse
from gateway.exchange.server.app import STORE
from gateway.formats.base import Format
from gateway.formats.registry import render

TOKENS = {
    "region": "t-region",
    "employer": "t-hr",
    "fk": "t-fk",
    "municipality": "t-kommun",
    "stranger": "t-stranger",
}
RECIPIENTS = {
    "fk": ("forsakringskassan", "2021005521", "xml", "rivta-soap"),
    "acme": ("employer", EMPLOYER_ORG, "fhir-json", "fhir"),
    "region-skane": ("region", REGION_ORG, "fhir-json", "fhir"),
    "malmo": ("municipality", "2120001124", "fhir-json", "fhir"),
}


def config() -> Config:
    def sender(
        sid: str, token: str, kinds: list[str], to: list[str], role: str, org: str
    ) -> dict[str, Any]:
        return {
            "id": sid,
            "token": token,
            "kinds": kinds,
            "recipients": to,
            "role": role,
            "organisation": org,
        }

    return parse(
        {
            "senders": [
                sender(
                    "region-ehr",
                    TOKENS["region"],
                    ["certificate", "section4-notification", "sip"],
                    list(RECIPIENTS),
                    "region",
                    REGION_ORG,
                ),
                sender(
                    "hr-acme",
                    TOKENS["employer"],
                    ["return-to-work-plan"],
                    ["fk", "region-skane"],
                    "employer",
                    EMPLOYER_ORG,
                ),
                sender(
                    "fk-case",
                    TOKENS["fk"],
                    ["section4-acknowledgement"],
                    ["region-skane"],
                    "forsakringskassan",
                    "2021005521",
                ),
                sender(
                    "kommun",
                    TOKENS["municipality"],
                    ["sip"],
                    ["region-skane"],
                    "municipality",
                    "2120001124",
                ),
                sender(
                    "other-ehr",
                    TOKENS["stranger"],
                    ["certificate"],
                    ["fk"],
                    "region",
                    "SE2321000016-OTHR",
                ),
            ],
            "recipients": [
                {
                    "id": rid,
                    "role": role,
                    "organisation": org,
                    "format": fmt,
                    "push": {"kind": kind, "url": f"https://{rid}.example/in"},
                }
                for rid, (role, org, fmt, kind) in RECIPIENTS.items()
            ],
        }
    )


class Case:
    """The server, its clock and the actors' views."""

    def __init__(self, client: TestClient[Any, Any], clock: Clock) -> None:
        self.client = client
        self.clock = clock

    def on(self, n: int, hour: int = 10) -> None:
        self.clock.now = at(n, hour)

    async def send(
        self,
        who: str,
        body: bytes,
        content_type: str,
        to: str | None = None,
        mid: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {TOKENS[who]}", "Content-Type": content_type}
        if to is not None:
            headers["Gateway-Recipients"] = to
        if mid is not None:
            headers["Gateway-Message-Id"] = mid
        async with self.client.post("/messages", data=body, headers=headers) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
            assert resp.status == 202, answer
            return answer

    async def get(self, who: str, path: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKENS[who]}"}
        async with self.client.get(path, headers=headers) as resp:
            raw = await resp.read()
            return resp.status, orjson.loads(raw) if raw[:1] in (b"{", b"[") else raw

    async def sees(self, who: str) -> tuple[set[str], set[str], dict[str, Any]]:
        status, body = await self.get(who, f"/patients/{PATIENT}/plans")
        assert status == 200
        return {e["entry"] for e in body["entries"]}, {f["code"] for f in body["flags"]}, body

    async def deadlines(self, who: str, within: int = 40) -> dict[str, str]:
        """The actor's list: what is due or overdue (and milestones near)."""
        status, body = await self.get(who, f"/deadlines?within={within}")
        assert status == 200, body
        return {d["code"]: d["status"] for d in body["deadlines"] if d["patient"] == PATIENT}

    async def all_deadlines(self, who: str) -> dict[str, str]:
        """Every deadline of the patient on the actor's list, met ones too."""
        body = (await self.sees(who))[2]
        return {d["code"]: d["status"] for d in body["deadlines"]}


CERT1 = "certificate:c1"
CERT2 = "certificate:c2"
S4 = "section4-notification:s4-1"
ACK = "section4-acknowledgement:fk-svar-1"
PLAN = f"return-to-work-plan:{EMPLOYER_ORG}:plan-1"
SIP = "sip:sip-1"
#: what an employer must never be shown, in any answer (diagnosis codes of the fixture
#: certificate, its diagnosis texts, a SIP's need, the §4 notification's coordinator)
FORBIDDEN = re.compile(
    r"M54|G47|Ryggvärk|Sömnstörning|section4|sip|Samtalsstöd|Rehabiliteringskoordinator", re.I
)


async def _employer_never_sees_too_much(case: Case) -> None:
    for path in (
        f"/patients/{PATIENT}/plans",
        "/deadlines?within=400",
        f"/fhir/CarePlan?subject:identifier={PATIENT}",
        f"/fhir/DocumentReference?subject:identifier={PATIENT}",
        f"/fhir/Task?subject:identifier={PATIENT}",
        f"/fhir/DetectedIssue?patient:identifier={PATIENT}",
        f"/fhir/Communication?subject:identifier={PATIENT}",
    ):
        status, body = await case.get("employer", path)
        assert status == 200, (path, body)
        text = orjson.dumps(body).decode()
        text = text.replace("sick-pay", "").replace("plan-index", "")
        assert FORBIDDEN.search(text) is None, (path, FORBIDDEN.search(text))


async def _scenario(store_factory: NewStore) -> None:
    clock = Clock(at(1))
    transports = {rid: FakeTransport() for rid in RECIPIENTS}
    async with serving(config(), store_factory(), transports, clock=clock) as client:
        case = Case(client, clock)

        # day 1: the certificate, to Försäkringskassan and (with consent) the employer
        case.on(1)
        c1 = certificate("c1", [(day(1), day(34), 100), (day(35), day(90), 50)], signed=at(1, 9))
        await case.send(
            "region",
            certificate_message(
                c1,
                ["forsakringskassan", "employer"],
                message_id="msg-c1",
                envelope_consent=employer_consent(),
            ),
            "application/fhir+json",
        )
        assert (await case.sees("region"))[0] == {CERT1}
        assert (await case.sees("fk"))[0] == {CERT1}
        employer, flags, body = await case.sees("employer")
        assert (employer, flags) == ({CERT1}, set())
        (shown,) = body["entries"]
        assert set(shown["facts"]) == {"subtype", "signed_at", "periods"}
        assert body["case"]["start"] == day(1).isoformat() and body["case"]["covered_days"] == 90
        assert (await case.sees("municipality"))[0] == set()
        assert (await case.sees("stranger"))[0] == set()
        assert await case.deadlines("employer") == {
            "sick-pay-period": "upcoming",
            "return-to-work-plan": "due",
        }
        assert (await case.all_deadlines("employer"))["employer-certificate-day-8"] == "met"

        # day 5: the §4 notification, with the patient's consent, to Försäkringskassan
        case.on(5)
        n = notification("s4-1", sent=at(5, 9))
        await case.send("region", render(n, Format.XML), "application/xml", to="fk")
        assert (await case.sees("fk"))[0] == {CERT1, S4}
        assert (await case.sees("region"))[0] == {CERT1, S4}
        assert (await case.sees("employer"))[0] == {CERT1}
        assert await case.deadlines("fk") == {
            "section4-handling": "due",  # Försäkringskassan's to handle
            "return-to-work-plan": "due",  # informed: the employer's plan
            "sick-pay-period": "upcoming",  # sickness benefit from day 15
        }

        # day 12: Försäkringskassan's acknowledgement, as SendMessageToCare, to the region
        case.on(12)
        ack = acknowledgement(
            "fk-svar-1", "s4-1", received=at(5, 11), handled=at(12, 9), outcome=Outcome.COORDINATION
        )
        ack = ack.model_copy(
            update={"certificate_id": Identifier(system="TSTNMT2321000156-ALMC", value="cert-1")}
        )
        await case.send(
            "fk", render(ack, Format.RIVTA_MESSAGE), "application/xml", to="region-skane"
        )
        region, _, body = await case.sees("region")
        assert region == {CERT1, S4, ACK}
        s4 = next(e for e in body["entries"] if e["entry"] == S4)
        assert (
            s4["status"] == "handled"
            and s4["facts"]["acknowledgement"]["outcome"] == "coordination"
        )
        assert (await case.sees("fk"))[0] == {CERT1, S4, ACK}
        assert (await case.sees("employer"))[0] == {CERT1}
        assert "section4-handling" not in await case.deadlines("fk")  # handled: off the list
        assert (await case.all_deadlines("fk"))["section4-handling"] == "met"

        # day 34, morning: no plan yet - the employer's list says it is overdue
        case.on(34, 8)
        status, body = await case.get("employer", "/deadlines")
        (rtw,) = [d for d in body["deadlines"] if d["code"] == "return-to-work-plan"]
        assert rtw["status"] == "overdue" and rtw["day"] == 30
        assert rtw["text"] == f"return-to-work-plan overdue: due {day(30)} (day 30, 4 day(s) ago)"

        # day 34: the return-to-work plan arrives (dated day 29): flagged late
        case.on(34)
        p = plan(
            "plan-1",
            plan_date=day(29),
            measures=[("part-time", "Arbete 50 % förmiddagar", day(35), day(60))],
            follow_ups=[day(50)],
        )
        await case.send("employer", render(p, Format.XML), "application/xml", to="fk,region-skane")
        for who in ("employer", "region", "fk"):
            seen, flags, _ = await case.sees(who)
            assert PLAN in seen and flags == {"COORD-RTW-LATE"}, who
        assert (await case.sees("employer"))[0] == {CERT1, PLAN}
        assert "return-to-work-plan" not in await case.deadlines("employer")
        assert (await case.all_deadlines("employer"))["return-to-work-plan"] == "met-late"

        # day 40: a SIP by the region and the municipality
        case.on(40)
        s = sip("sip-1", created=at(40, 9), follow_up=day(70))
        await case.send(
            "region", render(s, Format.XML), "application/xml", to="malmo,fk,region-skane"
        )
        assert (await case.sees("municipality"))[0] == {SIP}
        assert SIP in (await case.sees("region"))[0]
        assert (await case.sees("employer"))[0] == {CERT1, PLAN}
        assert (await case.deadlines("region"))["sip-follow-up"] == "due"

        # day 41: a certificate of 100 % for the plan's part-time weeks: flagged to the
        # coordinators; the employer, which may not see that certificate, is not told of it
        case.on(41)
        c2 = certificate("c2", [(day(41), day(60), 100)], signed=at(41, 9))
        await case.send(
            "region",
            certificate_message(c2, ["forsakringskassan"], message_id="msg-c2"),
            "application/fhir+json",
        )
        for who in ("region", "fk"):
            assert (await case.sees(who))[1] == {"COORD-RTW-LATE", "COORD-RTW-DEGREE"}, who
        employer, flags, _ = await case.sees("employer")
        assert (employer, flags) == ({CERT1, PLAN}, {"COORD-RTW-LATE"})
        await _employer_never_sees_too_much(case)
        assert (await case.sees("stranger"))[0] == set()

        # the FHIR searches: searchset Bundles of exactly what the region may see
        status, bundle = await case.get(
            "region",
            f"/fhir/CarePlan?subject:identifier=http://electronichealth.se/identifier/personnummer|{PATIENT}",
        )
        assert status == 200 and bundle["type"] == "searchset" and bundle["total"] == 2
        status, issues = await case.get(
            "region", f"/fhir/DetectedIssue?patient:identifier={PATIENT}"
        )
        assert {c["code"] for i in issues["entry"] for c in i["resource"]["code"]["coding"]} == {
            "COORD-RTW-LATE",
            "COORD-RTW-DEGREE",
        }
        status, bad = await case.get("region", "/fhir/CarePlan?subject:identifier=12")
        assert status == 400 and bad["resourceType"] == "OperationOutcome"
        # every patient parameter is checked, not only the first (schemathesis found it)
        status, bad = await case.get(
            "region", f"/fhir/CarePlan?subject:identifier={PATIENT}&patient:identifier=x"
        )
        assert status == 400 and bad["resourceType"] == "OperationOutcome"
        # an empty actor (beside a patient too) and integers int() would stretch are refused
        for query in ("actor=", f"actor=&patient={PATIENT}", "within=5_0", "limit=%D9%A3"):
            status, bad = await case.get("region", f"/deadlines?{query}")
            assert status == 400, query
        # parameters are ANDed: two patients match nothing
        status, none = await case.get(
            "region",
            f"/fhir/CarePlan?subject:identifier={PATIENT}&subject:identifier=195001010015",
        )
        assert status == 200 and none["total"] == 0

        # every read is in the audit trail: who, which patient, what was shown (ids only)
        reads = [
            r.entry async for r in client.app[STORE].audit_records() if r.entry.action == "read"
        ]
        employer_reads = [r for r in reads if r.actor == "hr-acme" and r.detail.get("patient")]
        assert employer_reads and all(r.detail["patient"] == PATIENT for r in employer_reads)
        assert all(set(r.detail["entries"]) <= {CERT1, PLAN} for r in employer_reads)
        flagged = [
            r.entry async for r in client.app[STORE].audit_records() if r.entry.action == "flagged"
        ]
        assert sorted(r.detail["code"] for r in flagged) == ["COORD-RTW-DEGREE", "COORD-RTW-LATE"]


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_one_sick_leave_case_through_a_real_server(new_store: NewStore) -> None:
    run(_scenario(new_store))


def test_a_store_without_a_plan_index_leaves_the_gateway_serving(tmp_path: Any) -> None:
    """A kind of store the plan index does not know: the gateway starts and serves, and the
    coordination routes answer 503 (the store is unavailable for them) rather than crash."""
    from gateway.exchange.store import store_for

    inner = store_for(f"sqlite:///{tmp_path}/gateway.db")

    class Elsewhere:
        url = "elsewhere://db"

        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

    async def go() -> None:
        async with serving(config(), Elsewhere(), {}, clock=Clock()) as client:
            assert (await client.get("/ready")).status == 200
            auth = {"Authorization": f"Bearer {TOKENS['region']}"}
            answer = await client.get(f"/patients/{PATIENT}/plans", headers=auth)
            assert answer.status == 503, await answer.text()
            assert "Retry-After" in answer.headers

    run(go())
