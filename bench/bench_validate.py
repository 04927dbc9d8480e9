"""Throughput of `gateway validate`'s core on Inera's real samples, next to the floor.

Floor: bare lxml parse + XSD validation of the same bytes against Inera's own XSD.
Ours: detection + hardened parse + our XSD + mapping to the model + every business rule.
Also: `gateway validate FILE` wall time including process start.

    .venv/bin/python bench/bench_validate.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import per_second, row

from gateway import PROJECT_ROOT
from gateway.documents.issues import SeverityOverrides
from gateway.validation.service import validate_bytes

INTEROP = PROJECT_ROOT.parent / "shared" / "interop"
SAMPLES = sorted((INTEROP / "sklintyg").glob("*.RegisterCertificate.xml"))
INERA_XSD = (
    INTEROP
    / "rivta/interactions/RegisterCertificateInteraction"
    / "RegisterCertificateResponder_3.1.xsd"
)


def main() -> None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(INERA_XSD), parser))
    overrides = SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"])
    print(row("document (bytes)", "floor doc/s", "ours doc/s", "ours/floor"))
    ratios = []
    for path in SAMPLES:
        data = path.read_bytes()

        def floor(data: bytes = data) -> None:
            schema.validate(etree.fromstring(data, parser))

        def ours(data: bytes = data) -> None:
            validate_bytes(data, overrides=overrides)

        f, o = per_second(floor), per_second(ours)
        ratios.append(f / o)
        name = f"{path.name.removesuffix('.RegisterCertificate.xml')} ({len(data)})"
        print(row(name, f"{f:,.0f}", f"{o:,.0f}", f"{f / o:.2f}x"))
    print(row("median cost ratio (target <= 2x)", "", "", f"{median(ratios):.2f}x"))

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
    print(row("process (median of 7)", "wall ms", "", ""))
    for name, t in walls.items():
        print(row(name, f"{t * 1000:.0f}", "", ""))
    print(row("target: gateway validate FILE <= 1000 ms", "", "", ""))


if __name__ == "__main__":
    main()
