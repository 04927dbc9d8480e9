"""``gateway harness --target``: the fixtures played against a real ``gateway serve`` process
and against ``gateway mock-recipient`` endpoints, all on loopback port 0. A target that
answers as expected passes, one that rejects fails with the difference shown, and a target
that cannot be reached or authenticated is one clear error line (exit 2)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import orjson
import pytest
from pki import make_pki

from gateway import FIXTURES_DIR
from gateway.cli.main import main

TOKEN = "harness-token"
FIXTURE_COUNT = sum(1 for _ in FIXTURES_DIR.rglob("*.expected.json"))


def _start(args: list[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    """A gateway process, once it printed ``marker``. Its output is drained from then on: a
    server whose log pipe fills blocks on its next log line (stderr goes to a file)."""
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (lives as long as the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", *args],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if marker not in line:
        err.seek(0)
        raise AssertionError(line + err.read())
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, line


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``gateway serve`` whose one recipient, an employer, is a mock-recipient."""
    employer, employer_url = _mock("--role", "employer")
    tmp = tmp_path_factory.mktemp("gateway")
    cfg = tmp / "gateway.toml"
    cfg.write_text(
        f"""
[server]
database = "sqlite:///{tmp}/gateway.db"

[[senders]]
id = "region"
token = "{TOKEN}"
kinds = ["certificate", "sip"]
recipients = ["acme"]

[[recipients]]
id = "acme"
role = "employer"
organisation = "5561234567"
format = "fhir-json"
push = {{ kind = "fhir", url = "{employer_url}/fhir", timeout = 20 }}
""",
        encoding="utf-8",
    )
    try:
        proc, line = _start(["serve", "--config", str(cfg), "--port", "0"], "listening on http://")
        try:
            yield line.split("listening on ", 1)[1].split(" ", 1)[0]
        finally:
            _stop(proc)
    finally:
        _stop(employer)


def _mock(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc, line = _start(["mock-recipient", *args], " listening on ")
    return proc, line.split(" listening on ", 1)[1].split()[0]


def test_a_real_gateway_passes_every_fixture_with_locations_and_redactions(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "h.xml"
    rc = main(["harness", "--target", gateway_url, "--token", TOKEN, "--junit", str(junit)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.endswith(f"{FIXTURE_COUNT} passed, 0 failed\n")
    assert f'tests="{FIXTURE_COUNT}" failures="0"' in junit.read_text(encoding="utf-8")


def test_a_wrong_location_or_redaction_fails_and_shows_expected_and_got(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    src = FIXTURES_DIR / "certificate"
    for name in ("fk7804-current-work-missing", "ag114-valid"):
        for f in src.glob(f"{name}.*"):
            shutil.copy(f, suite / f.name)
    exp_path = suite / "fk7804-current-work-missing.expected.json"
    expected = orjson.loads(exp_path.read_bytes())
    (issue,) = expected["issues"]
    real_location = issue["location"]
    issue["location"] = "line 1: /RegisterCertificate"
    exp_path.write_bytes(orjson.dumps(expected))
    red_path = suite / "ag114-valid.redaction.employer.json"
    report = orjson.loads(red_path.read_bytes())
    report["report"] = [e for e in report["report"] if e["action"] != "note"]
    red_path.write_bytes(orjson.dumps(report))
    junit = tmp_path / "h.xml"
    args = ["harness", "--target", gateway_url, "--token", TOKEN, "--fixtures", str(suite)]
    rc = main([*args, "--junit", str(junit)])
    out = capsys.readouterr().out
    assert rc == 1
    code = issue["code"]
    diff = (
        f"issues: missing [('{code}', 'error', 'line 1: /RegisterCertificate')], "
        f"unexpected [('{code}', 'error', '{real_location}')]"
    )
    assert diff in out
    # without the consent note the preview no longer says a server refuses it
    assert "redaction for employer: refused: expected False, got True" in out
    assert out.endswith("0 passed, 2 failed\n")
    assert 'failures="2"' in junit.read_text(encoding="utf-8")
    assert escape(diff) in junit.read_text(encoding="utf-8")  # as the JUnit writer escapes


def test_sends_reach_the_expected_recipients_with_their_reports(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    sip = "fhir-message-valid-four-principals"
    for f in (FIXTURES_DIR / "sip").glob(f"{sip}.*"):
        shutil.copy(f, suite / f.name)
    for f in (FIXTURES_DIR / "certificate").glob("fk7804-valid.*"):
        shutil.copy(f, suite / f.name)
    report = orjson.loads((suite / f"{sip}.redaction.employer.json").read_bytes())["report"]
    delivered = {"state": "delivered", "role": "employer", "format": "fhir-json"}
    (suite / f"{sip}.send.json").write_bytes(
        orjson.dumps({"to": "acme", "recipients": {"acme": {**delivered, "report": report}}})
    )
    refused = {"state": "refused", "rules": ["POLICY-CONSENT-MISSING"]}
    send = {"to": "acme", "status": 422, "recipients": {"acme": refused}}
    (suite / "fk7804-valid.send.json").write_bytes(orjson.dumps(send))
    args = ["harness", "--target", gateway_url, "--token", TOKEN, "--fixtures", str(suite)]
    rc = main(args)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.endswith("2 passed, 0 failed\n")

    # expectations the gateway does not meet: each difference is named
    (suite / f"{sip}.send.json").write_bytes(
        orjson.dumps({"to": "acme", "recipients": {"acme": {**delivered, "state": "dead",
                                                              "report": []}}})
    )  # fmt: skip
    send["recipients"] = {"acme": {**refused, "rules": ["POLICY-NOT-ALLOWED"]}}
    (suite / "fk7804-valid.send.json").write_bytes(orjson.dumps(send))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "send: acme: expected dead, got delivered" in out
    assert "send: acme: report: missing [], unexpected [" in out
    assert "send: rules: expected ['POLICY-NOT-ALLOWED'], got ['POLICY-CONSENT-MISSING']" in out
    assert out.endswith("0 passed, 2 failed\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the target refused the credentials (HTTP 401"),
        (["--token", "wrong"], "the target refused the credentials (HTTP 401"),
        (["--warn", "CERT-PERIOD-OVERLAP"], "--warn/--ignore apply in-process only"),
    ],
)
def test_a_gateway_without_credentials_is_one_clear_error(
    gateway_url: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["harness", "--target", gateway_url, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unreachable_and_wrong_targets_are_one_clear_error(
    gateway_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once it is closed
    https = gateway_url.replace("http://", "https://")
    cases = [
        ([f"http://127.0.0.1:{closed}"], "connection refused"),
        ([https], "TLS failed"),
        (["ftp://127.0.0.1/"], "not an http:// or https:// URL"),
        ([gateway_url, "--cert", "me.pem"], "--cert and --ca need an https:// target"),
        ([https, "--ca", str(tmp_path / "none.pem")], "--cert/--key/--ca: cannot load"),
        ([f"{gateway_url}/nothing-here", "--token", TOKEN], "no fixture passed"),
    ]
    for args, message in cases:
        rc = main(["harness", "--target", *args, "-q"])
        captured = capsys.readouterr()
        if message == "no fixture passed":  # an answer that is not JSON: every fixture fails
            assert rc == 1
            assert "expected HTTP 200 with a validation result, got HTTP 404" in captured.out
            continue
        assert rc == 2, args
        assert message in captured.err and "Traceback" not in captured.err


def test_a_recipient_endpoint_that_accepts_passes_one_that_rejects_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    accepting, a_url = _mock("--role", "employer")
    rejecting, r_url = _mock("--role", "forsakringskassan", "--answer", "VALIDATION_ERROR")
    try:
        rc = main(["harness", "--target", f"{a_url}/fhir", "--target-kind", "fhir-push",
                   "--recipient", "employer"])  # fmt: skip
        out = capsys.readouterr().out
        assert rc == 0, out
        assert "accepted  fhir-json copy for employer" in out
        assert out.endswith(" failed\n") and ", 0 failed" in out
        rc = main(["harness", "--target", f"{r_url}/rivta", "--target-kind", "rivta-soap", "-q"])
        out = capsys.readouterr().out
        assert rc == 1
        assert "xml copy for forsakringskassan: expected accepted, got permanent:" in out
        assert "VALIDATION_ERROR" in out
        assert out.splitlines()[-1].startswith("0 passed, ")
    finally:
        _stop(accepting)
        _stop(rejecting)


def test_mutual_tls_to_a_recipient_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = make_pki(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca_pem)
    proc, base = _mock(
        "--role", "employer", "--tls", str(pki.server.cert), str(pki.server.key),
        "--client-ca", str(ca),
    )  # fmt: skip
    target = ["harness", "--target", f"{base}/fhir", "--target-kind", "fhir-push",
              "--recipient", "employer", "-q", "--ca", str(ca)]  # fmt: skip
    try:
        assert main([*target, "--cert", str(pki.gateway.cert), "--key", str(pki.gateway.key)]) == 0
        assert capsys.readouterr().out.endswith(", 0 failed\n")
        assert main(target[:-2]) == 2  # the mock's certificate is not trusted
        err = capsys.readouterr().err
        assert "TLS failed" in err and "Traceback" not in err
    finally:
        _stop(proc)
