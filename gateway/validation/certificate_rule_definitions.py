"""The business rules of medical certificates (FK7804, AG7804, AG1-14): code, title,
explanation and source of each, declared once (``gateway explain``, docs/rules.md). The checks
are in :mod:`certificate_catalogue_rules` (what the question catalogue says) and
:mod:`certificate_cross_rules` (rules across questions); :mod:`certificate_rules` runs them.
"""

from __future__ import annotations

from gateway.documents.issues import RULES, Rule, RuleKind


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
