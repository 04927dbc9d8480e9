"""The row engine: a kind's FHIR mapping, written and read from its rows.

A kind declares its rows (``mappings/<kind>.toml``) and its hand-written hooks (Python); the
engine does the rest: it writes the Bundle of a model and reads a Bundle back into the model,
reporting every problem with its FHIRPath and filling the source map. This is the contract new
kinds and resources are written against; keep it stable.

**The Bundle** (``collection``, focus first; ``docs/fhir/``)::

    [bundle]
    profile = "profile"                 # [urls] name of Bundle.meta.profile
    id = "notification_id"              # [urls] name of the focus' business identifier system

    [[entry]]                           # the entries in Bundle order; the first is the focus,
    name = "communication"              # category: the kind (docs/fhir/index.md)
    resource = "Communication"          # fullUrl: a stable urn:uuid of (kind, id, name)
    profile = "communication_profile"   # optional: [urls] name of meta.profile
    fixed = { status = "completed" }    # optional: elements with a fixed value

    [[entry]]
    name = "patient"
    resource = "Patient"
    model = "patient"                   # the model field the entry holds
    block = "patient"                   # the Block that writes and reads it (below)
    ref = "communication.subject"       # who names it: <entry>.<element> (a Reference), or
                                        # <entry>.extension.<[urls] name> (a valueReference)
    required = "the patient"            # optional: the reference must resolve (else: unreadable)
    options = { ... }                   # optional: passed to the block (e.g. systems allowed)

An entry without ``model`` appears only when its ``when`` model field is set (or always); a
``model`` field that is None leaves its entry (and its reference) out.

**The rows** (``[[field]]``, mapping.py): every row whose ``model`` is a field of the
document that no entry holds is the engine's to write and read, at its ``fhir`` path in the
focus, unless it names a ``hook``. Rows need no type: the model's annotation says it (text,
date, date-time, boolean, integer, enumeration, ``Code``, ``Identifier``, ``Period``), and:

* ``system`` ([urls] name): the ``identifier``/``coding`` of that system (written with it,
  read from the first that has it); an enumeration or code then lives in a Coding of it;
* ``url`` ([urls] name): the value lives in the extension of that URL (``valueX``);
* ``table`` ([tables] name): a model code and the FHIR code differ (model -> FHIR);
* ``required``: what is missing when the value is absent: reading stops (unreadable);
* ``hook``: hand-written code writes and reads it (a :class:`Hook` of the kind's).

Texts: an empty text is a data-absent-reason (texts.py); a text field whose default is ``""``
writes nothing for ``""``. The focus' elements are written in the FHIR specification's order
(so are its entries'), ``id`` last; inside an element, in row order. Reading goes through the
model's fields in their order; entries are read when their field comes.

**Hooks and blocks**: a :class:`Hook` (per kind) writes and reads the rows that name it; a
:class:`Block` (shared: the parties in ``parties.py``, the Consent) writes and reads one
entry's resource. Both see a :class:`Writing` or :class:`Reading`: the document, the entry
URLs, the Reader and the Bundle's index.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from gateway.documents import DocumentKind
from gateway.documents.common import Code, Identifier, Period
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import datatypes as dt
from gateway.formats.fhir.bundles import (
    BundleReading,
    CollectionMapping,
    bundle,
    find_focus,
    full_url,
    identifier_value,
    kind_concept,
)
from gateway.formats.fhir.conformance import element_table
from gateway.formats.fhir.mapping import EntryRow, FieldRow, Mapping, load_mapping
from gateway.formats.fhir.profile import check_entries
from gateway.formats.fhir.texts import get_ext_text, get_text, put_ext_text, put_text
from gateway.formats.fhir.tree import SYSTEM, Reader, Unreadable

Resource = dict[str, Any]
Found = tuple[Resource, str]  # a resource (or element) and its FHIRPath


# -- what hand-written code sees -------------------------------------------------------------


@dataclass
class Writing:
    """One document being written: the model and the fullUrl of each entry present."""

    document: Any
    kind: str
    urls: dict[str, str] = field(default_factory=dict)

    def url(self, *name: str) -> str:
        """The stable fullUrl of an entry: a declared one, or one a hook or block makes up
        (``"org", "2"``)."""
        if len(name) == 1 and name[0] in self.urls:
            return self.urls[name[0]]
        return full_url(self.kind, self.document.id, *name)


class Reading(BundleReading):
    """One Bundle being read: the Reader, the index, the focus and the entries resolved."""

    def __init__(self, tree: dict[str, Any], r: Reader) -> None:
        super().__init__(tree, r)
        self.focus: Found = ({}, "Bundle")
        self.entries: dict[str, Found] = {}


@dataclass(frozen=True)
class Hook:
    """Hand-written code for rows a table cannot say; the rows name it (``hook = "..."``).

    ``write(w, focus)`` puts the hook's elements into the focal resource (from ``w.document``);
    ``read(rd, focus, path)`` returns the model fields of the rows that name it. A hook may
    find entries for blocks to read (``rd.entries[name] = (resource, path)``)."""

    write: Callable[[Writing, Resource], None]
    read: Callable[[Reading, Resource, str], dict[str, Any]]


@dataclass(frozen=True)
class Block:
    """Writes and reads the resource of an entry (``block = "..."``), and of the entries it
    brings along (``also``).

    ``write(w, value, entry)`` returns the resources of the model value, one per name
    (``entry.name``, then ``entry.also``); ``read(rd, found, mp, entry)`` reads the entry
    found (resource, FHIRPath) into the model value, mapping model path ``mp``."""

    write: Callable[[Writing, Any, EntryRow], list[Resource]]
    read: Callable[[Reading, Found, ModelPath, EntryRow], Any]


#: Shared blocks by name (parties.py and blocks.py register theirs).
BLOCKS: dict[str, Block] = {}


# -- values: one codec per model type --------------------------------------------------------


def _put(obj: dict[str, Any], key: str, value: Any, in_extension: bool) -> None:
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


def _get(
    r: Reader, obj: dict[str, Any], key: str, path: str, mp: ModelPath, vtype: Any, ext: str
) -> Any:
    """The value of ``obj[key]`` as ``vtype``; ``ext``: the path of the extension holding it."""
    if vtype is str:
        if ext and key == "valueString":
            r.map(mp, ext)
            return get_ext_text(r, obj, ext)
        return get_text(r, obj, key, path, mp)
    if vtype is datetime:
        return dt.read_datetime(r, obj, key, path, mp)
    if vtype is date:
        return dt.read_date(r, obj, key, path, mp)
    if vtype is Code:
        found = r.obj(obj, key, path)
        return dt.read_coding(r, found, f"{path}.{key}", mp) if found is not None else None
    if vtype is Identifier:
        found = r.obj(obj, key, path)
        return dt.read_identifier(r, found, f"{path}.{key}", mp) if found is not None else None
    if vtype is Period:
        found = r.obj(obj, key, path)
        return dt.read_period(r, found, f"{path}.{key}", mp) if found is not None else None
    if vtype is bool:
        value: Any = r.boolean(obj, key, path)
    elif vtype is int:
        value = r.integer(obj, key, path)
    else:
        value = r.text(obj, key, path)
    if value is not None:
        r.map(mp, ext or f"{path}.{key}")
    return value


# -- the compiled plan -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One element on a row's path: its key, whether it repeats, and the (key, value) that
    picks the item of a repeating element (an identifier's system, an extension's url)."""

    key: str
    repeats: bool
    pick: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """Where one model field lives in the focus, and how it is converted."""

    name: str  # the model field
    steps: tuple[Step, ...]
    vtype: Any  # the model type of the value (str, date, a StrEnum, Code, ...)
    optional_text: bool  # a text whose default is "": "" is written as nothing
    required: str | None  # None: optional; else what is missing ("" says nothing more)
    table: dict[str, str] | None  # model code -> FHIR code
    coded: str | None  # an enumeration held as a Coding of this system
    in_extension: bool


@dataclass(frozen=True, slots=True)
class Ref:
    """How an entry is named: the owning entry, its element, and the extension URL when the
    element is an extension's valueReference."""

    owner: str
    element: str
    url: str = ""


@dataclass(frozen=True)
class Plan:
    """A kind's mapping compiled at start-up: what the engine does per message."""

    mapping: Mapping
    model: type[BaseModel]
    fields: tuple[tuple[str, str, Any], ...]  # (model field, "slot" | "entry" | "hook", what)
    entries: tuple[EntryRow, ...]
    refs: dict[str, Ref]
    hooks: dict[str, Hook]
    focus_order: dict[str, int]
    id_slot: Slot


def _value_type(annotation: Any) -> Any:
    """The type a field holds, from its annotation (``X | None`` -> ``X``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _steps(resource: str, path: str, pick: tuple[str, str] | None) -> tuple[Step, ...]:
    """The steps of ``path`` (``Resource.a.b``) below ``resource``; ``pick`` goes on the last
    repeating element that can hold it (``extension`` for a url, else identifier/coding)."""
    names = path.split(".")
    if names[0] != resource:
        raise ValueError(f"{path}: a row of the focus starts with {resource}")
    table = element_table()
    ftype, out = resource, []
    for name in names[1:]:
        ctype, repeats = table.get(ftype, {}).get(name, ("", False))
        out.append(Step(name, repeats))
        ftype = ctype
    if pick is not None:
        for i in range(len(out) - 1, -1, -1):
            if out[i].repeats and (pick[0] != "url" or out[i].key == "extension"):
                out[i] = Step(out[i].key, True, pick)
                break
        else:
            raise ValueError(f"{path}: no repeating element to pick by {pick[0]}")
    return tuple(out)


def _slot(mapping: Mapping, focus: str, row: FieldRow, annotation: Any, default: Any) -> Slot:
    u = mapping.urls
    vtype = _value_type(annotation)
    pick = ("url", u[row.url]) if row.url else ("system", u[row.system]) if row.system else None
    enum = isinstance(vtype, type) and issubclass(vtype, StrEnum)
    required = None
    if row.required is not False:
        required = "" if row.required is True else str(row.required)
        required = required.replace("{system}", pick[1] if pick else "")
    steps = _steps(focus, row.fhir, pick)
    return Slot(
        name=row.model,
        steps=steps,
        vtype=vtype,
        optional_text=vtype is str and default == "",
        required=required,
        table=mapping.tables[row.table] if row.table else None,
        coded=u[row.system] if row.system and enum else None,
        in_extension=any(s.key == "extension" for s in steps),
    )


def _ref(mapping: Mapping, text: str) -> Ref:
    owner, element = text.split(".", 1)
    if element.startswith("extension."):
        return Ref(owner, "extension", mapping.urls[element.split(".", 1)[1]])
    return Ref(owner, element)


def compile_plan(mapping: Mapping, model: type[BaseModel], hooks: dict[str, Hook]) -> Plan:
    """Check a kind's declarations against its model and hooks; what the engine will do."""
    from gateway.formats.fhir import blocks  # noqa: F401 - the shared blocks register

    entries = mapping.entries
    if not entries:
        raise ValueError(f"mappings/{mapping.kind}.toml declares no [[entry]]")
    focus = entries[0].resource
    by_field: dict[str, list[FieldRow]] = {}
    for row in mapping.fields:
        by_field.setdefault(row.model.split(".")[0].removesuffix("[]"), []).append(row)
    held = {e.model: e for e in entries[1:] if e.model}
    fields: list[tuple[str, str, Any]] = []
    id_slot = None
    for name, info in model.model_fields.items():
        rows = by_field.get(name, [])
        hook = next((r.hook for r in rows if r.hook), "")
        if hook:
            if hook not in hooks:
                raise KeyError(f"{mapping.kind}: rows name the hook {hook!r}, not given")
            if not any(h == hook for _n, how, h in fields if how == "hook"):
                fields.append((name, "hook", hook))
        elif name in held:
            block = held[name].block
            if block and block not in BLOCKS:
                raise KeyError(f"{mapping.kind}: no block {block!r}")
            fields.append((name, "entry", held[name]))
        elif rows:
            if len(rows) != 1 or "." in rows[0].model:
                raise ValueError(f"{mapping.kind}: {name}: one row for a plain field, or a hook")
            slot = _slot(mapping, focus, rows[0], info.annotation, info.default)
            if name == "id":
                id_slot = slot
            else:
                fields.append((name, "slot", slot))
    if id_slot is None or id_slot.steps[0].pick is None:
        raise ValueError(f"{mapping.kind}: the row of id names its identifier system")
    refs = {e.name: _ref(mapping, e.ref) for e in entries if e.ref}
    order = {name: i for i, name in enumerate(element_table()[focus])}
    order["id"] = len(order)  # as bundle() adds it: last
    return Plan(mapping, model, tuple(fields), entries, refs, hooks, order, id_slot)


# -- writing ---------------------------------------------------------------------------------


def _container(obj: dict[str, Any], steps: tuple[Step, ...]) -> dict[str, Any]:
    """The object that holds the last step, made where missing."""
    for step in steps[:-1]:
        if not step.repeats:
            obj = obj.setdefault(step.key, {})
            continue
        items = obj.setdefault(step.key, [])
        if step.pick is not None:
            k, v = step.pick
            item = next((i for i in items if i.get(k) == v), None)
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


def write_slot(focus: Resource, slot: Slot, value: Any) -> None:
    """Put one model value at its slot in the focal resource (nothing for None)."""
    if value is None or (slot.optional_text and value == ""):
        return
    if slot.table is not None:
        value = slot.table[str(value)]
    holder = _container(focus, slot.steps)
    key = slot.steps[-1].key
    if slot.coded is not None:  # an enumeration as a Coding of its system
        holder[key] = {"coding": [{"system": slot.coded, "code": str(value)}]}
    elif slot.steps[-1].repeats:
        item: dict[str, Any] = {}
        _put(item, key, value, slot.in_extension)
        holder.setdefault(key, []).append(item[key])
    else:
        _put(holder, key, value, slot.in_extension)


def _wire(owner: Resource, ref: Ref, url: str) -> None:
    reference = dt.reference(url)
    if ref.url:
        owner.setdefault("extension", []).append({"url": ref.url, "valueReference": reference})
        return
    if _repeats(owner["resourceType"], ref.element):
        owner.setdefault(ref.element, []).append(reference)
    else:
        owner[ref.element] = reference


class RowMapping(CollectionMapping):
    """A kind's ``codec.KindMapping`` driven by its rows (this module's docstring)."""

    def __init__(
        self,
        kind: DocumentKind,
        model: type[BaseModel],
        hooks: dict[str, Hook] | None = None,
        mapping: Mapping | None = None,
    ) -> None:
        self.plan = compile_plan(mapping or load_mapping(kind.value), model, hooks or {})
        focus = self.plan.entries[0].resource
        super().__init__(kind, focus, model, self.read_bundle, self.write_bundle)

    # -- model -> tree
    def write_bundle(self, document: Any) -> dict[str, Any]:
        plan = self.plan
        w = Writing(document, self.kind.value)
        present = [e for e in plan.entries if _present(e, document)]
        for e in present:
            for name in (e.name, *e.also):
                w.urls[name] = w.url(name)
        resources: list[tuple[str, Resource]] = []
        focus_row = plan.entries[0]
        focus: Resource = {"resourceType": focus_row.resource}
        for e in present[1:]:
            value = _model_value(document, e.model) if e.model else None
            if e.block:
                made = BLOCKS[e.block].write(w, value, e)
            else:
                made = [{"resourceType": e.resource, **copy.deepcopy(e.fixed)}]
            resources += zip((e.name, *e.also), made, strict=True)
        by_name = {focus_row.name: focus, **dict(resources)}
        self._write_focus(w, focus)
        for e in plan.entries[1:]:
            ref = plan.refs.get(e.name)
            if ref is None or ref.owner not in by_name:
                continue
            target = e.name if e.name in w.urls else e.ref_else
            if target in w.urls:
                _wire(by_name[ref.owner], ref, w.urls[target])
        entries = [(w.urls[focus_row.name], self._ordered(focus))]
        entries += [(w.urls[name], res) for name, res in resources]
        return bundle(plan.mapping.urls[plan.mapping.bundle["profile"]], entries)

    def _write_focus(self, w: Writing, focus: Resource) -> None:
        plan = self.plan
        row = plan.entries[0]
        if row.profile:
            focus["meta"] = {"profile": [plan.mapping.urls[row.profile]]}
        focus.update(copy.deepcopy(row.fixed))
        focus["category"] = [kind_concept(self.kind.value)]
        write_slot(focus, plan.id_slot, w.document.id)
        for name, how, what in plan.fields:
            if how == "slot":
                write_slot(focus, what, getattr(w.document, name))
            elif how == "hook":
                plan.hooks[what].write(w, focus)

    def _ordered(self, res: Resource) -> Resource:
        """The specification's order: resourceType first, id last (as ``bundle`` adds it)."""
        order = self.plan.focus_order
        keys = sorted(res, key=lambda k: (k != "resourceType", order.get(k.lstrip("_"), 999)))
        return {k: res[k] for k in keys}

    # -- tree -> model
    def read_bundle(self, tree: dict[str, Any], r: Reader) -> Any:
        plan, kind = self.plan, self.kind.value
        rd = Reading(tree, r)
        check_entries(tree, rd.index.entries, kind, r)
        focus_row = plan.entries[0]
        rd.focus = r.need(
            find_focus(rd.index, focus_row.resource, kind),
            "Bundle.entry",
            f"a {focus_row.resource} of category {kind}",
        )
        rd.entries[focus_row.name] = rd.focus
        res, path = rd.focus
        r.map((), path)
        system = plan.id_slot.steps[0].pick[1]  # type: ignore[index]
        values: dict[str, Any] = {"id": identifier_value(r, res, path, system, ("id",))}
        if values["id"] is None:
            r.missing(f"{path}.identifier", f"the document's id in {system}")
            raise Unreadable(path)
        unreadable = False
        for name, how, what in plan.fields:
            try:
                values.update(self._read_field(rd, name, how, what))
            except Unreadable:  # every missing piece is named before reading stops
                unreadable = True
        if unreadable:
            raise Unreadable(path)
        return plan.model(**values)

    def _read_field(self, rd: Reading, name: str, how: str, what: Any) -> dict[str, Any]:
        res, path = rd.focus
        if how == "slot":
            value = read_slot(rd.r, res, path, what)
            return {} if value is None else {name: value}
        if how == "hook":
            return self.plan.hooks[what].read(rd, res, path)
        found = self._resolve(rd, what)
        if found is None:
            return {}
        return {name: BLOCKS[what.block].read(rd, found, tuple(what.model.split(".")), what)}

    def _resolve(self, rd: Reading, e: EntryRow) -> Found | None:
        """The entry ``e``, following its reference (required: unreadable without it). A
        reference that does not resolve is where the model field is located."""
        found = rd.entries.get(e.name)
        ref = self.plan.refs.get(e.name)
        owner = rd.entries.get(ref.owner) if ref is not None else None
        if found is not None or ref is None or owner is None:
            return found
        rtypes: tuple[str, ...] = (e.resource,)
        if e.ref_else:
            rtypes += tuple(x.resource for x in self.plan.entries if x.name == e.ref_else)
        found, named = _follow(rd, owner, ref, rtypes)
        if found is not None and found[0].get("resourceType") != e.resource:
            return None  # the other entry the reference may name (ref_else)
        if found is None:
            if named:
                rd.r.map(tuple(e.model.split(".")), named)
            if e.required is not False:
                what = "" if e.required is True else str(e.required)
                rd.r.need(None, f"{owner[1]}.{ref.element}", what)
            return None
        rd.entries[e.name] = found
        return found


def _follow(
    rd: Reading, owner: Found, ref: Ref, rtypes: tuple[str, ...]
) -> tuple[Found | None, str]:
    """The entry a reference of ``owner`` names, and where the reference is ("" if absent):
    an extension's valueReference, the first of a repeating element's that resolves, or
    the element's."""
    r, (res, path) = rd.r, owner
    if ref.url:
        ext = dt.extension(r, res, path, ref.url)
        if ext is None:
            return None, ""
        epath = f"{path}.extension[{ext[1]}]"
        return rd.index.resolve(ext[0], "valueReference", epath, rtypes[0]), epath
    if _repeats(str(res.get("resourceType")), ref.element):
        named = ""
        for item, ipath in r.objs(res, ref.element, path):
            named = named or ipath
            found = rd.index.resolve_reference(item, ipath, rtypes)
            if found is not None:
                return found, ipath
        return None, named
    one = r.obj(res, ref.element, path)
    if one is None:
        return None, ""
    where = f"{path}.{ref.element}"
    return rd.index.resolve_reference(one, where, rtypes), where


def _repeats(rtype: str, element: str) -> bool:
    return element_table().get(rtype, {}).get(element, ("", False))[1]


def _present(e: EntryRow, document: Any) -> bool:
    when = e.model or e.when
    return not when or _model_value(document, when) is not None


# -- reading ---------------------------------------------------------------------------------


def read_slot(r: Reader, res: Resource, path: str, slot: Slot) -> Any:
    """The model value at its slot in the focal resource (None, reported, when wrong)."""
    obj: dict[str, Any] | None = res
    opath, ext = path, ""
    for step in slot.steps[:-1]:
        assert obj is not None
        if step.repeats:
            items = r.objs(obj, step.key, opath)
            if step.pick is not None:
                k, v = step.pick
                items = [(i, p) for i, p in items if i.get(k) == v]
            obj, opath = items[0] if items else (None, opath)
            if step.key == "extension":
                ext = opath
        else:
            obj, opath = r.obj(obj, step.key, opath), f"{opath}.{step.key}"
        if obj is None:
            break
    value = None
    mp: ModelPath = (slot.name,)
    if obj is not None:
        value = _read_value(r, obj, opath, mp, slot, ext)
    if value is None and slot.required is not None:
        r.need(None, ".".join([path, *(s.key for s in slot.steps)]), slot.required)
    return value


def _read_value(
    r: Reader, obj: dict[str, Any], path: str, mp: ModelPath, slot: Slot, ext: str
) -> Any:
    key = slot.steps[-1].key
    if slot.coded is not None:
        return _read_coded(r, obj, key, path, mp, slot)
    if slot.steps[-1].repeats:
        items = r.arr(obj, key, path)
        if not items:
            return None
        return _get(r, {f"{key}[0]": items[0]}, f"{key}[0]", path, mp, slot.vtype, ext)
    if slot.table is not None:
        raw = _get(r, obj, key, path, mp, str, ext)
        if raw is None:
            return None
        back = {v: k for k, v in slot.table.items()}
        if raw not in back:
            r.report(SYSTEM, f"{path}.{key}", f"{key} {raw!r} is not one of {', '.join(back)}")
            return None
        return slot.vtype(back[raw])
    value = _get(r, obj, key, path, mp, slot.vtype, ext)
    if value is not None and isinstance(slot.vtype, type) and issubclass(slot.vtype, StrEnum):
        return _enum(r, value, slot.vtype, f"{path}.{key}")
    return value


def _enum(r: Reader, raw: str, cls: type[StrEnum], where: str) -> Any:
    try:
        return cls(raw)
    except ValueError:
        known = ", ".join(x.value for x in cls)
        r.report(SYSTEM, where, f"{raw!r} is not one of: {known}")
        return None


def _read_coded(
    r: Reader, obj: dict[str, Any], key: str, path: str, mp: ModelPath, slot: Slot
) -> Any:
    concept = r.obj(obj, key, path)
    cpath = f"{path}.{key}"
    coding = dt.pick_coding(r, concept, cpath, slot.coded or "")
    if coding is None:
        if concept is not None:
            r.report(SYSTEM, cpath, f"{cpath} needs a code in {slot.coded}")
        return None
    r.map(mp, cpath)
    return _enum(r, str(coding.get("code")), slot.vtype, cpath)


def _model_value(document: Any, path: str) -> Any:
    value = document
    for step in path.split("."):
        value = getattr(value, step, None)
        if value is None:
            return None
    return value


__all__ = ["BLOCKS", "Block", "Hook", "Plan", "Reading", "RowMapping", "Writing", "compile_plan"]
