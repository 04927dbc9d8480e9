"""The conventions integrators expect (issue 12): config anywhere and strict, inputs in any
Unicode encoding with messages that say what the input is, explain that forgives case,
complete help, a final newline on every output, --pretty, and a wheel that carries its data."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES

from gateway import MAPPINGS_DIR, PROJECT_ROOT, SCHEMAS_DIR
from gateway.cli.main import build_parser, main

FULL_FK = SAMPLES / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
BAD_PNR = SAMPLES / "fk7804-lisjp-v1-compact.RegisterCertificate.xml"
FHIR_JSON = PROJECT_ROOT / "fixtures" / "certificate" / "fk7804-fhir-valid.fhir.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_anywhere_on_the_line(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "ci.toml"
    cfg.write_text('[rules]\nwarn = ["ID-PERSON-CHECKSUM"]\n')
    opts = ["--config", str(cfg)]
    argv = (
        [*opts, "validate", str(BAD_PNR)]
        if where == "before"
        else ["validate", str(BAD_PNR), *opts]
    )
    assert run(capsys, *argv)[0] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[rule]\nwarn = ["X"]\n', "unknown section [rule] (did you mean 'rules'?)"),
        ('[rules]\nignor = ["X"]\n', "unknown key 'ignor' in [rules] (did you mean 'ignore'?)"),
        ("servre = 1\n", "unknown section [servre] (did you mean 'server'?)"),
        ("server = 1\n", "[server] must be a table"),
    ],
)  # fmt: skip
def test_unknown_config_keys_are_errors_naming_them(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(text)
    rc, out, err = run(capsys, "validate", str(FULL_FK), "--config", str(cfg))
    assert (rc, out) == (2, "")
    assert message in err


# --- inputs --------------------------------------------------------------------------------


def _declared(encoding: str) -> str:
    return FULL_FK.read_text("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"')


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("utf16-bom.xml", lambda: _declared("UTF-16").encode("utf-16")),
        ("utf16le-declared.xml", lambda: _declared("UTF-16").encode("utf-16-le")),
        ("utf16be-declared.xml", lambda: _declared("UTF-16").encode("utf-16-be")),
        ("utf32-bom.xml", lambda: _declared("UTF-32").encode("utf-32")),
        ("utf8-bom.xml", lambda: b"\xef\xbb\xbf" + FULL_FK.read_bytes()),
        ("utf8-bom.fhir.json", lambda: b"\xef\xbb\xbf" + FHIR_JSON.read_bytes()),
        ("utf16-bom.fhir.json", lambda: FHIR_JSON.read_text("utf-8").encode("utf-16")),
    ],
)
def test_boms_and_utf16_32_are_read(
    name: str, make: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(make())  # type: ignore[operator]
    rc, out, _ = run(capsys, "validate", str(path), "--format", "json")
    (r,) = json.loads(out)["results"]
    assert (rc, r["valid"], r["subtype"]) == (0, True, "FK7804"), r["issues"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty input"),
        (b" \n\t", "empty input (only blanks)"),
        (b"\xef\xbb\xbf", "empty input"),
        (b'[{"resourceType": "Bundle"}]', "JSON, but not a FHIR resource: a JSON array"),
        (b"42", "JSON, but not a FHIR resource: a JSON number"),
        (b"null", "JSON, but not a FHIR resource: JSON null"),
        (b'{"name": "x"}', "JSON, but not a FHIR resource: no resourceType"),
        (b"hello", "input is neither JSON nor XML"),
    ],
)
def test_messages_say_what_the_input_is(
    data: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(data)
    rc, out, _ = run(capsys, "validate", str(path), "--format", "json")
    (issue,) = json.loads(out)["results"][0]["issues"]
    assert rc == 1
    assert issue["message"].startswith(message)


# --- rule codes ----------------------------------------------------------------------------


def test_explain_ignores_case(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "explain", "id-person-checksum")
    assert rc == 0
    assert out.startswith("ID-PERSON-CHECKSUM: Personnummer check digit wrong")


def test_explain_suggests_near_codes(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "explain", "ID-PERSON-CHECKSM")
    assert (rc, out) == (2, "")
    assert "did you mean ID-PERSON-CHECKSUM" in err


def test_warn_of_a_policy_rule_says_it_cannot_be_downgraded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, _, err = run(capsys, "validate", str(FULL_FK), "--warn", "POLICY-DIAGNOSIS-WITHHELD")
    assert rc == 2
    assert "unknown" not in err
    assert "POLICY-DIAGNOSIS-WITHHELD is a policy rule and cannot be downgraded" in err


def test_an_unknown_warn_code_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "validate", str(FULL_FK), "--ignore", "ID-PERSON-CHECKSUMM")
    assert rc == 2
    assert "did you mean 'ID-PERSON-CHECKSUM'" in err


# --- help ----------------------------------------------------------------------------------


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"gateway": parser, **sub.choices}


def test_every_command_has_examples_and_every_option_help_with_an_example() -> None:
    missing = []
    for name, parser in _commands().items():
        if "examples:" not in (parser.epilog or ""):
            missing.append(f"{name}: no examples")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help or "e.g." not in action.help:
                missing.append(f"{label}: no help with an example")
    assert missing == []


def test_every_command_is_in_the_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in _commands():
        assert name in out
    assert "examples:" in out


# --- outputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", str(FULL_FK), "--to", "xml"],
        ["convert", str(FULL_FK), "--to", "fhir-json"],
        ["convert", str(FULL_FK), "--to", "fhir-xml"],
        ["convert", str(FULL_FK), "--to", "xml", "--pretty"],
        ["redact", str(FULL_FK), "--for", "employer"],
        ["explain", "ID-PERSON-CHECKSUM"],
        ["explain"],
        ["explain", "--markdown"],
        ["schema", "sip"],
        ["mapping", "sip"],
        ["validate", str(FULL_FK), "--format", "outcome"],
        ["validate", str(FULL_FK), "--format", "junit"],
    ],
)
def test_every_output_ends_with_a_newline(
    argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    main(argv)
    out = capsysbinary.readouterr().out
    assert out.endswith(b"\n") and not out.endswith(b"\n\n"), out[-40:]


def test_pretty_indents_rivta_like_fhir_xml(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    main(["convert", str(FULL_FK), "--to", "xml"])
    flat = capsysbinary.readouterr().out
    main(["convert", str(FULL_FK), "--to", "xml", "--pretty"])
    pretty = capsysbinary.readouterr().out
    assert flat.count(b"\n") <= 2 < 100 < pretty.count(b"\n")
    assert b"\n      <" in pretty  # nested elements indented
    from gateway.validation.service import validate_bytes

    assert validate_bytes(pretty).valid


# --- packaging and test tooling ------------------------------------------------------------


def test_package_data_covers_every_file_of_schemas_and_mappings() -> None:
    """setup.py maps schemas/ and mappings/ into the wheel by suffix: a file of another
    suffix would be left out of an installed gateway."""
    setup = (PROJECT_ROOT / "setup.py").read_text("utf-8")
    patterns = set(re.findall(r'"\*\*/\*(\.\w+)"', setup))
    for folder in (SCHEMAS_DIR, MAPPINGS_DIR):
        suffixes = {p.suffix for p in folder.rglob("*") if p.is_file()}
        assert suffixes <= patterns, (folder, suffixes - patterns)


def test_no_interpreted_class_subclasses_a_compiled_one() -> None:
    """mypyc's classes refuse interpreted subclasses at run time ("interpreted classes cannot
    inherit from compiled"): a module that subclasses a class of a module in setup.py's
    COMPILED must be compiled too, or the compiled build breaks where the pure one works."""
    import ast

    tree = ast.parse((PROJECT_ROOT / "setup.py").read_text("utf-8"))
    compiled: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            compiled = {ast.literal_eval(e) for e in node.value.elts}  # type: ignore[attr-defined]
    assert compiled
    names = {p.removesuffix(".py").replace("/", ".") for p in compiled}
    offenders = []
    for path in sorted((PROJECT_ROOT / "gateway").rglob("*.py")):
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        if rel in compiled:
            continue
        module = ast.parse(path.read_text("utf-8"))
        from_compiled = {
            alias.asname or alias.name
            for node in ast.walk(module)
            if isinstance(node, ast.ImportFrom) and node.module in names
            for alias in node.names
        }
        for node in ast.walk(module):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & from_compiled:
                    offenders.append(f"{rel}: class {node.name}({', '.join(sorted(bases))})")
    assert not offenders, offenders


def test_data_is_found_through_the_package() -> None:
    from importlib.resources import files

    import gateway

    # a source tree/editable install: the top-level folders; a wheel: inside the package
    packaged = Path(str(files(gateway))) / "schemas"
    assert (packaged if packaged.is_dir() else PROJECT_ROOT / "schemas") == SCHEMAS_DIR
    assert (SCHEMAS_DIR / "certificate" / "SendMessageToRecipient-2.xsd").is_file()


def test_pytest_prints_its_summary_line_with_q() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_docs.py"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert re.search(r"^\d+ passed in ", proc.stdout, re.M), proc.stdout[-300:]
