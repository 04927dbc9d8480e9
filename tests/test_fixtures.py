"""Every fixture gives exactly its expected outcome (fixtures/**/<name>.expected.json)."""

from __future__ import annotations

from collections import Counter

import pytest

from gateway import FIXTURES_DIR
from gateway.harness.fixtures import Fixture, discover, run_fixture

FIXTURES = list(discover(FIXTURES_DIR))


def _id(f: Fixture) -> str:
    return f.path.relative_to(FIXTURES_DIR).as_posix()


KINDS = ["certificate", "sip", "return-to-work-plan", "section4-notification"]


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: _id(f))
def test_fixture_gives_expected_outcome(fixture: Fixture) -> None:
    outcome = run_fixture(fixture)
    assert outcome.mismatches == []


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: _id(f))
def test_invalid_fixture_names_the_rule_it_breaks(fixture: Fixture) -> None:
    exp = fixture.expected
    codes = {i["code"] for i in exp["issues"] if i["severity"] == "error"}
    if exp["valid"]:
        assert codes == set()
    else:
        assert exp["rule"] in codes


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_three_valid_and_six_invalid_xml_fixtures(kind: str) -> None:
    counts = Counter(
        f.expected["valid"]
        for f in FIXTURES
        if f.path.parent.name == kind and f.expected["format"] == "xml"
    )
    assert counts[True] >= 3
    assert counts[False] >= 6
