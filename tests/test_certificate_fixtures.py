"""Certificate fixtures through the RIVTA codec and the certificate rules.

fixtures/certificate/<name>.xml with <name>.expected.json beside it: the codec must read every
fixture without a schema issue (invalid ones break a business rule, not the XSD), and codec
issues plus rule findings must be exactly the expected multiset.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway import FIXTURES_DIR
from gateway.formats.rivta.register_certificate import RegisterCertificateCodec
from gateway.validation.certificate_rules import check

FOLDER = FIXTURES_DIR / "certificate"
# RIVTA XML only: the FHIR fixtures beside them (.fhir.xml, .fhir.json) have their own tests.
DOCUMENTS = sorted(p for p in FOLDER.glob("*.xml") if not p.name.endswith(".fhir.xml"))
CODEC = RegisterCertificateCodec()


def expected(doc: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(doc.with_name(doc.stem + ".expected.json").read_bytes())
    return data


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.stem)
def test_certificate_fixture(doc: Path) -> None:
    exp = expected(doc)
    parsed = CODEC.parse(doc.read_bytes())
    assert parsed.issues == []
    cert = parsed.document
    assert cert is not None
    found = list(check(cert))
    assert Counter((f.rule.code, f.rule.severity.value) for f in found) == Counter(
        (i["code"], i["severity"]) for i in exp["issues"]
    )
    assert exp["kind"] == "certificate"
    assert exp["format"] == "xml"
    assert exp["subtype"] == cert.type.value
    assert exp["valid"] is (not found)
    assert exp["rule"] == (None if exp["valid"] else found[0].rule.code)
    # Every finding is located in the document, not only at its root.
    for f in found:
        assert parsed.source_map.locate(f.path).line is not None


def test_enough_certificate_fixtures() -> None:
    outcomes = Counter(expected(d)["valid"] for d in DOCUMENTS)
    assert outcomes[True] >= 3
    assert outcomes[False] >= 6
    types = {expected(d)["subtype"] for d in DOCUMENTS if expected(d)["valid"]}
    assert types == {"FK7804", "AG7804", "AG1-14"}
    assert len({expected(d)["rule"] for d in DOCUMENTS}) >= 12
