"""Every bad input gets a clear answer: whatever bytes arrive, validation returns issues with
known codes, never an exception (a traceback would be our bug shown to an integrator)."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

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
        other: object = data.draw(st.sampled_from([None, 0, -1.5, "", "x", [], {}, True, [None]]))
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


XML_SEEDS = [s for s in SEEDS if s.lstrip()[:1] == b"<"]  # FHIR XML, own XML and RIVTA
ODD_TEXTS = ["", " ", "x", "0", "-1", "1.5", "1e999", "NaN", "true", "9999-12-31", "2016-02-30"]


def _mutate_xml(seed: bytes, data: st.DataObject) -> bytes:
    """Drop, duplicate or empty one element, or give it (or an attribute) an odd value."""
    root = etree.fromstring(seed)  # our own fixtures: safe to parse plainly
    for _ in range(data.draw(st.integers(1, 3))):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        el = data.draw(st.sampled_from(elements))
        parent = el.getparent()
        action = data.draw(st.sampled_from(["drop", "duplicate", "empty", "text", "attribute"]))
        if action == "drop" and parent is not None:
            parent.remove(el)
        elif action == "duplicate" and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif action == "empty":
            el.text = None
            for child in list(el):
                el.remove(child)
        elif action == "text" and not len(el):
            el.text = data.draw(st.sampled_from(ODD_TEXTS))
        elif action == "attribute" and el.attrib:
            name = data.draw(st.sampled_from(sorted(el.attrib)))
            el.set(name, data.draw(st.sampled_from(ODD_TEXTS)))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@settings(max_examples=200)
@given(st.sampled_from(XML_SEEDS), st.data())
def test_xml_with_an_element_dropped_duplicated_or_changed(
    seed: bytes, data: st.DataObject
) -> None:
    assert_clear_answer(_mutate_xml(seed, data))


# -- regressions: each shape once crashed a reader (or was read silently); the exact answer --

CERT = "certificate/ag114-fhir-valid.fhir.json"
SIP = "sip/fhir-valid-four-principals.fhir.json"
RTW = "return-to-work-plan/fhir-valid-part-time-within-30-days.fhir.json"
E0 = "Bundle.entry[0].resource"
Edit = tuple[tuple[str | int, ...], object]


def edited(fixture: str, *edits: Edit) -> bytes:
    """A fixture's JSON with the value at each path (keys and indexes) replaced."""
    tree = orjson.loads((FIXTURES_DIR / fixture).read_bytes())
    for path, value in edits:
        node = tree
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value
    return orjson.dumps(tree)


@pytest.mark.parametrize(
    ("fixture", "edits", "expected"),
    [
        # kind matching sliced and indexed Bundle.entry before any shape check
        (
            CERT,
            [(("entry",), -1.5)],
            [("FHIR-STRUCTURE", "Bundle.entry"), ("FHIR-UNKNOWN-KIND", "Bundle")],
        ),
        (
            CERT,
            [(("entry", 0), 5)],
            [("FHIR-STRUCTURE", "Bundle.entry[0]"), ("FHIR-UNKNOWN-KIND", "Bundle")],
        ),
        (
            CERT,
            [(("entry", 0, "resource"), [])],
            [("FHIR-STRUCTURE", f"{E0}"), ("FHIR-UNKNOWN-KIND", "Bundle")],
        ),
        (
            CERT,
            [(("entry", 0, "resource", "type"), {"coding": 7})],
            [("FHIR-UNKNOWN-KIND", "Bundle")],
        ),
        (SIP, [(("entry", 0, "resource", "category"), 5)], [("FHIR-UNKNOWN-KIND", "Bundle")]),
        (
            SIP,
            [(("entry", 0, "resource", "category", 0, "coding"), True)],
            [("FHIR-UNKNOWN-KIND", "Bundle")],
        ),
        # extension lookups iterated whatever ``extension`` held (a number crashed, an object
        # was read as no extension at all)
        (
            CERT,
            [(("entry", 0, "resource", "extension"), {"url": 1})],
            [("FHIR-STRUCTURE", f"{E0}.extension")],
        ),
        (
            CERT,
            [(("entry", 0, "resource", "extension", 0), None)],
            [("FHIR-STRUCTURE", f"{E0}.extension[0]"), ("FHIR-REQUIRED", f"{E0}.extension")],
        ),
        (
            CERT,
            [(("entry", 6, "resource", "item", 0, "extension"), 3)],
            [
                ("FHIR-STRUCTURE", "Bundle.entry[6].resource.item[0].extension"),
                ("CERT-INSTANCE", "Bundle.entry[6].resource.item[0]"),
            ],
        ),
        (
            SIP,
            [(("entry", 0, "resource", "extension"), 5)],
            [("FHIR-STRUCTURE", f"{E0}.extension")],
        ),
        # role / coding lists iterated unchecked
        (
            SIP,
            [(("entry", 9, "resource", "participant", 0, "role"), 5)],
            [
                ("FHIR-STRUCTURE", "Bundle.entry[9].resource.participant[0].role"),
                ("SIP-PRINCIPALS", E0),
            ],
        ),
        (
            RTW,
            [(("entry", 3, "resource", "participant", 0, "role", 0, "coding"), 5)],
            [
                ("FHIR-STRUCTURE", "Bundle.entry[3].resource.participant[0].role[0].coding"),
                ("FHIR-SYSTEM", "Bundle.entry[3].resource.participant[0].role"),
            ],
        ),
        (
            RTW,
            [(("entry", 0, "resource", "activity", 0, "detail", "code", "coding"), -1)],
            [
                ("FHIR-STRUCTURE", f"{E0}.activity[0].detail.code.coding"),
                ("FHIR-SYSTEM", f"{E0}.activity[0].detail.code"),
            ],
        ),
        # a primitive's data-absent twin (``_name``) of the wrong shape
        (
            RTW,
            [
                (("entry", 2, "resource", "name"), None),
                (("entry", 2, "resource", "_name"), {"extension": 5}),
            ],
            [("FHIR-STRUCTURE", "Bundle.entry[2].resource.name.extension")],
        ),
        # a first day of reduced capacity in year 9999: day 30 overflowed the date range
        (
            RTW,
            [(("entry", 0, "resource", "extension", 1, "valueDate"), "9999-12-31")],
            [],
        ),
    ],
)
def test_malformed_fhir_json_gets_exact_issues(
    fixture: str, edits: list[Edit], expected: list[tuple[str, str]]
) -> None:
    data = edited(fixture, *edits)
    assert_clear_answer(data)
    assert [(i.code, i.location.path) for i in validate_bytes(data).issues] == expected
