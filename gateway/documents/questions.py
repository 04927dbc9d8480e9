"""The certificate question catalogue: what each ``svar``/``delsvar`` id means per type.

The data lives in ``mappings/certificate/<type>.toml`` (one file per certificate type, derived
from Inera's Schematron) and is read once per process. Rules, policy and the FHIR mapping ask
this module instead of hard-coding ids: "which parts carry diagnosis data", "what is the
sick-leave period", "what is the canonical name of 32.1".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from gateway import MAPPINGS_DIR
from gateway.documents.certificate import Answer, Certificate, CertificateType, Quantity
from gateway.documents.common import Code, Period

#: ``mappings/certificate`` (the root package only says where the data is: documents imports
#: nothing else of the package).
CATALOGUE_DIR = MAPPINGS_DIR / "certificate"

#: The question that, answered true, makes a certificate one for smittbärarpenning (infection
#: carrier allowance) and waives most other questions (FK7804, AG7804).
INFECTION_CARRIER_QUESTION = "27"


class ValueType(StrEnum):
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    CODE = "code"
    PERIOD = "period"
    QUANTITY = "quantity"


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition on another part of the same answer: ``part`` has one of ``values``."""

    part: str
    values: frozenset[str]

    def holds(self, answer: Answer) -> bool | None:
        """True/False when the controlling part is present, None when it is absent."""
        other = answer.part(self.part)
        if other is None:
            return None
        return comparable_value(other.value) in self.values


@dataclass(frozen=True, slots=True, eq=False)
class Part:
    """A ``delsvar`` of a question."""

    id: str
    name: str
    title: str
    type: ValueType
    question_name: str
    min: int = 1
    max: int = 1
    code_systems: frozenset[str] = frozenset()
    codes: frozenset[str] | None = None  # None: any code of the code systems
    code_values: Mapping[str, int] = field(default_factory=dict)
    unique: bool = False
    diagnosis: bool = False
    description_part: str | None = None
    code_pattern: re.Pattern[str] | None = None
    code_max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    integral: bool = False
    not_after_today: bool = False
    required_when: Condition | None = None
    forbidden_when: Condition | None = None
    allowed_only_when: Condition | None = None
    requires: tuple[str, ...] = ()
    source: str = ""

    @property
    def qualified_name(self) -> str:
        """Canonical English name, e.g. ``sick_leave.level`` for FK7804 32.1."""
        return f"{self.question_name}.{self.name}"

    @property
    def label(self) -> str:
        """How messages name the part: ``32.1 'Sjukskrivningsnivå'``."""
        return f"{self.id} '{self.title}'"


@dataclass(frozen=True, slots=True, eq=False)
class Question:
    """A ``svar``: a question of a certificate type."""

    id: str
    name: str
    title: str
    min: int
    max: int
    instance: bool
    parts: Mapping[str, Part]
    waived_by_infection_carrier: str | None = None  # "true" or "answered", see the TOML
    supplementary: bool = False
    source: str = ""
    # Derived from the parts once, for the validator's hot path.
    diagnosis: bool = field(init=False)
    required_parts: tuple[Part, ...] = field(init=False)
    dependent_parts: tuple[Part, ...] = field(init=False)

    def __post_init__(self) -> None:
        parts = tuple(self.parts.values())
        object.__setattr__(self, "diagnosis", any(p.diagnosis for p in parts))
        object.__setattr__(self, "required_parts", tuple(p for p in parts if p.min > 0))
        object.__setattr__(
            self,
            "dependent_parts",
            tuple(
                p
                for p in parts
                if p.required_when or p.forbidden_when or p.allowed_only_when or p.requires
            ),
        )

    @property
    def label(self) -> str:
        return f"{self.id} '{self.title}'"


@dataclass(frozen=True, eq=False)  # one per type and process: identity is equality
class Catalogue:
    """Every question of one certificate type, in the order of the specification."""

    type: CertificateType
    title: str
    schematron: str
    questions: Mapping[str, Question]
    supplementary_pattern: re.Pattern[str] | None = None
    supplementary_title: str = ""
    supplementary_source: str = ""

    def question(self, question_id: str) -> Question | None:
        found = self.questions.get(question_id)
        pattern = self.supplementary_pattern
        if found is None and pattern is not None and pattern.match(question_id):
            return _supplementary(self, question_id)
        return found

    def part(self, part_id: str) -> Part | None:
        question_id = part_id.partition(".")[0]
        q = self.question(question_id)
        return q.parts.get(part_id) if q else None

    @cached_property
    def required_questions(self) -> tuple[Question, ...]:
        """Questions that must be answered at least once, in catalogue order."""
        return tuple(q for q in self.questions.values() if q.min > 0)

    @cached_property
    def diagnosis_questions(self) -> frozenset[str]:
        return frozenset(q.id for q in self.questions.values() if q.diagnosis)

    @cached_property
    def diagnosis_parts(self) -> frozenset[str]:
        return frozenset(
            p.id for q in self.questions.values() for p in q.parts.values() if p.diagnosis
        )

    @cached_property
    def _by_name(self) -> dict[str, Question]:
        return {q.name: q for q in self.questions.values()}

    def by_name(self, name: str) -> Question | None:
        return self._by_name.get(name)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One diagnosis as the certificate states it: the code and the physician's text."""

    code: str
    system: str | None
    display: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class SickLeavePeriod:
    """One period of reduced work capacity: FK7804/AG7804 32.x, AG1-14 7.x.

    ``level`` is the KV_FKMU_0003 code (None for AG1-14); ``percent`` the reduction of work
    capacity in percent (from the level code, or AG1-14's 7.1).
    """

    period: Period
    level: str | None
    percent: float | None


# --- loading -------------------------------------------------------------------------------


def _condition(raw: Mapping[str, Any] | None) -> Condition | None:
    if raw is None:
        return None
    return Condition(str(raw["part"]), frozenset(str(v) for v in raw["values"]))


def _part(raw: Mapping[str, Any], question_name: str) -> Part:
    pattern = raw.get("code_pattern")
    codes = raw.get("codes")
    return Part(
        id=raw["id"],
        name=raw["name"],
        title=raw["title"],
        type=ValueType(raw["type"]),
        question_name=question_name,
        min=raw.get("min", 1),
        max=raw.get("max", 1),
        code_systems=frozenset(raw.get("code_systems", ())),
        codes=frozenset(codes) if codes is not None else None,
        code_values=dict(raw.get("code_values", {})),
        unique=raw.get("unique", False),
        diagnosis=raw.get("diagnosis", False),
        description_part=raw.get("description_part"),
        code_pattern=re.compile(pattern) if pattern else None,
        code_max_length=raw.get("code_max_length"),
        min_value=raw.get("min_value"),
        max_value=raw.get("max_value"),
        integral=raw.get("integral", False),
        not_after_today=raw.get("not_after_today", False),
        required_when=_condition(raw.get("required_when")),
        forbidden_when=_condition(raw.get("forbidden_when")),
        allowed_only_when=_condition(raw.get("allowed_only_when")),
        requires=tuple(raw.get("requires", ())),
        source=raw.get("source", ""),
    )


def _question(raw: Mapping[str, Any]) -> Question:
    parts = {p["id"]: _part(p, raw["name"]) for p in raw["parts"]}
    return Question(
        id=raw["id"],
        name=raw["name"],
        title=raw["title"],
        min=raw.get("min", 0),
        max=raw.get("max", 1),
        instance=raw.get("instance", False),
        parts=parts,
        waived_by_infection_carrier=raw.get("waived_by_infection_carrier"),
        source=raw.get("source", ""),
    )


def load_catalogue(path: Path) -> Catalogue:
    with path.open("rb") as f:
        raw = tomllib.load(f)
    questions = {q["id"]: _question(q) for q in raw["questions"]}
    sup = raw.get("supplementary")
    return Catalogue(
        type=CertificateType(raw["type"]),
        title=raw["title"],
        schematron=raw["schematron"],
        questions=questions,
        supplementary_pattern=re.compile(sup["pattern"]) if sup else None,
        supplementary_title=sup["title"] if sup else "",
        supplementary_source=sup.get("source", "") if sup else "",
    )


_catalogues: dict[str, Catalogue] = {}


def catalogue(cert_type: CertificateType | str) -> Catalogue:
    """The catalogue of one certificate type, read once per process."""
    found = _catalogues.get(cert_type)
    if found is None:
        key = CertificateType(cert_type)
        found = _catalogues[key] = load_catalogue(CATALOGUE_DIR / f"{key.value}.toml")
    return found


@cache
def _supplementary(cat: Catalogue, question_id: str) -> Question:
    # Tilläggsfrågor (9001, 9002, ...): one text part "<id>.1", each id at most once.
    part_id = f"{question_id}.1"
    name = f"supplementary_{question_id}"
    part = Part(
        id=part_id,
        name="text",
        title=f"{cat.supplementary_title} {question_id}",
        type=ValueType.TEXT,
        question_name=name,
        source=cat.supplementary_source,
    )
    return Question(
        id=question_id,
        name=name,
        title=f"{cat.supplementary_title} {question_id}",
        min=0,
        max=1,
        instance=False,
        parts={part_id: part},
        supplementary=True,
        source=cat.supplementary_source,
    )


# --- accessors -----------------------------------------------------------------------------


def question(cert_type: CertificateType | str, question_id: str) -> Question | None:
    return catalogue(cert_type).question(question_id)


def part(cert_type: CertificateType | str, part_id: str) -> Part | None:
    return catalogue(cert_type).part(part_id)


def field_name(cert_type: CertificateType | str, answer_id: str) -> str | None:
    """Canonical English name of a question (``"32"`` -> ``sick_leave``) or a part
    (``"32.1"`` -> ``sick_leave.level``); None for ids the type does not know."""
    if "." in answer_id:
        p = part(cert_type, answer_id)
        return p.qualified_name if p else None
    q = question(cert_type, answer_id)
    return q.name if q else None


def diagnosis_question_ids(cert_type: CertificateType | str) -> frozenset[str]:
    """Questions with any part that carries diagnosis data (FK7804/AG7804 6, AG1-14 4)."""
    return catalogue(cert_type).diagnosis_questions


def diagnosis_part_ids(cert_type: CertificateType | str) -> frozenset[str]:
    """Every part that carries diagnosis data, codes and texts alike."""
    return catalogue(cert_type).diagnosis_parts


def parse_boolean(text: str) -> bool | None:
    """An xs:boolean as RIVTA sends it ("true"/"1"/"false"/"0"); None if it is not one."""
    value = text.strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return None


def comparable_value(value: object) -> str | None:
    """The value of a part as catalogue conditions name it: a code's code, a boolean as
    "true"/"false", other text stripped."""
    if isinstance(value, Code):
        return value.code.strip()
    if isinstance(value, str):
        b = parse_boolean(value)
        if b is not None:
            return "true" if b else "false"
        return value.strip()
    return None


def diagnoses(cert: Certificate) -> list[Diagnosis]:
    """The diagnoses stated in a certificate, main diagnosis first."""
    cat = catalogue(cert.type)
    found: list[Diagnosis] = []
    for answer in cert.answers:
        q = cat.question(answer.id)
        if q is None or not q.diagnosis:
            continue
        for p in q.parts.values():
            if p.type is not ValueType.CODE or not p.diagnosis:
                continue
            sub = answer.part(p.id)
            if sub is None or not isinstance(sub.value, Code):
                continue
            text = answer.part(p.description_part) if p.description_part else None
            description = text.value if text and isinstance(text.value, str) else None
            code = sub.value
            found.append(Diagnosis(code.code.strip(), code.system, code.display, description))
    return found


def _share_part(cert_type: CertificateType) -> Part | None:
    q = catalogue(cert_type).by_name("share_diagnosis")
    return next(iter(q.parts.values())) if q else None


def share_diagnosis(cert: Certificate) -> bool | None:
    """Whether the patient wants the diagnosis passed on to the employer (AG7804 100.1, AG1-14
    3.1). None when the type has no such question (FK7804) or it is unanswered or malformed."""
    p = _share_part(cert.type)
    if p is None:
        return None
    for answer in cert.answers:
        sub = answer.part(p.id)
        if sub is not None and isinstance(sub.value, str):
            return parse_boolean(sub.value)
    return None


def sick_leave_periods(cert: Certificate) -> list[SickLeavePeriod]:
    """The periods of reduced work capacity, in the order sent (malformed ones left out)."""
    q = catalogue(cert.type).by_name("sick_leave")
    if q is None:
        return []
    out: list[SickLeavePeriod] = []
    for answer in cert.answers_to(q.id):
        period: Period | None = None
        level: str | None = None
        percent: float | None = None
        for sub in answer.parts:
            p = q.parts.get(sub.id)
            if p is None:
                continue
            if isinstance(sub.value, Period):
                period = sub.value
            elif isinstance(sub.value, Code):
                level = sub.value.code.strip()
                mapped = p.code_values.get(level)
                percent = float(mapped) if mapped is not None else None
            elif isinstance(sub.value, Quantity):
                percent = sub.value.value
        if period is not None:
            out.append(SickLeavePeriod(period, level, percent))
    return out


__all__ = [
    "CATALOGUE_DIR",
    "INFECTION_CARRIER_QUESTION",
    "Catalogue",
    "Condition",
    "Diagnosis",
    "Part",
    "Question",
    "SickLeavePeriod",
    "ValueType",
    "catalogue",
    "comparable_value",
    "diagnoses",
    "diagnosis_part_ids",
    "diagnosis_question_ids",
    "field_name",
    "load_catalogue",
    "parse_boolean",
    "part",
    "question",
    "share_diagnosis",
    "sick_leave_periods",
]
