"""Every employer-bound fixture (and every §4 notification, bound for Försäkringskassan) has
its expected redaction report beside it: ``<name>.redaction.<recipient>.json``.

Consent is checked as ``gateway redact`` checks it: against the record the document carries;
a certificate carries none, so its report says consent was not checked. Regenerate a missing
report with ``python tests/test_policy_fixtures.py`` and review it before committing.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import cast

import orjson
import pytest

from gateway import FIXTURES_DIR
from gateway.harness.fixtures import expected_path
from gateway.policy import apply_policy
from gateway.policy.diagnosis import catalogue, iter_codes
from gateway.transfer import transfer
from gateway.validation.service import Validation, validate_bytes

AT = "2026-01-01T00:00:00+00:00"
#: Which recipient a valid fixture of each kind is redacted for.
BOUND_FOR = {
    "certificate": "employer",
    "sip": "employer",
    "return-to-work-plan": "employer",
    "section4-notification": "forsakringskassan",
}


def _documents() -> list[Path]:
    return sorted(
        p
        for p in FIXTURES_DIR.rglob("*")
        if p.is_file()
        and p.name.endswith((".xml", ".json"))
        and not p.name.endswith(".expected.json")
        and ".redaction." not in p.name
    )


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".fhir.json", ".fhir.xml", ".xml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _valid(path: Path) -> Validation | None:
    v = validate_bytes(path.read_bytes(), source=str(path))
    return v if v.valid and v.document is not None else None


def report_for(path: Path, recipient: str, at: str = AT) -> dict[str, object]:
    """The report ``gateway redact`` gives: the one transfer service decides (consent is
    checked where the document has a place for it)."""
    _, outcome = transfer(path.read_bytes(), recipient, at=datetime.fromisoformat(at))
    assert outcome is not None, path
    result = outcome.policy
    return {
        "recipient": recipient,
        "at": at,
        "refused": result.refused,
        "report": [
            {"action": str(e.action), "path": e.path, "code": e.code} for e in result.report
        ],
    }


CASES = [  # by the fixtures' expected outcomes: nothing is validated while tests are collected
    (p, BOUND_FOR[e["kind"]])
    for p in _documents()
    if (e := orjson.loads(expected_path(p).read_bytes()))["valid"]
]


def _expected_path(path: Path, recipient: str) -> Path:
    return path.with_name(f"{_stem(path)}.redaction.{recipient}.json")


@pytest.mark.parametrize(
    ("path", "recipient"), CASES, ids=[p.relative_to(FIXTURES_DIR).as_posix() for p, _ in CASES]
)
def test_fixture_redaction_report(path: Path, recipient: str) -> None:
    expected_path = _expected_path(path, recipient)
    assert expected_path.exists(), f"missing {expected_path.name}"
    expected = orjson.loads(expected_path.read_bytes())
    actual = report_for(path, recipient, expected["at"])
    key = lambda e: (e["action"], e["path"], e["code"])  # noqa: E731
    assert actual["refused"] == expected["refused"]
    assert sorted(cast("list[dict[str, str]]", actual["report"]), key=key) == sorted(
        expected["report"], key=key
    )


@pytest.mark.parametrize(
    ("path", "recipient"),
    [c for c in CASES if c[1] == "employer"],
    ids=[p.relative_to(FIXTURES_DIR).as_posix() for p, r in CASES if r == "employer"],
)
def test_employer_copy_of_fixture_reparses_without_diagnosis_codes(
    path: Path, recipient: str
) -> None:
    from gateway.formats.registry import codec_for

    v = _valid(path)
    assert v is not None and v.document is not None and v.format is not None
    result = apply_policy(v.document, recipient, at=datetime.fromisoformat(AT), check_consent=False)
    if result.refused:
        return  # its report (checked above) says why nothing is sent
    assert result.document is not None
    codec = codec_for(v.document.kind, v.format)
    again = codec.parse(codec.render(result.document)).document  # type: ignore[union-attr]
    assert again is not None
    assert [c for c in iter_codes(again) if catalogue().is_diagnostic(c)] == []


def test_no_orphan_redaction_reports() -> None:
    wanted = {_expected_path(p, r) for p, r in CASES}
    found = set(FIXTURES_DIR.rglob("*.redaction.*.json"))
    assert found - wanted == set()


if __name__ == "__main__":
    for p, r in CASES:
        target = _expected_path(p, r)
        if target.exists() and "--force" not in sys.argv:
            continue
        data = orjson.dumps(report_for(p, r), option=orjson.OPT_INDENT_2)
        target.write_bytes(data + b"\n")
        print("wrote", target.relative_to(FIXTURES_DIR))
