"""Golden FHIR: what the codecs write and read is pinned, byte for byte and issue for issue.

A refactoring guard for the FHIR codecs (the row engine, issue 16): for every document of the
corpus (every fixture that reads, every Inera sample, the full example documents of the FHIR
tests) the FHIR JSON and FHIR XML output must be byte-identical to the digests in
``tests/data/fhir-golden.json``, and reading must give the same result (model, issues with
their locations and messages, source map) for

* every FHIR fixture as it is, and every FHIR output of the corpus read back;
* every single mutation of the FHIR JSON trees (each element deleted, given a wrong JSON type,
  an array emptied or cut to its first item), read as JSON;
* every single mutation of the FHIR XML outputs (each element deleted, repeated, renamed),
  read as XML (the tree, issues and lines of the XML conversion too).

Digests are per document and mutation family (one per mutation; the test reads every 3rd,
``GOLDEN_STRIDE=1`` every one). When an output changes on purpose, regenerate and say why in
the commit::

    .venv/bin/python tests/test_fhir_golden.py --update
    .venv/bin/python tests/test_fhir_golden.py --dump DIR   # every record, to diff two trees

Documents added later (new fixtures) are not in the golden file and are not checked here;
every document the golden file names must still exist.
"""

from __future__ import annotations

import copy
import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import FAST, SAMPLES
from lxml import etree

from gateway import FIXTURES_DIR, PROJECT_ROOT
from gateway.documents import Document, DocumentKind
from gateway.formats.base import ParseResult
from gateway.formats.fhir.codec import FhirJsonCodec, FhirXmlCodec, read_tree
from gateway.formats.fhir.tree import PathSourceMap
from gateway.validation.service import validate_bytes

GOLDEN = PROJECT_ROOT / "tests" / "data" / "fhir-golden.json"
JSON, XML = FhirJsonCodec(), FhirXmlCodec()
Record = Any


def corpus() -> Iterator[tuple[str, Document]]:
    """(name, document): every fixture that reads, every Inera sample, the full examples."""
    from test_fhir_plans import FULL
    from test_mapping_rows import DOCS

    for path in sorted(FIXTURES_DIR.rglob("*")):
        name = path.name
        if not path.is_file() or ".expected." in name or ".redaction." in name:
            continue
        document = validate_bytes(path.read_bytes()).document
        if document is not None:
            yield f"fixture:{path.relative_to(FIXTURES_DIR).as_posix()}", document
    for path in sorted(SAMPLES.glob("*.xml")):
        document = validate_bytes(path.read_bytes()).document
        if document is not None:
            yield f"sample:{path.name}", document
    for kind, document in FULL.items():
        yield f"full:{kind}", document
    yield "rows:certificate", DOCS[DocumentKind.CERTIFICATE]  # the plan kinds' are FULL's


def fhir_fixtures() -> Iterator[tuple[str, Path]]:
    for path in sorted(FIXTURES_DIR.rglob("*.fhir.*")):
        if ".expected." not in path.name and ".redaction." not in path.name:
            yield f"fixture:{path.relative_to(FIXTURES_DIR).as_posix()}", path


# -- records ---------------------------------------------------------------------------------


def record(result: ParseResult[Document]) -> Record:
    """What a read gives, in plain JSON: the model, the issues, the source map (of a model:
    nothing reads the source map of a document that could not be read)."""
    document = result.document
    source_map = result.source_map
    located = {} if source_map is None or document is None else source_map.locations
    if isinstance(source_map, PathSourceMap) and document is not None:
        located = source_map.materialise()
    return {
        "document": None if document is None else document.model_dump(mode="json"),
        "issues": [
            [str(i.severity), i.code, i.location.path, i.location.line, i.message]
            for i in result.issues
        ],
        "map": sorted([[str(p) for p in k], v.path, v.line] for k, v in located.items()),
    }


def guarded(fn: Callable[[], Record]) -> Record:
    """A crash is a result too (a codec must not crash; the golden file says if one did)."""
    try:
        return fn()
    except Exception as exc:  # recorded, not hidden
        return {"crash": type(exc).__name__}


def digest(records: list[Record]) -> str:
    return hashlib.sha256(orjson.dumps(records, option=orjson.OPT_SORT_KEYS)).hexdigest()


# -- mutations -------------------------------------------------------------------------------


Mutation = tuple[str, Callable[[], Any]]  # (label, a thunk that builds the mutated input)


def json_mutations(tree: dict[str, Any]) -> Iterator[Mutation]:
    """Every single mutation of ``tree``: each key deleted, each value of the wrong JSON
    type, each array emptied and cut to its first item."""

    def places(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield (*path, k), v
                yield from places(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield (*path, i), v
                yield from places(v, (*path, i))

    data = orjson.dumps(tree)

    def changed(path: tuple[Any, ...], how: str) -> dict[str, Any]:
        out: dict[str, Any] = orjson.loads(data)  # a fresh copy, faster than deepcopy
        parent = out
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        if how == "del":
            del parent[key]
        elif how == "type":
            parent[key] = 7 if isinstance(parent[key], str | dict | list) else "x"
        elif how == "empty":
            parent[key] = []
        else:
            parent[key] = parent[key][:1]
        return out

    for path, value in places(tree, ()):
        if path == ("resourceType",):
            continue
        hows = ["del", "type"]
        if isinstance(value, list) and value:
            hows += ["empty", "first"] if len(value) > 1 else ["empty"]
        for how in hows:
            yield f"{how} {'.'.join(map(str, path))}", partial(changed, path, how)


def xml_mutations(data: bytes) -> Iterator[Mutation]:
    """Every element of a FHIR XML document deleted, repeated, renamed (one at a time)."""

    def changed(n: int, how: str) -> bytes:
        root = etree.fromstring(data)
        el = next(e for i, e in enumerate(root.iter()) if i == n)
        parent = el.getparent()
        assert parent is not None
        if how == "del":
            parent.remove(el)
        elif how == "dup":
            el.addnext(copy.deepcopy(el))
        elif isinstance(el.tag, str):
            el.tag = el.tag + "X"
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    root = etree.fromstring(data)
    seen: set[str] = set()
    for n, el in enumerate(root.iter()):
        if n == 0 or not isinstance(el.tag, str):
            continue
        steps = [*reversed(list(el.iterancestors())), el]
        where = "/".join(etree.QName(a).localname for a in steps)
        if where in seen:
            continue  # one element of each place is enough for the conversion
        seen.add(where)
        for how in ("del", "dup", "rename"):
            yield f"{how} {where}", partial(changed, n, how)


def xml_record(data: bytes) -> Record:
    """Reading FHIR XML, and the JSON tree the conversion made of it."""
    result = XML.parse(data)
    return {"tree": result.tree, "read": record(result)}


def _read_json(make: Callable[[], dict[str, Any]]) -> Record:
    return record(read_tree(make()))


def _read_xml(make: Callable[[], bytes]) -> Record:
    return xml_record(make())


def _read_file(codec: FhirJsonCodec, path: Path) -> Record:
    return record(codec.parse(path.read_bytes()))


# -- the golden values -----------------------------------------------------------------------

#: "<document> <what>" -> a digest, or one short digest per mutation (in order); what: json,
#: xml (the output bytes), read-json, read-xml (the output read back), read (a FHIR fixture as
#: it is), mut-json, mut-xml (the mutations).
Golden = dict[str, str | list[str]]
MUTATIONS = {"mut-json": "json", "mut-xml": "xml"}


def compute(keys: set[str] | None = None, dump: Path | None = None, stride: int = 1) -> Golden:
    """Every golden value (only those in ``keys``, when given; every ``stride``-th mutation,
    the others as ``""``)."""
    out: Golden = {}

    def want(key: str) -> bool:
        return keys is None or key in keys

    def put(key: str, records: list[Record]) -> None:
        out[key] = digest(records)
        if dump is not None:
            name = hashlib.sha1(key.encode()).hexdigest()[:12]
            body = orjson.dumps([key, records], option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
            (dump / f"{name}.json").write_bytes(body)

    def put_each(key: str, cases: Iterator[tuple[str, Callable[[], Record]]]) -> None:
        digests: list[str] = []
        records = []
        for i, (label, read) in enumerate(cases):
            if i % stride:
                digests.append("")
                continue
            rec = [label, guarded(read)]
            digests.append(digest([rec])[:10])
            records.append(rec)
        out[key] = digests
        if dump is not None:
            put(key, records)
            out[key] = digests

    for name, document in corpus():
        here = {w: f"{name} {w}" for w in ("json", "xml", "read-json", "read-xml", *MUTATIONS)}
        if not any(want(k) for k in here.values()):
            continue
        js, xs = JSON.render(document), XML.render(document)
        if want(here["json"]):
            out[here["json"]] = hashlib.sha256(js).hexdigest()
        if want(here["xml"]):
            out[here["xml"]] = hashlib.sha256(xs).hexdigest()
        if want(here["read-json"]):
            put(here["read-json"], [record(JSON.parse(js))])
        if want(here["read-xml"]):
            put(here["read-xml"], [xml_record(xs)])
        if not name.startswith(("full:", "rows:")):
            continue  # the full examples hold every element: mutating them covers the rest
        if want(here["mut-json"]):
            put_each(
                here["mut-json"],
                ((m, partial(_read_json, make)) for m, make in json_mutations(orjson.loads(js))),
            )
        if want(here["mut-xml"]):
            put_each(
                here["mut-xml"],
                ((m, partial(_read_xml, make)) for m, make in xml_mutations(xs)),
            )
    for name, path in fhir_fixtures():
        key = f"{name} read"
        if want(key):
            codec = XML if path.name.endswith(".xml") else JSON
            put(key, [guarded(partial(_read_file, codec, path))])
    return out


def load() -> Golden:
    golden: Golden = orjson.loads(GOLDEN.read_bytes())
    return golden


def test_every_golden_document_still_exists() -> None:
    golden = load()
    names = {key.rsplit(" ", 1)[0] for key in golden}
    present = {name for name, _ in corpus()} | {name for name, _ in fhir_fixtures()}
    assert names - present == set()


GROUPS = ["json", "xml", "read", "read-json", "read-xml", "mut-json", "mut-xml"]


@pytest.mark.parametrize("what", GROUPS)
def test_fhir_output_and_reading_are_as_pinned(what: str) -> None:
    """Every 3rd mutation is read (every 9th in the fast profile; ``GOLDEN_STRIDE=1`` reads
    every one, as the refactoring onto the row engine did at each step)."""
    golden = {k: v for k, v in load().items() if k.rsplit(" ", 1)[1] == what}
    assert golden
    stride = int(os.environ.get("GOLDEN_STRIDE") or (9 if FAST else 3))
    now = compute(set(golden), stride=stride)
    changed = []
    for key, pinned in golden.items():
        got = now.get(key)
        if isinstance(pinned, list) and isinstance(got, list) and len(got) == len(pinned):
            changed += [f"{key} #{i}" for i, d in enumerate(got) if d and d != pinned[i]]
        elif got != pinned:
            changed.append(key)
    assert changed == []


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1:2] == ["--update"]:
        body = orjson.dumps(compute(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        GOLDEN.write_bytes(body)
        print(f"wrote {GOLDEN}")
    elif sys.argv[1:2] == ["--dump"] and len(sys.argv) == 3:
        target = Path(sys.argv[2])
        target.mkdir(parents=True, exist_ok=True)
        compute(dump=target)
        print(f"wrote the records to {target}")
    else:
        raise SystemExit(__doc__)
