"""What the console tests share: console users in a config, logging in over HTTP (cookies
handled by hand, so a test can replay one), a recipient the test scripts, and a real
``gateway serve`` on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from exchange_support import config_data

from gateway.console import auth

OPERATOR_TOKEN = "operator-anna-token"
COORDINATOR_TOKEN = "coordinator-kim-token"
COORDINATOR_ORG = "SE2321000131-E000000000001"
USERS = [
    {"id": "anna", "role": "operator", "token": OPERATOR_TOKEN},
    {
        "id": "kim",
        "role": "coordinator",
        "organisation": COORDINATOR_ORG,
        "token": COORDINATOR_TOKEN,
    },
]
#: where the browser tests write their screenshots (CI keeps the folder; docs/console.md
#: shows one per page): GATEWAY_CONSOLE_SCREENSHOTS, else .ci/artifacts/console/
SCREENSHOTS = Path(
    os.environ.get(
        "GATEWAY_CONSOLE_SCREENSHOTS",
        str(Path(__file__).resolve().parent.parent / ".ci" / "artifacts" / "console"),
    )
)


def console_config_data(**delivery: Any) -> dict[str, Any]:
    data = config_data(**delivery)
    data["users"] = [dict(u) for u in USERS]
    return data


Client = TestClient[web.Request, web.Application]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Browserless:
    """A logged-in session over HTTP: its cookie and the CSRF token of its forms."""

    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{auth.COOKIE}={self.cookie}"}


async def log_in(client: Client, token: str = OPERATOR_TOKEN) -> Browserless:
    page = await client.get("/console/login")
    assert page.status == 200
    login_cookie = page.cookies[auth.LOGIN_COOKIE].value
    answer = await client.post(
        "/console/login",
        data={"csrf": csrf_of(await page.text()), "token": token, "next": "/console/"},
        headers={"Cookie": f"{auth.LOGIN_COOKIE}={login_cookie}", "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    cookie = answer.cookies[auth.COOKIE].value
    home = await client.get("/console/recipients", headers={"Cookie": f"{auth.COOKIE}={cookie}"})
    return Browserless(cookie, csrf_of(await home.text()))


# -- a recipient the test scripts -----------------------------------------------------------


@dataclass
class ScriptedRecipient:
    """A FHIR push endpoint on loopback in a thread of its own. Each POST takes the next
    status from ``script`` (then 201); a status paired with an Event waits for it first."""

    script: list[tuple[int, threading.Event | None]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        await request.read()
        self.received.append(request.headers.get("Idempotency-Key", ""))
        status, gate = self.script.pop(0) if self.script else (201, None)
        if gate is not None:
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, 30)
        if status >= 400:
            return web.json_response(
                {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "error",
                            "code": "transient",
                            "diagnostics": "mottagaren är tillfälligt nere",
                        }
                    ],
                },
                status=status,
            )
        return web.Response(status=status)

    def start(self) -> ScriptedRecipient:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/fhir", self._post)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}/fhir"
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="scripted-recipient")
        self._thread.start()
        assert ready.wait(10), "the scripted recipient did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


# -- a real gateway ---------------------------------------------------------------------------


@contextmanager
def gateway_serve(
    config_toml: Path, *, cwd: Path, output: list[str] | None = None
) -> Iterator[str]:
    """``gateway serve --config FILE --port 0`` as a child process; yields its base URL once
    it says it listens, and stops it with SIGTERM. Every line it writes (its logs, the access
    log among them) is appended to ``output``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config_toml), "--port", "0"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    url = None
    lines = output if output is not None else []
    try:
        for line in proc.stdout:
            lines.append(line)
            found = re.search(r"listening on (\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "gateway serve did not start:\n" + "".join(lines)
        stream = proc.stdout
        # keep the pipe drained, and what it says
        threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- a coordination case, for the coordinators' pages ---------------------------------------

REGION_COORDINATOR_TOKEN = "coordinator-region-kim-token"
EMPLOYER_USER_TOKEN = "employer-hr-lisa-token"
OTHER_EMPLOYER_ORG = "5560001116"  # another employer, whose plan lisa must never see


def coordination_config(push_url: str, database: str | None = None) -> dict[str, Any]:
    """Senders with roles and organisations (the region's EHR, two employers' HR systems),
    recipients all pushing FHIR to ``push_url``, and the console's people: an operator, a
    coordinator at the region and an employer's HR person (a coordinator acting as the
    employer)."""
    from coordination_support import EMPLOYER_ORG, REGION_ORG

    def recipient(rid: str, role: str, org: str) -> dict[str, Any]:
        return {
            "id": rid,
            "role": role,
            "organisation": org,
            "format": "fhir-json",
            "push": {"kind": "fhir", "url": push_url},
        }

    def hr(sid: str, token: str, org: str) -> dict[str, Any]:
        return {
            "id": sid,
            "token": token,
            "kinds": ["return-to-work-plan"],
            "recipients": ["fk", "region-skane"],
            "role": "employer",
            "organisation": org,
        }

    data: dict[str, Any] = {
        "delivery": {"initial_backoff_seconds": 0.2, "max_backoff_seconds": 1, "poll_seconds": 0.1},
        "senders": [
            {
                "id": "region-ehr",
                "token": "t-region",
                "kinds": ["certificate", "sip", "section4-notification"],
                "recipients": ["fk", "acme", "region-skane", "malmo"],
                "role": "region",
                "organisation": REGION_ORG,
            },
            hr("hr-acme", "t-acme", EMPLOYER_ORG),
            hr("hr-other", "t-other", OTHER_EMPLOYER_ORG),
        ],
        "recipients": [
            recipient("fk", "forsakringskassan", "2021005521"),
            recipient("acme", "employer", EMPLOYER_ORG),
            recipient("region-skane", "region", REGION_ORG),
            recipient("malmo", "municipality", "2120001124"),
        ],
        "users": [
            {"id": "anna", "role": "operator", "token": OPERATOR_TOKEN},
            {
                "id": "kim",
                "role": "coordinator",
                "organisation": REGION_ORG,
                "actor_role": "region",
                "token": REGION_COORDINATOR_TOKEN,
            },
            {
                "id": "lisa",
                "role": "coordinator",
                "organisation": "556677-8899",
                "actor_role": "employer",
                "token": EMPLOYER_USER_TOKEN,
            },
        ],
    }
    if database is not None:
        data["server"] = {"database": database}
    return data


def toml_of(data: dict[str, Any]) -> str:
    """The little TOML the configurations above need (tables, arrays of tables, strings,
    numbers, lists of strings, inline tables)."""
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else str(v)

    out = []
    for name, section in data.items():
        tables = section if isinstance(section, list) else [section]
        for table in tables:
            out.append(f"[[{name}]]" if isinstance(section, list) else f"[{name}]")
            out += [f"{k} = {value(v)}" for k, v in table.items()]
            out.append("")
    return "\n".join(out)


@dataclass(frozen=True)
class Sent:
    token: str
    body: bytes
    content_type: str
    recipients: str | None  # Gateway-Recipients, when the message does not name them


#: the ids the pages are checked against
CERT_SHARED = "intyg-delat-1"  # to Försäkringskassan and, with consent, the employer
CERT_FK_ONLY = "intyg-fk-2"  # to Försäkringskassan only: the employer never sees it
PLAN_ACME = "plan-acme-1"
PLAN_OTHER = "plan-annat-1"
SIP_ID = "sip-1"
S4_ID = "s4-1"


def coordination_case(today: date) -> list[Sent]:
    """One patient's case, its day 1 twenty days before ``today``: a certificate to
    Försäkringskassan and the employer (with the employer's consent), the employer's plan,
    another employer's plan, a §4 notification, a SIP, and a second certificate (to
    Försäkringskassan only) whose 100 % contradicts the plan's part-time weeks."""
    from coordination_support import (
        certificate,
        certificate_message,
        employer_consent,
        notification,
        plan,
        sip,
    )

    from gateway.documents.common import SWEDISH_TIME, Identifier, Organisation
    from gateway.formats.base import Format
    from gateway.formats.registry import render

    day1 = today - timedelta(days=19)

    def day(n: int) -> date:
        return day1 + timedelta(days=n - 1)

    def at(n: int, hour: int = 9) -> datetime:
        return datetime.combine(day(n), time(hour), SWEDISH_TIME).astimezone(UTC)

    c1 = certificate(CERT_SHARED, [(day(1), day(34), 100), (day(35), day(90), 50)], signed=at(1))
    c2 = certificate(CERT_FK_ONLY, [(day(35), day(60), 100)], signed=at(19, 8))
    mine = plan(
        PLAN_ACME,
        plan_date=day(10),
        first_day=day(1),
        measures=[("part-time", "Arbete 50 % förmiddagar", day(35), day(60))],
        follow_ups=[day(50)],
    )
    theirs = plan(
        PLAN_OTHER,
        plan_date=day(12),
        first_day=day(1),
        measures=[("part-time", "Arbete 25 % eftermiddagar", day(35), day(60))],
    )
    theirs = theirs.model_copy(
        update={
            "employer": Organisation(
                id=Identifier(system="2.5.4.97", value="556000-1116"), name="Annat Bolag AB"
            )
        }
    )
    s = sip(SIP_ID, created=at(15), follow_up=day(45))
    n = notification(S4_ID, sent=at(5))
    fhir, xml = "application/fhir+json", "application/xml"
    return [
        Sent(
            "t-region",
            certificate_message(
                c1,
                ["forsakringskassan", "employer"],
                message_id="msg-c1",
                envelope_consent=employer_consent(),
            ),
            fhir,
            None,
        ),
        Sent("t-region", render(n, Format.XML), xml, "fk"),
        Sent("t-acme", render(mine, Format.XML), xml, "fk,region-skane"),
        Sent("t-other", render(theirs, Format.XML), xml, "fk,region-skane"),
        Sent("t-region", render(s, Format.XML), xml, "malmo,fk,region-skane"),
        Sent(
            "t-region",
            certificate_message(c2, ["forsakringskassan"], message_id="msg-c2"),
            fhir,
            None,
        ),
    ]
