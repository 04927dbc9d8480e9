"""Issue 9's classes 2 and 3, case by case, on the rendered bytes: every notation the red team
got through, planted in every text field of a real document of each kind that goes to
employers, arriving in every input format, leaves in no output format; and every spelling of
a diagnosis code system in a certificate's issuer.

The hypothesis properties in test_policy_properties.py do the same at random; this is the
fixed matrix, so that a regression names the notation, the kind and the format.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from strategies_policy import (
    DIAGNOSTIC_SYSTEMS,
    EMPLOYER_ORG,
    NOTATIONS,
    output_formats,
    render,
    visible_text,
)

from gateway import FIXTURES_DIR, PROJECT_ROOT
from gateway.documents import Certificate, Document, Recipient
from gateway.documents.common import Code, Consent, ConsentMethod, ConsentScope, ConsentStatus
from gateway.documents.consent import purpose_code
from gateway.documents.issues import SeverityOverrides
from gateway.formats.base import Format
from gateway.formats.registry import codec_for
from gateway.policy import apply_policy
from gateway.policy.allowlist import IDENTIFYING
from gateway.policy.free_text import fold
from gateway.validation.service import validate_bytes

SAMPLE = PROJECT_ROOT.parent / "shared" / "interop" / "sklintyg"
DOCUMENTS = {
    "ag7804": SAMPLE / "ag7804-v1-full-diagnosis-shared.RegisterCertificate.xml",
    "ag114": SAMPLE / "ag114-v1-maxed.RegisterCertificate.xml",
    "sip": FIXTURES_DIR / "sip" / "valid-four-principals.xml",
    "plan": FIXTURES_DIR / "return-to-work-plan" / "valid-plan-not-needed.xml",
}
AT = datetime(2026, 1, 1, tzinfo=UTC)
#: Fields that are not free text in any sense: planting there breaks the document's
#: structure (a date, a yes/no, an enumeration), which the readers refuse before any policy.
_STRUCTURAL_PARTS = frozenset({"1.2", "10.2", "27.1", "33.1", "34.1", "103.1", "6.1", "9.1"})


def _read(name: str) -> Document:
    v = validate_bytes(
        DOCUMENTS[name].read_bytes(), overrides=SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"])
    )
    assert v.document is not None
    return v.document


def _plant(obj: object, text: str, name: str = "") -> object:
    """``text`` in every free or structured text of ``obj`` a sender could fill with anything
    (not identifiers and references, which would make the document unreadable)."""
    from enum import Enum

    from pydantic import BaseModel

    if isinstance(obj, str) and not isinstance(obj, Enum):
        return obj if name in IDENTIFYING or not obj.strip() else text
    if isinstance(obj, BaseModel):
        updates = {}
        for field in type(obj).model_fields:
            if field in ("kind", "signature", "type_version", "consent"):
                continue
            if field == "parts":  # certificate answers: their text parts, below
                continue
            value = getattr(obj, field)
            new = _plant(value, text, field)
            if new is not value:
                updates[field] = new
        if hasattr(obj, "parts"):  # certificate answers: the text parts
            parts = [
                p.model_copy(update={"value": text})
                if isinstance(p.value, str)
                and p.id not in _STRUCTURAL_PARTS
                and "." in p.id
                and p.value.strip()
                and not p.value.replace("-", "").isdigit()
                and p.value not in ("true", "false")
                else p
                for p in obj.parts
            ]
            updates["parts"] = parts
        return obj.model_copy(update=updates) if updates else obj
    if isinstance(obj, list):
        return [_plant(v, text, name) for v in obj]
    return obj


def _consent(doc: Document) -> Consent | None:
    purpose = {"certificate": "sick-pay", "sip": "sip"}.get(str(doc.kind))
    if purpose is None:
        return None
    person = getattr(doc, "patient", None)
    assert person is not None
    return Consent(
        id="c-leaks",
        status=ConsentStatus.ACTIVE,
        scope=ConsentScope(kind=doc.kind),
        given_by=person.id,
        given_at=AT - timedelta(days=400),
        method=ConsentMethod.DIGITAL,
        recipients=[Recipient.EMPLOYER],
        purposes=[purpose_code(purpose)],
        organisations=[EMPLOYER_ORG],
    )


CASES = [
    (name, fmt, notation)
    for name in DOCUMENTS
    for fmt in (Format.XML, Format.FHIR_JSON, Format.FHIR_XML)
    for notation in NOTATIONS[:: 3 if name in ("ag7804", "ag114") else 5]
]


@pytest.mark.parametrize(("name", "fmt", "notation"), CASES)
def test_a_notation_in_every_text_reaches_no_employer(
    name: str, fmt: Format, notation: str
) -> None:
    doc = _read(name)
    sentence = f"Mår bättre men {notation} enligt journal"
    planted = _plant(doc, sentence)
    assert isinstance(planted, type(doc))
    received = codec_for(doc.kind, fmt).parse(render(planted, fmt)).document  # type: ignore[union-attr]
    assert received is not None
    result = apply_policy(received, Recipient.EMPLOYER, consent=_consent(received), at=AT)
    assert not result.refused, result.report  # names, contacts, texts: withheld, not refused
    # withheld by the scanner, or before it by the employer's character repertoire
    codes = {e.code for e in result.report}
    assert codes & {"POLICY-FREE-TEXT-WITHHELD", "POLICY-TEXT-REPERTOIRE"}, codes
    assert notation not in str(result.report_dicts())  # the report never repeats the text
    out = result.document
    assert out is not None
    for out_fmt in output_formats(out.kind):
        visible = visible_text(render(out, out_fmt))
        assert sentence.casefold() not in visible, out_fmt
        token = rf"(?<![0-9a-z]){re.escape(fold(notation).casefold())}(?![0-9a-z])"  # not in a uuid
        assert not re.search(token, fold(visible).casefold()), out_fmt


@pytest.mark.parametrize("system", DIAGNOSTIC_SYSTEMS)
@pytest.mark.parametrize("fmt", [Format.XML, Format.FHIR_JSON, Format.FHIR_XML])
def test_a_diagnosis_code_in_any_system_spelling_reaches_no_employer(
    system: str, fmt: Format
) -> None:
    cert = _read("ag7804")
    assert isinstance(cert, Certificate)
    code = Code(code="F32.1", system=system, display="Medelsvår depressiv episod")
    issuer = cert.issuer.model_copy(
        update={"positions": [code], "specialities": [code], "licensed_professions": [code]}
    )
    data = render(cert.model_copy(update={"issuer": issuer}), fmt)
    assert b"F32.1" in data
    received = codec_for(cert.kind, fmt).parse(data).document  # type: ignore[union-attr]
    assert isinstance(received, Certificate)
    result = apply_policy(received, Recipient.EMPLOYER, consent=_consent(received), at=AT)
    out = result.document
    assert isinstance(out, Certificate)
    assert out.issuer.positions == [] and out.issuer.specialities == []
    for out_fmt in output_formats(out.kind):
        visible = visible_text(render(out, out_fmt))
        assert "f32.1" not in visible and "depressiv" not in visible, out_fmt
