"""The free-text scan: what counts as naming a diagnosis, and what the recipient sees."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.policy.free_text import MARKER, names_diagnosis, redact_text


def test_icd10_codes_are_found_in_their_sentence_only() -> None:
    text = "Kan arbeta halvtid. Diagnos F32.1 sedan mars! Ring chefen."
    assert redact_text(text) == f"Kan arbeta halvtid. {MARKER} Ring chefen."


def test_line_is_a_passage_too() -> None:
    assert redact_text("Bra vecka\nM54 kvarstår\nÅter v12") == f"Bra vecka\n{MARKER}\nÅter v12"


def test_consecutive_passages_share_one_marker() -> None:
    assert redact_text("S47. G10. Ok.") == f"{MARKER} Ok."


def test_repeated_diagnosis_text_in_any_case_and_spacing() -> None:
    text = "Mår bättre. Har  HUNTINGTONS\nsjukdom enligt intyget. Kan lyfta."
    assert redact_text(text, {"Huntingtons sjukdom"}) == f"Mår bättre. {MARKER} Kan lyfta."


def test_diagnosis_text_across_a_sentence_end_takes_both_sentences() -> None:
    text = "Start. Skada. Höger axel. Slut."
    assert redact_text(text, {"Skada. Höger axel"}) == f"Start. {MARKER} Slut."


def test_not_a_diagnosis() -> None:
    for text in [
        "Återgång v12, 50 % från 2026-03-01.",
        "Id 9020FBB9-E387-40B0, enhet SE2321000016-15CJ.",
        "Rum A4, plan 3.",
        "",
    ]:
        assert redact_text(text) is None, text
        assert not names_diagnosis(text)
    assert redact_text("kort ab", {"ab"}) is None  # too short to search for


@given(st.text(max_size=80), st.sampled_from(["F32.1", "M54", "S47-P", "Z73.0"]))
def test_a_planted_code_never_survives(text: str, code: str) -> None:
    for planted in (f"{text} {code}", f"{code} {text}", f"{text}\n{code}.{text}"):
        out = redact_text(planted)
        assert out is not None and code not in out.replace(MARKER, "")


@given(st.text(max_size=60), st.text(max_size=60))
def test_a_planted_diagnosis_text_never_survives(before: str, after: str) -> None:
    term = "Medelsvår depressiv episod"
    out = redact_text(f"{before}{term}{after}", {term})
    assert out is not None and term.casefold() not in out.casefold()
