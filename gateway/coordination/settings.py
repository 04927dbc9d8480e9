"""The coordination settings: ``mappings/coordination/*.toml``, read and checked once.

Data over code: how a sick-leave case is formed (``case.toml``), the rehabilitation chain's
deadlines with their sources (``chain.toml``), who sees what of the plan index
(``visibility.toml``) and the §4 statistics' thresholds (``section4.toml``). A mistake in them
is ours, not a sender's: :class:`SettingsError` names the file and key, at first use.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any

from gateway import MAPPINGS_DIR
from gateway.documents.common import DocumentKind, Recipient

SETTINGS_DIR = MAPPINGS_DIR / "coordination"


class SettingsError(Exception):
    """A coordination settings file is wrong (our configuration, not a document)."""


@dataclass(frozen=True)
class CaseRules:
    merge_gap_days: int
    counted_types: frozenset[str]
    chain_types: frozenset[str]
    excluded_relations: frozenset[str]
    degrees: tuple[int, ...]
    buckets: Mapping[str, tuple[tuple[int, int], ...]]
    hours_per_day: float
    hours_per_week: float


@dataclass(frozen=True)
class DeadlineRule:
    code: str
    title: str
    type: str  # "task" or "milestone"
    responsible: str  # a role, or "coordinator" (the SIP's coordinating participant)
    condition: str
    source: str
    day: int | None = None
    from_day: int | None = None
    met_by: str | None = None
    informed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleView:
    role: Recipient
    scope: str  # "addressed" or "patient"
    kinds: frozenset[DocumentKind]
    own_only: frozenset[DocumentKind] = frozenset()
    flags: str = "none"  # "all", "own-plan", "none"
    fields: Mapping[DocumentKind, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Section4Settings:
    handling_days: int
    cutoff: int
    minimum_cutoff: int
    low_factor: float
    high_factor: float
    no_need_share: float


#: The chain's conditions, implemented in gateway/coordination/chain.py.
CONDITIONS = frozenset(
    {"reaches-day", "expected-60-days", "sip-next-follow-up", "plan-follow-up", "section4-sent"}
)
MET_BY = frozenset({"certificate-to-employer", "return-to-work-plan", "section4-handled"})
SCOPES = frozenset({"addressed", "patient"})
FLAG_VIEWS = frozenset({"all", "own-plan", "none"})


def _read(name: str) -> dict[str, Any]:
    path = SETTINGS_DIR / name
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"mappings/coordination/{name}: {exc}") from None


def _need(data: Mapping[str, Any], key: str, where: str, typ: type | tuple[type, ...]) -> Any:
    value = data.get(key)
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        raise SettingsError(f"mappings/coordination/{where}.{key}: missing or of the wrong type")
    return value


@cache
def case_rules() -> CaseRules:
    d = _read("case.toml")
    where = "case.toml"
    buckets: dict[str, tuple[tuple[int, int], ...]] = {}
    for name, edges in _need(d, "buckets", where, dict).items():
        pairs = tuple((int(a), int(b)) for a, b in edges)
        for (_a, b), (c, _d) in pairwise(pairs):
            if c != b + 1:
                raise SettingsError(f"mappings/coordination/{where}.buckets.{name}: gap at {b}")
        buckets[name] = pairs
    share = _need(d, "work_share", where, dict)
    gap = _need(d, "merge_gap_days", where, int)
    if not 0 <= gap <= 90:
        raise SettingsError(f"mappings/coordination/{where}.merge_gap_days: 0..90, not {gap}")
    return CaseRules(
        merge_gap_days=gap,
        counted_types=frozenset(_need(d, "counted_types", where, list)),
        chain_types=frozenset(_need(d, "chain_types", where, list)),
        excluded_relations=frozenset(_need(d, "excluded_relations", where, list)),
        degrees=tuple(_need(d, "degrees", where, list)),
        buckets=buckets,
        hours_per_day=float(_need(share, "hours_per_day", f"{where}.work_share", (int, float))),
        hours_per_week=float(_need(share, "hours_per_week", f"{where}.work_share", (int, float))),
    )


@cache
def deadline_rules() -> tuple[DeadlineRule, ...]:
    rows = _need(_read("chain.toml"), "deadline", "chain.toml", list)
    out: list[DeadlineRule] = []
    for i, row in enumerate(rows):
        where = f"chain.toml.deadline[{i}]"
        rule = DeadlineRule(
            code=_need(row, "code", where, str),
            title=_need(row, "title", where, str),
            type=_need(row, "type", where, str),
            responsible=_need(row, "responsible", where, str),
            condition=_need(row, "condition", where, str),
            source=_need(row, "source", where, str),
            day=row.get("day"),
            from_day=row.get("from_day"),
            met_by=row.get("met_by"),
            informed=tuple(row.get("informed", ())),
        )
        if rule.type not in ("task", "milestone"):
            raise SettingsError(f"mappings/coordination/{where}.type: task or milestone")
        if rule.condition not in CONDITIONS:
            raise SettingsError(f"mappings/coordination/{where}.condition: {rule.condition!r}")
        if rule.met_by is not None and rule.met_by not in MET_BY:
            raise SettingsError(f"mappings/coordination/{where}.met_by: {rule.met_by!r}")
        if rule.condition in ("reaches-day", "expected-60-days") and rule.day is None:
            raise SettingsError(f"mappings/coordination/{where}.day: required")
        out.append(rule)
    codes = [r.code for r in out]
    if len(set(codes)) != len(codes):
        raise SettingsError("mappings/coordination/chain.toml: a deadline code is used twice")
    return tuple(out)


def deadline_rule(code: str) -> DeadlineRule:
    return next(r for r in deadline_rules() if r.code == code)


@cache
def role_views() -> Mapping[Recipient, RoleView]:
    roles = _need(_read("visibility.toml"), "roles", "visibility.toml", dict)
    out: dict[Recipient, RoleView] = {}
    for name, row in roles.items():
        where = f"visibility.toml.roles.{name}"
        try:
            role = Recipient(name)
            kinds = frozenset(DocumentKind(k) for k in _need(row, "kinds", where, list))
            own_only = frozenset(DocumentKind(k) for k in row.get("own_only", ()))
            fields = {DocumentKind(k): frozenset(v) for k, v in dict(row.get("fields", {})).items()}
        except ValueError as exc:
            raise SettingsError(f"mappings/coordination/{where}: {exc}") from None
        scope = _need(row, "scope", where, str)
        flags = row.get("flags", "none")
        if scope not in SCOPES or flags not in FLAG_VIEWS:
            raise SettingsError(f"mappings/coordination/{where}: scope or flags unknown")
        out[role] = RoleView(role, scope, kinds, own_only, flags, fields)
    return out


@cache
def section4_settings() -> Section4Settings:
    d = _read("section4.toml")
    where = "section4.toml"
    s = Section4Settings(
        handling_days=_need(d, "handling_days", where, int),
        cutoff=_need(d, "cutoff", where, int),
        minimum_cutoff=_need(d, "minimum_cutoff", where, int),
        low_factor=float(_need(d, "low_factor", where, (int, float))),
        high_factor=float(_need(d, "high_factor", where, (int, float))),
        no_need_share=float(_need(d, "no_need_share", where, (int, float))),
    )
    if s.cutoff < s.minimum_cutoff:
        raise SettingsError(f"mappings/coordination/{where}.cutoff: below minimum_cutoff")
    return s


__all__ = [
    "CaseRules",
    "DeadlineRule",
    "RoleView",
    "Section4Settings",
    "SettingsError",
    "case_rules",
    "deadline_rule",
    "deadline_rules",
    "role_views",
    "section4_settings",
]
