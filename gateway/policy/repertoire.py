"""A closed character repertoire for the text a recipient receives (data:
``mappings/policy/repertoire.toml``, named by a route's ``repertoire``).

Checked before the scanner looks: a text holding a character outside the repertoire is
withheld whole, whatever it says, so invisible, bidi, look-alike and other-script characters
cannot reach an employer however the scanner would have read them (docs/policy.md).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache

from gateway import MAPPINGS_DIR
from gateway.documents.issues import RULES, RuleKind

REPERTOIRE_FILE = MAPPINGS_DIR / "policy" / "repertoire.toml"

OUTSIDE_REPERTOIRE = RULES.define(
    "POLICY-TEXT-REPERTOIRE",
    "Text with characters outside the recipient's repertoire withheld whole",
    RuleKind.POLICY,
    "A text bound for this recipient holds a character outside the repertoire its route "
    "declares (mappings/policy/repertoire.toml: for an employer, Latin letters with the Nordic, "
    "Western European and Latin Extended-A accented ones, digits, ordinary punctuation, space "
    "and line breaks). Invisible characters, bidi controls, combining marks, look-alikes, "
    "fullwidth, superscript, mathematical, circled or squared letters and digits, emoji and "
    "other scripts are where a diagnosis hides from a scanner, so the whole text is withheld; "
    "the report names the field and the first such character's code point, never the text. "
    "The transfer goes on without it (a name in another script is withheld the same way); a "
    "required identifier or code the copy cannot do without refuses it.",
    source="issue 15; docs/policy.md",
)


class RepertoireError(Exception):
    """The repertoire file is wrong: our configuration, not the sender's document."""


@dataclass(frozen=True)
class Repertoire:
    name: str
    reason: str
    outside: re.Pattern[str]  # matches the first character outside the repertoire

    def problem(self, text: str) -> str | None:
        """Why ``text`` is outside the repertoire (its first such character's code point and
        Unicode category: no text of the document), or ``None``."""
        m = self.outside.search(text)
        if m is None:
            return None
        ch = m.group()
        return (
            f"a character outside the {self.name} repertoire "
            f"(U+{ord(ch):04X}, {unicodedata.category(ch)})"
        )


@cache
def repertoire(name: str) -> Repertoire:
    data = tomllib.loads(REPERTOIRE_FILE.read_text("utf-8"))
    table = data.get(name)
    if not isinstance(table, dict):
        raise RepertoireError(f"{REPERTOIRE_FILE}: no repertoire {name!r}")
    excluded = {int(x, 16) for x in table.get("exclude", [])}
    parts: list[str] = []
    for low, high in table["ranges"]:
        lo, hi = int(low, 16), int(high, 16)
        if lo > hi:
            raise RepertoireError(f"{REPERTOIRE_FILE}: {name}: range {low}-{high} is empty")
        start = lo
        for cp in range(lo, hi + 2):
            if cp > hi or cp in excluded:
                if start < cp:
                    parts.append(
                        re.escape(chr(start))
                        if start == cp - 1
                        else f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}"
                    )
                start = cp + 1
    return Repertoire(
        name=name,
        reason=" ".join(str(table["reason"]).split()),
        outside=re.compile(f"[^{''.join(parts)}]"),
    )


__all__ = ["OUTSIDE_REPERTOIRE", "Repertoire", "RepertoireError", "repertoire"]
