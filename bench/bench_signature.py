"""What the opaque signature costs, beside validating the same certificate (the baseline).

* check: a signature's shape, XML-DSig schema and canonical form (what every reader does for
  a signed certificate, and a writer for a form it has not seen);
* employer copy: validate + policy + render + signxml verification over the rendered bytes
  (a signature made here with a throwaway CA, as tests/signing.py makes it), beside the same
  certificate unsigned;
* as issued: Inera's signed FK7804 to Försäkringskassan (carried unchanged, not verified).

    .venv/bin/python bench/bench_signature.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # signing.py
from _timing import per_second, row
from signing import sign, signer

from gateway import FIXTURES_DIR, PROJECT_ROOT
from gateway.documents.issues import SeverityOverrides
from gateway.formats import signature
from gateway.formats.base import Format
from gateway.formats.registry import render
from gateway.transfer import prepare
from gateway.validation.service import validate_bytes

INERA_SIGNED = (
    PROJECT_ROOT.parent
    / "shared/interop/sklintyg/fk7804-lisjp-v1-signed-underskrift.RegisterCertificate.xml"
)
AT = datetime(2026, 1, 1, tzinfo=UTC)
WARN = SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"])


def main() -> None:
    anchors = Path(tempfile.mkdtemp()) / "ca.pem"
    anchors.write_bytes(signer().ca_pem)
    unsigned_doc = validate_bytes(
        (FIXTURES_DIR / "certificate" / "ag7804-valid-diagnosis-not-shared.xml").read_bytes()
    ).document
    assert unsigned_doc is not None
    unsigned = render(unsigned_doc, Format.XML)
    signed = sign(unsigned)
    inera = INERA_SIGNED.read_bytes()
    stored = validate_bytes(inera, overrides=WARN).document.signature  # type: ignore[union-attr]
    assert stored is not None

    def check() -> None:
        signature._KNOWN.clear()  # cold: as for a signature never seen before
        signature.read(stored.encode())

    def employer(data: bytes) -> None:
        doc = validate_bytes(data).document
        assert doc is not None
        t = prepare(
            doc, "employer", at=AT, to=Format.XML, check_consent=False, trust_anchors=anchors
        )
        assert t.payload is not None

    def as_issued() -> None:
        doc = validate_bytes(inera, overrides=WARN).document
        assert doc is not None
        t = prepare(doc, "forsakringskassan", at=AT, to=Format.XML)
        assert t.payload is not None and b"underskrift" in t.payload

    assert (
        b"SignatureValue"
        in prepare(
            validate_bytes(signed).document,
            "employer",
            at=AT,
            to=Format.XML,  # type: ignore[arg-type]
            check_consent=False,
            trust_anchors=anchors,
        ).payload
    )  # type: ignore[operator]
    widths = (58, 12, 10)
    print(row("what", "per second", "x base", widths=widths))
    cases = [
        (
            "validate Inera's signed FK7804 (baseline)",
            lambda: validate_bytes(inera, overrides=WARN),
        ),
        ("  check its signature (cold)", check),
        ("  as issued to forsakringskassan (validate+policy+render)", as_issued),
        ("validate the AG7804 fixture, signed (baseline)", lambda: validate_bytes(signed)),
        ("  employer copy, unsigned (validate+policy+render)", lambda: employer(unsigned)),
        ("  employer copy, signed and verified", lambda: employer(signed)),
    ]
    base = 1.0
    for name, fn in cases:
        rate = per_second(fn)
        if not name.startswith(" "):
            base = rate
        print(row(name, f"{rate:,.0f}", f"{base / rate:.2f}x", widths=widths))


if __name__ == "__main__":
    main()
