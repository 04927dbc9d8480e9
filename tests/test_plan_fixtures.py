"""The fixtures of SIP, return-to-work plan and §4 notification, run through their codec and
business rules, must give exactly the issues their ``.expected.json`` lists."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from gateway import FIXTURES_DIR
from gateway.documents.issues import is_valid
from gateway.formats.ownxml.codec import OwnXmlCodec
from gateway.formats.ownxml.return_to_work import ReturnToWorkXmlCodec
from gateway.formats.ownxml.section4 import Section4XmlCodec
from gateway.formats.ownxml.sip import SipXmlCodec
from gateway.validation import return_to_work_rules, section4_rules, sip_rules
from gateway.validation.engine import locate

KINDS = {
    "sip": (SipXmlCodec(), sip_rules.check),
    "return-to-work-plan": (ReturnToWorkXmlCodec(), return_to_work_rules.check),
    "section4-notification": (Section4XmlCodec(), section4_rules.check),
}
FIXTURES = sorted(
    p
    for kind in KINDS
    for p in (FIXTURES_DIR / kind).glob("*.xml")
    if not p.name.endswith(".fhir.xml")  # FHIR XML fixtures: tests/test_fixtures.py runs them
)


def _expected(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    return data


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture(path: Path) -> None:
    expected = _expected(path)
    codec, check = KINDS[path.parent.name]
    parsed = codec.parse(path.read_bytes())
    issues = list(parsed.issues)
    if parsed.document is not None:
        issues += locate(check(parsed.document), parsed.source_map)
    got = Counter((i.code, str(i.severity)) for i in issues)
    want = Counter((i["code"], i["severity"]) for i in expected["issues"])  # type: ignore[attr-defined]
    assert got == want
    assert (parsed.document is not None and is_valid(issues)) is expected["valid"]
    # the kind is reported once the document could be read
    assert expected["kind"] == (path.parent.name if parsed.document is not None else None)
    assert expected["format"] == "xml" and expected["subtype"] is None
    if expected["valid"]:
        assert expected["rule"] is None
    else:
        assert {i.code for i in issues} == {expected["rule"]}  # breaks exactly its one rule
    for i in issues:
        assert i.location.line is not None, i  # every issue points at a line of the file


def test_each_kind_has_enough_fixtures() -> None:
    for kind in KINDS:
        names = [p.stem for p in FIXTURES if p.parent.name == kind]
        assert sum(n.startswith("valid-") for n in names) >= 3, kind
        assert sum(n.startswith("invalid-") for n in names) >= 6, kind
        assert all(p.with_name(p.stem + ".expected.json").exists() for p in FIXTURES)


def test_codecs_are_own_xml() -> None:
    assert all(isinstance(codec, OwnXmlCodec) for codec, _ in KINDS.values())
