"""Issues and rules: errors are data.

Every problem found in a document is an :class:`Issue` with a severity, a stable code, a
location and a message. Every code is declared once as a :class:`Rule` beside the code that
checks it; ``gateway explain`` and ``docs/rules.md`` are generated from those declarations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


class RuleKind(StrEnum):
    SYNTAX = "syntax"  # not well-formed, hostile, too big
    SCHEMA = "schema"  # XSD / FHIR structure
    BUSINESS = "business"  # business rules: may be downgraded with --warn / --ignore
    POLICY = "policy"  # consent, minimisation, redaction
    COORDINATION = "coordination"  # a flag across one patient's documents (the plan index)


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    title: str
    kind: RuleKind
    explanation: str
    severity: Severity = Severity.ERROR
    source: str = ""  # where the rule comes from: a Schematron pattern, a seed, a law

    @property
    def overridable(self) -> bool:
        return self.kind is RuleKind.BUSINESS


class RuleBook:
    """The catalogue of rules, filled by ``define`` at import time of the rule modules."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def define(
        self,
        code: str,
        title: str,
        kind: RuleKind,
        explanation: str,
        *,
        severity: Severity = Severity.ERROR,
        source: str = "",
    ) -> Rule:
        if code in self._rules:
            raise ValueError(f"rule code {code} defined twice")
        rule = Rule(code, title, kind, explanation.strip(), severity, source)
        self._rules[code] = rule
        return rule

    def __getitem__(self, code: str) -> Rule:
        return self._rules[code]

    def get(self, code: str) -> Rule | None:
        return self._rules.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._rules

    def all(self) -> list[Rule]:
        return sorted(self._rules.values(), key=lambda r: r.code)


#: The one rule book of the process (a static catalogue, not per-message state).
RULES = RuleBook()


@dataclass(frozen=True, slots=True)
class Location:
    """Where an issue is: a line (XML, when known) and a path (XPath-like for XML, FHIRPath
    for FHIR, the canonical field path otherwise)."""

    path: str = ""
    line: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"line {self.line}: {self.path}" if self.path else f"line {self.line}"
        return self.path


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    code: str
    location: Location
    message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "severity": str(self.severity),
            "code": self.code,
            "location": str(self.location),
            "message": self.message,
        }


#: A path into a canonical model: field names and list indexes, e.g. ("answers", 3, "parts", 1).
ModelPath = tuple[str | int, ...]


class Finding(NamedTuple):
    """What a business rule reports: the rule, the canonical model path it concerns and the
    message. The validator turns findings into located issues through the parse's source map,
    so one rule implementation serves every format."""

    rule: Rule
    path: ModelPath
    message: str


def issue(rule: Rule, message: str, location: Location | None = None) -> Issue:
    return Issue(rule.severity, rule.code, location or Location(), message)


@dataclass
class SourceMap:
    """Maps canonical model paths to where they came from in the input.

    Codecs fill it while parsing; rules speak of model paths and the validator asks the source
    map for the nearest known location.
    """

    locations: dict[ModelPath, Location] = field(default_factory=dict)

    def add(self, path: ModelPath, location: Location) -> None:
        self.locations[path] = location

    def locate(self, path: ModelPath) -> Location:
        for n in range(len(path), -1, -1):
            found = self.locations.get(path[:n])
            if found is not None:
                return found
        return Location(path=".".join(str(p) for p in path))


@dataclass(frozen=True)
class SeverityOverrides:
    """Linter-style overrides: ``--warn CODE`` and ``--ignore CODE`` (business rules only)."""

    warn: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()

    @classmethod
    def of(cls, warn: Iterable[str] = (), ignore: Iterable[str] = ()) -> SeverityOverrides:
        return cls(frozenset(warn), frozenset(ignore))

    def apply(self, issues: Iterable[Issue], rules: RuleBook = RULES) -> list[Issue]:
        out: list[Issue] = []
        for i in issues:
            rule = rules.get(i.code)
            if rule is None or not rule.overridable:
                out.append(i)
            elif i.code in self.ignore:
                continue
            elif i.code in self.warn and i.severity is Severity.ERROR:
                out.append(replace(i, severity=Severity.WARNING))
            else:
                out.append(i)
        return out


def is_valid(issues: Iterable[Issue]) -> bool:
    return not any(i.severity is Severity.ERROR for i in issues)
