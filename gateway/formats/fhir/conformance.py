"""Strict mode: base FHIR R4 conformance with fhir.resources' R4B models.

Too slow for every message (about 120x ``orjson.loads``), so it runs on request
(``strict_issues``) and in the tests that prove every output of ours is valid base R4. It also
generates ``schemas/fhir/r4-elements.json``, the element table FHIR XML conversion reads
(``python -m gateway.formats.fhir.conformance``), so the per-message path never imports
fhir.resources.
"""

from __future__ import annotations

import json
import typing
from functools import cache
from typing import Any

from gateway import SCHEMAS_DIR
from gateway.documents.issues import RULES, Issue, Location, RuleKind

ELEMENT_TABLE = SCHEMAS_DIR / "fhir" / "r4-elements.json"

BASE_R4 = RULES.define(
    "FHIR-BASE-R4",
    "Not valid base FHIR R4",
    RuleKind.SCHEMA,
    "Strict mode only: the resource breaks the base FHIR R4 specification (as checked by "
    "fhir.resources' R4B models): an unknown element, a wrong data type, a missing element "
    "the specification requires.",
)


def strict_issues(tree: dict[str, Any]) -> list[Issue]:
    """Validate a whole resource tree as base R4; every problem becomes an issue."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        model = get_fhir_model_class(str(tree.get("resourceType")))
    except (KeyError, ValueError) as exc:
        return [Issue(BASE_R4.severity, BASE_R4.code, Location(), str(exc))]
    try:
        model.model_validate(tree)
    except ValidationError as exc:
        return [
            Issue(
                BASE_R4.severity,
                BASE_R4.code,
                Location(".".join(str(p) for p in err["loc"])),
                err["msg"],
            )
            for err in exc.errors()
        ]
    return []


# -- element table generation ------------------------------------------------------------


def _type_name(tp: Any) -> tuple[str, bool]:
    """(FHIR type name, repeats) of a fhir.resources field annotation."""
    repeats = False
    while True:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union or (args and type(None) in args and origin is not list):
            tp = next(a for a in args if a is not type(None))
        elif origin is list:
            repeats = True
            tp = args[0]
        elif origin is typing.Annotated:
            meta = args[1]
            name = type(meta).__name__
            return name[0].lower() + name[1:], repeats
        else:
            break
    if tp is bool:
        return "boolean", repeats
    if tp is str:
        return "string", repeats
    klass = getattr(tp, "get_model_klass", None)
    if klass is not None:
        cls = klass()
        if cls.__name__ == "Resource" or cls.__name__.endswith("Resource"):
            return "Resource", repeats
        return cls.__name__, repeats
    return getattr(tp, "__name__", str(tp)), repeats


def build_element_table() -> dict[str, list[list[Any]]]:
    """type -> ordered [[element, type, repeats], ...] for every type reachable from the R4B
    resources. Backbone elements are named by their class (``BundleEntry``)."""
    import importlib
    import pkgutil

    import fhir.resources.R4B as r4b
    from fhir.resources.R4B.resource import Resource

    table: dict[str, list[list[Any]]] = {}
    todo: list[type[Any]] = []
    for mod in pkgutil.iter_modules(r4b.__path__):
        if mod.name.startswith("fhir") or mod.name.endswith("types") or mod.name == "tests":
            continue
        module = importlib.import_module(f"fhir.resources.R4B.{mod.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Resource) and value is not Resource:
                todo.append(value)
    seen: set[str] = set()
    while todo:
        cls = todo.pop()
        name = cls.__name__
        if name in seen:
            continue
        seen.add(name)
        rows: list[list[Any]] = []
        by_alias = {(f.alias or n): f for n, f in cls.model_fields.items()}
        for element in cls.elements_sequence():
            field = by_alias.get(element) or cls.model_fields[element]
            tname, repeats = _type_name(field.annotation)
            rows.append([element, tname, repeats])
            sub = _class_of(field.annotation)
            if sub is not None and sub.__name__ not in seen and tname != "Resource":
                todo.append(sub)
        table[name] = rows
    return dict(sorted(table.items()))


def _class_of(tp: Any) -> type[Any] | None:
    klass = getattr(tp, "get_model_klass", None)
    if klass is not None:
        return klass()  # type: ignore[no-any-return]
    for arg in typing.get_args(tp):
        found = _class_of(arg)
        if found is not None:
            return found
    return None


@cache
def element_table() -> dict[str, dict[str, tuple[str, bool]]]:
    """The generated table, read once: type -> element -> (type, repeats), in FHIR order."""
    with open(ELEMENT_TABLE, "rb") as f:
        raw: dict[str, list[list[Any]]] = json.load(f)
    return {t: {e: (et, bool(rep)) for e, et, rep in rows} for t, rows in raw.items()}


if __name__ == "__main__":
    table = build_element_table()
    ELEMENT_TABLE.write_text(
        "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in table.items()) + "\n}\n"
    )
    print(f"wrote {len(table)} types to {ELEMENT_TABLE}")
