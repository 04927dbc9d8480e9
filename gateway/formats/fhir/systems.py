"""Identifier and code systems: the one normalisation table, ``mappings/fhir-systems.toml``.

The canonical model holds a system the way RIVTA does (a bare OID, or Inera's name such as
``KV_FKMU_0003``); FHIR holds a URI. Aliases real senders use (HL7 Sweden's
``http://electronichealth.se/identifier/personnummer``, the legacy ICD-10-SE OIDs) are accepted
and normalised, so every output carries one canonical spelling, except where a format's
consumers require another (``output`` in the table). Loaded once at import.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from gateway import MAPPINGS_DIR
from gateway.formats.fhir.base import settings

_OID = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True, slots=True)
class System:
    name: str
    model: str
    uri: str
    aliases: tuple[str, ...]
    identifier: bool  # an identifier system (else a code system)
    diagnosis: bool = False  # its codes are diagnoses (never for employers)
    output: tuple[tuple[str, str], ...] = ()  # (format, system written in that format)


def _load() -> tuple[str, list[System], dict[str, str]]:
    with open(MAPPINGS_DIR / "fhir-systems.toml", "rb") as f:
        data: dict[str, Any] = tomllib.load(f)
    base = settings(str(data["base"]))[0]  # the configured base (base.py)
    rows: list[System] = []
    for section, is_id in (("identifier", True), ("code_system", False)):
        for row in data.get(section, []):
            rows.append(
                System(
                    name=row["name"],
                    model=row["model"],
                    uri=row["uri"].replace("{base}", base),
                    aliases=tuple(a.replace("{base}", base) for a in row.get("aliases", ())),
                    identifier=is_id,
                    diagnosis=bool(row.get("diagnosis", False)),
                    output=tuple(sorted(row.get("output", {}).items())),
                )
            )
    uris = {k: v.replace("{base}", base) for k, v in data.get("uri", {}).items()}
    return base, rows, uris


BASE, SYSTEMS, URI = _load()
"""``URI[name]``: the shared URIs of the ``[uri]`` table."""
#: The placeholder of mappings/fhir-systems.toml and any earlier base configured: documents
#: written under them still read (base.rebase).
PLACEHOLDER = str(tomllib.loads((MAPPINGS_DIR / "fhir-systems.toml").read_text("utf-8"))["base"])
EARLIER_BASES = settings(PLACEHOLDER)[1]
#: Every spelling we know (canonical URI, aliases, model form, urn:oid: of a model OID) -> row.
_BY_SPELLING: dict[str, System] = {}
for _s in SYSTEMS:
    _spellings = [_s.uri, _s.model, *_s.aliases]
    _spellings += [a[len("urn:oid:") :] for a in (_s.uri, *_s.aliases) if a.startswith("urn:oid:")]
    for _spelling in _spellings:
        _BY_SPELLING.setdefault(_spelling, _s)
_CODE_SYSTEM_PREFIX = f"{BASE}/CodeSystem/"

#: Model-form systems whose codes are diagnoses (ICD-10-SE, KSH97-P).
DIAGNOSIS_SYSTEMS = frozenset(s.model for s in SYSTEMS if s.diagnosis)


def lookup(system: str) -> System | None:
    """The table row for any spelling of a system, or None when the table does not list it."""
    return _BY_SPELLING.get(system)


def to_uri(system: str) -> str:
    """A model-form (or any known) system -> the canonical FHIR URI."""
    row = _BY_SPELLING.get(system)
    if row is not None:
        return row.uri
    if _OID.match(system):
        return f"urn:oid:{system}"
    if _UUID.match(system):
        return f"urn:uuid:{system}"
    if ":" in system:
        return system
    return _CODE_SYSTEM_PREFIX + system


def to_model(uri: str) -> str:
    """A FHIR system URI (canonical or alias) -> the model form; the inverse of :func:`to_uri`."""
    row = _BY_SPELLING.get(uri)
    if row is not None:
        return row.model
    if uri.startswith("urn:oid:") or uri.startswith("urn:uuid:"):
        return uri.split(":", 2)[2]
    if uri.startswith(_CODE_SYSTEM_PREFIX):
        return uri[len(_CODE_SYSTEM_PREFIX) :]
    return uri


def normalise(system: str) -> str:
    """Any spelling -> the model form (for codecs other than FHIR that read aliases)."""
    row = _BY_SPELLING.get(system)
    return row.model if row is not None else system


def for_output(model_system: str, fmt: str) -> str:
    """The system to write in format ``fmt`` (a ``Format`` value, e.g. ``"xml"``)."""
    row = _BY_SPELLING.get(model_system)
    if row is not None:
        for out_fmt, spelling in row.output:
            if out_fmt == fmt:
                return spelling
        return row.model
    return model_system


def is_known_identifier_uri(uri: str) -> bool:
    row = _BY_SPELLING.get(uri)
    return row is not None and row.identifier


def is_diagnosis(model_system: str | None) -> bool:
    return model_system is not None and normalise(model_system) in DIAGNOSIS_SYSTEMS


__all__ = [
    "BASE",
    "DIAGNOSIS_SYSTEMS",
    "EARLIER_BASES",
    "PLACEHOLDER",
    "SYSTEMS",
    "URI",
    "System",
    "for_output",
    "is_diagnosis",
    "is_known_identifier_uri",
    "lookup",
    "normalise",
    "to_model",
    "to_uri",
]
