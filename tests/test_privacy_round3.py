"""Issue 15, our own attack set for every class of the second red team: characters that look
like nothing or like something else, notations, glue, values nobody scanned, consent
elements, several consents, whose consent, which employer, purpose spellings, and the dry
run that disagreed with the send. Generative classes are hypothesis properties (any
character of the classes, any separator, any glue); each class also runs through every
input and output format (tests/test_policy_leaks.py plants ``ROUND3_NOTATIONS`` in every
text of every format) and here through the server: POST /messages, then what the employer
receives, and POST /redact beside it."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from exchange_support import FK7804_XML, certificate_message, config_data
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_common import TOLVAN
from strategies_policy import (
    AT,
    EMPLOYER_ORGANISATION,
    INVISIBLE,
    LOOK_ALIKES,
    consent,
    output_formats,
    render,
    sip,
    visible_text,
)

from gateway import FIXTURES_DIR
from gateway.documents import DocumentKind, Recipient
from gateway.documents.certificate import Certificate, Quantity
from gateway.documents.common import (
    Code,
    Consent,
    ConsentProvision,
    ConsentStatus,
    Identifier,
    ProvisionType,
)
from gateway.documents.consent import Disclosure, evaluate_consents, purpose_system
from gateway.documents.identity import names_organisation, same_document_id, same_person
from gateway.documents.issues import Issue
from gateway.exchange.config import parse
from gateway.exchange.router import Accepted, Rejection, receive
from gateway.exchange.store.base import DeliveryState
from gateway.formats.base import Codec, Format
from gateway.formats.registry import codec_for
from gateway.policy import apply_policy
from gateway.policy.free_text import NO_DIAGNOSES, fold, scan
from gateway.policy.repertoire import repertoire
from gateway.policy.texts import text_verdict
from gateway.validation.service import validate_bytes

LATIN = repertoire("latin")
CATEGORIES = ["F32", "F41", "F43", "M54", "C50", "I21", "J45", "G43", "E11", "O21", "Z51"]
SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "interop" / "sklintyg"
AG114 = SAMPLES / "ag114-v1-maxed.RegisterCertificate.xml"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _codec(kind: DocumentKind, fmt: Format) -> Codec:
    codec = codec_for(kind, fmt)
    assert not isinstance(codec, Issue), codec
    return codec


def withheld(text: str, identifier: bool = False) -> bool:
    """What an employer route does with a text: the repertoire, then the scanner."""
    return text_verdict(text, NO_DIAGNOSES, LATIN, identifier=identifier) is not None


# ------------------------------------------------------------ 1. characters, generatively


def _chars(*categories: str, ranges: tuple[tuple[int, int], ...] = ()) -> list[str]:
    """Every assigned character of these categories in the ranges (default: the BMP and the
    first supplementary plane)."""
    spans = ranges or ((0x80, 0xFFFF), (0x10000, 0x1FFFF))
    return [
        chr(cp)
        for lo, hi in spans
        for cp in range(lo, hi + 1)
        if unicodedata.category(chr(cp)) in categories
    ]


#: Unicode's invisible and control classes, combining marks, spaces, every other script's
#: letters and digits, symbols, emoji: none is in the employer's repertoire.
ANY_OUTSIDE = st.sampled_from(
    _chars("Cf", "Mn", "Me", "Mc", "Zs", "Zl", "Zp", "So", "Sk", "Nl", "No")
    + INVISIBLE
    + list(LOOK_ALIKES.values())
    + _chars("Lo", "Lu", "Ll", "Lm", "Nd", ranges=((0x0370, 0x33FF), (0xA640, 0xABFF)))
).filter(lambda ch: LATIN.outside.match(ch) is not None)


@settings(max_examples=300, deadline=None)
@given(ch=ANY_OUTSIDE, code=st.sampled_from(CATEGORIES), at=st.integers(0, 4))
def test_any_character_outside_the_repertoire_withholds_the_text(
    ch: str, code: str, at: int
) -> None:
    """Planted anywhere in a code (or in an innocent text), a character outside the
    repertoire withholds the whole text, with its own rule, whatever the scanner reads."""
    text = f"{code}.1"
    planted = text[:at] + ch + text[at:]
    verdict = text_verdict(planted, NO_DIAGNOSES, LATIN)
    assert verdict is not None and verdict[0].code == "POLICY-TEXT-REPERTOIRE"
    innocent = text_verdict(f"Arbetar halvtid{ch}från maj.", NO_DIAGNOSES, LATIN)
    assert innocent is not None and innocent[0].code == "POLICY-TEXT-REPERTOIRE"


INVISIBLE_OR_LOOKING_ALIKE = st.sampled_from(
    [*INVISIBLE, *(c for c in _chars("Cf") if c not in "\u061c")]
)


@settings(max_examples=200, deadline=None)
@given(ch=INVISIBLE_OR_LOOKING_ALIKE, code=st.sampled_from(CATEGORIES), at=st.integers(1, 4))
def test_the_scanner_alone_reads_through_invisible_characters(ch: str, code: str, at: int) -> None:
    """Even where no repertoire applies (the scanner of other routes), an invisible character
    hides no code: the fold drops Unicode's format characters and the invisible letters."""
    text = f"{code}.1"
    assert scan(text[:at] + ch + text[at:]) is not None


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_look_alikes_fold_to_the_letter_they_imitate(name: str) -> None:
    assert fold(LOOK_ALIKES[name] + "32.1").upper() == "F32.1"
    assert scan(LOOK_ALIKES[name] + "32.1") is not None


@settings(max_examples=100, deadline=None)
@given(word=st.sampled_from(["depression", "utbrändhet", "ångest", "graviditet"]), at=st.data())
def test_a_combining_mark_hides_no_word(word: str, at: st.DataObject) -> None:
    """Marks are dropped before anything is composed (NFD first): ``de\\u0301pression`` and
    the document's own diagnosis with an added mark read as the word."""
    i = at.draw(st.integers(1, len(word) - 1))
    mark = at.draw(st.sampled_from(_chars("Mn", ranges=((0x0300, 0x036F),))))
    assert scan(word[:i] + mark + word[i:]) is not None


def test_a_code_stored_backwards_under_a_bidi_override_is_read_as_displayed() -> None:
    assert scan("\u202e1.23F\u202c") is not None
    assert scan("Ring \u202e1.23F\u202c om något") is not None
    assert withheld("\u202e1.23F\u202c")


# ------------------------------------------------------- 2. notations and 3. glue, generatively

SEPARATORS = st.text(st.sampled_from(" \t\n/:,.-_;\u00a0"), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(code=st.sampled_from(CATEGORIES), sep1=SEPARATORS, sep2=st.sampled_from([".", ","]))
def test_any_separator_between_the_parts_of_a_code(code: str, sep1: str, sep2: str) -> None:
    """Any run of non-alphanumerics between letter and digits, and a decimal point or
    comma before the subdivision: ``F\\t32.1``, ``F/32,1``, ``F..32.1``, ``F 32,1``."""
    assert scan(f"{code[0]}{sep1}{code[1:]}{sep2}1") is not None
    assert scan(f"Bedömning: {code[0]}{sep1}{code[1:]}{sep2}1 enligt journal.") is not None
    assert scan(f"bedömning {code[0].lower()}{sep1}{code[1:]}.1") is not None
    if code[0] != "I":  # "i 12,5 timmar" is Swedish for twelve and a half hours
        assert scan(f"{code[0].lower()}{sep1}{code[1:]},1") is not None


GLUE = st.sampled_from(["-", "_", ""])
BEFORE = st.sampled_from(["Tolvansson", "journal", "2025", "BEDOMNING", "2024", "IntygsNr", "x"])


@settings(max_examples=200, deadline=None)
@given(
    before=BEFORE, glue=GLUE, code=st.sampled_from(CATEGORIES), sub=st.sampled_from(["", ".1", "1"])
)
def test_a_code_glued_to_a_word_or_number_in_free_text(
    before: str, glue: str, code: str, sub: str
) -> None:
    """In free text glue hides nothing (``journal-F32``, ``2024F32.1``, ``BEDOMNINGF32``);
    the identifier exemption is for identifier fields only."""
    assert scan(f"{before}{glue}{code}{sub}") is not None


def test_the_identifier_exemption_holds_only_in_identifier_fields() -> None:
    hsa = "SE2321000016-A00"
    assert scan(hsa, identifier=True) is None
    assert not withheld(hsa, identifier=True)
    assert scan(f"Kontakt {hsa}") is not None  # the same token in free text names cholera
    assert scan("İ har M54 och F32") is not None  # one İ switches nothing off


@pytest.mark.parametrize(
    "text", ["6a70", "6A70", "ICD-11: 6a70.1", "ba41.0", "35 489 007", "35489007", "35.489.007"]
)
def test_icd11_in_lower_case_and_snomed_in_digit_groups(text: str) -> None:
    assert scan(text) is not None


# ----------------------------------------------------------------- benign controls pass

BENIGN = [
    "Tolvan Åström",
    "Åsa Öberg-Müller",
    "Zoë Noël Sjögren",
    "Renée Andrés Peña",
    "Jürgen Grünewald",
    "Marek Żółkiewski",
    "Arbetar i MS Office och Excel.",
    "Arbetar i MS Word, MS Teams och Outlook.",
    "Sjukskriven v. 12-15, åter v 16.",
    "Vecka 12 halvtid, vecka 13 heltid.",
    "Möte 2026-03-12 kl. 13.30 i rum 4.",
    "Ring 010-123 45 67 eller 08-555 123 45.",
    "I 12 veckor har hen arbetat halvtid; i 12,5 timmar per vecka.",
    "Arbetsträning 25 %, därefter 50 % (ca 20 tim/v).",
    "Kontakt: anna.svensson@foretaget.se – “ring gärna” …",
    "Box 1234, 123 45 Småmåla. PL 1234.",
    "Lön utbetalas den 25:e; 1 234 kr per dag.",
]


@pytest.mark.parametrize("text", BENIGN)
def test_benign_controls_pass(text: str) -> None:
    assert not withheld(text), text_verdict(text, NO_DIAGNOSES, LATIN)


# ----------------------------------------------- 4. values never scanned: units and integers


def _ag114(update: Any) -> Certificate:
    doc = validate_bytes(AG114.read_bytes()).document
    assert isinstance(doc, Certificate)
    answers = [update(a) for a in doc.answers]
    return doc.model_copy(update={"answers": answers})


def _quantity(unit: str, value: float) -> Any:
    def change(answer: Any) -> Any:
        parts = [
            p.model_copy(update={"value": Quantity(value=value, unit=unit)})
            if isinstance(p.value, Quantity)
            else p
            for p in answer.parts
        ]
        return answer.model_copy(update={"parts": parts})

    return change


@pytest.mark.parametrize("fmt", [Format.XML, Format.FHIR_JSON, Format.FHIR_XML])
@pytest.mark.parametrize(
    ("unit", "value"), [("F32.1", 50.0), ("% depression", 50.0), ("%", 35489007.0), ("%", 12.5)]
)
def test_a_quantitys_unit_and_value_are_bounded_in_every_format(
    fmt: Format, unit: str, value: float
) -> None:
    doc = _ag114(_quantity(unit, value))
    received = _codec(doc.kind, fmt).parse(render(doc, fmt)).document
    assert received is not None
    result = apply_policy(
        received,
        Recipient.EMPLOYER,
        consent=consent([Recipient.EMPLOYER], "sick-pay", given_by=received.patient.id),  # type: ignore[union-attr]
        at=AT,
        organisation=EMPLOYER_ORGANISATION,
    )
    assert ("removed", "POLICY-VALUE-NOT-BOUNDED") in {(e.action, e.code) for e in result.report}
    assert result.document is not None
    for out in output_formats(result.document.kind):
        seen = visible_text(render(result.document, out))
        assert "f32.1" not in seen and "depression" not in seen and "35489007" not in seen


def test_an_instance_is_a_small_ordinal() -> None:
    def inflate(answer: Any) -> Any:
        return answer.model_copy(update={"instance": 35489007}) if answer.instance else answer

    doc = _ag114(inflate)
    result = apply_policy(
        doc,
        Recipient.EMPLOYER,
        consent=consent([Recipient.EMPLOYER], "sick-pay", given_by=doc.patient.id),
        at=AT,
        organisation=EMPLOYER_ORGANISATION,
    )
    assert result.document is not None
    assert all(
        a.instance is None or a.instance < 100
        for a in result.document.answers  # type: ignore[union-attr]
    )
    assert "POLICY-VALUE-NOT-BOUNDED" in {e.code for e in result.report}


# ------------------------------------------------------- 5.-9. consents, every element read

EMPLOYER = Disclosure(
    kind=DocumentKind.SIP,
    at=AT,
    document_id="sip-1",
    patient=TOLVAN,
    document_time=datetime(2026, 2, 15, 9, 0, tzinfo=UTC),
    recipient=Recipient.EMPLOYER,
    purposes=frozenset({"sip"}),
    organisation=EMPLOYER_ORGANISATION,
    named_organisation=True,
)
GOOD = consent([Recipient.EMPLOYER], "sip", kind=DocumentKind.SIP)
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"

#: attack -> (changes to a consent that allows the transfer, the refusal's code)
CONSENT_ATTACKS: dict[str, tuple[dict[str, Any], str]] = {
    "research scope": ({"consent_scope": Code(code="research")}, "POLICY-CONSENT-SCOPE"),
    "treatment scope": ({"consent_scope": Code(code="treatment")}, "POLICY-CONSENT-SCOPE"),
    "another category": (
        {"categories": [Code(code="acd", system="http://loinc.org")]},
        "POLICY-CONSENT-CATEGORY",
    ),
    "collect only": (
        {"actions": [Code(code="collect", system=CONSENT_ACTION)]},
        "POLICY-CONSENT-ACTION",
    ),
    "access only": (
        {"actions": [Code(code="access", system=CONSENT_ACTION)]},
        "POLICY-CONSENT-ACTION",
    ),
    "an unknown action": ({"actions": [Code(code="disclose")]}, "POLICY-CONSENT-ACTION"),
    "data period ended before the document": (
        {"data_to": datetime(2025, 1, 1, tzinfo=UTC)},
        "POLICY-CONSENT-DATA-PERIOD",
    ),
    "data period starts after the document": (
        {"data_from": datetime(2026, 3, 1, tzinfo=UTC)},
        "POLICY-CONSENT-DATA-PERIOD",
    ),
    "provision.code": (
        {"codes": [Code(code="F32", system="1.2.752.116.1.1.1")]},
        "POLICY-CONSENT-CODE",
    ),
    "provision.securityLabel": (
        {
            "security_labels": [
                Code(code="R", system="http://terminology.hl7.org/CodeSystem/v3-Confidentiality")
            ]
        },
        "POLICY-CONSENT-SECURITY-LABEL",
    ),
    "verified false": ({"verified": False}, "POLICY-CONSENT-UNVERIFIED"),
    "policy reference": ({"not_understood": ["policy"]}, "POLICY-CONSENT-UNKNOWN-ELEMENT"),
    "audience only": ({"organisations": []}, "POLICY-CONSENT-ORGANISATION"),
    "another employer": (
        {"organisations": [Identifier(system="2.5.4.97", value="5569876543")]},
        "POLICY-CONSENT-ORGANISATION",
    ),
    "urn:oid purpose system": (
        {"purposes": [Code(code="sip", system="urn:oid:consent-purpose")]},
        "POLICY-CONSENT-PURPOSE-UNCODED",
    ),
    "a nested deny narrowed to codes": (
        {"provisions": [ConsentProvision(type=ProvisionType.DENY, codes=[Code(code="x")])]},
        "POLICY-CONSENT-DENIED",
    ),
    "a nested deny for disclosing": (
        {
            "provisions": [
                ConsentProvision(
                    type=ProvisionType.DENY, actions=[Code(code="disclose", system=CONSENT_ACTION)]
                )
            ]
        },
        "POLICY-CONSENT-DENIED",
    ),
}


def test_the_legitimate_consent_allows_it() -> None:
    assert evaluate_consents([GOOD], EMPLOYER).allowed


@pytest.mark.parametrize("attack", sorted(CONSENT_ATTACKS))
def test_every_limiting_element_is_read(attack: str) -> None:
    changes, code = CONSENT_ATTACKS[attack]
    decision = evaluate_consents([GOOD.model_copy(update=changes)], EMPLOYER)
    assert not decision.allowed and decision.problem is not None
    assert decision.problem.rule.code == code


@pytest.mark.parametrize("attack", sorted(CONSENT_ATTACKS))
@pytest.mark.parametrize("fmt", [Format.XML, Format.FHIR_JSON, Format.FHIR_XML])
def test_every_limiting_element_survives_every_format(attack: str, fmt: Format) -> None:
    """What the evaluator reads, every input format carries: a SIP with the attacked
    consent, written and read back, is refused for the employer with the same code."""
    changes, code = CONSENT_ATTACKS[attack]
    doc = sip(consent=GOOD.model_copy(update=changes))
    back = _codec(doc.kind, fmt).parse(render(doc, fmt)).document
    assert back is not None
    result = apply_policy(back, Recipient.EMPLOYER, at=AT, organisation=EMPLOYER_ORGANISATION)
    assert result.refused and code in {e.code for e in result.report}


def test_nested_denies_that_do_not_apply_leave_it_standing() -> None:
    for deny in (
        ConsentProvision(
            type=ProvisionType.DENY, actions=[Code(code="collect", system=CONSENT_ACTION)]
        ),
        ConsentProvision(
            type=ProvisionType.DENY,
            organisations=[Identifier(system="2.5.4.97", value="5569876543")],
        ),
        ConsentProvision(type=ProvisionType.DENY, data_to=datetime(2025, 1, 1, tzinfo=UTC)),
    ):
        assert evaluate_consents([GOOD.model_copy(update={"provisions": [deny]})], EMPLOYER).allowed


def test_deny_wins_wherever_it_stands() -> None:
    """Every consent offered is read: a later deny, a later withdrawn copy of the same
    consent, an opt-out, a rejection refuse whatever came first."""
    later_deny = consent(
        [Recipient.EMPLOYER], "sip", kind=DocumentKind.SIP, ident="c2", type=ProvisionType.DENY
    )
    withdrawn_copy = GOOD.model_copy(update={"withdrawn_at": AT - timedelta(days=1)})
    inactive_copy = GOOD.model_copy(update={"status": ConsentStatus.INACTIVE})
    rejected = consent(
        [Recipient.EMPLOYER],
        "sip",
        kind=DocumentKind.SIP,
        ident="c3",
        status=ConsentStatus.REJECTED,
    )
    for other, code in (
        (later_deny, "POLICY-CONSENT-DENIED"),
        (withdrawn_copy, "POLICY-CONSENT-WITHDRAWN"),
        (inactive_copy, "POLICY-CONSENT-STATUS"),
        (rejected, "POLICY-CONSENT-STATUS"),
    ):
        for order in ([GOOD, other], [other, GOOD]):
            decision = evaluate_consents(order, EMPLOYER)
            assert not decision.allowed and decision.problem is not None, other
            assert decision.problem.rule.code == code


def test_whose_consent_is_compared_by_identifier() -> None:
    """Two consents, one about another person: its deny does not stop this patient's
    transfer, and its permit does not authorise it."""
    someone = Identifier(system=TOLVAN.system, value="201212121212")
    theirs = consent(
        [Recipient.EMPLOYER],
        "sip",
        kind=DocumentKind.SIP,
        ident="x",
        patient=someone,
        given_by=someone,
    )
    their_deny = theirs.model_copy(update={"type": ProvisionType.DENY})
    assert evaluate_consents([GOOD, their_deny], EMPLOYER).allowed
    refused = evaluate_consents([theirs], EMPLOYER)
    assert (
        refused.problem is not None and refused.problem.rule.code == "POLICY-CONSENT-OTHER-PATIENT"
    )


@pytest.mark.parametrize(
    ("value", "system"),
    [
        ("19121212-1212", TOLVAN.system),
        ("1212121212", TOLVAN.system),
        ("121212+1212", TOLVAN.system),
        (TOLVAN.value, "urn:oid:" + TOLVAN.system),
        (TOLVAN.value, "http://electronichealth.se/identifier/personnummer"),
    ],
)
def test_the_patients_own_personnummer_in_any_spelling_is_the_patient(
    value: str, system: str
) -> None:
    spelt = Identifier(system=system, value=value)
    assert same_person(spelt, TOLVAN)
    assert evaluate_consents(
        [GOOD.model_copy(update={"given_by": spelt, "patient": spelt})], EMPLOYER
    ).allowed


def test_identities_that_differ() -> None:
    assert not same_person(Identifier(system=TOLVAN.system, value="201212121212"), TOLVAN)
    assert not same_person(Identifier(system="2.5.4.97", value=TOLVAN.value), TOLVAN)
    assert names_organisation(
        Identifier(system="urn:oid:2.5.4.97", value="16556123-4567"), "5561234567"
    )
    assert not names_organisation(
        Identifier(system=TOLVAN.system, value="5561234567"), "5561234567"
    )
    assert same_document_id(
        "9020FBB9-E387-40B0-BA75-000000000001", "urn:uuid:9020fbb9-e387-40b0-ba75-000000000001"
    )


def test_the_document_id_in_another_letter_case_is_the_document() -> None:
    scoped = GOOD.model_copy(
        update={"scope": GOOD.scope.model_copy(update={"document_id": "SIP-1"})}
    )
    assert evaluate_consents([scoped], EMPLOYER).allowed


def test_purposes_compare_exactly_after_the_declared_aliases() -> None:
    declared = purpose_system().system
    assert declared == "consent-purpose"
    for spelling in ("urn:oid:consent-purpose", "CONSENT-PURPOSE", "consent-purpose/"):
        bad = GOOD.model_copy(update={"purposes": [Code(code="sip", system=spelling)]})
        assert not evaluate_consents([bad], EMPLOYER).allowed, spelling


@pytest.mark.parametrize("spelling", ["urn:oid:consent-purpose", "consent-purpose"])
def test_fhir_purpose_system_spellings_are_not_the_declared_one(spelling: str) -> None:
    doc = sip(consent=GOOD)
    tree = orjson.loads(render(doc, Format.FHIR_JSON))
    for entry in tree["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Consent":
            for p in res["provision"]["purpose"]:
                p["system"] = spelling
    back = _codec(doc.kind, Format.FHIR_JSON).parse(orjson.dumps(tree)).document
    assert back is not None
    result = apply_policy(back, Recipient.EMPLOYER, at=AT, organisation=EMPLOYER_ORGANISATION)
    assert result.refused and result.report[0].code == "POLICY-CONSENT-PURPOSE-UNCODED"


# --------------------------------------------- 6.-10. the server path: send, then the employer


def _sender_and_config() -> Any:
    config = parse(config_data())
    sender = config.sender("region-vg")
    assert sender is not None
    return sender, config


def _message(extra_consents: list[Consent] = (), **kw: Any) -> bytes:  # type: ignore[assignment]
    from gateway.formats.fhir.consent import write_consent

    tree = orjson.loads(certificate_message(FK7804_XML, ("employer", "forsakringskassan"), **kw))
    for i, c in enumerate(extra_consents):
        tree["entry"].append(
            {"fullUrl": f"urn:uuid:extra-{i}", "resource": write_consent(c, "urn:uuid:nowhere")}
        )
    return orjson.dumps(tree)


def _send(body: bytes) -> Accepted | Rejection:
    sender, config = _sender_and_config()
    return receive(body, content_type="application/fhir+json", sender=sender, config=config, now=T0)


def _employer(result: Accepted | Rejection) -> Any:
    assert isinstance(result, Accepted)
    return next(d for d in result.message.deliveries if d.recipient_id == "acme")


def _certificate_consent(**changes: Any) -> Consent:
    doc = validate_bytes(FK7804_XML.read_bytes()).document
    assert isinstance(doc, Certificate)
    base = consent(
        [Recipient.EMPLOYER],
        "rehabilitation",
        kind=DocumentKind.CERTIFICATE,
        given_by=doc.patient.id,
        ident="extra",
    )
    return base.model_copy(update={"patient": doc.patient.id, **changes})


def test_the_server_sends_the_employer_its_copy_on_a_consent_naming_it() -> None:
    employer = _employer(_send(_message()))
    assert employer.state is DeliveryState.PENDING and employer.payload is not None
    assert b"M54" not in employer.payload


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"type": ProvisionType.DENY}, "POLICY-CONSENT-DENIED"),
        ({"withdrawn_at": T0 - timedelta(days=1), "id": "samtycke-1"}, "POLICY-CONSENT-WITHDRAWN"),
        ({"policy_rule": "OPTOUT"}, "POLICY-CONSENT-OPT-OUT"),
    ],
)
def test_a_later_no_in_the_message_wins_on_the_server(changes: dict[str, Any], code: str) -> None:
    employer = _employer(_send(_message([_certificate_consent(**changes)])))
    assert employer.state is DeliveryState.REFUSED and employer.payload is None
    assert employer.last_error == code


def test_a_consent_about_another_person_in_the_message_neither_stops_nor_allows() -> None:
    someone = Identifier(system=TOLVAN.system, value="201212121212")
    theirs = _certificate_consent(patient=someone, given_by=someone, type=ProvisionType.DENY)
    assert _employer(_send(_message([theirs]))).state is DeliveryState.PENDING
    only_theirs = _certificate_consent(patient=someone, given_by=someone, id="theirs")
    refused = _employer(_send(_message([only_theirs], consent_id=None)))
    assert refused.state is DeliveryState.REFUSED


def test_a_consent_naming_another_employer_does_not_reach_this_one() -> None:
    body = certificate_message(
        FK7804_XML, ("employer",), covers=("employer",), message_id="m-other"
    )
    tree = orjson.loads(body)
    for entry in tree["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Consent":
            for actor in res["provision"]["actor"]:
                ident = actor["reference"].get("identifier", {})
                if ident.get("value") == "5561234567":
                    ident["value"] = "5569876543"
    result = _send(orjson.dumps(tree))
    assert isinstance(result, Rejection)
    assert {i.code for i in result.issues} == {"POLICY-CONSENT-ORGANISATION"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda: _message(), id="consent naming the employer"),
        pytest.param(lambda: _message(consent_id=None), id="no consent"),
        pytest.param(
            lambda: _message([_certificate_consent(type=ProvisionType.DENY)]), id="a later deny"
        ),
        pytest.param(
            lambda: (
                FIXTURES_DIR / "sip" / "fhir-message-valid-four-principals.fhir.json"
            ).read_bytes(),
            id="a SIP message",
        ),
    ],
)
def test_redact_and_send_decide_alike(body: Any) -> None:
    """POST /redact runs the very accept pipeline of POST /messages: the same bytes give the
    same decision, report and copy for every recipient (issue 15, class 10)."""
    from gateway.exchange.server.handlers import _first_decision

    data = body()
    sent = _send(data)
    sender, config = _sender_and_config()
    for rid in [r for r in sender.recipients if config.recipient(r) is not None]:
        dry = receive(
            data,
            content_type="application/fhir+json",
            named=[rid],
            sender=sender,
            config=config,
            now=T0,
        )
        decision = _first_decision(dry)
        policy = [
            e
            for e in (sent.message.audit if isinstance(sent, Accepted) else sent.audit)
            if e.action == "policy" and e.recipient_id == rid
        ]
        if decision is None or not policy:
            continue
        assert decision["refused"] == policy[0].detail["refused"], rid
        assert decision["report"] == policy[0].detail["report"], rid
        if isinstance(sent, Accepted):
            delivered = next(d for d in sent.message.deliveries if d.recipient_id == rid)
            assert (decision["payload_base64"] is None) == (delivered.payload is None)


# ---------------------------------------------------- over HTTP: POST /messages, the employer


def _attacked_certificate(text: str) -> bytes:
    """Inera's AG7804 with ``text`` planted in a text part written for the employer (29.1,
    the patient's work) and in the patient's name."""
    doc = validate_bytes(
        (SAMPLES / "ag7804-v1-no-diagnosis.RegisterCertificate.xml").read_bytes()
    ).document
    assert isinstance(doc, Certificate)
    answers = [
        a.model_copy(
            update={
                "parts": [
                    p.model_copy(update={"value": text}) if p.id == "29.1" else p for p in a.parts
                ]
            }
        )
        for a in doc.answers
    ]
    name = doc.patient.name.model_copy(update={"family": text})
    patient = doc.patient.model_copy(update={"name": name, "id": TOLVAN})  # a valid check digit
    doc = doc.model_copy(update={"answers": answers, "patient": patient})
    return render(doc, Format.XML)


@pytest.mark.parametrize(
    "attack",
    [
        "F\u316432.1",
        "\u202e1.23F\u202c",
        "F 32,1",
        "journal-F32",
        "35 489 007",
        "utbränd",
        "\U0001d405\U0001d7d1\U0001d7d0",
    ],
)
def test_over_http_the_employer_receives_no_attack_and_redact_says_so_first(
    new_store: Any, attack: str, tmp_path: Path
) -> None:
    employer_receives_none_over_http(new_store, tmp_path, attack)


def employer_receives_none_over_http(new_store: Any, tmp_path: Path, attack: str) -> None:
    """``attack`` planted in AG7804's 29.1 and the patient's family name, sent to POST
    /messages: the employer's pulled copy holds none of it, and POST /redact said so first,
    with the same bytes."""
    from exchange_support import AUTH_REGION, Clock, FakeTransport, make_config, run, serving

    from gateway.exchange.server.app import OUTBOX

    source = tmp_path / "attacked.xml"
    source.write_bytes(_attacked_certificate(attack))
    data = certificate_message(source, ("employer",), message_id="atk")

    async def main() -> None:
        t = {"acme": FakeTransport(), "fk": FakeTransport()}
        headers = {**AUTH_REGION, "Content-Type": "application/fhir+json"}
        async with serving(make_config(), new_store(), t, clock=Clock()) as client:
            dry = await client.post("/redact?for=acme", data=data, headers=headers)
            preview = await dry.json()
            sent = await client.post("/messages", data=data, headers=headers)
            assert sent.status == 202, await sent.text()
            outbox = client.app[OUTBOX]
            while await outbox.run_once():
                await outbox.drain()
            (parcel,) = t["acme"].parcels
            seen = visible_text(parcel.payload)
            assert fold(attack).casefold() not in fold(seen) and attack.casefold() not in seen
            assert "f32" not in fold(seen).replace(" ", "") and "depre" not in fold(seen)
            assert "35489007" not in seen.replace(" ", "")
            assert base64_payload(preview) == parcel.payload  # the dry run is the send
            codes = {e["code"] for e in preview["report"]}
            assert codes & {"POLICY-TEXT-REPERTOIRE", "POLICY-FREE-TEXT-WITHHELD"}, codes

    run(main())


def base64_payload(answer: dict[str, Any]) -> bytes:
    import base64

    return base64.b64decode(answer["payload_base64"])


def test_a_notification_fk_cannot_receive_says_which_field_is_missing() -> None:
    """Issue 20: a §4 notification refused for EXCHANGE-CANNOT-RENDER says why, as
    POST /convert does: in the answer, the delivery's reason and the audit trail."""
    from strategies_policy import section4

    notice = section4(certificate_id=None)
    body = render(notice, Format.XML)
    sender, config = _sender_and_config()
    result = receive(
        body, content_type="application/xml", named=["fk"], sender=sender, config=config, now=T0
    )
    assert isinstance(result, Rejection)
    (problem,) = result.issues
    assert problem.code == "EXCHANGE-CANNOT-RENDER" and "certificate" in problem.message
    policy = next(e for e in result.audit if e.action == "policy")
    assert policy.detail is not None and "certificate" in policy.detail["render_error"]
