"""CPU µs per document, stage by stage, of the tree on ``PYTHONPATH`` and of the floor, over
the first N files of a directory; prints JSON. Run by bench_batch.py once per tree.

Each stage is timed with every stage before it (parse = read + detect + parse, and so on) and
reported as what it adds: timed alone a stage looks cheaper than it is inside the whole
(caches, freeing the tree). CPU time of this process, the best of the repeats.

    PYTHONPATH=TREE python bench/_stages.py DIR [--files 104] [--repeats 25]

Many short passes, the best one kept: on a shared machine the best pass is the one least
disturbed by the neighbours.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

import gateway
from gateway.cli.batch import Settings, check, read_source
from gateway.documents.certificate import Certificate
from gateway.formats.registry import detect
from gateway.formats.rivta.certificate_reader import CertificateReader
from gateway.formats.rivta.register_certificate import SCHEMA_PATH
from gateway.formats.xmlsafe import parse_xml
from gateway.formats.xsd import load_schema, validate_tree
from gateway.validation.engine import locate, rule_check

INERA_XSD = (
    Path(gateway.__file__).resolve().parent.parent.parent
    / "shared/interop/rivta/interactions/RegisterCertificateInteraction"
    / "RegisterCertificateResponder_3.1.xsd"
)
SCHEMA = load_schema(SCHEMA_PATH)
SETTINGS = Settings()


def _read_through_rules(source: str) -> tuple[list[Any], Any]:
    data = read_source(source)
    assert isinstance(data, bytes)
    detect(data)
    root = parse_xml(data).root
    assert root is not None
    validate_tree(SCHEMA, root)
    reader = CertificateReader()
    found = reader.read_data(root)
    if found is None:
        return [], reader
    document = Certificate.model_validate(found)
    return list(rule_check(document.kind)(document)), reader


def ours() -> dict[str, Callable[[str], object]]:
    """Cumulative stages of `gateway validate` on one file (RIVTA certificates)."""

    def read(s: str) -> object:
        return read_source(s)

    def detected(s: str) -> object:
        data = read_source(s)
        assert isinstance(data, bytes)
        return detect(data)

    def parsed(s: str) -> etree._Element:
        data = read_source(s)
        assert isinstance(data, bytes)
        detect(data)
        root = parse_xml(data).root
        assert root is not None
        return root

    def xsd(s: str) -> etree._Element:
        root = parsed(s)
        validate_tree(SCHEMA, root)
        return root

    def reader(s: str) -> object:
        return CertificateReader().read_data(xsd(s))

    def model(s: str) -> object:
        found = CertificateReader().read_data(xsd(s))
        return None if found is None else Certificate.model_validate(found)

    def rules(s: str) -> object:
        return _read_through_rules(s)

    def located(s: str) -> object:
        found, reader = _read_through_rules(s)
        return locate(found, reader.source_map())

    def whole(s: str) -> object:
        return check(s, settings=SETTINGS)

    return {
        "read": read,
        "detect": detected,
        "parse": parsed,
        "xsd": xsd,
        "reader": reader,
        "model": model,
        "rules": rules,
        "locate": located,
        "rest": whole,  # validate_bytes' own work, overrides, the batch's Result
    }


def floor() -> dict[str, Callable[[str], object]]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(INERA_XSD), parser))

    def read(s: str) -> object:
        return Path(s).read_bytes()

    def parse(s: str) -> object:
        return etree.fromstring(Path(s).read_bytes(), parser)

    def xsd(s: str) -> object:
        return schema.validate(etree.fromstring(Path(s).read_bytes(), parser))

    return {"read": read, "parse": parse, "xsd": xsd}


def best_us(fn: Callable[[str], object], sources: list[str], repeats: int) -> float:
    for s in sources:  # warm: schemas, rule modules, caches
        fn(s)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for s in sources:
            fn(s)
        best = min(best, time.process_time() - t0)
    return best / len(sources) * 1e6


def added(
    stages: dict[str, Callable[[str], object]], sources: list[str], repeats: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    before = 0.0
    for name, fn in stages.items():
        total = best_us(fn, sources, repeats)
        out[name] = total - before
        before = total
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--files", type=int, default=104)
    ap.add_argument("--repeats", type=int, default=25)
    args = ap.parse_args()
    sources = [str(p) for p in sorted(args.directory.rglob("*.xml"))[: args.files]]
    result = {
        "gateway": gateway.__file__,
        "floor": added(floor(), sources, args.repeats),
        "ours": added(ours(), sources, args.repeats),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
