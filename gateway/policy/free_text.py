"""Free-text scanning: passages that name a diagnosis are cut out with a visible marker.

Two signs give a diagnosis away in text that may otherwise pass: an ICD-10 code pattern
(``F32.1``, ``M54``, ``S47-P``), and a repetition of a diagnosis text or code the same
document carries in its coded fields (``Huntingtons sjukdom`` in svar 25 when 6.3 says so).
The unit removed is the whole sentence (or line) holding the hit: a half-sentence around a
cut-out diagnosis still tells the story.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from gateway.documents.issues import RULES, RuleKind

#: What the recipient sees where a passage was removed.
MARKER = "[diagnosuppgift borttagen]"

#: ICD-10 (and ICD-10-SE / KSH97-P) codes: a capital letter, two digits, optionally a dot and
#: up to four more characters, optionally KSH97-P's "-P". Capitals only: "v12" (week 12) is
#: common in Swedish text and no code; a lower-case code that is also in the document's coded
#: fields is still caught as a repeated diagnosis text. Not inside identifiers (``-E387-``).
ICD10_PATTERN = re.compile(r"(?<![\w.-])[A-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?(?:-P)?(?![\w-])")

#: Sentence and line ends: a passage runs from one to the next.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n+")

#: Diagnosis texts shorter than this are not searched for (they would match everywhere).
MIN_TEXT_LENGTH = 3

_MAX_PASSES = 3


#: Cheap pre-check before the ICD-10 pattern: most text has no capital followed by a digit.
_ICD10_HINT = re.compile(r"[A-Z][0-9]")


class _Known:
    """The document's diagnosis texts: case-insensitive, any run of white space between words.
    Searched apart from the ICD-10 shape, so that overlapping hits of the two both count. The
    first words, case-folded, let plain substring search rule most texts out first."""

    __slots__ = ("first_words", "pattern")

    def __init__(self, texts: frozenset[str]) -> None:
        parts = sorted(
            (t.strip() for t in texts if len(t.strip()) >= MIN_TEXT_LENGTH), key=len, reverse=True
        )
        self.first_words = tuple({p.split()[0].casefold() for p in parts})
        alternatives = "|".join(r"\s+".join(re.escape(w) for w in p.split()) for p in parts)
        self.pattern = re.compile(alternatives, re.IGNORECASE) if parts else None

    def may_occur_in(self, text: str) -> bool:
        if self.pattern is None:
            return False
        folded = text.casefold()
        return any(w in folded for w in self.first_words)


@lru_cache(maxsize=4096)
def _known(texts: frozenset[str]) -> _Known:
    return _Known(texts)


def _sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


def _hits(text: str, known: _Known) -> list[tuple[int, int]]:
    found = [m.span() for m in ICD10_PATTERN.finditer(text)] if _ICD10_HINT.search(text) else []
    if known.pattern is not None and known.may_occur_in(text):
        found += [m.span() for m in known.pattern.finditer(text)]
    return found


def _redact_once(text: str, hits: list[tuple[int, int]]) -> str:
    sentences = _sentences(text)
    flagged = [False] * len(sentences)
    for start, end in hits:
        for i, (s, e) in enumerate(sentences):
            if s < end and start < e:
                flagged[i] = True
    out: list[str] = []
    pos = 0
    previous_flagged = False
    for (s, e), flag in zip(sentences, flagged, strict=True):
        separator = text[pos:s]
        pos = e
        if flag and previous_flagged:
            continue  # one marker for a run of removed passages
        out.append(separator)
        out.append(MARKER if flag else text[s:e])
        previous_flagged = flag
    return "".join(out)


def redact_text(text: str, diagnosis_texts: Iterable[str] = ()) -> str | None:
    """The text with every passage naming a diagnosis replaced by :data:`MARKER`, or ``None``
    when nothing in it names one (the common case, kept cheap)."""
    known = _known(frozenset(diagnosis_texts))
    hits = _hits(text, known)
    if not hits:
        return None
    for _ in range(_MAX_PASSES):
        text = _redact_once(text, hits)
        hits = _hits(text, known)
        if not hits:
            return text
    return MARKER


def names_diagnosis(text: str, diagnosis_texts: Iterable[str] = ()) -> bool:
    return bool(_hits(text, _known(frozenset(diagnosis_texts))))


FREE_TEXT_REDACTED = RULES.define(
    "POLICY-FREE-TEXT-REDACTED",
    "Passage naming a diagnosis removed from free text",
    RuleKind.POLICY,
    "Free text that may pass to this recipient (certificate answers such as 25, 35, 17, 44; "
    "plan notes; SIP descriptions) held an ICD-10 code pattern or repeated a diagnosis text of "
    f"the same document. The sentence holding it was replaced by '{MARKER}'. Write free text "
    "for an employer without naming the diagnosis.",
    source="DOMAIN.md (no diagnosis data to employers, not in free text either)",
)
