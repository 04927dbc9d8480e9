"""Return-to-work plan <-> FHIR: a ``collection`` Bundle around a CarePlan
(docs/fhir/return-to-work-plan.md).

CarePlan (category ``return-to-work-plan``) -> Patient (the employee), author the employer's
Organization, a CareTeam of the people who drew it up, one activity per measure (its type
coded, its responsible party as ``performer``) and one per follow-up, and the Consent
(``supportingInfo``). What the sick-leave case adds (first day of reduced capacity, the
60-day expectation, why no plan is needed, contact during the leave) are extensions.
"""

from __future__ import annotations

from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.identity import ORGANISATIONSNUMMER_OID
from gateway.documents.issues import ModelPath
from gateway.documents.return_to_work import (
    FollowUp,
    MeasureType,
    ParticipantRole,
    ReturnToWorkMeasure,
    ReturnToWorkParticipant,
    ReturnToWorkPlan,
)
from gateway.formats.fhir.bundles import (
    VERSION_URL,
    BundleReading,
    CollectionMapping,
    bundle,
    find_focus,
    full_url,
    kind_concept,
    read_business_id,
    read_version,
)
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.consent import read_supporting_consent, write_consent
from gateway.formats.fhir.datatypes import (
    extension,
    find_coding,
    pick_coding,
    read_date,
    read_ext_date,
    read_ext_text,
    read_period,
    reference,
    write_period,
)
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.parties import (
    read_organisation,
    read_patient,
    write_organisation,
    write_patient,
)
from gateway.formats.fhir.profile import check_entries
from gateway.formats.fhir.texts import get_note, get_text, put_ext_text, put_note, put_text
from gateway.formats.fhir.tree import REQUIRED, SYSTEM

MAP = load_mapping("return-to-work-plan")
U = MAP.urls
KIND = DocumentKind.RETURN_TO_WORK_PLAN.value
_FOLLOW_UP = "follow-up"
_MEASURE_STATUS = "not-started"
_FOLLOW_UP_STATUS = "scheduled"


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


# -- model -> tree ----------------------------------------------------------------------------


def _bundle(plan: ReturnToWorkPlan) -> dict[str, Any]:
    def url(*parts: str) -> str:
        return full_url(KIND, plan.id, *parts)

    patient, employer, team, consent = url("patient"), url("employer"), url("team"), url("consent")
    ext: list[dict[str, Any]] = [
        put_ext_text({"url": VERSION_URL}, plan.version),
        {
            "url": U["first_day_of_reduced_capacity"],
            "valueDate": plan.first_day_of_reduced_capacity.isoformat(),
        },
        {"url": U["expected_60_days"], "valueBoolean": plan.expected_leave_60_days_or_more},
    ]
    if plan.plan_not_needed_reason is not None:
        ext.append(put_ext_text({"url": U["plan_not_needed"]}, plan.plan_not_needed_reason))
    if plan.contact_during_leave:
        ext.append({"url": U["contact_during_leave"], "valueString": plan.contact_during_leave})
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": {"profile": [U["careplan_profile"]]},
        "extension": ext,
        "identifier": [{"system": U["plan_id"], "value": plan.id}],
        "status": "active",
        "intent": "plan",
        "category": [kind_concept(KIND)],
        "subject": reference(patient),
        "created": plan.plan_date.isoformat(),
        "author": reference(employer),
    }
    if plan.participants:
        careplan["careTeam"] = [reference(team)]
    if plan.consent is not None:
        careplan["supportingInfo"] = [reference(consent)]
    activities = [_measure(m) for m in plan.measures] + [_follow_up(f) for f in plan.follow_ups]
    if activities:
        careplan["activity"] = activities
    put_note(careplan, plan.notes)
    entries: list[tuple[str, dict[str, Any]]] = [
        (url("careplan"), careplan),
        (patient, write_patient(plan.employee)),
        (employer, write_organisation(plan.employer)),
    ]
    if plan.participants:
        members = [
            {
                "role": [_concept(U["participant_role"], str(p.role))],
                "member": {"display": p.name},
            }
            for p in plan.participants
        ]
        entries.append(
            (
                team,
                {
                    "resourceType": "CareTeam",
                    "status": "active",
                    "subject": reference(patient),
                    "participant": members,
                    "managingOrganization": [reference(employer)],
                },
            )
        )
    if plan.consent is not None:
        entries.append((consent, write_consent(plan.consent, patient)))
    return bundle(U["profile"], entries)


def _measure(m: ReturnToWorkMeasure) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": _concept(U["measure_type"], str(m.type))}
    detail["status"] = _MEASURE_STATUS
    if m.period is not None:
        detail["scheduledPeriod"] = write_period(m.period)
    if m.responsible is not None:
        detail["performer"] = [{}]
        put_text(detail["performer"][0], "display", m.responsible)
    detail["description"] = m.description
    return {"id": m.ref, "detail": detail}


def _follow_up(f: FollowUp) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "code": _concept(U["activity_kind"], _FOLLOW_UP),
        "status": _FOLLOW_UP_STATUS,
        "scheduledTiming": {"event": [f.on.isoformat()]},
    }
    put_text(detail, "description", f.how)
    return {"detail": detail}


# -- tree -> model ----------------------------------------------------------------------------


class _Reading(BundleReading):
    def plan(self) -> ReturnToWorkPlan:
        r, index = self.r, self.index
        check_entries(self.tree, index.entries, KIND, r)
        plan, path = r.need(
            find_focus(index, "CarePlan", KIND), "Bundle.entry", f"a CarePlan of category {KIND}"
        )
        r.map((), path)
        pid = read_business_id(r, plan, path, U["plan_id"], ("id",))
        version = read_version(r, plan, path, ("version",))
        plan_date = r.need(read_date(r, plan, "created", path, ("plan_date",)), f"{path}.created")
        patient, ppath = r.need(index.resolve(plan, "subject", path, "Patient"), f"{path}.subject")
        employer, epath = r.need(
            index.resolve(plan, "author", path, "Organization"), f"{path}.author", "the employer"
        )
        measures: list[ReturnToWorkMeasure] = []
        follow_ups: list[FollowUp] = []
        for act, apath in r.objs(plan, "activity", path):
            detail = r.obj(act, "detail", apath)
            dpath = f"{apath}.detail"
            if detail is None:
                r.missing(dpath, "a measure or a follow-up")
                continue
            if _has_coding(detail.get("code"), U["activity_kind"], _FOLLOW_UP):
                follow_up = self.follow_up(detail, dpath, ("follow_ups", len(follow_ups)))
                if follow_up is not None:
                    follow_ups.append(follow_up)
            else:
                mp: ModelPath = ("measures", len(measures))
                measures.append(self.measure(act, apath, detail, dpath, mp))
        first_url = U["first_day_of_reduced_capacity"]
        first_day = read_ext_date(r, plan, path, first_url, ("first_day_of_reduced_capacity",))
        first_day = r.need(first_day, f"{path}.extension", first_url)
        expected_url = U["expected_60_days"]
        expected = r.need(
            self.ext_bool(plan, path, expected_url), f"{path}.extension", expected_url
        )
        employer_model = read_organisation(
            r, employer, epath, ("employer",), (ORGANISATIONSNUMMER_OID,)
        )
        not_needed_mp = ("plan_not_needed_reason",)
        not_needed = read_ext_text(r, plan, path, U["plan_not_needed"], not_needed_mp)
        contact_mp = ("contact_during_leave",)
        contact = read_ext_text(r, plan, path, U["contact_during_leave"], contact_mp)
        notes = get_note(r, plan, path, ("notes",))
        return ReturnToWorkPlan(
            id=pid,
            version=version if version is not None else "1.0",
            employer=employer_model,
            employee=read_patient(r, patient, ppath, ("employee",)),
            first_day_of_reduced_capacity=first_day,
            expected_leave_60_days_or_more=expected,
            plan_not_needed_reason=not_needed,
            plan_date=plan_date,
            measures=measures,
            contact_during_leave=contact or "",
            follow_ups=follow_ups,
            participants=self.participants(plan, path),
            notes=notes,
            consent=read_supporting_consent(r, index, plan, path, patient),
        )

    def ext_bool(self, plan: dict[str, Any], path: str, url: str) -> bool | None:
        found = extension(self.r, plan, path, url)
        if found is None:
            return None
        ext, i = found
        epath = f"{path}.extension[{i}]"
        self.r.map(("expected_leave_60_days_or_more",), epath)
        return self.r.boolean(ext, "valueBoolean", epath)

    def measure(
        self, act: dict[str, Any], apath: str, detail: dict[str, Any], dpath: str, mp: ModelPath
    ) -> ReturnToWorkMeasure:
        r = self.r
        r.map(mp, apath)
        ref = r.text(act, "id", apath)
        if ref is None:
            r.missing(f"{apath}.id", "the measure's local ref")
        r.map((*mp, "ref"), f"{apath}.id")
        mtype = MeasureType.OTHER
        code = r.obj(detail, "code", dpath)
        cpath = f"{dpath}.code"
        coding = pick_coding(r, code, cpath, U["measure_type"])
        if coding is None:
            r.report(SYSTEM, cpath, f"{cpath} needs a measure type in {U['measure_type']}")
        else:
            r.map((*mp, "type"), cpath)
            try:
                mtype = MeasureType(str(coding.get("code")))
            except ValueError:
                known = ", ".join(t.value for t in MeasureType)
                r.report(SYSTEM, cpath, f"{coding.get('code')!r} is not a measure type ({known})")
        period = None
        sp = r.obj(detail, "scheduledPeriod", dpath)
        if sp is not None:
            period = read_period(r, sp, f"{dpath}.scheduledPeriod", (*mp, "period"))
        responsible = None
        performers = r.objs(detail, "performer", dpath)
        if performers:
            obj, ppath = performers[0]
            responsible = get_text(r, obj, "display", ppath, (*mp, "responsible"))
        description = get_text(r, detail, "description", dpath, (*mp, "description"))
        if description is None:
            r.missing(f"{dpath}.description", "what the measure is")
        return ReturnToWorkMeasure(
            ref=ref or "",
            type=mtype,
            description=description or "",
            period=period,
            responsible=responsible,
        )

    def follow_up(self, detail: dict[str, Any], dpath: str, mp: ModelPath) -> FollowUp | None:
        """A follow-up; None (reported) when it has no date."""
        r = self.r
        r.map(mp, dpath)
        how = get_text(r, detail, "description", dpath, (*mp, "how"))
        if how is None:
            r.missing(f"{dpath}.description", "how the plan is followed up")
        timing = r.obj(detail, "scheduledTiming", dpath)
        tpath = f"{dpath}.scheduledTiming"
        events = r.arr(timing, "event", tpath) if timing is not None else []
        if not events:
            r.missing(f"{tpath}.event", "the follow-up's date (YYYY-MM-DD)")
            return None
        on = read_date(r, {"event[0]": events[0]}, "event[0]", tpath, (*mp, "on"))
        return FollowUp(on=on, how=how or "") if on is not None else None

    def participants(self, plan: dict[str, Any], path: str) -> list[ReturnToWorkParticipant]:
        r = self.r
        teams = r.objs(plan, "careTeam", path)
        if not teams:
            return []
        found = self.index.resolve_reference(*teams[0], "CareTeam")
        if found is None:
            return []
        team, tpath = found
        out = []
        for i, (item, ipath) in enumerate(r.objs(team, "participant", tpath)):
            mp: ModelPath = ("participants", i)
            r.map(mp, ipath)
            member = r.obj(item, "member", ipath) or {}
            name = get_text(r, member, "display", f"{ipath}.member", (*mp, "name"))
            if name is None:
                r.missing(f"{ipath}.member.display", "the participant's name")
            role = ParticipantRole.OTHER
            coding = None
            for concept, rpath in r.objs(item, "role", ipath):
                coding = pick_coding(r, concept, rpath, U["participant_role"])
                if coding is not None:
                    r.map((*mp, "role"), rpath)
                    try:
                        role = ParticipantRole(str(coding.get("code")))
                    except ValueError:
                        known = ", ".join(t.value for t in ParticipantRole)
                        msg = f"{coding.get('code')!r} is not a participant role ({known})"
                        r.report(SYSTEM, rpath, msg)
                    break
            if coding is None:
                msg = f"{ipath}.role needs a code in {U['participant_role']}"
                r.report(REQUIRED, f"{ipath}.role", msg)
            out.append(ReturnToWorkParticipant(name=name or "", role=role))
        return out


def _has_coding(concept: Any, system: str, code: str) -> bool:
    coding = find_coding(concept, system)
    return coding is not None and coding.get("code") == code


MAPPING = register(
    CollectionMapping(
        DocumentKind.RETURN_TO_WORK_PLAN,
        "CarePlan",
        ReturnToWorkPlan,
        read=lambda tree, r: _Reading(tree, r).plan(),
        write=_bundle,
    )
)

__all__ = ["MAPPING"]
