"""``gateway demo``: the main job end to end on loopback. The gateway on embedded SQLite in a
temporary directory, behind HTTPS with mutual TLS; mock recipients for Försäkringskassan
(RIVTA SOAP), a region, a municipality and Arbetsförmedlingen (FHIR push); the employer runs
no server, like most: its HR system pulls (``GET /inbox`` over mutual TLS with its own
client certificate, then acknowledges each message). The fixture messages are sent through
it by a region's EHR (SITHS-style certificate) and an HR system (bearer token), refusals
included; then what each recipient received, the employer's redacted certificate beside
Försäkringskassan's full one, and the audit check.

Some recipients misbehave on purpose: Försäkringskassan fails once before taking a message
(a retry), the municipality rejects everything until it is "fixed", when its dead letter is
redelivered, and the HR system acknowledges only the certificate on its first fetch, so the
SIP it left unacknowledged is offered again on the next.
"""

from __future__ import annotations

import asyncio
import base64
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gateway import FIXTURES_DIR
from gateway.documents.certificate import Certificate
from gateway.testkit.loopback import (
    EMPLOYER_ORG,
    FK_PLANS,
    FK_TOKEN,
    HR_TOKEN,
    Loopback,
    certificate_message,
    loopback,
)

#: The fixture messages the demo sends (paths under ``fixtures/``).
FK7804 = Path("certificate/fk7804-valid.xml")
AG7804 = Path("certificate/ag7804-valid-diagnosis-shared.xml")
INVALID = Path("certificate/fk7804-current-work-missing.xml")
SIP = Path("sip/fhir-message-valid-four-principals.fhir.json")
SECTION4 = Path("section4-notification/valid-refers-to-certificate.xml")
PLAN = Path("return-to-work-plan/valid-part-time-within-30-days.xml")
USED = (FK7804, AG7804, INVALID, SIP, SECTION4, PLAN)
#: How the demo's recipients misbehave (see the module docstring).
MOCKS: dict[str, dict[str, Any]] = {
    "fk": {"fail_first": 1},
    "malmo": {"answer": "VALIDATION_ERROR"},
}
#: The recipients that pull their messages instead of running a server.
PULL = ("acme",)
FHIR = {"Content-Type": "application/fhir+json"}
XML = {"Content-Type": "application/xml"}

Print = Callable[[str], None]


@dataclass
class Sent:
    what: str
    status: int
    outcome: str
    message_id: str | None = None
    #: who sent it (its session and the credentials of the request), to ask for its status
    sender: tuple[aiohttp.ClientSession, dict[str, str]] | None = None


@dataclass
class Fetch:
    """One call of the pull recipient: what it saw, or what it acknowledged."""

    what: str
    status: int
    seen: list[str] = field(default_factory=list)  # "<message id> (offer n)" per message


@dataclass
class Demo:
    sent: list[Sent] = field(default_factory=list)
    #: the plan index as each actor sees it (lines to print)
    index: list[str] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the pull employer's calls, and the payloads it fetched by message id
    pulls: list[Fetch] = field(default_factory=list)
    #: Försäkringskassan's case system's calls to its inbox (the employer's plan)
    fk_pulls: list[Fetch] = field(default_factory=list)
    pulled: dict[str, bytes] = field(default_factory=dict)
    ok: bool = True


def _outcome(status: int, body: dict[str, Any]) -> str:
    if status == 202:
        states = ", ".join(f"{r['recipient']} {r['state']}" for r in body.get("recipients", []))
        refused = [r for r in body.get("recipients", []) if r.get("rules")]
        rules = "; ".join(f"{r['recipient']}: {', '.join(r['rules'])}" for r in refused)
        return f"accepted ({states}){' refused ' + rules if rules else ''}"
    codes: list[str] = []
    for item in body.get("issues", []):  # problem+json
        codes.append(item.get("code", ""))
    for item in body.get("issue", []):  # OperationOutcome
        for coding in (item.get("details") or {}).get("coding", []):
            codes.append(coding.get("code", ""))
    title = body.get("title") or next(
        (i.get("diagnostics") for i in body.get("issue", []) if i.get("diagnostics")), ""
    )
    unique = sorted({c for c in codes if c})
    shown = ", ".join(unique[:4]) + (f" (+{len(unique) - 4})" if len(unique) > 4 else "")
    return f"{title}{': ' + shown if shown else ''}"


async def _send(
    demo: Demo,
    session: aiohttp.ClientSession,
    what: str,
    body: bytes,
    headers: dict[str, str],
    *,
    expect: int,
) -> str | None:
    async with session.post("/messages", data=body, headers=headers) as resp:
        status = resp.status
        answer: dict[str, Any] = orjson.loads(await resp.read() or b"{}")
    message_id = answer.get("message_id") if status == 202 else None
    outcome = _outcome(status, answer)
    if message_id is not None and any(s.message_id == message_id for s in demo.sent):
        outcome = "the first answer again, nothing stored or sent again"
    auth = {k: v for k, v in headers.items() if k == "Authorization"}
    demo.sent.append(Sent(what, status, outcome, message_id, (session, auth)))
    demo.ok &= status == expect
    return message_id


async def scenario(lb: Loopback, out: Print, fixtures: Path = FIXTURES_DIR) -> Demo:
    demo = Demo()
    fk7804, ag7804, invalid, sip_message, notice_path, _plan = (fixtures / p for p in USED)
    region = lb.session(lb.region)
    anonymous = lb.session()
    certificate = certificate_message(
        fk7804.read_bytes(), ("forsakringskassan", "employer"), message_id="demo-cert-1"
    )
    send = _send
    await send(demo, region, "FK7804 certificate -> FK + employer (with consent)",
               certificate, FHIR, expect=202)  # fmt: skip
    await send(demo, region, "  the same message again", certificate, FHIR, expect=202)
    other = certificate_message(
        ag7804.read_bytes(), ("forsakringskassan", "employer"), message_id="demo-cert-1"
    )
    await send(demo, region, "  other content under its id", other, FHIR, expect=409)
    no_consent = certificate_message(
        ag7804.read_bytes(), ("employer",), message_id="demo-cert-2", consent_id=None
    )
    await send(demo, region, "AG7804 certificate -> employer, no consent",
               no_consent, FHIR, expect=422)  # fmt: skip
    other_employer = certificate_message(
        ag7804.read_bytes(), ("employer",), message_id="demo-cert-3", employer="5569876543"
    )
    await send(demo, region, "AG7804 -> employer, consent for another employer",
               other_employer, FHIR, expect=422)  # fmt: skip
    await send(demo, region, "invalid certificate (fk7804-current-work-missing)",
               invalid.read_bytes(), {**XML, "Gateway-Recipients": "fk"}, expect=422)  # fmt: skip
    sip_headers = {**FHIR, "Gateway-Recipients": "region-skane,malmo,acme"}
    sip = await send(demo, region, "SIP -> region, municipality, employer",
                     sip_message.read_bytes(), sip_headers, expect=202)  # fmt: skip
    s4 = {**XML, "Gateway-Recipients": "fk"}
    notice = notice_path.read_bytes()
    await send(demo, region, "§4 notification -> FK",
               notice, {**s4, "Gateway-Message-Id": "demo-s4-1"}, expect=202)  # fmt: skip
    await send(demo, region, "  a second §4 notification on that consent",
               notice, {**s4, "Gateway-Message-Id": "demo-s4-2"}, expect=422)  # fmt: skip
    await send(demo, anonymous, "no credentials", certificate, FHIR, expect=401)
    hr = {**FHIR, "Authorization": f"Bearer {HR_TOKEN}"}
    await send(demo, anonymous, "HR system (token) sends a certificate",
               certificate, hr, expect=403)  # fmt: skip

    await pull_inbox(demo, lb.session(lb.inboxes["acme"]), sip)
    await plan_index(demo, lb, region, fixtures)
    await fk_pulls_the_plan(demo, lb.session(lb.inboxes[FK_PLANS]))

    senders: dict[str, tuple[aiohttp.ClientSession, dict[str, str]] | None] = {}
    for s in demo.sent:
        if s.message_id:
            senders.setdefault(s.message_id, s.sender)
    for mid, sender in senders.items():
        session, auth = sender or (region, {})
        demo.statuses[mid] = await lb.settled(session, mid, headers=auth)
    if sip is not None:  # the municipality fixes its endpoint; its dead letter goes again
        lb.mocks["malmo"].answer = "OK"
        async with region.post(f"/messages/{sip}/redeliver") as resp:
            moved = (await resp.json()).get("redelivered", 0)
        out(f"municipality fixed; POST /messages/{sip}/redeliver moved {moved} dead letter(s)")
        demo.statuses[sip] = await lb.settled(region, sip)
    states = [r["state"] for st in demo.statuses.values() for r in st.get("recipients", [])]
    demo.ok &= all(s in ("delivered", "refused") for s in states)
    return demo


async def _fetch(
    demo: Demo, inbox: aiohttp.ClientSession, calls: list[Fetch] | None = None
) -> list[dict[str, Any]]:
    async with inbox.get("/inbox") as resp:
        status = resp.status
        messages: list[dict[str, Any]] = (await resp.json()).get("messages", [])
    seen = [f"{m['message_id']} (offer {m['offers']})" for m in messages]
    (demo.pulls if calls is None else calls).append(Fetch("GET /inbox", status, seen))
    for m in messages:
        demo.pulled.setdefault(m["message_id"], base64.b64decode(m["payload_base64"]))
    return messages


async def _ack(
    demo: Demo,
    inbox: aiohttp.ClientSession,
    message: dict[str, Any],
    calls: list[Fetch] | None = None,
) -> None:
    async with inbox.post(message["ack_url"]) as resp:
        call = Fetch(f"POST {message['ack_url']}", resp.status, [message["message_id"]])
        (demo.pulls if calls is None else calls).append(call)
        demo.ok &= resp.status == 204


async def pull_inbox(demo: Demo, inbox: aiohttp.ClientSession, sip: str | None) -> None:
    """The employer's HR system: fetches, acknowledges only the certificate (as if it stopped
    before the SIP), fetches again and is offered the SIP again, acknowledges it, and finds
    the inbox empty."""
    first = await _fetch(demo, inbox)
    for m in first:
        if m["message_id"] == "demo-cert-1":
            await _ack(demo, inbox, m)
    again = await _fetch(demo, inbox)
    for m in again:
        await _ack(demo, inbox, m)
    left = await _fetch(demo, inbox)
    ids = [[m["message_id"] for m in f] for f in (first, again, left)]
    demo.ok &= ids == [["demo-cert-1", sip], [sip], []] and [m["offers"] for m in again] == [2]
    demo.ok &= all(f.status == 200 for f in demo.pulls if f.what == "GET /inbox")


async def fk_pulls_the_plan(demo: Demo, inbox: aiohttp.ClientSession) -> None:
    """Försäkringskassan's case system fetches its inbox (the employer's plan, which its
    RIVTA endpoint has no contract for) and acknowledges what it got."""
    got = await _fetch(demo, inbox, demo.fk_pulls)
    for m in got:
        await _ack(demo, inbox, m, demo.fk_pulls)
    demo.ok &= [m["message_id"] for m in got] == ["demo-plan-1"]


def demo_plan(fixtures: Path) -> bytes:
    """The employer's return-to-work plan for the demo's FK7804 (2016): part-time at 75 %
    while the certificate's second period says 50 % sick leave - a contradiction to flag."""
    from datetime import date

    from gateway.documents.return_to_work import ReturnToWorkMeasure, ReturnToWorkPlan
    from gateway.formats.base import Format
    from gateway.formats.registry import render
    from gateway.validation.service import validate_bytes

    base = validate_bytes((fixtures / PLAN).read_bytes()).document
    assert isinstance(base, ReturnToWorkPlan)
    measure = base.measures[0].model_copy(
        update={
            "description": "Arbete 75 % förmiddagar",
            "period": base.measures[0].period.model_copy(  # type: ignore[union-attr]
                update={"start": date(2016, 8, 22), "end": date(2016, 9, 4)}
            ),
        }
    )
    assert base.employer.id is not None
    employer = base.employer.model_copy(  # the employer the loopback's acme is
        update={"id": base.employer.id.model_copy(update={"value": EMPLOYER_ORG})}
    )
    plan = base.model_copy(
        update={
            "id": "demo-plan-1",
            "employer": employer,
            "first_day_of_reduced_capacity": date(2016, 8, 8),
            "plan_date": date(2016, 8, 19),
            "expected_leave_60_days_or_more": False,
            "measures": [ReturnToWorkMeasure.model_validate(measure.model_dump())],
            "follow_ups": [
                f.model_copy(update={"on": date(2016, 9, 1)}) for f in base.follow_ups[:1]
            ],
            "consent": None,
        }
    )
    return render(plan, Format.XML)


async def plan_index(
    demo: Demo, lb: Loopback, region: aiohttp.ClientSession, fixtures: Path
) -> None:
    """The employer's HR system sends its return-to-work plan; the plan index flags that it
    contradicts the certificate. Then each actor asks for the patient's plans: the region,
    Försäkringskassan's case system, and the employer, which sees only its own plan and the
    certificate periods its consent covers - no diagnosis, no SIP, no §4 notification. The
    plan carries no consent for the region: the region sees neither it nor its flag."""
    hr = {**XML, "Authorization": f"Bearer {HR_TOKEN}", "Gateway-Recipients": FK_PLANS}
    employer = lb.session()
    await _send(
        demo,
        employer,
        "HR system: return-to-work plan -> FK (its inbox)",
        demo_plan(fixtures),
        {**hr, "Gateway-Message-Id": "demo-plan-1"},
        expect=202,
    )
    patient = "191212121212"
    views = {
        "region-ehr (region)": (region, {}),
        "fk-case (Försäkringskassan)": (lb.session(), {"Authorization": f"Bearer {FK_TOKEN}"}),
        "hr-acme (employer)": (employer, {"Authorization": f"Bearer {HR_TOKEN}"}),
    }
    seen: dict[str, tuple[set[str], set[str]]] = {}
    for who, (session, auth) in views.items():
        async with session.get(f"/patients/{patient}/plans", headers=auth) as resp:
            body: dict[str, Any] = await resp.json()
        kinds = {e["kind"] for e in body.get("entries", [])}
        flags = {f["code"] for f in body.get("flags", [])}
        seen[who] = kinds, flags
        demo.index.append(f"{who}: {resp.status}")
        for e in body.get("entries", []):
            facts = ", ".join(sorted(e["facts"]))
            demo.index.append(
                f"    {e['kind']:22} {e['id'][:28]:28} {e['status']:9} [{facts}]"[:150]
            )
        for f in body.get("flags", []):
            demo.index.append(f"    flag {f['code']}: {f['title']}")
        due = [d for d in body.get("deadlines", []) if d["status"] in ("due", "overdue")]
        for d in due[:3]:
            demo.index.append(f"    deadline {d['text']}")
    # the region has no consent for the plan: it sees neither the plan nor its flag
    demo.ok &= seen["region-ehr (region)"] == ({"certificate", "section4-notification"}, set())
    demo.ok &= seen["fk-case (Försäkringskassan)"] == (
        {"certificate", "section4-notification", "return-to-work-plan"},
        {"COORD-RTW-DEGREE"},
    )
    demo.ok &= seen["hr-acme (employer)"] == (
        {"certificate", "return-to-work-plan"},
        {"COORD-RTW-DEGREE"},
    )


def _certificate_of(payload: bytes, rivta: bool) -> Certificate | None:
    doc: object
    if rivta:
        from lxml import etree

        from gateway.exchange.transports.soap import Request, read_request
        from gateway.formats.rivta.register_certificate import RegisterCertificateCodec

        request = read_request(payload)
        if not isinstance(request, Request):
            return None
        doc = RegisterCertificateCodec().parse(etree.tostring(request.element)).document
    else:
        from gateway.formats.fhir.codec import FhirJsonCodec

        doc = FhirJsonCodec().parse(payload).document
    return doc if isinstance(doc, Certificate) else None


def side_by_side(lb: Loopback, demo: Demo, message_id: str = "demo-cert-1") -> list[str]:
    """FK's certificate beside the employer's copy of the same one: which answers each got."""
    from gateway.documents.questions import question

    deliveries = {
        r["recipient"]: r["delivery_id"]
        for r in demo.statuses.get(message_id, {}).get("recipients", [])
    }
    fk = next((r for r in lb.mocks["fk"].received if r.interaction == "RegisterCertificate"), None)
    employer = demo.pulled.get(message_id) if "acme" in deliveries else None
    if fk is None or employer is None:
        return ["(the certificate did not reach both)"]
    full, redacted = _certificate_of(fk.payload, True), _certificate_of(employer, False)
    if full is None or redacted is None:
        return ["(a copy could not be read)"]
    got = {a.id for a in redacted.answers}
    lines = [
        f"{'answer':48} {'Försäkringskassan':>18} {'employer':>12}",
        f"{'(format)':48} {'RIVTA ' + full.type.value:>18} {'FHIR ' + redacted.type.value:>12}",
    ]
    for answer_id in dict.fromkeys(a.id for a in full.answers):
        q = question(full.type, answer_id)
        title = f"{answer_id} {q.title if q else ''}"[:47]
        lines.append(f"{title:48} {'yes':>18} {'yes' if answer_id in got else 'withheld':>12}")
    for answer_id in sorted(got - {a.id for a in full.answers}):
        q = question(redacted.type, answer_id)
        title = f"{answer_id} {q.title if q else ''}"[:47]
        lines.append(f"{title:48} {'-':>18} {'yes (set)':>12}")
    if full.patient.address:
        kept = "yes" if redacted.patient.address else "withheld"
        lines.append(f"{'patient address':48} {'yes':>18} {kept:>12}")
    return lines


def report(demo: Demo, lb: Loopback, out: Print) -> None:
    out("\nsent to the gateway (POST /messages)")
    for s in demo.sent:
        out(f"  {s.what:52} {s.status}  {s.outcome}")
    out("\ndeliveries (GET /messages/{id})")
    for mid, st in demo.statuses.items():
        for r in st.get("recipients", []):
            out(
                f"  {mid[:20]:20} {r['recipient']:13} {r['state']:10} "
                f"attempts {r['attempts']}  {r['last_error'] or ''}"[:150]
            )
    out("\nthe employer's HR system pulls (mutual TLS as acme-inbox; GET /inbox, acknowledge)")
    for f in demo.pulls:
        out(f"  {f.what:52} {f.status}  {', '.join(f.seen) or '(empty)'}")
    out(f"\nFörsäkringskassan's case system pulls (mutual TLS as {FK_PLANS}-inbox)")
    for f in demo.fk_pulls:
        out(f"  {f.what:52} {f.status}  {', '.join(f.seen) or '(empty)'}")
    out("\nwhat each push recipient received (its own log; GET /received on the mock)")
    for rid, mock in lb.mocks.items():
        tries = sum(len(a) for a in mock.attempts.values())
        out(f"  {rid} ({mock.role}): {len(mock.received)} received, {tries} attempts")
        for r in mock.received:
            what = r.interaction or r.media_type
            out(f"    #{r.seq} {what:28} key {r.key[:36]:36} {len(r.payload):6} bytes")
    out("\nthe patient's plan index, as each actor sees it (GET /patients/{id}/plans)")
    for line in demo.index:
        out(f"  {line}")
    out("\nthe same certificate, as each received it")
    for line in side_by_side(lb, demo):
        out(f"  {line}")


async def console_tour(lb: Loopback, out: Print) -> bool:
    """The operator opens the console with a client certificate and reads the overview;
    its figures must be /metrics' figures."""
    jar = aiohttp.CookieJar(unsafe=True)  # the gateway is an IP address
    async with aiohttp.ClientSession(
        base_url=lb.url,
        connector=aiohttp.TCPConnector(ssl=lb.context(lb.operator)),
        cookie_jar=jar,
    ) as http:
        page = await (await http.get("/console/login")).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        if csrf is None or "Fortsätt som operator med certifikat" not in page:
            out("  the login page did not offer the operator's certificate")
            return False
        headers = {"Sec-Fetch-Site": "same-origin"}
        data = {"csrf": csrf.group(1), "method": "certificate"}
        async with http.post("/console/login", data=data, headers=headers) as resp:
            overview = await resp.text()
        metrics = await (await http.get("/metrics")).text()

    def shown(name: str) -> str:
        found = re.search(rf'data-figure="{name}">(?:<a [^>]*>)?([^<]+)<', overview)
        return found.group(1).strip() if found else "?"

    def gauge(name: str) -> str:
        found = re.search(rf"^{name} (\S+)$", metrics, re.M)
        return str(int(float(found.group(1)))) if found else "?"

    out(
        f"  logged in as operator (certificate); overview: in the outbox {shown('depth')}, "
        f"dead letters {shown('dead')}, delivered in the last hour {shown('delivered-hour')}, "
        f"failed attempts {shown('failed-hour')}"
    )
    same = (shown("depth"), shown("dead")) == (
        gauge("gateway_outbox_depth"),
        gauge("gateway_outbox_dead"),
    )
    out(
        f"  /metrics: depth {gauge('gateway_outbox_depth')}, dead "
        f"{gauge('gateway_outbox_dead')} ({'the same' if same else 'NOT THE SAME'})"
    )
    return same


async def _run(directory: Path, database: str | None, fixtures: Path, out: Print) -> int:
    async with loopback(directory, database=database, mocks=MOCKS, pull=PULL) as lb:
        out(f"gateway {lb.url} (mutual TLS, store {database or 'SQLite in ' + str(directory)})")
        out("mock recipients: " + ", ".join(f"{rid} {m.url}" for rid, m in lb.mocks.items()))
        pulled = sorted(lb.inboxes)  # the demo's employer, and Försäkringskassan's inbox
        out("pull recipients: " + ", ".join(f"{rid} (GET /inbox)" for rid in pulled))
        demo = await scenario(lb, out, fixtures)
        report(demo, lb, out)
        out(f"\nthe operators' console ({lb.url}/console/, docs/console.md)")
        console_ok = await console_tour(lb, out)
    out("\naudit trail (gateway audit --verify)")
    intact = await _verify_audit(database or f"sqlite:///{directory / 'gateway.db'}", out)
    ok = demo.ok and intact and console_ok
    out("\n" + ("demo: every answer as expected" if ok else "demo: SOMETHING UNEXPECTED, above"))
    return 0 if ok else 1


async def _verify_audit(database: str, out: Print) -> bool:
    """What ``gateway audit --verify`` checks, on the store the demo's gateway used."""
    from gateway.exchange.audit import verify
    from gateway.exchange.store import store_for

    store = store_for(database)
    await store.open()
    try:
        count, breaks = await verify(store.audit_records())
    finally:
        await store.close()
    for b in breaks:
        out(f"record {b.seq}: {b.problem}")
    out(
        f"audit trail BROKEN: {len(breaks)} problem(s) in {count} records"
        if breaks
        else f"audit trail intact: {count} records"
    )
    return not breaks


def missing_fixtures(fixtures: Path) -> list[Path]:
    return [fixtures / p for p in USED if not (fixtures / p).is_file()]


def run(
    *,
    keep: Path | None = None,
    database: str | None = None,
    fixtures: Path = FIXTURES_DIR,
    out: Print = print,
) -> int:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(keep, database, fixtures, out))
    with tempfile.TemporaryDirectory(prefix="gateway-demo-") as tmp:
        return asyncio.run(_run(Path(tmp), database, fixtures, out))
