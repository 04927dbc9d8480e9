"""Medical certificate <-> FHIR ``document`` Bundle (docs/fhir/certificate.md), written and
read by the row engine from ``mappings/certificate.toml``; the hooks below are what the rows
cannot say.

Composition (the certificate type), Patient, Practitioner + PractitionerRole (the issuer),
Organization (unit, care provider), one QuestionnaireResponse holding every answer under
Inera's own svar/delsvar ids as linkIds, and one Condition per diagnosis code, which the
answer refers to. URIs and code tables come from ``mappings/certificate.toml``.
"""

from __future__ import annotations

import base64
import copy
import uuid
from datetime import date, datetime
from functools import cache
from typing import Any

from gateway.documents import DocumentKind
from gateway.documents.certificate import (
    CERTIFICATE_TYPE_BY_RIVTA_CODE,
    Answer,
    AnswerValue,
    Certificate,
    CertificateType,
    Quantity,
    Relation,
    SubAnswer,
)
from gateway.documents.common import Code, Identifier, Period
from gateway.documents.identity import HSA_ID_OID
from gateway.documents.issues import ModelPath
from gateway.documents.questions import catalogue
from gateway.formats import signature
from gateway.formats.fhir import systems
from gateway.formats.fhir.bundles import uuid5_in
from gateway.formats.fhir.codec import register
from gateway.formats.fhir.datatypes import (
    extension,
    parse_date,
    read_coding,
    read_concept,
    read_datetime,
    reference,
    write_coding,
    write_datetime,
)
from gateway.formats.fhir.engine import Hook, Reading, RowMapping, Writing
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.texts import DATA_ABSENT, get_text, put_text
from gateway.formats.fhir.tree import STRUCTURE, SYSTEM, Unreadable
from gateway.formats.signature import SIGNATURE_MALFORMED

MAP = load_mapping("certificate")
U = MAP.urls
RELATION_CODE = MAP.table("relation_code")
_uuid = uuid5_in(uuid.UUID(U["uuid_namespace"]))
_TYPE_SYSTEM = "b64ea353-e8f6-4832-b563-fc7d46f29548"  # KV_INTYGSTYP, model form
_TYPE_ROW = systems.lookup(_TYPE_SYSTEM)
assert _TYPE_ROW is not None, "mappings/fhir-systems.toml lists KV_INTYGSTYP"
_TYPE_URIS = frozenset((_TYPE_ROW.uri, *_TYPE_ROW.aliases))  # every spelling read
#: A certificate's diagnosis as receivers file it: the certifying physician's diagnosis at the
#: examination, active and confirmed (docs/fhir/certificate.md).
_CONDITION_STATE = {
    "clinicalStatus": {"coding": [{"system": systems.URI["condition_clinical"], "code": "active"}]},
    "verificationStatus": {
        "coding": [{"system": systems.URI["condition_verification"], "code": "confirmed"}]
    },
    "category": [
        {"coding": [{"system": systems.URI["condition_category"], "code": "encounter-diagnosis"}]}
    ],
}


@cache
def _description_parts(cert_type: CertificateType) -> dict[str, str]:
    """The text parts that describe a diagnosis code (FK7804 6.1 -> 6.2): they travel as the
    code's Condition's ``code.text``, never as an answer of their own."""
    cat = catalogue(cert_type)
    return {
        p.description_part: p.id
        for q in cat.questions.values()
        for p in q.parts.values()
        if p.diagnosis and p.description_part
    }


_SIGNATURE_TYPE = {
    "system": systems.URI["signature_type"],
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}


def _put_time(out: dict[str, Any], key: str, value: datetime | None) -> None:
    """A required date-time, or when the model has none a data-absent-reason on ``_key``."""
    if value is not None:
        out[key] = write_datetime(value)
    else:
        out["_" + key] = {"extension": [DATA_ABSENT]}


def _url(c: Certificate, *name: str) -> str:
    """An entry's fullUrl: a stable urn:uuid of the certificate id and the entry's role."""
    role = {"qr": "answers"}.get(name[0], "|".join(name))
    return f"urn:uuid:{_uuid(f'{c.id.system}|{c.id.value}|{role}')}"


def certificate_identifier(ident: Identifier) -> dict[str, Any]:
    """A certificate's id: its value, and the issuing unit's HSA-id as the assigner."""
    return {
        "system": U["certificate_id"],
        "value": ident.value,
        "assigner": {"identifier": {"system": systems.to_uri(HSA_ID_OID), "value": ident.system}},
    }


# -- the Bundle: the certificate's id, when it was sent, its signature ----------------------


def _write_bundle(w: Writing, out: dict[str, Any]) -> None:
    c = w.document
    out["identifier"] = certificate_identifier(c.id)
    # R4 bdl-10: a document has a timestamp. RIVTA's skickatTidpunkt when sent, else the
    # signing time, marked as such so that reading it back gives no sent time.
    if c.sent_at is not None:
        out["timestamp"] = write_datetime(c.sent_at)
    elif c.signed_at is not None:
        out["timestamp"] = write_datetime(c.signed_at)
        out["_timestamp"] = {"extension": [{"url": U["signing_time"], "valueBoolean": True}]}
    else:
        out["_timestamp"] = {"extension": [DATA_ABSENT]}
    if c.signature is not None and signature.carried(c.signature):
        sig: dict[str, Any] = {"type": [_SIGNATURE_TYPE]}
        _put_time(sig, "when", c.signed_at)
        sig["who"] = reference(w.urls["role"])
        sig["sigFormat"] = "application/xml"
        sig["data"] = base64.b64encode(c.signature.encode()).decode()
        out["signature"] = sig


def _read_bundle(rd: Reading, tree: dict[str, Any], path: str) -> dict[str, Any]:
    r = rd.r
    read = _Read(rd)
    ident = read.certificate_id(tree.get("identifier"), "Bundle.identifier", ("id",))
    sent_at = None
    stamp = r.obj(tree, "_timestamp", "Bundle") or {}
    if extension(r, stamp, "Bundle.timestamp", U["signing_time"]) is None:
        sent_at = read_datetime(r, tree, "timestamp", "Bundle", ("sent_at",))
    return {"id": ident, "sent_at": sent_at, "signature": read.signature()}


# -- the Composition: the certificate type, when it was signed -------------------------------


def _write_composition(w: Writing, out: dict[str, Any]) -> None:
    c = w.document
    out["type"] = {"coding": [write_coding(c.type_code)]}
    _put_time(out, "date", c.signed_at or c.sent_at)
    out["title"] = c.type_code.display or str(c.type)
    if c.signed_at is not None:
        party = reference(w.urls["role"])
        out["attester"] = [{"mode": "legal", "time": write_datetime(c.signed_at), "party": party}]
    out["custodian"] = reference(w.urls["unit"])


def _read_composition(rd: Reading, comp: dict[str, Any], cpath: str) -> dict[str, Any]:
    r = rd.r
    type_code, ctype = _Read(rd).type(comp, cpath)
    rd.state["described"] = _description_parts(ctype)
    signed_at = None
    for att, apath in r.objs(comp, "attester", cpath):
        if att.get("mode") == "legal":
            signed_at = read_datetime(r, att, "time", apath, ("signed_at",))
    return {"type": ctype, "type_code": type_code, "signed_at": signed_at}


# -- statuses and relations ------------------------------------------------------------------


def _write_relations(w: Writing, comp: dict[str, Any]) -> None:
    if w.document.relations:
        comp["relatesTo"] = [_relation(r) for r in w.document.relations]


def _relation(r: Relation) -> dict[str, Any]:
    return {
        "extension": [{"url": U["relation_type"], "valueCoding": write_coding(r.type)}],
        "code": RELATION_CODE.get(r.type.code, "appends"),
        "targetIdentifier": certificate_identifier(r.certificate_id),
    }


# -- the answers: a QuestionnaireResponse, a Condition per diagnosis ------------------------


class _Answers:
    """Writes the answers of one certificate: the QuestionnaireResponse and the Conditions its
    diagnosis parts refer to (and the Composition's sections naming them)."""

    def __init__(self, w: Writing) -> None:
        self.c: Certificate = w.document
        self.url = w.urls
        self.qr = w.url("qr")
        self.conditions: list[tuple[str, dict[str, Any]]] = []
        self.described = _description_parts(self.c.type)
        # code part id -> its Condition (url, resource), per answer
        self.answer_conditions: dict[str, tuple[str, dict[str, Any]]] = {}

    def write(self, w: Writing, comp: dict[str, Any]) -> None:
        w.add("answers", self.qr, self.questionnaire_response())
        for url, cond in self.conditions:
            w.add("answers", url, cond)
        sections = [{"title": "Svar", "entry": [reference(self.qr)]}]
        if self.conditions:
            entries = [reference(url) for url, _ in self.conditions]
            sections.append({"title": "Diagnoser", "entry": entries})
        comp["section"] = sections

    def questionnaire_response(self) -> dict[str, Any]:
        c = self.c
        items = []
        for a in c.answers:
            self.answer_conditions = {}
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
        if isinstance(v, str) and p.id in self.described:
            url, cond = self.condition(self.described[p.id], ("text", "_text"))
            put_text(cond["code"], "text", v)
            answer: dict[str, Any] = {"valueReference": reference(url)}
        elif isinstance(v, Code) and systems.is_diagnosis(v.system):
            url, cond = self.condition(p.id, ("coding",))
            cond["code"]["coding"] = [write_coding(v)]
            answer = {"valueReference": reference(url)}
        elif isinstance(v, Code):
            answer = {"valueCoding": write_coding(v)}
        elif isinstance(v, Quantity):
            answer = {"valueQuantity": {"value": v.value, "unit": v.unit}}
        elif v in ("true", "false"):
            answer = {"valueBoolean": v == "true"}
        elif parse_date(v) is not None:
            answer = {"valueDate": v}
        else:
            answer = {}
            put_text(answer, "valueString", v)
        out["answer"] = [answer]
        return out

    def condition(self, code_part: str, slot: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
        """The Condition of the diagnosis code part ``code_part`` of the current answer (its
        code and its description both land there), a new one when ``slot`` of its code is
        taken (a part sent twice)."""
        found = self.answer_conditions.get(code_part)
        if found is None or slot[0] in found[1]["code"] or slot[-1] in found[1]["code"]:
            seed = f"{self.qr}|{len(self.conditions)}"
            url = f"urn:uuid:{_uuid(seed)}"
            cond = {
                "resourceType": "Condition",
                **copy.deepcopy(_CONDITION_STATE),  # trees are the caller's to change
                "code": {},
                "subject": reference(self.url["patient"]),
            }
            found = self.answer_conditions[code_part] = (url, cond)
            self.conditions.append(found)
        return found


# -- tree -> model ----------------------------------------------------------------------------


class _Read:
    """Reading one certificate (the hooks' shared Reader, index and tree)."""

    def __init__(self, rd: Reading) -> None:
        self.r = rd.r
        self.index = rd.index
        self.tree = rd.tree
        self.described: dict[str, str] = rd.state.get("described", {})

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
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            r.report(STRUCTURE, "Bundle.signature.data", "Bundle.signature.data is not base64")
            return None
        stored, why = signature.read(raw)
        if why is not None:  # never carried: a signature is signed bytes, not content
            r.report(SIGNATURE_MALFORMED, "Bundle.signature.data", f"Bundle.signature.data: {why}")
        return stored

    def relations(self, comp: dict[str, Any], cpath: str) -> list[Relation]:
        r = self.r
        out: list[Relation] = []
        for rel, path in r.objs(comp, "relatesTo", cpath):
            mp = ("relations", len(out))
            found = extension(r, rel, path, U["relation_type"])
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
            inst = extension(r, item, ipath, U["instance"])
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
        value = self.value(answer, apath, (*mp, "value"), link in self.described)
        return None if value is None else SubAnswer(id=link, value=value)

    def date(self, answer: dict[str, Any], path: str, mp: ModelPath) -> date | None:
        raw = self.r.text(answer, "valueDate", path)
        if raw is None:
            return None
        self.r.map(mp, f"{path}.valueDate")
        value = parse_date(raw)
        if value is not None:
            return value
        self.r.report(STRUCTURE, f"{path}.valueDate", f"{raw!r} is not a date YYYY-MM-DD")
        return None

    def value(
        self, answer: dict[str, Any], path: str, mp: ModelPath, describes: bool = False
    ) -> AnswerValue | None:
        """An answer's value; ``describes``: the part is a diagnosis description, whose text is
        its Condition's ``code.text``."""
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
            if describes:
                text = get_text(r, concept, "text", f"{cpath}.code", mp)
                if text is None:
                    r.missing(f"{cpath}.code.text", "the diagnosis description")
                return text
            return read_concept(r, concept, f"{cpath}.code", mp)
        r.report(STRUCTURE, path, f"{path} has no value this profile knows")
        return None


def _read_answers(rd: Reading, comp: dict[str, Any], path: str) -> dict[str, Any]:
    if "described" not in rd.state:
        return {}  # the certificate type could not be read: nor can its answers
    return {"answers": _Read(rd).answers()}


def _matches(tree: dict[str, Any]) -> bool:
    if tree.get("resourceType") != "Bundle":
        return False
    # matching runs before any shape check: tolerate any JSON type anywhere
    entries = tree.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Composition":
            ctype = res.get("type")
            codings = ctype.get("coding") if isinstance(ctype, dict) else None
            return isinstance(codings, list) and any(
                isinstance(c, dict) and c.get("system") in _TYPE_URIS for c in codings
            )
    return False


MAPPING = register(
    RowMapping(
        DocumentKind.CERTIFICATE,
        Certificate,
        {
            "bundle": Hook(_write_bundle, _read_bundle),
            "composition": Hook(_write_composition, _read_composition),
            "relations": Hook(
                _write_relations, lambda rd, c, p: {"relations": _Read(rd).relations(c, p)}
            ),
            "answers": Hook(lambda w, comp: _Answers(w).write(w, comp), _read_answers),
        },
        url=_url,
        matches=_matches,
    )
)

__all__ = ["MAPPING", "certificate_identifier"]
