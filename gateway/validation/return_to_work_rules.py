"""Business rules of the employer's plan for return to work (plan för återgång i arbete).

30 kap. 6 § SFB: the plan is due no later than the day the work capacity has been reduced
for 30 days, when it can be assumed to stay reduced for at least 60 days, unless it is
clearly evident that the employee cannot return at all. Contents: seed 003, annex 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta

from gateway.documents.identity import ORGANISATIONSNUMMER_OID
from gateway.documents.issues import RULES, Finding, RuleKind
from gateway.documents.return_to_work import ReturnToWorkPlan
from gateway.validation.consent_rules import check_consent, document_time
from gateway.validation.identity_rules import check_organisation_number, check_person_id

_LAW = "30 kap. 6 § SFB"
_SEED = (
    "SKR, rekommendation om 4 § lagen om koordineringsinsatser, bilaga 2 (seed 003); "
    "Nationellt kunskapsstöd, tabell 4 (seed 001)"
)
#: Day 30 of the sick period is the first day plus 29 days.
DEADLINE = timedelta(days=29)

PLAN_LATE = RULES.define(
    "RTW-PLAN-LATE",
    "Plan drawn up after day 30 of the sick period",
    RuleKind.BUSINESS,
    "When the work capacity can be assumed to be reduced for at least 60 days "
    "(`expectedLeave60DaysOrMore` true), the employer must draw up the plan no later than "
    "day 30 of the sick period: `planDate` at most `firstDayOfReducedCapacity` + 29 days. "
    "Not required when it is clearly evident that the employee cannot return at all "
    "(`planNotNeededReason`).",
    source=f"{_LAW}; {_SEED}",
)
EMPLOYER_ID = RULES.define(
    "RTW-EMPLOYER-ID",
    "Employer not identified by organisation number",
    RuleKind.BUSINESS,
    "The employer must be identified by its organisation number (system 2.5.4.97), e.g. "
    "556677-8899.",
)
MEASURE_PERIOD = RULES.define(
    "RTW-MEASURE-PERIOD",
    "Measure ends before it starts",
    RuleKind.BUSINESS,
    "A measure's period (when it happens) has an `end` earlier than its `start`.",
    source=_SEED,
)
NO_MEASURES = RULES.define(
    "RTW-NO-MEASURES",
    "Plan without measures",
    RuleKind.BUSINESS,
    "The plan must name at least one measure (part-time work, adjusted tasks or workplace, "
    "relocation, work aids, training, occupational health, ...) or, when it is clearly "
    "evident that the employee cannot return, give `planNotNeededReason`.",
    source=f"{_LAW}; {_SEED}",
)
FOLLOW_UP_MISSING = RULES.define(
    "RTW-FOLLOW-UP-MISSING",
    "Plan without a follow-up",
    RuleKind.BUSINESS,
    "The plan must say how and when employer and employee follow it up: at least one "
    "`followUp` (unless `planNotNeededReason` says no plan is needed).",
    source=_SEED,
)


def check(plan: ReturnToWorkPlan) -> Iterator[Finding]:
    yield from _check_employer(plan)
    yield from check_person_id(plan.employee.id, ("employee", "id"))
    needed = plan.plan_not_needed_reason is None
    # compare the distance, not first day + 29 (which overflows for a first day in 9999)
    late = plan.plan_date - plan.first_day_of_reduced_capacity > DEADLINE
    if needed and plan.expected_leave_60_days_or_more and late:
        due = plan.first_day_of_reduced_capacity + DEADLINE  # <= plan_date: in range
        yield Finding(
            PLAN_LATE,
            ("plan_date",),
            f"plan dated {plan.plan_date}, {(plan.plan_date - due).days} day(s) after day 30 "
            f"of the sick period ({due})",
        )
    for i, measure in enumerate(plan.measures):
        period = measure.period
        if period and period.start and period.end and period.end < period.start:
            yield Finding(
                MEASURE_PERIOD,
                ("measures", i, "period"),
                f"measure {measure.ref!r} ends {period.end} before it starts {period.start}",
            )
    if needed and not plan.measures:
        yield Finding(NO_MEASURES, (), "the plan names no measure and no reason why none")
    if needed and not plan.follow_ups:
        yield Finding(FOLLOW_UP_MISSING, (), "the plan says nothing about following it up")
    if plan.consent is not None:
        yield from check_consent(
            plan.consent,
            kind=plan.kind,
            document_id=plan.id,
            patient=plan.employee.id,
            at=document_time(datetime.combine(plan.plan_date, time.min)),
        )


def _check_employer(plan: ReturnToWorkPlan) -> Iterator[Finding]:
    ident = plan.employer.id
    if ident is None or ident.system != ORGANISATIONSNUMMER_OID:
        got = "no identifier" if ident is None else f"identifier system {ident.system!r}"
        yield Finding(
            EMPLOYER_ID,
            ("employer", "id") if ident else ("employer",),
            f"the employer has {got}; expected an organisation number ({ORGANISATIONSNUMMER_OID})",
        )
        return
    yield from check_organisation_number(ident.value, ("employer", "id", "value"))
