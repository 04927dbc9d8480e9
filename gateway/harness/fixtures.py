"""Fixture suites as data: every document in ``fixtures/`` has ``<name>.expected.json`` beside
it, and the harness checks that the gateway gives exactly that outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.documents.issues import SeverityOverrides
from gateway.harness import is_document_file
from gateway.validation.service import Validation, validate_bytes


@dataclass(frozen=True)
class Fixture:
    path: Path
    expected: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name


def expected_path(doc: Path) -> Path:
    for suffix in (".fhir.json", ".fhir.xml", ".xml", ".json"):
        if doc.name.endswith(suffix):
            return doc.with_name(doc.name[: -len(suffix)] + ".expected.json")
    return doc.with_name(doc.name + ".expected.json")


class FixtureError(Exception):
    """A fixture's expected outcome cannot be read."""


def discover(root: Path) -> Iterator[Fixture]:
    for doc in sorted(p for p in root.rglob("*") if p.is_file() and is_document_file(p)):
        exp = expected_path(doc)
        if exp.exists():
            try:
                expected = orjson.loads(exp.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise FixtureError(f"{exp}: not a readable JSON object: {exc}") from None
            if not isinstance(expected, dict):
                raise FixtureError(f"{exp}: not a JSON object")
            yield Fixture(doc, expected)


@dataclass
class Outcome:
    fixture: Fixture
    result: Validation
    mismatches: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def summary(self) -> str:
        verdict = "valid" if self.result.valid else "invalid"
        codes = ",".join(sorted({i.code for i in self.result.issues})) or "-"
        return f"{verdict}  {codes}"


def _issue_counter(items: list[dict[str, Any]]) -> Counter[tuple[str, str, str | None]]:
    """Each issue by code, severity and location (a rule that fires in the wrong place is as
    wrong as one that does not fire)."""
    return Counter((i["code"], i["severity"], i.get("location")) for i in items)


def compare(fixture: Fixture, result: Validation) -> list[str]:
    return compare_result(fixture.expected, result.to_dict())


def compare_result(exp: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Each way ``got`` (a ``gateway validate --format json`` result, from this process or
    from a target's ``POST /validate``) differs from the expected outcome, as
    ``expected …, got …`` lines."""
    out = [
        f"{key}: expected {exp[key]!r}, got {got.get(key)!r}"
        for key in ("kind", "subtype", "format", "valid")
        if key in exp and exp[key] != got.get(key)
    ]
    issues = got.get("issues")
    if not isinstance(issues, list) or not all(
        isinstance(i, dict) and "code" in i and "severity" in i for i in issues
    ):
        return [*out, f"issues: expected a list of issues, got {issues!r}"]
    want = _issue_counter(exp.get("issues", []))
    have = _issue_counter(issues)
    if want != have:
        missing = sorted((want - have).elements(), key=repr)
        extra = sorted((have - want).elements(), key=repr)
        out.append(f"issues: missing {missing}, unexpected {extra}")
    return out


def redactions(doc: Path) -> dict[str, dict[str, Any]]:
    """The expected redaction reports beside ``doc``, by recipient."""
    stem = expected_path(doc).name[: -len(".expected.json")]
    out: dict[str, dict[str, Any]] = {}
    for p in sorted(doc.parent.glob(f"{stem}.redaction.*.json")):
        recipient = p.name[len(stem) + len(".redaction.") : -len(".json")]
        try:
            data = orjson.loads(p.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise FixtureError(f"{p}: not a readable JSON object: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("report"), list):
            raise FixtureError(f"{p}: not a redaction report (an object with a 'report' list)")
        out[recipient] = data
    return out


def send_expectation(doc: Path) -> dict[str, Any] | None:
    """``<name>.send.json`` beside ``doc``: what a send through a configured gateway must give
    (``harness --target``; docs/fixtures.md), or ``None``."""
    stem = expected_path(doc).name[: -len(".expected.json")]
    p = doc.with_name(f"{stem}.send.json")
    if not p.exists():
        return None
    try:
        data = orjson.loads(p.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise FixtureError(f"{p}: not a readable JSON object: {exc}") from None
    recipients = data.get("recipients") if isinstance(data, dict) else None
    if not isinstance(recipients, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("state"), str) for v in recipients.values()
    ):
        raise FixtureError(
            f"{p}: not a send expectation (an object with 'recipients': {{id: {{'state': …}}}})"
        )
    return dict(data)


def compare_redaction(exp: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """How a redaction answer differs from the expected report: whether it is refused, and
    the multiset of (action, path, code) entries."""
    out = []
    if "refused" in exp and exp["refused"] != got.get("refused"):
        out.append(f"refused: expected {exp['refused']!r}, got {got.get('refused')!r}")
    report = got.get("report")
    if not isinstance(report, list) or not all(isinstance(e, dict) for e in report):
        return [*out, f"report: expected a list of entries, got {report!r}"]

    def entries(items: list[dict[str, Any]]) -> Counter[tuple[Any, Any, Any]]:
        return Counter((e.get("action"), e.get("path"), e.get("code")) for e in items)

    want, have = entries(exp["report"]), entries(report)
    if want != have:
        missing = sorted((want - have).elements(), key=repr)
        extra = sorted((have - want).elements(), key=repr)
        out.append(f"report: missing {missing}, unexpected {extra}")
    return out


def run_fixture(fixture: Fixture, overrides: SeverityOverrides | None = None) -> Outcome:
    result = validate_bytes(
        fixture.path.read_bytes(), source=str(fixture.path), overrides=overrides
    )
    return Outcome(fixture, result, compare(fixture, result))
