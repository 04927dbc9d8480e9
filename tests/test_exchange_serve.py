"""``gateway serve`` as an operator runs it (issue 20), each in a real process:

* an environment fault (database unreachable, port in use, certificate and key that do not
  match, an unwritable SQLite path) is one clear error naming the setting and the OS's or
  driver's cause, exit 2, never "this is a bug";
* "listening" is printed only once the store is open and migrated, TLS loaded and the port
  bound: /ready answers 200 at once;
* the logs: JSON lines with documented fields through every path (accept, deliver, retry,
  dead letter, redelivery, refusals, inbox, dry runs, a malformed request, shutdown), and
  not a digit of the personnummer nor a word of the diagnosis the documents carry;
* SIGHUP reloads senders and recipients; a bad file keeps the running configuration;
* ``--workers 2``: a killed worker is restarted; a crash loop gives up, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import trustme
from aiohttp import web
from exchange_support import FK7804_XML, certificate_message, run
from test_exchange_crash import TOKEN, ready, start_gateway, wait_for, write_config

from gateway.exchange.router import delivery_id

#: What the documents below carry and no log line may: Tolvan Tolvansson's personnummer,
#: his name, his diagnosis code and text (fixtures/certificate/fk7804-valid.xml).
SECRETS = ("191212121212", "19121212-1212", "121212-1212", "Tolvan", "M54", "Ryggvärk", "ryggvärk")
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={
            **os.environ,
            "PYTHONWARNINGS": "error::DeprecationWarning:gateway.exchange.server.serve",
        },
    )


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # no false "listening"
    assert "bug" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("gateway: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0].removeprefix("gateway: error: ")


# -- environment faults ------------------------------------------------------------------------


def test_an_unreachable_database_is_one_error_naming_the_setting(tmp_path: Path) -> None:
    url = "postgresql://gw:s3cret@127.0.0.1:1/exchange"
    error = one_error(serve("--database", url, "--port", "0", cwd=tmp_path))
    assert error.startswith("server.database: PostgreSQL postgresql://gw:***@127.0.0.1:1/exchange:")
    assert "Connect call failed" in error or "refused" in error.lower()
    assert "s3cret" not in error


def test_a_port_in_use_is_one_error_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        error = one_error(serve("--port", str(port), cwd=tmp_path))
    assert error == f"server.port: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_a_certificate_and_key_that_do_not_match_are_one_error(tmp_path: Path) -> None:
    ca = trustme.CA()
    one, other = ca.issue_cert("gw.example"), ca.issue_cert("other.example")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    one.cert_chain_pems[0].write_to_path(str(cert))
    other.private_key_pem.write_to_path(str(key))
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f'[server.tls]\ncert = "{cert}"\nkey = "{key}"\n', "utf-8")
    error = one_error(serve("--config", str(cfg), "--port", "0", cwd=tmp_path))
    assert error.startswith(f"server.tls: cannot use certificate {cert} with key {key}:")
    assert "the key does not belong to the certificate" in error
    assert "KEY_VALUES_MISMATCH" in error


def test_an_unwritable_sqlite_path_is_one_error_naming_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    url = f"sqlite:///{blocker}/gateway.db"
    for workers in ("1", "2"):
        error = one_error(serve("--database", url, "--port", "0", "--workers", workers,
                                cwd=tmp_path))  # fmt: skip
        assert error == f"server.database: SQLite {blocker}: exists and is not a directory"


# -- start-up, logs, reload ----------------------------------------------------------------


class Recipient:
    """A push recipient answering by message: ``retry-*`` 503 once, ``dead-*`` 400 with an
    OperationOutcome that quotes the patient (a reason the gateway keeps out of its logs),
    the rest 200."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        key = request.headers["Idempotency-Key"]
        self.seen[key] = self.seen.get(key, 0) + 1
        if key == delivery_id("retry-1", "acme") and self.seen[key] == 1:
            return web.Response(status=503, headers={"Retry-After": "0"})
        if key == delivery_id("dead-1", "acme") and self.seen[key] == 1:
            why = "patient 191212121212 Tolvan: M54"
            issue = {"severity": "error", "code": "invalid", "diagnostics": why}
            outcome = {"resourceType": "OperationOutcome", "issue": [issue]}
            return web.json_response(outcome, status=400)
        return web.json_response({"resourceType": "OperationOutcome", "issue": []})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/fhir", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/fhir"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def config_with_pull(tmp: Path, url: str, *, extra_sender: str = "") -> Path:
    cfg = write_config(tmp, url, lease=10.0)
    text = (
        cfg.read_text("utf-8")
        .replace('recipients = ["acme"]', 'recipients = ["acme", "hr"]')
        .replace('kinds = ["certificate"]', 'kinds = ["certificate", "sip"]')
    )
    text += (
        '\n[[recipients]]\nid = "hr"\nrole = "occupational-health"\norganisation = "5569999999"'
        '\nformat = "fhir-json"\npull = true\ntoken = "hr-token"\n'
    )
    cfg.write_text(text + extra_sender, "utf-8")
    return cfg


async def _nul_header(base: str) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Patient: 19121212\x001212\r\n\r\n")
    await writer.drain()
    answer = await reader.read(200)
    writer.close()
    return answer


def test_logs_through_every_path_hold_ids_and_codes_never_the_patient(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], int]:
        recipient = Recipient()
        cfg = config_with_pull(tmp_path, await recipient.start())
        proc, base = await start_gateway(cfg)
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{base}/ready") as r:  # announced only when able to serve
                    assert r.status == 200

                async def post(
                    mid: str, audiences: tuple[str, ...] = ("employer",), **kw: Any
                ) -> int:
                    body = certificate_message(FK7804_XML, audiences, message_id=mid, **kw)
                    async with s.post(f"{base}/messages", data=body, headers=AUTH) as r:
                        return r.status

                assert await post("ok-1") == 202
                assert await post("retry-1") == 202
                assert await post("dead-1") == 202
                assert await post("ok-1") == 202  # a repeat
                other = certificate_message(FK7804_XML, ("employer",), message_id="ok-1",
                                            consent_id="samtycke-2")  # fmt: skip
                async with s.post(f"{base}/messages", data=other, headers=AUTH) as r:
                    assert r.status == 409
                assert await post("refused-1", consent_id=None) == 422
                assert (
                    await post("pull-1", ("occupational-health",), covers=("occupational-health",))
                    == 202
                )
                bad = FK7804_XML.read_bytes().replace(
                    b"<ns3:code>M54</ns3:code>", b"<ns3:code>M54.X!</ns3:code>"
                )
                xml = {"Authorization": AUTH["Authorization"], "Content-Type": "application/xml",
                       "Gateway-Recipients": "acme", "Gateway-Message-Id": "invalid-1"}  # fmt: skip
                async with s.post(f"{base}/messages", data=bad, headers=xml) as r:
                    assert r.status in (400, 422)
                async with s.post(f"{base}/messages", data=b"{}", headers={}) as r:
                    assert r.status == 401
                for path in ("/validate", "/convert?to=fhir-json", "/redact?for=employer"):
                    async with s.post(
                        f"{base}{path}", data=FK7804_XML.read_bytes(), headers=xml
                    ) as r:
                        assert r.status in (200, 422), path

                async def settled() -> bool:
                    states = []
                    for mid in ("ok-1", "retry-1", "dead-1"):
                        async with s.get(f"{base}/messages/{mid}", headers=AUTH) as r:
                            states.append((await r.json())["recipients"][0]["state"])
                    return states == ["delivered", "delivered", "dead"]

                await wait_for(settled)
                async with s.post(f"{base}/messages/dead-1/redeliver", headers=AUTH) as r:
                    assert (await r.json())["redelivered"] == 1

                async def redelivered() -> bool:
                    async with s.get(f"{base}/messages/dead-1", headers=AUTH) as r:
                        return bool((await r.json())["recipients"][0]["state"] == "delivered")

                await wait_for(redelivered)
                hr = {"Authorization": "Bearer hr-token"}
                async with s.get(f"{base}/inbox", headers=hr) as r:
                    (item,) = (await r.json())["messages"]
                async with s.post(f"{base}{item['ack_url']}", headers=hr) as r:
                    assert r.status == 204
                assert (await _nul_header(base)).split(b" ", 2)[1] == b"400"
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
            await recipient.stop()
        return (tmp_path / "gateway.log").read_text("utf-8").splitlines(), proc.returncode or 0

    lines, code = run(main())
    assert code == 0
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for r in records:
        assert {"ts", "level", "logger", "event", "msg", "worker"} <= set(r), r
    events = {r["event"] for r in records}
    assert events >= {
        "listening", "worker-ready", "access", "delivered", "retry", "dead-letter",
        "redelivered", "malformed-request", "shutdown", "outbox-stopped", "stopped",
    }  # fmt: skip
    ready = next(r for r in records if r["event"] == "worker-ready")
    assert ready["frozen"] > 10_000  # start-up's objects out of the collector's sight
    access = [r for r in records if r["event"] == "access"]
    assert {"method", "route", "path", "status", "ms", "principal"} <= set(access[0])
    assert {r["status"] for r in access} >= {200, 202, 204, 401, 409, 422}
    delivered = next(r for r in records if r["event"] == "delivered")
    assert {"delivery_id", "message_id", "recipient", "kind", "attempt"} <= set(delivered)
    text = "\n".join(lines)
    assert "Traceback" not in text
    for secret in SECRETS:
        assert secret not in text, secret


def test_sighup_reloads_senders_and_refuses_a_bad_file_keeping_the_running_one(
    tmp_path: Path,
) -> None:
    new_sender = (
        '\n[[senders]]\nid = "late"\ntoken = "late-token"\nkinds = ["certificate"]\n'
        'recipients = ["acme"]\n'
    )

    async def main() -> None:
        recipient = Recipient()
        url = await recipient.start()
        cfg = config_with_pull(tmp_path, url)
        proc, base = await start_gateway(cfg)
        late = {**AUTH, "Authorization": "Bearer late-token"}
        body = certificate_message(FK7804_XML, ("employer",), message_id="late-1")
        try:
            async with aiohttp.ClientSession() as s:
                async with s.post(f"{base}/messages", data=body, headers=late) as r:
                    assert r.status == 401
                config_with_pull(tmp_path, url, extra_sender=new_sender)
                proc.send_signal(signal.SIGHUP)

                async def accepted() -> bool:
                    async with s.post(f"{base}/messages", data=body, headers=late) as r:
                        return r.status == 202

                await wait_for(accepted)
                cfg.write_text(cfg.read_text("utf-8") + "\n[[senders]]\nid = 'broken'\n", "utf-8")
                proc.send_signal(signal.SIGHUP)

                async def refused() -> bool:
                    return "reload-refused" in (tmp_path / "gateway.log").read_text("utf-8")

                await wait_for(refused)
                async with s.post(f"{base}/messages", data=body, headers=late) as r:
                    assert r.status == 202  # the running configuration stayed (a repeat)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
            await recipient.stop()
        log = [json.loads(x) for x in (tmp_path / "gateway.log").read_text("utf-8").splitlines()]
        (why,) = [r["msg"] for r in log if r["event"] == "reload-refused"]
        assert "senders[2]: needs a token (development) or an identity (mTLS)" in why
        assert proc.returncode == 0

    run(main())


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(x) for x in path.read_text().split()} if path.exists() else set()


def test_a_killed_worker_is_restarted_and_a_crash_loop_gives_up_saying_so(tmp_path: Path) -> None:
    async def main() -> tuple[int, str]:
        recipient = Recipient()
        cfg = write_config(tmp_path, await recipient.start(), lease=10.0)
        proc, base = await start_gateway(cfg, "--workers", "2")
        try:
            async with aiohttp.ClientSession() as s:
                await wait_for(lambda: ready(s, base))
                first = _children(proc.pid)
                assert len(first) == 2
                victim = min(first)
                os.kill(victim, signal.SIGKILL)

                async def replaced() -> bool:
                    now = _children(proc.pid)
                    return len(now) == 2 and victim not in now

                await wait_for(replaced)
                await wait_for(lambda: ready(s, base))
                body = certificate_message(FK7804_XML, ("employer",), message_id="after-restart")
                for _ in range(4):  # fresh connections reach both workers, the new one too
                    async with (
                        aiohttp.ClientSession() as one,
                        one.post(f"{base}/messages", data=body, headers=AUTH) as r,
                    ):
                        assert r.status == 202
                # now kill every worker as soon as it is up: a crash loop
                killed = {victim}
                while proc.returncode is None:
                    for child in _children(proc.pid) - killed:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child, signal.SIGKILL)
                        killed.add(child)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), 0.05)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
            await recipient.stop()
        assert proc.stderr is None  # (stderr goes to gateway.log)
        return proc.returncode or 0, (tmp_path / "gateway.log").read_text("utf-8")

    code, log = run(main())
    assert code == 1
    assert "gateway: error: workers died 5 times within 60 s" in log
    assert "giving up" in log
    events = [json.loads(x)["event"] for x in log.splitlines() if x.startswith("{")]
    assert events.count("worker-restart") >= 1 and "crash-loop" in events
