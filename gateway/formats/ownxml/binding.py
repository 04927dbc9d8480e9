"""Model <-> XML binding for the gateway's own XML documents.

The schemas in ``schemas/`` follow the canonical models by one convention, so one binding
serves SIP, return-to-work plan and §4 notification alike:

* an element per model field, named in lowerCamelCase (``first_day_of_reduced_capacity`` ->
  ``firstDayOfReducedCapacity``), written in field order (the XSD sequences follow the models);
* a list is repeated elements named in the singular (``participants`` -> ``participant``);
* a nested model is a nested element; a leaf is text (dates and times ISO 8601, booleans
  ``true``/``false``, enumerations their value);
* ``None``, an empty list and an empty string whose default is empty are left out, and an
  absent element takes the model's default, so model -> XML -> model is the identity.

The per-class tables are built once per process; parsing is one pass over the tree that also
fills the source map with each element's line and path.
"""

from __future__ import annotations

import types
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal, Union, cast, get_args, get_origin

from lxml import etree
from pydantic import BaseModel, ValidationError

from gateway.documents.issues import Location, ModelPath, SourceMap

#: List fields whose singular is not the field name minus its final "s".
_SINGULAR: dict[str, str] = {
    "diagnoses": "diagnosis",
    "specialities": "speciality",
    "recipients": "recipient",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def element_name(field_name: str, many: bool) -> str:
    if many:
        field_name = _SINGULAR.get(field_name) or field_name.removesuffix("s")
    return _camel(field_name)


@dataclass(frozen=True, slots=True)
class FieldBinding:
    name: str  # model field
    local: str  # element local name
    tag: str  # Clark notation
    many: bool
    model: type[BaseModel] | None  # nested model, None for a leaf
    omit_empty: bool  # "" is the default: leave the element out


@dataclass(slots=True)
class ModelBinding:
    fields: tuple[FieldBinding, ...]
    by_tag: dict[str, FieldBinding] = field(default_factory=dict)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, is list) of ``X``, ``X | None``, ``list[X]``."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        return annotation, False
    if origin is list:
        return get_args(annotation)[0], True
    return annotation, False


@cache
def binding(cls: type[BaseModel], namespace: str) -> ModelBinding:
    fields: list[FieldBinding] = []
    for name, info in cls.model_fields.items():
        if get_origin(info.annotation) is Literal:
            continue  # the document kind: said by the root element
        inner, many = _unwrap(info.annotation)
        nested = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
        local = element_name(name, many)
        fields.append(
            FieldBinding(name, local, f"{{{namespace}}}{local}", many, nested, info.default == "")
        )
    out = ModelBinding(tuple(fields))
    out.by_tag = {f.tag: f for f in fields}
    for f in fields:
        if f.model is not None:
            binding(f.model, namespace)  # build the whole tree now, not on the first message
    return out


# ------------------------------------------------------------------------------ rendering


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _write(parent: etree._Element, obj: BaseModel, namespace: str) -> None:
    for f in binding(type(obj), namespace).fields:
        value = getattr(obj, f.name)
        if value is None or (f.omit_empty and value == ""):
            continue
        for item in value if f.many else (value,):
            el = etree.SubElement(parent, f.tag)
            if f.model is not None:
                _write(el, item, namespace)
            else:
                el.text = _text(item)


def render(document: BaseModel, namespace: str, root: str) -> bytes:
    nsmap = cast("dict[str, str]", {None: namespace})  # lxml-stubs reject the default prefix
    el = etree.Element(f"{{{namespace}}}{root}", nsmap=nsmap)
    _write(el, document, namespace)
    return etree.tostring(el, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# -------------------------------------------------------------------------------- parsing


def _line(el: etree._Element) -> int | None:
    return cast("int | None", el.sourceline)  # lxml-stubs type it oddly


def _read(
    el: etree._Element,
    mb: ModelBinding,
    namespace: str,
    path: ModelPath,
    xpath: str,
    source_map: SourceMap,
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    counts = Counter(child.tag for child in el)
    seen: Counter[str] = Counter()
    for child in el:
        tag = child.tag
        f = mb.by_tag.get(tag) if isinstance(tag, str) else None
        if f is None:
            continue  # comments, unknown elements: the XSD reports the latter
        seen[tag] += 1
        step = f"{xpath}/{f.local}" + (f"[{seen[tag]}]" if counts[tag] > 1 else "")
        if f.many:
            items = data.setdefault(f.name, [])
            here: ModelPath = (*path, f.name, len(items))
            if not items:
                source_map.add((*path, f.name), Location(step, _line(child)))
        else:
            here = (*path, f.name)
        if f.model is not None:
            value: Any = _read(
                child, binding(f.model, namespace), namespace, here, step, source_map
            )
        else:
            value = child.text or ""
        if f.many:
            items.append(value)
        else:
            data[f.name] = value
        source_map.add(here, Location(step, _line(child)))
    return data


def read(
    root: etree._Element, cls: type[BaseModel], namespace: str, source_map: SourceMap
) -> dict[str, Any]:
    """The root element as a dict ready for ``cls.model_validate``; fills ``source_map``."""
    xpath = "/" + etree.QName(root).localname
    source_map.add((), Location(xpath, _line(root)))
    return _read(root, binding(cls, namespace), namespace, (), xpath, source_map)


def build(cls: type[BaseModel], data: dict[str, Any]) -> tuple[BaseModel | None, str | None]:
    """Validate ``data`` into ``cls``. When a value cannot be read (a schema-invalid document),
    leave out the optional fields that failed and try again, so business rules can still run
    on the rest. Returns (model, None) or (None, the first reason)."""
    first: str | None = None
    for _ in range(3):
        try:
            return cls.model_validate(data), None
        except ValidationError as exc:
            errors = exc.errors()
            if first is None:
                e = errors[0]
                first = f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            if not _drop_failed(data, errors):
                break
    return None, first


def _drop_failed(data: dict[str, Any], errors: list[Any]) -> bool:
    dropped = False
    for e in errors:
        if e["type"] == "missing":
            return False  # a required field is absent: nothing to salvage
        loc = e["loc"]
        node: Any = data
        for step in loc[:-1]:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        if isinstance(node, dict) and loc and loc[-1] in node:
            del node[loc[-1]]
            dropped = True
    return dropped
