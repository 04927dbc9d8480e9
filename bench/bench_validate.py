"""Throughput of `gateway validate`'s core on Inera's real samples, next to the floor.

Floor: bare lxml parse + XSD validation of the same bytes against Inera's own XSD.
Ours: detection + hardened parse + our XSD + mapping to the model + every business rule.
Stages: the same work built up step by step (each column includes the ones before it), so
the run shows where the cost over the floor arises. "touch" is the least any Python reader
of the tree pays: reading each element's tag and text once.
Also: `gateway validate FILE` wall time including process start.

    .venv/bin/python bench/bench_validate.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import per_second, row

from gateway import PROJECT_ROOT
from gateway.documents.certificate import Certificate
from gateway.documents.issues import SeverityOverrides
from gateway.formats.rivta.certificate_reader import CertificateReader
from gateway.formats.rivta.register_certificate import SCHEMA_PATH
from gateway.formats.xmlsafe import parse_xml
from gateway.formats.xsd import load_schema, validate_tree
from gateway.validation.engine import check_document
from gateway.validation.service import validate_bytes

INTEROP = PROJECT_ROOT.parent / "shared" / "interop"
SAMPLES = sorted((INTEROP / "sklintyg").glob("*.RegisterCertificate.xml"))
INERA_XSD = (
    INTEROP
    / "rivta/interactions/RegisterCertificateInteraction"
    / "RegisterCertificateResponder_3.1.xsd"
)
STAGES = ("parse+xsd", "+touch", "+read", "+model", "+rules")


def stages(data: bytes) -> list[Callable[[], object]]:
    """Cumulative stages of the codec and validator on ``data`` (our schema, our parser)."""
    schema = load_schema(SCHEMA_PATH)

    def parsed() -> etree._Element:
        root = parse_xml(data).root
        assert root is not None
        validate_tree(schema, root)
        return root

    def touch() -> None:
        for el in parsed().iter():
            el.tag, el.text  # noqa: B018  # the attribute access is the work measured

    def read() -> None:
        CertificateReader().read_data(parsed())

    def model() -> None:
        Certificate.model_validate(CertificateReader().read_data(parsed()))

    def rules() -> None:
        reader = CertificateReader()
        document = reader.read(parsed())
        assert document is not None
        check_document(document, reader.source_map())

    return [parsed, touch, read, model, rules]


def main() -> None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(INERA_XSD), parser))
    overrides = SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"])
    widths = (52, 11, 11, 10)
    print(row("document (bytes)", "floor doc/s", "ours doc/s", "ours/floor", widths=widths))
    ratios: list[float] = []
    staged: list[list[float]] = []
    for path in SAMPLES:
        data = path.read_bytes()

        def floor(data: bytes = data) -> None:
            schema.validate(etree.fromstring(data, parser))

        def ours(data: bytes = data) -> None:
            validate_bytes(data, overrides=overrides)

        f, o = per_second(floor), per_second(ours)
        ratios.append(f / o)
        staged.append([f / per_second(stage, min_time=0.3) for stage in stages(data)])
        name = f"{path.name.removesuffix('.RegisterCertificate.xml')} ({len(data)})"
        print(row(name, f"{f:,.0f}", f"{o:,.0f}", f"{f / o:.2f}x", widths=widths))
    print(row("median cost ratio (target <= 2x)", "", "", f"{median(ratios):.2f}x", widths=widths))

    print()
    stage_widths = (52, *(10 for _ in STAGES))
    print(row("cost over the floor, stage by stage", *STAGES, widths=stage_widths))
    for path, costs in zip(SAMPLES, staged, strict=True):
        name = path.name.removesuffix(".RegisterCertificate.xml")
        print(row(name, *(f"{c:.2f}x" for c in costs), widths=stage_widths))
    medians = [median(costs[i] for costs in staged) for i in range(len(STAGES))]
    print(row("median", *(f"{c:.2f}x" for c in medians), widths=stage_widths))

    full = INTEROP / "sklintyg" / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
    gateway = [sys.executable, "-m", "gateway", "validate", str(full)]
    bare = [sys.executable, "-c", "pass"]
    walls: dict[str, float] = {}
    for name, cmd in (("python -c pass", bare), ("gateway validate FILE", gateway)):
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        walls[name] = median(times)
    print()
    print(row("process (median of 7)", "wall ms", widths=widths))
    for name, t in walls.items():
        print(row(name, f"{t * 1000:.0f}", widths=widths))
    print(row("target: gateway validate FILE <= 1000 ms", widths=widths))


if __name__ == "__main__":
    main()
