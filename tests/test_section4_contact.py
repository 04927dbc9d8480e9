"""§4 minimisation to the letter (issue 9, class 5): the coordinator's telephone and e-mail
reach Försäkringskassan only as a telephone number and an e-mail address, from every input
format to every output format; anything else there is refused with a code."""

from __future__ import annotations

from pathlib import Path

import pytest
from strategies_policy import AT, COORDINATOR, UNIT, section4

from gateway.cli.main import main
from gateway.documents import Recipient
from gateway.documents.common import Contact, Identifier
from gateway.documents.issues import Issue
from gateway.formats.base import Format
from gateway.formats.registry import codec_for
from gateway.policy import apply_policy
from gateway.validation.contact_rules import email_problem, phone_problem

INPUTS = [Format.XML, Format.FHIR_JSON, Format.FHIR_XML]
OUTPUTS = ["xml", "fhir-json", "fhir-xml", "rivta-message"]
EXT = {Format.XML: "xml", Format.FHIR_JSON: "fhir.json", Format.FHIR_XML: "fhir.xml"}
SMUGGLED = {
    "phone": [
        "010-123 45 67 (psykosteamet, F20.0)",
        "010-123 45 67 F20",
        "F20.0",
        "psykosteamet",
        "010-123 45 67\n(F20.0)",
        "+46 10 123 45 67 ext. 6A70",
        "0101234567 20 0",  # digits only, but no valid number
    ],
    "email": [
        "psykosteamet@region.se (F20.0)",
        "psykosteamet F20.0",
        "Psykosteamet <psykos@region.se>",
        "psykos@region.invalid",
        '"F20.0"@region.se',
        "psykos@region.se, F20.0",
    ],
}
CASES = [(field, value) for field, values in SMUGGLED.items() for value in values]
GOOD = {
    "phone": ["010-123 45 67", "+46 10 123 45 67", "08-123 456 78", "+46101234567", "070-1234567"],
    "email": ["rehab.ekbacken@region.se", "koordinator@vardcentralen-angen.example"],
}


def test_the_checks() -> None:
    for field, values in GOOD.items():
        check = phone_problem if field == "phone" else email_problem
        assert [v for v in values if check(v) is not None] == []
    for field, value in CASES:
        check = phone_problem if field == "phone" else email_problem
        assert check(value) is not None, value


@pytest.mark.parametrize(("field", "value"), CASES)
def test_policy_refuses_what_is_not_a_number_or_address(field: str, value: str) -> None:
    doc = section4(coordinator=COORDINATOR.model_copy(update={field: value}))
    result = apply_policy(doc, Recipient.FORSAKRINGSKASSAN, at=AT)
    assert result.refused and result.document is None
    assert [(str(e.action), e.code, e.path) for e in result.report] == [
        ("refused", "POLICY-SECTION4-CONTACT", f"coordinator.{field}")
    ]
    assert "F20" not in result.report[0].message  # the report names the field, not the text


def _write(tmp_path: Path, coordinator: Contact, fmt: Format) -> Path:
    # SendMessageToRecipient also needs the unit's workplace code
    unit = UNIT.model_copy(
        update={"workplace_code": Identifier(system="1.2.752.29.4.71", value="1")}
    )
    doc = section4(coordinator=coordinator, unit=unit)
    codec = codec_for(doc.kind, fmt)
    assert not isinstance(codec, Issue), codec
    path = tmp_path / f"s4.{EXT[fmt]}"
    path.write_bytes(codec.render(doc))
    return path


@pytest.mark.parametrize("to", OUTPUTS)
@pytest.mark.parametrize("fmt", INPUTS, ids=str)
def test_redact_in_every_format(
    fmt: Format, to: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    at = ["--at", AT.isoformat()]
    good = _write(tmp_path, COORDINATOR, fmt)
    assert main(["redact", str(good), "--for", "forsakringskassan", "--to", to, *at]) == 0
    out, _ = capsysbinary.readouterr()
    assert b"010" in out  # the telephone number reaches Försäkringskassan
    for field, value in (("phone", SMUGGLED["phone"][0]), ("email", SMUGGLED["email"][0])):
        bad = _write(tmp_path, COORDINATOR.model_copy(update={field: value}), fmt)
        assert main(["redact", str(bad), "--for", "forsakringskassan", "--to", to, *at]) == 1
        out, err = capsysbinary.readouterr()
        assert out == b""
        assert f"S4-COORDINATOR-{field.upper()}".encode() in err
