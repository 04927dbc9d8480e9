"""Försäkringskassan's acknowledgement of a §4 notification <-> FHIR: a ``collection`` Bundle
around a Task, Försäkringskassan's handling of the notification
(docs/fhir/section4-acknowledgement.md), written and read by the row engine from
``mappings/section4-acknowledgement.toml``.

Task: ``code`` the document kind (Task has no category); ``status`` received (not yet handled)
or completed (handled); ``businessStatus`` the outcome (CodeSystem section4-outcome);
``executionPeriod`` from the notification's receipt to its handling; ``lastModified`` when the
answer was sent; ``for`` the Patient; ``owner`` Försäkringskassan, ``requester`` the region the
answer goes to, the case officer (a PractitionerRole) by the extension ``case-officer``;
``note`` a note. Task rather than Communication: the acknowledgement reports the state of a
piece of work (received, handled, with an outcome), which is what Task's status and
businessStatus are for. The hooks below are what the rows cannot say: ``focus`` the §4
notification it answers (a Communication by the notification's identifier), ``input`` the
certificate the notification referred to, ``output`` whether the patient was told.
"""

from __future__ import annotations

from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.acknowledgement import Section4Acknowledgement
from gateway.documents.common import Identifier
from gateway.formats.fhir.certificate import certificate_identifier
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.datatypes import find_coding
from gateway.formats.fhir.engine import Hook, Reading, RowMapping, Writing
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.tree import as_dict

U = load_mapping("section4-acknowledgement").urls


def _data(code: str) -> dict[str, Any]:
    """The type of a Task input or output (CodeSystem section4-acknowledgement-data)."""
    return {"coding": [{"system": U["task_input"], "code": code}]}


def _write_focus(w: Writing, task: dict[str, Any]) -> None:
    task["focus"] = {
        "type": "Communication",
        "identifier": {"system": U["notification_id"], "value": w.document.notification_id},
    }


def _read_focus(rd: Reading, task: dict[str, Any], path: str) -> dict[str, Any]:
    r = rd.r
    focus = r.obj(task, "focus", path) or {}
    ident = r.obj(focus, "identifier", f"{path}.focus") or {}
    notification = None
    if ident.get("system") == U["notification_id"]:
        notification = r.text(ident, "value", f"{path}.focus.identifier")
        r.map(("notification_id",), f"{path}.focus.identifier.value")
    notification = r.need(
        notification, f"{path}.focus", f"the notification's identifier ({U['notification_id']})"
    )
    return {"notification_id": notification}


def _typed(
    rd: Reading, task: dict[str, Any], path: str, key: str, code: str
) -> tuple[dict[str, Any], str] | None:
    """The Task's input or output of type ``code``."""
    for item, ipath in rd.r.objs(task, key, path):
        if find_coding(item.get("type"), U["task_input"], code) is not None:
            return item, ipath
    return None


def _write_input(w: Writing, task: dict[str, Any]) -> None:
    if w.document.certificate_id is not None:
        value = certificate_identifier(w.document.certificate_id)
        task["input"] = [{"type": _data("certificate"), "valueIdentifier": value}]


def _read_input(rd: Reading, task: dict[str, Any], path: str) -> dict[str, Any]:
    """The certificate the notification referred to: its id and issuing unit (the assigner)."""
    r = rd.r
    found = _typed(rd, task, path, "input", "certificate")
    if found is None:
        return {}
    item, ipath = found
    vpath = f"{ipath}.valueIdentifier"
    ident = r.obj(item, "valueIdentifier", ipath) or {}
    value = r.text(ident, "value", vpath)
    assigner = as_dict(as_dict(ident.get("assigner")).get("identifier"))
    system = r.text(assigner, "value", f"{vpath}.assigner.identifier")
    if value is None or system is None:
        r.missing(vpath, "the certificate id and its issuing unit (assigner)")
        return {}
    r.map(("certificate_id",), vpath)
    r.map(("certificate_id", "value"), f"{vpath}.value")
    r.map(("certificate_id", "system"), f"{vpath}.assigner.identifier.value")
    return {"certificate_id": Identifier(system=system, value=value)}


def _write_output(w: Writing, task: dict[str, Any]) -> None:
    if w.document.patient_informed is not None:
        told = {"type": _data("patient-informed"), "valueBoolean": w.document.patient_informed}
        task["output"] = [told]


def _read_output(rd: Reading, task: dict[str, Any], path: str) -> dict[str, Any]:
    found = _typed(rd, task, path, "output", "patient-informed")
    if found is None:
        return {}
    item, ipath = found
    value = rd.r.boolean(item, "valueBoolean", ipath)
    if value is None:
        return {}
    rd.r.map(("patient_informed",), f"{ipath}.valueBoolean")
    return {"patient_informed": value}


MAPPING = register(
    RowMapping(
        DocumentKind.SECTION4_ACKNOWLEDGEMENT,
        Section4Acknowledgement,
        {
            "focus": Hook(_write_focus, _read_focus),
            "input": Hook(_write_input, _read_input),
            "output": Hook(_write_output, _read_output),
        },
    )
)

__all__ = ["MAPPING"]
