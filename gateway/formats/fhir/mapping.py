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
    fallback = ""                        # in a list's item: its stand-in when missing
    entry = "patient"                    # the value is in that entry, not in the focus
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
    fallback: Any = None
    hook: str = ""
    entry: str = ""


@dataclass(frozen=True)
class ItemsRow:
    """A list field whose items are the elements of one repeating FHIR element (engine.py)."""

    model: str
    fhir: str
    url: str = ""  # the list of the extensions of that url ([urls] name)
    match: str = ""
    fixed: dict[str, Any] = field(default_factory=dict, hash=False)
    needs: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class EntryRow:
    """A Bundle entry of a kind the row engine drives (engine.py)."""

    name: str
    resource: str = ""
    model: str = ""
    block: str = ""
    hook: str = ""
    ref: str = ""
    ref_else: str = ""
    required: str | bool = False
    profile: str = ""
    when: str = ""
    also: tuple[str, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict, hash=False)
    links: dict[str, str] = field(default_factory=dict, hash=False)
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
    items: tuple[ItemsRow, ...] = ()

    def url(self, name: str) -> str:
        return self.urls[name]

    def table(self, name: str) -> dict[str, str]:
        return self.tables[name]


@cache
def load_mapping(kind: str) -> Mapping:
    """``mappings/<kind>.toml``, read once."""
    with open(MAPPINGS_DIR / f"{kind}.toml", "rb") as f:
        data: dict[str, Any] = tomllib.load(f)

    urls = {k: v.replace("{base}", BASE) for k, v in data.get("urls", {}).items()}

    def based(value: Any) -> Any:
        """{base}, and {name} of a [urls] name, substituted in every text of a declaration."""
        if isinstance(value, str):
            value = value.replace("{base}", BASE)
            if value.startswith("{") and value.endswith("}") and value[1:-1] in urls:
                return urls[value[1:-1]]
            return value
        if isinstance(value, dict):
            return {k: based(v) for k, v in value.items()}
        if isinstance(value, list):
            return [based(v) for v in value]
        return value

    return Mapping(
        kind=data["kind"],
        title=data.get("title", kind),
        fields=tuple(
            FieldRow(**{**row, "required": based(row.get("required", False))})
            for row in data.get("field", [])
        ),
        urls=urls,
        tables={k: dict(v) for k, v in data.get("tables", {}).items()},
        bundle=dict(data.get("bundle", {})),
        entries=tuple(
            EntryRow(**based({**row, "also": tuple(row.get("also", ()))}))
            for row in data.get("entry", [])
        ),
        items=tuple(ItemsRow(**based(row)) for row in data.get("items", [])),
    )


def _cell(text: str) -> str:
    return f"`{text}`" if text else ""


def _by(m: Mapping, row: FieldRow) -> str:
    """Who writes and reads a row's field in FHIR: the row engine, a hook or a block."""
    if row.hook:
        return f"hook `{row.hook}`"
    top = row.model.split(".")[0].removesuffix("[]")
    for e in m.entries[1:]:
        if e.model == top:
            return f"block `{e.block}`" if e.block else f"rows (entry `{e.name}`)"
    if row.entry:
        return f"rows (entry `{row.entry}`)"
    return "rows"


def _entries_table(m: Mapping) -> list[str]:
    if not m.entries:
        return []
    out = ["", "## Bundle entries", ""]
    out += ["| entry | resource | holds | written and read by | named by |", "|---" * 5 + "|"]
    for i, e in enumerate(m.entries):
        holds = "the document (focus)" if i == 0 else _cell(e.model)
        by = f"block `{e.block}`" if e.block else f"hook `{e.hook}`" if e.hook else "rows"
        names = ", ".join(f"`{n}`" for n in (e.name, *e.also))
        out.append(f"| {names} | {e.resource} | {holds} | {by} | {_cell(e.ref)} |")
    return out


def render_mapping_table(kind: str) -> str:
    """The mapping of ``kind`` as Markdown: the field table (who writes and reads each field
    in FHIR: the row engine, a hook or a block), the Bundle's entries, each code table and
    the URIs."""
    m = load_mapping(kind)
    out = [
        f"# {m.title}",
        "",
        "| canonical field | XML | FHIR | FHIR by | note |",
        "|---|---|---|---|---|",
    ]
    for row in m.fields:
        note = row.note.replace("|", "\\|")
        cells = (_cell(row.model), _cell(row.xml), _cell(row.fhir), _by(m, row), note)
        out.append("| " + " | ".join(cells) + " |")
    out += _entries_table(m)
    for name, table in m.tables.items():
        out += ["", f"## {name}", "", "| from | to |", "|---|---|"]
        out += [f"| `{k}` | `{v}` |" for k, v in table.items()]
    if m.urls:
        out += ["", "## URIs", "", "| name | URI |", "|---|---|"]
        out += [f"| {k} | `{v}` |" for k, v in m.urls.items()]
    return "\n".join(out) + "\n"


__all__ = ["EntryRow", "FieldRow", "ItemsRow", "Mapping", "load_mapping", "render_mapping_table"]
