"""RIVTA RegisterCertificate v3 codec: Inera's samples in, Inera's schema out, round trips."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree
from strategies_certificate import fk7804
from strategies_certificate_header import full_certificates

from gateway import PROJECT_ROOT
from gateway.documents.certificate import Certificate, CertificateType, Quantity
from gateway.documents.common import Code, Identifier, Period
from gateway.documents.issues import RULES, Location, Severity
from gateway.formats.base import Format
from gateway.formats.rivta.register_certificate import SCHEMA_PATH, RegisterCertificateCodec

INTEROP = Path(PROJECT_ROOT).parent / "shared" / "interop"
SAMPLES = sorted((INTEROP / "sklintyg").glob("*.RegisterCertificate.xml"))
SIGNED = INTEROP / "sklintyg" / "fk7804-lisjp-v1-signed-underskrift.RegisterCertificate.xml"
FULL = INTEROP / "sklintyg" / "fk7804-lisjp-v1-full.RegisterCertificate.xml"
AG114 = INTEROP / "sklintyg" / "ag114-v1-maxed.RegisterCertificate.xml"
INERA_XSD = (
    INTEROP
    / "rivta/interactions/RegisterCertificateInteraction/RegisterCertificateResponder_3.1.xsd"
)
EXT_32 = "urn:riv:clinicalprocess:healthcond:certificate:3.2"

codec = RegisterCertificateCodec()


@pytest.fixture(scope="module")
def inera() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(INERA_XSD)))


@pytest.fixture(scope="module")
def ours() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def codes(data: bytes) -> list[str]:
    return sorted(i.code for i in codec.parse(data).issues)


def test_codec_identity() -> None:
    assert codec.format is Format.XML
    assert codec.kind == "certificate"
    assert len(SAMPLES) == 7


# ------------------------------------------------------------------------------ samples in


EXPECTED_TYPES = {
    "ag114-v1-maxed": CertificateType.AG1_14,
    "ag7804-v1-INVALID-diagnosis-despite-optout": CertificateType.AG7804,
    "ag7804-v1-full-diagnosis-shared": CertificateType.AG7804,
    "ag7804-v1-no-diagnosis": CertificateType.AG7804,
    "fk7804-lisjp-v1-compact": CertificateType.FK7804,
    "fk7804-lisjp-v1-full": CertificateType.FK7804,
    "fk7804-lisjp-v1-signed-underskrift": CertificateType.FK7804,
}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name.split(".")[0])
def test_sample_parses_without_issues(path: Path) -> None:
    result = codec.parse(path.read_bytes())
    assert result.issues == []
    assert result.document is not None
    assert result.document.type is EXPECTED_TYPES[path.name.split(".")[0]]


def test_full_fk7804_header() -> None:
    cert = codec.parse(FULL.read_bytes()).document
    assert cert is not None
    assert cert.id == Identifier(
        system="TSTNMT2321000156-1039", value="9020fbb9-e387-40b0-ba75-ac2746e4736b"
    )
    assert cert.type_code == Code(
        code="LISJP",
        system="b64ea353-e8f6-4832-b563-fc7d46f29548",
        display="Läkarintyg för sjukpenning",
    )
    assert cert.type_version == "1.0"
    assert cert.signed_at == datetime(2016, 8, 10, 8, 59, 13)
    assert cert.sent_at == datetime(2016, 8, 10, 8, 59, 13)
    assert cert.patient.id == Identifier(system="1.2.752.129.2.1.3.1", value="191212121212")
    assert (cert.patient.name.given, cert.patient.name.family) == ("Tolvan", "Tolvansson")
    assert cert.patient.name.middle is None
    assert cert.patient.address is not None
    assert cert.patient.address.city == "Småmåla"
    issuer = cert.issuer
    assert issuer.id.value == "TSTNMT2321000156-1079"
    assert issuer.name == "Arnold Johansson"
    assert issuer.prescriber_code == "0000000"
    assert issuer.positions == [
        Code(code="203090", system="1.2.752.129.2.2.1.4", display="Läkare legitimerad, annan")
    ]
    assert issuer.unit.workplace_code == Identifier(system="1.2.752.29.4.71", value="1234567890")
    assert issuer.unit.email == "enhet2@webcert.invalid.se"
    assert issuer.unit.care_provider.name == "NMT vg3"
    assert issuer.unit.care_provider.id == Identifier(
        system="1.2.752.129.2.1.4.1", value="TSTNMT2321000156-102Q"
    )
    assert cert.signature is None
    assert (cert.recipients, cert.relations, cert.statuses) == ([], [], [])


def test_full_fk7804_answers() -> None:
    cert = codec.parse(FULL.read_bytes()).document
    assert cert is not None
    assert [a.id for a in cert.answers][:8] == ["1", "1", "1", "1", "28", "29", "6", "35"]
    assert len(cert.answers) == 32
    sick_leave = cert.answers_to("32")
    assert [a.instance for a in sick_leave] == [1, 2, 3, 4]
    assert sick_leave[1].parts[0].value == Code(
        code="TRE_FJARDEDEL", system="KV_FKMU_0003", display="75%"
    )
    assert sick_leave[1].parts[1].value == Period(start=date(2016, 8, 23), end=date(2016, 8, 24))
    annat = cert.answers[3]
    assert [(p.id, p.value) for p in annat.parts][1:] == [
        ("1.2", "2016-08-04"),
        ("1.3", "Telepatisk kommunikation"),
    ]
    diagnosis = cert.answers_to("6")[0]
    assert diagnosis.part("6.6") is not None
    assert diagnosis.part("6.6").value == Code(code="T241", system="1.2.752.116.1.1.1.1.3")  # type: ignore[union-attr]
    assert cert.answers_to("33")[0].part("33.1").value == "true"  # type: ignore[union-attr]


def test_ag114_quantity_specialities_and_empty_patient() -> None:
    cert = codec.parse(AG114.read_bytes()).document
    assert cert is not None
    assert cert.answers_to("7")[0].parts[0].value == Quantity(value=70.0, unit="%")
    assert cert.issuer.specialities == [Code(code="N/A", display="Kirurg")]
    assert [p.code for p in cert.issuer.positions] == ["204010", "206090"]
    assert cert.patient.address is None  # empty postadress/postnummer/postort
    assert cert.patient.name.given == cert.patient.name.family == ""
    assert cert.type_version == "1"


def test_source_map_points_at_elements() -> None:
    result = codec.parse(FULL.read_bytes())
    smap = result.source_map
    assert smap.locate(("answers", 12, "parts", 1, "value", "start")) == Location(
        "/RegisterCertificate/intyg/svar[@id='32'][2]/delsvar[@id='32.2']/datePeriod/start", 183
    )
    assert smap.locate(("answers", 12, "instance")) == Location(
        "/RegisterCertificate/intyg/svar[@id='32'][2]/instans", 173
    )
    assert smap.locate(("answers", 7, "parts", 0, "value")) == Location(
        "/RegisterCertificate/intyg/svar[@id='35']/delsvar[@id='35.1']", 145
    )
    assert smap.locate(("answers", 6, "parts", 5)).line == 137
    assert smap.locate(("patient", "id", "value")) == Location(
        "/RegisterCertificate/intyg/patient/person-id/extension", 19
    )
    assert smap.locate(("issuer", "unit", "care_provider", "name")).line == 59
    assert smap.locate(("issuer", "positions", 0, "code")).line == 35
    assert smap.locate(("type",)).path == "/RegisterCertificate/intyg/typ"
    # a path deeper than what was read falls back to its nearest known ancestor
    assert smap.locate(("answers", 99)).path == "/RegisterCertificate/intyg"
    assert smap.locate(("patient", "name", "middle")).path.endswith("/patient/fornamn")


def test_source_map_covers_every_answer_and_part() -> None:
    result = codec.parse(FULL.read_bytes())
    assert result.document is not None
    located = result.source_map.materialise()  # type: ignore[attr-defined]
    for i, answer in enumerate(result.document.answers):
        assert located[("answers", i)].path.endswith(f"svar[@id='{answer.id}']") or (
            f"svar[@id='{answer.id}'][" in located[("answers", i)].path
        )
        for j, part in enumerate(answer.parts):
            assert f"delsvar[@id='{part.id}']" in located[("answers", i, "parts", j, "value")].path


# ------------------------------------------------------------------------------ model out


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name.split(".")[0])
def test_sample_round_trip_and_inera_valid(path: Path, inera: etree.XMLSchema) -> None:
    first = codec.parse(path.read_bytes()).document
    assert first is not None
    rendered = codec.render(first)
    assert inera.validate(etree.fromstring(rendered)), inera.error_log
    again = codec.parse(rendered)
    assert again.issues == []
    assert again.document == first
    assert codec.render(again.document) == rendered  # rendering is stable


def test_render_writes_inera_prefixes() -> None:
    cert = codec.parse(FULL.read_bytes()).document
    assert cert is not None
    out = codec.render(cert)
    assert out.startswith(b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n")
    root = etree.fromstring(out)
    assert root.prefix == "ns2"
    assert root.nsmap == {
        None: "urn:riv:clinicalprocess:healthcond:certificate:3",
        "ns2": "urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:3",
        "ns3": "urn:riv:clinicalprocess:healthcond:certificate:types:3",
        "ns5": EXT_32,
    }
    assert b"<intygs-id><ns3:root>TSTNMT2321000156-1039</ns3:root>" in out


def _underskrift_c14n(data: bytes) -> bytes:
    el = etree.fromstring(data).find(f".//{{{EXT_32}}}underskrift")
    assert el is not None
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=True)


def test_signed_sample_keeps_its_signature() -> None:
    original = SIGNED.read_bytes()
    cert = codec.parse(original).document
    assert cert is not None and cert.signature is not None
    rendered = codec.render(cert)
    assert _underskrift_c14n(rendered) == _underskrift_c14n(original)
    assert b"<ds:DigestValue>XFBXq1e/o4GVFxxn/tKh8bu5Qivh/G+04tv/4zuPVmk=</ds:DigestValue>" in (
        rendered
    )
    # the signature is the last child of intyg, as the contract's sequence requires
    intyg = etree.fromstring(rendered)[0]
    assert etree.QName(intyg[-1]).localname == "underskrift"


def test_timezone_aware_times_render_as_swedish_local_time() -> None:
    cert = fk7804().model_copy(update={"signed_at": datetime(2016, 8, 1, 10, 0, tzinfo=UTC)})
    assert b"<signeringstidpunkt>2016-08-01T12:00:00</signeringstidpunkt>" in codec.render(cert)


def test_render_refuses_other_kinds() -> None:
    with pytest.raises(TypeError):
        codec.render(object())  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cert=full_certificates())
def test_model_xml_model_is_identity(
    cert: Certificate, inera: etree.XMLSchema, ours: etree.XMLSchema
) -> None:
    rendered = codec.render(cert)
    tree = etree.fromstring(rendered)
    assert inera.validate(tree), inera.error_log
    assert ours.validate(tree), ours.error_log
    result = codec.parse(rendered)
    assert result.issues == []
    assert result.document == cert


# ------------------------------------------------------------------------------ bad input


def _sample_with(old: bytes, new: bytes, path: Path = FULL) -> bytes:
    data = path.read_bytes()
    assert old in data, old
    return data.replace(old, new, 1)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "XML-SYNTAX"),
        (b"not xml at all", "XML-SYNTAX"),
        (b"<a><b></a>", "XML-SYNTAX"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<x>&e;</x>",
            "XML-FORBIDDEN",
        ),
        (
            b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b"<lolz>&lol2;</lolz>",
            "XML-FORBIDDEN",
        ),
        (b"<a>" * 200 + b"</a>" * 200, "XML-LIMIT"),
        (b"<intyg/>", "CERT-WRONG-ROOT"),
        (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            b"<soap:Body/></soap:Envelope>",
            "CERT-WRONG-ROOT",
        ),
        (
            b'<RegisterCertificate xmlns="urn:riv:clinicalprocess:healthcond:certificate:'
            b'RegisterCertificateResponder:2"/>',
            "CERT-WRONG-ROOT",
        ),
    ],
    ids=["empty", "text", "unbalanced", "xxe", "billion-laughs", "deep", "root", "soap", "v2"],
)
def test_hostile_or_foreign_input_is_an_issue(data: bytes, code: str) -> None:
    result = codec.parse(data)
    assert result.document is None
    assert [i.code for i in result.issues] == [code]
    assert all(i.severity is Severity.ERROR for i in result.issues)


def test_wrong_root_names_what_was_found() -> None:
    (found,) = codec.parse(b'<x:intyg xmlns:x="urn:x"/>').issues
    assert found.message == (
        "root element is <intyg> in {urn:x}; expected <RegisterCertificate> in "
        "urn:riv:clinicalprocess:healthcond:certificate:RegisterCertificateResponder:3"
    )
    assert found.location == Location("/intyg", 1)


def test_missing_patient_cannot_be_read() -> None:
    data = FULL.read_bytes()
    data = re.sub(rb"<patient>.*?</patient>", b"", data, count=1, flags=re.S)
    result = codec.parse(data)
    assert result.document is None
    assert sorted(i.code for i in result.issues) == ["CERT-INCOMPLETE", "XSD-INVALID"]
    incomplete = next(i for i in result.issues if i.code == "CERT-INCOMPLETE")
    assert (
        incomplete.message == "intyg lacks patient with person-id; the certificate cannot be read"
    )


def test_schema_errors_still_yield_a_document() -> None:
    data = _sample_with(b"<ns3:extension>191212121212<", b"<ns3:extension>19121212-1212<")
    result = codec.parse(data)
    assert [i.code for i in result.issues] == ["XSD-INVALID"]
    assert result.issues[0].location.path == (
        "/RegisterCertificate/intyg/patient/person-id/extension"
    )
    assert result.document is not None
    assert result.document.patient.id.value == "19121212-1212"


def test_bad_date_is_reported_once_by_the_schema() -> None:
    data = _sample_with(b"<ns3:start>2016-08-23</ns3:start>", b"<ns3:start>2016-13-23</ns3:start>")
    result = codec.parse(data)
    assert [i.code for i in result.issues] == ["XSD-INVALID"]
    assert result.issues[0].location.line == 183
    assert result.document is not None
    assert result.document.answers_to("32")[1].parts[1].value == Period(
        start=None, end=date(2016, 8, 24)
    )


def test_unknown_type() -> None:
    data = _sample_with(b"<ns3:code>LISJP</ns3:code>", b"<ns3:code>LUSE</ns3:code>")
    result = codec.parse(data)
    assert result.document is None
    (found,) = result.issues
    assert found.code == "CERT-UNKNOWN-TYPE"
    assert found.message == (
        "certificate type 'LUSE' is not supported (known: LISJP, AG7804, AG1-14)"
    )
    assert found.location == Location("/RegisterCertificate/intyg/typ", 8)


def test_unsupported_value_kinds() -> None:
    data = _sample_with(
        b'<delsvar id="29.1">Siare</delsvar>',
        b'<delsvar id="29.1"><ns3:ii><ns3:root>1.2.3</ns3:root></ns3:ii></delsvar>',
    )
    data = data.replace(
        b'<delsvar id="35.1">Inga fynd gjordes</delsvar>',
        b'<delsvar id="35.1">Inga <ns3:date>2016-01-01</ns3:date></delsvar>',
    )
    result = codec.parse(data)
    assert codes(data) == ["CERT-VALUE-UNSUPPORTED", "CERT-VALUE-UNSUPPORTED"]
    assert result.issues[0].location.path.endswith("delsvar[@id='29.1']/ii")
    assert result.document is not None
    assert result.document.answers_to("29")[0].parts == []
    assert result.document.answers_to("35")[0].parts == []


def test_elements_without_a_place_in_the_model_are_warned_about() -> None:
    data = _sample_with(
        b"<ns2:intyg>",
        b"<ns2:svarPa><meddelande-id>m1</meddelande-id></ns2:svarPa><ns2:intyg>",
    )
    data = data.replace(
        b"<ns3:codeSystem>1.2.752.116.1.1.1.1.3</ns3:codeSystem>\n        </ns3:cv>",
        b"<ns3:codeSystem>1.2.752.116.1.1.1.1.3</ns3:codeSystem>"
        b"<ns3:originalText>anemi</ns3:originalText></ns3:cv>",
        1,
    )
    result = codec.parse(data)
    assert [(i.code, i.severity) for i in result.issues] == [
        ("CERT-NOT-CARRIED", Severity.WARNING),
        ("CERT-NOT-CARRIED", Severity.WARNING),
    ]
    assert result.issues[0].message == (
        "<svarPa> in RegisterCertificate is not carried into the canonical certificate"
    )
    assert result.document is not None


def test_rule_codes_are_declared() -> None:
    for code in (
        "CERT-WRONG-ROOT",
        "CERT-UNKNOWN-TYPE",
        "CERT-INCOMPLETE",
        "CERT-VALUE-UNREADABLE",
        "CERT-VALUE-UNSUPPORTED",
        "CERT-NOT-CARRIED",
    ):
        rule = RULES[code]
        assert rule.kind == "schema"
        assert not rule.overridable


# ------------------------------------------------------------------------------ our schema


MUTATIONS: dict[str, tuple[bytes, bytes]] = {
    "no person-id": (rb"<person-id>.*?</person-id>", b""),
    "personnummer with dash": (b">191212121212<", b">19121212-1212<"),
    "personnummer root": (b">1.2.752.129.2.1.3.1<", b">1.2.752.129.2.1.3.2<"),
    "timestamp with space": (b">2016-08-10T08:59:13<", b">2016-08-10 08:59:13<"),
    "timestamp with zone": (b">2016-08-10T08:59:13<", b">2016-08-10T08:59:13Z<"),
    "bad date": (b"<ns3:end>2016-08-22</ns3:end>", b"<ns3:end>2016-02-30</ns3:end>"),
    "hsa root": (
        b"<ns3:root>1.2.752.129.2.1.4.1</ns3:root>\n        <ns3:extension>TSTNMT2321000156-1079",
        b"<ns3:root>1.2.3</ns3:root>\n        <ns3:extension>TSTNMT2321000156-1079",
    ),
    "empty hsa-id": (b">TSTNMT2321000156-1079<", b"><"),
    "no arbetsplatskod": (rb"<arbetsplatskod>.*?</arbetsplatskod>", b""),
    "befattning system": (b">1.2.752.129.2.2.1.4<", b">1.2.752.129.2.2.1.5<"),
    "svar id": (b'<svar id="29">', b'<svar id="x29">'),
    "delsvar id": (b'<delsvar id="29.1">', b'<delsvar id="29">'),
    "no delsvar id": (b'<delsvar id="29.1">', b"<delsvar>"),
    "instans": (b"<instans>1</instans>", b"<instans>one</instans>"),
    "cv without codeSystem": (b"<ns3:codeSystem>KV_FKMU_0002</ns3:codeSystem>", b""),
    "order": (b"<version>1.0</version>", b""),
    "unknown core element": (b'<svar id="29">', b'<extra/><svar id="29">'),
    "empty epost": (b">enhet2@webcert.invalid.se<", b"><"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_our_schema_rejects_what_ineras_rejects(
    name: str, inera: etree.XMLSchema, ours: etree.XMLSchema
) -> None:
    pattern, new = MUTATIONS[name]
    data, n = re.subn(pattern, new, FULL.read_bytes(), count=1, flags=re.S)
    assert n == 1
    tree = etree.fromstring(data)
    assert not inera.validate(tree)
    assert not ours.validate(tree)


def test_our_schema_accepts_what_ineras_accepts(
    inera: etree.XMLSchema, ours: etree.XMLSchema
) -> None:
    data = _sample_with(
        b"<postadress>Svensson", b"<mellannamn>Mellan</mellannamn><postadress>Svensson"
    )
    data = data.replace(
        b"<ns2:intyg>",
        b"<ns2:svarPa><meddelande-id>m1</meddelande-id></ns2:svarPa><ns2:intyg>",
    )
    tree = etree.fromstring(data)
    assert inera.validate(tree)
    assert ours.validate(tree)
