"""SIP <-> FHIR: a ``collection`` Bundle around a CarePlan (docs/fhir/sip.md), written and read
by the row engine from ``mappings/sip.toml``; the hooks below are what the rows cannot say.

CarePlan (category ``sip``) -> Patient; CareTeam whose participants are the principals (each
an Organization, or the PractitionerRole of its contact acting on behalf of it) plus the
coordinator; Observations for the needs (extension ``sip-need-addressed``), Goals, activities
whose performer is the responsible principal, and the Consent (``supportingInfo``). Items keep
their local refs (``ref``): participants and activities as element ids, needs and goals as
identifiers, so a reference to an item the plan lacks survives as a logical reference and the
business rules report it exactly as for XML input. The hooks share, per document, the entry
URL of each local ref (writing) and the local ref of each entry (reading).
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.common import Contact
from gateway.documents.issues import ModelPath
from gateway.documents.sip import (
    EffortStatus,
    PrincipalType,
    Sip,
    SipCoordinator,
    SipEffort,
    SipGoal,
    SipNeed,
    SipParticipant,
)
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.datatypes import (
    extensions,
    find_coding,
    read_period,
    reference,
    write_period,
)
from gateway.formats.fhir.engine import Hook, Reading, RowMapping, Writing, per_document
from gateway.formats.fhir.localrefs import (
    RefResolver,
    local_ref_identifier,
    logical_reference,
    read_local_ref,
)
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.parties import (
    read_contact_role,
    read_organisation,
    write_contact_role,
    write_organisation,
)
from gateway.formats.fhir.texts import get_text, put_text
from gateway.formats.fhir.tree import REQUIRED, SYSTEM, Reader, Unreadable, as_list

MAP = load_mapping("sip")
U = MAP.urls
EFFORT_STATUS = {EffortStatus(k): v for k, v in MAP.table("effort_status").items()}
EFFORT_STATUS_BACK = {v: k for k, v in EFFORT_STATUS.items()}
_COORDINATOR = {"coding": [{"system": U["care_team_role"], "code": "coordinator"}]}
_NEED_CODE = {
    "coding": [
        {
            "system": U["need_kind"],
            "code": "sip-need",
            "display": "Behov i samordnad individuell plan",
        }
    ]
}


# -- model -> tree ----------------------------------------------------------------------------


class _Urls:
    """The entry URL of each local ref of one document (the first item with it)."""

    def __init__(self, w: Writing) -> None:
        s = w.document
        self.orgs = [w.url("org", str(i)) for i in range(len(s.participants))]
        self.goals = [w.url("goal", str(i)) for i in range(len(s.goals))]
        self.needs = [w.url("need", str(i)) for i in range(len(s.needs))]
        self.org = _first_urls([p.ref for p in s.participants], self.orgs)
        self.goal = _first_urls([g.ref for g in s.goals], self.goals)
        self.need = _first_urls([n.ref for n in s.needs], self.needs)


def _urls(w: Writing) -> _Urls:
    return per_document(w.state, "urls", lambda: _Urls(w))


def _first_urls(refs: list[str], urls: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ref, url in zip(refs, urls, strict=True):
        out.setdefault(ref, url)
    return out


def _ref_to(ref: str, urls: dict[str, str]) -> dict[str, Any]:
    url = urls.get(ref)
    return reference(url) if url is not None else logical_reference(ref)


def _write_principals(w: Writing, careplan: dict[str, Any]) -> None:
    """The participants' Organizations (each with its contact's PractitionerRole), the
    coordinator's PractitionerRole and the CareTeam naming them all."""
    s, urls = w.document, _urls(w)
    members = []
    for i, (p, org) in enumerate(zip(s.participants, urls.orgs, strict=True)):
        w.add("principals", org, write_organisation(p.organisation))
        member = org
        if p.contact is not None:  # R4 ctm-1: the role names its Organization itself
            member = w.url("contact", str(i))
            role = write_contact_role(p.contact)
            role["organization"] = reference(org)
            w.add("principals", member, role)
        role_code = {"coding": [{"system": U["principal_type"], "code": str(p.principal_type)}]}
        members.append({"id": p.ref, "role": [role_code], "member": reference(member)})
    coordinator = w.url("coordinator")
    role = write_contact_role(s.coordinator.contact)
    role["organization"] = _ref_to(s.coordinator.participant, urls.org)
    w.add("principals", coordinator, role)
    members.append({"role": [_COORDINATOR], "member": reference(coordinator)})
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": reference(w.urls["patient"]),
        "participant": members,
    }
    w.add("principals", w.url("careteam"), team)
    careplan["careTeam"] = [reference(w.url("careteam"))]


def _write_needs(w: Writing, careplan: dict[str, Any]) -> None:
    """Each need an Observation coded need-kind#sip-need (docs/fhir/sip.md: why not a
    Condition), named by the CarePlan's extension sip-need-addressed."""
    for n, url in zip(w.document.needs, _urls(w).needs, strict=True):
        careplan.setdefault("extension", []).append(
            {"url": U["need"], "valueReference": reference(url)}
        )
        out: dict[str, Any] = {
            "resourceType": "Observation",
            "identifier": [local_ref_identifier(n.ref)],
            "status": "final",
        }
        if n.area is not None:
            out["category"] = [{}]
            put_text(out["category"][0], "text", n.area)
        out["code"] = copy.deepcopy(_NEED_CODE)  # trees are the caller's to change
        out["subject"] = reference(w.urls["patient"])
        put_text(out, "valueString", n.description)
        w.add("needs", url, out)


def _write_goals(w: Writing, careplan: dict[str, Any]) -> None:
    urls = _urls(w)
    for g, url in zip(w.document.goals, urls.goals, strict=True):
        out: dict[str, Any] = {
            "resourceType": "Goal",
            "identifier": [local_ref_identifier(g.ref)],
            "lifecycleStatus": "active",
            "description": {"text": g.description},
            "subject": reference(w.urls["patient"]),
        }
        if g.need_refs:
            out["addresses"] = [_ref_to(n, urls.need) for n in g.need_refs]
        w.add("goals", url, out)
    if urls.goals:
        careplan["goal"] = [reference(url) for url in urls.goals]


def _write_efforts(w: Writing, careplan: dict[str, Any]) -> None:
    urls = _urls(w)
    activities = []
    for e in w.document.efforts:
        detail: dict[str, Any] = {"status": EFFORT_STATUS[e.status]}
        if e.period is not None:
            detail["scheduledPeriod"] = write_period(e.period)
        if e.responsible is not None:
            detail["performer"] = [_ref_to(e.responsible, urls.org)]
        detail["description"] = e.description
        if e.goal_refs:
            detail["goal"] = [_ref_to(g, urls.goal) for g in e.goal_refs]
        activities.append({"id": e.ref, "detail": detail})
    if activities:
        careplan["activity"] = activities


# -- tree -> model ----------------------------------------------------------------------------


class _Read:
    """What the hooks share while reading one document: the local ref of each entry."""

    def __init__(self, rd: Reading) -> None:
        self.r = rd.r
        self.index = rd.index
        self.refs = RefResolver(rd.r, rd.index)
        self.org_refs: dict[str, str] = {}  # Organization entry path -> participant ref
        self.need_refs: dict[str, str] = {}
        self.goal_refs: dict[str, str] = {}

    def principals(self, plan: dict[str, Any], path: str) -> dict[str, Any]:
        r = self.r
        teams = r.objs(plan, "careTeam", path)
        team = self.index.resolve_reference(*teams[0], "CareTeam") if teams else None
        team_res, tpath = r.need(team, f"{path}.careTeam", "the CareTeam of the principals")
        participants, coordinator = self.team(team_res, tpath)
        return {"participants": participants, "coordinator": coordinator}

    def team(self, team: dict[str, Any], tpath: str) -> tuple[list[SipParticipant], SipCoordinator]:
        r = self.r
        participants: list[SipParticipant] = []
        coordinators = []
        for item, ipath in r.objs(team, "participant", tpath):
            if _has_coding(item, U["care_team_role"], "coordinator"):
                coordinators.append((item, ipath))
                continue
            mp: ModelPath = ("participants", len(participants))
            r.map(mp, ipath)
            ref = r.text(item, "id", ipath)
            if ref is None:
                r.missing(f"{ipath}.id", "the participant's local ref")
            r.map((*mp, "ref"), f"{ipath}.id")
            ptype = self.principal_type(item, ipath, (*mp, "principal_type"))
            org, contact = self.member(item, ipath, mp)
            if org is None:
                continue
            self.org_refs.setdefault(org[1], ref or "")
            participants.append(
                SipParticipant(
                    ref=ref or "",
                    organisation=read_organisation(r, *org, (*mp, "organisation")),
                    principal_type=ptype,
                    contact=contact,
                )
            )
        if not coordinators:
            r.report(
                REQUIRED,
                f"{tpath}.participant",
                f"{tpath}.participant needs the coordinator "
                f"(role {U['care_team_role']}#coordinator)",
            )
            raise Unreadable(tpath)
        item, ipath = coordinators[0]
        r.map(("coordinator",), ipath)
        role = r.need(
            self.index.resolve(item, "member", ipath, "PractitionerRole"), f"{ipath}.member"
        )
        contact = read_contact_role(r, role[0], role[1], ("coordinator", "contact"))
        behalf, path = _acts_for(r, role, item, ipath)
        ref = None
        if behalf is None:
            r.missing(path, "the coordinating participant")
        else:
            mp = ("coordinator", "participant")
            ref = self.refs.ref(behalf, path, "Organization", self.org_refs, mp)
        return participants, SipCoordinator(participant=ref or "", contact=contact)

    def member(
        self, item: dict[str, Any], ipath: str, mp: ModelPath
    ) -> tuple[tuple[dict[str, Any], str] | None, Contact | None]:
        """The participant's Organization entry and its contact: ``member`` is the
        Organization, or the contact's PractitionerRole naming it as its ``organization``."""
        r = self.r
        member = r.obj(item, "member", ipath)
        if member is None:
            r.missing(f"{ipath}.member", "the participating Organization")
            return None, None
        found = self.index.resolve_reference(
            member, f"{ipath}.member", ("Organization", "PractitionerRole")
        )
        if found is None:
            return None, None
        if found[0].get("resourceType") == "Organization":
            return found, None
        contact = read_contact_role(r, *found, (*mp, "contact"))
        behalf, path = _acts_for(r, found, item, ipath)
        if behalf is None:
            r.missing(path, "the Organization the contact acts for")
            return None, contact
        return self.index.resolve_reference(behalf, path, "Organization"), contact

    def principal_type(self, item: dict[str, Any], ipath: str, mp: ModelPath) -> PrincipalType:
        r = self.r
        for role, rpath in r.objs(item, "role", ipath):
            for coding, cpath in r.objs(role, "coding", rpath):
                if coding.get("system") == U["principal_type"]:
                    r.map(mp, f"{cpath}.code")
                    code = coding.get("code")
                    try:
                        return PrincipalType(str(code))
                    except ValueError:
                        known = ", ".join(t.value for t in PrincipalType)
                        r.report(
                            SYSTEM, f"{cpath}.code", f"{code!r} is not a principal type ({known})"
                        )
                        return PrincipalType.OTHER
        r.missing(f"{ipath}.role", f"a principal type in {U['principal_type']}")
        return PrincipalType.OTHER

    def needs(self, plan: dict[str, Any], path: str) -> list[SipNeed]:
        """The needs the CarePlan names: Observations (extension sip-need-addressed), or
        Conditions in ``addresses``, as the gateway wrote them before."""
        r = self.r
        refs = [
            (ext["valueReference"], f"{path}.extension[{i}].valueReference", "Observation")
            for ext, i in extensions(r, plan, path, U["need"])
            if isinstance(ext.get("valueReference"), dict)
        ]
        refs += [(ref, rpath, "Condition") for ref, rpath in r.objs(plan, "addresses", path)]
        out = []
        for i, (ref, rpath, rtype) in enumerate(refs):
            found = self.index.resolve_reference(ref, rpath, rtype)
            if found is None:
                continue
            res, cpath = found
            mp: ModelPath = ("needs", i)
            r.map(mp, cpath)
            local = read_local_ref(r, res, cpath, (*mp, "ref"))
            self.need_refs.setdefault(cpath, local)
            if rtype == "Observation":
                description = get_text(r, res, "valueString", cpath, (*mp, "description"))
                where = f"{cpath}.valueString"
            else:
                code = r.obj(res, "code", cpath) or {}
                description = get_text(r, code, "text", f"{cpath}.code", (*mp, "description"))
                where = f"{cpath}.code.text"
            if description is None:
                r.missing(where, "the need's description")
            area = None
            for cat, catpath in r.objs(res, "category", cpath):
                if "coding" not in cat:
                    area = get_text(r, cat, "text", catpath, (*mp, "area"))
            out.append(SipNeed(ref=local, description=description or "", area=area))
        return out

    def goals(self, plan: dict[str, Any], path: str) -> list[SipGoal]:
        r = self.r
        found_goals: list[tuple[dict[str, Any], str, str]] = []
        for ref, rpath in r.objs(plan, "goal", path):
            found = self.index.resolve_reference(ref, rpath, "Goal")
            if found is not None:
                res, gpath = found
                local = read_local_ref(r, res, gpath, ("goals", len(found_goals), "ref"))
                self.goal_refs.setdefault(gpath, local)
                found_goals.append((res, gpath, local))
        out = []
        for i, (res, gpath, local) in enumerate(found_goals):
            mp: ModelPath = ("goals", i)
            r.map(mp, gpath)
            desc = r.obj(res, "description", gpath) or {}
            description = get_text(r, desc, "text", f"{gpath}.description", (*mp, "description"))
            if description is None:
                r.missing(f"{gpath}.description.text", "the goal's description")
            need_refs = []
            for k, (ref, apath) in enumerate(r.objs(res, "addresses", gpath)):
                value = self.refs.ref(
                    ref, apath, _NEED_TYPES, self.need_refs, (*mp, "need_refs", k)
                )
                if value is not None:
                    need_refs.append(value)
            out.append(SipGoal(ref=local, description=description or "", need_refs=need_refs))
        return out

    def efforts(self, plan: dict[str, Any], path: str) -> dict[str, Any]:
        items = self.r.objs(plan, "activity", path)
        return {
            "efforts": [self.effort(obj, p, ("efforts", i)) for i, (obj, p) in enumerate(items)]
        }

    def effort(self, act: dict[str, Any], apath: str, mp: ModelPath) -> SipEffort:
        r = self.r
        r.map(mp, apath)
        ref = r.text(act, "id", apath)
        if ref is None:
            r.missing(f"{apath}.id", "the effort's local ref")
        r.map((*mp, "ref"), f"{apath}.id")
        detail = r.obj(act, "detail", apath)
        dpath = f"{apath}.detail"
        if detail is None:
            r.missing(dpath, "the effort")
            detail = {}
        status = EffortStatus.PLANNED
        raw = r.text(detail, "status", dpath)
        if raw is not None:
            r.map((*mp, "status"), f"{dpath}.status")
            if raw in EFFORT_STATUS_BACK:
                status = EFFORT_STATUS_BACK[raw]
            else:
                known = ", ".join(EFFORT_STATUS_BACK)
                r.report(SYSTEM, f"{dpath}.status", f"status {raw!r} is not one of {known}")
        period = None
        sp = r.obj(detail, "scheduledPeriod", dpath)
        if sp is not None:
            period = read_period(r, sp, f"{dpath}.scheduledPeriod", (*mp, "period"))
        responsible = None
        performers = r.objs(detail, "performer", dpath)
        if performers:
            responsible = self.refs.ref(
                *performers[0], "Organization", self.org_refs, (*mp, "responsible")
            )
        goal_refs = []
        for k, (ref_obj, gpath) in enumerate(r.objs(detail, "goal", dpath)):
            value = self.refs.ref(ref_obj, gpath, "Goal", self.goal_refs, (*mp, "goal_refs", k))
            if value is not None:
                goal_refs.append(value)
        description = get_text(r, detail, "description", dpath, (*mp, "description"))
        if description is None:
            r.missing(f"{dpath}.description", "what the effort is")
        return SipEffort(
            ref=ref or "",
            description=description or "",
            responsible=responsible,
            status=status,
            period=period,
            goal_refs=goal_refs,
        )


_NEED_TYPES = ("Observation", "Condition")  # a need; a Condition as the gateway wrote it before


def _acts_for(
    r: Reader, role: tuple[dict[str, Any], str], item: dict[str, Any], ipath: str
) -> tuple[dict[str, Any] | None, str]:
    """The Organization a contact's PractitionerRole acts for, and where: its
    ``organization``, or (as the gateway wrote it before R4 ctm-1 was kept) the participant's
    ``onBehalfOf``."""
    res, rpath = role
    for owner, key, path in ((res, "organization", rpath), (item, "onBehalfOf", ipath)):
        if key in owner:
            return r.obj(owner, key, path), f"{path}.{key}"
    return None, f"{rpath}.organization"


def _has_coding(item: dict[str, Any], system: str, code: str) -> bool:
    return any(find_coding(role, system, code) for role in as_list(item.get("role")))


def _reading(rd: Reading) -> _Read:
    return per_document(rd.state, "sip", lambda: _Read(rd))


MAPPING = register(
    RowMapping(
        DocumentKind.SIP,
        Sip,
        {
            "principals": Hook(
                _write_principals, lambda rd, res, path: _reading(rd).principals(res, path)
            ),
            "needs": Hook(
                _write_needs, lambda rd, res, path: {"needs": _reading(rd).needs(res, path)}
            ),
            "goals": Hook(
                _write_goals, lambda rd, res, path: {"goals": _reading(rd).goals(res, path)}
            ),
            "efforts": Hook(_write_efforts, lambda rd, res, path: _reading(rd).efforts(res, path)),
        },
    )
)

__all__ = ["MAPPING"]
