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
records the element of each model path, whose line and path are worked out only when an issue
points at it.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from lxml import etree
from pydantic import BaseModel, ValidationError

from gateway.documents.issues import ModelPath
from gateway.formats.sourcemap import ElementSourceMap
from gateway.formats.xmlsafe import plain_location, tag_of, text

#: List fields whose singular is not the field name minus its final "s".
_SINGULAR: dict[str, str] = {
    "diagnoses": "diagnosis",
    "specialities": "speciality",
    "recipients": "recipient",
    "categories": "category",
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
    nested: ModelBinding | None  # the nested model's binding


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
        tag = f"{{{namespace}}}{local}"
        sub = binding(nested, namespace) if nested is not None else None  # the whole tree, now
        fields.append(FieldBinding(name, local, tag, many, nested, info.default == "", sub))
    out = ModelBinding(tuple(fields))
    out.by_tag = {f.tag: f for f in fields}
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


#: Characters XML 1.0 cannot carry at all (C0 controls but tab/LF/CR, U+FFFE/U+FFFF, lone
#: surrogates).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escape(text: str) -> str:
    if _NOT_XML.search(text):
        raise ValueError("text contains a character XML cannot carry")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;")  # a raw CR would come back as LF


def _write(out: list[str], obj: BaseModel, mb: ModelBinding, indent: str) -> None:
    # Writing text directly is several times faster than building an lxml tree; the
    # round-trip tests parse every output back through the XSD.
    inner = indent + "  "
    for f in mb.fields:
        value = getattr(obj, f.name)
        if value is None or (f.omit_empty and value == ""):
            continue
        for item in value if f.many else (value,):
            if f.nested is None:
                out.append(f"{indent}<{f.local}>{_escape(_text(item))}</{f.local}>\n")
                continue
            out.append(f"{indent}<{f.local}>\n")
            mark = len(out)
            _write(out, item, f.nested, inner)
            if len(out) == mark:
                out[-1] = f"{indent}<{f.local}/>\n"
            else:
                out.append(f"{indent}</{f.local}>\n")


def render(document: BaseModel, namespace: str, root: str) -> bytes:
    out = ["<?xml version='1.0' encoding='UTF-8'?>\n", f'<{root} xmlns="{namespace}">\n']
    _write(out, document, binding(type(document), namespace), "  ")
    out.append(f"</{root}>\n")
    return "".join(out).encode()


# -------------------------------------------------------------------------------- parsing


def _read(
    el: etree._Element,
    mb: ModelBinding,
    path: ModelPath,
    elements: dict[ModelPath, etree._Element],
) -> dict[str, Any]:
    # The hot loop of every parse: one tag access per child, and the element recorded per
    # model path; its location (line, path with positions) is worked out only if an issue
    # points at it (ElementSourceMap), as most documents have none.
    data: dict[str, Any] = {}
    by_tag = mb.by_tag
    for child in el:
        tag = tag_of(child)
        if not isinstance(tag, str):
            continue  # a comment or processing instruction
        f = by_tag.get(tag)
        if f is None:
            continue  # unknown elements: the XSD reports them
        if f.many:
            items: list[Any] | None = data.get(f.name)
            if items is None:
                items = data[f.name] = []
                elements[(*path, f.name)] = child
            here: ModelPath = (*path, f.name, len(items))
        else:
            items = None
            here = (*path, f.name)
        nested = f.nested
        value = text(child) if nested is None else _read(child, nested, here, elements)
        if items is not None:
            items.append(value)
        else:
            data[f.name] = value
        elements[here] = child
    return data


def read(
    root: etree._Element, cls: type[BaseModel], namespace: str
) -> tuple[dict[str, Any], ElementSourceMap]:
    """The root element as a dict ready for ``cls.model_validate``, and its source map."""
    elements: dict[ModelPath, etree._Element] = {(): root}
    data = _read(root, binding(cls, namespace), (), elements)
    return data, ElementSourceMap(elements, describe=plain_location)


#: What a date or time must look like, by the prefix of pydantic's error type
#: (``date_from_datetime_parsing``, ``datetime_parsing``): pydantic's own wording speaks of its
#: parser ("invalid datetime separator") where the integrator sent a time zone on a date.
_EXPECTED = {
    "date": "a date YYYY-MM-DD without a time zone",
    "datetime": "a date and time YYYY-MM-DDThh:mm:ss with an optional offset",
}


def _reason(error: Any) -> str:
    expected = _EXPECTED.get(str(error["type"]).partition("_")[0])
    value = error.get("input")
    if expected is None or not isinstance(value, str):
        return str(error["msg"])
    return f"{value!r} is not {expected}"


def build(
    cls: type[BaseModel], data: dict[str, Any]
) -> tuple[BaseModel | None, tuple[ModelPath, str] | None]:
    """Validate ``data`` into ``cls``. When a value cannot be read, leave out the optional
    fields that failed and try again, so business rules can still run on the rest. Returns the
    model (or None) and the first problem: its model path (pydantic's ``loc`` is one) and the
    reason (the value and what was expected)."""
    first: tuple[ModelPath, str] | None = None
    for _ in range(3):
        try:
            return cls.model_validate(data), first
        except ValidationError as exc:
            errors = exc.errors()
            if first is None:
                first = (tuple(errors[0]["loc"]), _reason(errors[0]))
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
