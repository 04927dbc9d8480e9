"""The people and organisations of a document in FHIR: Patient, Organization and its contact,
a contact function (PractitionerRole), a care unit with its care provider, and a member of
staff (Practitioner + PractitionerRole at a unit).

The row engine's blocks (``blocks.py``) and the SIP's hooks use them; shapes are documented
in ``docs/fhir/``. Readers take the model path of what
they build, so the source map names every element they read. ``name_required``: the plan
profiles require an organisation's name (an empty one is a data-absent-reason, a missing one
is reported); the certificate profile does not (an empty name is left out).
"""

from __future__ import annotations

from typing import Any

from gateway.documents.common import (
    CareUnit,
    Code,
    Contact,
    HealthcareProfessional,
    Organisation,
    Person,
    PersonName,
)
from gateway.documents.identity import HSA_ID_OID, PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import systems
from gateway.formats.fhir.datatypes import (
    BundleIndex,
    pick_identifier,
    read_address,
    read_concept,
    read_ext_text,
    read_identifier,
    read_telecom,
    reference,
    write_address,
    write_coding,
    write_identifier,
    write_telecom,
)
from gateway.formats.fhir.systems import URI
from gateway.formats.fhir.texts import DATA_ABSENT, get_text, put_ext_text, put_text
from gateway.formats.fhir.tree import STRUCTURE, Reader

MIDDLE_NAME_URL = URI["middle_name"]
#: HL7 Sweden's qualification identifier (SEBasePractitioner ``qualification.identifier``)
PRESCRIBER_CODE_SYSTEM = systems.to_uri("1.2.752.116.3.1.2")
PRESCRIBER_QUALIFICATION_TEXT = "Förskrivarkod"
HSA = (HSA_ID_OID,)
_PERSON_SYSTEMS = (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID)
_WORKPLACE = "1.2.752.29.4.71"


# -- Patient ---------------------------------------------------------------------------------


def write_patient(p: Person, extension: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient"}
    if extension:
        out["extension"] = extension
    out["identifier"] = [write_identifier(p.id)]
    name: dict[str, Any] = {}
    if p.name.middle is not None:
        name["extension"] = [put_ext_text({"url": MIDDLE_NAME_URL}, p.name.middle)]
    if p.name.family:
        name["family"] = p.name.family
    if p.name.given:
        name["given"] = [p.name.given]
    if name:
        out["name"] = [name]
    if p.address is not None:
        out["address"] = [write_address(p.address)]
    return out


def read_patient(r: Reader, res: dict[str, Any], path: str, mp: ModelPath) -> Person:
    r.map(mp, path)
    ident = pick_identifier(r, res, path, (*mp, "id"), _PERSON_SYSTEMS)
    ident = r.need(ident, f"{path}.identifier", "a personnummer or samordningsnummer")
    name = PersonName()
    names = r.objs(res, "name", path)
    if names:
        n, npath = names[0]
        r.map((*mp, "name"), npath)
        middle = read_ext_text(r, n, npath, MIDDLE_NAME_URL, (*mp, "name", "middle"))
        given = r.arr(n, "given", npath)
        if given:
            r.map((*mp, "name", "given"), f"{npath}.given[0]")
        family = r.text(n, "family", npath)
        if family:
            r.map((*mp, "name", "family"), f"{npath}.family")
        name = PersonName(
            given=given[0] if given and isinstance(given[0], str) else "",
            family=family or "",
            middle=middle,
        )
    addresses = r.objs(res, "address", path)
    address = read_address(r, *addresses[0], (*mp, "address")) if addresses else None
    return Person(id=ident, name=name, address=address)


# -- Organization and its contact ------------------------------------------------------------


def _put_name(out: dict[str, Any], name: str, required: bool) -> None:
    if required:
        put_text(out, "name", name)
    elif name:
        out["name"] = name


def _read_name(
    r: Reader, res: dict[str, Any], path: str, mp: ModelPath, required: bool, what: str
) -> str:
    name = get_text(r, res, "name", path, (*mp, "name"))
    if not required:
        r.map((*mp, "name"), f"{path}.name")
    elif name is None:
        r.missing(f"{path}.name", what)
    return name or ""


def write_org_contact(c: Contact) -> dict[str, Any]:
    """A contact as ``Organization.contact`` (purpose.text is the role)."""
    out: dict[str, Any] = {}
    if c.role is not None:
        put_text(out.setdefault("purpose", {}), "text", c.role)
    if c.name is not None:
        put_text(out.setdefault("name", {}), "text", c.name)
    write_telecom(out, c.phone, c.email)
    if c.address is not None:
        out["address"] = write_address(c.address)
    return out or {"extension": [DATA_ABSENT]}


def read_org_contact(r: Reader, obj: dict[str, Any], path: str, mp: ModelPath) -> Contact:
    r.map(mp, path)
    purpose = r.obj(obj, "purpose", path)
    name = r.obj(obj, "name", path)
    addr = r.obj(obj, "address", path)
    return Contact(
        role=get_text(r, purpose, "text", f"{path}.purpose", (*mp, "role")) if purpose else None,
        name=get_text(r, name, "text", f"{path}.name", (*mp, "name")) if name else None,
        phone=read_telecom(r, obj, path, "phone", (*mp, "phone")),
        email=read_telecom(r, obj, path, "email", (*mp, "email")),
        address=read_address(r, addr, f"{path}.address", (*mp, "address")) if addr else None,
    )


def write_organisation(o: Organisation, *, name_required: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Organization"}
    if o.id is not None:
        out["identifier"] = [write_identifier(o.id)]
    _put_name(out, o.name, name_required)
    if o.contact is not None:
        out["contact"] = [write_org_contact(o.contact)]
    return out


def read_organisation(
    r: Reader,
    res: dict[str, Any],
    path: str,
    mp: ModelPath,
    allowed: tuple[str, ...] = (),
    *,
    name_required: bool = True,
) -> Organisation:
    """An Organization; its identifier in one of the ``allowed`` systems (any when empty)."""
    r.map(mp, path)
    if allowed:
        ident = pick_identifier(r, res, path, (*mp, "id"), allowed)
    else:
        ids = r.objs(res, "identifier", path)
        ident = read_identifier(r, *ids[0], (*mp, "id")) if ids else None
    name = _read_name(r, res, path, mp, name_required, "the organisation's name")
    contacts = r.objs(res, "contact", path)
    contact = read_org_contact(r, *contacts[0], (*mp, "contact")) if contacts else None
    return Organisation(id=ident, name=name, contact=contact)


# -- a contact function: PractitionerRole ----------------------------------------------------


def write_contact_role(c: Contact) -> dict[str, Any]:
    """A contact (a person or a function, e.g. the coordinating function) as a
    PractitionerRole: the name as ``practitioner.display``, the role as ``code.text``, phone
    and e-mail as ``telecom``; an address as a contained Location."""
    out: dict[str, Any] = {"resourceType": "PractitionerRole"}
    if c.address is not None:
        out["contained"] = [
            {"resourceType": "Location", "id": "address", "address": write_address(c.address)}
        ]
    if c.name is not None:
        put_text(out.setdefault("practitioner", {}), "display", c.name)
    if c.role is not None:
        out["code"] = [{}]
        put_text(out["code"][0], "text", c.role)
    if c.address is not None:
        out["location"] = [{"reference": "#address"}]
    write_telecom(out, c.phone, c.email)
    return out


def read_contact_role(r: Reader, res: dict[str, Any], path: str, mp: ModelPath) -> Contact:
    r.map(mp, path)
    prac = r.obj(res, "practitioner", path)
    name = get_text(r, prac, "display", f"{path}.practitioner", (*mp, "name")) if prac else None
    codes = r.objs(res, "code", path)
    role = get_text(r, codes[0][0], "text", codes[0][1], (*mp, "role")) if codes else None
    address = None
    for loc, lpath in r.objs(res, "location", path):
        if loc.get("reference") != "#address":
            continue
        for cont, cpath in r.objs(res, "contained", path):
            if cont.get("resourceType") == "Location" and cont.get("id") == "address":
                addr = r.obj(cont, "address", cpath)
                if addr is not None:
                    address = read_address(r, addr, f"{cpath}.address", (*mp, "address"))
        if address is None:
            r.report(STRUCTURE, f"{lpath}.reference", "'#address' names no contained Location")
    return Contact(
        name=name,
        role=role,
        phone=read_telecom(r, res, path, "phone", (*mp, "phone")),
        email=read_telecom(r, res, path, "email", (*mp, "email")),
        address=address,
    )


# -- a care unit and its staff ---------------------------------------------------------------


def write_unit(u: CareUnit, provider_url: str, *, name_required: bool = True) -> dict[str, Any]:
    ids = [write_identifier(u.id)]
    if u.workplace_code is not None:
        ids.append(write_identifier(u.workplace_code))
    out: dict[str, Any] = {"resourceType": "Organization", "identifier": ids}
    _put_name(out, u.name, name_required)
    write_telecom(out, u.phone or None, u.email)
    if u.address.street or u.address.postal_code or u.address.city:
        out["address"] = [write_address(u.address)]
    out["partOf"] = reference(provider_url)
    return out


def read_unit(
    r: Reader,
    index: BundleIndex,
    res: dict[str, Any],
    path: str,
    mp: ModelPath,
    *,
    name_required: bool = True,
) -> CareUnit:
    r.map(mp, path)
    ident = r.need(pick_identifier(r, res, path, (*mp, "id"), HSA), f"{path}.identifier")
    workplace = None
    for obj, p in r.objs(res, "identifier", path):
        if obj.get("system") == systems.to_uri(_WORKPLACE):
            workplace = read_identifier(r, obj, p, (*mp, "workplace_code"))
    name = _read_name(r, res, path, mp, name_required, "the care unit's name")
    addresses = r.objs(res, "address", path)
    kwargs: dict[str, Any] = {}
    if addresses:
        kwargs["address"] = read_address(r, *addresses[0], (*mp, "address"))
    provider, ppath = r.need(index.resolve(res, "partOf", path, "Organization"), f"{path}.partOf")
    return CareUnit(
        id=ident,
        name=name,
        workplace_code=workplace,
        phone=read_telecom(r, res, path, "phone", (*mp, "phone")) or "",
        email=read_telecom(r, res, path, "email", (*mp, "email")),
        care_provider=read_organisation(
            r, provider, ppath, (*mp, "care_provider"), HSA, name_required=name_required
        ),
        **kwargs,
    )


def write_practitioner(h: HealthcareProfessional) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Practitioner", "identifier": [write_identifier(h.id)]}
    if h.name:
        out["name"] = [{"text": h.name}]
    quals: list[dict[str, Any]] = [
        {"code": {"coding": [write_coding(lp)]}} for lp in h.licensed_professions
    ]
    if h.prescriber_code is not None:
        # HL7 Sweden: the förskrivarkod identifies a qualification (the first licensed
        # profession's, as in SEBasePractitioner's example; else one named only by text)
        prescriber: dict[str, Any] = {"system": PRESCRIBER_CODE_SYSTEM}
        put_text(prescriber, "value", h.prescriber_code)
        if not quals:
            quals.append({"code": {"text": PRESCRIBER_QUALIFICATION_TEXT}})
        quals[0] = {"identifier": [prescriber], **quals[0]}
    if quals:
        out["qualification"] = quals
    return out


def write_practitioner_role(
    h: HealthcareProfessional, practitioner_url: str, unit_url: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "practitioner": reference(practitioner_url),
        "organization": reference(unit_url),
    }
    if h.positions:
        out["code"] = [{"coding": [write_coding(p)]} for p in h.positions]
    if h.specialities:
        out["specialty"] = [{"coding": [write_coding(s)]} for s in h.specialities]
    return out


def read_professional(
    r: Reader,
    index: BundleIndex,
    role: dict[str, Any],
    rpath: str,
    mp: ModelPath,
    *,
    name_required: bool = True,
    at_practitioner: bool = False,
) -> HealthcareProfessional:
    """A member of staff from the PractitionerRole ``role`` (its Practitioner and unit). The
    model path names the PractitionerRole, or with ``at_practitioner`` the Practitioner."""
    prac, ppath = r.need(
        index.resolve(role, "practitioner", rpath, "Practitioner"), f"{rpath}.practitioner"
    )
    unit, upath = r.need(
        index.resolve(role, "organization", rpath, "Organization"), f"{rpath}.organization"
    )
    r.map(mp, ppath if at_practitioner else rpath)
    ident = r.need(pick_identifier(r, prac, ppath, (*mp, "id"), HSA), f"{ppath}.identifier")
    prescriber = None
    for obj, p in r.objs(prac, "identifier", ppath):  # where the gateway used to write it
        if _is_prescriber(obj):
            prescriber = get_text(r, obj, "value", p, (*mp, "prescriber_code"))
    names = r.objs(prac, "name", ppath)
    name = ""
    if names:
        name = get_text(r, names[0][0], "text", names[0][1], (*mp, "name")) or ""
    professions: list[Code] = []
    for q, qpath in r.objs(prac, "qualification", ppath):
        for obj, p in r.objs(q, "identifier", qpath):
            if _is_prescriber(obj):
                prescriber = get_text(r, obj, "value", p, (*mp, "prescriber_code"))
        concept = r.obj(q, "code", qpath)
        if concept is None:
            r.missing(f"{qpath}.code")
            continue
        if "coding" not in concept and prescriber is not None:
            continue  # the förskrivarkod's own qualification
        k = len(professions)
        code = read_concept(r, concept, f"{qpath}.code", (*mp, "licensed_professions", k))
        if code is not None:
            professions.append(code)
    return HealthcareProfessional(
        id=ident,
        name=name,
        prescriber_code=prescriber,
        positions=read_concepts(r, role, "code", rpath, (*mp, "positions")),
        specialities=read_concepts(r, role, "specialty", rpath, (*mp, "specialities")),
        licensed_professions=professions,
        unit=read_unit(r, index, unit, upath, (*mp, "unit"), name_required=name_required),
    )


def _is_prescriber(ident: dict[str, Any]) -> bool:
    system = ident.get("system")
    return isinstance(system, str) and systems.to_uri(system) == PRESCRIBER_CODE_SYSTEM


def read_concepts(
    r: Reader, owner: dict[str, Any], key: str, path: str, mp: ModelPath
) -> list[Code]:
    """The first coding of each CodeableConcept in ``owner[key]``."""
    out = []
    for k, (concept, cpath) in enumerate(r.objs(owner, key, path)):
        code = read_concept(r, concept, cpath, (*mp, k))
        if code is not None:
            out.append(code)
    return out


__all__ = [
    "HSA",
    "MIDDLE_NAME_URL",
    "PRESCRIBER_CODE_SYSTEM",
    "read_concepts",
    "read_contact_role",
    "read_org_contact",
    "read_organisation",
    "read_patient",
    "read_professional",
    "read_unit",
    "write_contact_role",
    "write_org_contact",
    "write_organisation",
    "write_patient",
    "write_practitioner",
    "write_practitioner_role",
    "write_unit",
]
