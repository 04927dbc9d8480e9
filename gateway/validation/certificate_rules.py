"""Business rules of medical certificates (FK7804, AG7804, AG1-14).

Inera's Schematron files (lisjp.v1.sch, ag7804.v1.sch, ag114.v1.sch) are the specification.
Most of their assertions are the same few checks over different ids (how many times a question
or part may occur, which code system and codes a part takes, which parts depend on which), so
they are data in the question catalogue (``gateway.documents.questions``) and checked here by
one generic pass. What data cannot say (rules across questions) is a small function each.

Findings point to the most precise model path: ``("answers", i, "parts", j, "value")`` for a
bad value, ``("answers", i)`` for an answer, ``("answers",)`` for something missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date

from gateway.documents.certificate import Answer, Certificate, CertificateType, Quantity
from gateway.documents.common import Code, Identifier, Period
from gateway.documents.identity import HSA_ID_OID
from gateway.documents.issues import RULES, Finding, ModelPath, Rule, RuleKind
from gateway.documents.questions import (
    INFECTION_CARRIER_QUESTION,
    Catalogue,
    Condition,
    Part,
    Question,
    ValueType,
    catalogue,
    comparable_value,
    parse_boolean,
)
from gateway.validation.identity_rules import check_hsa_id, check_person_id


def _define(code: str, title: str, explanation: str, source: str) -> Rule:
    return RULES.define(code, title, RuleKind.BUSINESS, explanation, source=source)


# --- rules checked from the catalogue ------------------------------------------------------

QUESTION_UNKNOWN = _define(
    "CERT-QUESTION-UNKNOWN",
    "Question id not part of the certificate type",
    "Every svar id must be one the certificate type defines (e.g. FK7804 has 1, 6, 17, 19, 20, "
    "25-29, 32-35, 37, 39, 40, 44 and supplementary questions 9001-9999; AG7804 replaces 26 "
    "with 103 and adds 100). An unknown question cannot be understood by the recipient.",
    "lisjp.v1.sch intyg (svarsIdExpr), ag7804.v1.sch intyg (svarsIdExpr)",
)
QUESTION_MISSING = _define(
    "CERT-QUESTION-MISSING",
    "Required question missing",
    "The certificate type requires this question (svar). Some questions are waived for a "
    "certificate about smittbärarpenning (svar 27, 27.1 = true).",
    "intyg (count(gn:svar) assertions), q27.1; ag114.v1.sch intyg",
)
QUESTION_REPEATED = _define(
    "CERT-QUESTION-REPEATED",
    "Question answered too many times",
    "The question (svar) occurs more often than the certificate type allows, e.g. more than 4 "
    "sick-leave periods (32) or more than one prognosis (39). A supplementary question may "
    "occur only once per id.",
    "intyg (count(gn:svar) assertions), q9000; ag114.v1.sch intyg",
)
INSTANCE = _define(
    "CERT-INSTANCE",
    "Instance number missing or not positive",
    "Repeatable questions (e.g. 1, 28, 32, 40 in FK7804/AG7804; 10 and 4 in AG1-14) must carry "
    "an instans number, and every instans number must be 1 or more.",
    "instans-pattern, q1, q28, q32, q40, ag114.v1.sch q10, q4.instans",
)
PART_UNKNOWN = _define(
    "CERT-PART-UNKNOWN",
    "Sub-answer id not part of the question",
    "Every delsvar id must be one the question defines, e.g. 32.1 and 32.2 for question 32.",
    "delsvarsIdExpr of each question pattern",
)
PART_MISSING = _define(
    "CERT-PART-MISSING",
    "Required sub-answer missing",
    "The question requires this delsvar, e.g. a sick-leave period (32) needs both its level "
    "(32.1) and its period (32.2).",
    "qN patterns (count(gn:delsvar) = 1), ag7804.v1.sch intyg (100.1)",
)
PART_REPEATED = _define(
    "CERT-PART-REPEATED",
    "Sub-answer given more than once",
    "A delsvar may occur at most once in its answer.",
    "qN patterns (count(gn:delsvar) = 1 / le 1)",
)
VALUE_TYPE = _define(
    "CERT-VALUE-TYPE",
    "Sub-answer has the wrong kind of value",
    "Each delsvar has one kind of value: free text, a boolean, a date, a code (cv), a period "
    "(datePeriod) or a quantity (pq). This one holds another kind.",
    "non-empty-string-pattern, boolean-pattern, date-pattern, cv-pattern, period-pattern, "
    "pq-pattern",
)
VALUE_EMPTY = _define(
    "CERT-VALUE-EMPTY",
    "Text is empty",
    "A free-text delsvar must hold some text; whitespace alone does not count.",
    "non-empty-string-pattern",
)
VALUE_BOOLEAN = _define(
    "CERT-VALUE-BOOLEAN",
    "Not a boolean",
    "A yes/no delsvar must be 'true', 'false', '1' or '0'.",
    "boolean-pattern, ag7804.v1.sch q100.1",
)
VALUE_DATE = _define(
    "CERT-VALUE-DATE",
    "Not a valid date",
    "A date must be a real calendar date written YYYY-MM-DD.",
    "date-pattern",
)
VALUE_RANGE = _define(
    "CERT-VALUE-RANGE",
    "Quantity out of range",
    "AG1-14's reduction of work capacity (7.1) is a whole percentage from 0 to 100.",
    "ag114.v1.sch q7.1",
)
DATE_IN_FUTURE = _define(
    "CERT-DATE-IN-FUTURE",
    "Date later than today",
    "AG7804: the date of an examination or other basis for the certificate (1.2) cannot be "
    "later than today.",
    "ag7804.v1.sch R35-1.2",
)
CODE_SYSTEM = _define(
    "CERT-CODE-SYSTEM",
    "Wrong code system",
    "A coded delsvar must name its code system, and the right one: e.g. KV_FKMU_0003 for the "
    "sick-leave level (32.1), ICD-10-SE (1.2.752.116.1.1.1.1.3) or KSH97-P "
    "(1.2.752.116.1.3.1.4.1) for a diagnosis code.",
    "cv-pattern, qN.N patterns (codeSystem), q6.2, q6.4, q6.6, ag114.v1.sch q4.2-R3-R4",
)
CODE_UNKNOWN = _define(
    "CERT-CODE-UNKNOWN",
    "Code not in the value set",
    "A coded delsvar must use one of the codes of its value set, e.g. HELT_NEDSATT, "
    "TRE_FJARDEDEL, HALFTEN or EN_FJARDEDEL for the sick-leave level (KV_FKMU_0003). AG7804 "
    "allows fewer measures (40.1) than FK7804; AG1-14 allows only NUVARANDE_ARBETE for 1.1.",
    "qN.N patterns (code values)",
)
CODE_REPEATED = _define(
    "CERT-CODE-REPEATED",
    "Same code used by two instances",
    "Repeatable questions may be answered with several codes but each code only once: the "
    "same basis type (1.1/10.1), occupation (28.1), sick-leave level (32.1) or measure (40.1) "
    "cannot occur twice.",
    "q1, q28.1-R5, q32.1-R22, q40.1-R29, ag114.v1.sch q10",
)
DIAGNOSIS_CODE_FORMAT = _define(
    "CERT-DIAGNOSIS-CODE-FORMAT",
    "Diagnosis code malformed",
    "A diagnosis code is a letter and two digits followed by letters, digits or '-' (at least "
    "three positions; codes starting with F or Z73 need at least four), without a dot. In "
    "FK7804 and AG7804 it is at most 5 characters.",
    "q6.2, q6.4, q6.6, ag114.v1.sch q4.2-R3-R4",
)
DEPENDENT_PART_MISSING = _define(
    "CERT-DEPENDENT-PART-MISSING",
    "Sub-answer required by another answer missing",
    "Some delsvar are required by the value of another: 1.3 (what other basis) when 1.1 is "
    "ANNAT; 39.3 (days until return) when 39.1 is ATER_X_ANTAL_DGR; 33.2 when 33.1 is true; "
    "a secondary diagnosis needs both its text and its code (6.3/6.4, 6.5/6.6, 4.1/4.2) and "
    "the second secondary diagnosis needs the first; AG1-14 6.2 when 6.1 is true and 9.2 when "
    "9.1 is true.",
    "q1.1-1.3, q39.1-39.3, q33.1-33.2, q6.3-6.4, q6.5-6.6-6.3, ag114.v1.sch q10.1-10.3, "
    "q4.1, q4.2, q6.2-R1, q9.2-R2",
)
DEPENDENT_PART_UNEXPECTED = _define(
    "CERT-DEPENDENT-PART-UNEXPECTED",
    "Sub-answer not allowed by another answer",
    "Some delsvar may only be given when another has a certain value: 1.3 only when 1.1 is "
    "ANNAT; 39.3 only when 39.1 is ATER_X_ANTAL_DGR; 33.2 not when 33.1 is false; the reason "
    "for contact (26.2, 103.2) not when contact is not wanted.",
    "q1.3, q39.1-39.3, q33.1-33.2, q26.1-26.2, ag7804.v1.sch q103.1-103.2, ag114.v1.sch q10.3",
)
PERIOD_INCOMPLETE = _define(
    "CERT-PERIOD-INCOMPLETE",
    "Period without start or end",
    "A period (e.g. of sick leave, 32.2 or 7.2) needs both a start and an end date.",
    "period-pattern",
)
PERIOD_ORDER = _define(
    "CERT-PERIOD-ORDER",
    "Period ends before it starts",
    "A period's start date must be on or before its end date.",
    "period-pattern",
)
PERIOD_OVERLAP = _define(
    "CERT-PERIOD-OVERLAP",
    "Sick-leave periods overlap",
    "The sick-leave periods (32.2) of one certificate must not overlap: each day has one "
    "sick-leave level. Dates are inclusive, so a period may start the day after the previous "
    "one ends but not on the same day.",
    "lisjp.v1.sch q32, ag7804.v1.sch q32",
)

# --- rules across questions ----------------------------------------------------------------

CURRENT_WORK = _define(
    "CERT-CURRENT-WORK",
    "Current work and occupation disagree",
    "Question 29 (Nuvarande arbete: profession and tasks) is answered exactly when the "
    "occupation (28.1) is NUVARANDE_ARBETE (current work).",
    "q28.1-q29",
)
MEASURES_NOT_RELEVANT_COMBINED = _define(
    "CERT-MEASURES-NOT-RELEVANT-COMBINED",
    "'Inte aktuellt' combined with measures",
    "Work-oriented measures (40.1) answered EJ_AKTUELLT (not relevant) cannot be combined "
    "with any other measure.",
    "q40",
)
MEASURES_NOT_RELEVANT_DESCRIBED = _define(
    "CERT-MEASURES-NOT-RELEVANT-DESCRIBED",
    "Measures described although not relevant",
    "When work-oriented measures (40.1) are EJ_AKTUELLT (not relevant), question 44 "
    "(description of the relevant measures) must not be answered.",
    "q40.1-44",
)
WORKING_TIME = _define(
    "CERT-WORKING-TIME",
    "Working-time arrangement and sick-leave level disagree",
    "Question 33 (Arbetstidsförläggning: spreading the working time differently) is required "
    "when some sick-leave period (32.1) is partial (TRE_FJARDEDEL, HALFTEN, EN_FJARDEDEL), "
    "unless the certificate is for smittbärarpenning (27.1 = true), and is allowed only then.",
    "q32.1-33, q32.1-33.1-R26",
)
DIAGNOSIS_MISSING = _define(
    "CERT-DIAGNOSIS-MISSING",
    "Diagnosis to be shared is missing",
    "The patient wants the diagnosis passed on to the employer (AG7804 100.1, AG1-14 3.1 = "
    "true), so the certificate must state it (AG7804 question 6, AG1-14 question 4).",
    "ag7804.v1.sch q100.1-true, ag114.v1.sch q4-R14",
)
AG7804_DIAGNOSIS_OPTOUT = _define(
    "CERT-AG7804-DIAGNOSIS-OPTOUT",
    "Diagnosis present although the patient declined to share it",
    "AG7804 goes to the employer. The patient answered 100.1 'Önskar förmedla diagnos' with "
    "no (or not yes), so the certificate must not contain any diagnosis (question 6): the "
    "employer is not entitled to it. Remove question 6, or record the patient's consent as "
    "100.1 = true.",
    "ag7804.v1.sch intyg, q100.1-false",
)
AG114_DIAGNOSIS_OPTOUT = _define(
    "CERT-AG114-DIAGNOSIS-OPTOUT",
    "Diagnosis present although the patient declined to share it",
    "AG1-14 goes to the employer. The patient answered 3.1 'Önskar förmedla diagnoser' with "
    "no, so the certificate must not contain any diagnosis (question 4). ag114.v1.sch has no "
    "such assertion; the gateway applies AG7804's rule, since the employer is no more entitled "
    "to the diagnosis during the sick-pay period.",
    "gateway, by analogy with ag7804.v1.sch q100.1-false",
)
DIAGNOSIS_CODE_SYSTEM_MIXED = _define(
    "CERT-DIAGNOSIS-CODE-SYSTEM-MIXED",
    "Diagnosis codes from different code systems",
    "The main diagnosis code (6.2) and the secondary ones (6.4, 6.6) must use the same code "
    "system (all ICD-10-SE or all KSH97-P).",
    "q6.2-6.4-6.6-R12",
)

_PARTIAL_LEVELS = frozenset({"TRE_FJARDEDEL", "HALFTEN", "EN_FJARDEDEL"})
_NOT_RELEVANT = "EJ_AKTUELLT"
_CURRENT_WORK = "NUVARANDE_ARBETE"
# xs:date as Schematron accepts it: YYYY-MM-DD, optionally with a time zone.
_DATE = re.compile(r"^(\d{4}-\d\d-\d\d)(Z|[+-]\d\d:\d\d)?$")


# --- the entry point -----------------------------------------------------------------------


def check(document: Certificate, *, today: date | None = None) -> Iterator[Finding]:
    """Every business-rule finding of a certificate. ``today`` is for tests (R35-1.2)."""
    cat = catalogue(document.type)
    # One pass groups the answers by question id; every rule below looks answers up here
    # instead of scanning all of them again.
    by_question: dict[str, list[int]] = {}
    for i, answer in enumerate(document.answers):
        by_question.setdefault(answer.id, []).append(i)
    yield from _identities(document)
    found: list[Finding] = []
    _catalogue_rules(document, cat, today or date.today(), by_question, found)
    yield from found
    yield from _cross_question_rules(document, cat, by_question)


def _identities(cert: Certificate) -> Iterator[Finding]:
    yield from check_person_id(cert.patient.id, ("patient", "id"))
    # HSA-ids: only the identifier system. Inera's own reference certificates carry made-up
    # values ("123456789") that any real HSA catalogue rejects anyway.
    unit = cert.issuer.unit
    ids: list[tuple[Identifier | None, ModelPath]] = [
        (cert.issuer.id, ("issuer", "id")),
        (unit.id, ("issuer", "unit", "id")),
        (unit.care_provider.id, ("issuer", "unit", "care_provider", "id")),
    ]
    for ident, path in ids:
        if ident is not None and ident.system != HSA_ID_OID:
            yield from check_hsa_id(ident, path)


# --- catalogue-driven checks ---------------------------------------------------------------


def _catalogue_rules(
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
    at: ModelPath = ("answers", i)
    if answer.instance is None:
        if q.instance:
            out.append(Finding(INSTANCE, at, f"question {q.label} must have an instans number"))
    elif answer.instance < 1:
        out.append(
            Finding(
                INSTANCE,
                (*at, "instance"),
                f"instans of question {q.id} is {answer.instance}; it must be 1 or more",
            )
        )

    specs = q.parts
    present: dict[str, int] = {}
    for j, sub in enumerate(answer.parts):
        spec = specs.get(sub.id)
        if spec is None:
            out.append(
                Finding(
                    PART_UNKNOWN,
                    ("answers", i, "parts", j),
                    f"{sub.id!r} is not a sub-answer of question {q.label}; expected "
                    + ", ".join(specs),
                )
            )
            continue
        if sub.id in present:
            out.append(
                Finding(
                    PART_REPEATED,
                    ("answers", i, "parts", j),
                    f"{spec.label} is given more than once",
                )
            )
            continue
        present[sub.id] = j
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
            out.append(Finding(PART_MISSING, at, f"question {q.label} must have {spec.label}"))
    if q.dependent_parts:
        _dependencies(answer, at, q, present, out)


#: A problem with one value: the rule, the message and the path below the value's own path
#: (e.g. ("code",)). Value checks return these instead of findings so that the model path is
#: built only for the rare value that is wrong.
Problem = tuple[Rule, str, tuple[str, ...]]
_FINE: tuple[Problem, ...] = ()


def _value(value: object, spec: Part, today: date) -> Sequence[Problem]:
    kind = spec.type
    if kind is ValueType.TEXT and isinstance(value, str):  # most parts: free text
        return _FINE if value.strip() else ((VALUE_EMPTY, f"{spec.label} must not be empty", ()),)
    if kind is ValueType.CODE:
        if isinstance(value, Code):
            return _code(value, spec)
    elif kind is ValueType.PERIOD:
        if isinstance(value, Period):
            return _period(value, spec)
    elif kind is ValueType.QUANTITY:
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
    if spec.type is ValueType.BOOLEAN:
        if parse_boolean(value) is None:
            return (
                (VALUE_BOOLEAN, f"{spec.label} is {value!r}; expected true, false, 1 or 0", ()),
            )
    elif spec.type is ValueType.DATE:
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


# --- rules across questions ----------------------------------------------------------------


#: Answer indexes per question id, in document order (see :func:`check`).
ByQuestion = dict[str, list[int]]


def _cross_question_rules(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
    yield from _current_work(cert, cat, by)
    yield from _measures(cert, cat, by)
    yield from _working_time(cert, cat, by)
    yield from _diagnosis_sharing(cert, cat, by)
    yield from _diagnosis_code_systems(cert, cat, by)
    yield from _period_overlap(cert, cat, by)


def _codes(cert: Certificate, by: ByQuestion, question_id: str) -> list[tuple[int, int, str]]:
    """(answer index, part index, code) of every coded part of a question's answers."""
    answers = cert.answers
    return [
        (i, j, sub.value.code.strip())
        for i in by.get(question_id, ())
        for j, sub in enumerate(answers[i].parts)
        if isinstance(sub.value, Code)
    ]


def _answers_to(cert: Certificate, by: ByQuestion, question_id: str) -> list[Answer]:
    return [cert.answers[i] for i in by.get(question_id, ())]


def _current_work(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
    occupation, work = cat.by_name("occupation"), cat.by_name("occupation_description")
    if occupation is None or work is None or not occupation.instance:
        return  # AG1-14: 1.1 can only be NUVARANDE_ARBETE and 2 is always required
    current = [c for c in _codes(cert, by, occupation.id) if c[2] == _CURRENT_WORK]
    described = by.get(work.id, [])
    if current and not described:
        yield Finding(
            CURRENT_WORK,
            ("answers",),
            f"question {work.label} is required when {occupation.id}.1 is {_CURRENT_WORK}",
        )
    if described and not current:
        yield Finding(
            CURRENT_WORK,
            ("answers", described[0]),
            f"question {work.label} may only be answered when {occupation.id}.1 is {_CURRENT_WORK}",
        )


def _measures(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
    measures, described = cat.by_name("measures"), cat.by_name("measures_description")
    if measures is None:
        return
    codes = _codes(cert, by, measures.id)
    not_relevant = [c for c in codes if c[2] == _NOT_RELEVANT]
    if not not_relevant:
        return
    i, j, _ = not_relevant[0]
    if any(c[2] != _NOT_RELEVANT for c in codes):
        yield Finding(
            MEASURES_NOT_RELEVANT_COMBINED,
            ("answers", i, "parts", j, "value", "code"),
            f"{measures.id}.1 {_NOT_RELEVANT} (not relevant) cannot be combined with other "
            "measures",
        )
    if described is not None:
        for k in by.get(described.id, ()):
            yield Finding(
                MEASURES_NOT_RELEVANT_DESCRIBED,
                ("answers", k),
                f"question {described.label} must not be answered when {measures.id}.1 is "
                f"{_NOT_RELEVANT}",
            )


def _working_time(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
    arrangement, sick_leave = cat.by_name("working_time_arrangement"), cat.by_name("sick_leave")
    if arrangement is None or sick_leave is None:
        return
    partial = [c for c in _codes(cert, by, sick_leave.id) if c[2] in _PARTIAL_LEVELS]
    arranged = by.get(arrangement.id, [])
    if partial and not arranged and not _infection_carrier_true(cert, by):
        yield Finding(
            WORKING_TIME,
            ("answers",),
            f"question {arrangement.label} is required when a sick-leave level "
            f"({sick_leave.id}.1) is {partial[0][2]}",
        )
    if arranged and not partial:
        yield Finding(
            WORKING_TIME,
            ("answers", arranged[0]),
            f"question {arrangement.label} may only be answered when a sick-leave level "
            f"({sick_leave.id}.1) is " + ", ".join(sorted(_PARTIAL_LEVELS)),
        )


def _infection_carrier_true(cert: Certificate, by: ByQuestion) -> bool:
    return any(
        sub.id == f"{INFECTION_CARRIER_QUESTION}.1"
        and isinstance(sub.value, str)
        and parse_boolean(sub.value) is True
        for a in _answers_to(cert, by, INFECTION_CARRIER_QUESTION)
        for sub in a.parts
    )


def _diagnosis_sharing(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
    share, diagnoses = cat.by_name("share_diagnosis"), cat.by_name("diagnoses")
    if share is None or diagnoses is None:
        return
    share_part = next(iter(share.parts.values()))
    answer = next(iter(_answers_to(cert, by, share.id)), None)
    sub = answer.part(share_part.id) if answer else None
    wanted = comparable_value(sub.value) if sub else None
    stated = by.get(diagnoses.id, [])
    if wanted == "true" and not stated:
        yield Finding(
            DIAGNOSIS_MISSING,
            ("answers",),
            f"{share_part.label} is true, so question {diagnoses.label} must be answered",
        )
    if not stated or wanted == "true":
        return
    if cat.type is CertificateType.AG7804:
        said = "no" if wanted == "false" else "not yes"
        for i in stated:
            yield Finding(
                AG7804_DIAGNOSIS_OPTOUT,
                ("answers", i),
                f"the patient answered {said} to {share_part.label} (the diagnosis must not "
                f"be passed on to the employer), but question {diagnoses.label} is answered",
            )
    elif wanted == "false":
        for i in stated:
            yield Finding(
                AG114_DIAGNOSIS_OPTOUT,
                ("answers", i),
                f"the patient answered no to {share_part.label} (the diagnosis must not be "
                f"passed on to the employer), but question {diagnoses.label} is answered",
            )


def _diagnosis_code_systems(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
    # only the diagnosis questions' answers, still in document order
    diagnosis = sorted(i for qid in cat.diagnosis_questions for i in by.get(qid, ()))
    for i in diagnosis:
        answer = cert.answers[i]
        q = cat.questions[answer.id]
        first: str | None = None
        for j, sub in enumerate(answer.parts):
            spec = q.parts.get(sub.id)
            if spec is None or not spec.diagnosis or not isinstance(sub.value, Code):
                continue
            system = (sub.value.system or "").strip()
            if first is None:
                first = system
            elif system != first:
                yield Finding(
                    DIAGNOSIS_CODE_SYSTEM_MIXED,
                    ("answers", i, "parts", j, "value", "system"),
                    f"{spec.label} uses code system {system!r} but the main diagnosis uses "
                    f"{first!r}",
                )


def _period_overlap(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
    q = cat.by_name("sick_leave")
    if q is None or q.max < 2:
        return
    seen: list[tuple[date, date]] = []
    for i in by.get(q.id, ()):
        for j, sub in enumerate(cert.answers[i].parts):
            v = sub.value
            if not isinstance(v, Period) or v.start is None or v.end is None or v.start > v.end:
                continue
            clash = next(((s, e) for s, e in seen if v.start <= e and s <= v.end), None)
            if clash is not None:
                yield Finding(
                    PERIOD_OVERLAP,
                    ("answers", i, "parts", j, "value"),
                    f"sick-leave period {v.start.isoformat()}–{v.end.isoformat()} overlaps "
                    f"{clash[0].isoformat()}–{clash[1].isoformat()}",
                )
            seen.append((v.start, v.end))


__all__ = ["check"]
