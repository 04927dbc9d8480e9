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


def _issue_counter(items: list[dict[str, Any]]) -> Counter[tuple[str, str, str | None]]:
    """Each issue by code, severity and location (a rule that fires in the wrong place is as
    wrong as one that does not fire)."""
    return Counter((i["code"], i["severity"], i.get("location")) for i in items)


def compare(fixture: Fixture, result: Validation) -> list[str]:
    exp = fixture.expected
    got = result.to_dict()
    out = [
        f"{key}: expected {exp[key]!r}, got {got[key]!r}"
        for key in ("kind", "subtype", "format", "valid")
        if key in exp and exp[key] != got[key]
    ]
    want = _issue_counter(exp.get("issues", []))
    have = _issue_counter(got["issues"])  # type: ignore[arg-type]
    if want != have:
        missing = sorted((want - have).elements())
        extra = sorted((have - want).elements())
        out.append(f"issues: missing {missing}, unexpected {extra}")
    return out


def run_fixture(fixture: Fixture, overrides: SeverityOverrides | None = None) -> Outcome:
    result = validate_bytes(
        fixture.path.read_bytes(), source=str(fixture.path), overrides=overrides
    )
    return Outcome(fixture, result, compare(fixture, result))
