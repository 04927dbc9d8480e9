"""No input crashes ``convert`` or ``redact`` (issue 9, Done when): whatever bytes arrive,
every target format and every recipient get an answer (a rendering, issues, a refusal,
``CannotRender`` for a format that cannot carry the document), never an exception. Seeds are
every valid fixture of every kind and Inera's samples, cut, spliced and retyped."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime
from typing import Any

import orjson
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import FIXTURES_DIR
from gateway.documents import Recipient
from gateway.documents.issues import RULES, SeverityOverrides
from gateway.formats.base import CannotRender, Format
from gateway.formats.registry import render
from gateway.harness.fixtures import discover
from gateway.policy import apply_policy
from gateway.transfer import render_copy
from gateway.validation.service import validate_bytes

SEEDS = [f.path.read_bytes() for f in discover(FIXTURES_DIR) if f.expected["valid"]] + [
    p.read_bytes() for p in sorted(SAMPLES.glob("*.RegisterCertificate.xml"))
]
JSON_SEEDS = [s for s in SEEDS if s.lstrip().startswith(b"{")]
INERA = SeverityOverrides(warn=frozenset({"ID-PERSON-CHECKSUM"}))
AT = datetime(2026, 1, 1, tzinfo=UTC)
#: what a hostile sender types where it can
TOKENS = [
    b"<",
    b">",
    b"&",
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b"\x00",
    b"\xff",
    b"&#0;",
    b"]]>",
    b"F32.1",
    b'<svar id="6"/>',
    b"<!--x-->",
    b"<?x?>",
    b"null",
    b"1e999",
    b"-1",
    b"",
    b"\xef\xbb\xbf",
    b"\\u0000",
    b"\xd8\x00",
]


def pipeline(data: bytes) -> None:
    """``gateway convert`` and ``gateway redact`` in process, for every target and recipient."""
    result = validate_bytes(data, overrides=INERA)
    for i in result.issues:
        assert i.code in RULES, i.code
    if not result.valid or result.document is None:
        return
    doc = result.document
    for fmt in Format:
        with contextlib.suppress(CannotRender):
            render(doc, fmt)
    for recipient in Recipient:
        for strict in (False, True):
            outcome = apply_policy(doc, recipient, at=AT, strict=strict, check_consent=False)
            if outcome.refused:
                assert outcome.document is None and outcome.report
                continue
            for fmt in Format:
                with contextlib.suppress(CannotRender):
                    render_copy(outcome, fmt)


def test_every_seed_goes_through_unchanged() -> None:
    assert len(SEEDS) >= 47  # fixtures of all four kinds and the samples
    for seed in SEEDS:
        pipeline(seed)


@settings(max_examples=120)
@given(st.sampled_from(SEEDS), st.data())
def test_spliced_documents(seed: bytes, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(seed)))
    end = data.draw(st.integers(start, min(len(seed), start + 40)))
    new = data.draw(st.sampled_from(TOKENS) | st.binary(max_size=8))
    pipeline(seed[:start] + new + seed[end:])


@settings(max_examples=80)
@given(st.sampled_from(SEEDS), st.data())
def test_duplicated_spans(seed: bytes, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(seed)))
    end = data.draw(st.integers(start, min(len(seed), start + 400)))
    pipeline(seed[:end] + seed[start:end] + seed[end:])


def _retype(tree: object, data: st.DataObject) -> object:
    """One value somewhere in a JSON tree replaced by a value of another type."""
    if isinstance(tree, dict) and tree:
        key = data.draw(st.sampled_from(sorted(tree)))
        if data.draw(st.booleans()):
            tree[key] = _retype(tree[key], data)
        else:
            tree[key] = data.draw(
                st.sampled_from([None, 0, -1, 1.5, "", "F32.1", [], {}, [None], {"a": 1}, True])
            )
    elif isinstance(tree, list) and tree:
        i = data.draw(st.integers(0, len(tree) - 1))
        tree[i] = _retype(tree[i], data)
    return tree


@settings(max_examples=120)
@given(st.sampled_from(JSON_SEEDS), st.data())
def test_fhir_json_with_values_of_other_types(seed: bytes, data: st.DataObject) -> None:
    tree = copy.deepcopy(orjson.loads(seed))
    for _ in range(data.draw(st.integers(1, 3))):
        tree = _retype(tree, data)
    pipeline(orjson.dumps(tree))


def _strings(tree: object, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where a JSON tree holds a string: the path to each value, and to each key (ending in
    the marker ``KEY``)."""
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in [(*at, k, KEY), *_strings(v, (*at, k))]]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in _strings(v, (*at, i))]
    return [at] if isinstance(tree, str) else []


KEY = object()
#: every character below U+0020 but tab, LF and CR, and the two XML 1.0 cannot carry
CONTROL = [chr(c) for c in (*range(9), 11, 12, *range(14, 32))] + ["\ufffe", "\uffff"]


@settings(max_examples=120)
@given(st.sampled_from(JSON_SEEDS), st.data())
def test_fhir_json_with_a_control_character_in_any_string(seed: bytes, data: st.DataObject) -> None:
    """Refused with FHIR-CHARACTER by validate, whichever string (value or key) holds it, and
    never a crash of convert or redact."""
    tree = orjson.loads(seed)
    where = data.draw(st.sampled_from(_strings(tree)))
    char = data.draw(st.sampled_from(CONTROL))
    is_key = where[-1] is KEY
    parent: Any = tree
    for step in where[: -2 if is_key else -1]:
        parent = parent[step]
    name = where[-2] if is_key else where[-1]
    text = name if is_key else parent[name]
    at = data.draw(st.integers(0, len(text)))
    changed = text[:at] + char + text[at:]
    if is_key:  # the key renamed in place, the object's order kept
        items = list(parent.items())
        parent.clear()
        parent.update((changed if k == name else k, v) for k, v in items)
    else:
        parent[name] = changed
    body = orjson.dumps(tree, option=orjson.OPT_INDENT_2 if data.draw(st.booleans()) else 0)
    result = validate_bytes(body, overrides=INERA)
    assert not result.valid and result.document is None
    assert {i.code for i in result.issues} == {"FHIR-CHARACTER"}
    pipeline(body)


XML_SEEDS = [s for s in SEEDS if s.lstrip().startswith(b"<")]


def _inside_every_element(seed: bytes, insert: bytes) -> bytes:
    """``insert`` right after every start tag of ``seed`` (a comment or processing instruction
    as the first child of every element: readers walk children, and a comment's "tag" is no
    string; the compiled build refused it as one until this was found)."""
    out, at = [], 0
    for start in range(len(seed)):
        if seed[start : start + 1] == b"<" and seed[start + 1 : start + 2] not in b"/?!":
            end = seed.index(b">", start)
            if seed[end - 1 : end] != b"/":
                out += [seed[at : end + 1], insert]
                at = end + 1
    return b"".join(out) + seed[at:]


def test_a_comment_or_instruction_in_every_element_is_no_crash() -> None:
    assert len(XML_SEEDS) >= 30
    for seed in XML_SEEDS:
        for insert in (b"<!--x-->", b"<?pi x?>"):
            data = _inside_every_element(seed, insert)
            assert data.count(insert) >= 10
            pipeline(data)  # an answer, not an exception
