"""The certificate rules the question catalogue drives (``gateway.documents.questions``, data
in ``mappings/certificate/``): which questions and parts a certificate type has, how often
each may occur, the kind, code system and codes of each value, and which parts depend on
which. Most of Inera's Schematron assertions are these few checks over different ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Final

from gateway.documents.certificate import Answer, Certificate, Quantity
from gateway.documents.common import Code, Period
from gateway.documents.issues import Finding, ModelPath, Rule
from gateway.documents.questions import (
    INFECTION_CARRIER_QUESTION,
    Catalogue,
    Condition,
    Part,
    Question,
    ValueType,
    comparable_value,
    parse_boolean,
)
from gateway.validation.certificate_rule_definitions import (
    CODE_REPEATED,
    CODE_SYSTEM,
    CODE_UNKNOWN,
    DATE_IN_FUTURE,
    DEPENDENT_PART_MISSING,
    DEPENDENT_PART_UNEXPECTED,
    DIAGNOSIS_CODE_FORMAT,
    INSTANCE,
    PART_MISSING,
    PART_REPEATED,
    PART_UNKNOWN,
    PERIOD_INCOMPLETE,
    PERIOD_ORDER,
    QUESTION_MISSING,
    QUESTION_REPEATED,
    QUESTION_UNKNOWN,
    VALUE_BOOLEAN,
    VALUE_DATE,
    VALUE_EMPTY,
    VALUE_RANGE,
    VALUE_TYPE,
)

# xs:date as Schematron accepts it: YYYY-MM-DD, optionally with a time zone.
_DATE = re.compile(r"^(\d{4}-\d\d-\d\d)(Z|[+-]\d\d:\d\d)?$")


def catalogue_rules(
    cert: Certificate,
    cat: Catalogue,
    today: date,
    by_question: dict[str, list[int]],
    out: list[Finding],
) -> None:
    # Appends to ``out`` rather than yielding: a generator per answer costs more than the
    # checks themselves on a certificate with no finding.
    waived: dict[str, bool] | None = None
    for q in cat.required_questions:
        count = len(by_question.get(q.id, ()))
        if count < q.min:
            if waived is None:
                waived = _waivers(cert)
            if waived.get(q.waived_by_infection_carrier or "", False):
                continue
            out.append(
                Finding(
                    QUESTION_MISSING,
                    ("answers",),
                    f"question {q.label} is required in {cat.type}"
                    + (f" (at least {q.min})" if q.min > 1 else "")
                    + _waiver_note(q),
                )
            )

    answers = cert.answers
    for qid, indexes in by_question.items():
        found_q = cat.question(qid)
        if found_q is None:
            out.extend(
                Finding(
                    QUESTION_UNKNOWN,
                    ("answers", i),
                    f"question id {qid!r} is not a question of {cat.type}",
                )
                for i in indexes
            )
            continue
        q = found_q
        if len(indexes) > q.max:
            out.extend(
                Finding(
                    QUESTION_REPEATED,
                    ("answers", i),
                    f"question {q.label} may occur at most {_times(q.max)} in {cat.type}; "
                    f"found {len(indexes)}",
                )
                for i in indexes[q.max :]
            )
        seen_codes: dict[str, set[str]] = {}
        for i in indexes:
            _answer(answers[i], i, q, today, seen_codes, out)


def _waivers(cert: Certificate) -> dict[str, bool]:
    """Whether svar 27 (smittbärarpenning) waives the questions marked in the catalogue."""
    carriers = cert.answers_to(INFECTION_CARRIER_QUESTION)
    if not carriers:
        return {"true": False, "answered": False}
    applies = carriers[0].part(f"{INFECTION_CARRIER_QUESTION}.1")
    not_false = applies is None or (
        isinstance(applies.value, str) and parse_boolean(applies.value) is True
    )
    return {"true": not_false, "answered": True}


def _waiver_note(q: Question) -> str:
    if q.waived_by_infection_carrier == "true":
        return " unless the certificate is for smittbärarpenning (27.1 = true)"
    if q.waived_by_infection_carrier == "answered":
        return " unless question 27 (smittbärarpenning) is answered"
    return ""


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _answer(
    answer: Answer,
    i: int,
    q: Question,
    today: date,
    seen_codes: dict[str, set[str]],
    out: list[Finding],
) -> None:
    instance = answer.instance
    if instance is None:
        if q.instance:
            out.append(
                Finding(INSTANCE, ("answers", i), f"question {q.label} must have an instans number")
            )
    elif instance < 1:
        out.append(
            Finding(
                INSTANCE,
                ("answers", i, "instance"),
                f"instans of question {q.id} is {instance}; it must be 1 or more",
            )
        )

    specs = q.parts
    present: dict[str, int] = {}
    for j, sub in enumerate(answer.parts):
        part_id = sub.id
        spec = specs.get(part_id)
        if spec is None:
            out.append(
                Finding(
                    PART_UNKNOWN,
                    ("answers", i, "parts", j),
                    f"{part_id!r} is not a sub-answer of question {q.label}; expected "
                    + ", ".join(specs),
                )
            )
            continue
        if part_id in present:
            out.append(
                Finding(
                    PART_REPEATED,
                    ("answers", i, "parts", j),
                    f"{spec.label} is given more than once",
                )
            )
            continue
        present[part_id] = j
        value = sub.value
        problems = _value(value, spec, today)
        if problems:  # rare: only now build the model path
            out.extend(
                Finding(rule, ("answers", i, "parts", j, "value", *tail), message)
                for rule, message, tail in problems
            )
        if spec.unique and isinstance(value, Code):
            code = value.code.strip()
            used = seen_codes.setdefault(spec.id, set())
            if code in used:
                out.append(
                    Finding(
                        CODE_REPEATED,
                        ("answers", i, "parts", j, "value", "code"),
                        f"{spec.label}: code {code} is already used by another instance of "
                        f"question {q.id}",
                    )
                )
            used.add(code)
    for spec in q.required_parts:
        if spec.id not in present:
            out.append(
                Finding(PART_MISSING, ("answers", i), f"question {q.label} must have {spec.label}")
            )
    if q.dependent_parts:
        _dependencies(answer, ("answers", i), q, present, out)


#: A problem with one value: the rule, the message and the path below the value's own path
#: (e.g. ("code",)). Value checks return these instead of findings so that the model path is
#: built only for the rare value that is wrong.
Problem = tuple[Rule, str, tuple[str, ...]]
_FINE: tuple[Problem, ...] = ()


# The value types as constants: an enum member looked up on its class costs more than the
# comparison it is used for.
_TEXT: Final = ValueType.TEXT
_BOOLEAN: Final = ValueType.BOOLEAN
_DATE_TYPE: Final = ValueType.DATE
_CODE: Final = ValueType.CODE
_PERIOD: Final = ValueType.PERIOD
_QUANTITY: Final = ValueType.QUANTITY


def _value(value: object, spec: Part, today: date) -> Sequence[Problem]:
    kind = spec.type
    if kind is _TEXT and isinstance(value, str):  # most parts: free text
        return _FINE if value.strip() else ((VALUE_EMPTY, f"{spec.label} must not be empty", ()),)
    if kind is _CODE:
        if isinstance(value, Code):
            return _code(value, spec)
    elif kind is _PERIOD:
        if isinstance(value, Period):
            return _period(value, spec)
    elif kind is _QUANTITY:
        if isinstance(value, Quantity):
            return _quantity(value, spec)
    elif isinstance(value, str):
        return _text(value, spec, today)
    return ((VALUE_TYPE, f"{spec.label} must be {_KIND_NAMES[kind]}", ()),)


_KIND_NAMES = {
    ValueType.TEXT: "free text",
    ValueType.BOOLEAN: "a boolean (true/false)",
    ValueType.DATE: "a date (YYYY-MM-DD)",
    ValueType.CODE: "a code (cv)",
    ValueType.PERIOD: "a period (datePeriod)",
    ValueType.QUANTITY: "a quantity (pq)",
}


def _text(value: str, spec: Part, today: date) -> Sequence[Problem]:
    kind = spec.type
    if kind is _BOOLEAN:
        if parse_boolean(value) is None:
            return (
                (VALUE_BOOLEAN, f"{spec.label} is {value!r}; expected true, false, 1 or 0", ()),
            )
    elif kind is _DATE_TYPE:
        parsed = _parse_date(value)
        if parsed is None:
            return ((VALUE_DATE, f"{spec.label} is {value!r}; expected a date YYYY-MM-DD", ()),)
        if spec.not_after_today and parsed > today:
            return (
                (DATE_IN_FUTURE, f"{spec.label} is {parsed.isoformat()}, later than today", ()),
            )
    elif not value.strip():
        return ((VALUE_EMPTY, f"{spec.label} must not be empty", ()),)
    return _FINE


def _parse_date(value: str) -> date | None:
    m = _DATE.match(value.strip())
    if m is None:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def _code(value: Code, spec: Part) -> Sequence[Problem]:
    system = (value.system or "").strip()
    code = value.code.strip()
    pattern, max_length = spec.code_pattern, spec.code_max_length
    if (
        (not spec.code_systems or system in spec.code_systems)
        and (spec.codes is None or code in spec.codes)
        and (pattern is None or pattern.match(code))
        and (max_length is None or len(code) <= max_length)
    ):
        return _FINE  # the common case, decided without building a message
    problems: list[Problem] = []
    if spec.code_systems and system not in spec.code_systems:
        expected = " or ".join(sorted(spec.code_systems))
        problems.append(
            (
                CODE_SYSTEM,
                f"{spec.label}: code system is {system!r}; expected {expected}"
                if system
                else f"{spec.label}: code system missing; expected {expected}",
                ("system",),
            )
        )
    if spec.codes is not None and code not in spec.codes:
        problems.append(
            (
                CODE_UNKNOWN,
                f"{spec.label}: {code!r} is not one of " + ", ".join(sorted(spec.codes)),
                ("code",),
            )
        )
    if spec.code_pattern is not None and not spec.code_pattern.match(code):
        problems.append(
            (
                DIAGNOSIS_CODE_FORMAT,
                f"{spec.label}: {code!r} is not a diagnosis code (letter, two digits, then "
                "letters, digits or '-'; F and Z73 codes need at least four positions)",
                ("code",),
            )
        )
    elif spec.code_max_length is not None and len(code) > spec.code_max_length:
        problems.append(
            (
                DIAGNOSIS_CODE_FORMAT,
                f"{spec.label}: {code!r} is longer than {spec.code_max_length} characters",
                ("code",),
            )
        )
    return problems


def _period(value: Period, spec: Part) -> Sequence[Problem]:
    if value.start is None or value.end is None:
        missing = " and ".join(
            n for n, v in (("start", value.start), ("end", value.end)) if v is None
        )
        return ((PERIOD_INCOMPLETE, f"{spec.label} has no {missing} date", ()),)
    if value.start > value.end:
        return (
            (
                PERIOD_ORDER,
                f"{spec.label} starts {value.start.isoformat()} but ends "
                f"{value.end.isoformat()}, before it starts",
                (),
            ),
        )
    return _FINE


def _quantity(value: Quantity, spec: Part) -> Sequence[Problem]:
    v = value.value
    low = spec.min_value if spec.min_value is not None else float("-inf")
    high = spec.max_value if spec.max_value is not None else float("inf")
    if not (low <= v <= high) or (spec.integral and not float(v).is_integer()):
        whole = "a whole number " if spec.integral else "a number "
        return (
            (
                VALUE_RANGE,
                f"{spec.label} is {v:g}; expected {whole}from {low:g} to {high:g}",
                ("value",),
            ),
        )
    return _FINE


def _dependencies(
    answer: Answer, at: ModelPath, q: Question, present: dict[str, int], out: list[Finding]
) -> None:
    parts = answer.parts

    def holds(cond: Condition) -> bool | None:
        # Condition.holds without scanning the parts again: ``present`` has the index of each
        # known part's first occurrence, which is the one Answer.part returns.
        k = present.get(cond.part)
        return None if k is None else comparable_value(parts[k].value) in cond.values

    for spec in q.dependent_parts:
        j = present.get(spec.id)
        cond = spec.required_when
        if j is None and cond is not None and holds(cond):
            out.append(
                Finding(
                    DEPENDENT_PART_MISSING,
                    at,
                    f"{spec.label} is required when {_cond_text(q, cond.part, cond.values)}",
                )
            )
        for needed in spec.requires:
            if j is not None and needed not in present:
                out.append(
                    Finding(
                        DEPENDENT_PART_MISSING,
                        at,
                        f"{q.parts[needed].label} is required when {spec.label} is given",
                    )
                )
        if j is None:
            continue
        cond = spec.forbidden_when
        if cond is not None and holds(cond):
            when = _cond_text(q, cond.part, cond.values)
            out.append(
                Finding(
                    DEPENDENT_PART_UNEXPECTED,
                    (*at, "parts", j),
                    f"{spec.label} must not be given when {when}",
                )
            )
        cond = spec.allowed_only_when
        if cond is not None and holds(cond) is False:
            when = _cond_text(q, cond.part, cond.values)
            out.append(
                Finding(
                    DEPENDENT_PART_UNEXPECTED,
                    (*at, "parts", j),
                    f"{spec.label} may only be given when {when}",
                )
            )


def _cond_text(q: Question, part_id: str, values: frozenset[str]) -> str:
    other = q.parts[part_id]
    return f"{other.label} is " + " or ".join(sorted(values))
