"""Hostile XML gets a clear issue, never a hang, an expansion or a fetch."""

from __future__ import annotations

import time

from gateway.formats.xmlsafe import element_location, parse_xml


def codes(data: bytes) -> list[str]:
    return [i.code for i in parse_xml(data).issues]


def test_billion_laughs_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %c "%s">' % (ord("b") + i, (b"&%c;" % (ord("a") + i)) * 10) for i in range(8)
        )
        + b"]><l>&i;</l>"
    )
    t0 = time.perf_counter()
    assert codes(bomb) == ["XML-FORBIDDEN"]
    assert time.perf_counter() - t0 < 1.0


def test_external_entity_is_not_fetched() -> None:
    xxe = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    result = parse_xml(xxe)
    assert result.root is None
    assert codes(xxe) == ["XML-FORBIDDEN"]


def test_external_dtd_is_not_loaded() -> None:
    assert codes(b'<!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd"><x/>') == ["XML-FORBIDDEN"]


def test_xinclude_is_not_processed() -> None:
    doc = (
        b'<x xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="file:///etc/passwd" parse="text"/></x>'
    )
    result = parse_xml(doc)
    assert result.issues == []
    assert result.root is not None
    assert b"root:" not in __import__("lxml.etree").etree.tostring(result.root)


def test_depth_and_size_are_bounded() -> None:
    deep = b"<a>" * 100 + b"</a>" * 100
    assert codes(deep) == ["XML-LIMIT"]
    assert codes(b"<a>" + b"x" * 100 + b"</a>") == []
    assert [i.code for i in parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50).issues] == [
        "XML-LIMIT"
    ]


def test_syntax_error_has_a_line() -> None:
    (i,) = parse_xml(b"<a>\n<b>\n</a>").issues
    assert (i.code, i.location.line) == ("XML-SYNTAX", 3)


def test_element_location_names_ids_and_positions() -> None:
    root = parse_xml(b'<r>\n<svar id="32"/>\n<svar id="32"><delsvar id="32.1"/></svar></r>').root
    assert root is not None
    delsvar = root[1][0]
    loc = element_location(delsvar)
    assert loc.path == "/r/svar[@id='32'][2]/delsvar[@id='32.1']"
    assert loc.line == 3
