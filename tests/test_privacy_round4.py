"""Issue 15, second pass: the attacker's run against round 3, and what it found. Each hole has
a test here that failed before its fix: codes with their digits spaced out, codes set further
apart, ICD-11 stems and SNOMED CT ids written in groups, numeric characters (Roman numerals,
parenthesized digits), character references a web page resolves, diagnoses and drugs missing
from the vocabulary, a deny naming the employer in another spelling of its organisation
number. The rest are the classes the issue did not list, tried and found closed, kept here so
they stay closed: every Unicode trick of the brief, XML comments, processing instructions,
CDATA and character references, FHIR's hiding places, consent tricks in FHIR (nesting, status
case, time zones, contained patients), in every input and output format and on the server
path (POST /messages, then the employer's copy)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from exchange_support import FK7804_XML, certificate_message
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies_policy import (
    AT,
    EMPLOYER_ORGANISATION,
    ROUND4_NOTATIONS,
    consent,
    output_formats,
    render,
    sip,
    visible_text,
)
from test_policy_leaks import _consent, _plant, _read
from test_privacy_round3 import (
    EMPLOYER,
    GOOD,
    _certificate_consent,
    _codec,
    _employer,
    _message,
    _send,
    employer_receives_none_over_http,
    withheld,
)

from gateway import FIXTURES_DIR
from gateway.documents import Certificate, DocumentKind, Recipient
from gateway.documents.common import ConsentProvision, Identifier, ProvisionType
from gateway.documents.consent import evaluate_consents
from gateway.documents.identity import may_name_organisation, names_organisation
from gateway.documents.issues import SeverityOverrides
from gateway.exchange.store.base import DeliveryState
from gateway.formats.base import Format
from gateway.policy import apply_policy
from gateway.policy.free_text import fold, grouped_numbers, is_sctid, scan
from gateway.validation.service import validate_bytes

CATEGORIES = ["F32", "F41", "F43", "M54", "C50", "I21", "J45", "G43", "E11", "S83", "T14"]

# ---------------------------------------------------------- codes with their digits spaced


@pytest.mark.parametrize(
    "text",
    [
        "F 3 2 . 1",
        "F3 2",
        "F 3 2",
        "F3-2",
        "F_3_2",
        "f 3 2 . 1",
        "M 5 4 . 4",
        "C 5 0 . 9",
        "Bedömning: F 3 2, medelsvår",
        "F    32.1",
        "F - - 32.1",
        "F  —  32",
        "(F)(3)(2)",
        "F3.2.1",
    ],
)
def test_a_code_with_its_digits_spaced_out_is_a_code(text: str) -> None:
    assert scan(text) is not None
    assert withheld(text)


GAPS = st.text(st.sampled_from(" \t\n/:,.-_;()\u00a0"), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from(CATEGORIES),
    gap1=st.one_of(st.just(""), GAPS),
    gap2=GAPS,
    sub=st.sampled_from(["", ".1", " . 1", ",9"]),
)
def test_any_spacing_inside_the_category_digits(code: str, gap1: str, gap2: str, sub: str) -> None:
    """The notation grammar: any run of non-alphanumerics between letter and digits, and
    between the two digits of the category too."""
    # "I 21 dagar", "I 2 1": the Swedish word i before a number (docs/policy.md), unless a
    # subdivision follows
    assume(not (code[0] == "I" and gap1 and not gap1.strip() and not sub))
    text = f"{code[0]}{gap1}{code[1]}{gap2}{code[2]}{sub}"
    assert scan(text) is not None, text
    assert scan(f"Arbetsförmåga nedsatt, {text} enligt journal.") is not None, text


@pytest.mark.parametrize(
    "text",
    [
        "6A 70",
        "6 A 7 0",
        "BA 41",
        "ICD-11: ba 41",
        "35-489-007",
        "3 5 4 8 9 0 0 7",
        "3548 9007",
        "35489 007",
        "2026-03-12 35 489 007",
    ],
)
def test_icd11_and_snomed_set_apart_are_codes(text: str) -> None:
    assert scan(text) is not None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Rum 3 2, plan 4", "room and floor"),
        ("Lägenhet 1102, våning 3", "flat"),
        ("Arbetar v 3 2 och v 3 3", "weeks"),
        ("v 3 2", "week"),
        ("kl 8 - 12, kl. 13.30-16.30", "times"),
        ("Ring 070 123 45 67 eller +46 70 123 45 67", "telephone"),
        ("Ring 0 7 0 - 1 2 3 4 5 6 7", "telephone spaced"),
        ("Möte 2022-01-01, 20220101, 220101 och 12/3 2026", "dates"),
        ("Återbesök 202201011330", "date and time"),
        ("Hus B 1 2 3 4, port C", "a spaced number after a letter"),
        ("Acme AB 12 anställda, filen är 20 MB 12 sidor", "company form, bytes"),
        ("Lön 1 250 000 kr per år, 35 000 kr per månad", "amounts"),
        ("Ersättning 207 100 kr, 668 004 kronor, 31 007 108 SEK", "amounts with a currency"),
        ("Möte 19/10 2002 och 15/12 2003", "dates day first"),
        ("Veckorna 6,19,10,1 och 47,2,10,5", "lists"),
        ("Ring 070-354 89 007", "a telephone number"),
        ("Arbetar i MS Office 3 2 dagar", "product"),
        ("Nedsatt hörsel, hör dåligt i bullriga miljöer; nedsatt syn på höger öga.", "ICF"),
        ("Arbetar med immigranter och emigranter; influenser från kollegor.", "words"),
    ],
)
def test_benign_controls_still_pass(text: str, why: str) -> None:
    assert not withheld(text), (why, scan(text))


def test_dates_are_not_snomed_ids() -> None:
    """Round 3 read ``20220101`` (and about three dates a year in yyyymmdd) as a SNOMED CT id."""
    assert is_sctid("20220101") is False
    assert scan("Möte 20220101") is None
    assert is_sctid("35489007")
    assert grouped_numbers("2026-03-12 35 489 007")[-1] == "35489007"


# ------------------------------------------------------------ Unicode classes of the brief

#: class -> a text hiding F32.1 (or a term) with a character of that class
UNICODE_TRICKS = {
    "tag characters": "F\U000e0033\U000e003232.1",
    "variation selector": "F\ufe0f32.1",
    "variation selector supplement": "F\U000e010032.1",
    "interlinear annotation": "F\ufff932\ufffb.1",
    "soft hyphen": "F\u00ad32.1",
    "word joiner": "F\u206032.1",
    "ideographic space": "F\u300032.1",
    "ogham space": "F\u168032.1",
    "medium mathematical space": "F\u205f32.1",
    "superscript digits": "F\u00b3\u00b2.1",
    "subscript digits": "F\u2083\u2082.1",
    "roman numerals": "F\u2162\u2161.1",
    "fullwidth digits": "F\uff13\uff12.1",
    "circled digits": "F\u2462\u2461.1",
    "parenthesized digits": "F\u2476\u2475.1",
    "full stop digits": "F\u248a\u2489.1",
    "ligature ffi": "di\ufb03cult depression",
    "kelvin sign": "\u212a50.9",
    "angstrom sign": "\u212b F32",
}


@pytest.mark.parametrize("name", sorted(UNICODE_TRICKS))
def test_unicode_tricks_never_reach_an_employer(name: str) -> None:
    """The repertoire withholds each on an employer route; the scanner alone (other routes)
    reads through each that hides a code."""
    text = UNICODE_TRICKS[name]
    assert withheld(text)
    assert scan(text) is not None, fold(text)


@pytest.mark.parametrize(
    "text", ["dıabetes", "DİABETES", "DEPRESSİON", "depressıon", "İ F32", "Fİ32 och M54"]
)
def test_turkish_i_in_the_repertoire_hides_nothing(text: str) -> None:
    assert scan(text) is not None


@pytest.mark.parametrize(
    "text", ["Depreßion", "DEPREẞION", "\u013850", "\u014b06AB06", "Ð32.1", "Đ32", "\u013f40"]
)
def test_repertoire_letters_a_reader_reads_as_others(text: str) -> None:
    """Latin-1 and Latin Extended-A letters that decomposition and confusables.txt leave
    alone: sharp s reads ``ss``, kra ``k`` (``ĸ50`` is K50), eng ``n``, eth ``d``."""
    assert scan(text) is not None


@pytest.mark.parametrize("text", ["Gießen", "Weißmann", "Þórunn Sigurðardóttir"])
def test_names_with_those_letters_pass(text: str) -> None:
    assert not withheld(text)


@pytest.mark.parametrize(
    "text", ["&#70;32.1", "&#x46;&#x33;&#x32;", "&amp;#70;32.1", "&#100;epression", "F&#51;2"]
)
def test_character_references_are_read_as_a_web_page_shows_them(text: str) -> None:
    assert scan(text) is not None
    assert withheld(text)


def test_a_character_reference_to_a_character_outside_the_repertoire() -> None:
    assert withheld("&#x202e;1.23F&#x202c;")
    assert withheld("Arbetar &#x3164;halvtid")
    assert not withheld("Smith &amp; Co, AT&T")


# ------------------------------------------------------------------------- the vocabulary

MISSING_TERMS = [
    # injuries (chapter S/T)
    "fraktur",
    "handledsfrakturen",
    "benbrott",
    "stukning",
    "stukad fot",
    "distorsion",
    "ligamentskada",
    "korsbandsskada",
    "meniskskadan",
    "brännskada",
    "pisksnärtsskada",
    "knäskada",
    "axelskada",
    "musarm",
    "luxation",
    # infections, circulation, organs
    "influensa",
    "influensan",
    "säsongsinfluensa",
    "coronavirus",
    "sars-cov-2",
    "covid-19",
    "omikron",
    "blodpropp",
    "trombos",
    "lungemboli",
    "njursvikt",
    "högt blodtryck",
    "högt blodtrycket",
    "transplantation",
    "amputation",
    "förlamning",
    "självskada",
    "psykisk ohälsa",
    "psykiatrisk",
    "psykiatri",
    "barnpsykiatrin",
    "yrsel",
    # sensory impairments named as conditions
    "hörselnedsättning",
    "synnedsättning",
    "dövhet",
    "blindhet",
    # drugs (FASS)
    "opioider",
    "Oxascand",
    "Theralen",
    "Lergigan",
    "Voxra",
    "Ketogan",
    "OxyContin",
    "Stilnoct",
    "Remeron",
    "Zyprexa",
    "Keppra",
    "Strattera",
    "Victoza",
    "Keytruda",
]


@pytest.mark.parametrize("term", MISSING_TERMS)
def test_terms_round_3_missed(term: str) -> None:
    assert scan(f"Hen har {term} sedan mars.") is not None
    assert withheld(term)


@pytest.mark.parametrize(
    "text",
    [
        "högt  blodtryck",
        "högt\nblodtryck",
        "Psykisk\t ohälsa",
        "depres-\nsion",
        "Kors-\r\nbandsskada",
    ],
)
def test_layout_hides_no_word(text: str) -> None:
    """A phrase across spaces or a line break, a word hyphenated at a line break: read as a
    reader joins them."""
    assert scan(text) is not None


@pytest.mark.parametrize("text", ["Högt\ntempo på jobbet.", "Arbetar halvtid.\n\nHöjer i maj."])
def test_layout_joins_nothing_else(text: str) -> None:
    assert scan(text) is None


# ------------------------------------------------------------------- every format, matrix

MATRIX = [
    (name, fmt, notation)
    for name in ("ag7804", "sip")
    for fmt in (Format.XML, Format.FHIR_JSON, Format.FHIR_XML)
    for notation in ROUND4_NOTATIONS
]


@pytest.mark.parametrize(("name", "fmt", "notation"), MATRIX)
def test_round4_notations_reach_no_employer_in_any_format(
    name: str, fmt: Format, notation: str
) -> None:
    """Planted in every text of a real AG7804 (RIVTA XML) and a SIP (own XML), arriving in
    every input format, withheld, and absent from every output format."""
    doc = _read(name)
    planted = _plant(doc, f"Mår bättre men {notation} enligt journal")
    received = _codec(doc.kind, fmt).parse(render(planted, fmt)).document  # type: ignore[arg-type]
    assert received is not None
    result = apply_policy(received, Recipient.EMPLOYER, consent=_consent(received), at=AT)
    assert not result.refused and result.document is not None
    assert {e.code for e in result.report} & {"POLICY-FREE-TEXT-WITHHELD"}
    for out in output_formats(result.document.kind):
        visible = visible_text(render(result.document, out))
        assert "enligt journal" not in visible, out


SIP_XML = FIXTURES_DIR / "sip" / "valid-four-principals.xml"
_GOAL = "<description>Bor kvar i egen lägenhet om ett år</description>"


@pytest.mark.parametrize(
    ("replacement", "withheld_text"),
    [
        (_GOAL.replace("</description>", "<!-- F32.1 depression --></description>"), False),
        (_GOAL.replace("</description>", "<?note F32.1 depression?></description>"), False),
        ("<description><![CDATA[F32.1 depression]]></description>", True),
        ("<description>F<![CDATA[32]]>.1</description>", True),
        ("<description>&#70;32.1 &#x64;epression</description>", True),
        ("<description>&amp;#70;32.1</description>", True),
    ],
    ids=["comment", "processing instruction", "cdata", "cdata split", "charref", "escaped"],
)
def test_xml_comments_pis_cdata_and_references(replacement: str, withheld_text: bool) -> None:
    """Comments and processing instructions carry nothing into the model; CDATA and character
    references are text, read as text, and withheld (a reference left escaped too)."""
    data = SIP_XML.read_text("utf-8").replace(_GOAL, replacement).encode()
    v = validate_bytes(data, overrides=SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"]))
    assert v.document is not None and v.valid
    result = apply_policy(v.document, Recipient.EMPLOYER, consent=_consent(v.document), at=AT)
    assert result.document is not None
    codes = {e.code for e in result.report}
    assert ("POLICY-FREE-TEXT-WITHHELD" in codes) is withheld_text
    for out in output_formats(v.document.kind):
        visible = visible_text(render(result.document, out))
        assert "f32" not in visible and "depression" not in visible and "&#70;" not in visible


def _fhir_sites(res: dict[str, Any], attack: str) -> dict[str, Any]:
    """A FHIR resource with ``attack`` in every hiding place the brief lists."""
    ext = [{"url": "http://example.org/x", "valueString": attack}]
    out = copy.deepcopy(res)
    out["meta"] = {
        "tag": [{"system": "http://example.org/t", "code": "x", "display": attack}],
        "security": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "HTEST",
                "display": attack,
            }
        ],
    }
    out["text"] = {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{attack}</div>',
    }
    out["contained"] = [{"resourceType": "Condition", "id": "c1", "code": {"text": attack}}]
    out["extension"] = [*out.get("extension", []), *ext]
    for key, value in list(out.items()):
        if isinstance(value, str) and key not in ("resourceType", "id"):
            out[f"_{key}"] = {"extension": ext}
    return out


def test_fhir_hiding_places_reach_no_employer_on_the_server() -> None:
    """meta.tag/meta.security displays, narrative, contained resources, extensions and
    primitive extensions on every resource of a certificate message: POST /messages accepts
    it (they are not errors) and the employer's copy holds none of them."""
    tree = orjson.loads(certificate_message(FK7804_XML, ("employer",)))

    def plant(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: plant(v) for k, v in node.items()}
            return _fhir_sites(node, "F32.1 depression") if "resourceType" in node else node
        if isinstance(node, list):
            return [plant(v) for v in node]
        return node

    employer = _employer(_send(orjson.dumps(plant(tree))))
    assert employer.state is DeliveryState.PENDING and employer.payload is not None
    seen = visible_text(employer.payload)
    assert "f32" not in seen and "depression" not in seen and "example.org" not in seen


@pytest.mark.parametrize("order", [("active", "rejected"), ("rejected", "active")])
def test_json_duplicate_keys_make_the_document_unreadable(order: tuple[str, str]) -> None:
    """A key twice in one object (first or last wins differently in other readers: a consent
    ``"status": "rejected", "status": "active"``) is a document that says two things; round
    3 read the last. It is refused as malformed JSON, before anything is decided."""
    from gateway.exchange.router import Rejection

    body = certificate_message(FK7804_XML, ("employer",)).decode()
    assert '"status":"active"' in body
    first, last = order
    body = body.replace('"status":"active"', f'"status":"{first}","status":"{last}"', 1)
    result = _send(body.encode())
    assert isinstance(result, Rejection)
    assert {i.code for i in result.issues} == {"FHIR-JSON-SYNTAX"}


# ------------------------------------------------ a diagnosis split over two allowed fields

SPLITS = [
    ("Bo kvar hemma, kod F", "32.1 enligt journal"),
    ("Se M", "54 nedan"),
    ("Hen har F 3", "2.1 sedan mars"),
]


@pytest.mark.parametrize(("first", "second"), SPLITS)
@pytest.mark.parametrize("fmt", [Format.XML, Format.FHIR_JSON, Format.FHIR_XML])
def test_a_code_split_over_two_neighbouring_texts_goes_whole(
    first: str, second: str, fmt: Format
) -> None:
    """``F`` at the end of one goal and ``32.1`` at the start of the next: each is harmless
    alone, together they are what the employer reads. Both are withheld, in every input
    and output format."""
    doc = sip(consent=GOOD)
    goal = doc.goals[0]
    goals = [
        goal.model_copy(update={"description": first}),
        goal.model_copy(update={"ref": "g2", "description": second}),
    ]
    planted = doc.model_copy(update={"goals": goals})
    assert scan(first) is None and scan(second) is None
    back = _codec(doc.kind, fmt).parse(render(planted, fmt)).document
    assert back is not None
    result = apply_policy(back, Recipient.EMPLOYER, at=AT, organisation=EMPLOYER_ORGANISATION)
    assert result.document is not None
    withheld_paths = {e.path for e in result.report if e.code == "POLICY-FREE-TEXT-WITHHELD"}
    assert withheld_paths == {"goals[ref=g1].description", "goals[ref=g2].description"}
    for out in output_formats(result.document.kind):
        visible = visible_text(render(result.document, out))
        assert first.casefold() not in visible and second.casefold() not in visible


def test_a_code_split_over_a_certificates_name_reaches_no_employer() -> None:
    cert = _read("ag7804")
    assert isinstance(cert, Certificate)
    name = cert.patient.name.model_copy(update={"given": "Tolvan F", "family": "32.1"})
    planted = cert.model_copy(update={"patient": cert.patient.model_copy(update={"name": name})})
    result = apply_policy(planted, Recipient.EMPLOYER, consent=_consent(planted), at=AT)
    assert result.document is not None
    seen = {e.path for e in result.report if "beside it" in e.message}
    assert seen == {"patient.name.given", "patient.name.family"}


# ------------------------------------------------- over HTTP: POST /messages, the employer


@pytest.mark.parametrize(
    "attack",
    ["F 3 2 . 1", "F3 2", "&#70;32.1", "3 5 4 8 9 0 0 7", "korsbandsskada", "Depreßion"],
)
def test_over_http_the_employer_receives_none_of_round_4(
    new_store: Any, attack: str, tmp_path: Any
) -> None:
    """Planted in AG7804's 29.1 and the patient's family name, sent to POST /messages: the
    employer's pulled copy holds none of it, and POST /redact said so first, with the same
    bytes."""
    employer_receives_none_over_http(new_store, tmp_path, attack)


# ---------------------------------------------------------------- consent: which employer

SPELLINGS = [
    ("2.5.4.97", "SE556123456701"),
    ("2.5.4.97", "556123 4567"),
    ("urn:oid:2.5.4.97", "SE 556123-4567 01"),
    ("2.5.4.97", "16556123-4567"),
]
UNREADABLE_OR_UNIT = [
    ("urn:oid:1.2.752.129.2.1.4.1", "SE5561234567-1234"),  # a unit of the employer
    ("http://example.org/organisations", "5561234567"),  # a system the gateway cannot read
    ("2.5.4.97", "Acme"),  # a name, not a number
]


@pytest.mark.parametrize(("system", "value"), SPELLINGS)
def test_a_permit_naming_the_employer_in_another_spelling_covers_it(
    system: str, value: str
) -> None:
    org = Identifier(system=system, value=value)
    assert names_organisation(org, EMPLOYER_ORGANISATION)
    assert evaluate_consents([GOOD.model_copy(update={"organisations": [org]})], EMPLOYER).allowed


@pytest.mark.parametrize(("system", "value"), SPELLINGS + UNREADABLE_OR_UNIT)
def test_a_deny_naming_the_employer_in_any_spelling_wins(system: str, value: str) -> None:
    """Round 3 compared a deny's organisation as exactly as a permit's, so a deny naming the
    employer by VAT number, with spaces, by a unit's HSA-id or under a system it could not
    read was ignored beside a permit. A no is read broadly: only an identifier readable as
    another organisation excludes it."""
    org = Identifier(system=system, value=value)
    assert may_name_organisation(org, EMPLOYER_ORGANISATION)
    deny = consent(
        [], "sip", kind=DocumentKind.SIP, ident="no", type=ProvisionType.DENY, organisations=[org]
    )
    nested = GOOD.model_copy(
        update={"provisions": [ConsentProvision(type=ProvisionType.DENY, organisations=[org])]}
    )
    withdrawn = deny.model_copy(
        update={"type": ProvisionType.PERMIT, "withdrawn_at": AT - timedelta(days=1)}
    )
    for offered in ([GOOD, deny], [deny, GOOD], [nested], [GOOD, withdrawn]):
        decision = evaluate_consents(offered, EMPLOYER)
        assert not decision.allowed, (value, offered)


def test_a_deny_naming_another_organisation_does_not_apply() -> None:
    other = Identifier(system="2.5.4.97", value="SE556987654301")
    assert not may_name_organisation(other, EMPLOYER_ORGANISATION)
    deny = consent(
        [],
        "sip",
        kind=DocumentKind.SIP,
        ident="no",
        type=ProvisionType.DENY,
        organisations=[other],
    )
    assert evaluate_consents([GOOD, deny], EMPLOYER).allowed


@pytest.mark.parametrize(
    ("system", "value"),
    [
        ("http://example.org/personnummer", "191212121212"),
        ("http://example.org/personnummer", "19121212-1212"),
        ("urn:oid:1.2.752.97.3.1.3", "191212121212"),  # a reserve-number system
        ("http://example.org/person", "Tolvan"),  # no number at all: cannot be told apart
    ],
)
def test_a_deny_about_the_patient_under_an_unknown_system_wins(system: str, value: str) -> None:
    """Round 3 read a no about a person written under a system it did not know as about
    someone else, and ignored it beside the patient's permit. A no is read broadly: only a
    subject readable as another person excludes it."""
    who = Identifier(system=system, value=value)
    deny = consent(
        [Recipient.EMPLOYER],
        "sip",
        kind=DocumentKind.SIP,
        ident="no",
        type=ProvisionType.DENY,
        patient=who,
        given_by=who,
    )
    assert not evaluate_consents([GOOD, deny], EMPLOYER).allowed


def test_a_deny_about_someone_readable_as_another_person_does_not_apply() -> None:
    someone = Identifier(system="1.2.752.129.2.1.3.1", value="198112289874")
    their_deny = consent(
        [Recipient.EMPLOYER],
        "sip",
        kind=DocumentKind.SIP,
        ident="no",
        type=ProvisionType.DENY,
        patient=someone,
        given_by=someone,
    )
    assert evaluate_consents([GOOD, their_deny], EMPLOYER).allowed
    # a no that names no patient, given by someone else (a guardian), may be about anyone
    guardians = their_deny.model_copy(update={"patient": None})
    assert not evaluate_consents([GOOD, guardians], EMPLOYER).allowed


@pytest.mark.parametrize("fmt", [Format.XML, Format.FHIR_JSON, Format.FHIR_XML])
def test_a_deny_by_vat_number_wins_in_every_format(fmt: Format) -> None:
    vat = Identifier(system="2.5.4.97", value="SE556123456701")
    doc = sip(
        consent=GOOD.model_copy(
            update={"provisions": [ConsentProvision(type=ProvisionType.DENY, organisations=[vat])]}
        )
    )
    back = _codec(doc.kind, fmt).parse(render(doc, fmt)).document
    assert back is not None
    result = apply_policy(back, Recipient.EMPLOYER, at=AT, organisation=EMPLOYER_ORGANISATION)
    assert result.refused and "POLICY-CONSENT-DENIED" in {e.code for e in result.report}


def test_a_deny_by_vat_number_in_the_message_wins_on_the_server() -> None:
    vat = Identifier(system="2.5.4.97", value="SE556123456701")
    deny = _certificate_consent(
        type=ProvisionType.DENY, organisations=[vat], recipients=[], id="no-by-vat"
    )
    employer = _employer(_send(_message([deny])))
    assert employer.state is DeliveryState.REFUSED and employer.payload is None
    assert employer.last_error == "POLICY-CONSENT-DENIED"


# ----------------------------------------------------------- consent tricks in FHIR, closed


def _sip_consent_variant(mutate: Any) -> Any:
    """The SIP with GOOD as its consent, written as FHIR JSON, its Consent changed and read
    back: (readable without errors, the employer's decision or None). The reader's errors
    only: validation would also judge the consent at the SIP's own time."""
    doc = sip(consent=GOOD)
    tree = orjson.loads(render(doc, Format.FHIR_JSON))
    for entry in tree["entry"]:
        if entry["resource"]["resourceType"] == "Consent":
            mutate(entry["resource"])
    parsed = _codec(doc.kind, Format.FHIR_JSON).parse(orjson.dumps(tree))
    if parsed.document is None or any(i.severity.value == "error" for i in parsed.issues):
        return False, None
    return True, apply_policy(
        parsed.document, Recipient.EMPLOYER, at=AT, organisation=EMPLOYER_ORGANISATION
    )


def test_a_deny_three_provisions_deep_wins() -> None:
    def deep(c: dict[str, Any]) -> None:
        c["provision"]["provision"] = [
            {"type": "permit", "provision": [{"type": "permit", "provision": [{"type": "deny"}]}]}
        ]

    valid, result = _sip_consent_variant(deep)
    assert valid and result.refused
    assert "POLICY-CONSENT-DENIED" in {e.code for e in result.report}


@pytest.mark.parametrize("status", ["Active", "ACTIVE", "active ", "REJECTED", "Inactive"])
def test_a_consent_status_in_another_case_is_no_status(status: str) -> None:
    valid, _ = _sip_consent_variant(lambda c: c.__setitem__("status", status))
    assert not valid


@pytest.mark.parametrize(
    ("end", "withdrawn"),
    [
        ("2026-03-01T13:30:00+02:00", True),  # 11:30 UTC, before the transfer at 12:00 UTC
        ("2026-03-01T12:30:00+14:00", True),
        ("2026-03-01T01:59:00-10:00", True),
        ("2026-03-01T02:01:00-10:00", False),  # 12:01 UTC
        ("2026-03-01T12:00:00Z", True),
        ("2026-03-01", True),
    ],
)
def test_withdrawal_boundaries_in_other_time_zones(end: str, withdrawn: bool) -> None:
    assert datetime(2026, 3, 1, 12, 0, tzinfo=UTC) == AT
    valid, result = _sip_consent_variant(
        lambda c: c["provision"].__setitem__("period", {"end": end})
    )
    assert valid and result.refused is withdrawn


@pytest.mark.parametrize("end", ["2026-03", "2026"])
def test_a_period_of_partial_precision_is_not_read_as_either_end(end: str) -> None:
    valid, _ = _sip_consent_variant(lambda c: c["provision"].__setitem__("period", {"end": end}))
    assert not valid


@pytest.mark.parametrize("who", ["patient", "performer"])
def test_a_consent_pointing_at_a_contained_patient_is_not_read(who: str) -> None:
    """A contained Patient is a person the message does not otherwise know: the consent's
    subject or giver there is an error, never an authorisation."""

    def contained(c: dict[str, Any]) -> None:
        c["contained"] = [
            {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [
                    {
                        "system": "http://electronichealth.se/identifier/personnummer",
                        "value": "191212121212",
                    }
                ],
            }
        ]
        if who == "patient":
            c["patient"] = {"reference": "#p1"}
        else:
            c["performer"] = [{"reference": "#p1"}]

    valid, _ = _sip_consent_variant(contained)
    assert not valid
