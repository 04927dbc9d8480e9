"""Medical certificate <-> FHIR ``document`` Bundle (docs/fhir/certificate.md).

Composition (the certificate type), Patient, Practitioner + PractitionerRole (the issuer),
Organization (unit, care provider), one QuestionnaireResponse holding every answer under
Inera's own svar/delsvar ids as linkIds, and one Condition per diagnosis code, which the
answer refers to. URIs and code tables come from ``mappings/certificate.toml``.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import date, datetime
from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.certificate import (
    CERTIFICATE_TYPE_BY_RIVTA_CODE,
    Answer,
    AnswerValue,
    Certificate,
    Quantity,
    Relation,
    Status,
    SubAnswer,
)
from gateway.documents.common import (
    CareUnit,
    Code,
    Contact,
    HealthcareProfessional,
    Identifier,
    Organisation,
    Period,
    Person,
    PersonName,
)
from gateway.documents.identity import (
    HSA_ID_OID,
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
)
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import systems
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.datatypes import (
    DATA_ABSENT,
    BundleIndex,
    extension,
    extensions,
    pick_identifier,
    read_address,
    read_coding,
    read_concept,
    read_datetime,
    read_identifier,
    read_telecom,
    reference,
    telecom,
    write_address,
    write_coding,
    write_datetime,
    write_identifier,
)
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.profile import check_entries
from gateway.formats.fhir.tree import STRUCTURE, SYSTEM, Reader, Unreadable

MAP = load_mapping("certificate")
U = MAP.urls
RELATION_CODE = MAP.table("relation_code")
_NS = uuid.UUID(U["uuid_namespace"])
_TYPE_SYSTEM = "b64ea353-e8f6-4832-b563-fc7d46f29548"  # KV_INTYGSTYP, model form
_TYPE_URIS = frozenset(s for s in (systems.to_uri(_TYPE_SYSTEM), f"urn:uuid:{_TYPE_SYSTEM}"))
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SIGNATURE_TYPE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}
_PERSON_SYSTEMS = (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID)
_HSA = (HSA_ID_OID,)
_WORKPLACE = "1.2.752.29.4.71"


def _is_date(text: str) -> bool:
    if not _DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _put_time(out: dict[str, Any], key: str, value: datetime | None) -> None:
    """A required date-time, or when the model has none a data-absent-reason on ``_key``."""
    if value is not None:
        out[key] = write_datetime(value)
    else:
        out["_" + key] = {"extension": [DATA_ABSENT]}


# -- model -> tree ----------------------------------------------------------------------------


class _Writer:
    def __init__(self, c: Certificate) -> None:
        self.c = c
        seed = f"{c.id.system}|{c.id.value}|"
        self.url = {
            role: f"urn:uuid:{uuid.uuid5(_NS, seed + role)}"
            for role in ("composition", "patient", "practitioner", "role", "unit", "provider")
        }
        self.url["qr"] = f"urn:uuid:{uuid.uuid5(_NS, seed + 'answers')}"
        self.conditions: list[tuple[str, dict[str, Any]]] = []

    def bundle(self) -> dict[str, Any]:
        c = self.c
        answers = self.questionnaire_response()  # collects the Conditions
        entries = [
            (self.url["composition"], self.composition()),
            (self.url["patient"], self.patient()),
            (self.url["practitioner"], self.practitioner()),
            (self.url["role"], self.practitioner_role()),
            (self.url["unit"], self.unit()),
            (self.url["provider"], self.provider()),
            (self.url["qr"], answers),
            *self.conditions,
        ]
        out: dict[str, Any] = {
            "resourceType": "Bundle",
            "meta": {"profile": [U["profile"]]},
            "identifier": _certificate_id(c.id),
            "type": "document",
        }
        if c.sent_at is not None:
            out["timestamp"] = write_datetime(c.sent_at)
        out["entry"] = [{"fullUrl": url, "resource": res} for url, res in entries]
        if c.signature is not None:
            sig: dict[str, Any] = {"type": [_SIGNATURE_TYPE]}
            _put_time(sig, "when", c.signed_at)
            sig["who"] = reference(self.url["role"])
            sig["sigFormat"] = "application/xml"
            sig["data"] = base64.b64encode(c.signature.encode()).decode()
            out["signature"] = sig
        return out

    def composition(self) -> dict[str, Any]:
        c = self.c
        ext: list[dict[str, Any]] = [{"url": U["type_version"], "valueString": c.type_version}]
        ext += [{"url": U["recipient"], "valueCoding": write_coding(r)} for r in c.recipients]
        ext += [_status(s) for s in c.statuses]
        out: dict[str, Any] = {
            "resourceType": "Composition",
            "extension": ext,
            "status": "final",
            "type": {"coding": [write_coding(c.type_code)]},
            "subject": reference(self.url["patient"]),
        }
        _put_time(out, "date", c.signed_at or c.sent_at)
        out["author"] = [reference(self.url["role"])]
        out["title"] = c.type_code.display or str(c.type)
        if c.signed_at is not None:
            out["attester"] = [
                {
                    "mode": "legal",
                    "time": write_datetime(c.signed_at),
                    "party": reference(self.url["role"]),
                }
            ]
        out["custodian"] = reference(self.url["unit"])
        if c.relations:
            out["relatesTo"] = [_relation(r) for r in c.relations]
        sections = [{"title": "Svar", "entry": [reference(self.url["qr"])]}]
        if self.conditions:
            entries = [reference(url) for url, _ in self.conditions]
            sections.append({"title": "Diagnoser", "entry": entries})
        out["section"] = sections
        return out

    def patient(self) -> dict[str, Any]:
        p = self.c.patient
        out: dict[str, Any] = {"resourceType": "Patient"}
        if self.c.patient_address_source is not None:
            coding = write_coding(self.c.patient_address_source)
            out["extension"] = [{"url": U["address_source"], "valueCoding": coding}]
        out["identifier"] = [write_identifier(p.id)]
        name: dict[str, Any] = {}
        if p.name.middle is not None:
            middle = p.name.middle
            value = {"valueString": middle} if middle else {"extension": [DATA_ABSENT]}
            name["extension"] = [{"url": U["middle_name"], **value}]
        if p.name.family:
            name["family"] = p.name.family
        if p.name.given:
            name["given"] = [p.name.given]
        if name:
            out["name"] = [name]
        if p.address is not None:
            out["address"] = [write_address(p.address)]
        return out

    def practitioner(self) -> dict[str, Any]:
        i = self.c.issuer
        ids = [write_identifier(i.id)]
        if i.prescriber_code is not None:
            ids.append({"system": U["prescriber_code"], "value": i.prescriber_code})
        out: dict[str, Any] = {"resourceType": "Practitioner", "identifier": ids}
        if i.name:
            out["name"] = [{"text": i.name}]
        if i.licensed_professions:
            out["qualification"] = [
                {"code": {"coding": [write_coding(lp)]}} for lp in i.licensed_professions
            ]
        return out

    def practitioner_role(self) -> dict[str, Any]:
        i = self.c.issuer
        out: dict[str, Any] = {
            "resourceType": "PractitionerRole",
            "practitioner": reference(self.url["practitioner"]),
            "organization": reference(self.url["unit"]),
        }
        if i.positions:
            out["code"] = [{"coding": [write_coding(p)]} for p in i.positions]
        if i.specialities:
            out["specialty"] = [{"coding": [write_coding(s)]} for s in i.specialities]
        return out

    def unit(self) -> dict[str, Any]:
        u = self.c.issuer.unit
        ids = [write_identifier(u.id)]
        if u.workplace_code is not None:
            ids.append(write_identifier(u.workplace_code))
        out: dict[str, Any] = {"resourceType": "Organization", "identifier": ids}
        if u.name:
            out["name"] = u.name
        tel = telecom("phone", u.phone) + telecom("email", u.email)
        if tel:
            out["telecom"] = tel
        if u.address.street or u.address.postal_code or u.address.city:
            out["address"] = [write_address(u.address)]
        out["partOf"] = reference(self.url["provider"])
        return out

    def provider(self) -> dict[str, Any]:
        p = self.c.issuer.unit.care_provider
        out: dict[str, Any] = {"resourceType": "Organization"}
        if p.id is not None:
            out["identifier"] = [write_identifier(p.id)]
        if p.name:
            out["name"] = p.name
        if p.contact is not None:
            out["contact"] = [_contact(p.contact)]
        return out

    def questionnaire_response(self) -> dict[str, Any]:
        c = self.c
        items = []
        for a in c.answers:
            item: dict[str, Any] = {"linkId": a.id}
            if a.instance is not None:
                item["extension"] = [{"url": U["instance"], "valueInteger": a.instance}]
            item["item"] = [self.part(p) for p in a.parts]
            items.append(item)
        out: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": U["questionnaire"] + str(c.type),
            "status": "completed",
            "subject": reference(self.url["patient"]),
            "author": reference(self.url["role"]),
        }
        if items:
            out["item"] = items
        return out

    def part(self, p: SubAnswer) -> dict[str, Any]:
        v = p.value
        out: dict[str, Any] = {"linkId": p.id}
        if isinstance(v, Period):
            subs = []
            if v.start is not None:
                subs.append({"linkId": f"{p.id}.start", "answer": [{"valueDate": str(v.start)}]})
            if v.end is not None:
                subs.append({"linkId": f"{p.id}.end", "answer": [{"valueDate": str(v.end)}]})
            if subs:
                out["item"] = subs
            return out
        if isinstance(v, Code) and systems.is_diagnosis(v.system):
            seed = f"{self.url['qr']}|{len(self.conditions)}"
            url = f"urn:uuid:{uuid.uuid5(_NS, seed)}"
            self.conditions.append((url, self.condition(v)))
            answer: dict[str, Any] = {"valueReference": reference(url)}
        elif isinstance(v, Code):
            answer = {"valueCoding": write_coding(v)}
        elif isinstance(v, Quantity):
            answer = {"valueQuantity": {"value": v.value, "unit": v.unit}}
        elif v in ("true", "false"):
            answer = {"valueBoolean": v == "true"}
        elif _is_date(v):
            answer = {"valueDate": v}
        else:
            answer = _string(v, "valueString")
        out["answer"] = [answer]
        return out

    def condition(self, code: Code) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "code": {"coding": [write_coding(code)]},
            "subject": reference(self.url["patient"]),
        }


def _string(value: str, key: str = "valueString") -> dict[str, Any]:
    return {key: value} if value else {"_" + key: {"extension": [DATA_ABSENT]}}


def _certificate_id(ident: Identifier) -> dict[str, Any]:
    return {
        "system": U["certificate_id"],
        "value": ident.value,
        "assigner": {"identifier": {"system": systems.to_uri(HSA_ID_OID), "value": ident.system}},
    }


def _status(s: Status) -> dict[str, Any]:
    return {
        "url": U["status"],
        "extension": [
            {"url": "part", "valueCoding": write_coding(s.part)},
            {"url": "status", "valueCoding": write_coding(s.status)},
            {"url": "at", "valueDateTime": write_datetime(s.at)},
        ],
    }


def _relation(r: Relation) -> dict[str, Any]:
    return {
        "extension": [{"url": U["relation_type"], "valueCoding": write_coding(r.type)}],
        "code": RELATION_CODE.get(r.type.code, "appends"),
        "targetIdentifier": _certificate_id(r.certificate_id),
    }


def _contact(c: Contact) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.role is not None:
        out["purpose"] = {"text": c.role}
    if c.name is not None:
        out["name"] = {"text": c.name}
    tel = telecom("phone", c.phone) + telecom("email", c.email)
    if tel:
        out["telecom"] = tel
    if c.address is not None:
        out["address"] = write_address(c.address)
    return out or {"extension": [DATA_ABSENT]}


# -- tree -> model ----------------------------------------------------------------------------


class _Reading:
    def __init__(self, tree: dict[str, Any], r: Reader) -> None:
        self.tree = tree
        self.r = r
        self.index = BundleIndex(r, tree)

    def certificate(self) -> Certificate:
        r, index = self.r, self.index
        check_entries(self.tree, index.entries, "certificate", r)
        comp, cpath = r.need(index.first("Composition"), "Bundle.entry", "a Composition")
        ident = self.certificate_id(self.tree.get("identifier"), "Bundle.identifier", ("id",))
        type_code, ctype = self.type(comp, cpath)
        version = self.type_version(comp, cpath)
        signed_at = None
        for att, apath in r.objs(comp, "attester", cpath):
            if att.get("mode") == "legal":
                signed_at = read_datetime(r, att, "time", apath, ("signed_at",))
        sent_at = read_datetime(r, self.tree, "timestamp", "Bundle", ("sent_at",))
        patient, ppath = r.need(
            index.resolve(comp, "subject", cpath, "Patient"), f"{cpath}.subject"
        )
        authors = r.objs(comp, "author", cpath)
        role = None
        if authors:
            role = index.resolve_reference(authors[0][0], authors[0][1], "PractitionerRole")
        role_res, rpath = r.need(role, f"{cpath}.author", "the issuer's PractitionerRole")
        signature = self.signature()
        return Certificate(
            id=ident,
            type=ctype,
            type_code=type_code,
            type_version=version,
            signed_at=signed_at,
            sent_at=sent_at,
            patient=self.patient(patient, ppath),
            patient_address_source=self.address_source(patient, ppath),
            issuer=self.issuer(role_res, rpath),
            recipients=self.recipients(comp, cpath),
            relations=self.relations(comp, cpath),
            statuses=self.statuses(comp, cpath),
            answers=self.answers(),
            signature=signature,
        )

    def certificate_id(self, obj: Any, path: str, model_path: ModelPath) -> Identifier:
        r = self.r
        if not isinstance(obj, dict):
            r.missing(path)
            raise Unreadable(path)
        value = r.need(r.text(obj, "value", path), f"{path}.value")
        assigner = r.obj(obj, "assigner", path) or {}
        aid = r.obj(assigner, "identifier", f"{path}.assigner") or {}
        apath = f"{path}.assigner.identifier"
        root = r.need(r.text(aid, "value", apath), f"{apath}.value", "the issuing unit's HSA-id")
        r.map(model_path, path)
        r.map((*model_path, "value"), f"{path}.value")
        r.map((*model_path, "system"), f"{apath}.value")
        return Identifier(system=root, value=value)

    def type(self, comp: dict[str, Any], cpath: str) -> tuple[Code, Any]:
        r = self.r
        tpath = f"{cpath}.type"
        ctype = r.need(r.obj(comp, "type", cpath), tpath)
        for coding, path in r.objs(ctype, "coding", tpath):
            if coding.get("system") in _TYPE_URIS:
                code = r.need(read_coding(r, coding, path, ("type_code",)), path)
                r.map(("type",), path)
                found = CERTIFICATE_TYPE_BY_RIVTA_CODE.get(code.code)
                if found is None:
                    known = ", ".join(CERTIFICATE_TYPE_BY_RIVTA_CODE)
                    r.report(SYSTEM, f"{path}.code", f"{code.code!r} is not one of {known}")
                    raise Unreadable(path)
                return code, found
        r.missing(f"{tpath}.coding", f"a coding in {systems.to_uri(_TYPE_SYSTEM)}")
        raise Unreadable(tpath)

    def type_version(self, comp: dict[str, Any], cpath: str) -> str:
        found = extension(comp, U["type_version"])
        if found is None:
            self.r.missing(f"{cpath}.extension", f"the extension {U['type_version']}")
            raise Unreadable(cpath)
        ext, i = found
        path = f"{cpath}.extension[{i}]"
        value = self.r.need(self.r.text(ext, "valueString", path), f"{path}.valueString")
        self.r.map(("type_version",), f"{path}.valueString")
        return str(value)

    def signature(self) -> str | None:
        r = self.r
        sig = r.obj(self.tree, "signature", "Bundle")
        if sig is None:
            return None
        data = r.text(sig, "data", "Bundle.signature")
        if data is None:
            return None
        r.map(("signature",), "Bundle.signature.data")
        try:
            return base64.b64decode(data, validate=True).decode()
        except ValueError:
            r.report(STRUCTURE, "Bundle.signature.data", "Bundle.signature.data is not base64")
            return None

    def patient(self, res: dict[str, Any], path: str) -> Person:
        r = self.r
        r.map(("patient",), path)
        ident = pick_identifier(r, res, path, ("patient", "id"), _PERSON_SYSTEMS)
        ident = r.need(ident, f"{path}.identifier", "a personnummer or samordningsnummer")
        name = PersonName()
        names = r.objs(res, "name", path)
        if names:
            n, npath = names[0]
            r.map(("patient", "name"), npath)
            given = r.arr(n, "given", npath)
            middle_ext = extension(n, U["middle_name"])
            middle = None
            if middle_ext is not None:
                ext, i = middle_ext
                middle = ext.get("valueString", "")
                r.map(("patient", "name", "middle"), f"{npath}.extension[{i}]")
            if given:
                r.map(("patient", "name", "given"), f"{npath}.given[0]")
            family = r.text(n, "family", npath)
            if family:
                r.map(("patient", "name", "family"), f"{npath}.family")
            name = PersonName(
                given=given[0] if given and isinstance(given[0], str) else "",
                family=family or "",
                middle=middle if isinstance(middle, str) else None,
            )
        addresses = r.objs(res, "address", path)
        address = None
        if addresses:
            address = read_address(r, addresses[0][0], addresses[0][1], ("patient", "address"))
        return Person(id=ident, name=name, address=address)

    def address_source(self, res: dict[str, Any], path: str) -> Code | None:
        found = extension(res, U["address_source"])
        if found is None:
            return None
        ext, i = found
        coding = self.r.obj(ext, "valueCoding", f"{path}.extension[{i}]")
        epath = f"{path}.extension[{i}].valueCoding"
        return read_coding(self.r, coding, epath, ("patient_address_source",)) if coding else None

    def issuer(self, role: dict[str, Any], rpath: str) -> HealthcareProfessional:
        r, index = self.r, self.index
        prac, ppath = r.need(
            index.resolve(role, "practitioner", rpath, "Practitioner"), f"{rpath}.practitioner"
        )
        unit, upath = r.need(
            index.resolve(role, "organization", rpath, "Organization"), f"{rpath}.organization"
        )
        mp: ModelPath = ("issuer",)
        r.map(mp, ppath)
        ident = r.need(pick_identifier(r, prac, ppath, (*mp, "id"), _HSA), f"{ppath}.identifier")
        prescriber = None
        for obj, p in r.objs(prac, "identifier", ppath):
            if obj.get("system") == U["prescriber_code"]:
                prescriber = r.text(obj, "value", p)
                r.map((*mp, "prescriber_code"), f"{p}.value")
        names = r.objs(prac, "name", ppath)
        name = ""
        if names:
            name = r.text(names[0][0], "text", names[0][1]) or ""
            r.map((*mp, "name"), f"{names[0][1]}.text")
        professions = []
        for k, (q, qpath) in enumerate(r.objs(prac, "qualification", ppath)):
            concept = r.obj(q, "code", qpath)
            mpath = (*mp, "licensed_professions", k)
            code = read_concept(r, concept, f"{qpath}.code", mpath) if concept else None
            if code is not None:
                professions.append(code)
        return HealthcareProfessional(
            id=ident,
            name=name,
            prescriber_code=prescriber,
            positions=self.concepts(role, "code", rpath, (*mp, "positions")),
            specialities=self.concepts(role, "specialty", rpath, (*mp, "specialities")),
            licensed_professions=professions,
            unit=self.unit(unit, upath),
        )

    def concepts(self, owner: dict[str, Any], key: str, path: str, mp: ModelPath) -> list[Code]:
        out = []
        for k, (concept, cpath) in enumerate(self.r.objs(owner, key, path)):
            code = read_concept(self.r, concept, cpath, (*mp, k))
            if code is not None:
                out.append(code)
        return out

    def unit(self, res: dict[str, Any], path: str) -> CareUnit:
        r = self.r
        mp: ModelPath = ("issuer", "unit")
        r.map(mp, path)
        ident = r.need(pick_identifier(r, res, path, (*mp, "id"), _HSA), f"{path}.identifier")
        workplace = None
        for obj, p in r.objs(res, "identifier", path):
            if obj.get("system") == systems.to_uri(_WORKPLACE):
                workplace = read_identifier(r, obj, p, (*mp, "workplace_code"))
        name = r.text(res, "name", path) or ""
        r.map((*mp, "name"), f"{path}.name")
        addresses = r.objs(res, "address", path)
        kwargs: dict[str, Any] = {}
        if addresses:
            kwargs["address"] = read_address(r, *addresses[0], (*mp, "address"))
        provider, ppath = r.need(
            self.index.resolve(res, "partOf", path, "Organization"), f"{path}.partOf"
        )
        return CareUnit(
            id=ident,
            name=name,
            workplace_code=workplace,
            phone=read_telecom(r, res, path, "phone", (*mp, "phone")) or "",
            email=read_telecom(r, res, path, "email", (*mp, "email")),
            care_provider=self.provider(provider, ppath),
            **kwargs,
        )

    def provider(self, res: dict[str, Any], path: str) -> Organisation:
        r = self.r
        mp: ModelPath = ("issuer", "unit", "care_provider")
        r.map(mp, path)
        ident = pick_identifier(r, res, path, (*mp, "id"), _HSA)
        name = r.text(res, "name", path) or ""
        r.map((*mp, "name"), f"{path}.name")
        contact = None
        contacts = r.objs(res, "contact", path)
        if contacts:
            obj, cpath = contacts[0]
            r.map((*mp, "contact"), cpath)
            purpose = r.obj(obj, "purpose", cpath) or {}
            cname = r.obj(obj, "name", cpath) or {}
            addr = r.obj(obj, "address", cpath)
            amp = (*mp, "contact", "address")
            contact = Contact(
                role=r.text(purpose, "text", f"{cpath}.purpose"),
                name=r.text(cname, "text", f"{cpath}.name"),
                phone=read_telecom(r, obj, cpath, "phone", (*mp, "contact", "phone")),
                email=read_telecom(r, obj, cpath, "email", (*mp, "contact", "email")),
                address=read_address(r, addr, f"{cpath}.address", amp) if addr else None,
            )
        return Organisation(id=ident, name=name, contact=contact)

    def recipients(self, comp: dict[str, Any], cpath: str) -> list[Code]:
        out: list[Code] = []
        for ext, i in extensions(comp, U["recipient"]):
            path = f"{cpath}.extension[{i}].valueCoding"
            coding = self.r.obj(ext, "valueCoding", f"{cpath}.extension[{i}]")
            code = read_coding(self.r, coding, path, ("recipients", len(out))) if coding else None
            if code is not None:
                out.append(code)
        return out

    def statuses(self, comp: dict[str, Any], cpath: str) -> list[Status]:
        r = self.r
        out: list[Status] = []
        for ext, i in extensions(comp, U["status"]):
            path = f"{cpath}.extension[{i}]"
            mp = ("statuses", len(out))
            parts: dict[str, Any] = {}
            for sub, spath in r.objs(ext, "extension", path):
                url = sub.get("url")
                if url in ("part", "status"):
                    coding = r.obj(sub, "valueCoding", spath)
                    if coding is not None:
                        parts[url] = read_coding(r, coding, f"{spath}.valueCoding", (*mp, url))
                elif url == "at":
                    parts["at"] = read_datetime(r, sub, "valueDateTime", spath, (*mp, "at"))
            if all(parts.get(k) is not None for k in ("part", "status", "at")):
                r.map(mp, path)
                out.append(Status(part=parts["part"], status=parts["status"], at=parts["at"]))
            else:
                r.missing(f"{path}.extension", "part, status and at")
        return out

    def relations(self, comp: dict[str, Any], cpath: str) -> list[Relation]:
        r = self.r
        out: list[Relation] = []
        for rel, path in r.objs(comp, "relatesTo", cpath):
            mp = ("relations", len(out))
            found = extension(rel, U["relation_type"])
            code = None
            if found is not None:
                ext, i = found
                coding = r.obj(ext, "valueCoding", f"{path}.extension[{i}]")
                epath = f"{path}.extension[{i}].valueCoding"
                code = read_coding(r, coding, epath, (*mp, "type")) if coding else None
            if code is None:
                r.missing(f"{path}.extension", f"the extension {U['relation_type']}")
                continue
            target = rel.get("targetIdentifier")
            ident = self.certificate_id(target, f"{path}.targetIdentifier", (*mp, "certificate_id"))
            r.map(mp, path)
            out.append(Relation(type=code, certificate_id=ident))
        return out

    def answers(self) -> list[Answer]:
        r = self.r
        found = self.index.first("QuestionnaireResponse")
        if found is None:
            return []
        qr, qpath = found
        out = []
        for k, (item, ipath) in enumerate(r.objs(qr, "item", qpath)):
            mp: ModelPath = ("answers", k)
            link = r.need(r.text(item, "linkId", ipath), f"{ipath}.linkId")
            instance = None
            inst = extension(item, U["instance"])
            if inst is not None:
                instance = r.integer(inst[0], "valueInteger", f"{ipath}.extension[{inst[1]}]")
            r.map(mp, ipath)
            parts = []
            for j, (sub, spath) in enumerate(r.objs(item, "item", ipath)):
                part = self.part(sub, spath, (*mp, "parts", j))
                if part is not None:
                    parts.append(part)
            out.append(Answer(id=link, instance=instance, parts=parts))
        return out

    def part(self, item: dict[str, Any], path: str, mp: ModelPath) -> SubAnswer | None:
        r = self.r
        link = r.text(item, "linkId", path)
        if link is None:
            r.missing(f"{path}.linkId")
            return None
        r.map(mp, path)
        answers = r.objs(item, "answer", path)
        value: AnswerValue | None
        if not answers:  # a date period: sub-items <id>.start and <id>.end
            bounds: dict[str, Any] = {}
            for sub, spath in r.objs(item, "item", path):
                which = str(sub.get("linkId", "")).rpartition(".")[2]
                vals = r.objs(sub, "answer", spath)
                if which in ("start", "end") and vals:
                    bounds[which] = self.date(vals[0][0], vals[0][1], (*mp, "value", which))
            r.map((*mp, "value"), path)
            return SubAnswer(id=link, value=Period(**bounds))
        answer, apath = answers[0]
        value = self.value(answer, apath, (*mp, "value"))
        return None if value is None else SubAnswer(id=link, value=value)

    def date(self, answer: dict[str, Any], path: str, mp: ModelPath) -> date | None:
        raw = self.r.text(answer, "valueDate", path)
        if raw is None:
            return None
        self.r.map(mp, f"{path}.valueDate")
        if _is_date(raw):
            return date.fromisoformat(raw)
        self.r.report(STRUCTURE, f"{path}.valueDate", f"{raw!r} is not a date YYYY-MM-DD")
        return None

    def value(self, answer: dict[str, Any], path: str, mp: ModelPath) -> AnswerValue | None:
        r = self.r
        if "valueString" in answer or "_valueString" in answer:
            r.map(mp, f"{path}.valueString")
            return r.text(answer, "valueString", path) or ""
        if "valueBoolean" in answer:
            r.map(mp, f"{path}.valueBoolean")
            flag = r.boolean(answer, "valueBoolean", path)
            return None if flag is None else ("true" if flag else "false")
        if "valueDate" in answer:
            r.map(mp, f"{path}.valueDate")
            return r.text(answer, "valueDate", path)
        if "valueCoding" in answer:
            coding = r.obj(answer, "valueCoding", path)
            return read_coding(r, coding, f"{path}.valueCoding", mp) if coding else None
        if "valueQuantity" in answer:
            q = r.obj(answer, "valueQuantity", path)
            if q is None:
                return None
            qpath = f"{path}.valueQuantity"
            number = r.number(q, "value", qpath)
            unit = r.text(q, "unit", qpath)
            if number is None or unit is None:
                r.missing(f"{qpath}.value" if number is None else f"{qpath}.unit")
                return None
            r.map(mp, qpath)
            return Quantity(value=number, unit=unit)
        if "valueReference" in answer:
            found = self.index.resolve(answer, "valueReference", path, "Condition")
            if found is None:
                return None
            cond, cpath = found
            concept = r.obj(cond, "code", cpath)
            if concept is None:
                r.missing(f"{cpath}.code")
                return None
            return read_concept(r, concept, f"{cpath}.code", mp)
        r.report(STRUCTURE, path, f"{path} has no value this profile knows")
        return None


# -- the mapping ----------------------------------------------------------------------------


class CertificateMapping:
    kind = DocumentKind.CERTIFICATE

    def matches(self, tree: dict[str, Any]) -> bool:
        if tree.get("resourceType") != "Bundle":
            return False
        for entry in tree.get("entry") or ():
            res = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(res, dict) and res.get("resourceType") == "Composition":
                ctype = res.get("type")
                codings = ctype.get("coding") if isinstance(ctype, dict) else None
                return any(
                    isinstance(c, dict) and c.get("system") in _TYPE_URIS for c in codings or ()
                )
        return False

    def to_model(self, tree: dict[str, Any], reader: Reader) -> Certificate:
        return _Reading(tree, reader).certificate()

    def from_model(self, document: Any) -> dict[str, Any]:
        assert isinstance(document, Certificate)
        return _Writer(document).bundle()


MAPPING = register(CertificateMapping())

__all__ = ["MAPPING", "CertificateMapping"]
