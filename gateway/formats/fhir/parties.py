"""The building blocks the plan-like kinds share in FHIR: Patient, Organization, a contact
function (PractitionerRole), a care unit and its staff, Consent, local refs and texts.

Used by the SIP, return-to-work plan and §4 notification mappings (``sip.py``,
``return_to_work.py``, ``section4.py``); shapes are documented in ``docs/fhir/``. Readers take
the model path of what they build, so the source map names every element they read.
"""

from __future__ import annotations

import uuid
from typing import Any

from gateway.documents.common import (
    CareUnit,
    Code,
    Consent,
    ConsentMethod,
    Contact,
    HealthcareProfessional,
    Organisation,
    Person,
    PersonName,
    Recipient,
)
from gateway.documents.identity import HSA_ID_OID, PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import systems
from gateway.formats.fhir.datatypes import (
    DATA_ABSENT,
    BundleIndex,
    extension,
    pick_identifier,
    read_address,
    read_datetime,
    read_identifier,
    read_telecom,
    reference,
    telecom,
    write_address,
    write_datetime,
    write_identifier,
)
from gateway.formats.fhir.systems import BASE
from gateway.formats.fhir.tree import REFERENCE, REQUIRED, STRUCTURE, SYSTEM, Reader, Unreadable

# URIs shared by the three kinds (docs/fhir/messaging.md lists them with the rest).
DOCUMENT_KIND_SYSTEM = f"{BASE}/CodeSystem/document-kind"
RECIPIENT_SYSTEM = f"{BASE}/sid/recipient"
LOCAL_REF_SYSTEM = f"{BASE}/sid/local-ref"
CONSENT_ID_SYSTEM = f"{BASE}/sid/consent-id"
MIDDLE_NAME_URL = f"{BASE}/StructureDefinition/middle-name"  # as the certificate mapping
VERSION_URL = f"{BASE}/StructureDefinition/document-version"
CONSENT_METHOD_URL = f"{BASE}/StructureDefinition/consent-method"
CONSENT_PURPOSE_URL = f"{BASE}/StructureDefinition/consent-purpose"
CONSENT_RECORDED_BY_URL = f"{BASE}/StructureDefinition/consent-recorded-by"
PRESCRIBER_CODE_SYSTEM = f"{BASE}/sid/forskrivarkod"  # as the certificate mapping

_UUID_NS = uuid.UUID("0b9c5f4e-6a0d-5c55-8f0e-3d2b1a9c7e42")
_PERSON_SYSTEMS = (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID)
_HSA = (HSA_ID_OID,)
_WORKPLACE = "1.2.752.29.4.71"
_CONSENT_SCOPE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy",
        }
    ]
}
_CONSENT_CATEGORY = {"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}
_CONSENT_POLICY = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
}
_RECIPIENT_ROLE = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}
    ]
}


def full_url(*parts: str) -> str:
    """A stable ``urn:uuid:`` for an entry: the same document renders the same Bundle."""
    return f"urn:uuid:{uuid.uuid5(_UUID_NS, '|'.join(parts))}"


def entry_id(url: str) -> str:
    return url.rsplit(":", 1)[1]


def kind_concept(kind: str) -> dict[str, Any]:
    return {"coding": [{"system": DOCUMENT_KIND_SYSTEM, "code": kind}]}


def has_kind(resource: dict[str, Any], kind: str) -> bool:
    """Cheap detection: does ``resource.category`` carry our document-kind code ``kind``?"""
    cats = resource.get("category")
    if isinstance(cats, dict):  # Communication.category and CarePlan.category both repeat
        cats = [cats]
    for cat in cats or ():
        for c in (cat.get("coding") or ()) if isinstance(cat, dict) else ():
            if isinstance(c, dict) and c.get("system") == DOCUMENT_KIND_SYSTEM:
                return c.get("code") == kind
    return False


def focus_of(tree: dict[str, Any], rtype: str, kind: str) -> dict[str, Any] | None:
    """The focal resource of a collection (first entry) or message (second entry) Bundle."""
    if tree.get("resourceType") != "Bundle":
        return None
    for entry in (tree.get("entry") or ())[:2]:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == rtype and has_kind(res, kind):
            return res
    return None


def bundle(profile: str, entries: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A ``collection`` Bundle, focal resource first."""
    for url, res in entries:
        res["id"] = entry_id(url)
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [profile]},
        "type": "collection",
        "entry": [{"fullUrl": url, "resource": res} for url, res in entries],
    }


# -- texts: FHIR has no empty strings, the model does --------------------------------------


def put_text(out: dict[str, Any], key: str, value: str | None) -> None:
    """An optional text: absent for None; an empty one as a data-absent-reason on ``_key``."""
    if value:
        out[key] = value
    elif value is not None:
        out["_" + key] = {"extension": [DATA_ABSENT]}


def get_text(
    r: Reader, obj: dict[str, Any], key: str, path: str, model_path: ModelPath | None = None
) -> str | None:
    """The inverse of :func:`put_text`: None when absent, "" for a data-absent primitive."""
    value = r.text(obj, key, path)
    if value is None:
        twin = obj.get("_" + key)
        if isinstance(twin, dict) and DATA_ABSENT in (twin.get("extension") or ()):
            value = ""
    if value is not None and model_path is not None:
        r.map(model_path, f"{path}.{key}")
    return value


def put_ext_text(ext: dict[str, Any], value: str) -> dict[str, Any]:
    """``valueString`` of an extension; an empty text as a nested data-absent-reason (an
    extension has a value or extensions, and base R4 allows no ``_valueString`` twin)."""
    if value:
        ext["valueString"] = value
    else:
        ext["extension"] = [DATA_ABSENT]
    return ext


def get_ext_text(r: Reader, ext: dict[str, Any], path: str) -> str | None:
    value = r.text(ext, "valueString", path)
    if value is None and DATA_ABSENT in (ext.get("extension") or ()):
        return ""
    return value


def ext_value(
    r: Reader, owner: dict[str, Any], url: str, key: str, path: str
) -> tuple[Any, str] | None:
    """``value[x]`` of the extension ``url`` on ``owner`` and the extension's FHIRPath."""
    found = extension(owner, url)
    if found is None:
        return None
    ext, i = found
    epath = f"{path}.extension[{i}]"
    return ext.get(key), epath


# -- local refs ------------------------------------------------------------------------------


def local_ref_identifier(ref: str) -> dict[str, Any]:
    return {"system": LOCAL_REF_SYSTEM, "value": ref}


def logical_reference(ref: str) -> dict[str, Any]:
    """A reference to an item the document does not hold: by its local ref (the business
    rules then report it, as they do for XML)."""
    return {"identifier": local_ref_identifier(ref)}


def read_local_ref(r: Reader, res: dict[str, Any], path: str, model_path: ModelPath) -> str:
    """The local ref of a resource (its identifier in :data:`LOCAL_REF_SYSTEM`)."""
    for obj, p in r.objs(res, "identifier", path):
        if obj.get("system") == LOCAL_REF_SYSTEM:
            value = r.text(obj, "value", p)
            if value is not None:
                r.map(model_path, f"{p}.value")
                return value
    r.report(REQUIRED, f"{path}.identifier", f"{path} needs an identifier in {LOCAL_REF_SYSTEM}")
    return ""


class RefResolver:
    """Turns references into local refs: a literal reference names an entry whose local ref
    is known (``refs``, by entry FHIRPath), a logical one carries the ref itself. Also
    resolves references that may name one of several resource types."""

    def __init__(self, r: Reader, index: BundleIndex, tree: dict[str, Any]) -> None:
        self.r = r
        self.index = index
        self._by_ref: dict[str, tuple[dict[str, Any], str]] = {}
        entries = tree.get("entry")
        for i, entry in enumerate(entries if isinstance(entries, list) else ()):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(res, dict):
                continue
            found = (res, f"Bundle.entry[{i}].resource")
            if isinstance(entry.get("fullUrl"), str):
                self._by_ref[entry["fullUrl"]] = found
            if isinstance(res.get("id"), str):
                self._by_ref[f"{res.get('resourceType')}/{res['id']}"] = found

    def resolve(
        self, ref: dict[str, Any], path: str, rtypes: tuple[str, ...]
    ) -> tuple[dict[str, Any], str] | None:
        """The entry ``ref`` names, if it is one of ``rtypes``; reported otherwise."""
        target = self.r.text(ref, "reference", path)
        if target is None:
            self.r.missing(f"{path}.reference")
            return None
        found = self._by_ref.get(target)
        if found is None and "/" in target and not target.startswith("urn:"):
            found = self._by_ref.get("/".join(target.rsplit("/", 2)[-2:]))
        if found is None:
            self.r.report(REFERENCE, f"{path}.reference", f"{target!r} is not in the Bundle")
            return None
        if found[0].get("resourceType") not in rtypes:
            got = found[0].get("resourceType")
            want = " or ".join(rtypes)
            self.r.report(REFERENCE, f"{path}.reference", f"{target!r} is a {got}, not a {want}")
            return None
        return found

    def ref(
        self,
        ref: dict[str, Any],
        path: str,
        rtype: str,
        refs: dict[str, str],
        model_path: ModelPath,
    ) -> str | None:
        self.r.map(model_path, path)
        if "reference" not in ref:
            ident = self.r.obj(ref, "identifier", path)
            if ident is not None and ident.get("system") == LOCAL_REF_SYSTEM:
                return self.r.text(ident, "value", f"{path}.identifier")
            self.r.report(
                REQUIRED,
                f"{path}.reference",
                f"{path} needs a reference to a {rtype} in the Bundle "
                f"(or an identifier in {LOCAL_REF_SYSTEM})",
            )
            return None
        found = self.index.resolve_reference(ref, path, rtype)
        if found is None:
            return None
        target = refs.get(found[1])
        if target is None:  # an entry its own reader skipped: its identifier still names it
            for ident in found[0].get("identifier") or ():
                if isinstance(ident, dict) and ident.get("system") == LOCAL_REF_SYSTEM:
                    target = ident.get("value")
        if target is None:
            self.r.report(
                STRUCTURE, f"{path}.reference", f"{path} names a {rtype} that has no local ref here"
            )
        return target


# -- codings --------------------------------------------------------------------------------


def write_code(code: Code) -> dict[str, Any]:
    """A Coding; unlike ``datatypes.write_coding`` it keeps an empty display."""
    out: dict[str, Any] = {}
    if code.system is not None:
        out["system"] = systems.to_uri(code.system)
    out["code"] = code.code
    put_text(out, "display", code.display)
    return out


def read_code(r: Reader, obj: dict[str, Any], path: str, mp: ModelPath) -> Code | None:
    code = r.text(obj, "code", path)
    if code is None:
        r.missing(f"{path}.code")
        return None
    system = r.text(obj, "system", path)
    r.map(mp, path)
    r.map((*mp, "code"), f"{path}.code")
    return Code(
        code=code,
        system=systems.to_model(system) if system is not None else None,
        display=get_text(r, obj, "display", path, (*mp, "display")),
    )


def read_code_concept(r: Reader, obj: dict[str, Any], path: str, mp: ModelPath) -> Code | None:
    """The first coding of a CodeableConcept."""
    codings = r.objs(obj, "coding", path)
    if not codings:
        r.missing(f"{path}.coding")
        return None
    return read_code(r, *codings[0], mp)


def dedupe(r: Reader) -> None:
    """One issue per code and place: a missing element is reported by the profile check and
    again by the reader that needed it."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for i in r.issues:
        key = (i.code, i.location.path)
        if key not in seen:
            seen.add(key)
            kept.append(i)
    r.issues[:] = kept


# -- Patient ---------------------------------------------------------------------------------


def write_patient(p: Person) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "identifier": [write_identifier(p.id)]}
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
        middle = None
        found = extension(n, MIDDLE_NAME_URL)
        if found is not None:
            middle = get_ext_text(r, found[0], f"{npath}.extension[{found[1]}]")
            r.map((*mp, "name", "middle"), f"{npath}.extension[{found[1]}]")
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


def write_org_contact(c: Contact) -> dict[str, Any]:
    """A contact as ``Organization.contact`` (purpose.text is the role)."""
    out: dict[str, Any] = {}
    if c.role is not None:
        put_text(out.setdefault("purpose", {}), "text", c.role)
    if c.name is not None:
        put_text(out.setdefault("name", {}), "text", c.name)
    _put_telecom(out, c)
    if c.address is not None:
        out["address"] = write_address(c.address)
    return out or {"extension": [DATA_ABSENT]}


def _put_telecom(out: dict[str, Any], c: Contact) -> None:
    tel: list[dict[str, Any]] = []
    for system, value in (("phone", c.phone), ("email", c.email)):
        if value is not None:
            point: dict[str, Any] = {"system": system}
            put_text(point, "value", value)
            tel.append(point)
    if tel:
        out["telecom"] = tel


def _read_telecom(
    r: Reader, owner: dict[str, Any], path: str, system: str, mp: ModelPath
) -> str | None:
    for obj, p in r.objs(owner, "telecom", path):
        if obj.get("system") == system:
            return get_text(r, obj, "value", p, mp)
    return None


def read_org_contact(r: Reader, obj: dict[str, Any], path: str, mp: ModelPath) -> Contact:
    r.map(mp, path)
    purpose = r.obj(obj, "purpose", path)
    name = r.obj(obj, "name", path)
    addr = r.obj(obj, "address", path)
    return Contact(
        role=get_text(r, purpose, "text", f"{path}.purpose", (*mp, "role")) if purpose else None,
        name=get_text(r, name, "text", f"{path}.name", (*mp, "name")) if name else None,
        phone=_read_telecom(r, obj, path, "phone", (*mp, "phone")),
        email=_read_telecom(r, obj, path, "email", (*mp, "email")),
        address=read_address(r, addr, f"{path}.address", (*mp, "address")) if addr else None,
    )


def write_organisation(o: Organisation) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Organization"}
    if o.id is not None:
        out["identifier"] = [write_identifier(o.id)]
    put_text(out, "name", o.name)
    if o.contact is not None:
        out["contact"] = [write_org_contact(o.contact)]
    return out


def read_organisation(
    r: Reader, res: dict[str, Any], path: str, mp: ModelPath, allowed: tuple[str, ...] = ()
) -> Organisation:
    r.map(mp, path)
    ids = r.objs(res, "identifier", path)
    ident = pick_identifier(r, res, path, (*mp, "id"), allowed) if allowed else None
    if not allowed and ids:
        ident = read_identifier(r, *ids[0], (*mp, "id"))
    name = get_text(r, res, "name", path, (*mp, "name"))
    if name is None:
        r.missing(f"{path}.name", "the organisation's name")
    contacts = r.objs(res, "contact", path)
    contact = read_org_contact(r, *contacts[0], (*mp, "contact")) if contacts else None
    return Organisation(id=ident, name=name or "", contact=contact)


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
    _put_telecom(out, c)
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
        phone=_read_telecom(r, res, path, "phone", (*mp, "phone")),
        email=_read_telecom(r, res, path, "email", (*mp, "email")),
        address=address,
    )


# -- a care unit and its staff ---------------------------------------------------------------


def write_unit(u: CareUnit, provider_url: str) -> dict[str, Any]:
    ids = [write_identifier(u.id)]
    if u.workplace_code is not None:
        ids.append(write_identifier(u.workplace_code))
    out: dict[str, Any] = {"resourceType": "Organization", "identifier": ids}
    put_text(out, "name", u.name)
    tel = telecom("phone", u.phone)
    if u.email is not None:
        tel.append({"system": "email"})
        put_text(tel[-1], "value", u.email)
    if tel:
        out["telecom"] = tel
    if u.address.street or u.address.postal_code or u.address.city:
        out["address"] = [write_address(u.address)]
    out["partOf"] = reference(provider_url)
    return out


def read_unit(
    r: Reader, index: BundleIndex, res: dict[str, Any], path: str, mp: ModelPath
) -> CareUnit:
    r.map(mp, path)
    ident = r.need(pick_identifier(r, res, path, (*mp, "id"), _HSA), f"{path}.identifier")
    workplace = None
    for obj, p in r.objs(res, "identifier", path):
        if obj.get("system") == systems.to_uri(_WORKPLACE):
            workplace = read_identifier(r, obj, p, (*mp, "workplace_code"))
    name = get_text(r, res, "name", path, (*mp, "name"))
    if name is None:
        r.missing(f"{path}.name", "the care unit's name")
    addresses = r.objs(res, "address", path)
    kwargs: dict[str, Any] = {}
    if addresses:
        kwargs["address"] = read_address(r, *addresses[0], (*mp, "address"))
    provider, ppath = r.need(index.resolve(res, "partOf", path, "Organization"), f"{path}.partOf")
    return CareUnit(
        id=ident,
        name=name or "",
        workplace_code=workplace,
        phone=read_telecom(r, res, path, "phone", (*mp, "phone")) or "",
        email=_read_telecom(r, res, path, "email", (*mp, "email")),
        care_provider=read_organisation(r, provider, ppath, (*mp, "care_provider"), _HSA),
        **kwargs,
    )


def write_practitioner(h: HealthcareProfessional) -> dict[str, Any]:
    ids = [write_identifier(h.id)]
    if h.prescriber_code is not None:
        ids.append({"system": PRESCRIBER_CODE_SYSTEM})
        put_text(ids[-1], "value", h.prescriber_code)
    out: dict[str, Any] = {"resourceType": "Practitioner", "identifier": ids}
    if h.name:
        out["name"] = [{"text": h.name}]
    if h.licensed_professions:
        out["qualification"] = [
            {"code": {"coding": [write_code(lp)]}} for lp in h.licensed_professions
        ]
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
        out["code"] = [{"coding": [write_code(p)]} for p in h.positions]
    if h.specialities:
        out["specialty"] = [{"coding": [write_code(s)]} for s in h.specialities]
    return out


def read_professional(
    r: Reader, index: BundleIndex, role: dict[str, Any], rpath: str, mp: ModelPath
) -> HealthcareProfessional:
    prac, ppath = r.need(
        index.resolve(role, "practitioner", rpath, "Practitioner"), f"{rpath}.practitioner"
    )
    unit, upath = r.need(
        index.resolve(role, "organization", rpath, "Organization"), f"{rpath}.organization"
    )
    r.map(mp, rpath)
    ident = r.need(pick_identifier(r, prac, ppath, (*mp, "id"), _HSA), f"{ppath}.identifier")
    prescriber = None
    for obj, p in r.objs(prac, "identifier", ppath):
        if obj.get("system") == PRESCRIBER_CODE_SYSTEM:
            prescriber = get_text(r, obj, "value", p, (*mp, "prescriber_code"))
    names = r.objs(prac, "name", ppath)
    name = ""
    if names:
        name = get_text(r, names[0][0], "text", names[0][1], (*mp, "name")) or ""
    professions = []
    for k, (q, qpath) in enumerate(r.objs(prac, "qualification", ppath)):
        concept = r.obj(q, "code", qpath)
        code = None
        if concept is not None:
            code = read_code_concept(r, concept, f"{qpath}.code", (*mp, "licensed_professions", k))
        if code is not None:
            professions.append(code)
    return HealthcareProfessional(
        id=ident,
        name=name,
        prescriber_code=prescriber,
        positions=_concepts(r, role, "code", rpath, (*mp, "positions")),
        specialities=_concepts(r, role, "specialty", rpath, (*mp, "specialities")),
        licensed_professions=professions,
        unit=read_unit(r, index, unit, upath, (*mp, "unit")),
    )


def _concepts(r: Reader, owner: dict[str, Any], key: str, path: str, mp: ModelPath) -> list[Any]:
    out = []
    for k, (concept, cpath) in enumerate(r.objs(owner, key, path)):
        code = read_code_concept(r, concept, cpath, (*mp, k))
        if code is not None:
            out.append(code)
    return out


# -- Consent ---------------------------------------------------------------------------------


def write_consent(c: Consent, patient_url: str) -> dict[str, Any]:
    """The patient's consent to one transfer (R4 Consent, scope patient-privacy)."""
    ext: list[dict[str, Any]] = [
        {"url": CONSENT_METHOD_URL, "valueCode": str(c.method)},
        put_ext_text({"url": CONSENT_PURPOSE_URL}, c.purpose),
    ]
    if c.recorded_by is not None:
        ext.append(
            {"url": CONSENT_RECORDED_BY_URL, "valueIdentifier": write_identifier(c.recorded_by)}
        )
    provision: dict[str, Any] = {"type": "permit"}
    if c.withdrawn_at is not None:
        provision["period"] = {"end": write_datetime(c.withdrawn_at)}
    provision["actor"] = [
        {
            "role": _RECIPIENT_ROLE,
            "reference": {"identifier": {"system": RECIPIENT_SYSTEM, "value": str(x)}},
        }
        for x in c.recipients
    ]
    return {
        "resourceType": "Consent",
        "extension": ext,
        "identifier": [{"system": CONSENT_ID_SYSTEM, "value": c.id}],
        "status": "inactive" if c.withdrawn_at is not None else "active",
        "scope": _CONSENT_SCOPE,
        "category": [_CONSENT_CATEGORY],
        "patient": reference(patient_url),
        "dateTime": write_datetime(c.given_at),
        "performer": [{"identifier": write_identifier(c.given_by)}],
        "policyRule": _CONSENT_POLICY,
        "provision": provision,
    }


def read_consent(r: Reader, res: dict[str, Any], path: str, mp: ModelPath) -> Consent:
    r.map(mp, path)
    cid = None
    for obj, p in r.objs(res, "identifier", path):
        if obj.get("system") == CONSENT_ID_SYSTEM:
            cid = get_text(r, obj, "value", p, (*mp, "id"))
    if cid is None:
        r.missing(f"{path}.identifier", f"the consent's id in {CONSENT_ID_SYSTEM}")
        raise Unreadable(path)
    given_at = r.need(
        read_datetime(r, res, "dateTime", path, (*mp, "given_at")), f"{path}.dateTime"
    )
    performers = r.objs(res, "performer", path)
    given_by = None
    if performers:
        obj, p = performers[0]
        ident = r.obj(obj, "identifier", p)
        if ident is not None:
            given_by = read_identifier(r, ident, f"{p}.identifier", (*mp, "given_by"))
    given_by = r.need(given_by, f"{path}.performer", "who gave the consent, by identifier")
    method = ConsentMethod.ORAL
    found = ext_value(r, res, CONSENT_METHOD_URL, "valueCode", path)
    if found is None:
        r.missing(f"{path}.extension", f"{CONSENT_METHOD_URL} (oral, written or digital)")
    else:
        code, epath = found
        r.map((*mp, "method"), epath)
        try:
            method = ConsentMethod(code)
        except ValueError:
            r.report(SYSTEM, epath, f"{code!r} is not a consent method (oral, written, digital)")
    purpose = None
    found_p = extension(res, CONSENT_PURPOSE_URL)
    if found_p is not None:
        purpose = get_ext_text(r, found_p[0], f"{path}.extension[{found_p[1]}]")
        r.map((*mp, "purpose"), f"{path}.extension[{found_p[1]}]")
    if purpose is None:
        r.missing(f"{path}.extension", f"{CONSENT_PURPOSE_URL}: what the consent covers")
    recorded_by = None
    found_r = ext_value(r, res, CONSENT_RECORDED_BY_URL, "valueIdentifier", path)
    if found_r is not None and isinstance(found_r[0], dict):
        recorded_by = read_identifier(
            r, found_r[0], f"{found_r[1]}.valueIdentifier", (*mp, "recorded_by")
        )
    provision = r.obj(res, "provision", path) or {}
    ppath = f"{path}.provision"
    withdrawn_at = None
    period = r.obj(provision, "period", ppath)
    if period is not None:
        withdrawn_at = read_datetime(r, period, "end", f"{ppath}.period", (*mp, "withdrawn_at"))
    recipients: list[Recipient] = []
    r.map((*mp, "recipients"), ppath)
    for k, (actor, apath) in enumerate(r.objs(provision, "actor", ppath)):
        ref = r.obj(actor, "reference", apath) or {}
        ident = r.obj(ref, "identifier", f"{apath}.reference") or {}
        ipath = f"{apath}.reference.identifier"
        value = r.text(ident, "value", ipath)
        r.map((*mp, "recipients", k), apath)
        if ident.get("system") != RECIPIENT_SYSTEM or value is None:
            r.report(SYSTEM, ipath, f"{ipath} must be a recipient code in {RECIPIENT_SYSTEM}")
            continue
        try:
            recipients.append(Recipient(value))
        except ValueError:
            known = ", ".join(x.value for x in Recipient)
            r.report(SYSTEM, f"{ipath}.value", f"{value!r} is not a recipient ({known})")
    if not recipients:
        r.missing(f"{ppath}.actor", "the recipients the consent covers")
        raise Unreadable(ppath)
    return Consent(
        id=cid,
        given_by=given_by,
        given_at=given_at,
        method=method,
        recipients=recipients,
        purpose=purpose or "",
        recorded_by=recorded_by,
        withdrawn_at=withdrawn_at,
    )


# -- small readers ---------------------------------------------------------------------------


def read_version(r: Reader, res: dict[str, Any], path: str, mp: ModelPath) -> str | None:
    found = extension(res, VERSION_URL)
    if found is None:
        return None
    value = get_ext_text(r, found[0], f"{path}.extension[{found[1]}]")
    r.map(mp, f"{path}.extension[{found[1]}]")
    return value


def read_business_id(r: Reader, res: dict[str, Any], path: str, system: str, mp: ModelPath) -> str:
    for obj, p in r.objs(res, "identifier", path):
        if obj.get("system") == system:
            value = r.text(obj, "value", p)
            if value is not None:
                r.map(mp, f"{p}.value")
                return value
    r.missing(f"{path}.identifier", f"the document's id in {system}")
    raise Unreadable(path)


__all__ = [
    "CONSENT_ID_SYSTEM",
    "DOCUMENT_KIND_SYSTEM",
    "LOCAL_REF_SYSTEM",
    "RECIPIENT_SYSTEM",
    "VERSION_URL",
    "RefResolver",
    "bundle",
    "dedupe",
    "ext_value",
    "focus_of",
    "full_url",
    "get_ext_text",
    "get_text",
    "has_kind",
    "kind_concept",
    "local_ref_identifier",
    "logical_reference",
    "put_ext_text",
    "put_text",
    "read_business_id",
    "read_code",
    "read_code_concept",
    "read_consent",
    "read_contact_role",
    "read_local_ref",
    "read_org_contact",
    "read_organisation",
    "read_patient",
    "read_professional",
    "read_unit",
    "read_version",
    "write_code",
    "write_consent",
    "write_contact_role",
    "write_org_contact",
    "write_organisation",
    "write_patient",
    "write_practitioner",
    "write_practitioner_role",
    "write_unit",
]
