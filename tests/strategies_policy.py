"""Shared helpers for the policy tests: hand-made documents and the rendered-output check."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, date, datetime

from hypothesis import strategies as st
from strategies_common import TOLVAN, hsa

from gateway.documents import Document, DocumentKind
from gateway.documents.common import (
    Address,
    CareUnit,
    Code,
    Consent,
    ConsentMethod,
    ConsentScope,
    ConsentStatus,
    Contact,
    HealthcareProfessional,
    Identifier,
    Organisation,
    Person,
    PersonName,
    Recipient,
)
from gateway.documents.consent import purpose_code, purpose_system
from gateway.documents.identity import ORGANISATIONSNUMMER_OID
from gateway.documents.return_to_work import (
    FollowUp,
    MeasureType,
    ReturnToWorkMeasure,
    ReturnToWorkPlan,
)
from gateway.documents.section4 import Section4Notification
from gateway.documents.sip import (
    PrincipalType,
    Sip,
    SipCoordinator,
    SipEffort,
    SipGoal,
    SipNeed,
    SipParticipant,
)
from gateway.formats.base import Format

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: The employer every employer consent here names (consent is to a named recipient): the
#: loopback demo's Acme, organisation number 556123-4567.
EMPLOYER_ORGANISATION = "5561234567"
EMPLOYER_ORG = Identifier(system=ORGANISATIONSNUMMER_OID, value="556123-4567")
#: The answers a certificate may keep on its way to an employer: AG7804's field set.
EMPLOYER_ANSWER_IDS = frozenset(
    {"1", "27", "28", "29", "100", "35", "17", "19", "20", "32", "37", "33", "34", "39", "40"}
    | {"44", "25", "103"}
)


def consent(
    recipients: list[Recipient],
    purpose: str,
    *,
    kind: DocumentKind | None = None,
    given_at: datetime = datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
    withdrawn_at: datetime | None = None,
    given_by: Identifier = TOLVAN,
    ident: str = "c1",
    **changes: object,
) -> Consent:
    """An active opt-in consent for ``purpose`` (a code of the purpose code system, or any
    other code, which never authorises), scoped to ``kind`` (default: the purpose's kind where
    it has one, else a certificate). A consent naming the employer names its organisation
    (:data:`EMPLOYER_ORG`) too."""
    ps = purpose_system()
    code = purpose_code(purpose) if purpose in ps.kinds else Code(code=purpose, system=ps.system)
    if kind is None:
        kinds = ps.kinds.get(purpose, frozenset())
        kind = next(iter(kinds)) if len(kinds) == 1 else DocumentKind.CERTIFICATE
    base = Consent(
        id=ident,
        status=ConsentStatus.ACTIVE,
        scope=ConsentScope(kind=kind),
        given_by=given_by,
        given_at=given_at,
        method=ConsentMethod.WRITTEN,
        recipients=recipients,
        purposes=[code],
        recorded_by=hsa("REHAB1"),
        withdrawn_at=withdrawn_at,
        organisations=[EMPLOYER_ORG] if Recipient.EMPLOYER in recipients else [],
    )
    return base.model_copy(update=changes)


PATIENT = Person(
    id=TOLVAN,
    name=PersonName(given="Tolvan", family="Tolvansson"),
    address=Address(street="Storgatan 1", postal_code="12345", city="Småmåla"),
)
UNIT = CareUnit(
    id=hsa("VC1"),
    name="Vårdcentralen Ängen",
    address=Address(street="Vårdvägen 2", postal_code="12345", city="Småmåla"),
    phone="010-1234567",
    care_provider=Organisation(id=hsa("RG1"), name="Region Testlän"),
)
STAFF = HealthcareProfessional(id=hsa("DR1"), name="Ada Läkare", unit=UNIT)
COORDINATOR = Contact(name="Rehabkoordinator Vårdcentralen Ängen", phone="010-7654321")


def section4(**changes: object) -> Section4Notification:
    base = Section4Notification(
        id="s4-1",
        sent_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        patient=PATIENT,
        coordinator=COORDINATOR,
        region=Organisation(id=hsa("RG1"), name="Region Testlän"),
        unit=UNIT,
        sent_by=STAFF,
        consent=consent([Recipient.FORSAKRINGSKASSAN], "section4"),
        certificate_id=Identifier(system="SE2321000016-VC1", value="cert-1"),
    )
    return base.model_copy(update=changes)


def sip(**changes: object) -> Sip:
    base = Sip(
        id="sip-1",
        created_at=datetime(2026, 2, 15, 9, 0, tzinfo=UTC),
        patient=PATIENT,
        participants=[
            SipParticipant(
                ref="p1",
                organisation=Organisation(id=hsa("RG1"), name="Region Testlän"),
                principal_type=PrincipalType.REGION,
            ),
            SipParticipant(
                ref="p2",
                organisation=Organisation(name="Småmåla kommun"),
                principal_type=PrincipalType.MUNICIPALITY,
            ),
        ],
        coordinator=SipCoordinator(participant="p1", contact=COORDINATOR),
        needs=[SipNeed(ref="n1", description="Stöd att komma tillbaka till arbetet.")],
        goals=[SipGoal(ref="g1", description="Arbeta halvtid i maj.", need_refs=["n1"])],
        efforts=[SipEffort(ref="e1", description="Arbetsträning.", responsible="p1")],
        consent=consent([Recipient.REGION, Recipient.MUNICIPALITY, Recipient.EMPLOYER], "sip"),
    )
    return base.model_copy(update=changes)


def return_to_work_plan(**changes: object) -> ReturnToWorkPlan:
    base = ReturnToWorkPlan(
        id="rtw-1",
        employer=Organisation(
            id=Identifier(system=ORGANISATIONSNUMMER_OID, value="556677-8899"),
            name="Testbolaget AB",
        ),
        employee=PATIENT,
        first_day_of_reduced_capacity=date(2026, 1, 10),
        expected_leave_60_days_or_more=True,
        plan_date=date(2026, 2, 5),
        measures=[
            ReturnToWorkMeasure(
                ref="m1", type=MeasureType.PART_TIME, description="Halvtid från 1 mars."
            )
        ],
        contact_during_leave="Chefen ringer varannan vecka.",
        follow_ups=[FollowUp(on=date(2026, 4, 1), how="Möte på arbetsplatsen.")],
    )
    return base.model_copy(update=changes)


def icd(code: str, display: str | None = None) -> Code:
    return Code(code=code, system="1.2.752.116.1.1.1", display=display)


# ----------------------------------------------------------------------- rendered output


def output_formats(kind: DocumentKind) -> list[Format]:
    """The formats a document of this kind can be rendered in today (FHIR mappings land
    kind by kind)."""
    from gateway.formats.fhir.codec import mapping_for

    found = [Format.XML]
    if mapping_for(kind) is not None:
        found += [Format.FHIR_JSON, Format.FHIR_XML]
    return found


def render(document: Document, fmt: Format) -> bytes:
    from gateway.formats.registry import codec_for

    codec = codec_for(document.kind, fmt)
    assert not hasattr(codec, "code"), codec
    return codec.render(document)


def visible_text(data: bytes) -> str:
    """Rendered bytes as a reader sees them: XML character references resolved (``&#xE4;``),
    case folded. (orjson writes UTF-8 as is.)"""
    return html.unescape(data.decode("utf-8")).casefold()


Renderer = Callable[[Document], bytes]


# ------------------------------------------------------------------ planted diagnosis data

# Distinctive diagnosis wordings and codes: none of them occurs in what the base strategies
# generate or in the structure of any output format, so finding one in an output is a leak.
DIAGNOSIS_TERMS = [
    "Järnbristanemi",
    "Huntingtons sjukdom",
    "Medelsvår depressiv episod",
    "Utmattningssyndrom",
    "Lumbago med ischias",
    "Bröstcancer",
    "Paranoid schizofreni",
    "Migrän utan aura",
]
DIAGNOSIS_CODES = ["F32.1", "M54.4", "F43.8A", "C50.9", "I21.9", "E11.9", "G43.0", "S47.9"]
DIAGNOSTIC_SYSTEMS = [
    "1.2.752.116.1.1.1",
    "1.2.752.116.1.1.1.1.8",
    "1.2.752.116.1.1.1.1.3",
    "urn:oid:1.2.752.116.1.1.1",
    "1.2.752.116.1.3.1.4.1",
    "http://id.who.int/icd/release/11/mms",
    "1.2.752.116.2.1.1.1",
    "http://snomed.info/sct",
    # issue 9: the spellings the red team got through
    "urn:oid:2.16.840.1.113883.6.96",
    "http://snomed.info/sct/45991000052106",
    "urn:oid:2.16.840.1.113883.6.3",
    "http://id.who.int/icd/entity",
    "http://hl7.org/fhir/sid/ICD-10-SE",
    "https://hl7.org/fhir/sid/icd-10-se",
    "http://example.org/fhir/CodeSystem/ICD-10-SE",
    "HTTP://SNOMED.INFO/SCT/",
    "http://www.whocc.no/atc",
]
#: Systems no employer route lists: their codes are withheld by default.
UNLISTED_SYSTEMS = [
    "urn:oid:1.2.752.129.2.2.1.26",  # specialist competence
    "http://example.org/fhir/CodeSystem/local-speciality",
    "urn:uuid:0f0e0d0c-0b0a-4908-8706-050403020100",
]


def diagnosis_terms_strategy(terms: list[str] = DIAGNOSIS_TERMS) -> st.SearchStrategy[str]:
    return st.sampled_from(terms).flatmap(lambda t: st.sampled_from([t, t.lower(), t.upper()]))


diagnosis_codes = st.builds(
    Code,
    code=st.sampled_from(DIAGNOSIS_CODES),
    system=st.sampled_from(DIAGNOSTIC_SYSTEMS),
    display=st.sampled_from(DIAGNOSIS_TERMS),
)


@st.composite
def planted_text(draw: st.DrawFn, base: str = "", terms: list[str] | None = None) -> str:
    """Free text with a diagnosis code, or one of ``terms`` (the diagnosis wordings the
    document states in its diagnosis fields), planted somewhere in it."""
    codes = st.sampled_from(DIAGNOSIS_CODES)
    leak = draw(st.one_of(codes, diagnosis_terms_strategy(terms)) if terms else codes)
    before = draw(st.sampled_from(["", "Patienten mår bättre. ", "Sjukskriven sedan mars.\n"]))
    after = draw(st.sampled_from(["", " Åter i arbete i maj.", "\nRing gärna."]))
    glue = draw(st.sampled_from(["Har {}.", "Diagnos: {}", "({})", "{} enligt journal."]))
    return before + glue.format(leak) + after + (f" {base}" if base else "")


def leaks(visible: str) -> list[str]:
    """Planted diagnosis wordings and codes found in an output (as :func:`visible_text`)."""
    return [t for t in DIAGNOSIS_TERMS + DIAGNOSIS_CODES if t.casefold() in visible]


# ------------------------------------------------- diagnosis data in a hostile sender's notation

#: Latin capitals and the Cyrillic letters that look the same.
_CYRILLIC = dict(zip("ABCEHIJKMOPSTX", "АВСЕНІЈКМОРЅТХ", strict=True))


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


#: Every trick of issue 9 on an ICD-10 code (``F32.1``).
CODE_TRICKS: list[Callable[[str], str]] = [
    lambda c: c,
    lambda c: c.lower(),
    lambda c: c.replace(".", "-"),
    lambda c: c[0] + " " + c[1:],
    lambda c: c.replace(".", ""),
    lambda c: "ICD10-" + c,
    lambda c: "dx_" + c,
    lambda c: "diagnoskod" + c,
    lambda c: c[0] + "\u200d" + c[1:],
    lambda c: c[:2] + "\u200b" + c[2:],
    _fullwidth,
    lambda c: _CYRILLIC.get(c[0], c[0]) + c[1:],
    lambda c: c.split(".")[0] + "-P",  # KSH97-P
]
#: Codes of other systems and words, as the red team wrote them.
OTHER_NOTATIONS = [
    "6A70",  # ICD-11 depressive episode
    "ICD-11 6A70.1",
    "35489007",  # SNOMED CT depressive disorder
    "N06AB06",  # ATC sertraline
    "depression",
    "depressionen",
    "Utmattningssyndrom",
    "utmattningsdepression",
    "bröstcancer",
    "SCHIZOFRENI",
    "sertralin",
    "litium",
    "migränen",
    "moderate depressive episode",
]
#: Issue 15: characters that look like nothing or like something else, one per class.
INVISIBLE = ["\u3164", "\u115f", "\u1160", "\uffa0", "\u2800", "\u200b", "\u2060", "\u00ad"]
LOOK_ALIKES = {  # a letter F and its look-alikes outside the confusables pairs of issue 9
    "regional indicator": "\U0001f1eb",
    "negative squared": "\U0001f175",
    "negative circled": "\U0001f155",
    "small capital": "\ua730",
    "hook": "\u0191",
    "stroke": "\ua798",
    "mathematical bold": "\U0001d405",
    "mathematical fraktur": "\U0001d509",
    "circled": "\u24bb",
    "fullwidth": "\uff26",
}
#: Issue 15: every separator, glue and trick of the second attack set, on F32.1.
ROUND3_TRICKS: list[Callable[[str], str]] = [
    *(lambda c, ch=ch: c[0] + ch + c[1:] for ch in INVISIBLE),
    *(lambda c, ch=ch: ch + c[1:] for ch in LOOK_ALIKES.values()),
    lambda c: "\u202e" + c[::-1] + "\u202c",  # stored backwards, displayed forwards
    *(lambda c, sep=sep: c[0] + sep + c[1:] for sep in ("\t", "\n", "/", ":", ",", "..")),
    lambda c: c[0] + " " + c[1:].replace(".", ","),  # Swedish decimal comma: F 32,1
    lambda c: "Tolvansson-" + c,
    lambda c: "journal-" + c,
    lambda c: "2025-" + c.replace(".", ""),
    lambda c: "BEDOMNING" + c.split(".")[0],
    lambda c: "2024" + c,
    lambda c: "\u0130 " + c[0] + "\u0301" + c[1:],  # a dotted İ, a combining mark
]
ROUND3_NOTATIONS = [t("F32.1") for t in ROUND3_TRICKS] + [
    "6a70",  # lower-case ICD-11
    "ICD-11: ba41.0",
    "35 489 007",  # SNOMED CT in digit groups
    "de\u0301pression",  # a combining mark composed by NFKC before
    "graviditet",
    "gravid i vecka 20",
    "utbränd",
    "utbrändhet",
    "IVF-behandling",
    "abort",
    "dialys",
    "kemoterapi",
    "Alvedon",
    "Waran",
]
#: Issue 15, second pass: what got through round 3 (tests/test_privacy_round4.py).
ROUND4_NOTATIONS = [
    "F 3 2 . 1",
    "F3 2",
    "M 5 4",
    "F    32.1",
    "(F)(3)(2)",
    "6A 70",
    "35-489-007",
    "3 5 4 8 9 0 0 7",
    "&#70;32.1",
    "korsbandsskada",
    "högt blodtryck",
    "psykisk ohälsa",
    "Oxascand",
]
NOTATIONS = (
    [t(c) for c in DIAGNOSIS_CODES for t in CODE_TRICKS]
    + OTHER_NOTATIONS
    + ROUND3_NOTATIONS
    + ROUND4_NOTATIONS
)


def notation() -> st.SearchStrategy[str]:
    """A piece of diagnosis data in any of the notations of :data:`NOTATIONS`."""
    return st.sampled_from(NOTATIONS)


@st.composite
def planted_notation_text(draw: st.DrawFn) -> str:
    """A sentence around diagnosis data in a hostile notation; unique enough that finding it
    whole in an output means it passed."""
    leak = draw(notation())
    before = draw(st.sampled_from(["", "Mår bättre. ", "Sjukskriven sedan mars.\n", "Har "]))
    after = draw(st.sampled_from(["", " enligt journal.", "\nÅter i arbete v12.", " (kontroll)"]))
    return before + leak + after
