"""`gateway demo`, the README's first command: the main job end to end, every answer the
expected one, and the summary shows the employer's copy beside Försäkringskassan's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.cli.main import main


def test_the_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "demo: every answer as expected" in lines
    assert "audit trail intact: " in out
    (diagnosis,) = (line for line in lines if line.strip().startswith("6 Typ av diagnos"))
    assert diagnosis.split()[-2:] == ["yes", "withheld"]
    assert any("409" in line and "other content under its id" in line for line in lines)
    assert any("EXCHANGE-CONSENT-USED" in line for line in lines)
    assert any("POLICY-CONSENT-MISSING" in line for line in lines)
    assert "191212121212" not in out  # the fixtures' patient
    assert "pull recipients: acme (GET /inbox), fk-plans (GET /inbox)" in lines
    # the employer's plan goes to Försäkringskassan's inbox (its RIVTA endpoint has no
    # contract for it), and its case system fetches and acknowledges it
    assert any(line.split()[:3] == ["demo-plan-1", "fk-plans", "delivered"] for line in lines)
    start = lines.index("Försäkringskassan's case system pulls (mutual TLS as fk-plans-inbox)")
    assert [line.split()[:3] for line in lines[start + 1 : start + 3]] == [
        ["GET", "/inbox", "200"],
        ["POST", lines[start + 2].split()[1], "204"],
    ]
    assert lines[start + 1].split()[3] == "demo-plan-1"
    # nothing is left dead-lettered (the municipality's letter went again once it was fixed)
    assert any("overview: in the outbox 0, dead letters 0," in line for line in lines)


def test_the_demo_employer_pulls_acknowledges_and_is_offered_again_what_it_did_not_ack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index(
        "the employer's HR system pulls (mutual TLS as acme-inbox; GET /inbox, acknowledge)"
    )
    pulls = [line.split() for line in lines[start + 1 : start + 6]]
    sip = pulls[2][3]  # the SIP's message id, derived from its content
    assert [p[0] for p in pulls] == ["GET", "POST", "GET", "POST", "GET"]
    assert {p[1] for p in pulls[::2]} == {"/inbox"}
    assert all(re.fullmatch(r"/inbox/[0-9a-f-]{36}/ack", p[1]) for p in pulls[1::2])
    assert pulls[0][2:] == ["200", "demo-cert-1", "(offer", "1),", sip, "(offer", "1)"]
    assert pulls[1][2:] == ["204", "demo-cert-1"]
    assert pulls[2][2:] == ["200", sip, "(offer", "2)"]  # not acknowledged: offered again
    assert pulls[3][2:] == ["204", sip]
    assert pulls[4][2:] == ["200", "(empty)"]
    assert lines[start + 6] == ""
    assert [line.split()[:3] for line in lines if line.startswith("  demo-cert-1 ")] == [
        ["demo-cert-1", "acme", "delivered"],
        ["demo-cert-1", "fk", "delivered"],
    ]
    assert not any(line.startswith("  acme (employer)") for line in lines)  # no push mock


def test_without_fixtures_the_demo_says_what_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--fixtures", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the demo sends fixture messages it cannot find" in err
    assert "--fixtures DIR" in err
