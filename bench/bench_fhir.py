"""FHIR throughput: validate + translate a certificate, next to bare orjson and fhir.resources.

Run: ``.venv/bin/python bench/bench_fhir.py``. The target: reading a FHIR JSON message into
the canonical model with every check (shape, systems, references, business rules) costs at
most 20x a bare ``orjson.loads`` of the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

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
    print(row("", "per second", "us each", "x orjson"))
    base = per_second(lambda: orjson.loads(js))
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
        print(row(name, f"{rate:,.0f}", f"{1e6 / rate:,.1f}", f"{base / rate:,.1f}"))


if __name__ == "__main__":
    main()
