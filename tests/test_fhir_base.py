"""Our own FHIR base URL is one setting (gateway/formats/fhir/base.py): everything the
gateway mints moves with it, the published artefacts are generated for it, and documents
written under the earlier base (the placeholder) read exactly as before.

A process fixes its base before the FHIR codecs load, so each case runs a gateway process of
its own with ``GATEWAY_FHIR_BASE_URL`` (or the option, or gateway.toml) set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from test_fhir_golden import corpus, record

from gateway import FIXTURES_DIR, SCHEMAS_DIR
from gateway.formats.fhir.base import BaseUrlError, configure, rebase
from gateway.formats.fhir.codec import FhirJsonCodec, FhirXmlCodec
from gateway.formats.fhir.systems import BASE, PLACEHOLDER

NEW = "https://fhir.region-exempel.se/gateway/fhir"
TESTS = Path(__file__).parent
JSON, XML = FhirJsonCodec(), FhirXmlCodec()


def _run(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, *argv],
        env={**os.environ, "PYTHONPATH": str(TESTS), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


#: Reads each file under the base of the environment: its record, as test_fhir_golden.py's.
READ = """
import sys, orjson
from pathlib import Path
from test_fhir_golden import record
from gateway.formats.fhir.codec import FhirJsonCodec, FhirXmlCodec
from gateway.formats.fhir.systems import BASE
codecs = {".json": FhirJsonCodec(), ".xml": FhirXmlCodec()}
out = {"base": BASE}
for name in sys.argv[1:]:
    out[name] = record(codecs[Path(name).suffix].parse(Path(name).read_bytes()))
print(orjson.dumps(out).decode())
"""


def _written_under_the_placeholder(tmp_path: Path) -> list[Path]:
    """Every FHIR fixture, and every corpus document as the gateway writes it today."""
    files = sorted(FIXTURES_DIR.rglob("*.fhir.*"))
    files = [f for f in files if ".expected." not in f.name and ".redaction." not in f.name]
    for i, (_name, document) in enumerate(corpus()):
        if i % 3 == 0:  # a third of them: every kind, most samples
            (tmp_path / f"{i}.json").write_bytes(JSON.render(document))
            (tmp_path / f"{i}.xml").write_bytes(XML.render(document))
    return files + sorted(tmp_path.glob("*.*"))


def test_a_document_written_under_the_placeholder_reads_the_same_under_a_new_base(
    tmp_path: Path,
) -> None:
    assert BASE == PLACEHOLDER  # the tests run with the placeholder
    files = _written_under_the_placeholder(tmp_path)
    assert any(PLACEHOLDER.encode() in f.read_bytes() for f in files)
    got = json.loads(_run("-c", READ, *map(str, files), env={"GATEWAY_FHIR_BASE_URL": NEW}))
    assert got.pop("base") == NEW
    for f in files:
        here = record((XML if f.suffix == ".xml" else JSON).parse(f.read_bytes()))
        there = orjson.loads(json.dumps(got[str(f)]).replace(NEW, PLACEHOLDER))  # in messages
        assert there == here, f


def test_what_a_new_base_writes_names_no_placeholder_and_reads_back(tmp_path: Path) -> None:
    doc = FIXTURES_DIR / "section4-notification" / "valid-refers-to-certificate.xml"
    env = {"GATEWAY_FHIR_BASE_URL": NEW}
    for to in ("fhir-json", "fhir-xml"):
        out = tmp_path / f"out.{to}"
        _run("-m", "gateway", "convert", str(doc), "--to", to, "--output", str(out), env=env)
        data = out.read_bytes()
        assert PLACEHOLDER.encode() not in data and NEW.encode() in data
        assert "valid (section4-notification" in _run(
            "-m", "gateway", "validate", str(out), env=env
        )


def test_every_fixture_keeps_its_outcome_under_a_new_base_set_in_gateway_toml(
    tmp_path: Path,
) -> None:
    (tmp_path / "gateway.toml").write_text(f'[fhir]\nbase_url = "{NEW}"\n')
    out = _run("-m", "gateway", "harness", "-q", "--fixtures", str(FIXTURES_DIR), cwd=tmp_path)
    assert out.strip().endswith("0 failed"), out[-500:]


def test_the_published_artefacts_are_generated_for_the_base(tmp_path: Path) -> None:
    _run("-m", "gateway", "--fhir-base-url", NEW, "fhir-artefacts", "--output", str(tmp_path))
    source = {p.relative_to(SCHEMAS_DIR / "fhir") for p in (SCHEMAS_DIR / "fhir").rglob("*.json")}
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*.json")}
    assert written == source - {Path("r4-elements.json")}
    for path in written:
        text = (tmp_path / path).read_text("utf-8")
        assert PLACEHOLDER not in text, path
        orjson.loads(text)
    sd = orjson.loads(
        (tmp_path / "extensions/StructureDefinition-sending-region.json").read_bytes()
    )
    assert sd["url"] == f"{NEW}/StructureDefinition/sending-region"


def test_rebase_touches_uris_only() -> None:
    text = f"Se {PLACEHOLDER}/CodeSystem/x"
    tree = {
        "resourceType": "Communication",
        "meta": {"profile": [f"{PLACEHOLDER}/StructureDefinition/p"]},
        "extension": [{"url": f"{PLACEHOLDER}/StructureDefinition/e", "valueString": text}],
        "identifier": [{"system": f"{PLACEHOLDER}/sid/s", "value": "1"}],
        "note": [{"text": text}],
    }
    rebase(tree, orjson.dumps(tree), NEW, (PLACEHOLDER,))
    assert tree == {
        "resourceType": "Communication",
        "meta": {"profile": [f"{NEW}/StructureDefinition/p"]},
        "extension": [{"url": f"{NEW}/StructureDefinition/e", "valueString": text}],
        "identifier": [{"system": f"{NEW}/sid/s", "value": "1"}],
        "note": [{"text": text}],
    }


def test_the_base_is_fixed_before_the_codecs_load() -> None:
    configure(None)  # what they loaded with: fine
    with pytest.raises(BaseUrlError, match="after the FHIR codecs loaded"):
        configure(NEW)
    with pytest.raises(BaseUrlError, match="absolute http"):
        configure("fhir.region.se")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--fhir-base-url", "nope"], {}, "--fhir-base-url: the FHIR base URL must be"),
        ([], {"GATEWAY_FHIR_BASE_URL": "ftp://x"}, "GATEWAY_FHIR_BASE_URL: the FHIR base URL"),
    ],
)
def test_a_bad_base_is_a_usage_error_naming_the_setting(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", *argv, "mapping", "sip"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
