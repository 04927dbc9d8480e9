"""FHIR data types <-> canonical building blocks, shared by every kind mapping.

Readers take a :class:`Reader`, the JSON object and its FHIRPath, report problems and fill
the source map for the model path given; writers return JSON trees in our canonical form.
Date-times: the canonical model holds Swedish local time without offset (as RIVTA does);
FHIR requires an offset, so we write Europe/Stockholm's and read any offset back to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from gateway.documents.common import SWEDISH_TIME, Address, Code, Identifier, Period
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import systems
from gateway.formats.fhir.texts import DATA_ABSENT, get_ext_text, get_text, put_text
from gateway.formats.fhir.tree import REFERENCE, STRUCTURE, SYSTEM, Reader, as_dict, as_list

STOCKHOLM = SWEDISH_TIME  # FHIR date-times without an offset are Swedish local time
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
T = TypeVar("T")

# -- date and time -------------------------------------------------------------------------


def write_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=STOCKHOLM)
        # fold=1 names the second of two equal wall times (autumn); anywhere else, as in the
        # spring gap, it would shift the time an hour on reading: write the wall time as given
        if value.fold and datetime.fromtimestamp(value.timestamp(), STOCKHOLM).fold == 0:
            value = value.replace(fold=0)
    return value.isoformat()


def parse_datetime(raw: str) -> datetime | None:
    """FHIR dateTime/instant -> naive Swedish local time (None when malformed)."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        return value
    wall = value.replace(tzinfo=None)
    # the offset Stockholm has at that wall time: keeps even DST-gap times round-tripping
    if wall.replace(tzinfo=STOCKHOLM).utcoffset() == value.utcoffset():
        return wall
    return value.astimezone(STOCKHOLM).replace(tzinfo=None)


def parse_date(raw: str) -> date | None:
    """A FHIR date YYYY-MM-DD (None when malformed)."""
    if not _DATE.match(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def read_datetime(
    r: Reader, obj: dict[str, Any], key: str, path: str, model_path: ModelPath
) -> datetime | None:
    return _read_parsed(r, obj, key, path, model_path, parse_datetime, "a FHIR dateTime")


def read_date(
    r: Reader, obj: dict[str, Any], key: str, path: str, model_path: ModelPath
) -> date | None:
    return _read_parsed(r, obj, key, path, model_path, parse_date, "a date YYYY-MM-DD")


def _read_parsed(
    r: Reader,
    obj: dict[str, Any],
    key: str,
    path: str,
    model_path: ModelPath,
    parse: Callable[[str], T | None],
    what: str,
) -> T | None:
    raw = r.text(obj, key, path)
    if raw is None:
        return None
    value = parse(raw)
    if value is None:
        r.report(STRUCTURE, f"{path}.{key}", f"{path}.{key}: {raw!r} is not {what}")
        return None
    r.map(model_path, f"{path}.{key}")
    return value


def write_period(p: Period) -> dict[str, Any]:
    """A Period; one with neither bound (sent, but empty) as a data-absent-reason."""
    out: dict[str, Any] = {}
    if p.start is not None:
        out["start"] = p.start.isoformat()
    if p.end is not None:
        out["end"] = p.end.isoformat()
    return out or {"extension": [DATA_ABSENT]}


def read_period(r: Reader, obj: dict[str, Any], path: str, model_path: ModelPath) -> Period:
    r.map(model_path, path)
    return Period(
        start=read_date(r, obj, "start", path, (*model_path, "start")),
        end=read_date(r, obj, "end", path, (*model_path, "end")),
    )


# -- identifiers and codes -----------------------------------------------------------------


def write_identifier(ident: Identifier) -> dict[str, Any]:
    return {"system": systems.to_uri(ident.system), "value": ident.value}


def read_identifier(
    r: Reader,
    obj: dict[str, Any],
    path: str,
    model_path: ModelPath,
    allowed: tuple[str, ...] = (),
) -> Identifier | None:
    """An Identifier whose system (after alias normalisation) is one of ``allowed`` model-form
    systems (any when empty). None, reported, when system or value is missing."""
    system = r.text(obj, "system", path)
    value = r.text(obj, "value", path)
    if system is None:
        r.missing(f"{path}.system")
    if value is None:
        r.missing(f"{path}.value")
    if system is None or value is None:
        return None
    model_system = systems.to_model(system)
    if allowed and model_system not in allowed:
        names = ", ".join(systems.to_uri(a) for a in allowed)
        r.report(SYSTEM, f"{path}.system", f"{path}.system {system!r} is not one of: {names}")
    r.map(model_path, path)
    r.map((*model_path, "system"), f"{path}.system")
    r.map((*model_path, "value"), f"{path}.value")
    return Identifier(system=model_system, value=value)


def pick_identifier(
    r: Reader, owner: dict[str, Any], path: str, model_path: ModelPath, allowed: tuple[str, ...]
) -> Identifier | None:
    """The first ``owner.identifier`` in one of the ``allowed`` systems, else the first one
    (reported as a wrong system), else None."""
    items = r.objs(owner, "identifier", path)
    for obj, p in items:
        system = obj.get("system")
        if isinstance(system, str) and systems.to_model(system) in allowed:
            return read_identifier(r, obj, p, model_path, allowed)
    if items:
        return read_identifier(r, items[0][0], items[0][1], model_path, allowed)
    return None


def write_coding(code: Code) -> dict[str, Any]:
    """A Coding; an empty display as a data-absent-reason (``texts.put_text``)."""
    out: dict[str, Any] = {}
    if code.system is not None:
        out["system"] = systems.to_uri(code.system)
    out["code"] = code.code
    put_text(out, "display", code.display)
    return out


def read_coding(r: Reader, obj: dict[str, Any], path: str, model_path: ModelPath) -> Code | None:
    code = r.text(obj, "code", path)
    if code is None:
        r.missing(f"{path}.code")
        return None
    system = r.text(obj, "system", path)
    r.map(model_path, path)
    r.map((*model_path, "code"), f"{path}.code")
    if system is not None:
        r.map((*model_path, "system"), f"{path}.system")
    return Code(
        code=code,
        system=systems.to_model(system) if system is not None else None,
        display=get_text(r, obj, "display", path, (*model_path, "display")),
    )


def read_concept(r: Reader, obj: dict[str, Any], path: str, model_path: ModelPath) -> Code | None:
    """The first coding of a CodeableConcept."""
    codings = r.objs(obj, "coding", path)
    if not codings:
        r.missing(f"{path}.coding")
        return None
    return read_coding(r, *codings[0], model_path)


def find_coding(concept: Any, system: str, code: str | None = None) -> dict[str, Any] | None:
    """The first coding of a CodeableConcept in ``system`` (and of ``code``, if given)."""
    for c in as_list(as_dict(concept).get("coding")):
        if (
            isinstance(c, dict)
            and c.get("system") == system
            and (code is None or c.get("code") == code)
        ):
            return c
    return None


def pick_coding(
    r: Reader, concept: dict[str, Any] | None, path: str, system: str
) -> dict[str, Any] | None:
    """The first coding in ``system`` of the CodeableConcept ``concept`` at ``path``: the
    reading form of :func:`find_coding`, reporting a ``coding`` of the wrong type."""
    if concept is None:
        return None
    return next((c for c, _p in r.objs(concept, "coding", path) if c.get("system") == system), None)


# -- addresses and telecom -----------------------------------------------------------------


def write_address(a: Address) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if a.street:
        out["line"] = [a.street]
    if a.postal_code:
        out["postalCode"] = a.postal_code
    if a.city:
        out["city"] = a.city
    if not out:  # sent, but empty (RIVTA allows it): FHIR has no empty objects
        out["extension"] = [DATA_ABSENT]
    return out


def read_address(r: Reader, obj: dict[str, Any], path: str, model_path: ModelPath) -> Address:
    r.map(model_path, path)
    lines = r.arr(obj, "line", path)
    street = lines[0] if lines and isinstance(lines[0], str) else ""
    if street:
        r.map((*model_path, "street"), f"{path}.line[0]")
    postal = r.text(obj, "postalCode", path) or ""
    if postal:
        r.map((*model_path, "postal_code"), f"{path}.postalCode")
    city = r.text(obj, "city", path) or ""
    if city:
        r.map((*model_path, "city"), f"{path}.city")
    return Address(street=street, postal_code=postal, city=city)


def write_telecom(out: dict[str, Any], phone: str | None, email: str | None) -> None:
    """``out.telecom``: a phone and an e-mail address, each when not None."""
    tel: list[dict[str, Any]] = []
    for system, value in (("phone", phone), ("email", email)):
        if value is not None:
            point: dict[str, Any] = {"system": system}
            put_text(point, "value", value)
            tel.append(point)
    if tel:
        out["telecom"] = tel


def read_telecom(
    r: Reader, owner: dict[str, Any], path: str, system: str, model_path: ModelPath
) -> str | None:
    """The value of the first ``owner.telecom`` of ``system`` (the inverse of
    :func:`write_telecom`)."""
    for obj, p in r.objs(owner, "telecom", path):
        if obj.get("system") == system:
            return get_text(r, obj, "value", p, model_path)
    return None


# -- extensions ------------------------------------------------------------------------------


def extension(
    r: Reader, owner: dict[str, Any], path: str, url: str
) -> tuple[dict[str, Any], int] | None:
    """The first extension ``url`` on ``owner`` (at FHIRPath ``path``) and its index."""
    found = extensions(r, owner, path, url)
    return found[0] if found else None


def extensions(
    r: Reader, owner: dict[str, Any], path: str, url: str
) -> list[tuple[dict[str, Any], int]]:
    """Every extension ``url`` on ``owner`` with its index; an ``extension`` that is not an
    array of objects is reported (once, however many URLs are looked up)."""
    out: list[tuple[dict[str, Any], int]] = []
    for i, ext in enumerate(r.arr(owner, "extension", path)):
        if not isinstance(ext, dict):
            r.wrong(f"{path}.extension[{i}]", "an object", ext)
        elif ext.get("url") == url:
            out.append((ext, i))
    return out


def ext_value(
    r: Reader, owner: dict[str, Any], url: str, key: str, path: str
) -> tuple[Any, str] | None:
    """``value[x]`` of the extension ``url`` on ``owner`` and the extension's FHIRPath."""
    found = extension(r, owner, path, url)
    if found is None:
        return None
    ext, i = found
    return ext.get(key), f"{path}.extension[{i}]"


def read_ext_text(
    r: Reader, owner: dict[str, Any], path: str, url: str, model_path: ModelPath
) -> str | None:
    """The text of the extension ``url`` on ``owner`` (``texts.put_ext_text``)."""
    found = extension(r, owner, path, url)
    if found is None:
        return None
    ext, i = found
    epath = f"{path}.extension[{i}]"
    r.map(model_path, epath)
    return get_ext_text(r, ext, epath)


# -- the Bundle ------------------------------------------------------------------------------


class BundleIndex:
    """The entries of a Bundle, by ``fullUrl`` and by ``Type/id``, to resolve references."""

    def __init__(self, r: Reader, bundle: dict[str, Any]) -> None:
        self.r = r
        self.entries: list[tuple[dict[str, Any], str]] = []
        self._by_ref: dict[str, tuple[dict[str, Any], str]] = {}
        for entry, epath in r.objs(bundle, "entry", "Bundle"):
            res = r.obj(entry, "resource", epath)
            if res is None:
                continue
            rpath = f"{epath}.resource"
            self.entries.append((res, rpath))
            full = entry.get("fullUrl")
            if isinstance(full, str):
                self._by_ref[full] = (res, rpath)
            rid = res.get("id")
            if isinstance(rid, str):
                self._by_ref[f"{res.get('resourceType')}/{rid}"] = (res, rpath)

    def first(self, rtype: str) -> tuple[dict[str, Any], str] | None:
        return next(((res, p) for res, p in self.entries if res.get("resourceType") == rtype), None)

    def all(self, rtype: str) -> list[tuple[dict[str, Any], str]]:
        return [(res, p) for res, p in self.entries if res.get("resourceType") == rtype]

    def resolve(
        self, owner: dict[str, Any], key: str, path: str, rtype: str
    ) -> tuple[dict[str, Any], str] | None:
        """Follow ``owner[key]`` (a Reference) to an entry of type ``rtype``; report when it
        is missing, does not resolve or points to another type."""
        ref = self.r.obj(owner, key, path)
        if ref is None:
            return None
        return self.resolve_reference(ref, f"{path}.{key}", rtype)

    def resolve_reference(
        self, ref: dict[str, Any], path: str, rtype: str | tuple[str, ...]
    ) -> tuple[dict[str, Any], str] | None:
        """The entry the Reference ``ref`` names, if it is a ``rtype`` (or one of them)."""
        rtypes = (rtype,) if isinstance(rtype, str) else rtype
        target = self.r.text(ref, "reference", path)
        if target is None:
            self.r.missing(f"{path}.reference")
            return None
        found = self._by_ref.get(target)
        if found is None and "/" in target and not target.startswith("urn:"):
            found = self._by_ref.get("/".join(target.rsplit("/", 2)[-2:]))  # absolute URL
        if found is None:
            self.r.report(REFERENCE, f"{path}.reference", f"{target!r} is not in the Bundle")
            return None
        got = found[0].get("resourceType")
        if got not in rtypes:
            want = " or ".join(rtypes)
            self.r.report(REFERENCE, f"{path}.reference", f"{target!r} is a {got}, not a {want}")
            return None
        return found


def reference(full_url: str) -> dict[str, str]:
    return {"reference": full_url}


__all__ = [
    "STOCKHOLM",
    "BundleIndex",
    "ext_value",
    "extension",
    "extensions",
    "find_coding",
    "parse_date",
    "parse_datetime",
    "pick_coding",
    "pick_identifier",
    "read_address",
    "read_coding",
    "read_concept",
    "read_date",
    "read_datetime",
    "read_ext_text",
    "read_identifier",
    "read_period",
    "read_telecom",
    "reference",
    "write_address",
    "write_coding",
    "write_datetime",
    "write_identifier",
    "write_period",
    "write_telecom",
]
