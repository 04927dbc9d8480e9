"""Hardened XML parsing: the only way XML enters the gateway.

No DTD is loaded, no entity resolved, nothing fetched (DTD, XInclude, schemaLocation), and
size and depth are bounded, so a hostile document gets a clear issue instead of a hang.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from lxml import etree

from gateway.documents.issues import RULES, Issue, Location, RuleKind, issue

MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
# Atomic group + possessive star: without them a document with no DOCTYPE makes the regex
# backtrack into ``.*?`` across the whole input (80 µs on a 12 KB certificate instead of 0.4).
_DOCTYPE = re.compile(rb"\A(?:\xef\xbb\xbf)?(?>\s|<\?.*?\?>|<!--.*?-->)*+<!DOCTYPE", re.S)

XML_SYNTAX = RULES.define(
    "XML-SYNTAX",
    "XML is not well-formed",
    RuleKind.SYNTAX,
    "The document is not well-formed XML, so nothing in it can be read. The message names the "
    "line and what the parser expected.",
)
XML_FORBIDDEN = RULES.define(
    "XML-FORBIDDEN",
    "DTDs and entities are refused",
    RuleKind.SYNTAX,
    "The document has a DOCTYPE declaration (a DTD, and with it entity declarations), which "
    "the gateway refuses for security (XXE, billion laughs): no DTD is read and no entity "
    "resolved. Send the document without a DOCTYPE.",
)
XML_LIMIT = RULES.define(
    "XML-LIMIT",
    "Document too large or too deep",
    RuleKind.SYNTAX,
    f"The document exceeds {MAX_BYTES // (1024 * 1024)} MiB or nests elements deeper than "
    f"{MAX_DEPTH} levels. No real certificate or plan comes near either bound.",
)


_local = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser. Reusing it saves 5-8 µs a document over a new one, and one per
    thread keeps threads from queueing on the lock lxml takes around each parse."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=False,
        )
    return parser


def tag_of(node: Any) -> object:
    """A child node's tag as it is: the Clark name of an element, lxml's factory function for
    a comment or processing instruction. lxml-stubs type ``.tag`` as ``str``, so the compiled
    build (mypyc) would check it as one where it is read and refuse a comment's: readers that
    walk children read it through here (or test ``isinstance(node.tag, str)`` first)."""
    return node.tag


def text(el: etree._Element) -> str:
    """An element's text as sent: the pieces around comments and processing instructions
    joined (``itertext`` skips their content), so that a comment inside a value neither hides
    the rest of it nor silently cuts it short."""
    if len(el) == 0:
        return el.text or ""
    return "".join(cast("list[str]", list(el.itertext())))  # lxml-stubs: str | bytes


@dataclass
class SafeXml:
    """A parsed document, or the issues that stopped it."""

    root: etree._Element | None
    issues: list[Issue]


@cache
def _deeper_than(limit: int) -> etree.XPath:
    # one compiled XPath step per level: libxml2 walks the tree in C, ~25x faster than a
    # Python walk (and not recursive, so no stack overflow on hostile depth)
    return etree.XPath("boolean(/" + "/".join(["*"] * (limit + 1)) + ")")


def _depth_exceeded(root: etree._Element, limit: int) -> bool:
    return bool(_deeper_than(limit)(root))


def doctype_refused(data: bytes) -> Issue | None:
    """The refusal of a document that opens with a DOCTYPE, found without parsing (so nothing
    of a DTD is even read); used by detection too, so both answer alike."""
    if _DOCTYPE.match(data):
        return _no_dtd()
    return None


def _no_dtd() -> Issue:
    return issue(XML_FORBIDDEN, "a DOCTYPE declaration is not allowed", Location(line=1))


def parse_xml(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> SafeXml:
    if len(data) > max_bytes:
        return SafeXml(
            None, [issue(XML_LIMIT, f"document is {len(data)} bytes; the limit is {max_bytes}")]
        )
    refused = doctype_refused(data)
    if refused is not None:
        return SafeXml(None, [refused])
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        return SafeXml(None, [issue(XML_SYNTAX, str(exc.msg), Location(line=line))])
    tree = root.getroottree()
    docinfo: Any = tree.docinfo  # lxml-stubs lack DocInfo.doctype
    if docinfo.doctype or docinfo.internalDTD is not None:  # e.g. a UTF-16 document
        return SafeXml(None, [_no_dtd()])
    if _depth_exceeded(root, max_depth):
        return SafeXml(None, [issue(XML_LIMIT, f"elements nest deeper than {max_depth} levels")])
    return SafeXml(root, [])


def element_location(el: etree._Element, ids: bool = True) -> Location:
    """A readable location: the line and a path of local names, with ``[@id='…']`` for
    elements that carry an id (RIVTA ``svar``/``delsvar``) and a position among equal
    siblings, e.g. ``/RegisterCertificate/intyg/svar[@id='32'][2]/delsvar[@id='32.2']``.
    ``ids=False``: names and positions only (the gateway's own XML has no id attributes)."""
    steps: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        tag = tag_of(node)
        name = tag.rpartition("}")[2] if isinstance(tag, str) else "node()"
        ident = node.get("id") if ids else None
        step = f"{name}[@id='{ident}']" if ident is not None else name
        parent = node.getparent()
        if parent is not None and isinstance(tag, str):
            # iterchildren(tag) filters in C: a position only when equal siblings exist
            same = list(parent.iterchildren(tag))
            if ids:
                same = [s for s in same if s.get("id") == ident]
            if len(same) > 1:
                step += f"[{same.index(node) + 1}]"
        steps.append(step)
        node = parent
    line = cast("int | None", el.sourceline)  # lxml-stubs type it oddly
    return Location(path="/" + "/".join(reversed(steps)), line=line)


def plain_location(el: etree._Element) -> Location:
    """:func:`element_location` by names and positions only."""
    return element_location(el, ids=False)
