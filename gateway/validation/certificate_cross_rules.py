"""The certificate rules across questions: what the question catalogue cannot say as data
(current work and occupation, measures, working time and sick-leave level, the diagnosis and
the patient's wish to share it, diagnosis code systems, overlapping sick-leave periods).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from gateway.documents.certificate import Answer, Certificate, CertificateType
from gateway.documents.common import Code, Period
from gateway.documents.issues import Finding
from gateway.documents.questions import (
    INFECTION_CARRIER_QUESTION,
    Catalogue,
    comparable_value,
    parse_boolean,
)
from gateway.validation.certificate_rule_definitions import (
    AG114_DIAGNOSIS_OPTOUT,
    AG7804_DIAGNOSIS_OPTOUT,
    CURRENT_WORK,
    DIAGNOSIS_CODE_SYSTEM_MIXED,
    DIAGNOSIS_MISSING,
    MEASURES_NOT_RELEVANT_COMBINED,
    MEASURES_NOT_RELEVANT_DESCRIBED,
    PERIOD_OVERLAP,
    WORKING_TIME,
)

_PARTIAL_LEVELS = frozenset({"TRE_FJARDEDEL", "HALFTEN", "EN_FJARDEDEL"})
_NOT_RELEVANT = "EJ_AKTUELLT"
_CURRENT_WORK = "NUVARANDE_ARBETE"


#: Answer indexes per question id, in document order (see :func:`certificate_rules.check`).
ByQuestion = dict[str, list[int]]


def cross_question_rules(cert: Certificate, cat: Catalogue, by: ByQuestion) -> Iterator[Finding]:
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
