"""The same document gives the same verdict and the same rule codes in every format, and
`gateway convert` translates between every pair of formats for every kind without loss."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import RIVTA, SAMPLES
from lxml import etree

from gateway import FIXTURES_DIR
from gateway.cli.explain import load_catalogue
from gateway.cli.main import main
from gateway.documents.issues import RULES, Issue, RuleKind, SeverityOverrides
from gateway.formats.base import Format
from gateway.formats.registry import codec_for, render
from gateway.harness.fixtures import Fixture, discover
from gateway.validation.service import Validation, validate_bytes

FORMATS = [Format.XML, Format.FHIR_JSON, Format.FHIR_XML]


def readable(f: Fixture) -> bool:
    """Fixtures whose every issue is a business rule: a model was read, nothing structural
    (as their expected outcome says, which test_fixtures.py holds them to: nothing is
    validated while the tests are collected)."""
    load_catalogue()  # every rule declared
    return f.expected["kind"] is not None and all(
        RULES[i["code"]].kind is RuleKind.BUSINESS for i in f.expected["issues"]
    )


READABLE = [f for f in discover(FIXTURES_DIR) if readable(f)]


def _id(f: Fixture) -> str:
    return f.path.relative_to(FIXTURES_DIR).as_posix()


def business_codes(r: Validation) -> Counter[tuple[str, str]]:
    return Counter((i.code, str(i.severity)) for i in r.issues)


@pytest.mark.parametrize("fixture", READABLE, ids=_id)
def test_same_verdict_and_codes_in_every_format(fixture: Fixture) -> None:
    original = validate_bytes(fixture.path.read_bytes())
    assert original.document is not None
    for fmt in FORMATS:
        codec = codec_for(original.document.kind, fmt)
        assert not isinstance(codec, Issue), codec
        rendered = codec.render(original.document)
        again = validate_bytes(rendered, source=f"{fixture.path.name} as {fmt}")
        assert again.document == original.document, fmt
        assert (again.valid, business_codes(again)) == (
            original.valid,
            business_codes(original),
        ), fmt


def test_there_are_readable_fixtures_of_every_kind_in_every_format() -> None:
    seen = {(f.expected["kind"], f.expected["format"]) for f in READABLE}
    kinds = {"certificate", "sip", "return-to-work-plan", "section4-notification"}
    assert seen == {(k, str(fmt)) for k in kinds for fmt in FORMATS}


VALID_XML = [f for f in READABLE if f.expected["valid"] and f.expected["format"] == "xml"]


@pytest.mark.parametrize("fixture", VALID_XML, ids=_id)
def test_convert_command_between_every_pair(
    fixture: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """xml -> every format -> every format, through the CLI, comes back to the same model."""
    original = validate_bytes(fixture.path.read_bytes()).document
    for first in FORMATS:
        a = tmp_path / f"a.{first}"
        assert main(["convert", str(fixture.path), "--to", str(first), "--output", str(a)]) == 0
        for second in FORMATS:
            b = tmp_path / f"b.{second}"
            assert main(["convert", str(a), "--to", str(second), "--output", str(b)]) == 0
            assert validate_bytes(b.read_bytes()).document == original, (first, second)
    capsys.readouterr()


INERA_XSD = (
    RIVTA / "interactions/RegisterCertificateInteraction/RegisterCertificateResponder_3.1.xsd"
)
SAMPLE_FILES = sorted(SAMPLES.glob("*.RegisterCertificate.xml"))


@pytest.fixture(scope="module")
def inera_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(INERA_XSD), parser))


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name.split(".")[0])
def test_inera_samples_through_fhir_and_back_to_ineras_xsd(
    sample: Path, inera_schema: etree.XMLSchema
) -> None:
    """Every sample -> FHIR JSON / FHIR XML -> RIVTA: valid against Inera's own XSD, the same
    answers, the same verdict (the made-up test personnummer's checksum rule downgraded)."""
    overrides = SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"])
    original = validate_bytes(sample.read_bytes(), overrides=overrides)
    assert original.document is not None
    assert original.valid is ("INVALID" not in sample.name)
    for fmt in (Format.FHIR_JSON, Format.FHIR_XML):
        via = validate_bytes(render(original.document, fmt), overrides=overrides)
        assert via.document == original.document
        rivta = render(via.document, Format.XML)
        assert inera_schema.validate(etree.fromstring(rivta)), inera_schema.error_log
        back = validate_bytes(rivta, overrides=overrides)
        assert back.document == original.document
        for result in (via, back):
            assert (result.valid, business_codes(result)) == (
                original.valid,
                business_codes(original),
            )
