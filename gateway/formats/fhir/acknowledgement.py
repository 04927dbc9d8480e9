"""Försäkringskassan's acknowledgement of a §4 notification <-> FHIR: a ``collection`` Bundle
around a Task, Försäkringskassan's handling of the notification
(docs/fhir/section4-acknowledgement.md).

Task: ``code`` the document kind; ``focus`` the §4 notification (its Communication, by the
notification's identifier); ``for`` the Patient; ``status`` received (not yet handled) or
completed (handled); ``businessStatus`` the outcome (CodeSystem section4-outcome);
``executionPeriod`` from the notification's receipt to its handling; ``lastModified`` when the
answer was sent; ``owner`` Försäkringskassan (its case officer's PractitionerRole when named);
``requester`` the region the answer goes to; ``input`` the certificate the notification
referred to; ``output`` whether the patient was told; ``note`` a note. Task rather than
Communication: the acknowledgement reports the state of a piece of work (received, handled,
with an outcome), which is what Task's status and businessStatus are for.
"""

from __future__ import annotations

from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.acknowledgement import HandlingStatus, Outcome, Section4Acknowledgement
from gateway.documents.common import Identifier
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID
from gateway.formats.fhir.bundles import (
    BundleReading,
    CollectionMapping,
    bundle,
    full_url,
    kind_concept,
    read_business_id,
)
from gateway.formats.fhir.certificate import certificate_identifier
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.datatypes import find_coding, read_datetime, reference, write_datetime
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.parties import (
    read_contact_role,
    read_organisation,
    read_patient,
    write_contact_role,
    write_organisation,
    write_patient,
)
from gateway.formats.fhir.profile import check_entries
from gateway.formats.fhir.texts import get_note, put_note
from gateway.formats.fhir.tree import REQUIRED, STRUCTURE, as_dict, as_list

MAP = load_mapping("section4-acknowledgement")
U = MAP.urls
KIND = DocumentKind.SECTION4_ACKNOWLEDGEMENT.value
_STATUS = MAP.table("status")
_STATUS_BACK = {v: HandlingStatus(k) for k, v in _STATUS.items()}
_ORGS = (ORGANISATIONSNUMMER_OID, HSA_ID_OID)
_KIND_SYSTEM = kind_concept(KIND)["coding"][0]["system"]


def _data(code: str) -> dict[str, Any]:
    return {"coding": [{"system": U["task_input"], "code": code}]}


# -- model -> tree ----------------------------------------------------------------------------


def _bundle(a: Section4Acknowledgement) -> dict[str, Any]:
    def url(*parts: str) -> str:
        return full_url(KIND, a.id, *parts)

    patient, fk, region, officer = url("patient"), url("sender"), url("recipient"), url("officer")
    task: dict[str, Any] = {
        "resourceType": "Task",
        "meta": {"profile": [U["task_profile"]]},
        "identifier": [{"system": U["acknowledgement_id"], "value": a.id}],
        "status": _STATUS[a.status.value],
    }
    if a.outcome is not None:
        task["businessStatus"] = {"coding": [{"system": U["outcome"], "code": a.outcome.value}]}
    task["intent"] = "order"
    task["code"] = kind_concept(KIND)
    task["focus"] = {
        "type": "Communication",
        "identifier": {"system": U["notification_id"], "value": a.notification_id},
    }
    task["for"] = reference(patient)
    period: dict[str, Any] = {"start": write_datetime(a.received_at)}
    if a.handled_at is not None:
        period["end"] = write_datetime(a.handled_at)
    task["executionPeriod"] = period
    task["lastModified"] = write_datetime(a.sent_at)
    task["requester"] = reference(region)
    task["owner"] = reference(officer if a.case_officer is not None else fk)
    put_note(task, a.note)
    if a.certificate_id is not None:
        task["input"] = [
            {
                "type": _data("certificate"),
                "valueIdentifier": certificate_identifier(a.certificate_id),
            }
        ]
    if a.patient_informed is not None:
        task["output"] = [{"type": _data("patient-informed"), "valueBoolean": a.patient_informed}]
    entries: list[tuple[str, dict[str, Any]]] = [
        (url("task"), task),
        (patient, write_patient(a.patient)),
        (fk, write_organisation(a.sender)),
        (region, write_organisation(a.recipient)),
    ]
    if a.case_officer is not None:
        role = write_contact_role(a.case_officer)
        role["organization"] = reference(fk)
        entries.append((officer, role))
    return bundle(U["profile"], entries)


# -- tree -> model ----------------------------------------------------------------------------


def _is_task(tree: dict[str, Any]) -> bool:
    """The focal resource is a Task whose code is our document kind ``section4-acknowledgement``."""
    if tree.get("resourceType") != "Bundle":
        return False
    entries = as_list(tree.get("entry"))
    res = as_dict(entries[0]).get("resource") if entries else None
    return (
        isinstance(res, dict)
        and res.get("resourceType") == "Task"
        and find_coding(res.get("code"), _KIND_SYSTEM, KIND) is not None
    )


class _Reading(BundleReading):
    def acknowledgement(self) -> Section4Acknowledgement:
        r, index = self.r, self.index
        check_entries(self.tree, index.entries, KIND, r)
        task, path = r.need(
            next(
                (
                    (t, p)
                    for t, p in index.all("Task")
                    if find_coding(t.get("code"), _KIND_SYSTEM, KIND) is not None
                ),
                None,
            ),
            "Bundle.entry",
            f"a Task of code {KIND}",
        )
        r.map((), path)
        aid = read_business_id(r, task, path, U["acknowledgement_id"], ("id",))
        status = self.status(task, path)
        focus = r.obj(task, "focus", path) or {}
        ident = r.obj(focus, "identifier", f"{path}.focus") or {}
        notification = None
        if ident.get("system") == U["notification_id"]:
            notification = r.text(ident, "value", f"{path}.focus.identifier")
            r.map(("notification_id",), f"{path}.focus.identifier.value")
        notification = r.need(
            notification, f"{path}.focus", f"the notification's identifier ({U['notification_id']})"
        )
        patient, ppath = r.need(index.resolve(task, "for", path, "Patient"), f"{path}.for")
        period = r.obj(task, "executionPeriod", path) or {}
        received = read_datetime(r, period, "start", f"{path}.executionPeriod", ("received_at",))
        received = r.need(received, f"{path}.executionPeriod.start")
        handled = read_datetime(r, period, "end", f"{path}.executionPeriod", ("handled_at",))
        sent = r.need(
            read_datetime(r, task, "lastModified", path, ("sent_at",)), f"{path}.lastModified"
        )
        region, rpath = r.need(
            index.resolve(task, "requester", path, "Organization"), f"{path}.requester"
        )
        fk, fpath, officer = self.owner(task, path)
        return Section4Acknowledgement(
            id=aid,
            notification_id=notification,
            sent_at=sent,
            patient=read_patient(r, patient, ppath, ("patient",)),
            sender=read_organisation(r, fk, fpath, ("sender",), _ORGS),
            recipient=read_organisation(r, region, rpath, ("recipient",), _ORGS),
            received_at=received,
            status=status,
            handled_at=handled,
            outcome=self.outcome(task, path),
            patient_informed=self.informed(task, path),
            case_officer=officer,
            certificate_id=self.certificate(task, path),
            note=get_note(r, task, path, ("note",)),
        )

    def status(self, task: dict[str, Any], path: str) -> HandlingStatus:
        r = self.r
        raw = r.text(task, "status", path)
        found = _STATUS_BACK.get(raw or "")
        if found is None:
            known = ", ".join(sorted(_STATUS_BACK))
            r.report(STRUCTURE, f"{path}.status", f"{path}.status: {raw!r} is not one of {known}")
            return HandlingStatus.RECEIVED
        r.map(("status",), f"{path}.status")
        return found

    def outcome(self, task: dict[str, Any], path: str) -> Outcome | None:
        r = self.r
        concept = r.obj(task, "businessStatus", path)
        if concept is None:
            return None
        for i, coding in enumerate(r.arr(concept, "coding", f"{path}.businessStatus")):
            if isinstance(coding, dict) and coding.get("system") == U["outcome"]:
                cpath = f"{path}.businessStatus.coding[{i}].code"
                try:
                    value = Outcome(str(coding.get("code")))
                except ValueError:
                    known = ", ".join(o.value for o in Outcome)
                    r.report(STRUCTURE, cpath, f"{cpath}: not one of {known}")
                    return None
                r.map(("outcome",), cpath)
                return value
        r.report(REQUIRED, f"{path}.businessStatus", f"a coding of {U['outcome']}")
        return None

    def _typed(
        self, task: dict[str, Any], path: str, key: str, code: str
    ) -> tuple[dict[str, Any], str] | None:
        for item, ipath in self.r.objs(task, key, path):
            if find_coding(item.get("type"), U["task_input"], code) is not None:
                return item, ipath
        return None

    def informed(self, task: dict[str, Any], path: str) -> bool | None:
        found = self._typed(task, path, "output", "patient-informed")
        if found is None:
            return None
        item, ipath = found
        value = self.r.boolean(item, "valueBoolean", ipath)
        if value is not None:
            self.r.map(("patient_informed",), f"{ipath}.valueBoolean")
        return value

    def certificate(self, task: dict[str, Any], path: str) -> Identifier | None:
        r = self.r
        found = self._typed(task, path, "input", "certificate")
        if found is None:
            return None
        item, ipath = found
        ident = r.obj(item, "valueIdentifier", ipath) or {}
        vpath = f"{ipath}.valueIdentifier"
        value = r.text(ident, "value", vpath)
        assigner = as_dict(as_dict(ident.get("assigner")).get("identifier"))
        system = r.text(assigner, "value", f"{vpath}.assigner.identifier")
        if value is None or system is None:
            r.missing(vpath, "the certificate id and its issuing unit (assigner)")
            return None
        r.map(("certificate_id",), vpath)
        r.map(("certificate_id", "value"), f"{vpath}.value")
        r.map(("certificate_id", "system"), f"{vpath}.assigner.identifier.value")
        return Identifier(system=system, value=value)

    def owner(self, task: dict[str, Any], path: str) -> tuple[dict[str, Any], str, Any]:
        """(Försäkringskassan's Organization, its path, the case officer or None)."""
        r, index = self.r, self.index
        owner = r.obj(task, "owner", path)
        found = (
            index.resolve_reference(owner, f"{path}.owner", ("PractitionerRole", "Organization"))
            if owner is not None
            else None
        )
        found = r.need(
            found, f"{path}.owner", "Försäkringskassan (Organization or PractitionerRole)"
        )
        res, rpath = found
        if res.get("resourceType") == "Organization":
            return res, rpath, None
        officer = read_contact_role(r, res, rpath, ("case_officer",))
        org, opath = r.need(
            index.resolve(res, "organization", rpath, "Organization"), f"{rpath}.organization"
        )
        return org, opath, officer


class _TaskMapping(CollectionMapping):
    """The focal Task is marked by its ``code`` (Task has no category)."""

    def matches(self, tree: dict[str, Any]) -> bool:
        return _is_task(tree)


MAPPING = register(
    _TaskMapping(
        DocumentKind.SECTION4_ACKNOWLEDGEMENT,
        "Task",
        Section4Acknowledgement,
        read=lambda tree, r: _Reading(tree, r).acknowledgement(),
        write=_bundle,
    )
)
__all__ = ["MAPPING"]
