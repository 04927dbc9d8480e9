"""The plan index as FHIR R4: ``searchset`` Bundles of what one actor may see
(docs/coordination.md "FHIR"; the rows of ``mappings/plan-index.toml``).

* SIPs and return-to-work plans as **CarePlan** (who is responsible for each effort as
  ``activity.detail.performer``, the coordinator as a contained CareTeam, the next follow-up);
* §4 notifications as **Communication**, Försäkringskassan's acknowledgements as **Task**
  (code ``section4-acknowledgement``, focus the notification), as their own FHIR shapes are;
* every entry, certificates with their sick-leave periods and degrees, as **DocumentReference**
  (the index entry pointing at a document);
* flags as **DetectedIssue** ("an issue with or between one or more ... actions for a
  patient": conflicting plans), implicating only entries the reader may see;
* deadlines as **Task** (code from ``rehabilitation-chain``, due as ``restriction.period.end``).

References to patients, organisations and documents are logical (``identifier``): the
searchset carries the index, not the documents. Built from what :class:`Viewer.show` gave.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from gateway.coordination.chain import Deadline
from gateway.coordination.flags import Flag
from gateway.coordination.settings import deadline_rule
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID
from gateway.formats.fhir import systems
from gateway.formats.fhir.bundles import kind_concept
from gateway.formats.fhir.datatypes import write_datetime
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.systems import URI

MAP = load_mapping("plan-index")
U = MAP.urls
DOC_ID = {k: v.replace("{base}", systems.BASE) for k, v in MAP.table("document_id").items()}
DOC_STATUS = MAP.table("document_status")
ACTIVITY_STATUS = MAP.table("activity_status")
_NS = uuid.UUID("7c1e5a90-2b4f-5d3e-8a6c-9e0f1d2c3b4a")
_HSA = re.compile(r"^[A-Z]{2,6}\d{10}-[A-Za-z0-9]{1,20}$")
_PERSONNUMMER = systems.to_uri("1.2.752.129.2.1.3.1")
_SAMORDNINGSNUMMER = systems.to_uri("1.2.752.129.2.1.3.3")
_FK = {
    "identifier": {"system": systems.to_uri(ORGANISATIONSNUMMER_OID), "value": "2021005521"},
    "display": "Försäkringskassan",
}
#: The search a resource type answers, and the parameter naming the patient.
SEARCHES: Mapping[str, tuple[str, ...]] = {
    "CarePlan": ("subject:identifier", "patient:identifier"),
    "Communication": ("subject:identifier", "patient:identifier"),
    "DocumentReference": ("subject:identifier", "patient:identifier"),
    "Task": ("subject:identifier", "patient:identifier"),
    "DetectedIssue": ("patient:identifier",),
}


def _dt(value: str | None) -> str | None:
    """A stored time as a FHIR dateTime (a time sent without an offset is Swedish time)."""
    return write_datetime(datetime.fromisoformat(value)) if value else None


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "|".join(parts)))


def subject(patient: str) -> dict[str, Any]:
    system = _SAMORDNINGSNUMMER if patient[6] in "6789" else _PERSONNUMMER
    return {"identifier": {"system": system, "value": patient}}


def organisation(key: str | None, display: str | None = None) -> dict[str, Any] | None:
    """A logical reference to an organisation by its key (HSA-id or organisation number)."""
    if not key:
        return None
    oid = HSA_ID_OID if _HSA.match(key) else ORGANISATIONSNUMMER_OID
    out: dict[str, Any] = {"identifier": {"system": systems.to_uri(oid), "value": key}}
    if display:
        out["display"] = display
    return out


def _document_id(e: Mapping[str, Any]) -> dict[str, str]:
    return {"system": DOC_ID[e["kind"]], "value": e["id"]}


def _entry_identifier(e: Mapping[str, Any]) -> dict[str, str]:
    return {"system": U["entry_id"], "value": e["entry"]}


def _clean(value: Any) -> Any:
    """Drop None, empty strings, lists and objects (R4 ele-1: every element has a value)."""
    if isinstance(value, dict):
        out = {k: c for k, v in value.items() if (c := _clean(v)) not in (None, "", [], {})}
        return out
    if isinstance(value, list):
        return [c for v in value if (c := _clean(v)) not in (None, "", [], {})]
    return value


# -- entries -----------------------------------------------------------------------------------


def care_plan(e: Mapping[str, Any], patient: str) -> dict[str, Any]:
    f = e["facts"]
    sip = e["kind"] == "sip"
    res: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": _id("careplan", e["entry"]),
        "meta": {"profile": [U["careplan_profile"]]},
    }
    if f.get("next_follow_up"):
        res["extension"] = [{"url": U["next_follow_up"], "valueDate": f["next_follow_up"]}]
    res["identifier"] = [_entry_identifier(e), _document_id(e)]
    res["status"] = "completed" if e.get("status") == "completed" else "active"
    res["intent"] = "plan"
    res["category"] = [kind_concept(e["kind"])]
    res["subject"] = subject(patient)
    if sip:
        res["period"] = {"start": (f.get("created_at") or "")[:10] or None}
        res["created"] = _dt(f.get("created_at"))
        c = f.get("coordinator") or {}
        contact = c.get("contact") or {}
        team = {
            "resourceType": "CareTeam",
            "id": "coordinator",
            "participant": [
                {
                    "role": [{"text": "coordinator"}],
                    "member": {"display": contact.get("name") or c.get("participant")},
                }
            ],
            "managingOrganization": [organisation(c.get("org"))],
            "telecom": [
                {"system": "phone", "value": contact.get("phone")}
                if contact.get("phone")
                else None,
                {"system": "email", "value": contact.get("email")}
                if contact.get("email")
                else None,
            ],
        }
        res["contained"] = [team]
        res["careTeam"] = [{"reference": "#coordinator"}]
        res["activity"] = [
            {
                "detail": {
                    "status": ACTIVITY_STATUS.get(x["status"], "unknown"),
                    "scheduledPeriod": {"start": x.get("start"), "end": x.get("end")},
                    "performer": [
                        organisation(
                            (x.get("responsible") or {}).get("org"),
                            (x.get("responsible") or {}).get("type"),
                        )
                    ],
                }
            }
            for x in f.get("efforts", ())
        ]
    else:
        employer = f.get("employer") or {}
        res["period"] = {"start": f.get("first_day")}
        res["created"] = f.get("plan_date")
        res["author"] = organisation(employer.get("org"), employer.get("name"))
        res["activity"] = [
            {
                "detail": {
                    "code": {"coding": [{"system": U["measure_type"], "code": m["type"]}]},
                    "status": "unknown",
                    "scheduledPeriod": {"start": m.get("start"), "end": m.get("end")},
                }
            }
            for m in f.get("measures", ())
        ]
    return _clean(res)  # type: ignore[no-any-return]


def communication(e: Mapping[str, Any], patient: str) -> dict[str, Any]:
    f = e["facts"]
    region = f.get("region") or {}
    res = {
        "resourceType": "Communication",
        "id": _id("communication", e["entry"]),
        "meta": {"profile": [U["communication_profile"]]},
        "identifier": [_entry_identifier(e), _document_id(e)],
        "status": "completed",
        "category": [kind_concept(e["kind"])],
        "subject": subject(patient),
        "about": [{"identifier": {"system": DOC_ID["certificate"], "value": f.get("certificate")}}]
        if f.get("certificate")
        else None,
        "sent": _dt(f.get("sent_at")),
        "recipient": [_FK],
        "sender": organisation(region.get("org"), region.get("name")),
    }
    return _clean(res)  # type: ignore[no-any-return]


def acknowledgement_task(e: Mapping[str, Any], patient: str) -> dict[str, Any]:
    f = e["facts"]
    res = {
        "resourceType": "Task",
        "id": _id("task", e["entry"]),
        "identifier": [_entry_identifier(e), _document_id(e)],
        "status": "completed" if f.get("status") == "handled" else "received",
        "businessStatus": {"coding": [{"system": U["outcome"], "code": f.get("outcome")}]}
        if f.get("outcome")
        else None,
        "intent": "order",
        "code": kind_concept(e["kind"]),
        "focus": {
            "identifier": {
                "system": DOC_ID["section4-notification"],
                "value": f.get("notification"),
            }
        },
        "for": subject(patient),
        "executionPeriod": {"start": _dt(f.get("received_at")), "end": _dt(f.get("handled_at"))},
        "lastModified": _dt(f.get("sent_at")),
        "owner": _FK,
    }
    return _clean(res)  # type: ignore[no-any-return]


def document_reference(e: Mapping[str, Any], patient: str) -> dict[str, Any]:
    f = e["facts"]
    coding = [kind_concept(e["kind"])["coding"][0]]
    if f.get("subtype"):
        rivta = {"FK7804": "LISJP"}.get(f["subtype"], f["subtype"])
        coding.append({"system": U["kv_intygstyp"], "code": rivta})
    periods = f.get("periods") or []
    ext = [
        {
            "url": U["sick_leave"],
            "extension": [
                {"url": "period", "valuePeriod": {"start": p["start"], "end": p["end"]}},
                {"url": "degree", "valuePositiveInt": p["degree"]},
            ],
        }
        for p in periods
    ]
    context = None
    if periods:
        context = {
            "period": {
                "start": min(p["start"] for p in periods),
                "end": max(p["end"] for p in periods),
            }
        }
    res = {
        "resourceType": "DocumentReference",
        "id": _id("documentreference", e["entry"]),
        "meta": {"versionId": e.get("version"), "profile": [U["documentreference_profile"]]},
        "extension": ext,
        "masterIdentifier": _document_id(e),
        "identifier": [_entry_identifier(e)],
        "status": DOC_STATUS.get(e.get("status") or "current", "current"),
        "type": {"coding": coding},
        "subject": subject(patient),
        "date": e["received_at"],
        "content": [{"attachment": {"title": f"{e['kind']} {e['id']}"}}],
        "context": context,
    }
    return _clean(res)  # type: ignore[no-any-return]


# -- flags and deadlines -------------------------------------------------------------------------


def detected_issue(f: Flag, visible: Iterable[str]) -> dict[str, Any]:
    seen = set(visible)
    res = {
        "resourceType": "DetectedIssue",
        "id": _id("detectedissue", f.id),
        "meta": {"profile": [U["detectedissue_profile"]]},
        "identifier": [{"system": U["flag_id"], "value": f.id}],
        "status": "final",
        "code": {
            "coding": [{"system": URI["gateway_rule"], "code": f.code, "display": f.rule.title}]
        },
        "severity": "moderate",
        "patient": subject(f.patient),
        "identifiedDateTime": f.raised_at.isoformat(),
        "implicated": [
            {"identifier": {"system": U["entry_id"], "value": k}} for k in f.entries if k in seen
        ],
        "detail": f.rule.explanation,
    }
    return _clean(res)  # type: ignore[no-any-return]


_TASK_STATUS = {
    "due": "requested",
    "overdue": "requested",
    "met": "completed",
    "met-late": "completed",
    "waived": "cancelled",
    "upcoming": "requested",
    "reached": "completed",
}


def deadline_task(d: Deadline, on: date) -> dict[str, Any]:
    status = d.status(on)
    rule = deadline_rule(d.code)
    res = {
        "resourceType": "Task",
        "id": _id("deadline", d.id),
        "meta": {"profile": [U["task_profile"]]},
        "identifier": [{"system": U["deadline_id"], "value": d.id}],
        "status": _TASK_STATUS[status],
        "businessStatus": {"coding": [{"system": U["deadline_status"], "code": status}]},
        "intent": "plan",
        "code": {"coding": [{"system": U["deadline_code"], "code": d.code, "display": rule.title}]},
        "for": subject(d.patient),
        "executionPeriod": {"end": d.met_on.isoformat()} if d.met_on else None,
        "restriction": {
            "period": {"start": d.opens.isoformat() if d.opens else None, "end": d.due.isoformat()}
        },
        "owner": {**(organisation(d.org) or {}), "display": d.role},
    }
    return _clean(res)  # type: ignore[no-any-return]


# -- the searchset -----------------------------------------------------------------------------


def resources(
    rtype: str,
    patient: str,
    entries: Sequence[Mapping[str, Any]],
    flags: Sequence[Flag],
    deadlines: Sequence[Deadline],
    on: date,
) -> list[dict[str, Any]]:
    """The resources of type ``rtype`` for one patient, from what the reader may see."""
    if rtype == "CarePlan":
        return [
            care_plan(e, patient) for e in entries if e["kind"] in ("sip", "return-to-work-plan")
        ]
    if rtype == "Communication":
        return [communication(e, patient) for e in entries if e["kind"] == "section4-notification"]
    if rtype == "DocumentReference":
        return [document_reference(e, patient) for e in entries]
    if rtype == "DetectedIssue":
        keys = [e["entry"] for e in entries]
        return [detected_issue(f, keys) for f in flags]
    if rtype == "Task":
        acks = [
            acknowledgement_task(e, patient)
            for e in entries
            if e["kind"] == "section4-acknowledgement"
        ]
        return acks + [deadline_task(d, on) for d in deadlines]
    raise KeyError(rtype)


def searchset(found: Sequence[dict[str, Any]], self_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": self_url}],
    }
    if found:  # an empty array is no element in FHIR (ele-1)
        out["entry"] = [
            {"fullUrl": f"urn:uuid:{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in found
        ]
    return out


__all__ = ["SEARCHES", "organisation", "resources", "searchset", "subject"]
