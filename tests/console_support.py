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
                {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                 "code": "transient", "diagnostics": "mottagaren är tillfälligt nere"}]},
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
def gateway_serve(config_toml: Path, *, cwd: Path) -> Iterator[str]:
    """``gateway serve --config FILE --port 0`` as a child process; yields its base URL once
    it says it listens, and stops it with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config_toml), "--port", "0"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    url = None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            found = re.search(r"listening on (\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None, "gateway serve did not start:\n" + "".join(lines)
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
