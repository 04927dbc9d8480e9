"""Every fixture gives exactly its expected outcome (fixtures/**/<name>.expected.json)."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway import FIXTURES_DIR
from gateway.harness.fixtures import Fixture, discover, run_fixture

FIXTURES = list(discover(FIXTURES_DIR))


def _id(f: Fixture) -> str:
    return f.path.relative_to(FIXTURES_DIR).as_posix()


KINDS = [
    "certificate",
    "sip",
    "return-to-work-plan",
    "section4-notification",
    "section4-acknowledgement",
]


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: _id(f))
def test_fixture_gives_expected_outcome(fixture: Fixture) -> None:
    outcome = run_fixture(fixture)
    assert outcome.mismatches == []


def test_fixture_expectations_are_consistent() -> None:
    """A lint of the expected.json files alone (the outcome itself is checked above): an
    invalid fixture names the rule it breaks among its errors, a valid one has no errors, and
    an invalid XML fixture breaks only its rule."""
    problems = []
    for f in FIXTURES:
        exp = f.expected
        errors = {i["code"] for i in exp["issues"] if i["severity"] == "error"}
        if exp["valid"] and errors:
            problems.append(f"{_id(f)}: valid, yet expects errors {sorted(errors)}")
        if not exp["valid"] and exp.get("rule") not in errors:
            problems.append(f"{_id(f)}: its rule {exp.get('rule')!r} is not among its errors")
        codes = {i["code"] for i in exp["issues"]}
        if exp["format"] == "xml" and not exp["valid"] and codes != {exp["rule"]}:
            problems.append(f"{_id(f)}: an invalid XML fixture expects more than its rule")
    assert problems == []


@pytest.mark.parametrize(
    "fixture", [f for f in FIXTURES if f.path.suffix == ".xml"], ids=lambda f: _id(f)
)
def test_every_issue_of_an_xml_fixture_names_its_line(fixture: Fixture) -> None:
    for i in run_fixture(fixture).result.issues:
        assert i.location.line is not None, i


def test_every_certificate_type_has_a_valid_xml_fixture() -> None:
    subtypes = {
        f.expected["subtype"]
        for f in FIXTURES
        if f.path.parent.name == "certificate"
        and f.expected["format"] == "xml"
        and f.expected["valid"]
    }
    assert subtypes == {"FK7804", "AG7804", "AG1-14"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_three_valid_and_six_invalid_xml_fixtures(kind: str) -> None:
    counts = Counter(
        f.expected["valid"]
        for f in FIXTURES
        if f.path.parent.name == kind and f.expected["format"] == "xml"
    )
    assert counts[True] >= 3
    assert counts[False] >= 6


def test_an_issue_in_the_wrong_place_is_a_mismatch() -> None:
    fixture = next(f for f in FIXTURES if f.name == "fk7804-current-work-missing.xml")
    moved = [{**i, "location": "line 1: /RegisterCertificate"} for i in fixture.expected["issues"]]
    outcome = run_fixture(Fixture(fixture.path, {**fixture.expected, "issues": moved}))
    assert outcome.mismatches == [
        "issues: missing [('CERT-CURRENT-WORK', 'error', 'line 1: /RegisterCertificate')], "
        "unexpected [('CERT-CURRENT-WORK', 'error', 'line 3: /RegisterCertificate/intyg')]"
    ]
