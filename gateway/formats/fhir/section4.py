"""§4 notification <-> FHIR: a ``collection`` Bundle around a Communication to
Försäkringskassan (docs/fhir/section4-notification.md), written and read by the row engine
from ``mappings/section4-notification.toml``.

Communication (category ``section4-notification``): payload[0] the fixed statement, payload[1]
the coordinating function (a PractitionerRole at the sending unit, under SKR's fixed heading);
subject the Patient; sender the member of staff who sent it (or the unit); the sending region
and the Consent the transfer rests on as extensions; ``about`` the certificate it refers to.
What SKR advises against sending (reason, diagnoses, note) has a place so that the gateway can
see it and remove it: ``reasonCode`` and ``note``. The hooks below are what the rows cannot say.
"""

from __future__ import annotations

from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.common import Code, Identifier
from gateway.documents.section4 import CONTACT_HEADING, Section4Notification
from gateway.formats.fhir.certificate import certificate_identifier
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.datatypes import read_concept, write_coding
from gateway.formats.fhir.engine import Hook, Reading, RowMapping, Writing
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.texts import get_text, put_text
from gateway.formats.fhir.tree import REQUIRED

U = load_mapping("section4-notification").urls


def _write_payload(w: Writing, comm: dict[str, Any]) -> None:
    """payload[0] the statement, payload[1] the coordinating function under its heading."""
    statement: dict[str, Any] = {}
    put_text(statement, "contentString", w.document.statement)
    heading = {"reference": w.urls["coordinator"], "display": CONTACT_HEADING}
    comm["payload"] = [statement, {"contentReference": heading}]


def _read_payload(rd: Reading, comm: dict[str, Any], path: str) -> dict[str, Any]:
    r = rd.r
    statement = None
    coordinator = None
    for item, ipath in r.objs(comm, "payload", path):
        if statement is None and ("contentString" in item or "_contentString" in item):
            statement = get_text(r, item, "contentString", ipath, ("statement",))
        elif coordinator is None and "contentReference" in item:
            coordinator = rd.index.resolve(item, "contentReference", ipath, "PractitionerRole")
    if statement is None:
        r.report(REQUIRED, f"{path}.payload", f"{path}.payload needs the fixed statement")
    rd.entries["coordinator"] = r.need(
        coordinator, f"{path}.payload", "the coordinating function (a PractitionerRole)"
    )
    return {} if statement is None else {"statement": statement}


def _write_about(w: Writing, comm: dict[str, Any]) -> None:
    if w.document.certificate_id is not None:
        comm["about"] = [
            {"type": "Bundle", "identifier": certificate_identifier(w.document.certificate_id)}
        ]


def _read_about(rd: Reading, comm: dict[str, Any], path: str) -> dict[str, Any]:
    """The certificate the notification refers to: its id and issuing unit (the assigner)."""
    r = rd.r
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
            return {}
        r.map(("certificate_id",), ipath)
        r.map(("certificate_id", "value"), f"{ipath}.value")
        r.map(("certificate_id", "system"), f"{ipath}.assigner.identifier.value")
        return {"certificate_id": Identifier(system=system, value=value)}
    return {}


def _write_reasons(w: Writing, comm: dict[str, Any]) -> None:
    """Each diagnosis a coded reasonCode, the reason in words one more."""
    n = w.document
    reasons: list[dict[str, Any]] = [{"coding": [write_coding(d)]} for d in n.diagnoses]
    if n.reason is not None:
        reasons.append({})
        put_text(reasons[-1], "text", n.reason)
    if reasons:
        comm["reasonCode"] = reasons


def _read_reasons(rd: Reading, comm: dict[str, Any], path: str) -> dict[str, Any]:
    r = rd.r
    reason = None
    diagnoses: list[Code] = []
    for concept, cpath in r.objs(comm, "reasonCode", path):
        if "coding" in concept:
            code = read_concept(r, concept, cpath, ("diagnoses", len(diagnoses)))
            if code is not None:
                diagnoses.append(code)
        else:
            reason = get_text(r, concept, "text", cpath, ("reason",))
    return {"reason": reason, "diagnoses": diagnoses}


MAPPING = register(
    RowMapping(
        DocumentKind.SECTION4_NOTIFICATION,
        Section4Notification,
        {
            "payload": Hook(_write_payload, _read_payload),
            "about": Hook(_write_about, _read_about),
            "reasons": Hook(_write_reasons, _read_reasons),
        },
    )
)

__all__ = ["MAPPING"]
