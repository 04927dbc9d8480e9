"""The command-line contract (CLI.md): outputs, exit codes, overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

from gateway.cli.main import main

FULL_FK = SAMPLES / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
BAD_PNR = SAMPLES / "fk7804-lisjp-v1-compact.RegisterCertificate.xml"
OPTOUT = SAMPLES / "ag7804-v1-INVALID-diagnosis-despite-optout.RegisterCertificate.xml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_valid_file_exits_0_with_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "validate", str(FULL_FK), "--format", "json")
    assert rc == 0
    doc = json.loads(out)
    assert doc["summary"] == {"documents": 1, "valid": 1, "invalid": 0}
    (r,) = doc["results"]
    assert (r["kind"], r["subtype"], r["format"], r["valid"]) == (
        "certificate",
        "FK7804",
        "xml",
        True,
    )


def test_wrong_check_digit_is_exactly_one_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "validate", str(BAD_PNR), "--format", "json")
    assert rc == 1
    issues = json.loads(out)["results"][0]["issues"]
    assert [(i["severity"], i["code"]) for i in issues] == [("error", "ID-PERSON-CHECKSUM")]
    assert "patient/person-id" in issues[0]["location"]


def test_warn_downgrades_a_business_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(
        capsys, "validate", str(BAD_PNR), "--warn", "ID-PERSON-CHECKSUM", "--format", "json"
    )
    assert rc == 0
    issues = json.loads(out)["results"][0]["issues"]
    assert [(i["severity"], i["code"]) for i in issues] == [("warning", "ID-PERSON-CHECKSUM")]


def test_ignore_drops_a_business_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(
        capsys, "validate", str(BAD_PNR), "--ignore", "ID-PERSON-CHECKSUM", "--format", "json"
    )
    assert rc == 0
    assert json.loads(out)["results"][0]["issues"] == []


def test_config_file_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[rules]\nwarn = ["ID-PERSON-CHECKSUM"]\n')
    rc, _, _ = run(capsys, "--config", str(cfg), "validate", str(BAD_PNR))
    assert rc == 0


def test_schema_rules_cannot_be_downgraded(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "validate", str(FULL_FK), "--warn", "XSD-INVALID")
    assert rc == 2
    assert "only business rules" in err


def test_unknown_rule_code_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "validate", str(FULL_FK), "--ignore", "NO-SUCH-RULE")
    assert rc == 2
    assert "NO-SUCH-RULE" in err


def test_missing_file_is_one_result_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "validate", "/no/such/file.xml", str(FULL_FK), "--format", "json")
    assert rc == 2
    missing, full = json.loads(out)["results"]
    assert [i["code"] for i in missing["issues"]] == ["INPUT-UNREADABLE"]
    assert "No such file" in missing["issues"][0]["message"]
    assert (full["source"], full["valid"]) == (str(FULL_FK), True)


def test_optout_sample_reports_the_100_1_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(
        capsys, "validate", str(OPTOUT), "--warn", "ID-PERSON-CHECKSUM", "--format", "json"
    )
    assert rc == 1
    codes = [i["code"] for i in json.loads(out)["results"][0]["issues"] if i["severity"] == "error"]
    assert codes == ["CERT-AG7804-DIAGNOSIS-OPTOUT"]


def test_all_samples_valid_with_checksum_downgraded(capsys: pytest.CaptureFixture[str]) -> None:
    samples = sorted(
        p for p in SAMPLES.glob("*.RegisterCertificate.xml") if "INVALID" not in p.name
    )
    rc, out, _ = run(
        capsys, "validate", *map(str, samples), "--warn", "ID-PERSON-CHECKSUM", "--format", "json"
    )
    assert rc == 0
    assert json.loads(out)["summary"] == {"documents": 6, "valid": 6, "invalid": 0}


def test_junit_report(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "validate", str(FULL_FK), str(BAD_PNR), "--format", "junit")
    assert rc == 1
    assert 'tests="2" failures="1"' in out
    assert 'failure message="ID-PERSON-CHECKSUM"' in out


def test_stdin_and_text_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not a document")))
    rc, out, _ = run(capsys, "validate", "-")
    assert rc == 1
    assert "-: error INPUT-UNKNOWN-FORMAT" in out


def test_hostile_xml_is_refused_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )
    rc, out, err = run(capsys, "validate", str(bomb), "--format", "json")
    assert rc == 1
    issues = json.loads(out)["results"][0]["issues"]
    assert [i["code"] for i in issues] == ["XML-FORBIDDEN"]
    assert "Traceback" not in err


def test_explain_prints_a_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "explain", "ID-PERSON-CHECKSUM")
    assert rc == 0
    assert out.startswith("ID-PERSON-CHECKSUM: Personnummer check digit wrong")


def test_convert_invalid_input_prints_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "convert", str(BAD_PNR), "--to", "xml")
    assert (rc, out) == (1, "")
    assert "ID-PERSON-CHECKSUM" in err


def test_process_start_is_fast() -> None:
    """Integrators run `gateway validate` per file: one file, process start included, < 1 s
    (measured generously here; bench/ has the figure)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "validate", str(FULL_FK)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr


def test_operation_outcome_report(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "validate", str(BAD_PNR), "--format", "outcome")
    assert rc == 1
    oo = json.loads(out)
    assert oo["resourceType"] == "OperationOutcome"
    assert oo["meta"] == {"source": str(BAD_PNR)}
    (issue,) = oo["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "business-rule")
    assert issue["details"]["coding"][0]["code"] == "ID-PERSON-CHECKSUM"


def test_operation_outcomes_of_several_inputs_form_a_bundle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out, _ = run(capsys, "validate", str(FULL_FK), str(BAD_PNR), "--format", "outcome")
    assert rc == 1
    bundle = json.loads(out)
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    sources = [e["resource"]["meta"]["source"] for e in bundle["entry"]]
    assert sources == [str(FULL_FK), str(BAD_PNR)]


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", str(SAMPLES), "--to", "fhir-json"],
        ["redact", str(SAMPLES), "--for", "employer"],
        ["redact", str(FULL_FK), "--for", "employer", "--consent", str(SAMPLES)],
        ["convert", str(FULL_FK), "--to", "fhir-json", "--output", "/nonexistent/out.json"],
        ["redact", str(FULL_FK), "--for", "forsakringskassan", "--report", "/nonexistent/r.json"],
        ["validate", str(FULL_FK), "--output", "/nonexistent/report.txt"],
    ],
)
def test_a_directory_or_unwritable_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    rc, out, err = run(capsys, *argv)
    assert (rc, out) == (2, "")
    assert "internal error" not in err and "gateway: error: " in err


def test_harness_takes_rule_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cert.xml").write_bytes(BAD_PNR.read_bytes())
    where = "line 19: /RegisterCertificate/intyg/patient/person-id/extension"
    issue = {"severity": "warning", "code": "ID-PERSON-CHECKSUM", "location": where}
    expected = {"valid": True, "issues": [issue]}
    (tmp_path / "cert.expected.json").write_text(json.dumps(expected))
    assert run(capsys, "harness", "--fixtures", str(tmp_path))[0] == 1
    argv = ["harness", "--fixtures", str(tmp_path), "--warn", "ID-PERSON-CHECKSUM"]
    assert run(capsys, *argv)[0] == 0
    (tmp_path / "cert.expected.json").write_text("{not json")
    rc, _, err = run(capsys, *argv)
    assert rc == 2 and "cert.expected.json" in err and "internal error" not in err
