"""RIVTA documents written as text, element by element in document order, byte for byte as
lxml serialises the same tree (``etree.tostring(..., xml_declaration=True,
encoding="UTF-8")``, optionally ``pretty_print``).

Why not lxml: every element lxml creates looks its namespace up among its ancestors' (about
2 µs an element), and a certificate has ~130 of them, so building the tree cost ten times its
serialisation and a seventh of the server's CPU per message. Our writers only ever
append in document order, which text does directly. tests/test_rivta_xmlwriter.py holds the
output equal to lxml's re-serialisation of it (escaping, empty elements, declarations,
indentation) and the refusals equal to lxml's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: What XML 1.0 cannot carry (lxml refuses it the same way): C0 controls but tab, LF and CR,
#: lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: One search says whether a value may go in as it is (most do): nothing to escape or refuse.
_SPECIAL = re.compile('[&<>"\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)


def _checked(value: str) -> str:
    if _NOT_XML.search(value) is not None:
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control "
            "characters"
        )
    return value


def text(value: str) -> str:
    """``value`` as element content."""
    if _SPECIAL.search(value) is None:
        return value
    return _checked(value).translate(_TEXT_ESCAPES)


def attribute(value: str) -> str:
    """``value`` as a double-quoted attribute value."""
    if _SPECIAL.search(value) is None:
        return value
    return _checked(value).translate(_ATTR_ESCAPES)


#: nsmap -> Clark tag -> its qualified name, for every writer of that nsmap
_NAMES: dict[tuple[tuple[str | None, str], ...], dict[str, str]] = {}


class XmlWriter:
    """One document: ``open`` the root (its namespace declarations come from ``nsmap``, as
    lxml's ``nsmap=``), then ``open``/``leaf``/``close`` in document order, then :meth:`done`.
    Tags are in Clark notation (``{uri}local``)."""

    __slots__ = ("_names", "_nsmap", "_open", "_out", "_pretty")

    def __init__(self, nsmap: Mapping[str | None, str], *, pretty: bool = False) -> None:
        self._nsmap = nsmap
        self._names = _NAMES.setdefault(tuple(nsmap.items()), {})
        self._out: list[str] = []
        #: each open element's name and the index of its start tag's ">" in ``_out``
        self._open: list[tuple[str, int]] = []
        self._pretty = pretty

    def _name(self, tag: str) -> str:
        name = self._names.get(tag)
        if name is None:
            uri, _, local = tag[1:].partition("}")
            prefix = next(p for p, u in self._nsmap.items() if u == uri)
            name = self._names[tag] = local if prefix is None else f"{prefix}:{local}"
        return name

    def _start(self, name: str, attrs: Mapping[str, str] | None) -> str:
        """The start tag without its ">" (after a pretty-printing line break)."""
        if not self._open:  # the root declares every namespace
            decls = "".join(
                f' {"xmlns" if p is None else "xmlns:" + p}="{attribute(u)}"'
                for p, u in self._nsmap.items()
            )
            name += decls
        elif self._pretty:
            self._out.append("\n" + "  " * len(self._open))
        if attrs:
            for key, value in attrs.items():  # mostly one: a svar's or delsvar's id
                name += f' {key}="{attribute(value)}"'
        return "<" + name

    def open(self, tag: str, attrs: Mapping[str, str] | None = None) -> None:
        """Start an element that holds children (or nothing: then written ``<x/>``)."""
        name = self._names.get(tag) or self._name(tag)
        out = self._out
        out.append(
            self._start(name, attrs) if attrs or self._pretty or not self._open else "<" + name
        )
        out.append(">")
        self._open.append((name, len(out)))

    def close(self) -> None:
        name, at = self._open.pop()
        out = self._out
        if len(out) == at:  # nothing inside: lxml writes the empty-element tag
            out[-1] = "/>"
        elif self._pretty:
            out.append(f"\n{'  ' * len(self._open)}</{name}>")
        else:
            out.append(f"</{name}>")

    def leaf(
        self, tag: str, value: str | None = None, attrs: Mapping[str, str] | None = None
    ) -> None:
        """An element holding only ``value`` (None: ``<x/>``; "": ``<x></x>``, as lxml)."""
        name = self._names.get(tag) or self._name(tag)
        start = self._start(name, attrs) if attrs or self._pretty or not self._open else "<" + name
        if value is None:
            self._out.append(start + "/>")
        else:
            self._out.append(f"{start}>{text(value)}</{name}>")

    def done(self, *, standalone: bool | None = None) -> bytes:
        """The document: lxml's XML declaration, then the elements."""
        if self._open:
            raise ValueError(f"element {self._open[-1][0]} is still open")
        sa = "" if standalone is None else f" standalone='{'yes' if standalone else 'no'}'"
        head = f"<?xml version='1.0' encoding='UTF-8'{sa}?>\n"
        tail = "\n" if self._pretty else ""
        return (head + "".join(self._out) + tail).encode()
