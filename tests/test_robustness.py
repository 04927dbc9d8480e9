"""Every bad input gets a clear answer: whatever bytes arrive, validation returns issues with
known codes, never an exception (a traceback would be our bug shown to an integrator)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import FIXTURES_DIR
from gateway.documents.issues import RULES, Severity
from gateway.harness.fixtures import discover
from gateway.validation.service import validate_bytes

SEEDS = [f.path.read_bytes() for f in discover(FIXTURES_DIR) if f.expected["valid"]]


def assert_clear_answer(data: bytes) -> None:
    result = validate_bytes(data)
    for i in result.issues:
        assert i.code in RULES, i.code
        assert i.message
    if result.document is None:
        assert any(i.severity is Severity.ERROR for i in result.issues)


@settings(max_examples=150)
@given(st.sampled_from(SEEDS), st.data())
def test_truncated_documents(seed: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(seed)))
    assert_clear_answer(seed[:cut])


@settings(max_examples=150)
@given(st.sampled_from(SEEDS), st.data())
def test_documents_with_a_span_replaced(seed: bytes, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(seed)))
    end = data.draw(st.integers(start, min(len(seed), start + 40)))
    junk = data.draw(
        st.binary(max_size=40)
        | st.sampled_from([b"", b"<", b">", b'"', b"&amp;", b"-1", b"\xff\xfe", b"}", b"]"])
    )
    assert_clear_answer(seed[:start] + junk + seed[end:])


def _mutate_json(tree: object, data: st.DataObject) -> object:
    """Replace one value somewhere in the tree with a value of another JSON type."""
    if isinstance(tree, dict) and tree:
        key = data.draw(st.sampled_from(sorted(tree)))
        if data.draw(st.booleans()):
            return {**tree, key: _mutate_json(tree[key], data)}
        other = data.draw(st.sampled_from([None, 0, -1.5, "", "x", [], {}, True, [None]]))
        return {**tree, key: other}
    if isinstance(tree, list) and tree:
        i = data.draw(st.integers(0, len(tree) - 1))
        return [*tree[:i], _mutate_json(tree[i], data), *tree[i + 1 :]]
    return data.draw(st.sampled_from([None, 0, "", [], {}, True]))


JSON_SEEDS = [s for s in SEEDS if s.lstrip()[:1] == b"{"]


@settings(max_examples=200)
@given(st.sampled_from(JSON_SEEDS), st.data())
def test_fhir_json_with_a_value_of_the_wrong_type(seed: bytes, data: st.DataObject) -> None:
    assert_clear_answer(orjson.dumps(_mutate_json(orjson.loads(seed), data)))


@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    assert_clear_answer(data)
