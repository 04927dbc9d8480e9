"""Diagnosis data split over two texts that a recipient reads one after the other: ``F`` as
the end of one field and ``32.1`` as the start of the next, each harmless alone.

The texts a no-diagnosis route passes are read in document order (names, contacts, the
certificate's answers part by part), and each two neighbours are judged joined by a line
break, the way a screen or a printout shows them. A pair that names a diagnosis where neither
text does withholds both (docs/policy.md). Only boundaries where a code notation can run
across (a digit on one side) are looked at, in windows, all at once first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any

from pydantic import BaseModel

from gateway.documents.certificate import Certificate
from gateway.documents.issues import ModelPath
from gateway.policy.allowlist import IDENTIFYING, WITHHELD_TEXT, text_fields
from gateway.policy.free_text import OwnDiagnoses, scan
from gateway.policy.policies import text_part_ids

#: How two neighbouring texts are joined for the judgement: as a reader sees them, apart.
JOINER = "\n\n"
#: The free-text parts of a certificate type, from the question catalogue, once per type.
_text_parts = cache(text_part_ids)


@dataclass
class Texts:
    """What a no-diagnosis route passes, read once in document order: every free or
    structured text with its path (names, contacts, addresses, free texts, a certificate's
    free-text parts; not dates, yes/no or coded answers), and apart from them the texts of
    identifier fields (judged as identifiers)."""

    texts: list[tuple[ModelPath, str]] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)

    def plain(self) -> list[str]:
        return [t for _, t in self.texts]


def texts_in_order(obj: BaseModel, skip: frozenset[str] = frozenset()) -> Texts:
    """The :class:`Texts` of ``obj``, not the top-level fields in ``skip``."""
    out = Texts()
    _model(obj, skip, (), out)
    return out


def _model(obj: BaseModel, skip: frozenset[str], path: ModelPath, out: Texts) -> None:
    for name in text_fields(type(obj)):
        if name in skip:
            continue
        value = getattr(obj, name)
        here = (*path, name)
        if name == "answers" and isinstance(obj, Certificate):
            _answers(obj, here, out)
        elif name in IDENTIFYING and type(value) is str:
            out.identifiers.append(value)
        else:
            _value(value, here, out, name in IDENTIFYING)


def _answers(cert: Certificate, path: ModelPath, out: Texts) -> None:
    text_parts = _text_parts(cert.type)
    for i, answer in enumerate(cert.answers):
        for j, part in enumerate(answer.parts):
            if part.id in text_parts and type(part.value) is str and part.value.strip():
                out.texts.append(((*path, i, "parts", j, "value"), part.value))


def _value(value: Any, path: ModelPath, out: Texts, identifying: bool) -> None:
    if type(value) is str:
        if identifying:
            out.identifiers.append(value)
        elif value.strip():
            out.texts.append((path, value))
    elif isinstance(value, BaseModel):
        _model(value, frozenset(), path, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _value(item, (*path, i), out, identifying)


#: What stands between two boundary windows in the one look at all of them: lower-case
#: letters glued together, which no code notation crosses.
_BLOCK = "\n\nzzzzzzzz\n\n"
#: How much of each text either side of a boundary the one look takes in: more than a
#: spaced-out code with a short prefix ("kod: F - 3 - 2 . 1").
_WINDOW = 32


def _edge(text: str, last: bool) -> str:
    """The last (first) letter or digit of a text, or ``""``."""
    for ch in reversed(text) if last else text:
        if ch.isalnum():
            return ch
    return ""


def _may_join(a: str, b: str) -> bool:
    """Whether a code can run across the boundary of ``a`` and ``b``: a letter or digit on
    one side, a digit on the other (``F`` | ``32``, ``F3`` | ``2``, ``6A`` | ``70``), or a
    digit before a letter (``N06`` | ``AB06``, ``F32`` | ``P``). Two words meet in every
    text and no code notation crosses them."""
    x, y = _edge(a, True), _edge(b, False)
    return bool(x and y) and (x.isdigit() or y.isdigit())


def split_diagnoses(
    texts: list[tuple[ModelPath, str]], own: OwnDiagnoses
) -> list[tuple[ModelPath, str]]:
    """The texts to withhold, with the reason: both of each two neighbours that name a
    diagnosis joined and not apart. Only the boundaries where a code can run across are
    looked at, first all at once, in windows."""
    pairs = [(x, y) for x, y in pairwise(texts) if _may_join(x[1], y[1])]
    if not pairs:
        return []
    windows = _BLOCK.join(f"{a[-_WINDOW:]}{JOINER}{b[:_WINDOW]}" for (_, a), (_, b) in pairs)
    if scan(windows, own) is None:
        return []
    found: dict[ModelPath, str] = {}
    for (pa, a), (pb, b) in pairs:
        reason = scan(f"{a}{JOINER}{b}", own)
        if reason is not None and scan(a, own) is None and scan(b, own) is None:
            found.setdefault(pa, reason)
            found.setdefault(pb, reason)
    return list(found.items())


def replace_at(obj: Any, path: ModelPath, new: str) -> Any:
    """``obj`` with the text at ``path`` replaced: an optional field back to its default, a
    required one or an item of a list to ``new``."""
    head, rest = path[0], path[1:]
    if isinstance(obj, list):
        items = list(obj)
        items[head] = replace_at(items[head], rest, new) if rest else new  # type: ignore[index]
        return items
    assert isinstance(obj, BaseModel) and isinstance(head, str)
    if rest:
        return obj.model_copy(update={head: replace_at(getattr(obj, head), rest, new)})
    info = type(obj).model_fields[head]
    value = new if info.is_required() else info.get_default(call_default_factory=True)
    return obj.model_copy(update={head: value})


__all__ = ["JOINER", "WITHHELD_TEXT", "Texts", "replace_at", "split_diagnoses", "texts_in_order"]
