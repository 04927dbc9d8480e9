"""CPU µs per document, stage by stage, of the tree on ``PYTHONPATH`` and of the floor, over
the first N files of a directory; prints JSON. Run by bench_batch.py once per tree.

Each stage is timed on its own inputs (the trees parsed, the data read, the models built by
the stages before it), then the whole: ``rest`` is what the whole costs beyond its stages
(freeing the tree, caches, the glue), so the rows add up to the whole. CPU time of this
process.

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


def best_us(fn: Callable[[Any], object], inputs: list[Any], repeats: int) -> float:
    """CPU µs per call of ``fn`` over ``inputs``: the best of ``repeats`` passes."""
    for x in inputs:  # warm: schemas, rule modules, caches
        fn(x)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for x in inputs:
            fn(x)
        best = min(best, time.process_time() - t0)
    return best / len(inputs) * 1e6


def ours(sources: list[str], repeats: int) -> dict[str, float]:
    """Each stage of `gateway validate` on its own inputs (made by the stages before it),
    then the whole; ``rest`` is what the whole costs beyond the stages."""
    data = [read_source(s) for s in sources]
    roots = [parse_xml(d).root for d in data if isinstance(d, bytes)]
    readers = [CertificateReader() for _ in roots]
    found = [r.read_data(root) for r, root in zip(readers, roots, strict=True)]
    docs = [Certificate.model_validate(f) for f in found if f is not None]
    check_rules = rule_check(docs[0].kind)
    findings = [
        (list(check_rules(Certificate.model_validate(f))), r)
        for f, r in zip(found, readers, strict=True)
        if f is not None
    ]
    out = {
        "read": best_us(read_source, sources, repeats),
        "detect": best_us(detect, data, repeats),
        "parse": best_us(parse_xml, data, repeats),
        "xsd": best_us(lambda root: validate_tree(SCHEMA, root), roots, repeats),
        "reader": best_us(lambda root: CertificateReader().read_data(root), roots, repeats),
        "model": best_us(Certificate.model_validate, [f for f in found if f], repeats),
        "rules": best_us(lambda doc: list(check_rules(doc)), docs, repeats),
        # a fresh source map each time: locations are worked out once per document
        "locate": best_us(lambda fr: locate(fr[0], fr[1].source_map()), findings, repeats),
    }
    whole = best_us(lambda s: check(s, settings=SETTINGS), sources, repeats)
    out["rest"] = whole - sum(out.values())  # validate_bytes' own work, the batch's Result
    # the stages counted per document of the batch (a few files are not certificates)
    return out


def floor(sources: list[str], repeats: int) -> dict[str, float]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(INERA_XSD), parser))
    data = [Path(s).read_bytes() for s in sources]
    roots = [etree.fromstring(d, parser) for d in data]
    out = {
        "read": best_us(lambda s: Path(s).read_bytes(), sources, repeats),
        "parse": best_us(lambda d: etree.fromstring(d, parser), data, repeats),
        "xsd": best_us(schema.validate, roots, repeats),
    }
    whole = best_us(
        lambda s: schema.validate(etree.fromstring(Path(s).read_bytes(), parser)), sources, repeats
    )
    out["rest"] = whole - sum(out.values())
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
        "floor": floor(sources, args.repeats),
        "ours": ours(sources, args.repeats),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
