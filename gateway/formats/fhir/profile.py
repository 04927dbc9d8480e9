"""Our FHIR profiles, read from their StructureDefinitions and checked on the JSON tree.

Each document kind has a folder ``schemas/fhir/<kind>/`` of StructureDefinitions (one per
resource type of its Bundle). At start-up their differentials are compiled into a few cheap
checks per resource type: required elements (``min``), cardinality (``max: "1"`` on an element
that repeats in base FHIR) and fixed values (``fixed[x]``/``pattern[x]`` on a primitive).
Identifier systems, code systems and references need the Bundle's context and are checked by
the kind mapping as it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from gateway import SCHEMAS_DIR
from gateway.formats.fhir.systems import BASE, PLACEHOLDER
from gateway.formats.fhir.tree import STRUCTURE, Reader

PROFILES_DIR = SCHEMAS_DIR / "fhir"


@dataclass(frozen=True, slots=True)
class Constraint:
    steps: tuple[str, ...]  # path below the resource, e.g. ("identifier", "system")
    min: int
    max: str
    fixed: Any = None


@dataclass(frozen=True)
class Profile:
    url: str
    type: str
    constraints: tuple[Constraint, ...]
    #: :func:`check_interpreted` for this profile, as straight-line Python made at start-up
    run: Callable[[dict[str, Any], str, Reader], None] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", _compiled(self))


def _compile(sd: dict[str, Any]) -> Profile:
    constraints: list[Constraint] = []
    for el in sd.get("differential", {}).get("element", []):
        steps = tuple(el["path"].split(".")[1:])
        if not steps:
            continue
        fixed = next(
            (v for k, v in el.items() if k.startswith(("fixed", "pattern")) and k != "fixed"),
            None,
        )
        constraints.append(Constraint(steps, int(el.get("min", 0)), str(el.get("max", "*")), fixed))
    return Profile(sd["url"], sd["type"], tuple(constraints))


def published(text: str) -> str:
    """An artefact of ``schemas/fhir/`` (written under the placeholder base) for the base the
    gateway runs with (base.py)."""
    return text if BASE == PLACEHOLDER else text.replace(PLACEHOLDER, BASE)


@cache
def profiles(kind: str) -> dict[str, Profile]:
    """resourceType -> our profile of it, for one document kind (the folder's name)."""
    out: dict[str, Profile] = {}
    for path in sorted((PROFILES_DIR / kind).glob("StructureDefinition-*.json")):
        sd = json.loads(published(path.read_text("utf-8")))
        out[sd["type"]] = _compile(sd)
    return out


#: A FHIRPath built only when a problem is reported: (parent, step, index or None) or a string.
_Path = Any


def _text(path: _Path) -> str:
    if isinstance(path, str):
        return path
    parent, step, index = path
    return f"{_text(parent)}.{step}" + ("" if index is None else f"[{index}]")


def _select(node: Any, steps: tuple[str, ...], path: _Path) -> list[tuple[Any, _Path]]:
    """Every (value, path) at ``steps`` below ``node``; arrays are walked item by item."""
    found: list[tuple[Any, _Path]] = [(node, path)]
    for step in steps:
        nxt: list[tuple[Any, _Path]] = []
        for value, p in found:
            if type(value) is not dict:
                continue
            child = value.get(step)
            if type(child) is list:
                nxt.extend((c, (p, step, i)) for i, c in enumerate(child))
            elif child is not None:
                nxt.append((child, (p, step, None)))
        found = nxt
    return found


def check(resource: dict[str, Any], profile: Profile, path: str, reader: Reader) -> None:
    """Report every way ``resource`` (at FHIRPath ``path``) breaks ``profile``."""
    profile.run(resource, path, reader)


def check_interpreted(
    resource: dict[str, Any], profile: Profile, path: str, reader: Reader
) -> None:
    """What :func:`check` does, constraint by constraint: the reference its compiled form is
    tested against (tests/test_fhir_profile_compiled.py)."""
    for c in profile.constraints:
        last = c.steps[-1]
        for parent, ppath in _select(resource, c.steps[:-1], path):
            if type(parent) is not dict:
                continue
            value = parent.get(last)
            count = len(value) if type(value) is list else (0 if value in (None, "") else 1)
            if count < c.min:
                reader.missing(f"{_text(ppath)}.{last}", f"required by {profile.url}")
            elif c.max == "1" and count > 1:
                where = f"{_text(ppath)}.{last}"
                reader.report(STRUCTURE, where, f"{where} may occur only once")
            if c.fixed is not None and value is not None and value != c.fixed:
                where = f"{_text(ppath)}.{last}"
                reader.report(STRUCTURE, where, f"{where} must be {c.fixed!r}, not {value!r}")


def _compiled(profile: Profile) -> Callable[[dict[str, Any], str, Reader], None]:
    """:func:`check_interpreted` for ``profile`` as Python source: every message runs its
    resources' profiles, and deciding per constraint which checks apply and walking its path
    through :func:`_select` cost more than the checks. The same checks in the same order,
    hence the same issues."""
    names: dict[str, Any] = {"_text": _text, "STRUCTURE": STRUCTURE}
    lines = ["def run(resource, path, reader):"]
    for n, c in enumerate(profile.constraints):
        if c.min <= 0 and c.max != "1" and c.fixed is None:
            continue  # nothing it could find
        last, req = c.steps[-1], f"required by {profile.url}"
        names[f"fixed{n}"] = c.fixed
        if len(c.steps) == 1:  # on the resource itself: no walk, the parent's path is path
            ind, parent, where = "    ", "resource", f"path + {'.' + last!r}"
        else:  # :func:`_select`'s walk, one nested loop per step, in its order
            ind, parent, ppath = "    ", "resource", "path"
            for depth, step in enumerate(c.steps[:-1], 1):
                x, v, i, p = f"x{depth}", f"v{depth}", f"i{depth}", f"p{depth}"
                lines.append(f"{ind}{x} = {parent}.get({step!r})")
                lines.append(
                    f"{ind}for {i}, {v} in (enumerate({x}) if type({x}) is list else "
                    f"() if {x} is None else ((None, {x}),)):"
                )
                ind += "    "
                lines.append(f"{ind}if type({v}) is not dict: continue")
                lines.append(f"{ind}{p} = ({ppath}, {step!r}, {i})")
                parent, ppath = v, p
            where = f"_text({ppath}) + {'.' + last!r}"
        lines.append(f"{ind}value = {parent}.get({last!r})")
        if c.min > 0 or c.max == "1":
            lines.append(
                f"{ind}count = len(value) if type(value) is list else "
                '(0 if value is None or value == "" else 1)'
            )
        if c.min > 0:
            lines.append(f"{ind}if count < {c.min}: reader.missing({where}, {req!r})")
        if c.max == "1":
            test = "elif" if c.min > 0 else "if"
            lines.append(f"{ind}{test} count > 1:")
            lines.append(f"{ind}    where = {where}")
            lines.append(
                f'{ind}    reader.report(STRUCTURE, where, f"{{where}} may occur only once")'
            )
        if c.fixed is not None:
            lines.append(f"{ind}if value is not None and value != fixed{n}:")
            lines.append(f"{ind}    where = {where}")
            lines.append(
                f"{ind}    reader.report(STRUCTURE, where, "
                f'f"{{where}} must be {{fixed{n}!r}}, not {{value!r}}")'
            )
    lines.append("    return None")
    code = compile("\n".join(lines) + "\n", f"<fhir profile {profile.url}>", "exec")
    exec(code, names)
    return names["run"]  # type: ignore[no-any-return]


def check_entries(
    bundle: dict[str, Any], entries: list[tuple[dict[str, Any], str]], kind: str, reader: Reader
) -> None:
    """Check the Bundle and each entry resource against the profile of its type, if any."""
    shapes = profiles(kind)
    own = shapes.get("Bundle")
    if own is not None:
        check(bundle, own, "Bundle", reader)
    for resource, path in entries:
        shape = shapes.get(str(resource.get("resourceType")))
        if shape is not None:
            check(resource, shape, path, reader)
