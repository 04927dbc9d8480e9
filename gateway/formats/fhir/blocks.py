"""The shared blocks of the row engine: the parties (``parties.py``) and the Consent
(``consent.py``), each writing and reading the resources of one entry (engine.py).

Options an entry can give its block (``options = {...}`` in ``[[entry]]``):

* ``systems``: the identifier systems allowed (names in ``mappings/fhir-systems.toml``);
* ``name_required``: false where the profile leaves a name out when empty (certificates);
* ``at_practitioner`` (professional): the model path names the Practitioner, not the role;
* ``practitioner_first`` (professional): the Practitioner's entry before the role's.

Blocks that bring entries along (``also``): ``unit`` its care provider; ``professional`` the
Practitioner, the unit and its care provider, in that order.
"""

from __future__ import annotations

from typing import Any

from gateway.documents.issues import ModelPath
from gateway.formats.fhir import parties, systems
from gateway.formats.fhir.consent import read_consent, write_consent
from gateway.formats.fhir.engine import BLOCKS, Block, Found, Reading, Writing
from gateway.formats.fhir.mapping import EntryRow

_BY_NAME = {s.name: s.model for s in systems.SYSTEMS}
Made = list[tuple[str, dict[str, Any]]]


def _systems(e: EntryRow) -> tuple[str, ...]:
    return tuple(_BY_NAME[name] for name in e.options.get("systems", ()))


def _named(e: EntryRow) -> bool:
    return bool(e.options.get("name_required", True))


def _patient_read(rd: Reading, found: Found, mp: ModelPath, e: EntryRow) -> Any:
    return parties.read_patient(rd.r, *found, mp)


def _contact_role_read(rd: Reading, found: Found, mp: ModelPath, e: EntryRow) -> Any:
    return parties.read_contact_role(rd.r, *found, mp)


def _organisation_read(rd: Reading, found: Found, mp: ModelPath, e: EntryRow) -> Any:
    return parties.read_organisation(rd.r, *found, mp, _systems(e), name_required=_named(e))


def _unit_write(w: Writing, value: Any, e: EntryRow) -> Made:
    named = _named(e)
    return [
        (e.name, parties.write_unit(value, w.urls[e.also[0]], name_required=named)),
        (e.also[0], parties.write_organisation(value.care_provider, name_required=named)),
    ]


def _unit_read(rd: Reading, found: Found, mp: ModelPath, e: EntryRow) -> Any:
    return parties.read_unit(rd.r, rd.index, *found, mp, name_required=_named(e))


def _professional_write(w: Writing, value: Any, e: EntryRow) -> Made:
    """The PractitionerRole (the entry), its Practitioner, unit and care provider (``also``,
    in that order); ``practitioner_first``: the Practitioner before the role."""
    practitioner, unit, provider = e.also
    named = _named(e)
    role = (e.name, parties.write_practitioner_role(value, w.urls[practitioner], w.urls[unit]))
    person = (practitioner, parties.write_practitioner(value))
    made = [person, role] if e.options.get("practitioner_first") else [role, person]
    return [
        *made,
        (unit, parties.write_unit(value.unit, w.urls[provider], name_required=named)),
        (provider, parties.write_organisation(value.unit.care_provider, name_required=named)),
    ]


def _professional_read(rd: Reading, found: Found, mp: ModelPath, e: EntryRow) -> Any:
    return parties.read_professional(
        rd.r,
        rd.index,
        *found,
        mp,
        name_required=_named(e),
        at_practitioner=bool(e.options.get("at_practitioner", False)),
    )


def _consent_write(w: Writing, value: Any, e: EntryRow) -> Made:
    return [(e.name, write_consent(value, w.urls[e.options.get("patient", "patient")]))]


def _consent_read(rd: Reading, found: Found, mp: ModelPath, e: EntryRow) -> Any:
    subject = rd.entries.get(e.options.get("patient", "patient"))
    return read_consent(rd.r, rd.index, *found, mp, subject[0] if subject else None)


BLOCKS.update(
    patient=Block(lambda w, v, e: [(e.name, parties.write_patient(v))], _patient_read),
    contact_role=Block(
        lambda w, v, e: [(e.name, parties.write_contact_role(v))], _contact_role_read
    ),
    organisation=Block(
        lambda w, v, e: [(e.name, parties.write_organisation(v, name_required=_named(e)))],
        _organisation_read,
    ),
    unit=Block(_unit_write, _unit_read),
    professional=Block(_professional_write, _professional_read),
    consent=Block(_consent_write, _consent_read),
)

__all__ = ["BLOCKS"]
