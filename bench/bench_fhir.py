"""FHIR throughput: validate + translate a certificate, next to bare orjson and fhir.resources.

Run: ``.venv/bin/python bench/bench_fhir.py``. The target: reading a FHIR JSON message into
the canonical model with every check (shape, systems, references, business rules) costs at
most 20x a bare ``orjson.loads`` of the same bytes.

Besides wall time, each case's CPU time of this process (``time.process_time``) and its ratio:
on a shared, loaded machine the wall-time ratios swing with the neighbours' load, the CPU-time
ratio much less.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import per_second, row

from gateway import PROJECT_ROOT
from gateway.formats.fhir.codec import FhirJsonCodec, FhirXmlCodec
from gateway.formats.rivta.register_certificate import RegisterCertificateCodec
from gateway.validation.service import validate_bytes

SAMPLE = (
    PROJECT_ROOT.parent / "shared/interop/sklintyg/fk7804-lisjp-v1-full.RegisterCertificate.xml"
)


def cpu_each(fn: Callable[[], object], *, min_time: float = 0.3, repeats: int = 7) -> float:
    """CPU seconds per call: the median of ``repeats`` batches of at least ``min_time``."""
    n = 1
    while True:
        t0 = time.process_time()
        for _ in range(n):
            fn()
        if time.process_time() - t0 >= min_time / 5:
            break
        n *= 2
    each = []
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        each.append((time.process_time() - t0) / n)
    return median(each)


def main() -> None:
    from fhir.resources.R4B.bundle import Bundle
    from lxml import etree

    cert = RegisterCertificateCodec().parse(SAMPLE.read_bytes()).document
    assert cert is not None
    fj, fx = FhirJsonCodec(), FhirXmlCodec()
    js, xs = fj.render(cert), fx.render(cert)
    compact = orjson.dumps(orjson.loads(js))
    assert not validate_bytes(js).issues and not validate_bytes(xs).issues
    print(f"FK7804 full sample: FHIR JSON {len(js)} bytes, FHIR XML {len(xs)} bytes")
    widths = (44, 12, 10, 9, 10, 9)
    print(row("", "per second", "us each", "x orjson", "CPU us", "x CPU", widths=widths))
    base = per_second(lambda: orjson.loads(js))
    cpu_base = cpu_each(lambda: orjson.loads(js))
    cases = [
        ("orjson.loads (floor)", lambda: orjson.loads(js)),
        ("FHIR JSON parse -> model (codec)", lambda: fj.parse(js)),
        ("FHIR JSON validate (codec + rules)", lambda: validate_bytes(js)),
        ("FHIR JSON compact validate", lambda: validate_bytes(compact)),
        ("model -> FHIR JSON (render)", lambda: fj.render(cert)),
        ("lxml parse of the FHIR XML (floor)", lambda: etree.fromstring(xs)),
        ("FHIR XML validate (codec + rules)", lambda: validate_bytes(xs)),
        ("fhir.resources Bundle.model_validate_json", lambda: Bundle.model_validate_json(js)),
    ]
    for name, fn in cases:
        rate = base if name.startswith("orjson") else per_second(fn)
        cpu = cpu_base if name.startswith("orjson") else cpu_each(fn)
        cells = (f"{rate:,.0f}", f"{1e6 / rate:,.1f}", f"{base / rate:,.1f}")
        cells += (f"{cpu * 1e6:,.1f}", f"{cpu / cpu_base:,.1f}")
        print(row(name, *cells, widths=widths))


if __name__ == "__main__":
    main()
