"""The mock recipient as integrators run it: ``gateway mock-recipient`` in its own process,
shown what it received over HTTP, with a log line per receipt and no patient data in it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from pki import make_pki

from gateway import FIXTURES_DIR
from gateway.cli.main import main
from gateway.exchange.transports.soap import envelope
from gateway.testkit.mock_recipient import check_answer

CERTIFICATE = (FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes()


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "mock-recipient", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    assert " listening on " in banner, banner + (proc.stderr.read() if proc.stderr else "")
    return proc, banner.split(" listening on ", 1)[1].split()[0]


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_command_records_shows_and_logs_what_it_received() -> None:
    proc, base = _start("--role", "forsakringskassan", "--fail-first", "1")
    try:
        soap = envelope(CERTIFICATE, "2021005521")
        headers = {"Content-Type": "text/xml; charset=utf-8", "Idempotency-Key": "d-1"}
        assert _post(f"{base}/rivta", soap, headers) == 200  # TECHNICAL_ERROR, in a result
        assert _post(f"{base}/rivta", soap, headers) == 200  # OK
        assert _post(f"{base}/rivta", soap, headers) == 200  # INFO: it has the certificate
        with urllib.request.urlopen(f"{base}/received", timeout=10) as resp:
            listing = json.load(resp)
        (receipt,) = listing["received"]
        assert listing["role"] == "forsakringskassan"
        assert receipt["interaction"] == "RegisterCertificate"
        assert receipt["answer"] == "OK"
        assert receipt["size"] == len(soap)
        with urllib.request.urlopen(f"{base}/received/1", timeout=10) as resp:
            assert resp.read() == soap
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    (line,) = out.splitlines()
    assert line.startswith("mock forsakringskassan: received #1 rivta RegisterCertificate key=")
    assert "191212121212" not in out + err  # the patient's personnummer
    assert "stopped after 1 receipts" in err


def test_quiet_prints_no_line_per_receipt_and_still_lists_them() -> None:
    proc, base = _start("--role", "forsakringskassan", "--quiet")
    try:
        soap = envelope(CERTIFICATE, "2021005521")
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        assert _post(f"{base}/rivta", soap, headers) == 200
        with urllib.request.urlopen(f"{base}/received", timeout=10) as resp:
            assert [r["answer"] for r in json.load(resp)["received"]] == ["OK"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out == ""  # the banner was read by _start; no receipt line followed
    assert "stopped after 1 receipts" in err


def test_the_command_serves_https_requiring_client_certificates(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca_pem)
    proc, base = _start(
        "--role", "employer", "--tls", str(pki.server.cert), str(pki.server.key),
        "--client-ca", str(ca),
    )  # fmt: skip
    try:
        assert base.startswith("https://127.0.0.1:")
        context = pki.client_context()
        req = urllib.request.Request(
            f"{base}/fhir", data=b"{}", headers={"Idempotency-Key": "d-1"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            assert resp.status == 201
        from gateway.exchange.tls import client_context

        with pytest.raises(
            (urllib.error.URLError, ConnectionError)
        ):  # TLS 1.3: after the handshake
            urllib.request.urlopen(
                f"{base}/received", timeout=10, context=client_context([pki.ca_pem])
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--answer", "MAYBE"], "answer 'MAYBE': use one of OK, INFO, VALIDATION_ERROR"),
        (["--fail-first", "-1"], "--fail-first must be 0 or more"),
        (["--client-ca", "ca.pem"], "--client-ca needs --tls"),
        (["--tls", "no.crt", "no.key"], "--tls: cannot load the certificate or key"),
    ],
)
def test_bad_arguments_get_a_clear_answer(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mock-recipient", "--role", "employer", *args]) == 2
    assert message in capsys.readouterr().err


def test_answers_are_results_faults_or_statuses() -> None:
    assert check_answer("revoked") == "REVOKED"
    assert check_answer("422") == "422"
    with pytest.raises(ValueError, match="use one of"):
        check_answer("700")
