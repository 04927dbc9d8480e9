"""Where the row engine puts one model value in a FHIR resource, and how it reads it back.

A :class:`Slot` is one model field at a path below the object that holds it (the focal
resource, or one item of a repeating element); its conversion follows the model's type (text,
date, date-time, boolean, integer, enumeration, ``Code``, ``Identifier``, ``Period``). An
:class:`Items` is a list field whose items are the elements of one repeating FHIR element
(each item's fields are slots below it). engine.py compiles them from the rows at start-up;
this module is what runs per message.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from gateway.documents.common import Code, Identifier, Period
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import datatypes as dt
from gateway.formats.fhir.conformance import element_table
from gateway.formats.fhir.texts import get_ext_text, get_text, put_ext_text, put_text
from gateway.formats.fhir.tree import REQUIRED, SYSTEM, Reader, Unreadable

Json = dict[str, Any]
NO_FALLBACK: Any = object()  # a required value without a stand-in: the item is left out


@dataclass(frozen=True, slots=True)
class Step:
    """One element on a path: its key, whether it repeats, and the (key, value) that picks
    the item of a repeating element (an identifier's or coding's system, an extension's url)."""

    key: str
    repeats: bool
    pick: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """One model field at its place below the object that holds it."""

    name: str  # the model field
    steps: tuple[Step, ...]
    vtype: Any  # what the model holds: str, date, datetime, bool, int, a StrEnum, Code, ...
    optional_text: bool  # a text whose default is "": "" is written as nothing
    required: str | None  # None: optional; else what is missing ("": nothing more to say)
    fallback: Any  # a required value's stand-in in an item (NO_FALLBACK: none)
    table: dict[str, str] | None  # model code -> FHIR code
    coded: str | None  # an enumeration as a Coding of this system; steps end at the concept
    in_extension: bool
    many: bool = False  # a list: one element (of the repeating one picked) per value

    def where(self, path: str) -> str:
        """Where a missing value is reported: up to the element picked by system or url (it
        is what is missing), else the whole path."""
        steps = self.steps
        for i, step in enumerate(steps):
            if step.pick is not None and step.key in ("extension", "identifier"):
                steps = steps[: i + 1]
                break
        return ".".join([path, *(s.key for s in steps)])


@dataclass(frozen=True)
class Items:
    """A list field of the document: one element of a repeating FHIR element per item."""

    name: str
    fhir: str  # the repeating element: Resource.element...
    steps: tuple[Step, ...]  # from the resource to the repeating element
    ftype: str  # the FHIR type of one item (its elements' order)
    model: type[BaseModel]
    slots: tuple[Slot, ...]
    fixed: Json
    match: tuple[tuple[str, ...], Any] | None  # an item is this list's when it holds this
    needs: tuple[tuple[str, str], ...]  # (element, what): an item without it is left out


# -- one value ---------------------------------------------------------------------------------


def put_value(obj: Json, key: str, value: Any, in_extension: bool = False) -> None:
    """``obj[key]`` in the FHIR form of a model value."""
    if isinstance(value, str) and not isinstance(value, StrEnum):
        if in_extension and key == "valueString":
            put_ext_text(obj, value)
        else:
            put_text(obj, key, value)
    elif isinstance(value, datetime):
        obj[key] = dt.write_datetime(value)
    elif isinstance(value, date):
        obj[key] = value.isoformat()
    elif isinstance(value, Code):
        obj[key] = dt.write_coding(value)
    elif isinstance(value, Identifier):
        obj[key] = dt.write_identifier(value)
    elif isinstance(value, Period):
        obj[key] = dt.write_period(value)
    else:  # booleans, integers, enumerations (their value)
        obj[key] = str(value) if isinstance(value, StrEnum) else value


_COMPOSITE: dict[type, Callable[[Reader, Json, str, ModelPath], Any]] = {
    Code: dt.read_coding,
    Identifier: dt.read_identifier,
    Period: dt.read_period,
}


def get_value(
    r: Reader, obj: Json, key: str, path: str, mp: ModelPath, vtype: Any, ext: str
) -> Any:
    """The model value of ``obj[key]`` (None when absent or wrong, reported); ``ext``: the
    path of the extension that holds it, where texts and flags are located."""
    if vtype is str:
        if ext and key == "valueString":
            r.map(mp, ext)
            return get_ext_text(r, obj, ext)
        return get_text(r, obj, key, path, mp)
    if vtype is datetime:
        return dt.read_datetime(r, obj, key, path, mp)
    if vtype is date:
        return dt.read_date(r, obj, key, path, mp)
    if vtype in _COMPOSITE:
        found = r.obj(obj, key, path)
        return None if found is None else _COMPOSITE[vtype](r, found, f"{path}.{key}", mp)
    if vtype is bool:
        value: Any = r.boolean(obj, key, path)
    elif vtype is int:
        value = r.integer(obj, key, path)
    else:
        value = r.text(obj, key, path)
    if value is not None:
        r.map(mp, ext or f"{path}.{key}")
    return value


def _is_enum(vtype: Any) -> bool:
    return isinstance(vtype, type) and issubclass(vtype, StrEnum)


def _enum(r: Reader, raw: str, cls: Any, where: str, what: str) -> Any:
    try:
        return cls(raw)
    except ValueError:
        known = ", ".join(x.value for x in cls)
        r.report(SYSTEM, where, f"{raw!r} is not {what or 'one of these'} ({known})")
        return None


# -- writing -----------------------------------------------------------------------------------


def container(obj: Json, steps: tuple[Step, ...], new: bool = False) -> Json:
    """The object that holds the last step, made where missing (``new``: a new item of the
    picked repeating element, for one value of a list)."""
    for step in steps[:-1]:
        if not step.repeats:
            obj = obj.setdefault(step.key, {})
            continue
        items = obj.setdefault(step.key, [])
        if step.pick is not None:
            k, v = step.pick
            item = None if new else next((i for i in items if i.get(k) == v), None)
            if item is None:
                item = {k: v}
                items.append(item)
        elif items:
            item = items[0]
        else:
            item = {}
            items.append(item)
        obj = item
    return obj


def write_slot(obj: Json, slot: Slot, value: Any) -> None:
    """Put one model value at its slot (nothing for None); a list's values each in an
    element of their own."""
    if slot.many:
        for one in value:
            _write_one(obj, slot, one)
        return
    _write_one(obj, slot, value)


def _write_one(obj: Json, slot: Slot, value: Any) -> None:
    if value is None or (slot.optional_text and value == ""):
        return
    if slot.table is not None:
        value = slot.table[str(value)]
    holder = container(obj, slot.steps, slot.many)
    key = slot.steps[-1].key
    if slot.coded is not None:  # an enumeration as a Coding of its system
        concept = {"coding": [{"system": slot.coded, "code": str(value)}]}
        if slot.steps[-1].repeats:
            holder.setdefault(key, []).append(concept)
        else:
            holder[key] = concept
    elif slot.steps[-1].repeats:
        item: Json = {}
        put_value(item, key, value, slot.in_extension)
        holder.setdefault(key, []).append(item[key])
    else:
        put_value(holder, key, value, slot.in_extension)


def write_items(focus: Json, items: Items, values: list[Any]) -> None:
    """One element per model item, in the repeating element ``items`` names."""
    if not values:
        return
    elements = container(focus, items.steps).setdefault(items.steps[-1].key, [])
    for value in values:
        element: Json = copy.deepcopy(items.fixed)  # trees are the caller's to change
        for slot in items.slots:
            write_slot(element, slot, getattr(value, slot.name))
        elements.append(ordered(element, items.ftype))


def ordered(obj: Json, ftype: str, deep: bool = True) -> Json:
    """``obj`` (and, ``deep``, what it holds) in the FHIR specification's element order (a
    resource's type first, an extension's url first, a primitive's ``_`` twin after it)."""
    table = element_table().get(ftype)
    if table is None:
        return obj
    rank = {name: i for i, name in enumerate(table)}
    rank["resourceType"] = -2
    if ftype == "Extension":
        rank["url"] = -1
    out: Json = {}
    for key in sorted(obj, key=lambda k: (rank.get(k.lstrip("_"), len(rank)), k[0] == "_")):
        value = obj[key]
        ctype = table.get(key, ("", False))[0]
        if not deep:
            pass
        elif isinstance(value, dict):
            value = ordered(value, ctype)
        elif isinstance(value, list):
            value = [ordered(v, ctype) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


# -- reading -----------------------------------------------------------------------------------


def _walk(r: Reader, obj: Json, path: str, steps: tuple[Step, ...]) -> tuple[Json | None, str, str]:
    """The object that holds the last step, its FHIRPath and the path of the extension on the
    way (""); None when an element on the way is absent."""
    found: Json | None = obj
    ext = ""
    for step in steps[:-1]:
        assert found is not None
        if step.repeats:
            items = r.objs(found, step.key, path)
            if step.pick is not None:
                k, v = step.pick
                items = [(i, p) for i, p in items if i.get(k) == v]
            found, path = items[0] if items else (None, path)
            ext = path if step.key == "extension" else ext
        else:
            found, path = r.obj(found, step.key, path), f"{path}.{step.key}"
        if found is None:
            break
    return found, path, ext


def read_slot(r: Reader, obj: Json, path: str, slot: Slot, mp: ModelPath) -> Any:
    """The model value at its slot (None when absent or wrong, reported); a required one
    missing stops reading (:class:`Unreadable`), unless it has a fallback. A list: every
    element of the picked repeating element that holds a value."""
    if slot.many:
        return _read_many(r, obj, path, slot, mp)
    holder, hpath, ext = _walk(r, obj, path, slot.steps)
    value = None
    if holder is not None:
        value = _read_value(r, holder, hpath, mp, slot, ext)
    if value is None and slot.required is not None:
        if slot.coded is None:  # where it is missing: in what holds it, else what is absent
            where = slot.where(path) if holder is None else f"{hpath}.{slot.steps[-1].key}"
            r.missing(where, slot.required)
        if slot.fallback is NO_FALLBACK:
            raise Unreadable(path)
        return slot.fallback
    return value


def _read_many(r: Reader, obj: Json, path: str, slot: Slot, mp: ModelPath) -> list[Any]:
    """Each value of a list slot: the picked repeating element's items, each read as one."""
    at = next(i for i, step in enumerate(slot.steps) if step.pick is not None)
    holder, hpath, _ext = _walk(r, obj, path, (*slot.steps[:at], slot.steps[at]))
    if holder is None:
        return []
    step = slot.steps[at]
    k, v = step.pick  # type: ignore[misc]
    one = Slot(**{**_fields(slot), "steps": slot.steps[at + 1 :], "many": False})
    out: list[Any] = []
    for item, ipath in r.objs(holder, step.key, hpath):
        if item.get(k) == v:
            value = _read_value_at(r, item, ipath, one, (*mp, len(out)), ipath)
            if value is not None:
                out.append(value)
    return out


def _fields(slot: Slot) -> dict[str, Any]:
    return {name: getattr(slot, name) for name in slot.__slots__}


def _read_value_at(r: Reader, obj: Json, path: str, slot: Slot, mp: ModelPath, ext: str) -> Any:
    """A value below ``obj`` (one item of a list slot)."""
    holder, hpath, _ext = _walk(r, obj, path, slot.steps)
    return None if holder is None else _read_value(r, holder, hpath, mp, slot, ext)


def _read_value(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    key = slot.steps[-1].key
    if slot.coded is not None:
        return _read_coded(r, obj, key, path, mp, slot)
    if slot.steps[-1].repeats:
        items = r.arr(obj, key, path)
        if not items:
            return None
        return get_value(r, {f"{key}[0]": items[0]}, f"{key}[0]", path, mp, slot.vtype, ext)
    if slot.table is not None:
        raw = get_value(r, obj, key, path, mp, str, ext)
        back = {v: k for k, v in slot.table.items()}
        if raw is None or raw in back:
            return None if raw is None else slot.vtype(back[raw])
        r.report(SYSTEM, f"{path}.{key}", f"{key} {raw!r} is not one of {', '.join(back)}")
        return None
    value = get_value(r, obj, key, path, mp, slot.vtype, ext)
    if value is not None and _is_enum(slot.vtype):
        return _enum(r, value, slot.vtype, f"{path}.{key}", slot.required or "")
    return value


def _read_coded(r: Reader, obj: Json, key: str, path: str, mp: ModelPath, slot: Slot) -> Any:
    """An enumeration held as a Coding of its system in the CodeableConcept ``obj[key]`` (the
    first that has one, if it repeats); located at the concept."""
    cpath = f"{path}.{key}"
    if slot.steps[-1].repeats:
        concepts = r.objs(obj, key, path)
    else:
        one = r.obj(obj, key, path)
        concepts = [] if one is None else [(one, cpath)]
    what = slot.required or "a code"
    for concept, where in concepts:
        coding = dt.pick_coding(r, concept, where, slot.coded or "")
        if coding is not None:
            r.map(mp, where)
            return _enum(r, str(coding.get("code")), slot.vtype, where, slot.required or "")
    if slot.required is not None and concepts:
        r.report(SYSTEM, cpath, f"{cpath} needs {what} in {slot.coded}")
    elif slot.required is not None:
        r.missing(cpath, f"{what} in {slot.coded}")
    return None


def _matches(element: Json, match: tuple[tuple[str, ...], Any]) -> bool:
    """Whether ``element`` holds the coding (or value) ``match`` fixes at its path."""
    steps, want = match
    value: Any = element
    for step in steps:
        value = value.get(step) if isinstance(value, dict) else None
    if isinstance(want, dict) and "coding" in want:
        codings = value.get("coding") if isinstance(value, dict) else None
        return isinstance(codings, list) and any(c in codings for c in want["coding"])
    return bool(value == want)


def which_items(element: Json, lists: tuple[Items, ...]) -> Items:
    """The list an element of a shared repeating element belongs to: the first whose
    ``match`` it holds, else the one without a ``match``."""
    for items in lists:
        if items.match is not None and _matches(element, items.match):
            return items
    return next(i for i in lists if i.match is None)


def read_item(r: Reader, items: Items, element: Json, path: str, mp: ModelPath) -> Any:
    """One item of the list (None, reported, when it lacks what it cannot do without)."""
    for key, what in items.needs:
        if r.obj(element, key, path) is None:
            r.missing(f"{path}.{key}", what)
            return None
    r.map(mp, path)
    values: dict[str, Any] = {}
    try:
        for slot in items.slots:
            value = read_slot(r, element, path, slot, (*mp, slot.name))
            if value is not None:
                values[slot.name] = value
    except Unreadable:
        return None
    return items.model(**values)


__all__ = [
    "NO_FALLBACK",
    "REQUIRED",
    "Items",
    "Slot",
    "Step",
    "container",
    "get_value",
    "ordered",
    "put_value",
    "read_item",
    "read_slot",
    "which_items",
    "write_items",
    "write_slot",
]
