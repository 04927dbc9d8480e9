"""The row engine's compiled writers and readers (slots.py: Python source made at start-up) do
exactly what the interpreted reference functions do (``write_slot``, ``write_items``,
``read_slot``, ``read_item``): the same bytes written and the same models, issues and source
maps read, for every document of the golden corpus and every single mutation of a sample of
their FHIR JSON trees (tests/test_fhir_golden.py pins the compiled ones against the digests
taken before they were compiled)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from conftest import FAST
from test_fhir_golden import corpus, json_mutations, record

from gateway.formats.fhir.codec import KIND_MODULES, FhirJsonCodec, mapping_for, read_tree
from gateway.formats.fhir.engine import RowMapping
from gateway.formats.fhir.slots import (
    Items,
    Slot,
    read_item,
    read_slot,
    write_items,
    write_slot,
)

JSON = FhirJsonCodec()


def _compiled() -> Iterator[Slot | Items]:
    """Every slot and list of every kind's plan (a list's slots and a list slot's value too)."""
    seen: set[int] = set()

    def walk(what: Any) -> Iterator[Slot | Items]:
        if isinstance(what, Slot | Items) and id(what) not in seen:
            seen.add(id(what))
            yield what
            if isinstance(what, Items):
                for slot in what.slots:
                    yield from walk(slot)
            elif what.each is not None:
                yield from walk(what.each)

    for kind in KIND_MODULES:
        mapping = mapping_for(kind)
        assert isinstance(mapping, RowMapping)
        plan = mapping.plan
        for _name, how, what in plan.fields:
            yield from walk(what[1] if how == "at" else what)
        for items in plan.entry_items.values():
            yield from walk(items)


@contextmanager
def interpreted() -> Iterator[None]:
    """Every compiled writer and reader swapped for the reference functions, then back."""
    saved = [(x, x.write, x.read) for x in _compiled()]
    for x, _w, _r in saved:
        if isinstance(x, Slot):
            object.__setattr__(x, "write", lambda obj, value, x=x: write_slot(obj, x, value))
            object.__setattr__(
                x, "read", lambda r, obj, path, mp, x=x: read_slot(r, obj, path, x, mp)
            )
        else:
            object.__setattr__(x, "write", lambda obj, values, x=x: write_items(obj, x, values))
            object.__setattr__(
                x, "read", lambda r, el, path, mp, x=x: read_item(r, x, el, path, mp)
            )
    try:
        yield
    finally:
        for x, w, r in saved:
            object.__setattr__(x, "write", w)
            object.__setattr__(x, "read", r)


def test_every_kind_has_compiled_slots() -> None:
    found = list(_compiled())
    assert sum(isinstance(x, Items) for x in found) >= 4
    assert sum(isinstance(x, Slot) for x in found) >= 36


def test_compiled_writers_and_readers_are_the_reference_functions() -> None:
    documents = list(corpus())
    assert len(documents) > 40
    for name, doc in documents:
        out = JSON.render(doc)
        with interpreted():
            assert JSON.render(doc) == out, name
        tree = orjson.loads(out)
        stride = 21 if FAST else 7  # the fast profile reads a third of them
        mutations = [m for i, m in enumerate(json_mutations(tree)) if i % stride == 0]
        as_written = ("as written", lambda t=tree: orjson.loads(orjson.dumps(t)))
        for label, make in [as_written, *mutations]:
            got = record(read_tree(make()))
            with interpreted():
                assert record(read_tree(make())) == got, f"{name}: {label}"
