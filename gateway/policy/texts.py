"""One judgement of a text bound for a recipient: first the route's character repertoire,
then the scanner (in identifier mode for identifier fields). Used for every text a
no-diagnosis route passes: answers, names, contacts, codes, identifiers."""

from __future__ import annotations

from gateway.documents.issues import ModelPath, Rule
from gateway.policy.allowlist import IDENTIFYING
from gateway.policy.free_text import FREE_TEXT_WITHHELD, OwnDiagnoses, scan, unescaped
from gateway.policy.repertoire import OUTSIDE_REPERTOIRE, Repertoire

#: Why a text is withheld: the rule, and a verb phrase ("names a diagnosis (an ATC code)",
#: "holds a character outside the latin repertoire (U+3164, Lo)") for "<field> <phrase>".
Verdict = tuple[Rule, str]


def is_identifier(path: ModelPath) -> bool:
    """Whether a model path ends in an identifier-typed field (an identifier's value, a code,
    a reference, an id): the only fields where a code-like part of a longer token (an HSA-id
    such as ``SE2321000016-A00``) is no code. Free text never gets that exemption."""
    for step in reversed(path):
        if isinstance(step, str):
            return step in IDENTIFYING or step.endswith("_refs")
    return False


def text_verdict(
    text: str, own: OwnDiagnoses, repertoire: Repertoire | None, *, identifier: bool = False
) -> Verdict | None:
    if repertoire is not None:
        # the text as stored and as a reader resolving character references shows it
        for variant in (text, *unescaped(text)):
            outside = repertoire.problem(variant)
            if outside is not None:
                return OUTSIDE_REPERTOIRE, f"holds {outside}"
    reason = scan(text, own, identifier)
    return (FREE_TEXT_WITHHELD, f"names a diagnosis ({reason})") if reason is not None else None


__all__ = ["Verdict", "is_identifier", "text_verdict"]
