"""FHIR XML <-> the FHIR JSON tree, by the rules of the FHIR XML format.

Primitives carry their value in a ``value`` attribute (and ``id``/``extension`` go to the JSON
``_name`` twin); an element that may repeat is a JSON array even when it occurs once;
resources sit in a wrapper element (``<resource><Patient>``); ``Extension.url`` and the ``id``
of non-resource elements are attributes; ``Narrative.div`` is XHTML kept as a string. Which
elements repeat and which are primitives comes from ``schemas/fhir/r4-elements.json``, derived
from fhir.resources' R4B models (see ``conformance``). Parsing goes through
``gateway.formats.xmlsafe.parse_xml``.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from lxml import etree

from gateway.documents.issues import Issue, Location
from gateway.formats.fhir.conformance import element_table
from gateway.formats.fhir.tree import STRUCTURE
from gateway.formats.roots import FHIR_NS
from gateway.formats.xmlsafe import parse_xml

_F = "{" + FHIR_NS + "}"
_INTS = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})

_TABLE = element_table()
# the id and extensions of a primitive, which FHIR JSON puts in the ``_name`` twin
_TABLE.setdefault("Element", {"id": ("string", False), "extension": ("Extension", True)})
_RESOURCES = frozenset(t for t, elements in _TABLE.items() if "meta" in elements)


def _line(el: etree._Element) -> int | None:
    return el.sourceline  # type: ignore[return-value]  # lxml-stubs type it oddly


def _issue(message: str, path: str, line: int | None) -> Issue:
    return Issue(STRUCTURE.severity, STRUCTURE.code, Location(path, line), message)


def _primitive_value(raw: str, ftype: str) -> Any:
    if ftype == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    if ftype in _INTS:
        try:
            return int(raw)
        except ValueError:
            return raw
    if ftype == "decimal":
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(raw) if raw.lstrip("-").isdigit() else number
    return raw


class _XmlToTree:
    """One conversion: the tree, its issues and the line of each FHIRPath."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.lines: dict[str, int] = {}

    def resource(self, el: etree._Element, path: str) -> dict[str, Any] | None:
        name = etree.QName(el).localname
        if el.tag != _F + name or name not in _RESOURCES:
            self.issues.append(_issue(f"{name!r} is not a FHIR resource", path, _line(el)))
            return None
        out: dict[str, Any] = {"resourceType": name}
        path = path or name
        self._children(el, name, out, path)
        return out

    def _complex(self, el: etree._Element, ftype: str, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr in ("id", "url"):
            value = el.get(attr)
            if value is not None:
                out[attr] = value
        self._children(el, ftype, out, path)
        return out

    def _children(self, el: etree._Element, ftype: str, out: dict[str, Any], path: str) -> None:
        """The child elements of ``el`` (of FHIR type ``ftype``) into ``out``: each placed
        (:meth:`_place`), then converted by what its type is; twins padded as FHIR JSON has
        them. (The conversion's dispatch stays here: this runs for every element.)"""
        spec = _TABLE.get(ftype, {})
        line = _line(el)
        if line is not None:
            self.lines[path] = line
        for child in el:
            if not isinstance(child.tag, str):
                continue  # comments, processing instructions
            placed = self._place(child, ftype, spec, out, path)
            if placed is None:
                continue
            name, ctype, repeats, child_path = placed
            if ctype == "Resource":
                self._wrapped(child, out, name, repeats, child_path)
            elif ctype == "xhtml":
                out[name] = etree.tostring(child, encoding="unicode", with_tail=False)
            elif ctype[0].islower():
                self._primitive(child, out, name, ctype, repeats, child_path)
            else:
                self._put(out, name, self._complex(child, ctype, child_path), repeats)
        for key in [k for k in out if k[0] == "_"]:
            _pad_twin(out, key)

    def _place(
        self,
        child: etree._Element,
        ftype: str,
        spec: dict[str, tuple[str, bool]],
        out: dict[str, Any],
        path: str,
    ) -> tuple[str, str, bool, str] | None:
        """Where a child goes: (its name, its FHIR type, whether it repeats, its FHIRPath);
        None, reported, for an element the type does not have or one that may occur once."""
        name = etree.QName(child).localname
        found = spec.get(name)
        line = _line(child)
        if found is None or (child.tag != _F + name and found[0] != "xhtml"):
            self.issues.append(
                _issue(f"unknown element {name!r} in {ftype}", f"{path}.{name}", line)
            )
            return None
        ctype, repeats = found
        if repeats:
            items = out.setdefault(name, [])
            if not isinstance(items, list):
                return None
            child_path = f"{path}.{name}[{len(items)}]"
        elif name in out or ("_" + name) in out:
            self.issues.append(_issue(f"{name!r} may occur only once", f"{path}.{name}", line))
            return None
        else:
            child_path = f"{path}.{name}"
        if line is not None:
            self.lines[child_path] = line
        return name, ctype, repeats, child_path

    def _wrapped(
        self, child: etree._Element, out: dict[str, Any], name: str, repeats: bool, path: str
    ) -> None:
        """A resource in its wrapper element (``<resource><Patient>``)."""
        inner = [c for c in child if isinstance(c.tag, str)]
        value = self.resource(inner[0], path) if len(inner) == 1 else None
        if value is not None:
            self._put(out, name, value, repeats)
        elif len(inner) != 1:
            message = "a resource wrapper holds exactly one resource"
            self.issues.append(_issue(message, path, _line(child)))

    def _primitive(
        self,
        child: etree._Element,
        out: dict[str, Any],
        name: str,
        ctype: str,
        repeats: bool,
        path: str,
    ) -> None:
        """A primitive: its ``value`` attribute as the element, its id and extensions as the
        ``_name`` twin (an array as long as the values when it repeats)."""
        raw = child.get("value")
        value = None if raw is None else _primitive_value(raw, ctype)
        ext = self._complex(child, "Element", path)
        ext.pop("url", None)
        if repeats:
            out[name].append(value)
            twin = out.setdefault("_" + name, [])
            twin.extend([None] * (len(out[name]) - 1 - len(twin)))
            twin.append(ext or None)
        else:
            if value is not None:
                out[name] = value
            if ext:
                out["_" + name] = ext

    @staticmethod
    def _put(out: dict[str, Any], name: str, value: Any, repeats: bool) -> None:
        if repeats:
            out[name].append(value)
        else:
            out[name] = value


def _pad_twin(out: dict[str, Any], key: str) -> None:
    """FHIR JSON: a repeating primitive's ``_name`` twin is as long as its values, or absent
    when no value has an id or extension."""
    twin = out[key]
    if isinstance(twin, list):
        if any(twin):
            twin.extend([None] * (len(out[key[1:]]) - len(twin)))
        else:
            del out[key]


def parse_fhir_xml(data: bytes) -> tuple[dict[str, Any] | None, list[Issue], dict[str, int]]:
    """FHIR XML bytes -> (JSON tree, issues, line of each FHIRPath)."""
    safe = parse_xml(data)
    if safe.root is None:
        return None, safe.issues, {}
    conv = _XmlToTree()
    return conv.resource(safe.root, ""), conv.issues, conv.lines


# -- tree -> XML -------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _write_resource(tree: dict[str, Any], out: list[str], xmlns: bool, pad: str) -> None:
    rtype = tree["resourceType"]
    out.append(f'{pad}<{rtype} xmlns="{FHIR_NS}">' if xmlns else f"{pad}<{rtype}>")
    _write_children(tree, rtype, out, pad + "  ")
    out.append(f"{pad}</{rtype}>")


def _write_children(obj: dict[str, Any], ftype: str, out: list[str], pad: str) -> None:
    for name, (ctype, _repeats) in _TABLE[ftype].items():
        value = obj.get(name)
        twin = obj.get("_" + name)
        if value is None and twin is None:
            continue
        if ftype not in _RESOURCES and name == "id":
            continue  # an attribute of the element
        if ftype == "Extension" and name == "url":
            continue
        values = value if isinstance(value, list) else [value]
        twins = twin if isinstance(twin, list) else [twin] * len(values)
        if value is None:
            values = [None] * len(twins)
        for item, ext in zip(values, twins, strict=False):
            _write_element(name, ctype, item, ext, out, pad)


def _write_element(name: str, ctype: str, value: Any, ext: Any, out: list[str], pad: str) -> None:
    if ctype == "Resource":
        out.append(f"{pad}<{name}>")
        _write_resource(value, out, False, pad + "  ")
        out.append(f"{pad}</{name}>")
    elif ctype == "xhtml":
        out.append(pad + value)  # as sent: whitespace inside XHTML is content
    elif ctype[0].islower():
        attrs = "" if value is None else f" value={quoteattr(_fmt(value))}"
        ext = ext or {}
        if "id" in ext:
            attrs = f" id={quoteattr(ext['id'])}{attrs}"
        if ext.get("extension"):
            out.append(f"{pad}<{name}{attrs}>")
            _write_children(ext, "Element", out, pad + "  ")
            out.append(f"{pad}</{name}>")
        else:
            out.append(f"{pad}<{name}{attrs}/>")
    else:
        attrs = ""
        if "id" in value:
            attrs += f" id={quoteattr(value['id'])}"
        if ctype == "Extension" and "url" in value:
            attrs += f" url={quoteattr(value['url'])}"
        out.append(f"{pad}<{name}{attrs}>")
        _write_children(value, ctype, out, pad + "  ")
        out.append(f"{pad}</{name}>")


def render_fhir_xml(tree: dict[str, Any]) -> bytes:
    """A FHIR JSON tree -> FHIR XML bytes, elements in the order the specification fixes, one
    per line (so that issues about the output name useful lines)."""
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
    _write_resource(tree, out, True, "")
    out.append("")
    return "\n".join(out).encode()


__all__ = ["FHIR_NS", "parse_fhir_xml", "render_fhir_xml"]
