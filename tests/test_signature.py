"""The certificate signature is opaque (issue 9, class 1): it is never parsed into the output
tree, carries nothing but one XML-DSig signature, and reaches an employer only if it verifies
over exactly the bytes the employer receives. Every attack in every input and output format,
asserted on the rendered bytes; signatures are made here with signxml and a throwaway CA."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from signing import sign, signer
from signxml.verifier import SignatureConfiguration, XMLVerifier
from strategies_certificate_header import SIGNATURE

from gateway import FIXTURES_DIR
from gateway.cli.main import main
from gateway.documents import Certificate, Recipient
from gateway.formats.base import CannotRender, Format
from gateway.formats.registry import render
from gateway.formats.rivta.namespaces import INTYG, SVAR, UNDERSKRIFT
from gateway.policy import apply_policy
from gateway.policy.report import PolicyResult
from gateway.transfer import render_copy
from gateway.validation.service import validate_bytes

MARKER = b"F321"
BASE = FIXTURES_DIR / "certificate" / "ag7804-valid-diagnosis-not-shared.xml"
OUTPUTS = (Format.XML, Format.FHIR_JSON, Format.FHIR_XML)
INPUTS = OUTPUTS
DS = "http://www.w3.org/2000/09/xmldsig#"
EXT32 = "urn:riv:clinicalprocess:healthcond:certificate:3.2"
CORE = "urn:riv:clinicalprocess:healthcond:certificate:3"
AT = datetime(2026, 1, 1, tzinfo=UTC)
UNCHECKED = "POLICY-CONSENT-NOT-CHECKED"


def base() -> Certificate:
    doc = validate_bytes(BASE.read_bytes()).document
    assert isinstance(doc, Certificate) and doc.signature is None
    return doc


# ---------------------------------------------------------------------------- the attacks


def _sig(inner: str = "", *, attrs: str = "", keyinfo: str = "", value: str = "c2ln") -> str:
    """A ds:Signature that follows the W3C schema, with room for what an attacker adds."""
    return (
        f'<ds:Signature xmlns:ds="{DS}"{attrs}><ds:SignedInfo>'
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        '<ds:Reference URI="">'
        '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        "<ds:DigestValue>ZGlnZXN0</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        f"<ds:SignatureValue>{value}</ds:SignatureValue>{keyinfo}{inner}</ds:Signature>"
    )


def _underskrift(content: str, attrs: str = "") -> bytes:
    return f'<ns5:underskrift xmlns:ns5="{EXT32}"{attrs}>{content}</ns5:underskrift>'.encode()


def _in_signed_info(node: str) -> str:
    return _sig().replace("<ds:SignedInfo>", f"<ds:SignedInfo>{node}")


SVAR6 = f'<svar xmlns="{CORE}" id="6"><delsvar id="6.2">F321 Medelsvår depression</delsvar></svar>'
XSLT = (
    '<ds:Reference URI=""><ds:Transforms>'
    '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116">'
    '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
    f'<xsl:template match="/">{SVAR6}</xsl:template></xsl:stylesheet>'
    "</ds:Transform></ds:Transforms>"
)

#: name -> the signature bytes as sent (RIVTA: the underskrift; FHIR: Bundle.signature.data)
MALFORMED: dict[str, bytes] = {
    "svar-as-signature": SVAR6.encode(),
    "svar-beside-signature": _underskrift(_sig() + SVAR6),
    "svar-in-object": _underskrift(_sig(f"<ds:Object>{SVAR6}</ds:Object>")),
    "text-in-object": _underskrift(_sig("<ds:Object>F321</ds:Object>")),
    "svar-in-keyinfo": _underskrift(_sig(keyinfo=f"<ds:KeyInfo>{SVAR6}</ds:KeyInfo>")),
    "comment": _underskrift(_in_signed_info("<!--F321-->")),
    "processing-instruction": _underskrift(_in_signed_info("<?x F321?>")),
    "text-beside-signature": _underskrift("F321" + _sig()),
    "attribute-on-underskrift": _underskrift(_sig(), ' dx="F321"'),
    "xslt-literal-svar": _underskrift(_sig().replace('<ds:Reference URI="">', XSLT)),
    "not-xml": b"F321 is not XML <<",
    "doctype-entity": b'<!DOCTYPE u [<!ENTITY e "F321">]><u>&e;</u>',
    "two-signatures": _underskrift(_sig() + _sig()),
    "not-xmldsig-schema": _underskrift(
        f'<ds:Signature xmlns:ds="{DS}"><ds:KeyName>F321</ds:KeyName></ds:Signature>'
    ),
}
#: Follow the XML-DSig schema and the gateway's shape, so the as-issued routes carry them
#: unchanged (Försäkringskassan sees the diagnosis anyway); an employer never gets them.
WELL_FORMED: dict[str, bytes] = {
    "keyname": _underskrift(
        _sig(keyinfo="<ds:KeyInfo><ds:KeyName>Depression F321</ds:KeyName></ds:KeyInfo>")
    ),
    "id-attribute": _underskrift(_sig(attrs=' Id="F321"')),
    "signature-value": _underskrift(_sig(value="F321")),
    "bare-ds-signature": _sig(
        keyinfo="<ds:KeyInfo><ds:KeyName>F321</ds:KeyName></ds:KeyInfo>"
    ).encode(),
}


def with_signature(fmt: Format, payload: bytes, doc: Certificate | None = None) -> bytes:
    """``doc`` in ``fmt`` with ``payload`` as its signature, placed as a sender would: RIVTA
    as the underskrift, FHIR base64 in Bundle.signature.data."""
    signed = (doc or base()).model_copy(update={"signature": SIGNATURE})
    out = render(signed, fmt)
    if fmt is Format.XML:  # RIVTA has a place for it: what a sender puts there
        if not payload.startswith(b"<ns5:underskrift"):
            open_tag = f'<ns5:underskrift xmlns:ns5="{EXT32}">'.encode()
            payload = open_tag + payload + b"</ns5:underskrift>"
        assert SIGNATURE.encode() in out
        return out.replace(SIGNATURE.encode(), payload)
    old = base64.b64encode(SIGNATURE.encode())
    assert old in out
    return out.replace(old, base64.b64encode(payload))


def convert(data: bytes, fmt: Format) -> bytes | None:
    result = validate_bytes(data)
    if not result.valid or result.document is None:
        return None
    return render(result.document, fmt)


def redact(
    data: bytes, recipient: Recipient, fmt: Format, anchors: Path | None = None
) -> tuple[bytes | None, PolicyResult | None]:
    result = validate_bytes(data)
    if not result.valid or result.document is None:
        return None, None
    # a preview: consent is another engineer's subject; the report then notes it unchecked
    outcome = apply_policy(result.document, recipient, at=AT, check_consent=False)
    if outcome.refused:
        return None, outcome
    try:
        return render_copy(outcome, fmt, trust_anchors=anchors)
    except CannotRender:
        return None, outcome


def codes(result: PolicyResult | None) -> set[str]:
    return {e.code for e in result.report} - {UNCHECKED} if result is not None else set()


def svar_ids(rivta: bytes) -> list[str | None]:
    intyg = etree.fromstring(rivta).find(INTYG)
    assert intyg is not None
    return [s.get("id") for s in intyg.iter(SVAR)]


# ----------------------------------------------------------------- malformed: never carried


@pytest.mark.parametrize("attack", MALFORMED, ids=str)
@pytest.mark.parametrize("source", INPUTS, ids=str)
def test_malformed_signature_is_refused_with_its_code_in_every_format(
    attack: str, source: Format
) -> None:
    data = with_signature(source, MALFORMED[attack])
    result = validate_bytes(data)
    assert not result.valid
    found = [i.code for i in result.issues]
    if source is Format.XML and attack in ("not-xml", "doctype-entity"):
        assert found == ["XML-SYNTAX"]  # inside a RIVTA document: the whole is not XML
    else:  # RIVTA: our XSD also speaks where the underskrift holds no lone ds element
        assert found[-1] == "CERT-SIGNATURE-MALFORMED", result.issues
        assert set(found[:-1]) <= ({"XSD-INVALID"} if source is Format.XML else set())
        assert isinstance(result.document, Certificate) and result.document.signature is None
    for target in OUTPUTS:
        assert convert(data, target) is None
        for recipient in (Recipient.EMPLOYER, Recipient.REGION, Recipient.OCCUPATIONAL_HEALTH):
            assert redact(data, recipient, target)[0] is None


@pytest.mark.parametrize("attack", MALFORMED, ids=str)
def test_malformed_signature_never_reaches_the_output_tree(attack: str) -> None:
    """Even a model built in code, past the readers, gets nothing spliced in: the writers
    check the stored form again and leave it out."""
    doc = base().model_copy(update={"signature": MALFORMED[attack].decode()})
    for target in OUTPUTS:
        out = render(doc, target)
        assert MARKER not in out
        assert b"underskrift" not in out and b"signature" not in out.lower()
    assert svar_ids(render(doc, Format.XML)) == svar_ids(render(base(), Format.XML))


@pytest.mark.parametrize("source", INPUTS, ids=str)
def test_the_reported_location_names_the_signature(source: Format) -> None:
    issue = validate_bytes(with_signature(source, MALFORMED["svar-in-object"])).issues[0]
    if source is Format.XML:
        assert issue.location.path is not None and issue.location.path.endswith("/underskrift")
        assert issue.location.line == 2  # the XML declaration is line 1
    else:
        assert issue.location.path == "Bundle.signature.data"
    assert "ds:Object" in issue.message and "F321" not in issue.message


# ---------------------------------------------- well-formed but unverified: as issued, or not


@pytest.mark.parametrize("attack", WELL_FORMED, ids=str)
@pytest.mark.parametrize("source", INPUTS, ids=str)
def test_unverified_signature_goes_unchanged_as_issued_and_never_to_an_employer(
    attack: str, source: Format
) -> None:
    data = with_signature(source, WELL_FORMED[attack])
    result = validate_bytes(data)
    assert result.valid, result.issues
    doc = result.document
    assert isinstance(doc, Certificate) and doc.signature is not None
    for target in OUTPUTS:
        # as issued (region): the same canonical signature, never anything outside it
        out, outcome = redact(data, Recipient.REGION, target)
        assert out is not None and codes(outcome) == set()
        if target is Format.XML:
            assert svar_ids(out) == svar_ids(render(base(), Format.XML))
            underskrift = etree.fromstring(out).find(f"{INTYG}/{UNDERSKRIFT}")
            assert underskrift is not None
            c14n = etree.tostring(underskrift, method="c14n", exclusive=True)
            assert c14n.decode() == doc.signature
        else:
            assert base64.b64encode(doc.signature.encode()) in out
        # the employer: dropped, and the report says why
        out, outcome = redact(data, Recipient.EMPLOYER, target)
        assert out is not None and MARKER not in out
        assert b"underskrift" not in out and b'"signature"' not in out
        assert "POLICY-SIGNATURE-UNVERIFIED" in codes(outcome)


def test_employer_report_says_why_the_signature_went() -> None:
    data = with_signature(Format.XML, WELL_FORMED["keyname"])
    anchors = _anchors_file()
    messages = {
        fmt: next(
            e.message
            for e in redact(data, Recipient.EMPLOYER, fmt, anchors)[1].report  # type: ignore[union-attr]
            if e.code == "POLICY-SIGNATURE-UNVERIFIED"
        )
        for fmt in OUTPUTS
    }
    assert "KeyName" in messages[Format.XML] and "F321" not in messages[Format.XML]
    assert "signs XML" in messages[Format.FHIR_JSON] and "signs XML" in messages[Format.FHIR_XML]


# --------------------------------------------------------------- a real signature: verified


@pytest.fixture(scope="module")
def anchors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _anchors_file(tmp_path_factory.mktemp("anchors"))


def _anchors_file(where: Path | None = None) -> Path:
    import tempfile

    path = Path(where or tempfile.mkdtemp()) / "ca.pem"
    path.write_bytes(signer().ca_pem)
    return path


def signed_base() -> bytes:
    return sign(render(base(), Format.XML))


def test_signed_copy_reaches_the_employer_and_verifies_over_the_bytes_sent(anchors: Path) -> None:
    out, outcome = redact(signed_base(), Recipient.EMPLOYER, Format.XML, anchors)
    assert out is not None and outcome is not None
    assert "POLICY-SIGNATURE-UNVERIFIED" not in codes(outcome)
    assert isinstance(outcome.document, Certificate) and outcome.document.signature is not None
    # an outsider's check of exactly the bytes the employer receives
    config = SignatureConfiguration(location=f"./{INTYG}/{UNDERSKRIFT}/")
    verified = XMLVerifier().verify(out, ca_pem_file=str(anchors), expect_config=config)
    assert not isinstance(verified, list)
    assert etree.QName(verified.signed_xml).localname == "RegisterCertificate"


def test_signed_copy_sent_as_fhir_drops_the_signature(anchors: Path) -> None:
    for fmt in (Format.FHIR_JSON, Format.FHIR_XML):
        out, outcome = redact(signed_base(), Recipient.EMPLOYER, fmt, anchors)
        assert out is not None and b"signature" not in out.lower()
        assert "POLICY-SIGNATURE-UNVERIFIED" in codes(outcome)


def test_signature_without_trust_anchors_or_from_another_ca_is_dropped(
    tmp_path: Path, anchors: Path
) -> None:
    out, outcome = redact(signed_base(), Recipient.EMPLOYER, Format.XML, None)
    assert out is not None and b"underskrift" not in out
    assert "POLICY-SIGNATURE-UNVERIFIED" in codes(outcome)
    other = tmp_path / "other.pem"
    other.write_bytes(signer("Another CA").ca_pem)
    out, outcome = redact(signed_base(), Recipient.EMPLOYER, Format.XML, other)
    assert out is not None and b"underskrift" not in out
    assert any("does not verify" in e.message for e in outcome.report)  # type: ignore[union-attr]


def test_tampered_signed_certificate_loses_its_signature(anchors: Path) -> None:
    doc = validate_bytes(signed_base()).document
    assert isinstance(doc, Certificate) and doc.signature is not None
    changed = doc.model_copy(update={"sent_at": datetime(2026, 2, 2, 12, 0)})
    out, outcome = redact(render(changed, Format.XML), Recipient.EMPLOYER, Format.XML, anchors)
    assert out is not None and b"underskrift" not in out
    assert any("does not verify" in e.message for e in outcome.report)  # type: ignore[union-attr]


def test_signature_of_a_certificate_the_employer_gets_less_of_is_removed(anchors: Path) -> None:
    fk = FIXTURES_DIR / "certificate" / "fk7804-valid.xml"
    out, outcome = redact(sign(fk.read_bytes()), Recipient.EMPLOYER, Format.XML, anchors)
    assert out is not None and b"underskrift" not in out
    assert "POLICY-SIGNATURE-REMOVED" in codes(outcome)


def test_forsakringskassan_gets_a_signed_fk7804_unchanged(anchors: Path) -> None:
    fk = validate_bytes((FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes())
    assert fk.document is not None
    data = sign(render(fk.document, Format.XML))  # signed as the gateway serialises it
    out, outcome = redact(data, Recipient.FORSAKRINGSKASSAN, Format.XML, anchors)
    assert out is not None and codes(outcome) == set()
    config = SignatureConfiguration(location=f"./{INTYG}/{UNDERSKRIFT}/")
    XMLVerifier().verify(out, ca_pem_file=str(anchors), expect_config=config)


def test_cli_redact_with_trust_anchors(
    tmp_path: Path, anchors: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "signed.xml"
    path.write_bytes(signed_base())
    report = tmp_path / "report.json"
    argv = ["redact", str(path), "--for", "employer"]
    assert main([*argv, "--trust-anchors", str(anchors), "--report", str(report)]) == 0
    assert b"<ds:SignatureValue>" in capsysbinary.readouterr().out
    assert "POLICY-SIGNATURE-UNVERIFIED" not in report.read_text()
    assert main([*argv, "--report", str(report)]) == 0
    assert b"underskrift" not in capsysbinary.readouterr().out
    assert "POLICY-SIGNATURE-UNVERIFIED" in report.read_text()
    assert main([*argv, "--trust-anchors", str(tmp_path / "missing.pem")]) == 2
    # indented output is other bytes than were signed: the signature is checked over them
    pretty = [*argv, "--trust-anchors", str(anchors), "--report", str(report), "--pretty"]
    assert main(pretty) == 0
    out = capsysbinary.readouterr().out
    assert b"\n  <ns2:intyg>" in out and b"underskrift" not in out
    assert "does not verify" in report.read_text()


def test_cli_convert_of_a_spliced_fhir_signature_is_a_clear_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "attack.fhir.json"
    path.write_bytes(with_signature(Format.FHIR_JSON, MALFORMED["svar-as-signature"]))
    for target in OUTPUTS:
        assert main(["convert", str(path), "--to", str(target)]) == 1
        captured = capsys.readouterr()
        assert "CERT-SIGNATURE-MALFORMED" in captured.err
        assert "internal error" not in captured.err and captured.out == ""
    path.write_bytes(with_signature(Format.FHIR_JSON, MALFORMED["not-xml"]))
    assert main(["convert", str(path), "--to", "xml"]) == 1
    assert "internal error" not in capsys.readouterr().err


def test_inera_signed_sample_keeps_its_signature_to_forsakringskassan_only(
    interop: Path,
) -> None:
    name = "fk7804-lisjp-v1-signed-underskrift.RegisterCertificate.xml"
    data = (interop / "sklintyg" / name).read_bytes()
    doc = validate_bytes(data).document
    assert isinstance(doc, Certificate) and doc.signature is not None
    for target in OUTPUTS:
        out = render(doc, target)
        assert (b"XFBXq1e/o4GVFxxn" in out) or (base64.b64encode(doc.signature.encode()) in out)


# ----------------------------------------------------------------------------------- fuzz

_DS_NAMES = ("Signature", "SignedInfo", "Object", "KeyName", "KeyInfo", "SignatureValue")
_names = st.sampled_from(
    [f"{{{DS}}}{n}" for n in _DS_NAMES] + [f"{{{CORE}}}svar", f"{{{EXT32}}}underskrift", "plain"]
)
_texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    el = etree.Element(draw(_names))
    if draw(st.booleans()):
        el.set("Id", draw(st.from_regex(r"\A[A-Za-z][A-Za-z0-9.]{0,6}\Z")))
    text = draw(_texts)
    try:
        el.text = text
    except ValueError:
        el.text = "F321"
    if draw(st.booleans()):
        el.append(etree.Comment("F321"))
    if depth < 3:
        for child in draw(st.lists(xml_trees(depth + 1), max_size=3)):
            el.append(child)
    return el


payloads = st.one_of(
    st.binary(max_size=300),
    _texts.map(str.encode),
    xml_trees().map(etree.tostring),
    st.sampled_from([*MALFORMED.values(), *WELL_FORMED.values()]),
)


def _assert_no_crash_and_no_leak(data: bytes) -> None:
    result = validate_bytes(data)  # never raises
    doc = result.document
    if not result.valid or doc is None:
        return
    for target in OUTPUTS:
        render(doc, target)
    for recipient in Recipient:
        outcome = apply_policy(doc, recipient, at=AT, check_consent=False)
        if outcome.refused:
            continue
        for target in OUTPUTS:
            out, _ = render_copy(outcome, target)
            if recipient is Recipient.EMPLOYER:
                assert MARKER not in out


@settings(max_examples=50)
@given(source=st.sampled_from(INPUTS), payload=payloads)
def test_fuzz_signature_path(source: Format, payload: bytes) -> None:
    data = with_signature(source, payload)
    _assert_no_crash_and_no_leak(data)


@settings(max_examples=40)
@given(payload=payloads)
def test_fuzz_rivta_underskrift_content(payload: bytes) -> None:
    """The payload as the underskrift's content in RIVTA, not a whole element."""
    _assert_no_crash_and_no_leak(with_signature(Format.XML, payload))


def test_signature_check_is_bounded() -> None:
    name = "<ds:KeyName>" + "A" * 70_000 + "</ds:KeyName>"
    huge = _underskrift(_sig(keyinfo=f"<ds:KeyInfo>{name}</ds:KeyInfo>"))
    result = validate_bytes(with_signature(Format.FHIR_JSON, huge))
    assert [i.code for i in result.issues] == ["CERT-SIGNATURE-MALFORMED"]
    assert "limit" in result.issues[0].message


def test_fhir_json_signature_is_base64_of_the_canonical_underskrift() -> None:
    doc = base().model_copy(update={"signature": SIGNATURE})
    bundle = orjson.loads(render(doc, Format.FHIR_JSON))
    assert base64.b64decode(bundle["signature"]["data"]).decode() == SIGNATURE


def test_other_fields_of_a_fhir_signature_drop_by_construction() -> None:
    """Only ``data`` is read: text in who/type/sigFormat reaches no output of any recipient."""
    bundle = orjson.loads(with_signature(Format.FHIR_JSON, WELL_FORMED["keyname"]))
    sig = bundle["signature"]
    sig["who"]["display"] = "F321 Medelsvår depression"
    sig["type"][0]["display"] = "F321"
    sig["targetFormat"] = "F321"
    sig["extension"] = [{"url": "http://example.org/dx", "valueString": "F321"}]
    data = orjson.dumps(bundle)
    result = validate_bytes(data)
    assert isinstance(result.document, Certificate)
    for target in OUTPUTS:
        assert MARKER not in render(result.document.model_copy(update={"signature": None}), target)
        out, _ = redact(data, Recipient.EMPLOYER, target)
        assert out is not None and MARKER not in out
