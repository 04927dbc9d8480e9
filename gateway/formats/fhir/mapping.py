"""Declarative field maps: ``mappings/<kind>.toml``, one generic format for every kind.

A mapping file holds::

    kind = "certificate"                 # a DocumentKind value
    title = "..."
    [urls]                               # URIs the FHIR mapping mints; {base} is the systems base
    type_version = "{base}/StructureDefinition/certificate-type-version"
    [tables.<name>]                      # code translations, e.g. RIVTA relation -> FHIR code
    ERSATT = "replaces"
    [[field]]                            # one row per canonical field
    model = "patient.id.value"           # dotted path in the canonical model ([] = each item)
    xml = "/RegisterCertificate/intyg/patient/person-id/extension"   # where the XML holds it
    fhir = "Patient.identifier.value"    # FHIRPath in our FHIR shape
    note = "..."                         # optional
    # read by the FHIR row engine (engine.py, which also reads [bundle] and [[entry]]):
    system = "plan_id"                   # [urls] name: the identifier/coding of that system
    url = "meeting_date"                 # [urls] name: the extension that holds the value
    table = "effort_status"              # [tables] name: model code -> FHIR code
    required = "what is missing"         # the value must be there (else: unreadable)
    hook = "payload"                     # hand-written code writes and reads the field

The code reads everything at start-up: the FHIR row engine writes and reads the fields of the
kinds it drives; ``gateway mapping KIND`` renders the rows, and ``tests/test_mapping_rows.py``
holds every codec to them exactly, both ways: each row's model path lands at its FHIR path
and its XML path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gateway import MAPPINGS_DIR
from gateway.formats.fhir.systems import BASE


@dataclass(frozen=True)
class FieldRow:
    model: str
    xml: str = ""
    fhir: str = ""
    note: str = ""
    system: str = ""
    url: str = ""
    table: str = ""
    required: str | bool = False
    hook: str = ""


@dataclass(frozen=True)
class EntryRow:
    """A Bundle entry of a kind the row engine drives (engine.py)."""

    name: str
    resource: str
    model: str = ""
    block: str = ""
    ref: str = ""
    ref_else: str = ""
    required: str | bool = False
    profile: str = ""
    when: str = ""
    also: tuple[str, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict, hash=False)
    options: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Mapping:
    kind: str
    title: str
    fields: tuple[FieldRow, ...]
    urls: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    bundle: dict[str, str] = field(default_factory=dict)
    entries: tuple[EntryRow, ...] = ()

    def url(self, name: str) -> str:
        return self.urls[name]

    def table(self, name: str) -> dict[str, str]:
        return self.tables[name]


@cache
def load_mapping(kind: str) -> Mapping:
    """``mappings/<kind>.toml``, read once."""
    with open(MAPPINGS_DIR / f"{kind}.toml", "rb") as f:
        data: dict[str, Any] = tomllib.load(f)

    def based(row: dict[str, Any]) -> dict[str, Any]:
        required = row.get("required")
        if isinstance(required, str):
            row = {**row, "required": required.replace("{base}", BASE)}
        return row

    return Mapping(
        kind=data["kind"],
        title=data.get("title", kind),
        fields=tuple(FieldRow(**based(row)) for row in data.get("field", [])),
        urls={k: v.replace("{base}", BASE) for k, v in data.get("urls", {}).items()},
        tables={k: dict(v) for k, v in data.get("tables", {}).items()},
        bundle=dict(data.get("bundle", {})),
        entries=tuple(
            EntryRow(**based({**row, "also": tuple(row.get("also", ()))}))
            for row in data.get("entry", [])
        ),
    )


def _cell(text: str) -> str:
    return f"`{text}`" if text else ""


def render_mapping_table(kind: str) -> str:
    """The mapping of ``kind`` as Markdown: the field table, then each code table."""
    m = load_mapping(kind)
    out = [
        f"# {m.title}",
        "",
        "| canonical field | XML | FHIR | note |",
        "|---|---|---|---|",
    ]
    for row in m.fields:
        note = row.note.replace("|", "\\|")
        out.append(f"| {_cell(row.model)} | {_cell(row.xml)} | {_cell(row.fhir)} | {note} |")
    for name, table in m.tables.items():
        out += ["", f"## {name}", "", "| from | to |", "|---|---|"]
        out += [f"| `{k}` | `{v}` |" for k, v in table.items()]
    if m.urls:
        out += ["", "## URIs", "", "| name | URI |", "|---|---|"]
        out += [f"| {k} | `{v}` |" for k, v in m.urls.items()]
    return "\n".join(out) + "\n"


__all__ = ["EntryRow", "FieldRow", "Mapping", "load_mapping", "render_mapping_table"]
