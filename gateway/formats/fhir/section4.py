"""§4 notification <-> FHIR: a ``collection`` Bundle around a Communication to
Försäkringskassan (docs/fhir/section4-notification.md).

Communication (category ``section4-notification``): payload[0] the fixed statement, payload[1]
the coordinating function (a PractitionerRole at the sending unit, under SKR's fixed heading);
subject the Patient; sender the member of staff who sent it (or the unit); the sending region
and the Consent the transfer rests on as extensions; ``about`` the certificate it refers to.
What SKR advises against sending (reason, diagnoses, note) has a place so that the gateway can
see it and remove it: ``reasonCode`` and ``note``.
"""

from __future__ import annotations

from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.common import Code, Identifier
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID
from gateway.documents.issues import ModelPath
from gateway.documents.section4 import CONTACT_HEADING, Section4Notification
from gateway.formats.fhir import systems
from gateway.formats.fhir.bundles import (
    BundleReading,
    CollectionMapping,
    bundle,
    find_focus,
    full_url,
    kind_concept,
    read_business_id,
)
from gateway.formats.fhir.certificate import certificate_identifier
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.consent import read_consent, write_consent
from gateway.formats.fhir.datatypes import (
    extension,
    read_concept,
    read_datetime,
    reference,
    write_coding,
    write_datetime,
)
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.parties import (
    read_contact_role,
    read_organisation,
    read_patient,
    read_professional,
    read_unit,
    write_contact_role,
    write_organisation,
    write_patient,
    write_practitioner,
    write_practitioner_role,
    write_unit,
)
from gateway.formats.fhir.profile import check_entries
from gateway.formats.fhir.texts import get_note, get_text, put_note, put_text
from gateway.formats.fhir.tree import REQUIRED

MAP = load_mapping("section4-notification")
U = MAP.urls
KIND = DocumentKind.SECTION4_NOTIFICATION.value
_FK_TABLE = MAP.table("forsakringskassan")
_FK = {
    "identifier": {
        "system": systems.to_uri(ORGANISATIONSNUMMER_OID),
        "value": _FK_TABLE["organisation_number"],
    },
    "display": _FK_TABLE["name"],
}


# -- model -> tree ----------------------------------------------------------------------------


def _bundle(n: Section4Notification) -> dict[str, Any]:
    def url(*parts: str) -> str:
        return full_url(KIND, n.id, *parts)

    patient, region, coordinator = url("patient"), url("region"), url("coordinator")
    unit, provider, consent = url("unit"), url("provider"), url("consent")
    ext: list[dict[str, Any]] = [{"url": U["sending_region"], "valueReference": reference(region)}]
    if n.consent is not None:
        ext.append({"url": U["consent"], "valueReference": reference(consent)})
    comm: dict[str, Any] = {
        "resourceType": "Communication",
        "meta": {"profile": [U["communication_profile"]]},
        "extension": ext,
        "identifier": [{"system": U["notification_id"], "value": n.id}],
        "status": "completed",
        "category": [kind_concept(KIND)],
        "subject": reference(patient),
    }
    if n.certificate_id is not None:
        comm["about"] = [{"type": "Bundle", "identifier": certificate_identifier(n.certificate_id)}]
    comm["sent"] = write_datetime(n.sent_at)
    comm["recipient"] = [_FK]
    comm["sender"] = reference(url("sent-by-role") if n.sent_by is not None else unit)
    reasons = [{"coding": [write_coding(d)]} for d in n.diagnoses]
    if n.reason is not None:
        reasons.append({})
        put_text(reasons[-1], "text", n.reason)
    if reasons:
        comm["reasonCode"] = reasons
    statement: dict[str, Any] = {}
    put_text(statement, "contentString", n.statement)
    comm["payload"] = [
        statement,
        {"contentReference": {"reference": coordinator, "display": CONTACT_HEADING}},
    ]
    put_note(comm, n.note)
    role = write_contact_role(n.coordinator)
    role["organization"] = reference(unit)
    entries: list[tuple[str, dict[str, Any]]] = [
        (url("communication"), comm),
        (patient, write_patient(n.patient)),
        (coordinator, role),
        (unit, write_unit(n.unit, provider)),
        (provider, write_organisation(n.unit.care_provider)),
        (region, write_organisation(n.region)),
    ]
    if n.sent_by is not None:
        prac, sunit, sprov = url("sent-by"), url("sent-by-unit"), url("sent-by-provider")
        entries += [
            (url("sent-by-role"), write_practitioner_role(n.sent_by, prac, sunit)),
            (prac, write_practitioner(n.sent_by)),
            (sunit, write_unit(n.sent_by.unit, sprov)),
            (sprov, write_organisation(n.sent_by.unit.care_provider)),
        ]
    if n.consent is not None:
        entries.append((consent, write_consent(n.consent, patient)))
    return bundle(U["profile"], entries)


# -- tree -> model ----------------------------------------------------------------------------


class _Reading(BundleReading):
    def notification(self) -> Section4Notification:
        r, index = self.r, self.index
        check_entries(self.tree, index.entries, KIND, r)
        comm, path = r.need(
            find_focus(index, "Communication", KIND),
            "Bundle.entry",
            f"a Communication of category {KIND}",
        )
        r.map((), path)
        nid = read_business_id(r, comm, path, U["notification_id"], ("id",))
        sent_at = r.need(read_datetime(r, comm, "sent", path, ("sent_at",)), f"{path}.sent")
        patient, ppath = r.need(index.resolve(comm, "subject", path, "Patient"), f"{path}.subject")
        statement, coordinator = self.payload(comm, path)
        role, rpath = coordinator
        unit, upath = r.need(
            index.resolve(role, "organization", rpath, "Organization"),
            f"{rpath}.organization",
            "the sending unit",
        )
        region = self.ext_ref(comm, path, U["sending_region"], "Organization", ("region",))
        region, gpath = r.need(region, f"{path}.extension", f"{U['sending_region']}")
        sent_by = None
        sender = r.obj(comm, "sender", path)
        if sender is not None:
            found = index.resolve_reference(
                sender, f"{path}.sender", ("PractitionerRole", "Organization")
            )
            if found is not None and found[0].get("resourceType") == "PractitionerRole":
                sent_by = read_professional(r, index, *found, ("sent_by",))
        consent = None
        found_consent = self.ext_ref(comm, path, U["consent"], "Consent", ("consent",))
        if found_consent is not None:
            consent = read_consent(r, index, *found_consent, ("consent",), patient)
        reason, diagnoses = self.reasons(comm, path)
        note = get_note(r, comm, path, ("note",))
        kwargs: dict[str, Any] = {}
        if statement is not None:
            kwargs["statement"] = statement
        return Section4Notification(
            id=nid,
            sent_at=sent_at,
            patient=read_patient(r, patient, ppath, ("patient",)),
            coordinator=read_contact_role(r, role, rpath, ("coordinator",)),
            region=read_organisation(r, region, gpath, ("region",), (HSA_ID_OID,)),
            unit=read_unit(r, index, unit, upath, ("unit",)),
            sent_by=sent_by,
            consent=consent,
            certificate_id=self.certificate_id(comm, path),
            reason=reason,
            diagnoses=diagnoses,
            note=note,
            **kwargs,
        )

    def payload(
        self, comm: dict[str, Any], path: str
    ) -> tuple[str | None, tuple[dict[str, Any], str]]:
        """(the statement, the coordinating function's PractitionerRole entry)."""
        r = self.r
        statement = None
        coordinator = None
        for item, ipath in r.objs(comm, "payload", path):
            if statement is None and ("contentString" in item or "_contentString" in item):
                statement = get_text(r, item, "contentString", ipath, ("statement",))
            elif coordinator is None and "contentReference" in item:
                coordinator = self.index.resolve(
                    item, "contentReference", ipath, "PractitionerRole"
                )
        if statement is None:
            r.report(REQUIRED, f"{path}.payload", f"{path}.payload needs the fixed statement")
        coordinator = r.need(
            coordinator, f"{path}.payload", "the coordinating function (a PractitionerRole)"
        )
        return statement, coordinator

    def ext_ref(
        self, comm: dict[str, Any], path: str, url: str, rtype: str, mp: ModelPath
    ) -> tuple[dict[str, Any], str] | None:
        found = extension(self.r, comm, path, url)
        if found is None:
            return None
        ext, i = found
        epath = f"{path}.extension[{i}]"
        self.r.map(mp, epath)
        return self.index.resolve(ext, "valueReference", epath, rtype)

    def reasons(self, comm: dict[str, Any], path: str) -> tuple[str | None, list[Code]]:
        r = self.r
        reason = None
        diagnoses: list[Code] = []
        for concept, cpath in r.objs(comm, "reasonCode", path):
            if "coding" in concept:
                code = read_concept(r, concept, cpath, ("diagnoses", len(diagnoses)))
                if code is not None:
                    diagnoses.append(code)
            else:
                reason = get_text(r, concept, "text", cpath, ("reason",))
        return reason, diagnoses

    def certificate_id(self, comm: dict[str, Any], path: str) -> Identifier | None:
        r = self.r
        for about, apath in r.objs(comm, "about", path):
            ident = r.obj(about, "identifier", apath)
            if ident is None or ident.get("system") != U["certificate_id"]:
                continue
            ipath = f"{apath}.identifier"
            value = r.text(ident, "value", ipath)
            assigner = r.obj(ident, "assigner", ipath) or {}
            root = r.obj(assigner, "identifier", f"{ipath}.assigner") or {}
            system = r.text(root, "value", f"{ipath}.assigner.identifier")
            if value is None or system is None:
                r.missing(f"{ipath}", "the certificate id and its issuing unit (assigner)")
                return None
            r.map(("certificate_id",), ipath)
            r.map(("certificate_id", "value"), f"{ipath}.value")
            r.map(("certificate_id", "system"), f"{ipath}.assigner.identifier.value")
            return Identifier(system=system, value=value)
        return None


MAPPING = register(
    CollectionMapping(
        DocumentKind.SECTION4_NOTIFICATION,
        "Communication",
        Section4Notification,
        read=lambda tree, r: _Reading(tree, r).notification(),
        write=_bundle,
    )
)

__all__ = ["MAPPING"]
