"""`gateway demo`, the README's first command: the main job end to end, every answer the
expected one, and the summary shows the employer's copy beside Försäkringskassan's."""

from __future__ import annotations

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


def test_without_fixtures_the_demo_says_what_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--fixtures", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the demo sends fixture messages it cannot find" in err
    assert "--fixtures DIR" in err
