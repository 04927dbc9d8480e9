"""The row engine: a kind's FHIR mapping, written and read from its rows.

A kind declares its rows (``mappings/<kind>.toml``) and its hand-written hooks (Python); the
engine does the rest: it writes the Bundle of a model and reads a Bundle back into the model,
reporting every problem with its FHIRPath and filling the source map. This docstring is the
contract new kinds and resources are written against; keep it stable.

A kind module (``codec.KIND_MODULES`` names it)::

    MAPPING = register(RowMapping(DocumentKind.X, XModel, hooks={"payload": Hook(w, r)}))

``RowMapping(kind, model, hooks=, blocks=, url=, matches=)``: ``blocks`` adds the kind's own
blocks to the shared ones; ``url(document, *name)`` gives entries a fullUrl scheme of the
kind's own; ``matches(tree)`` says whether a tree is of the kind where the focus' category
does not (a ``document`` Bundle).

**The Bundle** (docs/fhir/)::

    [bundle]
    profile = "profile"                 # [urls] name of Bundle.meta.profile
    type = "document"                   # optional: a document Bundle (default: a collection,
    hook = "bundle"                     # its focus of category the kind - a Task's code, as
                                        # Task has no category); then this hook
                                        # writes and reads the Bundle's own elements
    [[entry]]                           # the entries in Bundle order; the first is the focus
    name = "communication"              # fullUrl: a stable urn:uuid of (kind, id, name)
    resource = "Communication"
    profile = "communication_profile"   # optional: [urls] name of meta.profile
    fixed = { status = "completed" }    # optional: fixed elements ({base}, and "{name}" of a
                                        # [urls] name, substituted)
    [[entry]]
    name = "patient"
    resource = "Patient"
    model = "patient"                   # the model field the entry holds (None or []: none)
    block = "patient"                   # the Block that writes and reads it (blocks.py, or the
                                        # kind's own); without one the engine writes the entry:
                                        # its fixed elements, its ``links`` to other entries
                                        # ({ subject = "patient" }) and the [[items]] of its list
    also = ["provider"]                 # optional: more entries the block writes
    ref = "communication.subject"       # who names it: <entry>.<element> (a Reference; the
                                        # first that resolves if it repeats), or
                                        # <entry>.extension.<[urls] name> (a valueReference)
    ref_else = "unit"                   # optional: the entry ``ref`` names when this is absent
    required = true                     # optional: the reference must resolve ("what": said)
    options = { systems = ["hsa-id"] } # optional: for the block

    [[entry]]
    name = "needs"                      # where the entries a hook writes go (Writing.add)
    hook = "needs"

**The rows** (``[[field]]``, mapping.py). A field of the document that no entry holds is the
engine's to write and read, at its row's ``fhir`` path in the focus (or in the entry a row's
``entry`` names), unless a row of it names a ``hook``. A row needs no type: the model's
annotation says it (text, date, date-time, boolean, integer, enumeration, ``Code``,
``Identifier``, ``Period``; a composite's rows, e.g. ``period.start`` and ``period.end``, are
one value at their common FHIR element; a list of values, one element each). Columns:

* ``system`` ([urls] or fhir-systems.toml [uri] name): the value's ``identifier`` or
  ``coding`` is the one of that system (an enumeration: its code in a Coding of it);
* ``url`` (same names): the value is the ``value[x]`` of the extension of that URL;
* ``table`` ([tables] name): model code -> FHIR code;
* ``required`` (true, or what is missing): absent, it is reported and the document cannot be
  read; ``fallback`` (in an item): the item is kept with this value instead;
* ``entry``: the entry that holds the value (a block's: the engine adds it);
* ``hook``: hand-written code writes and reads it.

**Lists** (``[[items]]``): a list field, one element of a repeating FHIR element per item; its
rows (``measures[].ref`` ...) are slots below that element::

    [[items]]
    model = "follow_ups"
    fhir = "CarePlan.activity"          # (or the list of an engine-written entry: CareTeam...)
    fixed = { detail = { status = "scheduled" } }
    match = "detail.code"               # several lists in one element: an element is this
                                        # list's when it holds the fixed value there
    needs = { detail = "a follow-up" }  # an element without it is reported and left out
    url = "status"                      # optional: the extensions of that url ([urls] name);
                                        # their parts' rows name the parts' urls as written

Written: what the engine writes, in the FHIR specification's element order (``id`` last, as
every entry has it); texts as texts.py says (an empty one as a data-absent-reason; a text
field whose default is ``""`` writes nothing for ``""``). Read: the model's fields in their
order, each entry when its field comes; every missing required part is reported before
reading stops.

**Hooks and blocks**: a :class:`Hook` writes and reads the rows that name it, in the focus; a
:class:`Block` writes and reads one entry's resources. Both see a :class:`Writing` or a
:class:`Reading` (the document, the entries' URLs, the Reader, the Bundle's index, and a
``state`` the kind's hooks share per document: :func:`per_document`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

from gateway.documents import DocumentKind
from gateway.documents.common import Code, Identifier, Period
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import datatypes as dt
from gateway.formats.fhir import systems
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
from gateway.formats.fhir.mapping import EntryRow, FieldRow, ItemsRow, Mapping, load_mapping
from gateway.formats.fhir.profile import check_entries
from gateway.formats.fhir.slots import (
    NO_FALLBACK,
    Items,
    Slot,
    Step,
    fresh,
    ordered,
    rank_path,
    which_items,
)
from gateway.formats.fhir.tree import Reader, Unreadable

Resource = dict[str, Any]
Found = tuple[Resource, str]  # a resource (or element) and its FHIRPath


# -- what hand-written code sees -------------------------------------------------------------


class Writing:
    """One document being written: the model and the fullUrl of each entry present."""

    __slots__ = ("document", "kind", "made", "state", "url_scheme", "urls")

    def __init__(
        self, document: Any, kind: str, url_scheme: Callable[..., str] | None = None
    ) -> None:
        self.document = document
        self.kind = kind
        self.url_scheme = url_scheme  # the kind's own fullUrls (document, *name)
        self.urls: dict[str, str] = {}
        #: entries hooks write, by the [[entry]] (``hook = ...``) that places them
        self.made: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self.state: dict[str, Any] = {}  # a kind's hooks may share things

    def add(self, place: str, url: str, resource: dict[str, Any]) -> None:
        """An entry a hook writes, at the [[entry]] named ``place`` (``hook = "..."``)."""
        self.made.setdefault(place, []).append((url, resource))

    def url(self, *name: str) -> str:
        """The stable fullUrl of an entry: a declared one, or one a hook or block makes up
        (``"org", "2"``)."""
        if len(name) == 1 and name[0] in self.urls:
            return self.urls[name[0]]
        if self.url_scheme is not None:
            return self.url_scheme(self.document, *name)
        return full_url(self.kind, self.document.id, *name)


class Reading(BundleReading):
    """One Bundle being read: the Reader, the index, the focus and the entries resolved."""

    def __init__(self, tree: dict[str, Any], r: Reader) -> None:
        super().__init__(tree, r)
        self.focus: Found = ({}, "Bundle")
        self.entries: dict[str, Found] = {}
        self.state: dict[str, Any] = {}  # a kind's hooks may share things


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

    ``write(w, value, entry)`` returns the resources of the model value by entry name
    (``entry.name`` and ``entry.also``), in Bundle order; ``read(rd, found, mp, entry)``
    reads the entry found (resource, FHIRPath) into the model value, mapping model path
    ``mp``."""

    write: Callable[[Writing, Any, EntryRow], list[tuple[str, Resource]]]
    read: Callable[[Reading, Found, ModelPath, EntryRow], Any]


T = TypeVar("T")


def per_document(state: dict[str, Any], key: str, make: Callable[[], T]) -> T:
    """What a kind's hooks share while one document is written or read (``Writing.state``,
    ``Reading.state``): made by the first hook that asks."""
    found = state.get(key)
    if found is None:
        found = state[key] = make()
    return found


#: Shared blocks by name (blocks.py registers the parties and the Consent).
BLOCKS: dict[str, Block] = {}


# -- compiling the declarations (start-up) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """How an entry is named: the owning entry, its element, and the extension URL when it
    is an extension's valueReference."""

    owner: str
    element: str
    url: str = ""
    repeats: bool = False  # the element repeats in the owner's resource type


@dataclass(frozen=True)
class Plan:
    """A kind's mapping compiled at start-up: what the engine does per message."""

    mapping: Mapping
    model: type[BaseModel]
    #: (model field, how, what): how is "slot" (what: a Slot in the focus), "items" (an
    #: Items), "entry" (an EntryRow), "hook" (a hook name) or "at" ((entry name, Slot))
    fields: tuple[tuple[str, str, Any], ...]
    entries: tuple[EntryRow, ...]
    refs: dict[str, Ref]
    hooks: dict[str, Hook]
    blocks: dict[str, Block]
    document: bool  # a ``document`` Bundle (its identifier, timestamp: the bundle hook's)
    id_system: str  # a ``collection``: the focus' business identifier system
    shared: dict[str, tuple[Items, ...]]  # repeating element -> the lists that share it
    entry_items: dict[str, Items]  # an entry the engine writes (no block) -> its list
    links: dict[str, tuple[tuple[Ref, str], ...]]  # an entry -> its links (Ref, target)
    #: an entry -> the resource types its reference may name (its own, then ``ref_else``'s)
    rtypes: dict[str, tuple[str, ...]]


_COMPOSITES = (Code, Identifier, Period)


def _required(row: FieldRow, pick: tuple[str, str] | None) -> str | None:
    """None when a row's value is optional, else what is missing ("": nothing to add; for
    an extension: the extension)."""
    if row.required is False:
        return None
    if row.required is True:
        return pick[1] if pick is not None and pick[0] == "url" else ""
    return str(row.required)


def _until_picked(steps: tuple[Step, ...]) -> tuple[str, ...]:
    """The keys of a path up to its first picked element: the parts of a complex extension
    (picked by url) keep the order of their rows."""
    out = []
    for step in steps:
        out.append(step.key)
        if step.pick is not None:
            break
    return tuple(out)


def _leaves(fixed: dict[str, Any], at: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """The fixed values below nested objects, each with its path."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in fixed.items():
        if isinstance(value, dict):
            out += _leaves(value, (*at, key))
        else:
            out.append(((*at, key), value))
    return out


def _value_type(annotation: Any) -> Any:
    """The type a field holds, from its annotation (``X | None`` -> ``X``; ``list[X]`` -> X)."""
    annotation = _not_none(annotation)
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0]
    return annotation


def _not_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(_not_none(annotation)) is list


class _Compiler:
    """Rows -> slots, items and entries for one kind (errors name the kind and the field)."""

    def __init__(self, mapping: Mapping) -> None:
        self.m = mapping
        self.focus = mapping.entries[0].resource
        self.table = element_table()

    def uri(self, name: str) -> str:
        found = self.m.urls.get(name) or systems.URI.get(name)
        if found is None:
            raise KeyError(f"{self.m.kind}: no URI named {name!r} ([urls] or fhir-systems.toml)")
        return found

    def steps(self, ftype: str, names: list[str], pick: tuple[str, str] | None) -> tuple[Step, ...]:
        """Steps below an element of type ``ftype``; ``pick`` goes on the last repeating one
        that can hold it (``extension`` for a url, else an identifier or coding)."""
        out = []
        for name in names:
            ctype, repeats = self.table.get(ftype, {}).get(name, ("", False))
            out.append(Step(name, repeats))
            ftype = ctype
        if pick is not None:
            for i in range(len(out) - 1, -1, -1):
                if out[i].repeats and (pick[0] != "url" or out[i].key == "extension"):
                    out[i] = Step(out[i].key, True, pick)
                    break
            else:
                raise ValueError(f"{self.m.kind}: {names}: nothing repeats to pick by {pick[0]}")
        return tuple(out)

    def type_at(self, ftype: str, names: list[str]) -> str:
        for name in names:
            ftype = self.table.get(ftype, {}).get(name, ("", False))[0]
        return ftype

    def slot(
        self,
        name: str,
        rows: list[FieldRow],
        info: Any,
        ftype: str,
        prefix: int,
        parts: bool = False,
    ) -> Slot:
        """One model field at its rows' FHIR path, ``prefix`` steps of it below the holder;
        ``parts``: in a complex extension, whose parts' urls are their names as written."""
        vtype = _value_type(info.annotation)
        row = rows[0]
        names = self.path(name, rows, vtype, prefix)
        pick = self.pick(row, parts)
        enum = isinstance(vtype, type) and issubclass(vtype, str) and vtype is not str
        coded = None
        if enum and pick is not None and names[-2:] == ["coding", "code"]:
            coded, names, pick = pick[1], names[:-2], None  # the concept holds the Coding
        steps = self.steps(ftype, names, pick)
        fallback = NO_FALLBACK if row.fallback is None else row.fallback
        return Slot(
            name=name,
            steps=steps,
            vtype=vtype,
            optional_text=vtype is str and info.default == "",
            required=_required(row, pick),
            fallback=vtype(fallback) if enum and fallback is not NO_FALLBACK else fallback,
            table=self.m.tables[row.table] if row.table else None,
            coded=coded,
            in_extension=any(s.key == "extension" for s in steps),
            many=_is_list(info.annotation),
            enum=enum,
        )

    def path(self, name: str, rows: list[FieldRow], vtype: Any, prefix: int) -> list[str]:
        """The element names of a field's FHIR path below its holder: its row's, or the
        element a composite's rows share (``period.start``, ``period.end``)."""
        paths = [r.fhir.split(".")[1 + prefix :] for r in rows]
        if len(rows) == 1:
            return paths[0]
        if vtype not in _COMPOSITES:
            raise ValueError(f"{self.m.kind}: {name}: one row for a plain field, or a hook")
        size = 0
        while all(len(p) > size and p[size] == paths[0][size] for p in paths):
            size += 1
        return paths[0][:size]

    def pick(self, row: FieldRow, parts: bool) -> tuple[str, str] | None:
        """What picks the element that holds the value: an extension's url, an identifier's
        or coding's system."""
        if row.url:
            return ("url", row.url if parts else self.uri(row.url))
        if row.system:
            return ("system", self.uri(row.system))
        return None

    def items(self, spec: ItemsRow, info: Any, rows: list[FieldRow]) -> Items:
        model = _value_type(info.annotation)
        resource, *names = spec.fhir.split(".")
        ftype = self.type_at(resource, names)
        by_field: dict[str, list[FieldRow]] = {}
        for row in rows:
            by_field.setdefault(row.model.split(".")[1].removesuffix("[]"), []).append(row)
        parts = ftype == "Extension"
        slots = tuple(
            self.slot(name, by_field[name], item_info, ftype, len(names), parts)
            for name, item_info in model.model_fields.items()
            if name in by_field
        )
        pick = ("url", self.uri(spec.url)) if spec.url else None
        match = None
        if spec.match:
            path = tuple(spec.match.split("."))
            value: Any = spec.fixed
            for step in path:
                value = value[step]
            match = (path, value)
        ops: list[tuple[tuple[Step, ...], Any]] = [(s.steps, s) for s in slots]
        fixed = {**spec.fixed, **({pick[0]: pick[1]} if pick else {})}
        ops += [(self.steps(ftype, list(keys), None), v) for keys, v in _leaves(fixed)]
        ops.sort(key=lambda op: rank_path(ftype, _until_picked(op[0])))
        return Items(
            name=spec.model,
            fhir=spec.fhir,
            steps=self.steps(resource, names, None),
            ftype=ftype,
            model=model,
            slots=slots,
            fixed=spec.fixed,
            match=match,
            needs=tuple(spec.needs.items()),
            ops=tuple(ops),
            pick=pick,
        )

    def ref(self, text: str) -> Ref:
        owner, element = text.split(".", 1)
        if element.startswith("extension."):
            return Ref(owner, "extension", self.uri(element.split(".", 1)[1]))
        rtype = next(e.resource for e in self.m.entries if e.name == owner)
        return Ref(owner, element, repeats=_repeats(rtype, element))


def compile_plan(
    mapping: Mapping,
    model: type[BaseModel],
    hooks: dict[str, Hook],
    blocks: dict[str, Block] | None = None,
) -> Plan:
    """Check a kind's declarations against its model, hooks and blocks: what the engine does
    per message. Raises (naming the kind and the field) when they do not fit."""
    from gateway.formats.fhir import blocks as _shared  # noqa: F401 - registers the shared blocks

    if not mapping.entries:
        raise ValueError(f"mappings/{mapping.kind}.toml declares no [[entry]]")
    c = _Compiler(mapping)
    all_blocks = {**BLOCKS, **(blocks or {})}
    entry_items: dict[str, Items] = {}
    fields = _fields(c, model, hooks, all_blocks, entry_items)
    document = mapping.bundle.get("type") == "document"
    id_row = next((r for r in mapping.fields if r.model == "id" and r.system), None)
    if id_row is None and not document:
        raise ValueError(f"{mapping.kind}: the row of id names its identifier system")
    shared: dict[str, tuple[Items, ...]] = {}
    for items in [w for _n, how, w in fields if how == "items"] + list(entry_items.values()):
        key = _shared_key(items)
        shared[key] = (*shared.get(key, ()), items)
    return Plan(
        mapping=mapping,
        model=model,
        fields=fields,
        entries=mapping.entries,
        refs={e.name: c.ref(e.ref) for e in mapping.entries if e.ref},
        hooks=hooks,
        blocks=all_blocks,
        document=document,
        id_system=c.uri(id_row.system) if id_row is not None else "",
        shared=shared,
        entry_items=entry_items,
        links={
            e.name: tuple((c.ref(f"{e.name}.{el}"), to) for el, to in e.links.items())
            for e in mapping.entries
        },
        rtypes={
            e.name: (e.resource, *(x.resource for x in mapping.entries if x.name == e.ref_else))
            for e in mapping.entries
        },
    )


def _fields(
    c: _Compiler,
    model: type[BaseModel],
    hooks: dict[str, Hook],
    blocks: dict[str, Block],
    entry_items: dict[str, Items],
) -> tuple[tuple[str, str, Any], ...]:
    """How each model field is written and read, in the model's order (a hook once, at the
    first field whose rows name it)."""
    by_field: dict[str, list[FieldRow]] = {}
    for row in c.m.fields:
        by_field.setdefault(row.model.split(".")[0].removesuffix("[]"), []).append(row)
    kinds = {e.name: e.resource for e in c.m.entries}
    fields: list[tuple[str, str, Any]] = []
    for name, info in model.model_fields.items():
        rows = by_field.get(name, [])
        how = _field(c, name, info, rows, hooks, blocks, entry_items, kinds)
        if how is not None and not (how[1] == "hook" and any(f[1:] == how[1:] for f in fields)):
            fields.append(how)
    return tuple(fields)


def _field(
    c: _Compiler,
    name: str,
    info: Any,
    rows: list[FieldRow],
    hooks: dict[str, Hook],
    blocks: dict[str, Block],
    entry_items: dict[str, Items],
    kinds: dict[str, str],
) -> tuple[str, str, Any] | None:
    """How one model field is written and read (None: not at all, e.g. ``kind``)."""
    kind = c.m.kind
    hook = next((r.hook for r in rows if r.hook), "")
    held = {e.model: e for e in c.m.entries[1:] if e.model}
    lists = {i.model: i for i in c.m.items}
    if hook:
        if hook not in hooks:
            raise KeyError(f"{kind}: rows name the hook {hook!r}, not given")
        return (name, "hook", hook)
    if name in held:
        e = held[name]
        if e.block and e.block not in blocks:
            raise KeyError(f"{kind}: {name}: no block {e.block!r}")
        if not e.block:  # the engine writes it: a list of items (and fixed elements)
            entry_items[e.name] = c.items(lists[name], info, rows)
        return (name, "entry", e)
    if name in lists:
        return (name, "items", c.items(lists[name], info, rows))
    if not rows or name == "id":
        return None
    at = rows[0].entry
    if at:  # a field in an entry a block writes (after the block)
        return (name, "at", (at, c.slot(name, rows, info, kinds[at], 0)))
    return (name, "slot", c.slot(name, rows, info, c.focus, 0))


# -- the mapping -----------------------------------------------------------------------------


class RowMapping(CollectionMapping):
    """A kind's ``codec.KindMapping`` driven by its rows (this module's docstring).

    ``url(document, *name)``: the fullUrl of an entry, when the kind has its own scheme;
    ``matches(tree)``: whether a tree is of this kind, when the focus' category does not say
    it (a ``document`` Bundle)."""

    def __init__(
        self,
        kind: DocumentKind,
        model: type[BaseModel],
        hooks: dict[str, Hook] | None = None,
        blocks: dict[str, Block] | None = None,
        mapping: Mapping | None = None,
        url: Callable[..., str] | None = None,
        matches: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.plan = compile_plan(mapping or load_mapping(kind.value), model, hooks or {}, blocks)
        self._url = url
        # what every write looks up, decided once
        self._resource_of = {e.name: e.resource for e in self.plan.entries}
        self._at = tuple((n, what) for n, how, what in self.plan.fields if how == "at")
        self._engine_written = tuple(
            e.name for e in self.plan.entries[1:] if not e.block and not e.hook
        )
        bundle_hook = self.plan.mapping.bundle.get("hook")
        #: what writes the focus, in the model's order: a slot's or list's write (with its
        #: field), or a hook's (with None)
        self._focus_writes: tuple[tuple[str | None, Callable[..., None]], ...] = tuple(
            (name, what.write) if how in ("slot", "items") else (None, self.plan.hooks[what].write)
            for name, how, what in self.plan.fields
            if how in ("slot", "items") or (how == "hook" and what != bundle_hook)
        )
        #: each entry with the model path that says whether it is written (None: always)
        self._when = tuple(
            (e, _steps(e.model or e.when) if e.model or e.when else None) for e in self.plan.entries
        )
        focus = self.plan.entries[0].resource
        super().__init__(kind, focus, model, self.read_bundle, self.write_bundle)
        if matches is not None:
            self.matches = matches  # type: ignore[method-assign,assignment]

    def to_model(self, tree: dict[str, Any], reader: Reader) -> Any:
        if self.plan.document:  # a document names each problem where it is (no dedupe)
            return self.read_bundle(tree, reader)
        return super().to_model(tree, reader)

    # -- model -> tree
    def write_bundle(self, document: Any) -> dict[str, Any]:
        plan = self.plan
        w = Writing(document, self.kind.value, url_scheme=self._url)
        present = [e for e, when in self._when if when is None or _written(document, when)]
        for e in present:
            if not e.hook:  # a hook names its own entries
                for name in (e.name, *e.also):
                    w.urls[name] = w.url(name)
        focus_row = plan.entries[0]
        named: dict[str, Resource] = {focus_row.name: {"resourceType": focus_row.resource}}
        self._write_focus(w, named[focus_row.name])  # hooks add their entries to w.made
        order: list[str | tuple[str, Resource]] = [focus_row.name]  # names, or hooks' entries
        for e in present[1:]:
            if e.hook:
                order += w.made.get(e.name, [])
                continue
            value = _model_value(document, _steps(e.model)) if e.model else None
            if e.block:
                made = plan.blocks[e.block].write(w, value, e)
            else:
                made = [(e.name, self._write_entry(w, e, value))]
            named.update(made)
            order += [name for name, _res in made]
        self._finish(w, named)
        entries = [(w.urls[x], named[x]) if isinstance(x, str) else x for x in order]
        if not plan.document:
            return bundle(plan.mapping.urls[plan.mapping.bundle["profile"]], entries)
        out: Resource = {
            "resourceType": "Bundle",
            "meta": {"profile": [plan.mapping.urls[plan.mapping.bundle["profile"]]]},
            "type": "document",
            "entry": [{"fullUrl": url, "resource": res} for url, res in entries],
        }
        plan.hooks[plan.mapping.bundle["hook"]].write(w, out)
        return ordered(out, "Bundle", deep=False)

    def _finish(self, w: Writing, named: dict[str, Resource]) -> None:
        """The references between entries, the fields the engine puts into entries blocks
        wrote, and the order of the elements of what the engine wrote."""
        plan = self.plan
        for e in plan.entries[1:]:
            ref = plan.refs.get(e.name)
            target = e.name if e.name in w.urls else e.ref_else
            if ref is not None and ref.owner in named and target in w.urls:
                _wire(named[ref.owner], ref, w.urls[target])
        mine = {plan.entries[0].name} | {n for n in self._engine_written if n in named}
        for name, (at, slot) in self._at:
            if at in named:
                slot.write(named[at], getattr(w.document, name))
                mine.add(at)
        kinds = self._resource_of
        for name in mine:  # items are in order already
            named[name] = ordered(named[name], kinds[name], deep=False)

    def _write_focus(self, w: Writing, focus: Resource) -> None:
        plan = self.plan
        row = plan.entries[0]
        if row.profile:
            focus["meta"] = {"profile": [plan.mapping.urls[row.profile]]}
        focus.update(fresh(row.fixed))  # trees are the caller's to change
        if not plan.document:
            if row.resource == "Task":  # Task has no category: its code says the kind
                focus["code"] = kind_concept(self.kind.value)
            else:
                focus["category"] = [kind_concept(self.kind.value)]
            focus["identifier"] = [{"system": plan.id_system, "value": w.document.id}]
        document = w.document
        for name, write in self._focus_writes:
            if name is None:
                write(w, focus)
            else:
                write(focus, getattr(document, name))

    def _write_entry(self, w: Writing, e: EntryRow, value: Any) -> Resource:
        """An entry the engine writes: its fixed elements, its links to other entries and
        the items of the list it holds."""
        res: Resource = {"resourceType": e.resource, **fresh(e.fixed)}
        for ref, target in self.plan.links[e.name]:
            _wire(res, ref, w.urls[target])
        self.plan.entry_items[e.name].write(res, value)
        return res

    # -- tree -> model
    def read_bundle(self, tree: dict[str, Any], r: Reader) -> Any:
        plan, kind = self.plan, self.kind.value
        rd = Reading(tree, r)
        check_entries(tree, rd.index.entries, kind, r)
        focus_row = plan.entries[0]
        if plan.document:
            found = rd.index.first(focus_row.resource)
            rd.focus = r.need(found, "Bundle.entry", f"a {focus_row.resource}")
        else:
            found = find_focus(rd.index, focus_row.resource, kind)
            rd.focus = r.need(found, "Bundle.entry", f"a {focus_row.resource} of category {kind}")
        rd.entries[focus_row.name] = rd.focus
        res, path = rd.focus
        values: dict[str, Any] = {}
        if not plan.document:
            r.map((), path)
            values["id"] = identifier_value(r, res, path, plan.id_system, ("id",))
            if values["id"] is None:
                r.missing(f"{path}.identifier", f"the document's id in {plan.id_system}")
                raise Unreadable(path)
        unreadable = False
        for name, how, what in plan.fields:
            try:
                if how == "slot":  # the most common: read here
                    value = what.read(r, res, path, (name,))
                    if value is not None:
                        values[name] = value
                else:
                    values.update(self._read_field(rd, name, how, what))
            except Unreadable:  # every missing part is named before reading stops
                unreadable = True
        if unreadable:
            raise Unreadable(path)
        return plan.model(**values)

    def _read_field(self, rd: Reading, name: str, how: str, what: Any) -> dict[str, Any]:
        res, path = rd.focus
        if how == "at":
            at = rd.entries.get(what[0])
            value = None if at is None else what[1].read(rd.r, *at, (name,))
            return {} if value is None else {name: value}
        if how == "items":
            return {name: self._read_items(rd, rd.focus, what)}
        if how == "hook":
            if what == self.plan.mapping.bundle.get("hook"):
                return self.plan.hooks[what].read(rd, rd.tree, "Bundle")
            return self.plan.hooks[what].read(rd, res, path)
        found = self._resolve(rd, what)
        if found is None:
            return {}
        if not what.block:
            return {name: self._read_items(rd, found, self.plan.entry_items[what.name])}
        mp = tuple(what.model.split("."))
        return {name: self.plan.blocks[what.block].read(rd, found, mp, what)}

    def _read_items(self, rd: Reading, owner: Found, items: Items) -> list[Any]:
        """The items of one list. The lists that share a repeating element are read together,
        element by element in order, the first time one of them is asked for."""
        shared = _shared_key(items)
        key = f"items {shared} {owner[1]}"
        done = rd.state.get(key)
        if done is None:
            done = rd.state[key] = self._read_shared(rd.r, owner, self.plan.shared[shared])
        return done[items.name]

    @staticmethod
    def _read_shared(r: Reader, owner: Found, lists: tuple[Items, ...]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {items.name: [] for items in lists}
        holder, hpath = owner
        steps = lists[0].steps
        for step in steps[:-1]:
            found = r.obj(holder, step.key, hpath)
            if found is None:
                return out
            holder, hpath = found, f"{hpath}.{step.key}"
        pick = lists[0].pick
        for element, epath in r.objs(holder, steps[-1].key, hpath):
            if pick is not None and element.get(pick[0]) != pick[1]:
                continue  # another extension
            items = which_items(element, lists) if len(lists) > 1 else lists[0]
            got = out[items.name]
            item = items.read(r, element, epath, (items.name, len(got)))
            if item is not None:
                got.append(item)
        return out

    def _resolve(self, rd: Reading, e: EntryRow) -> Found | None:
        """The entry ``e``, following its reference (required: unreadable without it). A
        reference that does not resolve is where the model field is located."""
        found = rd.entries.get(e.name)
        ref = self.plan.refs.get(e.name)
        owner = rd.entries.get(ref.owner) if ref is not None else None
        if found is not None or ref is None or owner is None:
            return found
        found, named = _follow(rd, owner, ref, self.plan.rtypes[e.name])
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


def _shared_key(items: Items) -> str:
    """The lists of one repeating element (an extension's: of one url) are read together."""
    return items.fhir if items.pick is None else f"{items.fhir}#{items.pick[1]}"


def _wire(owner: Resource, ref: Ref, url: str) -> None:
    reference = dt.reference(url)
    if ref.url:
        owner.setdefault("extension", []).append({"url": ref.url, "valueReference": reference})
    elif ref.repeats:
        owner.setdefault(ref.element, []).append(reference)
    else:
        owner[ref.element] = reference


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
    if ref.repeats:  # in the owner's resource type (the entry was resolved as that type)
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


def _written(document: Any, when: tuple[str, ...]) -> bool:
    """Whether an entry is written: its model field (``when``) is set (a list: not empty)."""
    value = _model_value(document, when)
    return value is not None and not (isinstance(value, list) and not value)


@cache
def _steps(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _model_value(document: Any, steps: tuple[str, ...]) -> Any:
    value = document
    for step in steps:
        value = getattr(value, step, None)
        if value is None:
            return None
    return value


__all__ = [
    "BLOCKS",
    "Block",
    "Found",
    "Hook",
    "Plan",
    "Reading",
    "Resource",
    "RowMapping",
    "Writing",
    "compile_plan",
    "per_document",
]
