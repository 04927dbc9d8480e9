"""Diagnosis data split over two texts that a recipient reads one after the other: ``F`` as
the end of one field and ``32.1`` as the start of the next, each harmless alone.

The texts a no-diagnosis route passes are read in document order (names, contacts, the
certificate's answers part by part), and each two neighbours are judged joined by a line
break, the way a screen or a printout shows them. A pair that names a diagnosis where neither
text does withholds both (docs/policy.md). One scan of all the texts joined spares the pairs
for the common document that names nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from itertools import pairwise
from typing import Any

from pydantic import BaseModel

from gateway.documents.certificate import SubAnswer
from gateway.documents.issues import ModelPath
from gateway.policy.allowlist import IDENTIFYING, WITHHELD_TEXT, text_fields
from gateway.policy.free_text import OwnDiagnoses, scan

#: How two neighbouring texts are joined for the judgement: as a reader sees them, apart.
JOINER = "\n\n"


def texts_in_order(
    obj: BaseModel, skip: frozenset[str], path: ModelPath = ()
) -> Iterator[tuple[ModelPath, str]]:
    """Every free or structured text of ``obj`` (not identifiers or codes, which are judged
    as identifiers) with its path, in document order; a certificate answer's text parts
    too. Not the top-level fields in ``skip``."""
    if isinstance(obj, SubAnswer):
        if isinstance(obj.value, str) and obj.value.strip():
            yield (*path, "value"), obj.value
        return
    for name in text_fields(type(obj)):
        if name in skip or name in IDENTIFYING:
            continue
        yield from _value(getattr(obj, name), (*path, name))


def _value(value: Any, path: ModelPath) -> Iterator[tuple[ModelPath, str]]:
    if isinstance(value, str):
        if not isinstance(value, Enum) and value.strip():
            yield path, value
    elif isinstance(value, BaseModel):
        yield from texts_in_order(value, frozenset(), path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _value(item, (*path, i))


def split_diagnoses(
    texts: list[tuple[ModelPath, str]], own: OwnDiagnoses
) -> list[tuple[ModelPath, str]]:
    """The texts to withhold, with the reason: both of each two neighbours that name a
    diagnosis joined and not apart."""
    if len(texts) < 2 or scan(JOINER.join(t for _, t in texts), own) is None:
        return []
    found: dict[ModelPath, str] = {}
    for (pa, a), (pb, b) in pairwise(texts):
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


__all__ = ["JOINER", "WITHHELD_TEXT", "replace_at", "split_diagnoses", "texts_in_order"]
