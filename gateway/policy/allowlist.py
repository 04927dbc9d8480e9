"""The allow-list over canonical models: a recipient receives only the fields its policy
names. Everything else goes back to its default (empty), so a field the policy does not know
- a new model field, say - is dropped, never passed on by accident.

A spec is a tree built from dotted paths: ``"issuer"`` passes the whole sub-model,
``"patient.id"`` only that field of it (the rest of ``patient`` is dropped). Lists are crossed
transparently: ``"measures.description"`` applies to every measure.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable
from enum import Enum
from functools import cache
from typing import Any, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gateway.documents.issues import ModelPath


class _All:
    def __repr__(self) -> str:
        return "ALL"


ALL = _All()
Spec = dict[str, "Spec | _All"]

#: Called for each field dropped that carried something: (model path, readable path).
OnRemoved = Callable[[ModelPath, str], None]


def build_spec(paths: Iterable[str]) -> Spec | _All:
    spec: Spec = {}
    for path in paths:
        if path == "*":
            return ALL
        node: Spec = spec
        names = path.split(".")
        for name in names[:-1]:
            child = node.setdefault(name, {})
            if isinstance(child, _All):
                break
            node = child
        else:
            node[names[-1]] = ALL
    return spec


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class a field holds (through ``X | None`` and ``list[X]``), if exactly one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, Union, types.UnionType):
        found = {m for a in typing.get_args(annotation) if (m := model_of(a)) is not None}
        return found.pop() if len(found) == 1 else None
    return None


def spec_problems(spec: Spec | _All, model: type[BaseModel], where: str = "") -> list[str]:
    """Why a spec does not fit its model: unknown fields, or required fields left out (which
    could not be dropped). Checked when policies load, so a typo fails at start-up."""
    if isinstance(spec, _All):
        return []
    problems: list[str] = []
    fields = model.model_fields
    for name, sub in spec.items():
        path = f"{where}.{name}" if where else name
        if name not in fields:
            problems.append(f"{path}: no such field in {model.__name__}")
            continue
        if not isinstance(sub, _All):
            inner = model_of(fields[name].annotation)
            if inner is None:
                problems.append(f"{path}: not a sub-model, name it whole")
            else:
                problems.extend(spec_problems(sub, inner, path))
    for name, info in fields.items():
        if info.is_required() and name not in spec:
            problems.append(f"{where + '.' if where else ''}{name}: required, must be allowed")
    return problems


def _default(info: FieldInfo) -> Any:
    return info.get_default(call_default_factory=True)


@cache
def _keys(cls: type[BaseModel]) -> frozenset[str]:
    return frozenset(cls.model_fields) & {"id", "instance", "ref"}


def item_label(item: object, index: int) -> str:
    """``[id=6]``, ``[id=40,instance=2]``, ``[ref=m1]`` or ``[3]``: readable and stable."""
    fields = _keys(type(item)) if isinstance(item, BaseModel) else frozenset()
    ident = item.id if "id" in fields else None  # type: ignore[attr-defined]
    if isinstance(ident, str):
        instance = item.instance if "instance" in fields else None  # type: ignore[attr-defined]
        return f"[id={ident},instance={instance}]" if instance is not None else f"[id={ident}]"
    ref = item.ref if "ref" in fields else None  # type: ignore[attr-defined]
    if isinstance(ref, str):
        return f"[ref={ref}]"
    return f"[{index}]"


def join(label: str, name: str) -> str:
    return f"{label}.{name}" if label else name


def apply_spec(
    obj: BaseModel, spec: Spec | _All, on_removed: OnRemoved, path: ModelPath = (), label: str = ""
) -> BaseModel:
    if isinstance(spec, _All):
        return obj
    updates: dict[str, Any] = {}
    for name, info in type(obj).model_fields.items():
        value = getattr(obj, name)
        sub = spec.get(name)
        if sub is None:
            if name == "kind":
                continue  # the discriminator, not content
            default = _default(info)
            if value != default:
                on_removed((*path, name), join(label, name))
                updates[name] = default
        elif not isinstance(sub, _All):
            new = _apply_value(value, sub, on_removed, (*path, name), join(label, name))
            if new is not value:
                updates[name] = new
    return obj.model_copy(update=updates) if updates else obj


def _apply_value(value: Any, spec: Spec, on_removed: OnRemoved, path: ModelPath, label: str) -> Any:
    if isinstance(value, BaseModel):
        return apply_spec(value, spec, on_removed, path, label)
    if isinstance(value, list):
        items = [
            _apply_value(v, spec, on_removed, (*path, i), label + item_label(v, i))
            for i, v in enumerate(value)
        ]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


#: Rewrites one leaf: (value, model path, readable path) -> new value, or None to keep it.
Rewrite = Callable[[Any, ModelPath, str], Any]


def rewrite_path(
    obj: Any, names: list[str], fn: Rewrite, path: ModelPath = (), label: str = ""
) -> Any:
    """Apply ``fn`` to the leaves a dotted path reaches (crossing lists); returns ``obj``
    itself when nothing changed."""
    if isinstance(obj, list):
        items = [
            rewrite_path(v, names, fn, (*path, i), label + item_label(v, i))
            for i, v in enumerate(obj)
        ]
        return items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    if not names:
        new = fn(obj, path, label)
        return obj if new is None else new
    if not isinstance(obj, BaseModel):
        return obj
    name = names[0]
    value = getattr(obj, name)
    if value is None:
        return obj
    new = rewrite_path(value, names[1:], fn, (*path, name), join(label, name))
    return obj if new is value else obj.model_copy(update={name: new})


#: What a required text withheld from a recipient becomes: the whole text goes, and the copy
#: stays valid against its schema (a measure's description may not be empty).
WITHHELD_TEXT = "[uppgift undanhållen]"


@cache
def free_text_fields(cls: type[BaseModel]) -> dict[str, Any]:
    """The free-text fields of a model, however deep, as dotted paths, each with what
    replaces a text withheld from it (its default, or :data:`WITHHELD_TEXT` when it has
    none). A model names
    its own in ``FREE_TEXT`` (a goal's description, a plan's notes); names, identifiers,
    contacts and codes are structured, not free text."""
    found: dict[str, Any] = {}
    own: tuple[str, ...] = getattr(cls, "FREE_TEXT", ())
    for name, info in cls.model_fields.items():
        if name in own:
            found[name] = WITHHELD_TEXT if info.is_required() else _default(info)
            continue
        inner = model_of(info.annotation)
        if inner is not None:
            for path, replacement in free_text_fields(inner).items():
                found[f"{name}.{path}"] = replacement
    return found


def _may_hold_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel) and bool(text_fields(annotation))
    return any(_may_hold_text(a) for a in typing.get_args(annotation))


@cache
def text_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model class that can hold text, however deep (enums, dates, numbers
    and flags cannot): the text walk skips the rest."""
    return tuple(
        n for n, f in cls.model_fields.items() if n != "kind" and _may_hold_text(f.annotation)
    )


#: Judges one text: (value, model path) -> why it must be withheld (any value the caller
#: reads back), or None to keep it.
TextCheck = Callable[[str, ModelPath], Any]
#: Told of each text withheld: (model path, why).
OnWithheld = Callable[[ModelPath, Any], None]


#: Texts that identify something (an identifier, a code, a reference inside the document): a
#: document cannot do without them when they are required, so one naming a diagnosis refuses
#: the transfer. Any other required text (a name, a description) is emptied instead.
IDENTIFYING = frozenset(
    {"id", "value", "system", "ref", "code", "participant", "responsible", "version"}
)


class TextRefused(Exception):
    """A text that must be withheld sits in a field the document cannot do without (an
    identifier, a code): the transfer is refused instead."""

    def __init__(self, path: ModelPath, reason: Any) -> None:
        super().__init__(str(reason))
        self.path = path
        self.reason = reason


def withhold_texts(
    obj: BaseModel,
    check: TextCheck,
    on_withheld: OnWithheld,
    skip: frozenset[str] = frozenset(),
    path: ModelPath = (),
) -> BaseModel:
    """Every text of a model, however deep (names, contacts, addresses, code displays, refs),
    judged by ``check``; one it withholds goes back to its default, a required free text to
    :data:`WITHHELD_TEXT` (a required name too), an item of a list of texts out of the list.
    A required
    identifying text (:data:`IDENTIFYING`) raises :class:`TextRefused`. Not the top-level
    fields named in ``skip``."""
    cls = type(obj)
    updates: dict[str, Any] = {}
    for name in text_fields(cls):
        if name in skip:
            continue
        value = getattr(obj, name)
        here = (*path, name)
        if isinstance(value, str):
            if isinstance(value, Enum):
                continue
            reason = check(value, here)
            if reason is None:
                continue
            info = cls.model_fields[name]
            if info.is_required() and name in IDENTIFYING:
                raise TextRefused(here, reason)
            on_withheld(here, reason)
            updates[name] = WITHHELD_TEXT if info.is_required() else _default(info)
        elif isinstance(value, BaseModel):
            new = withhold_texts(value, check, on_withheld, frozenset(), here)
            if new is not value:
                updates[name] = new
        elif isinstance(value, list):
            items = _withhold_in_list(value, check, on_withheld, here)
            if items is not value:
                updates[name] = items
    return obj.model_copy(update=updates) if updates else obj


def _withhold_in_list(
    value: list[Any], check: TextCheck, on_withheld: OnWithheld, path: ModelPath
) -> list[Any]:
    items: list[Any] = []
    changed = False
    for i, item in enumerate(value):
        here = (*path, i)
        if isinstance(item, str) and not isinstance(item, Enum):
            reason = check(item, here)
            if reason is not None:
                on_withheld(here, reason)
                changed = True
                continue
        elif isinstance(item, BaseModel):
            new = withhold_texts(item, check, on_withheld, frozenset(), here)
            changed = changed or new is not item
            item = new
        items.append(item)
    return items if changed else value


def clear_path(
    obj: Any,
    names: list[str],
    replacement: Any,
    on_cleared: Callable[[ModelPath, str], None],
    path: ModelPath = (),
    label: str = "",
) -> Any:
    """Set the leaves a dotted path reaches (crossing lists) to ``replacement``, telling
    ``on_cleared`` of each that held something; ``obj`` itself when nothing changed."""
    if isinstance(obj, list):
        items = [
            clear_path(v, names, replacement, on_cleared, (*path, i), label + item_label(v, i))
            for i, v in enumerate(obj)
        ]
        return items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    if not isinstance(obj, BaseModel):
        return obj
    name = names[0]
    value = getattr(obj, name)
    if value is None or (len(names) == 1 and value == replacement):
        return obj
    here, where = (*path, name), join(label, name)
    if len(names) == 1:
        on_cleared(here, where)
        return obj.model_copy(update={name: replacement})
    new = clear_path(value, names[1:], replacement, on_cleared, here, where)
    return obj if new is value else obj.model_copy(update={name: new})


def collect_texts(
    obj: BaseModel,
    out: list[str],
    skip: frozenset[str] = frozenset(),
    identifiers: list[str] | None = None,
) -> None:
    """Every text :func:`withhold_texts` would visit, into ``out`` (those of identifying
    fields into ``identifiers`` when given): one cheap look at all of them first spares the
    walk for the common document that names no diagnosis."""
    for name in text_fields(type(obj)):
        if name not in skip:
            target = out if identifiers is None or name not in IDENTIFYING else identifiers
            _collect_text_value(getattr(obj, name), target, out, identifiers)


def _collect_text_value(
    value: Any, target: list[str], out: list[str], identifiers: list[str] | None
) -> None:
    if isinstance(value, str):
        if not isinstance(value, Enum):
            target.append(value)
    elif isinstance(value, BaseModel):
        collect_texts(value, out, frozenset(), identifiers)
    elif isinstance(value, list):
        for v in value:
            _collect_text_value(v, target, out, identifiers)


def readable(root: BaseModel, path: ModelPath) -> str:
    """The readable label of a model path: ``("efforts", 0, "description")`` ->
    ``efforts[ref=e1].description``."""
    label, obj = "", root
    for step in path:
        if isinstance(step, int):
            obj = obj[step]  # type: ignore[index]
            label += item_label(obj, step)
        else:
            obj = getattr(obj, step)
            label = join(label, step)
    return label
