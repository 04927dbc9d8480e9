"""Hostile XML gets a clear issue, never a hang, an expansion or a fetch."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

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


def test_element_location_counts_only_equal_siblings() -> None:
    root = parse_xml(b'<r><svar id="1"/><x/><svar id="2"/><svar id="2"/><!-- c --></r>').root
    assert root is not None
    assert element_location(root[0]).path == "/r/svar[@id='1']"
    assert element_location(root[1]).path == "/r/x"
    assert element_location(root[3]).path == "/r/svar[@id='2'][2]"


def test_the_reused_parser_carries_nothing_from_one_document_to_the_next() -> None:
    # one parser per thread serves every document: an error must not leak into the next one
    assert codes(b"<a><b></a>") == ["XML-SYNTAX"]
    assert codes(b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>') == ["XML-FORBIDDEN"]
    ok = parse_xml(b"<a><b>text</b></a>")
    assert ok.issues == [] and ok.root is not None and ok.root[0].text == "text"


def test_threads_parse_with_their_own_parser() -> None:
    docs = [f"<a><b>{n}</b></a>".encode() for n in range(200)]

    def parse_all(offset: int) -> list[str | None]:
        out = []
        for data in docs[offset:] + docs[:offset]:
            root = parse_xml(data).root
            out.append(None if root is None else root[0].text)
        return out

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(parse_all, range(0, 200, 50)))
    for offset, texts in zip(range(0, 200, 50), results, strict=True):
        assert texts == [str((offset + k) % 200) for k in range(200)]
