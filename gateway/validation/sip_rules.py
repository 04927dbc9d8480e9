"""Business rules of the SIP (samordnad individuell plan).

The plan is drawn up by the region and the municipality together when the patient needs
efforts from both and consents (2 kap. 7 § SoL, 16 kap. 4 § HSL); it states which efforts are
needed, which principal is responsible for each and who coordinates (seed 001).
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway.documents import consent
from gateway.documents.common import Identifier
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID
from gateway.documents.issues import RULES, Finding, ModelPath, RuleKind
from gateway.documents.sip import PrincipalType, Sip
from gateway.validation.consent_rules import check_consent, document_time
from gateway.validation.identity_rules import (
    check_hsa_id,
    check_organisation_number,
    check_person_id,
)

_LAW = "2 kap. 7 § SoL, 16 kap. 4 § HSL"
_SEED = "Nationellt kunskapsstöd, Samverkan med andra aktörer (seed 001)"

PRINCIPALS = RULES.define(
    "SIP-PRINCIPALS",
    "Region and municipality must both take part",
    RuleKind.BUSINESS,
    "A SIP is drawn up by the region and the municipality together: the plan needs at least "
    "one participant with principalType `region` and one with `municipality`.",
    source=_LAW,
)
EFFORT_RESPONSIBLE = RULES.define(
    "SIP-EFFORT-RESPONSIBLE",
    "Effort without a responsible principal",
    RuleKind.BUSINESS,
    "The plan must say which principal (huvudman) is responsible for each effort: give every "
    "`effort` a `responsible` naming a participant's `ref`.",
    source=f"{_LAW}; {_SEED}",
)
RESPONSIBLE_UNKNOWN = RULES.define(
    "SIP-RESPONSIBLE-UNKNOWN",
    "Responsible principal is not a participant",
    RuleKind.BUSINESS,
    "An effort's `responsible` must be the `ref` of one of the plan's participants: a "
    "principal that does not take part in the plan cannot be responsible for an effort in it.",
    source=f"{_LAW}; {_SEED}",
)
COORDINATOR_UNKNOWN = RULES.define(
    "SIP-COORDINATOR-UNKNOWN",
    "Coordinator is not a participant",
    RuleKind.BUSINESS,
    "`coordinator/participant` must be the `ref` of one of the plan's participants.",
    source=_SEED,
)
REF_DUPLICATE = RULES.define(
    "SIP-REF-DUPLICATE",
    "The same ref names two items",
    RuleKind.BUSINESS,
    "Every participant, need, goal and effort has a `ref` that is unique within the plan, so "
    "that references to it are unambiguous.",
)
REF_UNRESOLVED = RULES.define(
    "SIP-REF-UNRESOLVED",
    "Reference to an item that is not in the plan",
    RuleKind.BUSINESS,
    "A goal's `needRef` must name a need of the plan and an effort's `goalRef` a goal of the plan.",
)
FOLLOW_UP_BEFORE_CREATION = RULES.define(
    "SIP-FOLLOW-UP-BEFORE-CREATION",
    "Follow-up date before the plan was drawn up",
    RuleKind.BUSINESS,
    "`nextFollowUp` is earlier than the day the plan was drawn up (`createdAt`): a follow-up "
    "cannot precede the plan.",
    source=_SEED,
)
EFFORT_PERIOD = RULES.define(
    "SIP-EFFORT-PERIOD",
    "Effort ends before it starts",
    RuleKind.BUSINESS,
    "An effort's period has an `end` earlier than its `start`.",
)
CONSENT_MISSING = RULES.define(
    "SIP-CONSENT-MISSING",
    "SIP without the patient's consent",
    RuleKind.BUSINESS,
    "A SIP is drawn up only if the patient consents to it; the plan must carry the consent "
    "record (`consent`): who gave it, when, how and to which recipients.",
    source=f"{_LAW}; 4 kap. 2 § PL",
)
CONSENT_WITHDRAWN = RULES.define(
    "SIP-CONSENT-WITHDRAWN",
    "Consent to the SIP has been withdrawn",
    RuleKind.BUSINESS,
    "The consent's `withdrawnAt` (FHIR `provision.period.end`) has passed: the patient has "
    "taken it back, so the plan may no longer be shared. A withdrawal dated in the future "
    "does not stop it yet (policy reads the consent the same way, at the transfer's time).",
    source=_LAW,
)


def check(sip: Sip) -> Iterator[Finding]:
    yield from check_person_id(sip.patient.id, ("patient", "id"))
    types = {p.principal_type for p in sip.participants}
    missing = [t for t in (PrincipalType.REGION, PrincipalType.MUNICIPALITY) if t not in types]
    if missing:
        yield Finding(
            PRINCIPALS,
            ("participants",),
            f"no participant is a {' or a '.join(missing)}",
        )
    for i, p in enumerate(sip.participants):
        if p.organisation.id is not None:
            yield from _check_organisation_id(
                p.organisation.id, ("participants", i, "organisation", "id")
            )
    yield from _check_refs(sip)
    participants = {p.ref for p in sip.participants}
    if sip.coordinator.participant not in participants:
        yield Finding(
            COORDINATOR_UNKNOWN,
            ("coordinator", "participant"),
            f"coordinator {sip.coordinator.participant!r} is not a participant's ref",
        )
    for i, effort in enumerate(sip.efforts):
        if not effort.responsible:
            yield Finding(
                EFFORT_RESPONSIBLE,
                ("efforts", i),
                f"effort {effort.ref!r} names no responsible principal",
            )
        elif effort.responsible not in participants:
            yield Finding(
                RESPONSIBLE_UNKNOWN,
                ("efforts", i, "responsible"),
                f"effort {effort.ref!r}: responsible {effort.responsible!r} is not a "
                "participant's ref",
            )
        period = effort.period
        if period and period.start and period.end and period.end < period.start:
            yield Finding(
                EFFORT_PERIOD,
                ("efforts", i, "period"),
                f"effort {effort.ref!r} ends {period.end} before it starts {period.start}",
            )
    created = sip.created_at.date()
    if sip.next_follow_up is not None and sip.next_follow_up < created:
        yield Finding(
            FOLLOW_UP_BEFORE_CREATION,
            ("next_follow_up",),
            f"follow-up {sip.next_follow_up} is before the plan was drawn up ({created})",
        )
    if sip.consent is None:
        yield Finding(CONSENT_MISSING, (), "the plan carries no consent")
    else:
        yield from check_consent(
            sip.consent,
            kind=sip.kind,
            document_id=sip.id,
            patient=sip.patient.id,
            at=document_time(sip.created_at),
            codes={consent.WITHDRAWN: CONSENT_WITHDRAWN},
        )


def _check_organisation_id(ident: Identifier, path: ModelPath) -> Iterator[Finding]:
    """Check the identifiers we know (HSA-id, organisation number); others pass as sent."""
    if ident.system == HSA_ID_OID:
        yield from check_hsa_id(ident, path)
    elif ident.system == ORGANISATIONSNUMMER_OID:
        yield from check_organisation_number(ident.value, (*path, "value"))


def _check_refs(sip: Sip) -> Iterator[Finding]:
    seen: set[str] = set()
    refs = (
        ("participants", [p.ref for p in sip.participants]),
        ("needs", [n.ref for n in sip.needs]),
        ("goals", [g.ref for g in sip.goals]),
        ("efforts", [e.ref for e in sip.efforts]),
    )
    for field, field_refs in refs:
        for i, ref in enumerate(field_refs):
            if ref in seen:
                yield Finding(
                    REF_DUPLICATE,
                    (field, i, "ref"),
                    f"ref {ref!r} is already used by an earlier item of the plan",
                )
            seen.add(ref)
    needs = {n.ref for n in sip.needs}
    goals = {g.ref for g in sip.goals}
    for i, goal in enumerate(sip.goals):
        for j, ref in enumerate(goal.need_refs):
            if ref not in needs:
                yield Finding(
                    REF_UNRESOLVED,
                    ("goals", i, "need_refs", j),
                    f"goal {goal.ref!r} refers to need {ref!r}, which is not in the plan",
                )
    for i, effort in enumerate(sip.efforts):
        for j, ref in enumerate(effort.goal_refs):
            if ref not in goals:
                yield Finding(
                    REF_UNRESOLVED,
                    ("efforts", i, "goal_refs", j),
                    f"effort {effort.ref!r} refers to goal {ref!r}, which is not in the plan",
                )
