"""§4 statistics and the deviation report (seed 003, questions 5 and 7).

Försäkringskassan cannot count §4 notifications in today's free-text channel; the gateway sees
each one: per region and month, how many were sent (accepted), refused and why, delivered,
acknowledged and handled by Försäkringskassan, with which outcomes, and whether a "no need"
was told to the patient. The deviation report names what SKR and Försäkringskassan ask to be
followed up. Every edge is in docs/coordination.md "§4 statistics"; the thresholds in
``mappings/coordination/section4.toml``.

* **Region**: the sending organisation (the sender's configured organisation; else the
  notification's region). **Month**: of the day the gateway accepted it, Swedish time.
* **Small cells**: below the cutoff a cell is suppressed (``None``, named in
  ``suppressed``), never a silent 0; a lone suppressed cell in a month and measure takes the
  next smallest with it, so the total cannot give it away. A region's own rows are whole.

Pure: the rows come from the store (gateway/exchange/plan_index/).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from gateway.coordination.settings import Section4Settings, section4_settings

#: The measures per region and month, in report order.
MEASURES = (
    "sent",
    "refused",
    "refused_no_consent",
    "refused_consent",
    "refused_consent_reused",
    "refused_invalid",
    "refused_other",
    "delivered",
    "acknowledged",
    "handled",
    "handled_in_time",
    "not_handled_overdue",
    "outcome_coordination",
    "outcome_already_coordinated",
    "outcome_no_need",
    "no_need_patient_told",
    "no_need_patient_not_told",
    "sick_leave_cases",
)
#: Why a refused notification was refused, by the rule codes of its refusal.
REASONS = ("no_consent", "consent", "consent_reused", "invalid", "other")
NATIONAL = "*"


@dataclass(frozen=True)
class Notification:
    """One accepted §4 notification, as the index and the outbox know it."""

    region: str
    month: str  # YYYY-MM
    accepted_on: date
    delivered: bool = False
    acknowledged: bool = False
    handled_on: date | None = None
    outcome: str | None = None
    patient_informed: bool | None = None
    region_name: str | None = None


@dataclass(frozen=True)
class Refusal:
    region: str
    month: str
    reason: str  # one of REASONS


def refusal_reason(codes: Iterable[str], *, reused: bool = False) -> str:
    """no_consent (no consent record), consent (one that does not cover it), consent_reused
    (a §4 consent used before), invalid (anything the document itself got wrong), other
    (routing, permissions)."""
    if reused:
        return "consent_reused"
    found = set(codes)
    if "POLICY-CONSENT-MISSING" in found or "S4-CONSENT-MISSING" in found:
        return "no_consent"
    if any(c.startswith(("POLICY-CONSENT", "S4-CONSENT")) for c in found):
        return "consent"
    if any(c.startswith("EXCHANGE-") for c in found):
        return "other"
    return "invalid"


@dataclass
class Report:
    months: list[str]
    regions: list[str]
    names: dict[str, str]
    #: (region, month) -> measure -> count (None: suppressed); region NATIONAL for the total
    cells: dict[tuple[str, str], dict[str, float | None]]
    suppressed: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    deviations: list[dict[str, Any]] = field(default_factory=list)
    cutoff: int = 0
    as_of: date | None = None

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for region in [*self.regions, NATIONAL]:
            for month in self.months:
                cell = self.cells.get((region, month))
                if cell is None:
                    continue
                out.append(
                    {
                        "region": region,
                        "region_name": self.names.get(region) if region != NATIONAL else "all",
                        "month": month,
                        **cell,
                        "rate_per_case": _rate(cell),
                        "suppressed": self.suppressed.get((region, month), []),
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "cutoff": self.cutoff,
            "months": self.months,
            "measures": list(MEASURES),
            "rows": self.rows(),
            "deviations": self.deviations,
        }

    def to_csv(self) -> str:
        buf = io.StringIO()
        cols = ["region", "region_name", "month", *MEASURES, "rate_per_case", "suppressed"]
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for row in self.rows():
            w.writerow(
                [";".join(row[c]) if c == "suppressed" else _csv_value(row[c]) for c in cols]
            )
        return buf.getvalue()

    def series(self, measure: str) -> dict[str, list[float | None]]:
        """measure per month, by region (and ``all``), for the charts."""
        out: dict[str, list[float | None]] = {}
        for region in [*self.regions, NATIONAL]:
            label = "all" if region == NATIONAL else self.names.get(region, region)
            values: list[float | None] = []
            for m in self.months:
                cell = self.cells.get((region, m), {})
                values.append(_rate(cell) if measure == "rate_per_case" else cell.get(measure, 0))
            out[label] = values
        return out


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    return str(v)


def _rate(cell: Mapping[str, float | None]) -> float | None:
    sent, cases = cell.get("sent"), cell.get("sick_leave_cases")
    if sent is None or not cases:
        return None
    return round(sent / cases, 4)


def month_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def months_between(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def report(
    notifications: Sequence[Notification],
    refusals: Sequence[Refusal],
    cases: Mapping[tuple[str, str], int],
    *,
    first: str,
    last: str,
    as_of: date,
    own_region: str | None = None,
    cutoff: int | None = None,
    settings: Section4Settings | None = None,
) -> Report:
    """The statistics of months ``first``..``last`` (YYYY-MM) as of ``as_of``, seen by
    ``own_region`` (whose rows are whole; ``cutoff=0`` shows every cell, the operator's
    internal view)."""
    s = settings or section4_settings()
    months = months_between(first, last)
    raw, names = _tally(notifications, refusals, cases, set(months), as_of, s)
    regions = sorted({r for r, _ in raw})
    cells = _cells(raw, regions, months)
    deviations = _deviations(raw, regions, months, s)
    out = Report(months, regions, names, cells, cutoff=s.cutoff if cutoff is None else cutoff)
    out.as_of = as_of
    _suppress(out, own_region)
    out.deviations = _shown(deviations, out, own_region)
    return out


def _tally(
    notifications: Sequence[Notification],
    refusals: Sequence[Refusal],
    cases: Mapping[tuple[str, str], int],
    wanted: set[str],
    as_of: date,
    s: Section4Settings,
) -> tuple[dict[tuple[str, str], Counter[str]], dict[str, str]]:
    """The counts per (region, month) of the wanted months, and the regions' names."""
    limit = timedelta(days=s.handling_days)
    raw: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    names: dict[str, str] = {}
    for n in notifications:
        if n.month not in wanted:
            continue
        if n.region_name:
            names.setdefault(n.region, n.region_name)
        _count(raw[(n.region, n.month)], n, as_of, limit)
    for r in refusals:
        if r.month in wanted:
            c = raw[(r.region, r.month)]
            c["refused"] += 1
            c[f"refused_{r.reason}"] += 1
    for (region, month), count in cases.items():
        if month in wanted:
            raw[(region, month)]["sick_leave_cases"] += count
    return raw, names


def _count(c: Counter[str], n: Notification, as_of: date, limit: timedelta) -> None:
    """One notification's part of its region's month."""
    c["sent"] += 1
    c["delivered"] += n.delivered
    c["acknowledged"] += n.acknowledged or n.handled_on is not None
    if n.handled_on is not None and n.handled_on <= as_of:
        c["handled"] += 1
        c["handled_in_time"] += n.handled_on - n.accepted_on <= limit
        c[f"outcome_{(n.outcome or 'unknown').replace('-', '_')}"] += 1
        if n.outcome == "no-need":
            told = "no_need_patient_told" if n.patient_informed else "no_need_patient_not_told"
            c[told] += 1
    elif as_of - n.accepted_on > limit:
        c["not_handled_overdue"] += 1


def _cells(
    raw: Mapping[tuple[str, str], Counter[str]], regions: Sequence[str], months: Sequence[str]
) -> dict[tuple[str, str], dict[str, float | None]]:
    """Every measure per (region, month), and the national sums per month."""
    cells: dict[tuple[str, str], dict[str, float | None]] = {}
    for region in regions:
        for month in months:
            c = raw.get((region, month), Counter())
            cells[(region, month)] = {m: float(c[m]) for m in MEASURES}
    for month in months:
        total: Counter[str] = Counter()
        for region in regions:
            total.update(raw.get((region, month), Counter()))
        cells[(NATIONAL, month)] = {m: float(total[m]) for m in MEASURES}
    return cells


def _deviations(
    raw: Mapping[tuple[str, str], Counter[str]],
    regions: Sequence[str],
    months: Sequence[str],
    s: Section4Settings,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for month in months:
        sent = sum(raw.get((r, month), Counter())["sent"] for r in regions)
        cases = sum(raw.get((r, month), Counter())["sick_leave_cases"] for r in regions)
        national = sent / cases if cases else None
        for region in regions:
            c = raw.get((region, month), Counter())
            base = {"region": region, "month": month}

            def add(
                code: str,
                measure: str,
                c: Counter[str] = c,
                base: dict[str, str] = base,
                **detail: Any,
            ) -> None:
                found.append(
                    {**base, "code": code, "measure": measure, "count": c[measure], **detail}
                )

            if national and c["sick_leave_cases"] >= s.cutoff:
                rate = c["sent"] / c["sick_leave_cases"]
                code = (
                    "many-notifications"
                    if rate > s.high_factor * national
                    else "few-notifications"
                    if rate < s.low_factor * national
                    else None
                )
                if code is not None:
                    add(code, "sent", rate=round(rate, 4), national=round(national, 4))
            if c["refused_no_consent"] or c["refused_consent"]:
                add("missing-consent", "refused_no_consent", other_consent=c["refused_consent"])
            if c["not_handled_overdue"]:
                add("not-handled", "not_handled_overdue", days=s.handling_days)
            if c["no_need_patient_not_told"]:
                add("no-need-not-told", "no_need_patient_not_told")
            handled = c["handled"]
            if handled and c["outcome_no_need"] / handled > s.no_need_share:
                add(
                    "many-no-need",
                    "outcome_no_need",
                    share=round(c["outcome_no_need"] / handled, 4),
                )
    return found


def _suppress(r: Report, own_region: str | None) -> None:
    """Cells below the cutoff: suppressed, and a lone one in its month and measure takes the
    next smallest of the other regions (not the viewer's own) with it."""
    if r.cutoff <= 0:
        return
    for month in r.months:
        for measure in MEASURES:
            hidden: list[str] = []
            candidates: list[tuple[float, str]] = []
            for region in r.regions:
                if region == own_region:
                    continue
                value = r.cells[(region, month)][measure]
                if value is None:
                    continue
                if 0 < value < r.cutoff:
                    hidden.append(region)
                elif value:
                    candidates.append((value, region))
            if len(hidden) == 1 and candidates:
                hidden.append(min(candidates)[1])
            for region in hidden:
                r.cells[(region, month)][measure] = None
                r.suppressed.setdefault((region, month), []).append(measure)
            total = r.cells[(NATIONAL, month)][measure]
            if total is not None and 0 < total < r.cutoff:
                r.cells[(NATIONAL, month)][measure] = None
                r.suppressed.setdefault((NATIONAL, month), []).append(measure)


def _shown(
    deviations: list[dict[str, Any]], r: Report, own_region: str | None
) -> list[dict[str, Any]]:
    """Deviations, with a count only where its cell is shown."""
    out = []
    for d in deviations:
        if d["region"] != own_region and d["measure"] in r.suppressed.get(
            (d["region"], d["month"]), []
        ):
            d = {**d, "count": None}
        out.append(d)
    return out


def notification_from(
    facts: Mapping[str, Any],
    *,
    region: str,
    region_name: str | None,
    accepted: datetime,
    accepted_on: date,
    delivered: bool,
) -> Notification:
    """A statistics row from a §4 entry's facts (acknowledgement included)."""
    from gateway.coordination.chain import swedish_day

    ack = facts.get("acknowledgement") or {}
    handled = ack.get("handled_at") if ack.get("status") == "handled" else None
    return Notification(
        region=region,
        month=month_of(accepted_on),
        accepted_on=accepted_on,
        delivered=delivered,
        acknowledged=bool(ack),
        handled_on=swedish_day(handled) if handled else None,
        outcome=ack.get("outcome"),
        patient_informed=ack.get("patient_informed"),
        region_name=region_name,
    )


__all__ = [
    "MEASURES",
    "NATIONAL",
    "REASONS",
    "Notification",
    "Refusal",
    "Report",
    "month_of",
    "months_between",
    "notification_from",
    "refusal_reason",
    "report",
]
