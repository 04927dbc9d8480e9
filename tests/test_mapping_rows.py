"""The `[[field]]` rows of mappings/<kind>.toml bind the codecs, exactly and both ways.

For every row and every place the full example document has that field:

* a text value (ids, names, addresses, free text) is replaced by a marker; the marker must land
  at exactly the row's FHIR path in the FHIR output and at exactly its XML path in the XML
  output, nowhere else, and reading either output back gives the marker at the same model path;
* any value (dates, codes, booleans, ...) is read back from FHIR and XML, and the source maps
  must name the row's paths for it.

So a codec that moves a field, or a row that documents it elsewhere, fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import SAMPLES
from lxml import etree
from test_fhir_plans import CONTACT, FULL

import gateway.formats.fhir
from gateway import MAPPINGS_DIR
from gateway.documents import Document, DocumentKind
from gateway.documents.certificate import Certificate, Relation, Status
from gateway.documents.common import Code, Identifier
from gateway.formats.base import Format
from gateway.formats.fhir import systems
from gateway.formats.fhir.mapping import FieldRow, Mapping, load_mapping
from gateway.formats.registry import codec_for

MARK = "Zq9mark"


def _documents() -> dict[DocumentKind, Document]:
    docs: dict[DocumentKind, Document] = dict(FULL)
    rivta = codec_for(DocumentKind.CERTIFICATE, Format.XML)
    sample = (SAMPLES / "fk7804-lisjp-v1-full.RegisterCertificate.xml").read_bytes()
    cert = rivta.parse(sample).document  # type: ignore[union-attr]
    signed = (SAMPLES / "fk7804-lisjp-v1-signed-underskrift.RegisterCertificate.xml").read_bytes()
    signature = rivta.parse(signed).document.signature  # type: ignore[union-attr]
    assert isinstance(cert, Certificate) and signature is not None
    # every optional field the sample leaves out, so that every row is met
    issuer = cert.issuer
    unit = issuer.unit.model_copy(
        update={"care_provider": issuer.unit.care_provider.model_copy(update={"contact": CONTACT})}
    )
    docs[DocumentKind.CERTIFICATE] = cert.model_copy(
        update={
            "patient": cert.patient.model_copy(
                update={"name": cert.patient.name.model_copy(update={"middle": "Mellannamn"})}
            ),
            "patient_address_source": Code(code="PARAT", system="KV_FKMU_0001"),
            "issuer": issuer.model_copy(
                update={
                    "specialities": [Code(code="1020", system="1.2.752.129.2.2.1.26")],
                    "licensed_professions": [Code(code="LK", system="1.2.752.129.2.2.1.4")],
                    "unit": unit,
                }
            ),
            "recipients": [Code(code="FKASSA", system="KV_INTYGSMOTTAGARE")],
            "relations": [
                Relation(
                    type=Code(code="ERSATT", system="KV_RELATION"),
                    certificate_id=Identifier(system="TSTNMT2321000156-1077", value="old-1"),
                )
            ],
            "statuses": [
                Status(
                    part=Code(code="HSVARD", system="KV_PART"),
                    status=Code(code="SENT", system="KV_STATUS"),
                    at=datetime(2026, 1, 2, 10, 0, tzinfo=UTC),
                )
            ],
            "signature": signature,
        }
    )
    return docs


DOCS = _documents()


def _codec(kind: DocumentKind, fmt: Format) -> Any:
    codec = codec_for(kind, fmt)
    assert not isinstance(codec, Exception)
    return codec


def _strip(path: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", path)


def places(obj: Any, steps: list[str], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, Any]]:
    """Every concrete model path of a row's ``model`` (``[]`` = each item) with its value."""
    if not steps:
        yield prefix, obj
        return
    step, rest = steps[0], steps[1:]
    name = step.removesuffix("[]")
    value = getattr(obj, name, None)
    if value is None:
        return
    if step.endswith("[]"):
        for i, item in enumerate(value):
            yield from places(item, rest, (*prefix, name, i))
    else:
        yield from places(value, rest, (*prefix, name))


def get(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if obj is None:
            return None
        obj = obj[step] if isinstance(step, int) else getattr(obj, step)
    return obj


def put(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        items = list(obj)
        items[step] = put(obj[step], rest, value)
        return items
    return obj.model_copy(update={step: put(getattr(obj, step), rest, value)})


def fhir_hits(tree: dict[str, Any]) -> set[str]:
    """Where the marker is, as Resource.element.element (the Bundle's own elements as Bundle.)"""
    out: set[str] = set()

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k != "entry" or path != "Bundle":
                    walk(v, f"{path}.{k.lstrip('_')}")
        elif isinstance(value, list):
            for v in value:
                walk(v, path)
        elif isinstance(value, str) and MARK in value:
            out.add(path)

    walk(tree, "Bundle")
    for entry in tree["entry"]:
        walk(entry["resource"], entry["resource"]["resourceType"])
    return out


def xml_hits(data: bytes) -> set[str]:
    out: set[str] = set()
    for el in etree.fromstring(data).iter():
        if not isinstance(el.tag, str):
            continue
        steps = [etree.QName(a).localname for a in [*reversed(list(el.iterancestors())), el]]
        if el.text and MARK in el.text:
            out.add("/" + "/".join(steps))
    return out


def matches(path: str, row_path: str) -> bool:
    """``path`` is ``row_path``; ``value[x]`` stands for any value type; a reference row also
    holds a logical reference (``.identifier.value``) when it names no item."""
    pattern = re.escape(row_path).replace(r"value\[x\]", r"value[A-Z]\w*")
    return re.fullmatch(pattern + r"(\.identifier\.value)?", path) is not None


def rows_by_model(kind: DocumentKind) -> dict[str, list[FieldRow]]:
    out: dict[str, list[FieldRow]] = {}
    for row in load_mapping(str(kind)).fields:
        out.setdefault(row.model, []).append(row)
    return out


KINDS = list(DOCS)


@pytest.mark.parametrize("kind", KINDS)
def test_a_text_lands_at_exactly_its_rows_paths_and_reads_back(kind: DocumentKind) -> None:
    doc, fhir, xml = DOCS[kind], _codec(kind, Format.FHIR_JSON), _codec(kind, Format.XML)
    checked = 0
    for model, rows in rows_by_model(kind).items():
        for path, value in places(doc, model.split(".")):
            # systems come from a table, the signature is an XML element: neither is text
            if type(value) is not str or path[-1] in ("system", "signature"):
                continue
            marked = put(doc, path, f"{MARK}{checked}")
            f_out, x_out = fhir.render(marked), xml.render(marked)
            f_hits, x_hits = fhir_hits(orjson.loads(f_out)), xml_hits(x_out)
            where = f"{kind} {'.'.join(map(str, path))}"
            assert len(f_hits) == 1, (where, f_hits)
            hit = next(iter(f_hits))
            assert any(matches(hit, r.fhir) for r in rows), (where, hit, rows)
            assert x_hits == {r.xml for r in rows if r.xml}, (where, x_hits)
            in_xml = any(r.xml for r in rows)
            for codec, data in ((fhir, f_out), (xml, x_out))[: 2 if in_xml else 1]:
                back = codec.parse(data).document
                assert get(back, path) == f"{MARK}{checked}", (where, codec)
            checked += 1
    assert checked >= {DocumentKind.CERTIFICATE: 25}.get(kind, 30)


def _same_chain(a: str, b: str, sep: str = ".") -> bool:
    """One names an element, the other its value within three steps (``.valueString``,
    ``.coding.code``, ``.reference.identifier.value``; ``/cv``, ``/code``)."""
    short, long = sorted((a, b), key=len)
    return long.startswith(short + sep) and long[len(short) :].count(sep) <= 3


def _xml_paths(row_xml: str) -> list[str]:
    """A row's XML path; ``/a/b, c, d`` names the siblings /a/b, /a/c and /a/d."""
    first, *siblings = row_xml.split(", ")
    parent = first.rsplit("/", 1)[0]
    return [first, *(f"{parent}/{s}" for s in siblings)]


def _fhir_place(path: str, tree: dict[str, Any]) -> str:
    m = re.match(r"Bundle\.entry\[(\d+)\]\.resource", path)
    if m is not None:
        path = tree["entry"][int(m.group(1))]["resource"]["resourceType"] + path[m.end() :]
    return _strip(path)


@pytest.mark.parametrize("kind", KINDS)
def test_every_row_is_where_the_readers_find_it(kind: DocumentKind) -> None:
    """Every value (any type, text or not): reading the FHIR output maps it to the row's FHIR
    path (or, for structured values, an element on that path: a coding's concept, a
    reference's element), reading the XML output to its XML path; and every row is met."""
    doc, fhir, xml = DOCS[kind], _codec(kind, Format.FHIR_JSON), _codec(kind, Format.XML)
    f_out = fhir.render(doc)
    tree = orjson.loads(f_out)
    f_map = fhir.parse(f_out).source_map.materialise()
    x_source = xml.parse(xml.render(doc)).source_map
    unseen = {(r.model, r.fhir) for rows in rows_by_model(kind).values() for r in rows}
    for model, rows in rows_by_model(kind).items():
        for path, _ in places(doc, model.split(".")):
            where = f"{kind} {'.'.join(map(str, path))}"
            assert path in f_map, where
            found = _fhir_place(f_map[path].path, tree)
            row = next((r for r in rows if found == r.fhir or matches(found, r.fhir)), None)
            if row is None:  # the reader names the row's element or one on its path
                row = next((r for r in rows if _same_chain(found, r.fhir)), None)
            assert row is not None, (where, found, [r.fhir for r in rows])
            unseen.discard((row.model, row.fhir))
            if any(r.xml for r in rows):
                x_path = _strip(x_source.locate(path).path)
                candidates = [p for r in rows if r.xml for p in _xml_paths(r.xml)]
                assert any(x_path == c or _same_chain(x_path, c, "/") for c in candidates), (
                    where,
                    x_path,
                )
    assert unseen == set(), unseen


# -- URIs are data ----------------------------------------------------------------------------

#: XML namespaces are the format itself, not mapping data: they are formats/roots.py's.
URI_ALLOWED_IN: set[str] = set()


def test_no_uri_is_spelled_in_the_fhir_codecs() -> None:
    fhir_dir = Path(gateway.formats.fhir.__file__).parent
    # a URI in a string literal; the schemes alone ("urn:uuid:", "urn:oid:", "urn:") are fine
    literal = re.compile(r"""["'](https?://|urn:(?!uuid:|oid:)[a-z])""")
    found = [
        f"{p.name}:{n}"
        for p in sorted(fhir_dir.glob("*.py"))
        if p.name not in URI_ALLOWED_IN
        for n, line in enumerate(p.read_text("utf-8").splitlines(), 1)
        if literal.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []


def _declared(mapping: Mapping) -> set[str]:
    """The [urls] names a mapping file's own declarations use (the row engine reads them)."""
    used = set(mapping.bundle.values())
    for e in mapping.entries:
        used |= {e.profile, e.ref.rsplit(".", 1)[-1]}
    for row in mapping.fields:
        used |= {row.system, row.url}
    text = (MAPPINGS_DIR / f"{mapping.kind}.toml").read_text("utf-8")
    return used | {k for k in mapping.urls if f"{{{k}}}" in text}  # in fixed values


def test_every_uri_in_mappings_is_used() -> None:
    sources = "".join(
        p.read_text("utf-8") for p in Path(gateway.formats.fhir.__file__).parent.glob("*.py")
    )
    mappings = [load_mapping(str(kind)) for kind in DOCS]
    declared = {name for m in mappings for name in _declared(m)}
    unused = [k for k in systems.URI if f'"{k}"' not in sources and k not in declared]
    for m in mappings:
        unused += [k for k in m.urls if f'"{k}"' not in sources and k not in _declared(m)]
    assert unused == []


# -- a plain field is one row ----------------------------------------------------------------


def test_a_plain_field_is_one_row_the_engine_writes_and_reads() -> None:
    """docs/mappings/index.md's worked example: a date the return-to-work plan does not have
    yet (when it was last reviewed) is one URI and one row; no code writes or reads it."""
    from dataclasses import replace
    from datetime import date

    from gateway.documents.return_to_work import ReturnToWorkPlan
    from gateway.formats.fhir.engine import RowMapping
    from gateway.formats.fhir.tree import Reader

    class Reviewed(ReturnToWorkPlan):
        reviewed_on: date | None = None

    mapping = load_mapping("return-to-work-plan")
    url = f"{systems.BASE}/StructureDefinition/reviewed-on"
    row = FieldRow(model="reviewed_on", fhir="CarePlan.extension.valueDate", url="reviewed_on")
    mapping = replace(
        mapping, urls={**mapping.urls, "reviewed_on": url}, fields=(*mapping.fields, row)
    )
    engine = RowMapping(DocumentKind.RETURN_TO_WORK_PLAN, Reviewed, mapping=mapping)
    full = DOCS[DocumentKind.RETURN_TO_WORK_PLAN].model_dump()
    plan = Reviewed(**full, reviewed_on=date(2025, 5, 2))
    tree = engine.from_model(plan)
    careplan = tree["entry"][0]["resource"]
    assert careplan["extension"][-1] == {"url": url, "valueDate": "2025-05-02"}
    reader = Reader()
    assert engine.to_model(tree, reader) == plan
    assert reader.issues == []
    n = len(careplan["extension"]) - 1
    assert reader.source_map.paths[("reviewed_on",)] == (
        f"Bundle.entry[0].resource.extension[{n}].valueDate"
    )
    careplan["extension"][-1]["valueDate"] = "2025-13-01"  # read as every date is
    reader = Reader()
    assert engine.to_model(tree, reader).reviewed_on is None
    assert [(i.code, i.location.path) for i in reader.issues] == [
        ("FHIR-STRUCTURE", f"Bundle.entry[0].resource.extension[{n}].valueDate")
    ]
