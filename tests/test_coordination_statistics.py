"""§4 statistics, pure: counts per region and month, small cells, deviations, CSV, charts.
The generated year through a real store is in test_coordination_store.py."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.coordination.charts import line_chart
from gateway.coordination.statistics import (
    MEASURES,
    NATIONAL,
    Notification,
    Refusal,
    refusal_reason,
    report,
)
from gateway.formats.xmlsafe import parse_xml

JAN = date(2025, 1, 10)


def n(region: str, when: date = JAN, **kw: object) -> Notification:
    return Notification(region=region, month=f"{when:%Y-%m}", accepted_on=when, **kw)  # type: ignore[arg-type]


def test_counts_per_region_and_month_with_handling_and_outcomes() -> None:
    rows = [
        n(
            "R1",
            delivered=True,
            acknowledged=True,
            handled_on=JAN + timedelta(days=5),
            outcome="coordination",
        ),
        n(
            "R1",
            delivered=True,
            acknowledged=True,
            handled_on=JAN + timedelta(days=40),
            outcome="no-need",
            patient_informed=False,
        ),
        n("R1", delivered=True),  # never answered
        n("R2", date(2025, 2, 3), delivered=True, acknowledged=True),
    ]
    refusals = [Refusal("R1", "2025-01", "no_consent"), Refusal("R2", "2025-02", "invalid")]
    r = report(
        rows,
        refusals,
        {("R1", "2025-01"): 30},
        first="2025-01",
        last="2025-02",
        as_of=date(2025, 3, 31),
        cutoff=0,
    )
    jan = r.cells[("R1", "2025-01")]
    assert jan["sent"] == 3 and jan["delivered"] == 3 and jan["acknowledged"] == 2
    assert jan["handled"] == 2 and jan["handled_in_time"] == 1
    assert jan["outcome_coordination"] == 1 and jan["outcome_no_need"] == 1
    assert jan["no_need_patient_not_told"] == 1 and jan["not_handled_overdue"] == 1
    assert jan["refused"] == 1 and jan["refused_no_consent"] == 1
    assert jan["sick_leave_cases"] == 30
    assert r.cells[(NATIONAL, "2025-02")]["refused_invalid"] == 1
    codes = {(d["region"], d["code"]) for d in r.deviations}
    assert codes >= {("R1", "missing-consent"), ("R1", "not-handled"), ("R1", "no-need-not-told")}
    assert ("R2", "not-handled") in codes  # acknowledged but not handled for 30 days


def test_many_and_few_notifications_relative_to_sick_leave_cases() -> None:
    rows = (
        [n("BUSY") for _ in range(40)]
        + [n("QUIET") for _ in range(2)]
        + [n("MID") for _ in range(10)]
    )
    cases = {("BUSY", "2025-01"): 100, ("QUIET", "2025-01"): 100, ("MID", "2025-01"): 100}
    r = report(rows, [], cases, first="2025-01", last="2025-01", as_of=JAN, cutoff=0)
    found = {d["region"]: d["code"] for d in r.deviations if d["code"].endswith("notifications")}
    assert found == {"BUSY": "many-notifications", "QUIET": "few-notifications"}


def test_small_cells_are_marked_never_a_silent_zero_and_cannot_be_recovered() -> None:
    rows = [n("A") for _ in range(2)] + [n("B") for _ in range(7)] + [n("C") for _ in range(9)]
    r = report(rows, [], {}, first="2025-01", last="2025-01", as_of=JAN)
    assert r.cutoff == 5
    assert r.cells[("A", "2025-01")]["sent"] is None
    assert "sent" in r.suppressed[("A", "2025-01")]
    # A alone would be total minus B minus C: the next smallest (B) is suppressed with it
    assert r.cells[("B", "2025-01")]["sent"] is None
    assert r.cells[("C", "2025-01")]["sent"] == 9
    assert r.cells[(NATIONAL, "2025-01")]["sent"] == 18
    # a zero stays a zero: nothing to hide
    assert r.cells[("A", "2025-01")]["refused"] == 0
    # a region's own rows are whole
    own = report(rows, [], {}, first="2025-01", last="2025-01", as_of=JAN, own_region="A")
    assert own.cells[("A", "2025-01")]["sent"] == 2
    assert own.cells[("B", "2025-01")]["sent"] == 7  # no lone hidden cell left to protect


@given(st.lists(st.tuples(st.sampled_from("ABCDE"), st.integers(0, 11)), max_size=60))
def test_a_suppressed_cell_never_stands_alone(data: list[tuple[str, int]]) -> None:
    rows = [n(region, date(2025, 1 + month % 12, 1)) for region, month in data]
    r = report(rows, [], {}, first="2025-01", last="2025-12", as_of=date(2025, 12, 31))
    for month in r.months:
        for measure in MEASURES:
            hidden = [g for g in r.regions if r.cells[(g, month)][measure] is None]
            shown = [g for g in r.regions if r.cells[(g, month)][measure]]
            assert len(hidden) != 1 or not shown
            for g in r.regions:
                v = r.cells[(g, month)][measure]
                assert v is None or v == 0 or v >= r.cutoff


def test_csv_and_chart() -> None:
    rows = [n("A") for _ in range(6)] + [n("B", date(2025, 2, 1)) for _ in range(2)]
    r = report(
        rows,
        [Refusal("A", "2025-01", "consent")],
        {},
        first="2025-01",
        last="2025-02",
        as_of=date(2025, 2, 28),
    )
    table = list(csv.DictReader(io.StringIO(r.to_csv())))
    a = next(x for x in table if x["region"] == "A" and x["month"] == "2025-01")
    assert a["sent"] == "6" and a["refused"] == "" and "refused" in a["suppressed"].split(";")
    svg = line_chart("§4 notifications sent", r.months, r.series("sent"), y_label="count")
    root = parse_xml(svg.encode()).root
    assert root is not None and root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "script" not in svg and "×" in svg  # B's February is suppressed, and marked


def test_refusal_reasons() -> None:
    assert refusal_reason(["POLICY-CONSENT-MISSING"]) == "no_consent"
    assert refusal_reason(["POLICY-CONSENT-WITHDRAWN"]) == "consent"
    assert refusal_reason(["S4-STATEMENT"]) == "invalid"
    assert refusal_reason(["EXCHANGE-NOT-PERMITTED"]) == "other"
    assert refusal_reason([], reused=True) == "consent_reused"
