"""The console's small parts: the person-id mask, the SVG chart, language negotiation and
the configuration of its users."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from gateway.console.charts import Bar, stacked_bars
from gateway.console.i18n import negotiate
from gateway.console.mask import MASK, mask_person_ids
from gateway.exchange.config import ConfigError, parse


@pytest.mark.parametrize(
    "text",
    [
        "patient 191212121212 unknown",
        "patient 19121212-1212 unknown",
        "patient 121212-1212 unknown",
        "patient 1212121212 unknown",
        "samordningsnummer 19701063-2391",
        "id=200001012384;",
        "120229+1234 (over a hundred)",
    ],
)
def test_person_ids_are_masked(text: str) -> None:
    masked = mask_person_ids(text)
    assert MASK in masked
    assert re.search(r"\d{4}", masked) is None, masked


@pytest.mark.parametrize(
    "text",
    [
        "organisation 5561234567",
        "SE2321000131-E000000000001",
        "2026-03-01T09:00:00+00:00",
        "HTTP 503 Service Unavailable",
        "191313131313",  # month 13: no date
        "delivery f2997eaa-1391-52c8-98ff-6fb19ec98c24",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_person_ids(text) == text


def test_the_chart_is_an_svg_image_with_a_text_alternative_and_no_style() -> None:
    bars = [Bar(f"{h:02d}", f"{h}: {h} delivered", (h, h % 3)) for h in range(24)]
    svg = str(stacked_bars(bars, series=("bar-delivered", "bar-failed"), label="Deliveries <24h>"))
    root = etree.fromstring(svg.encode())
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("role") == "img"
    assert root.get("aria-label") == "Deliveries <24h>"
    title = root.find(f"{ns}title")
    assert title is not None and title.text == "Deliveries <24h>"
    rects = root.findall(f".//{ns}rect")
    assert len(rects) == 23 + 16  # zero-high bars are not drawn
    assert all(g.find(f"{ns}title") is not None for g in root.findall(f"{ns}g"))
    assert "style" not in svg and "<script" not in svg
    tallest = max(float(r.get("height", "0")) for r in rects if r.get("class") == "bar-delivered")
    axis = [t.text for t in root.findall(f"{ns}text") if t.get("text-anchor") == "end"]
    assert axis == ["0", "20", "40"]  # 23 + 2 = 25 rounds up to 40; the middle is whole
    assert tallest == pytest.approx(186 * 23 / 40, abs=0.1)


def test_an_empty_chart_still_draws_its_axes() -> None:
    svg = str(stacked_bars([], series=("a",), label="nothing"))
    assert etree.fromstring(svg.encode()) is not None and "<rect" not in svg


@pytest.mark.parametrize(
    ("chosen", "header", "language"),
    [
        (None, None, "sv"),
        (None, "en-US,en;q=0.9", "en"),
        (None, "de-DE, fr;q=0.9", "sv"),
        (None, "en;q=0.3, sv;q=0.7", "sv"),
        (None, "en;q=0, *", "sv"),
        ("en", "sv", "en"),
        ("xx", "en", "en"),
    ],
)
def test_the_language(chosen: str | None, header: str | None, language: str) -> None:
    assert negotiate(chosen, header) == language


def _config(users: list[dict[str, object]]) -> None:
    parse(
        {"senders": [{"id": "s", "token": "t", "kinds": ["sip"], "recipients": []}], "users": users}
    )


def test_console_users_in_the_configuration() -> None:
    _config(
        [
            {"id": "anna", "role": "operator", "token": "a"},
            {
                "id": "kim",
                "role": "coordinator",
                "organisation": "SE2321000131-E1",
                "identity": "SE2321000016-K1",
            },
        ]
    )
    with pytest.raises(ConfigError) as caught:
        _config(
            [
                {"id": "anna", "role": "admin", "token": "a"},
                {"id": "kim", "role": "coordinator", "token": "k"},
                {"id": "ola", "role": "operator", "organisation": "x", "token": "o"},
                {"id": "eva", "role": "operator"},
                {"id": "per", "role": "operator", "token": "t"},
                {"id": "per", "role": "operator", "token": "p2", "colour": "red"},
            ]
        )
    problems = caught.value.problems
    assert problems == [
        "users[0].role: 'admin' is not one of operator, coordinator",
        "users[1].organisation: required for a coordinator (HSA-id or org. number)",
        "users[2].organisation: an operator sees every organisation; remove it",
        "users[3]: needs a token (development) or an identity (mTLS) to log in",
        "users[5].colour: unknown key (known: actor_role, id, identity, organisation, role, token)",
        "users: id 'per' is used twice",
        "users: 'per' shares a token or identity with 's'",
    ]


def test_settled_hours_are_counted_once_and_the_moving_edges_every_time() -> None:
    import asyncio
    from collections.abc import Sequence
    from datetime import UTC, datetime, timedelta

    from gateway.console.readmodel.base import OutcomeCounts

    calls: list[tuple[tuple[str, ...], datetime, datetime | None]] = []

    async def count(
        ranges: Sequence[tuple[Sequence[str], datetime, datetime | None]],
    ) -> list[dict[str, tuple[int, int]]]:
        calls.extend((tuple(ids), low, high) for ids, low, high in ranges)
        return [{"fk": (2, 1)} for _ in ranges]

    counter = OutcomeCounts()
    now = datetime(2026, 3, 1, 9, 5, tzinfo=UTC)
    day, hour = asyncio.run(counter.rows(count, ["fk", "acme"], now))
    assert len(calls) == 1 + 1 + 24  # before the chart, the last hour, each hour
    assert calls[0][1:] == (now - timedelta(days=1), datetime(2026, 2, 28, 10, tzinfo=UTC))
    assert calls[1][1:] == (now - timedelta(hours=1), None)
    assert calls[-1][1:] == (datetime(2026, 3, 1, 9, tzinfo=UTC), None)  # the running hour
    assert hour == [("fk", 2, 1), ("acme", 0, 0)]
    assert sum(d for rid, _, d, _ in day if rid == "fk") == 2 * 25
    calls.clear()
    asyncio.run(counter.rows(count, ["fk", "acme"], now + timedelta(minutes=1)))
    # settled: every hour that ended by 08:56; 08:00-09:00 ended 6 minutes ago, not yet
    assert [c[1] for c in calls[2:]] == [
        datetime(2026, 3, 1, 8, tzinfo=UTC),
        datetime(2026, 3, 1, 9, tzinfo=UTC),
    ]
    calls.clear()
    asyncio.run(counter.rows(count, ["fk", "acme", "hr"], now + timedelta(minutes=10)))
    # a new recipient: only its hours; 08:00-09:00 has just settled: counted whole, kept
    assert [c[0] for c in calls[2:-2]] == [("hr",)] * 22
    assert calls[-2] == (
        ("fk", "acme", "hr"),
        datetime(2026, 3, 1, 8, tzinfo=UTC),
        datetime(2026, 3, 1, 9, tzinfo=UTC),
    )
