"""The duplicate-key check on the FHIR JSON load path: cheap (the strings of the bytes, by their
quotes, against the strings of the parsed tree) and exact (the counts differ exactly when an
object holds a key twice; only then the second parse that names it). Properties
over generated JSON text with and without a key written twice: escaped quotes, keys inside
string values, whitespace before the colon, ``\\u``-escaped keys that decode equal."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.formats.fhir.tree import (
    _duplicate_key,
    _quotes,
    _string_count,
    _tree_quotes,
    load_json,
)

WS = st.sampled_from(["", " ", "  ", "\n", "\t", "\r\n", " \n  "])
#: characters that make key counting hard: quotes, backslashes, colons, braces, spaces
CHARS = st.sampled_from(["a", "b", '"', "\\", ":", " ", "{", "}", ",", "é", "\u2028", "\x01"])
TEXT = st.text(CHARS, max_size=5)


@st.composite
def string(draw: st.DrawFn, text: str) -> str:
    """``text`` as a JSON string, each character written plainly or ``\\u``-escaped."""
    out = ['"']
    for ch in text:
        plain = json.dumps(ch, ensure_ascii=False)[1:-1]  # escapes only what must be
        out.append(draw(st.sampled_from([plain, f"\\u{ord(ch):04x}"])))  # all in the BMP
    out.append('"')
    return "".join(out)


@st.composite
def document(draw: st.DrawFn, depth: int = 0) -> tuple[str, bool]:
    """JSON text of an object (maybe holding a key twice) and whether any object does."""
    keys = draw(st.lists(TEXT, max_size=4))
    if keys and draw(st.integers(0, 3)) == 0:
        keys.append(draw(st.sampled_from(keys)))  # a key twice
    twice = len(set(keys)) < len(keys)
    parts = []
    for key in keys:
        kind = draw(st.integers(0, 3 if depth < 3 else 1))
        if kind == 0:
            value = draw(string(draw(TEXT)))
        elif kind == 1:
            value = draw(st.sampled_from(["1", "true", "null", '":"', '" : "', '"\\":"']))
        elif kind == 2:
            inner, inner_twice = draw(document(depth + 1))
            value, twice = inner, twice or inner_twice
        else:
            inner, inner_twice = draw(document(depth + 1))
            value, twice = f"[{draw(WS)}{inner}{draw(WS)}]", twice or inner_twice
        parts.append(f"{draw(WS)}{draw(string(key))}{draw(WS)}:{draw(WS)}{value}{draw(WS)}")
    return "{" + ",".join(parts) + "}", twice


@settings(max_examples=400)
@given(document())
def test_the_cheap_check_is_exact(doc: tuple[str, bool]) -> None:
    text, twice = doc
    data = text.encode("utf-8")
    tree = orjson.loads(data)
    exact = _duplicate_key(data)
    assert (exact is not None) == twice
    assert (_quotes(data) != _tree_quotes(tree, 64)) == (exact is not None)
    assert _tree_quotes(tree, 64) == 2 * _string_count(tree, 64)  # the dump counts as the walk
    tree_out, issues = load_json(data)
    if exact is None:
        assert tree_out == tree if not issues else {i.code for i in issues} == {"FHIR-CHARACTER"}
    else:
        assert tree_out is None
        assert [(i.code, i.message) for i in issues] == [
            ("FHIR-JSON-SYNTAX", f"an object has the key {exact!r} twice")
        ]


def test_keys_that_decode_equal_are_the_same_key() -> None:
    _, issues = load_json(b'{"resourceType": "Patient", "a": 1, "\\u0061": 2}')
    assert [i.message for i in issues] == ["an object has the key 'a' twice"]


def test_keys_in_values_and_escaped_quotes_are_no_keys() -> None:
    for data in (
        b'{"a": "\\"b\\": 1", "b": ":"}',
        b'{"a" : ": x", "b"\n:\n[" :", {"c": "\\\\"}]}',
    ):
        tree, issues = load_json(data)
        assert tree == orjson.loads(data) and issues == []


def test_the_count_is_cheap_for_a_real_document() -> None:
    from gateway import FIXTURES_DIR

    data = (FIXTURES_DIR / "certificate" / "fk7804-fhir-valid.fhir.json").read_bytes()
    tree: Any = orjson.loads(data)
    assert _quotes(data) == _tree_quotes(tree, 64)  # no full re-parse
    assert _quotes(orjson.dumps(tree)) == _tree_quotes(tree, 64)


@settings(max_examples=150)
@given(st.lists(st.booleans(), min_size=1, max_size=300), st.sampled_from(["{}", "[]", "1", '"x"']))
@example([False] * 64, "1")
@example([True] * 63, "[]")
@example([False] * 64, "{}")
@example([True] * 65, '"x"')
@example([False] * 260, "1")
def test_the_depth_bound_is_exact(arrays: list[bool], inner: str) -> None:
    """Objects and arrays nested ``len(arrays)`` levels (plus an empty innermost container):
    refused exactly beyond 64 levels, however deep (orjson writes 255 at most)."""
    text = inner
    for is_array in reversed(arrays[1:]):
        text = f"[{text}, 2]" if is_array else f'{{"a": {text}, "b": 2}}'
    data = ('{"resourceType": "X", "v": ' + text + "}").encode()
    levels = len(arrays) + (inner in ("{}", "[]"))
    _tree, issues = load_json(data)
    assert [i.code for i in issues] == (["FHIR-LIMIT"] if levels > 64 else []), levels
