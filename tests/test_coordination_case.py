"""The sick-leave case as Inera's tools count it (DOMAIN.md "How national tools define a
sick-leave case"; mappings/coordination/case.toml), and the part-time share read from a
plan's measure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.coordination.case import (
    CertificateFacts,
    DegreePeriod,
    bucket,
    build_cases,
    chain_case,
    effective_periods,
)
from gateway.coordination.entries import org_key, work_share

AUG = date(2025, 8, 1)


def cert(
    cid: str,
    start: date,
    end: date,
    degree: int = 100,
    *,
    type: str = "FK7804",
    signed: datetime | None = None,
    counts: bool = True,
    replaces: tuple[str, ...] = (),
) -> CertificateFacts:
    period = (DegreePeriod(start, end, degree),)
    return CertificateFacts(cid, type, signed, period, counts, replaces)


def test_domain_example_gap_of_five() -> None:
    """Cert 1 ends 14 Aug: one starting 17 Aug joins the case, one starting 21 Aug does not."""
    first = cert("a", date(2025, 8, 1), date(2025, 8, 14))
    joins = cert("b", date(2025, 8, 17), date(2025, 8, 30))
    apart = cert("c", date(2025, 8, 21), date(2025, 8, 30))
    assert len(build_cases([first, joins])) == 1
    assert len(build_cases([first, apart])) == 2


@pytest.mark.parametrize(("offset", "cases"), [(6, 1), (7, 2)])
def test_the_edge_is_end_plus_n_plus_one(offset: int, cases: int) -> None:
    end = date(2025, 8, 14)
    nxt = cert("b", end + timedelta(days=offset), end + timedelta(days=offset + 3))
    assert len(build_cases([cert("a", AUG, end), nxt])) == cases


def test_length_counts_covered_days_once_without_gaps() -> None:
    a = cert("a", date(2025, 8, 1), date(2025, 8, 10))
    b = cert("b", date(2025, 8, 5), date(2025, 8, 12))  # overlaps: counted once
    c = cert("c", date(2025, 8, 15), date(2025, 8, 16))  # two-day gap left out
    (case,) = build_cases([a, b, c])
    assert (case.start, case.end) == (date(2025, 8, 1), date(2025, 8, 16))
    assert case.covered_days == 12 + 2
    assert case.calendar_day(date(2025, 8, 16)) == 16
    assert case.day_date(13) == date(2025, 8, 15)  # the 13th covered day skips the gap
    assert case.day_on(date(2025, 8, 14)) == 12


def test_the_latest_signed_certificate_gives_the_degree() -> None:
    early = cert("a", AUG, date(2025, 8, 31), 100, signed=datetime(2025, 8, 1, tzinfo=UTC))
    later = cert(
        "b", date(2025, 8, 10), date(2025, 8, 20), 50, signed=datetime(2025, 8, 9, tzinfo=UTC)
    )
    (case,) = build_cases([later, early])
    assert case.degree_on(date(2025, 8, 9)) == 100
    assert case.degree_on(date(2025, 8, 15)) == 50
    assert case.degree_on(date(2025, 8, 21)) == 100
    assert case.last_degree == 100
    assert [p.source for p in case.periods] == ["a", "b", "a"]


def test_replaced_and_uncounted_certificates_are_left_out() -> None:
    old = cert("old", AUG, date(2025, 8, 31))
    new = cert("new", AUG, date(2025, 8, 20), replaces=("old",))
    assert build_cases([old, new])[0].end == date(2025, 8, 20)
    no_diagnosis = cert("x", AUG, date(2025, 8, 31), counts=False)
    assert build_cases([no_diagnosis]) == []
    employer = cert("ag", AUG, date(2025, 8, 31), type="AG7804")
    assert build_cases([employer]) == []  # employer certificates never count (Inera)
    # ... but they date the rehabilitation chain (case.toml chain_types)
    chain = chain_case([employer, no_diagnosis])
    assert chain is not None and chain.start == AUG


def test_a_case_counts_in_every_month_it_had_a_period() -> None:
    (case,) = build_cases([cert("a", date(2025, 1, 30), date(2025, 3, 2))])
    assert case.months() == [(2025, 1), (2025, 2), (2025, 3)]


@pytest.mark.parametrize(
    ("days", "rehabstod", "intygsstatistik"),
    [
        (14, "1-89", "1-14"),
        (89, "1-89", "61-90"),
        (90, "90-180", "61-90"),
        (91, "90-180", "91-180"),
        (180, "90-180", "91-180"),
        (181, "181-365", "181-364"),
        (365, "181-365", "365-730"),
        (366, "366+", "365-730"),
        (731, "366+", "731+"),
    ],
)
def test_buckets_state_where_day_90_falls(days: int, rehabstod: str, intygsstatistik: str) -> None:
    assert bucket(days, "rehabstod") == rehabstod
    assert bucket(days, "intygsstatistik") == intygsstatistik


periods = st.tuples(st.integers(0, 200), st.integers(0, 40), st.sampled_from([25, 50, 75, 100]))


@given(st.lists(periods, min_size=1, max_size=8), st.integers(0, 10))
def test_cases_partition_the_days_and_keep_gaps_apart(
    raw: list[tuple[int, int, int]], gap: int
) -> None:
    from dataclasses import replace

    from gateway.coordination.settings import case_rules

    rules = replace(case_rules(), merge_gap_days=gap)
    certs = [
        cert(f"c{i}", AUG + timedelta(days=s), AUG + timedelta(days=s + n), d)
        for i, (s, n, d) in enumerate(raw)
    ]
    cases = build_cases(certs, rules=rules)
    days = {c.start + timedelta(days=k) for c in certs for k in range((c.end - c.start).days + 1)}
    assert sum(c.covered_days for c in cases) == len(days)
    assert sorted(i for c in cases for i in c.certificates) == sorted(c.id for c in certs)
    for a, b in pairwise(cases):
        assert (b.start - a.end).days > gap + 1  # more than N uncovered days between cases
    for c in cases:
        for n in (1, c.covered_days):
            when = c.day_date(n)
            assert when is not None and c.active_on(when) and c.day_on(when) == n
        assert c.day_date(c.covered_days + 1) is None
        for p in c.periods:  # each day's degree is one a certificate covering it states
            covering = [x for x in certs if x.start <= p.start and p.end <= x.end]
            assert p.degree in {x.periods[0].degree for x in covering}


ONE = timedelta(days=1)


def _effective_by_definition(certs: list[CertificateFacts]) -> tuple[DegreePeriod, ...]:
    """effective_periods as its docstring defines it, day by day: on each covered day the
    period of the highest-ranked certificate covering it (signed later ranks higher, unsigned
    lowest, equals by place in the list; within a certificate its first period), days of the
    same degree and certificate joined."""
    order = sorted(
        range(len(certs)),
        key=lambda i: (certs[i].signed_at is not None, certs[i].signed_at or AUG, i),
    )
    rank = {i: n for n, i in enumerate(order)}
    days: dict[date, tuple[int, str]] = {}
    best: dict[date, tuple[int, int]] = {}
    for i, c in enumerate(certs):
        for p in c.periods:
            for k in range((p.end - p.start).days + 1):
                day = p.start + timedelta(days=k)
                if day not in best or rank[i] > best[day][0]:
                    best[day] = (rank[i], i)
                    days[day] = (p.degree, c.id)
    out: list[DegreePeriod] = []
    for day in sorted(days):
        degree, source = days[day]
        last = out[-1] if out else None
        if last and (last.degree, last.source) == (degree, source) and last.end + ONE == day:
            out[-1] = DegreePeriod(last.start, day, degree, source)
        else:
            out.append(DegreePeriod(day, day, degree, source))
    return tuple(out)


signatures = st.none() | st.integers(0, 5).map(lambda h: datetime(2025, 8, 1, h, tzinfo=UTC))


@given(
    st.lists(
        st.tuples(st.lists(periods, min_size=1, max_size=3), signatures), min_size=1, max_size=8
    )
)
def test_effective_periods_are_their_definition(
    raw: list[tuple[list[tuple[int, int, int]], datetime | None]],
) -> None:
    """Overlapping certificates, several periods each (overlapping within one too), signed
    alike or not at all: the sweep gives what the day-by-day definition gives."""
    certs = [
        CertificateFacts(
            f"c{i}",
            "FK7804",
            signed,
            tuple(
                DegreePeriod(AUG + timedelta(days=s), AUG + timedelta(days=s + n), d)
                for s, n, d in spans
            ),
        )
        for i, (spans, signed) in enumerate(raw)
    ]
    assert effective_periods(certs) == _effective_by_definition(certs)


class _Counted(tuple[DegreePeriod, ...]):
    """A certificate's periods that count how often they are walked."""

    walks = 0

    def __iter__(self) -> Iterator[DegreePeriod]:
        _Counted.walks += 1
        return super().__iter__()


def test_thousands_of_certificates_of_one_patient_are_walked_once_each() -> None:
    """A patient's case is worked out in time that grows with the number of certificates,
    not its square: each certificate's periods are walked a fixed number of times (asking
    every certificate at every bound walked them ~2,000 times each here, and one patient
    sent thousands held the accept's write lock for seconds)."""
    day0 = date(2000, 1, 1)
    many = [
        CertificateFacts(
            f"m{i}",
            "FK7804",
            None,
            _Counted(
                (
                    DegreePeriod(
                        day0 + timedelta(days=7 * i),
                        day0 + timedelta(days=7 * i + 9),
                        25 * (1 + i % 4),
                    ),
                )
            ),
        )
        for i in range(1000)
    ]
    _Counted.walks = 0
    periods = effective_periods(many)
    assert _Counted.walks <= 2 * len(many)
    assert len(periods) == 1000 and periods[-1].end == day0 + timedelta(days=7 * 999 + 9)


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("Arbete 50 % förmiddagar", 50),
        ("arbetar 25% de första veckorna", 25),
        ("Arbete 75 procent", 75),
        ("4 timmar per dag", 50),
        ("Arbetar 6 tim/dag", 75),
        ("20 timmar per vecka", 50),
        ("Anpassade arbetstider", None),
        ("Arbete 150 %", None),
    ],
)
def test_work_share_is_read_from_the_measure(text: str, share: int | None) -> None:
    assert work_share(text) == share


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("556677-8899", "5566778899"),
        ("165566778899", "5566778899"),
        ("tstnmt2321000156-reg1", "TSTNMT2321000156-REG1"),
        ("", None),
    ],
)
def test_organisations_have_one_spelling(raw: str, key: str | None) -> None:
    assert org_key(raw) == key


def test_a_long_certificate_list_is_answered_but_not_cached() -> None:
    """The case of one arrival is cached (flags and deadlines ask alike), but a patient with
    thousands of certificates must not pin a thousand copies of its list in memory."""
    from gateway.coordination import case as module

    day0 = date(2026, 1, 1)
    few = [cert(f"c{i}", day0 + timedelta(days=i), day0 + timedelta(days=i)) for i in range(3)]
    many = [cert(f"m{i}", day0 + timedelta(days=i), day0 + timedelta(days=i)) for i in range(100)]
    module._chain_case.cache_clear()
    short, long_ = chain_case(few), chain_case(many)
    assert short is not None and short.certificates == ("c0", "c1", "c2")
    assert long_ is not None and len(long_.certificates) == 100
    assert module._chain_case.cache_info().currsize == 1


def test_every_deadline_condition_the_settings_accept_is_evaluated() -> None:
    from gateway.coordination import chain, settings

    assert set(settings.CONDITIONS) == set(chain._CONDITIONS)
