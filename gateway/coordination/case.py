"""The sick-leave case (sjukfall), as Inera's Rehabstöd and Intygsstatistik count it.

Pure functions over the facts the plan index keeps of each certificate (no documents, no
I/O). ``mappings/coordination/case.toml`` holds the numbers; docs/coordination.md "The
sick-leave case" states every edge and day basis:

* certificates of the chosen types join one case when the next starts at most N uncovered
  calendar days after the case's end (next start <= end + N + 1; N = 5);
* start = the earliest period start, end = the latest period end;
* length = calendar days covered by some period, inclusive, gaps left out, a 25 % day whole;
* where certificates overlap, the latest signed one gives the degree;
* replaced (ERSATT) and complemented (KOMPLT) certificates are left out (Rehabstöd).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from itertools import pairwise

from gateway.coordination.settings import CaseRules, case_rules

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DegreePeriod:
    start: date
    end: date
    degree: int  # percent of full time on sick leave: 25, 50, 75, 100
    source: str = ""  # the certificate that gives it (effective periods)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the case needs of one certificate (kept in its index entry)."""

    id: str
    type: str
    signed_at: datetime | None
    periods: tuple[DegreePeriod, ...]
    #: Inera's counting rules hold: a main diagnosis, not a smittskydd certificate
    counts: bool = True
    #: certificates this one replaces or complements (their ids)
    replaces: tuple[str, ...] = ()

    @property
    def start(self) -> date:
        return min(p.start for p in self.periods)

    @property
    def end(self) -> date:
        return max(p.end for p in self.periods)


@dataclass(frozen=True)
class SickLeaveCase:
    start: date
    end: date
    certificates: tuple[str, ...]
    #: the covered days as disjoint, ordered spans, each with the degree that holds
    periods: tuple[DegreePeriod, ...]

    @cached_property
    def certificate_ids(self) -> frozenset[str]:
        """The certificates as a set: asking each of a patient's thousands of certificates
        whether it is in the tuple was quadratic."""
        return frozenset(self.certificates)

    @cached_property
    def covered_days(self) -> int:
        return sum((p.end - p.start).days + 1 for p in self.periods)

    def day_date(self, n: int) -> date | None:
        """The date of the ``n``-th covered day (day 1 = start); ``None`` beyond the end."""
        left = n
        for p in self.periods:
            span = (p.end - p.start).days + 1
            if left <= span:
                return p.start + timedelta(days=left - 1)
            left -= span
        return None

    def day_on(self, when: date) -> int:
        """How many covered days the case has had up to and including ``when``."""
        total = 0
        for p in self.periods:
            if p.start > when:
                break
            total += (min(p.end, when) - p.start).days + 1
        return total

    def calendar_day(self, when: date) -> int:
        """Rehabstöd's "estimated day in the case": calendar days from the first start."""
        return (when - self.start).days + 1

    def degree_on(self, when: date) -> int | None:
        for p in self.periods:
            if p.start <= when <= p.end:
                return p.degree
        return None

    def active_on(self, when: date) -> bool:
        return self.degree_on(when) is not None

    @property
    def last_degree(self) -> int:
        return self.periods[-1].degree

    def months(self) -> list[tuple[int, int]]:
        """Every (year, month) in which the case had a covered day (Inera: a case counts in
        every month in which it had a period)."""
        out: list[tuple[int, int]] = []
        for p in self.periods:
            y, m = p.start.year, p.start.month
            while (y, m) <= (p.end.year, p.end.month):
                if not out or out[-1] != (y, m):
                    out.append((y, m))
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out


def effective_periods(certificates: Sequence[CertificateFacts]) -> tuple[DegreePeriod, ...]:
    """The covered days of ``certificates`` as disjoint spans with the degree that holds:
    where periods overlap, the latest signed certificate's (unsigned counts as earliest;
    among equals, the later in the list; within one certificate, its first period).

    A sweep over the period bounds with the periods in force on a heap, best on top: time in
    n log n of the periods. (Asking every certificate at every bound was n², and a patient
    sent thousands of certificates held the accept's write lock for seconds.)"""
    ranked = sorted(
        enumerate(certificates),
        key=lambda ic: (ic[1].signed_at is not None, _stamp(ic[1].signed_at), ic[0]),
    )
    rank = {id(c): n for n, (_i, c) in enumerate(ranked)}
    # (start, heap key, end + 1 day, degree, source); the key puts the highest rank on top,
    # then the first certificate and period in list order, as a scan in that order chooses
    starts: list[tuple[date, tuple[int, int, int], date, int, str]] = []
    for ci, c in enumerate(certificates):
        for pi, p in enumerate(c.periods):
            if p.end >= p.start:
                starts.append((p.start, (-rank[id(c)], ci, pi), p.end + ONE_DAY, p.degree, c.id))
    starts.sort(key=lambda s: s[0])
    cuts = sorted({s[0] for s in starts} | {s[2] for s in starts})
    out: list[DegreePeriod] = []
    active: list[tuple[tuple[int, int, int], date, int, str]] = []
    i = 0
    for lo, hi in pairwise(cuts):
        while i < len(starts) and starts[i][0] == lo:
            _start, key, until, degree, source = starts[i]
            heapq.heappush(active, (key, until, degree, source))
            i += 1
        while active and active[0][1] <= lo:  # ended before this span
            heapq.heappop(active)
        if not active:
            continue
        _key, _until, degree, source = active[0]
        end = hi - ONE_DAY
        last = out[-1] if out else None
        if last and (last.degree, last.source) == (degree, source) and last.end + ONE_DAY == lo:
            out[-1] = DegreePeriod(last.start, end, degree, source)
        else:
            out.append(DegreePeriod(lo, end, degree, source))
    return tuple(out)


def _stamp(t: datetime | None) -> float:
    return t.timestamp() if t is not None else 0.0


def usable(
    certificates: Iterable[CertificateFacts],
    *,
    types: frozenset[str],
    require_counting: bool,
) -> list[CertificateFacts]:
    """The certificates a case is formed of: of ``types``, with a sound period, not replaced
    or complemented by another one here, and (``require_counting``) meeting Inera's counting
    rules."""
    chosen = [
        c
        for c in certificates
        if c.type in types
        and c.periods
        and all(p.end >= p.start for p in c.periods)
        and (c.counts or not require_counting)
    ]
    replaced = {r for c in chosen for r in c.replaces}
    return [c for c in chosen if c.id not in replaced]


def build_cases(
    certificates: Iterable[CertificateFacts],
    *,
    types: frozenset[str] | None = None,
    require_counting: bool = True,
    rules: CaseRules | None = None,
) -> list[SickLeaveCase]:
    """The patient's sick-leave cases, oldest first (``types`` default: the counted types)."""
    rules = rules or case_rules()
    certs = usable(
        certificates,
        types=types if types is not None else rules.counted_types,
        require_counting=require_counting,
    )
    certs.sort(key=lambda c: (c.start, c.end, c.id))
    groups: list[list[CertificateFacts]] = []
    end: date | None = None
    for c in certs:
        if end is not None and (c.start - end).days <= rules.merge_gap_days + 1:
            groups[-1].append(c)
            end = max(end, c.end)
        else:
            groups.append([c])
            end = c.end
    return [
        SickLeaveCase(
            start=min(c.start for c in g),
            end=max(c.end for c in g),
            certificates=tuple(c.id for c in g),
            periods=effective_periods(g),
        )
        for g in groups
    ]


def chain_case(
    certificates: Iterable[CertificateFacts], rules: CaseRules | None = None
) -> SickLeaveCase | None:
    """The case the rehabilitation chain runs on: the latest one of the chain's types
    (employer certificates included, no diagnosis required: case.toml chain_types)."""
    if rules is None:  # the flags and the deadlines of one arrival ask alike: once
        facts = tuple(certificates)
        if len(facts) > _CACHED_UP_TO:  # a cache entry holds its key: memory stays bounded
            return chain_case(facts, case_rules())
        return _chain_case(facts)
    cases = build_cases(certificates, types=rules.chain_types, require_counting=False, rules=rules)
    return cases[-1] if cases else None


#: The longest certificate list :func:`_chain_case` caches (1,024 entries of at most this many
#: facts each; a patient with thousands of certificates would otherwise pin them all).
_CACHED_UP_TO = 64


@lru_cache(maxsize=1024)
def _chain_case(certificates: tuple[CertificateFacts, ...]) -> SickLeaveCase | None:
    return chain_case(certificates, case_rules())


def bucket(days: int, scheme: str, rules: CaseRules | None = None) -> str:
    """The length bucket ``days`` falls in, e.g. ``"90-180"`` (Rehabstöd) or ``"731+"``."""
    rules = rules or case_rules()
    for lo, hi in rules.buckets[scheme]:
        if lo <= days <= hi:
            return f"{lo}+" if hi >= 100000 else f"{lo}-{hi}"
    return "0"


__all__ = [
    "CertificateFacts",
    "DegreePeriod",
    "SickLeaveCase",
    "bucket",
    "build_cases",
    "chain_case",
    "effective_periods",
    "usable",
]
