"""The RIVTA text writer (formats/rivta/xmlwriter.py) writes exactly the bytes lxml writes for
the same tree, and refuses exactly what lxml refuses: for arbitrary trees of the shapes our
writers make (elements holding text or children, ``id`` attributes, a default and prefixed
namespaces), arbitrary text, compact and pretty-printed, with and without ``standalone``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from gateway.formats.rivta.xmlwriter import XmlWriter

NSMAP: dict[str | None, str] = {None: "urn:a", "ns2": "urn:b", "ns3": "urn:c"}
TAGS = [f"{{{uri}}}{local}" for uri in NSMAP.values() for local in ("x", "delsvar", "y-z")]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: str | None  # a leaf's (None: empty)
    children: list[Node]


texts = st.text(max_size=12) | st.sampled_from(["", "a&b<c>d\"e'f", "rad\r\nrad\tx", "Åsa ø 🙂"])
attrs = st.dictionaries(st.sampled_from(["id", "key"]), texts, max_size=2)


def nodes(depth: int) -> st.SearchStrategy[Node]:
    leaf = st.builds(Node, st.sampled_from(TAGS), attrs, st.none() | texts, st.just([]))
    if depth == 0:
        return leaf
    parent = st.builds(
        Node,
        st.sampled_from(TAGS),
        attrs,
        st.none(),
        st.lists(nodes(depth - 1), min_size=1, max_size=3),
    )
    return leaf | parent


def with_lxml(root: Node, pretty: bool, standalone: bool | None) -> bytes:
    def build(node: Node, parent: Any) -> None:
        el = etree.SubElement(parent, node.tag, node.attrs)
        el.text = node.text
        for child in node.children:
            build(child, el)

    top = etree.Element(root.tag, root.attrs, nsmap=NSMAP)  # type: ignore[arg-type]
    top.text = root.text
    for child in root.children:
        build(child, top)
    if standalone is None:
        return etree.tostring(top, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)
    return etree.tostring(
        top, xml_declaration=True, encoding="UTF-8", pretty_print=pretty, standalone=standalone
    )


def with_writer(root: Node, pretty: bool, standalone: bool | None) -> bytes:
    w = XmlWriter(NSMAP, pretty=pretty)

    def write(node: Node) -> None:
        if node.children:
            w.open(node.tag, node.attrs)
            for child in node.children:
                write(child)
            w.close()
        else:
            w.leaf(node.tag, node.text, node.attrs)

    write(root)
    return w.done(standalone=standalone)


def outcome(fn: Any, *args: Any) -> bytes | str:
    try:
        return fn(*args)  # type: ignore[no-any-return]
    except ValueError as exc:
        return f"ValueError: {exc}"


@given(nodes(3), st.booleans(), st.none() | st.booleans())
def test_the_writer_writes_and_refuses_what_lxml_does(
    root: Node, pretty: bool, standalone: bool | None
) -> None:
    assert outcome(with_writer, root, pretty, standalone) == outcome(
        with_lxml, root, pretty, standalone
    )


@pytest.mark.parametrize("bad", ["\x00", "a\x01", "\x0b", "\x1f", "\ud800", "\ufffe", "\uffff"])
@pytest.mark.parametrize("where", ["text", "attribute"])
def test_what_xml_cannot_carry_is_refused(bad: str, where: str) -> None:
    w = XmlWriter(NSMAP)
    w.open(TAGS[0])
    with pytest.raises(ValueError, match="XML compatible"):
        if where == "text":
            w.leaf(TAGS[1], bad)
        else:
            w.leaf(TAGS[1], "ok", {"id": bad})


def test_an_element_left_open_is_an_error() -> None:
    w = XmlWriter(NSMAP)
    w.open(TAGS[0])
    with pytest.raises(ValueError, match="element x is still open"):
        w.done()
