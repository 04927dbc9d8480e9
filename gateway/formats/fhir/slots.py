"""Where the row engine puts one model value in a FHIR resource, and how it reads it back.

A :class:`Slot` is one model field at a path below the object that holds it (the focal
resource, or one item of a repeating element); its conversion follows the model's type (text,
date, date-time, boolean, integer, enumeration, ``Code``, ``Identifier``, ``Period``). An
:class:`Items` is a list field whose items are the elements of one repeating FHIR element
(each item's fields are slots below it). engine.py compiles them from the rows at start-up;
this module is what runs per message.

Each Slot and Items also compiles its own writer and reader at start-up (``write``, ``read``):
Python source in which the steps, picks, tables, conversions and the handling of a missing
value are decided once, so a message runs straight-line code doing the same dict operations
in the same order as :func:`write_slot`, :func:`write_items`, :func:`read_slot` and
:func:`read_item` (which stay as the reference: tests/test_fhir_golden.py pins the bytes,
issues and source maps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
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
    enum: bool = False  # an enumeration (its value read back as one)
    # chosen once, from the above: how the value is read, and a list's one value
    reader: Callable[..., Any] = field(init=False, repr=False, compare=False)
    each: Slot | None = field(init=False, repr=False, compare=False)
    prefix: str = field(init=False, repr=False, compare=False)  # the steps to the holder
    put: Callable[[Json, str, Any, bool], None] = field(init=False, repr=False, compare=False)
    #: ``write(obj, value)``: :func:`write_slot` for this slot, compiled (:class:`_Source`)
    write: Callable[[Json, Any], None] = field(init=False, repr=False, compare=False)
    #: ``read(r, obj, path, mp)``: :func:`read_slot` for this slot, compiled
    read: Callable[[Reader, Json, str, ModelPath], Any] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", "/".join(map(repr, self.steps[:-1])))
        put = _PUTTERS.get(self.vtype, _put_as_is)
        object.__setattr__(self, "put", _put_enum if self.enum else put)
        key = self.steps[-1]
        if self.coded is not None:
            reader: Callable[..., Any] = _read_coded
        elif key.repeats:
            reader = _read_first
        elif self.table is not None:
            reader = _read_table
        elif self.enum:
            reader = _read_enum
        else:
            reader = _READERS.get(self.vtype, _read_raw)
        object.__setattr__(self, "reader", reader)
        each = None
        if self.many:  # the value below the picked element
            at = next(i for i, step in enumerate(self.steps) if step.pick is not None)
            fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
            each = Slot(**{**fields, "steps": self.steps[at + 1 :], "many": False})
        object.__setattr__(self, "each", each)
        src = _Source()
        src.emit(0, "def write(obj, value):")
        src.slot(1, self, "obj", "value")
        object.__setattr__(self, "write", src.compile("write", f"slot {self.name}"))
        object.__setattr__(self, "read", _slot_reader(self))

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
    #: how an item is written, in the FHIR specification's element order: a fixed value
    #: (its steps and value) or a slot (its steps and the Slot)
    ops: tuple[tuple[tuple[Step, ...], Any], ...] = ()
    pick: tuple[str, str] | None = None  # the items are the elements with this (an url)
    #: ``write(holder, values)``: :func:`write_items` for this list, compiled (:class:`_Source`)
    write: Callable[[Json, list[Any]], None] = field(init=False, repr=False, compare=False)
    #: ``read(r, element, path, mp)``: :func:`read_item` for this list, compiled
    read: Callable[[Reader, Json, str, ModelPath], Any] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "read", _item_reader(self))
        src = _Source()
        src.emit(0, "def write(focus, values):")
        src.emit(1, "if not values:")
        src.emit(2, "return")
        holder = src.container(1, "focus", self.steps, new=False)
        src.emit(1, f"elements = {holder}.setdefault({self.steps[-1].key!r}, [])")
        src.emit(1, "for value in values:")
        src.emit(2, "element = {}")
        for steps, what in self.ops:  # in element order: the item needs no sorting
            if type(what) is Slot:
                v = src.var()
                src.emit(2, f"{v} = value.{what.name}")
                src.slot(2, what, "element", v)
            else:
                at = src.container(2, "element", steps, new=False)
                src.emit(2, f"{at}[{steps[-1].key!r}] = {what!r}")  # a literal: a new copy
        src.emit(2, "elements.append(element)")
        object.__setattr__(self, "write", src.compile("write", f"items {self.name}"))


# -- compiled writers --------------------------------------------------------------------------


class _Source:
    """Python source of one slot's or list's writer, compiled once at start-up: the steps,
    picks, tables and conversions are decided here, so writing a value runs straight-line
    code (the same dict operations, in the same order, as :func:`write_slot` and
    :func:`write_items` interpreted; tests/test_fhir_golden.py holds the bytes)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"put_text": put_text, "put_ext_text": put_ext_text}
        self.count = 0

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def const(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def compile(self, name: str, what: str) -> Any:
        code = compile("\n".join(self.lines) + "\n", f"<fhir row engine: {what}>", "exec")
        namespace = dict(self.names)
        exec(code, namespace)
        return namespace[name]

    def container(self, indent: int, obj: str, steps: tuple[Step, ...], new: bool) -> str:
        """:func:`container`: the variable holding the object of the last step."""
        for step in steps[:-1]:
            key, at = step.key, self.var()
            if not step.repeats:
                self.emit(indent, f"{at} = {obj}.setdefault({key!r}, {{}})")
                obj = at
                continue
            items = self.var()
            self.emit(indent, f"{items} = {obj}.setdefault({key!r}, [])")
            if step.pick is not None:
                k, v = step.pick
                if not new:
                    self.emit(indent, f"for {at} in {items}:")
                    self.emit(indent + 1, f"if {at}.get({k!r}) == {v!r}:")
                    self.emit(indent + 2, "break")
                    self.emit(indent, "else:")
                self.emit(indent + (not new), f"{at} = {{{k!r}: {v!r}}}")
                self.emit(indent + (not new), f"{items}.append({at})")
            else:
                self.emit(indent, f"if {items}:")
                self.emit(indent + 1, f"{at} = {items}[0]")
                self.emit(indent, "else:")
                self.emit(indent + 1, f"{at} = {{}}")
                self.emit(indent + 1, f"{items}.append({at})")
            obj = at
        return obj

    def put(self, indent: int, slot: Slot, obj: str, key: str, value: str) -> None:
        """``slot.put(obj, key, value, slot.in_extension)``, the conversion chosen here."""
        if slot.enum:
            self.emit(indent, f"{obj}[{key!r}] = str({value})")
        elif slot.vtype is str and slot.in_extension and key == "valueString":
            self.emit(indent, f"put_ext_text({obj}, {value})")
        elif slot.vtype is str:
            self.emit(indent, f"put_text({obj}, {key!r}, {value})")
        elif slot.vtype is date:
            self.emit(indent, f"{obj}[{key!r}] = {value}.isoformat()")
        elif slot.vtype in _WRITERS:
            self.emit(indent, f"{obj}[{key!r}] = {self.const(_WRITERS[slot.vtype])}({value})")
        else:
            self.emit(indent, f"{obj}[{key!r}] = {value}")

    def present(self, slot: Slot, value: str) -> str:
        return f"{value} is not None" + (f" and {value} != ''" if slot.optional_text else "")

    def slot(self, indent: int, slot: Slot, obj: str, value: str) -> None:
        """:func:`write_slot`."""
        if slot.many:
            one = self.var()
            self.emit(indent, f"for {one} in {value}:")
            self.emit(indent + 1, f"if {self.present(slot, one)}:")
            self.one(indent + 2, slot, obj, one)
            return
        self.emit(indent, f"if {self.present(slot, value)}:")
        key = slot.steps[0].key
        if slot.prefix or slot.table is not None or slot.coded is not None:
            self.one(indent + 1, slot, obj, value)
        elif slot.steps[0].repeats:
            self.repeated(indent + 1, slot, obj, key, value)
        else:  # the most common: an element of the object itself
            self.put(indent + 1, slot, obj, key, value)

    def repeated(self, indent: int, slot: Slot, obj: str, key: str, value: str) -> None:
        item = self.var()
        self.emit(indent, f"{item} = {{}}")
        self.put(indent, slot, item, key, value)
        self.emit(indent, f"{obj}.setdefault({key!r}, []).append({item}[{key!r}])")

    def one(self, indent: int, slot: Slot, obj: str, value: str) -> None:
        """:func:`_write_one`, the value known present."""
        if slot.table is not None:
            mapped = self.var()
            self.emit(indent, f"{mapped} = {self.const(slot.table)}[str({value})]")
            value = mapped
        holder = self.container(indent, obj, slot.steps, slot.many)
        last = slot.steps[-1]
        if slot.coded is not None:  # an enumeration as a Coding of its system
            concept = f"{{'coding': [{{'system': {slot.coded!r}, 'code': str({value})}}]}}"
            if last.repeats:
                self.emit(indent, f"{holder}.setdefault({last.key!r}, []).append({concept})")
            else:
                self.emit(indent, f"{holder}[{last.key!r}] = {concept}")
        elif last.repeats:
            self.repeated(indent, slot, holder, last.key, value)
        else:
            self.put(indent, slot, holder, last.key, value)


# -- one value ---------------------------------------------------------------------------------


def _put_text(obj: Json, key: str, value: Any, in_extension: bool) -> None:
    if in_extension and key == "valueString":
        put_ext_text(obj, value)
    else:
        put_text(obj, key, value)


def _put_datetime(obj: Json, key: str, value: Any, in_extension: bool) -> None:
    obj[key] = dt.write_datetime(value)


def _put_date(obj: Json, key: str, value: Any, in_extension: bool) -> None:
    obj[key] = value.isoformat()


def _put_enum(obj: Json, key: str, value: Any, in_extension: bool) -> None:
    obj[key] = str(value)


def _put_as_is(obj: Json, key: str, value: Any, in_extension: bool) -> None:
    obj[key] = value


def _put_composite(write: Callable[[Any], Json]) -> Callable[[Json, str, Any, bool], None]:
    def put(obj: Json, key: str, value: Any, in_extension: bool) -> None:
        obj[key] = write(value)

    return put


_WRITERS: dict[Any, Callable[[Any], Any]] = {
    datetime: dt.write_datetime,
    Code: dt.write_coding,
    Identifier: dt.write_identifier,
    Period: dt.write_period,
}

_PUTTERS: dict[Any, Callable[[Json, str, Any, bool], None]] = {
    str: _put_text,
    datetime: _put_datetime,
    date: _put_date,
    Code: _put_composite(dt.write_coding),
    Identifier: _put_composite(dt.write_identifier),
    Period: _put_composite(dt.write_period),
}


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
    return _raw(r, obj, key, path, mp, vtype, ext)


def _raw(r: Reader, obj: Json, key: str, path: str, mp: ModelPath, vtype: Any, ext: str) -> Any:
    """A boolean, an integer or a code, as the JSON has it (located at the extension that
    holds it, if one does)."""
    if vtype is bool:
        value: Any = r.boolean(obj, key, path)
    elif vtype is int:
        value = r.integer(obj, key, path)
    else:
        value = r.text(obj, key, path)
    if value is not None:
        r.map(mp, ext or f"{path}.{key}")
    return value


def _enum(r: Reader, raw: str, cls: Any, where: str, what: str) -> Any:
    found = cls._value2member_map_.get(raw)  # cls(raw) without the enum machinery's calls
    if found is not None:
        return found
    try:
        return cls(raw)
    except ValueError:
        known = ", ".join(x.value for x in cls)
        r.report(SYSTEM, where, f"{raw!r} is not {what or 'one of these'} ({known})")
        return None


def fresh(fixed: Json) -> Json:
    """A new copy of fixed elements (trees are the caller's to change): JSON only, so
    faster than ``copy.deepcopy``."""
    return {k: _fresh(v) for k, v in fixed.items()}


def _fresh(value: Any) -> Any:
    if type(value) is dict:
        return {k: _fresh(v) for k, v in value.items()}
    if type(value) is list:
        return [_fresh(v) for v in value]
    return value


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
    elif value is not None and not (slot.optional_text and value == ""):
        if slot.prefix or slot.table is not None or slot.coded is not None:
            _write_one(obj, slot, value)
        elif slot.steps[0].repeats:
            item: Json = {}
            key = slot.steps[0].key
            slot.put(item, key, value, slot.in_extension)
            obj.setdefault(key, []).append(item[key])
        else:  # the most common: an element of the object itself
            slot.put(obj, slot.steps[0].key, value, slot.in_extension)


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
        slot.put(item, key, value, slot.in_extension)
        holder.setdefault(key, []).append(item[key])
    else:
        slot.put(holder, key, value, slot.in_extension)


def write_items(focus: Json, items: Items, values: list[Any]) -> None:
    """One element per model item, in the repeating element ``items`` names."""
    if not values:
        return
    elements = container(focus, items.steps).setdefault(items.steps[-1].key, [])
    for value in values:
        element: Json = {}
        for steps, what in items.ops:  # in element order: the item needs no sorting
            if type(what) is Slot:
                write_slot(element, what, getattr(value, what.name))
            elif len(steps) == 1:
                element[steps[0].key] = _fresh(what)
            else:
                container(element, steps)[steps[-1].key] = _fresh(what)
        elements.append(element)


class _Rank(dict[str, int]):
    """Element -> its place; an element the table does not know goes last."""

    def __missing__(self, key: str) -> int:
        return 1 << 20


@cache
def _rank(ftype: str) -> tuple[_Rank, dict[str, str]]:
    """The place of each element of a FHIR type (a resource's type first, an extension's url
    first, a primitive's ``_`` twin right after it) and each element's type."""
    table = element_table().get(ftype, {})
    rank = _Rank()
    for i, name in enumerate(table):
        rank[name], rank["_" + name] = 2 * i, 2 * i + 1
    rank["resourceType"] = -2
    if ftype == "Extension":
        rank["url"] = -1
    return rank, {name: spec[0] for name, spec in table.items()}


def rank_path(ftype: str, keys: tuple[str, ...]) -> tuple[int, ...]:
    """The place of an element path in the specification's order (to sort writes by)."""
    out = []
    for key in keys:
        rank, types = _rank(ftype)
        out.append(rank[key])
        ftype = types.get(key, "")
    return tuple(out)


def ordered(obj: Json, ftype: str, deep: bool = True) -> Json:
    """``obj`` (and, ``deep``, what it holds) in the FHIR specification's element order (a
    resource's type first, an extension's url first, a primitive's ``_`` twin after it)."""
    rank, types = _rank(ftype)
    if not types:
        return obj
    keys = sorted(obj, key=rank.__getitem__)
    if not deep:
        return obj if keys == list(obj) else {k: obj[k] for k in keys}
    out: Json = {}
    for key in keys:
        value = obj[key]
        if isinstance(value, dict):
            value = ordered(value, types.get(key, ""))
        elif isinstance(value, list):
            ctype = types.get(key, "")
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
            found, path = _item(r, found, step, path)
            ext = path if step.key == "extension" else ext
        else:
            found, path = r.obj(found, step.key, path), f"{path}.{step.key}"
        if found is None:
            break
    return found, path, ext


def _item(r: Reader, parent: Json, step: Step, path: str) -> tuple[Json | None, str]:
    """The first object of a repeating element (the first picked, if ``step`` picks), and
    its FHIRPath; items that are no objects are reported (as ``Reader.objs`` does)."""
    found: Json | None = None
    at = -1
    for i, item in enumerate(r.arr(parent, step.key, path)):
        if type(item) is not dict:
            r.wrong(f"{path}.{step.key}[{i}]", "an object", item)
        elif found is None and (step.pick is None or item.get(step.pick[0]) == step.pick[1]):
            found, at = item, i
    return (found, f"{path}.{step.key}[{at}]") if found is not None else (None, path)


def read_slot(
    r: Reader,
    obj: Json,
    path: str,
    slot: Slot,
    mp: ModelPath,
    walked: dict[str, tuple[Json | None, str, str]] | None = None,
) -> Any:
    """The model value at its slot (None when absent or wrong, reported); a required one
    missing stops reading (:class:`Unreadable`), unless it has a fallback. A list: every
    element of the picked repeating element that holds a value. ``walked``: the holders
    found so far below ``obj`` (the slots of one item share them)."""
    if slot.each is not None:
        return _read_many(r, obj, path, slot, slot.each, mp)
    if not slot.prefix:
        holder: Json | None = obj
        hpath, ext = path, ""
    elif walked is None:
        holder, hpath, ext = _walk(r, obj, path, slot.steps)
    else:
        found = walked.get(slot.prefix)
        if found is None:
            found = walked[slot.prefix] = _walk(r, obj, path, slot.steps)
        holder, hpath, ext = found
    value = None if holder is None else slot.reader(r, holder, hpath, mp, slot, ext)
    if value is None and slot.required is not None:
        if slot.coded is None:  # where it is missing: in what holds it, else what is absent
            where = slot.where(path) if holder is None else f"{hpath}.{slot.steps[-1].key}"
            r.missing(where, slot.required)
        if slot.fallback is NO_FALLBACK:
            raise Unreadable(path)
        return slot.fallback
    return value


def _read_many(r: Reader, obj: Json, path: str, slot: Slot, each: Slot, mp: ModelPath) -> list[Any]:
    """Each value of a list slot: the picked repeating element's items, each read as one."""
    at = len(slot.steps) - len(each.steps) - 1
    holder, hpath, _ext = _walk(r, obj, path, slot.steps[: at + 1])
    if holder is None:
        return []
    step = slot.steps[at]
    k, v = step.pick  # type: ignore[misc]
    out: list[Any] = []
    for item, ipath in r.objs(holder, step.key, hpath):
        if item.get(k) == v:
            below, bpath, _ext = _walk(r, item, ipath, each.steps)
            value = (
                None
                if below is None
                else each.reader(r, below, bpath, (*mp, len(out)), each, ipath)
            )
            if value is not None:
                out.append(value)
    return out


# Readers: (reader, the object holding the value, its path, model path, slot, the path of the
# extension holding it or "") -> the model value, None when absent or wrong (reported).


def _read_text(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    key = slot.steps[-1].key
    if ext and key == "valueString":
        r.map(mp, ext)
        return get_ext_text(r, obj, ext)
    return get_text(r, obj, key, path, mp)


def _read_datetime(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    return dt.read_datetime(r, obj, slot.steps[-1].key, path, mp)


def _read_date(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    return dt.read_date(r, obj, slot.steps[-1].key, path, mp)


def _read_composite(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    key = slot.steps[-1].key
    found = r.obj(obj, key, path)
    return None if found is None else _COMPOSITE[slot.vtype](r, found, f"{path}.{key}", mp)


def _read_raw(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    return _raw(r, obj, slot.steps[-1].key, path, mp, slot.vtype, ext)


def _read_enum(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    value = _read_raw(r, obj, path, mp, slot, ext)
    where = f"{path}.{slot.steps[-1].key}"
    return None if value is None else _enum(r, value, slot.vtype, where, slot.required or "")


def _read_table(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    key = slot.steps[-1].key
    raw = get_value(r, obj, key, path, mp, str, ext)
    assert slot.table is not None
    back = {v: k for k, v in slot.table.items()}
    if raw is None or raw in back:
        return None if raw is None else slot.vtype(back[raw])
    r.report(SYSTEM, f"{path}.{key}", f"{key} {raw!r} is not one of {', '.join(back)}")
    return None


def _read_first(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    """The first value of a repeating primitive."""
    key = slot.steps[-1].key
    items = r.arr(obj, key, path)
    if not items:
        return None
    return get_value(r, {f"{key}[0]": items[0]}, f"{key}[0]", path, mp, slot.vtype, ext)


def _read_coded(r: Reader, obj: Json, path: str, mp: ModelPath, slot: Slot, ext: str) -> Any:
    """An enumeration held as a Coding of its system in a CodeableConcept (the first that has
    one, if it repeats); located at the concept."""
    key = slot.steps[-1].key
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


_READERS: dict[Any, Callable[..., Any]] = {
    str: _read_text,
    datetime: _read_datetime,
    date: _read_date,
    Code: _read_composite,
    Identifier: _read_composite,
    Period: _read_composite,
}


def _matches(element: Json, match: tuple[tuple[str, ...], Any]) -> bool:
    """Whether ``element`` holds the coding (or value) ``match`` fixes at its path."""
    steps, want = match
    value: Any = element
    for step in steps:
        value = value.get(step) if type(value) is dict else None
    if type(want) is dict and "coding" in want:
        codings = value.get("coding") if type(value) is dict else None
        if type(codings) is list:
            for c in want["coding"]:
                if c in codings:
                    return True
        return False
    return bool(value == want)


def which_items(element: Json, lists: tuple[Items, ...]) -> Items:
    """The list an element of a shared repeating element belongs to: the first whose
    ``match`` it holds, else the one without a ``match``."""
    default = None
    for items in lists:
        if items.match is None:
            default = default or items
        elif _matches(element, items.match):
            return items
    assert default is not None
    return default


def _item_reader(items: Items) -> Callable[[Reader, Json, str, ModelPath], Any]:
    """:func:`read_item` for one list as Python source: each holder an item's slots share is
    walked where the first of them needs it, each slot's reader and what a missing value
    does (reported where, a fallback, the item left out) decided here."""
    src = _Source()
    src.names.update(_item=_item, read_slot=read_slot, Unreadable=Unreadable)
    src.emit(0, "def read(r, element, path, mp):")
    for key, what in items.needs:
        src.emit(1, f"if r.obj(element, {key!r}, path) is None:")
        src.emit(2, f"r.missing(path + {'.' + key!r}, {what!r})")
        src.emit(2, "return None")
    src.emit(1, "r.map(mp, path)")
    src.emit(1, "values = {}")
    src.emit(1, "try:")
    walked: dict[str, tuple[str, str, str]] = {}  # prefix -> its variables
    for slot in items.slots:
        _read_source(src, 2, slot, f"(*mp, {slot.name!r})", walked, "return None")
        src.emit(2, "if value is not None:")
        src.emit(3, f"values[{slot.name!r}] = value")
    src.emit(1, "except Unreadable:")
    src.emit(2, "return None")
    src.emit(1, f"return {src.const(items.model)}(**values)")
    return src.compile("read", f"items {items.name}")  # type: ignore[no-any-return]


def _slot_reader(slot: Slot) -> Callable[[Reader, Json, str, ModelPath], Any]:
    """:func:`read_slot` for one slot (no holders shared) as Python source."""
    src = _Source()
    src.names.update(_item=_item, read_slot=read_slot, Unreadable=Unreadable)
    src.emit(0, "def read(r, element, path, mp):")
    _read_source(src, 1, slot, "mp", {}, "raise Unreadable(path)")
    src.emit(1, "return value")
    return src.compile("read", f"slot {slot.name}")  # type: ignore[no-any-return]


def _read_source(
    src: _Source,
    indent: int,
    slot: Slot,
    mp: str,
    walked: dict[str, tuple[str, str, str]],
    stop: str,
) -> None:
    """Code that sets ``value`` to ``slot``'s value below ``element`` (:func:`read_slot`);
    ``walked``: the holders walked so far (prefix -> variables); ``stop``: what a required
    value missing without a fallback does."""
    if slot.each is not None:  # a list: read_slot reads every value
        src.emit(indent, f"value = read_slot(r, element, path, {src.const(slot)}, {mp})")
        return
    if not slot.prefix:
        holder, hpath, ext = "element", "path", "''"
        src.emit(indent, f"value = {_read_call(src, slot, holder, hpath, mp, ext)}")
    else:
        if slot.prefix not in walked:
            walked[slot.prefix] = (src.var(), src.var(), src.var())
            _walk_source(src, indent, slot.steps, *walked[slot.prefix])
        holder, hpath, ext = walked[slot.prefix]
        call = _read_call(src, slot, holder, hpath, mp, ext)
        src.emit(indent, f"value = None if {holder} is None else {call}")
    if slot.required is None:
        return
    src.emit(indent, "if value is None:")
    if slot.coded is None:  # where it is missing: in what holds it, else what is absent
        at = f"{hpath} + {'.' + slot.steps[-1].key!r}"
        if slot.prefix:
            at = f"path + {slot.where('')!r} if {holder} is None else {at}"
        src.emit(indent + 1, f"r.missing({at}, {slot.required!r})")
    if slot.fallback is NO_FALLBACK:
        src.emit(indent + 1, stop)
    else:
        src.emit(indent + 1, f"value = {src.const(slot.fallback)}")


def _walk_source(
    src: _Source, indent: int, steps: tuple[Step, ...], h: str, p: str, e: str
) -> None:
    """:func:`_walk` below ``element``: sets ``h``, ``p``, ``e`` to the holder of the last
    step (None if absent), its FHIRPath and the path of the extension on the way."""
    src.emit(indent, f"{h}, {p}, {e} = element, path, ''")
    for i, step in enumerate(steps[:-1]):
        if i:
            src.emit(indent, f"if {h} is not None:")
            indent += 1
        if step.repeats:
            src.emit(indent, f"{h}, {p} = _item(r, {h}, {src.const(step)}, {p})")
            if step.key == "extension":
                src.emit(indent, f"{e} = {p}")
        else:
            src.emit(indent, f"{h}, {p} = r.obj({h}, {step.key!r}, {p}), {p} + {'.' + step.key!r}")


def _read_call(src: _Source, slot: Slot, h: str, p: str, mp: str, e: str) -> str:
    """The call that reads ``slot``'s value from holder ``h`` at ``p``: a text, date or
    date-time outside extensions straight from its reader, else the slot's reader."""
    key = slot.steps[-1].key
    direct = {_read_text: get_text, _read_date: dt.read_date, _read_datetime: dt.read_datetime}
    if slot.reader in direct and not slot.in_extension:
        return f"{src.const(direct[slot.reader])}(r, {h}, {key!r}, {p}, {mp})"
    return f"{src.const(slot.reader)}(r, {h}, {p}, {mp}, {src.const(slot)}, {e})"


def read_item(r: Reader, items: Items, element: Json, path: str, mp: ModelPath) -> Any:
    """One item of the list (None, reported, when it lacks what it cannot do without);
    :attr:`Items.read` is this, compiled."""
    for key, what in items.needs:
        if r.obj(element, key, path) is None:
            r.missing(f"{path}.{key}", what)
            return None
    r.map(mp, path)
    values: dict[str, Any] = {}
    walked: dict[str, tuple[Json | None, str, str]] = {}
    try:
        for slot in items.slots:
            value = read_slot(r, element, path, slot, (*mp, slot.name), walked)
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
    "read_item",
    "read_slot",
    "which_items",
    "write_items",
    "write_slot",
]
