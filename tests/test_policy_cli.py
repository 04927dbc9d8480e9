"""``gateway redact``: stdout is exactly what the recipient gets, or nothing when refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from strategies_policy import section4

from gateway.cli.main import main
from gateway.formats.ownxml.section4 import Section4XmlCodec

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "interop" / "sklintyg"
AG7804_SHARED = str(SAMPLES / "ag7804-v1-full-diagnosis-shared.RegisterCertificate.xml")


def test_redact_certificate_for_employer(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    report = tmp_path / "report.json"
    code = main(["redact", AG7804_SHARED, "--for", "employer", "--report", str(report)])
    out, err = capsysbinary.readouterr()
    assert code == 0
    assert out.startswith(b"<?xml") and b'id="6"' not in out and b"D50" not in out
    assert b"consent not checked" in err
    assert [(e["action"], e["path"], e["code"]) for e in json.loads(report.read_bytes())] == [
        ("note", "consent", "POLICY-CONSENT-NOT-CHECKED"),
        ("recorded", "answers[id=100].parts[id=100.1]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=6]", "POLICY-DIAGNOSIS-WITHHELD"),
        ("removed", "answers[id=19].parts[id=19.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=20].parts[id=20.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=37].parts[id=37.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "answers[id=25].parts[id=25.1]", "POLICY-TEXT-NOT-FOR-RECIPIENT"),
        ("removed", "patient.address", "POLICY-NOT-ALLOWED"),
    ]


def test_redact_refuses_with_reasons_and_empty_stdout(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    record = tmp_path / "consent.json"
    record.write_text(
        json.dumps(
            {
                "id": "samtycke-7",
                "status": "active",
                "scope": {"kind": "certificate"},
                "given_by": {"system": "1.2.752.129.2.1.3.1", "value": "191212121212"},
                "given_at": "2026-01-05T10:00:00+01:00",
                "method": "oral",
                "recipients": ["occupational-health"],
                "purposes": [{"code": "sick-pay", "system": "consent-purpose"}],
            }
        )
    )
    argv = ["redact", AG7804_SHARED, "--for", "employer", "--consent", str(record)]
    assert main(argv) == 1
    out, err = capsysbinary.readouterr()
    assert out == b""
    assert b"refused POLICY-CONSENT-NOT-COVERING" in err


def test_redact_bad_consent_file_is_a_usage_error(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    record = tmp_path / "consent.json"
    record.write_text('{"id": "x"}')
    argv = ["redact", AG7804_SHARED, "--for", "employer", "--consent", str(record)]
    assert main(argv) == 2
    assert b"not a consent record" in capsysbinary.readouterr().err


def test_redact_section4_strict(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = tmp_path / "s4.xml"
    path.write_bytes(Section4XmlCodec().render(section4(note="Patienten har F32.1")))
    at = ["--at", "2026-03-01T12:00:00+00:00"]
    assert main(["redact", str(path), "--for", "forsakringskassan", *at]) == 0
    out, err = capsysbinary.readouterr()
    assert b"F32" not in out and b"removed POLICY-SECTION4-MINIMISED [note]" in err
    assert main(["redact", str(path), "--for", "forsakringskassan", "--strict", *at]) == 1
    out, err = capsysbinary.readouterr()
    assert out == b"" and b"refused POLICY-SECTION4-STRICT [note]" in err
    assert main(["redact", str(path), "--for", "employer", *at]) == 1
    assert b"POLICY-RECIPIENT-NOT-PERMITTED" in capsysbinary.readouterr().err
