"""Throughput of the policy step (`gateway redact`'s core) beside validation, per document,
and the free-text scanner's false-positive rate.

For each of Inera's real certificates and each valid fixture: validate (parse + XSD + model +
business rules), redact (the Content Filter alone on the parsed model), the full transfer
(validate + redact + render for the recipient), and redact's cost as a multiple of validating
the same document (issue 9's budget: at most 1.5x). Then the scanner over every text of the
valid fixtures and of Inera's samples outside their diagnosis fields: how many it would
withhold (each one a false positive), and its speed; and, where Debian's Swedish word list is
installed, how many of its words the scanner withholds.

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
from gateway.policy.diagnosis import diagnosis_terms, texts_outside_diagnosis
from gateway.policy.free_text import own_diagnoses
from gateway.policy.repertoire import repertoire
from gateway.policy.texts import text_verdict
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
    widths = (52, 12, 12, 12, 14)
    print(row("document", "validate/s", "redact/s", "transfer/s", "redact/validate", widths=widths))
    for path in [*SAMPLES, *FIXTURES]:
        if not path.exists():
            continue
        data = path.read_bytes()
        v = validate_bytes(data, overrides=overrides)
        doc = v.document
        if doc is None or v.format is None:
            print(row(path.name, "unreadable", widths=widths))
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
        ratio = f"{rates[0] / rates[1]:.2f}x"  # time of redact / time of validate
        print(row(name, *(f"{r:,.0f}" for r in rates), ratio, widths=widths))
    false_positives(overrides)


def false_positives(overrides: SeverityOverrides) -> None:
    """The scanner over every text outside the diagnosis fields of the valid fixtures and of
    Inera's samples: none names a diagnosis, so each one withheld is a false positive."""
    paths = [
        p
        for p in sorted(FIXTURES_DIR.rglob("*"))
        if p.is_file() and (not p.name.endswith(".json") or p.name.endswith(".fhir.json"))
    ]
    corpus: list[tuple[str, bool, object]] = []
    for path in [*paths, *SAMPLES]:
        v = validate_bytes(path.read_bytes(), overrides=overrides)
        if v.document is None or (path.is_relative_to(FIXTURES_DIR) and not v.valid):
            continue
        own = own_diagnoses(*diagnosis_terms(v.document))
        corpus += [(text, ident, own) for text, ident in texts_outside_diagnosis(v.document)]
    # each text judged as an employer route judges it: the repertoire, then the scanner (in
    # identifier mode for identifier fields)
    latin = repertoire("latin")
    withheld = [
        text
        for text, ident, own in corpus
        if text_verdict(text, own, latin, identifier=ident) is not None  # type: ignore[arg-type]
    ]
    chars = sum(len(t) for t, _, _ in corpus)

    def scan_all() -> None:
        for text, ident, own in corpus:
            text_verdict(text, own, latin, identifier=ident)  # type: ignore[arg-type]

    rate = per_second(scan_all)
    print()
    print(
        f"false positives: {len(withheld)} of {len(corpus)} texts withheld "
        f"({len(withheld) / max(len(corpus), 1):.2%}); scan: {rate * len(corpus):,.0f} texts/s, "
        f"{rate * chars / 1e6:.1f} M chars/s"
    )


#: Debian's Swedish word list (package ``wswedish``), Latin-1, one word a line.
WORD_LIST = Path("/usr/share/dict/swedish")


def word_list() -> None:
    """How many words of a Swedish dictionary the scanner withholds (each a listed term, its
    inflection or compound, or a word in another sense; docs/policy.md). Skipped when the list
    is not installed (``apt-get install wswedish``)."""
    from gateway.policy.free_text import scan

    if not WORD_LIST.exists():
        print(f"word list: {WORD_LIST} not installed (apt-get install wswedish); skipped")
        return
    words = [w.strip() for w in WORD_LIST.read_text("latin-1").splitlines() if w.strip()]
    flagged = sum(1 for w in words if scan(w) is not None)
    print(f"word list: {flagged:,} of {len(words):,} words of {WORD_LIST} withheld")


if __name__ == "__main__":
    main()
    word_list()
