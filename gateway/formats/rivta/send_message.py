"""A §4 notification as RIVTA SendMessageToRecipient v2 (Webcert's case communication).

SKR's recommendation (seed 003) routes the notification through Webcert's case communication,
category "Administrativ dialog - Övriga frågor": amne ``OVRIGT``, and a text of the two fixed
phrases, the patient's name and personnummer and the coordinating function's contact
details - nothing else, whatever else the notification carries. The sender (skickatAv) is
``sent_by`` acting for the notification's ``unit``; only what the message type requires of
them is written (HSA-ids, names, the unit's address and workplace code).

The result is the bare ``SendMessageToRecipient`` element; the SOAP envelope and its RIVTA
``LogicalAddress`` header belong to the delivery transport.
"""

from __future__ import annotations

import re
from typing import NamedTuple, cast

from gateway.documents.common import Contact, HealthcareProfessional, Identifier
from gateway.documents.identity import PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID
from gateway.documents.section4 import CONTACT_HEADING, STATEMENT, Section4Notification
from gateway.formats.base import CannotRender
from gateway.formats.rivta.hos_personal import write_enhet
from gateway.formats.rivta.namespaces import (
    ENHET,
    FULLST_NAMN,
    HSA_ID_ROOT,
    KV_AMNE,
    PERSONAL_ID,
    SEND_MESSAGE_NAMESPACES,
    SEND_MESSAGE_TO_RECIPIENT,
    format_timestamp,
    write_cv,
    write_ii,
)
from gateway.formats.rivta.xmlwriter import XmlWriter

#: Webcert's subject for "Övriga frågor" (KV_AMNE), the category SKR points to.
AMNE_OVRIGT = "OVRIGT"
AMNE_OVRIGT_DISPLAY = "Övrigt"
#: Försäkringskassan's logical address on the national platform (its organisation number,
#: 202100-5521): what Webcert sends in production (``sendmessagetofk.logicaladdress``) and what
#: Intygstjänsten forwards the message to. ``FKASSA`` is Inera's recipient *id* (KV_PART), not
#: an address; test environments use stubs such as ``FK``. The SOAP ``LogicalAddress`` header
#: carries the same value.
FK_LOGICAL_ADDRESS = "2021005521"

_PERSON_ID = re.compile(r"\d{12}")


def _tag(local: str) -> str:
    return f"{{{SEND_MESSAGE_TO_RECIPIENT}}}{local}"


def message_text(n: Section4Notification) -> str:
    """The meddelande: the statement, the patient, the coordinator's contact details."""
    name = " ".join(
        part
        for part in (n.patient.name.given, n.patient.name.middle, n.patient.name.family)
        if part
    )
    lines = [
        STATEMENT,
        f"Patient: {name}, {n.patient.id.value}" if name else f"Patient: {n.patient.id.value}",
        f"{CONTACT_HEADING}:",
    ]
    lines.extend(_contact_lines(n.coordinator))
    # a line break inside a value would read as one more line (and item) of the text
    return "\n".join(" ".join(line.splitlines()) for line in lines)


def _contact_lines(c: Contact) -> list[str]:
    out = [line for line in (c.name, c.role) if line]
    if c.phone:
        out.append(f"Telefon: {c.phone}")
    if c.email:
        out.append(f"E-post: {c.email}")
    if c.address is not None:
        place = " ".join(p for p in (c.address.postal_code, c.address.city) if p)
        address = ", ".join(p for p in (c.address.street, place) if p)
        if address:
            out.append(f"Adress: {address}")
    return out


class _Required(NamedTuple):
    certificate_id: Identifier
    sent_by: HealthcareProfessional


def _required(n: Section4Notification) -> _Required:
    missing = []
    if n.certificate_id is None:
        missing.append("the certificate it refers to (certificateId)")
    if n.sent_by is None:
        missing.append("the sender (sentBy)")
    if n.unit.workplace_code is None:
        missing.append("the unit's workplace code (unit/workplaceCode)")
    if n.unit.care_provider.id is None:
        missing.append("the care provider's HSA-id (unit/careProvider/id)")
    if n.patient.id.system not in (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID) or not (
        _PERSON_ID.fullmatch(n.patient.id.value)
    ):
        missing.append("a 12-digit personnummer or samordningsnummer for the patient")
    if not (n.coordinator.phone or n.coordinator.email):
        missing.append("a telephone number or e-mail address for the coordinator")
    if missing:
        raise CannotRender(
            f"§4 notification {n.id!r} cannot be sent as SendMessageToRecipient: it lacks "
            + "; ".join(missing)
        )
    return _Required(cast(Identifier, n.certificate_id), cast(HealthcareProfessional, n.sent_by))


def render_send_message(
    n: Section4Notification, *, message_id: str | None = None, recipient: str = FK_LOGICAL_ADDRESS
) -> bytes:
    """SendMessageToRecipient v2 for ``n``. ``message_id`` defaults to the notification's id,
    so that sending the same notification twice gives the same message id (receivers
    deduplicate on it). ``recipient`` is the logiskAdressMottagare: Försäkringskassan's
    production address unless a test environment names its own. Raises
    :class:`CannotRender` when a required part is missing."""
    req = _required(n)
    w = XmlWriter(SEND_MESSAGE_NAMESPACES, pretty=True)
    w.open(_tag("SendMessageToRecipient"))
    w.leaf(_tag("meddelande-id"), message_id or n.id)
    w.leaf(_tag("skickatTidpunkt"), format_timestamp(n.sent_at))
    write_ii(w, _tag("intygs-id"), req.certificate_id.system, req.certificate_id.value)
    write_ii(w, _tag("patientPerson-id"), n.patient.id.system, n.patient.id.value)
    w.leaf(_tag("logiskAdressMottagare"), recipient)
    write_cv(w, _tag("amne"), AMNE_OVRIGT, KV_AMNE, AMNE_OVRIGT_DISPLAY)
    w.leaf(_tag("rubrik"), STATEMENT)
    w.leaf(_tag("meddelande"), message_text(n))
    w.open(_tag("skickatAv"))
    write_ii(w, PERSONAL_ID, HSA_ID_ROOT, req.sent_by.id.value)
    w.leaf(FULLST_NAMN, req.sent_by.name)
    write_enhet(w, ENHET, n.unit)
    w.close()
    w.close()
    return w.done()
