"""A modifierExtension changes what its element means, and FHIR says a receiver shall not
ignore one it does not understand: outside a Consent (whose evaluator reads its own and its
provisions' and refuses that consent) every one refuses the document, FHIR-MODIFIER-EXTENSION
at its FHIRPath, in FHIR JSON and FHIR XML, for every kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway import FIXTURES_DIR
from gateway.formats.base import Format
from gateway.formats.registry import render
from gateway.harness.fixtures import discover
from gateway.validation.service import validate_bytes

VALID_JSON = sorted(
    f.path
    for f in discover(FIXTURES_DIR)
    if f.expected["valid"] and f.path.name.endswith(".fhir.json")
)
MODIFIER = [{"url": "http://example.org/fhir/StructureDefinition/not", "valueBoolean": True}]


def _resources(tree: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(FHIRPath, resource) of every resource of a Bundle, nested Bundles' too."""
    out = []
    for i, e in enumerate(tree.get("entry", [])):
        path, res = f"Bundle.entry[{i}].resource", e["resource"]
        out.append((path, res))
        for j, sub in enumerate(res.get("entry", []) if res["resourceType"] == "Bundle" else []):
            out.append((f"{path}.entry[{j}].resource", sub["resource"]))
    return out


def _codes(data: bytes) -> dict[str, list[str]]:
    result = validate_bytes(data)
    out: dict[str, list[str]] = {}
    for i in result.issues:
        out.setdefault(i.code, []).append(i.location.path or "")
    return out


def test_every_kind_still_reads_as_valid_without_one() -> None:
    assert VALID_JSON and all(validate_bytes(p.read_bytes()).valid for p in VALID_JSON)


@pytest.mark.parametrize("path", VALID_JSON, ids=lambda p: p.name)
def test_a_modifier_extension_on_any_resource_but_a_consent_refuses(path: Path) -> None:
    tree = orjson.loads(path.read_bytes())
    targets = [(p, r) for p, r in _resources(tree) if r["resourceType"] != "Consent"]
    assert targets
    where, resource = targets[-1]
    resource["modifierExtension"] = MODIFIER
    result = validate_bytes(orjson.dumps(tree))
    assert not result.valid
    assert _codes(orjson.dumps(tree))["FHIR-MODIFIER-EXTENSION"] == [f"{where}.modifierExtension"]


def test_inside_an_element_and_in_fhir_xml_too() -> None:
    cert = FIXTURES_DIR / "certificate" / "fk7804-fhir-valid.fhir.json"
    tree = orjson.loads(cert.read_bytes())
    where, resource = next(
        (p, r) for p, r in _resources(tree) if r["resourceType"] == "QuestionnaireResponse"
    )
    resource["item"][0]["modifierExtension"] = MODIFIER
    data = orjson.dumps(tree)
    assert _codes(data)["FHIR-MODIFIER-EXTENSION"] == [f"{where}.item[0].modifierExtension"]
    document = validate_bytes(cert.read_bytes()).document
    assert document is not None
    xml = render(document, Format.FHIR_XML)
    marked = xml.replace(
        b"<item>",
        b'<item><modifierExtension url="http://example.org/x"><valueBoolean value="true"/>'
        b"</modifierExtension>",
        1,
    )
    assert marked != xml
    codes = _codes(marked)
    assert len(codes["FHIR-MODIFIER-EXTENSION"]) == 1


def test_a_consents_own_is_the_evaluators_not_a_document_error() -> None:
    """The document stays valid; the consent evaluator refuses the consent (tests/
    test_consent.py holds that part)."""
    found = [
        p
        for p in VALID_JSON
        if any(r["resourceType"] == "Consent" for _, r in _resources(orjson.loads(p.read_bytes())))
    ]
    assert found
    tree = orjson.loads(found[0].read_bytes())
    _, consent = next((p, r) for p, r in _resources(tree) if r["resourceType"] == "Consent")
    consent["modifierExtension"] = MODIFIER
    assert "FHIR-MODIFIER-EXTENSION" not in _codes(orjson.dumps(tree))
