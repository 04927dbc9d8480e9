"""Throughput of the policy step (`gateway redact`'s core) beside validation, per document.

For each of Inera's real certificates and each valid fixture: validate (parse + XSD + model +
business rules), redact (the Content Filter alone on the parsed model), and the full transfer
(validate + redact + render for the recipient).

    .venv/bin/python bench/bench_policy.py
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import per_second, row

from gateway import FIXTURES_DIR, PROJECT_ROOT
from gateway.documents.issues import SeverityOverrides
from gateway.formats.registry import codec_for
from gateway.policy import apply_policy
from gateway.validation.service import validate_bytes

INTEROP = PROJECT_ROOT.parent / "shared" / "interop"
SAMPLES = sorted((INTEROP / "sklintyg").glob("*.RegisterCertificate.xml"))
FIXTURES = [
    FIXTURES_DIR / "sip" / "valid-four-principals.xml",
    FIXTURES_DIR / "return-to-work-plan" / "valid-plan-on-day-30.xml",
    FIXTURES_DIR / "section4-notification" / "valid-with-reason-warns.xml",
]
RECIPIENT = {"section4-notification": "forsakringskassan"}
AT = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    overrides = SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"])
    print(row("document", "validate/s", "redact/s", "transfer/s", widths=(52, 12, 12, 12)))
    for path in [*SAMPLES, *FIXTURES]:
        if not path.exists():
            continue
        data = path.read_bytes()
        v = validate_bytes(data, overrides=overrides)
        doc = v.document
        if doc is None or v.format is None:
            print(row(path.name, "unreadable", widths=(52, 12)))
            continue
        recipient = RECIPIENT.get(doc.kind.value, "employer")
        check = "consent" in type(doc).model_fields
        codec = codec_for(doc.kind, v.format)

        def validate(data: bytes = data) -> None:
            validate_bytes(data, overrides=overrides)

        def redact(doc: object = doc, recipient: str = recipient, check: bool = check) -> None:
            apply_policy(doc, recipient, at=AT, check_consent=check)  # type: ignore[arg-type]

        def transfer(
            data: bytes = data,
            recipient: str = recipient,
            check: bool = check,
            codec: object = codec,
        ) -> None:
            d = validate_bytes(data, overrides=overrides).document
            assert d is not None
            out = apply_policy(d, recipient, at=AT, check_consent=check).document
            if out is not None:
                codec.render(out)  # type: ignore[union-attr]

        rates = [per_second(f) for f in (validate, redact, transfer)]
        name = f"{path.name[:40]} -> {recipient[:8]}"
        print(row(name, *(f"{r:,.0f}" for r in rates), widths=(52, 12, 12, 12)))


if __name__ == "__main__":
    main()
