"""FHIR strings hold no control characters (FHIR R4 datatypes, string: nothing below U+0020
but tab, CR and LF) and nothing XML 1.0 cannot carry (U+FFFE, U+FFFF): ``FHIR-CHARACTER``,
located by FHIRPath and line, for every FHIR JSON kind and at every front door."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from exchange_support import (
    AUTH_REGION,
    FK7804_XML,
    Clock,
    NewStore,
    certificate_message,
    make_config,
    run,
    serving,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import FIXTURES_DIR
from gateway.documents.issues import RULES
from gateway.formats.fhir.tree import _forbidden_offsets, load_json
from gateway.harness.fixtures import discover
from gateway.validation.service import validate_bytes

CERT = FIXTURES_DIR / "certificate" / "fk7804-fhir-valid.fhir.json"
#: one valid FHIR JSON fixture of every kind, message Bundles included
KINDS = sorted(
    f.path
    for f in discover(FIXTURES_DIR)
    if f.expected["valid"] and f.path.name.endswith(".fhir.json")
)
#: as JSON writes them inside a string
FORBIDDEN = [r"\u0000", r"\u0001", r"\u0008", r"\b", r"\f", r"\u000B", r"\u000e", r"\u001F"]
FORBIDDEN += [r"\ufffe", r"\uFFFF", "\ufffe", "\uffff"]
ALLOWED = [r"\t", r"\n", r"\r", r"\u0009", r"\u007f", r"\u0085", r"\\u0000", r"\\b"]
ALLOWED += [r"\ud83d\ude00"]


def _with(text: str, path: Path = CERT) -> bytes:
    """The certificate with ``text`` (JSON source) at the start of the patient's family name."""
    raw = path.read_text("utf-8")
    assert raw.count('"family": "') >= 1
    return raw.replace('"family": "', '"family": "' + text, 1).encode("utf-8")


def test_the_rule_is_catalogued() -> None:
    rule = RULES.get("FHIR-CHARACTER")
    assert rule is not None and "U+0020" in rule.explanation


@pytest.mark.parametrize("text", FORBIDDEN)
def test_a_forbidden_character_is_refused_at_its_path_and_line(text: str) -> None:
    data = _with(text)
    tree, issues = load_json(data)
    assert tree is None
    (issue,) = issues
    assert issue.code == "FHIR-CHARACTER"
    assert issue.location.path == "Bundle.entry[1].resource.name[0].family"
    assert issue.location.line == data[: data.index(b'"family"')].count(b"\n") + 1
    assert "Tolvansson" not in issue.message  # no patient data in messages


@pytest.mark.parametrize("text", ALLOWED)
def test_tab_cr_lf_del_and_escaped_backslashes_are_allowed(text: str) -> None:
    assert validate_bytes(_with(text)).valid


def test_a_key_and_every_string_are_named_in_document_order() -> None:
    tree = orjson.loads(CERT.read_bytes())
    tree["entry"][0]["resource"]["title\u0001"] = "x"
    tree["entry"][1]["resource"]["gender"] = "a\u0002b\u0003"
    data = orjson.dumps(tree, option=orjson.OPT_INDENT_2)
    _, issues = load_json(data)
    assert [(i.code, i.location.path) for i in issues] == [
        ("FHIR-CHARACTER", "Bundle.entry[0].resource"),
        ("FHIR-CHARACTER", "Bundle.entry[1].resource.gender"),
    ]
    assert issues[0].message.startswith("a key of Bundle.entry[0].resource holds U+0001")
    assert "U+0002, U+0003" in issues[1].message
    lines = data.decode().splitlines()
    assert r"\u0001" in lines[issues[0].location.line - 1]  # type: ignore[operator]
    assert r"\u0002" in lines[issues[1].location.line - 1]  # type: ignore[operator]


def test_a_lone_surrogate_is_a_json_syntax_error() -> None:
    assert [i.code for i in validate_bytes(_with(r"\ud800")).issues] == ["FHIR-JSON-SYNTAX"]


@pytest.mark.parametrize("path", KINDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_kind_refuses_it(path: Path) -> None:
    raw = path.read_text("utf-8")
    at = [m.end() for m in re.finditer(r'":\s*"', raw)][-1]  # the last string value
    data = (raw[:at] + r"\u001f" + raw[at:]).encode()
    result = validate_bytes(data)
    assert not result.valid and result.document is None
    assert [i.code for i in result.issues] == ["FHIR-CHARACTER"]


def test_every_kind_is_covered() -> None:
    assert {p.parent.name for p in KINDS} == {
        "certificate",
        "sip",
        "return-to-work-plan",
        "section4-notification",
        "section4-acknowledgement",
    }
    assert any(b'"type": "message"' in p.read_bytes() for p in KINDS)


# -- the raw scan is exact: it finds a forbidden character iff a parsed string holds one --

_JSON_TEXT = st.text(
    st.sampled_from(["a", "\\", '"', "\t", "\x00", "\x08", "\x0c", "\x1f", "\x7f", "\ufffe", "é"]),
    max_size=6,
)
_JSON = st.recursive(
    st.none() | st.integers(-9, 9) | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_JSON_TEXT, inner, max_size=3),
    max_leaves=12,
)


def _holds(node: Any) -> int:
    bad = set(map(chr, [*range(9), 11, 12, *range(14, 32), 0xFFFE, 0xFFFF]))
    if isinstance(node, dict):
        return sum(_holds(k) + _holds(v) for k, v in node.items())
    if isinstance(node, list):
        return sum(map(_holds, node))
    return sum(c in bad for c in node) if isinstance(node, str) else 0


@settings(max_examples=300)
@given(_JSON, st.booleans())
def test_the_raw_scan_counts_exactly_the_forbidden_characters(tree: Any, ascii_only: bool) -> None:
    data = orjson.dumps({"t": tree})
    if ascii_only:  # every non-ASCII character escaped, as other writers do
        import json

        data = json.dumps({"t": tree}, ensure_ascii=True).encode()
    assert len(_forbidden_offsets(data)) == _holds(tree)


# -- the server answers it, never 500 ---------------------------------------------------------


def test_the_server_answers_with_the_code(new_store: NewStore) -> None:
    fhir = {**AUTH_REGION, "Content-Type": "application/fhir+json"}
    message = certificate_message(FK7804_XML, message_id="ctl-1")
    at = message.index(b'"family":"') + len(b'"family":"')
    bad = message[:at] + b"\\u0000" + message[at:]
    assert validate_bytes(message).valid

    async def main() -> None:
        async with serving(make_config(), new_store(), clock=Clock()) as client:
            statuses = {}
            for url in ("/messages", "/validate", "/convert?to=xml", "/redact?for=employer"):
                resp = await client.post(url, data=bad, headers=fhir)
                statuses[url] = resp.status
                body = await resp.json()
                codes = [i["details"]["coding"][0]["code"] for i in body.get("issue", [])]
                codes += [i["code"] for i in body.get("issues", [])]
                assert codes == ["FHIR-CHARACTER"], (url, body)
            # as for JSON that is not well-formed: unreadable for /messages; /validate answers
            # every input in a known format with its issues (docs/exchange/api.md)
            assert statuses == {
                "/messages": 400,
                "/validate": 200,
                "/convert?to=xml": 422,
                "/redact?for=employer": 422,
            }
            resp = await client.post("/convert?to=xml", data=message, headers=fhir)
            assert resp.status == 200
            assert b"RegisterCertificate" in await resp.read()  # xml: RIVTA for a certificate

    run(main())
