"""The patient's consent to a transfer, as an R4 Consent (scope patient-privacy).

The SIP, return-to-work plan and §4 notification carry it (docs/fhir/*.md): who gave it,
when and how, what it covers, the recipient audiences it permits, and when it was withdrawn.
"""

from __future__ import annotations

from typing import Any

from gateway.documents.common import Consent, ConsentMethod, Recipient
from gateway.documents.issues import ModelPath
from gateway.formats.fhir.bundles import RECIPIENT_SYSTEM
from gateway.formats.fhir.datatypes import (
    BundleIndex,
    ext_value,
    read_datetime,
    read_ext_text,
    read_identifier,
    reference,
    write_datetime,
    write_identifier,
)
from gateway.formats.fhir.systems import BASE
from gateway.formats.fhir.texts import get_text, put_ext_text
from gateway.formats.fhir.tree import SYSTEM, Reader, Unreadable

CONSENT_ID_SYSTEM = f"{BASE}/sid/consent-id"
CONSENT_METHOD_URL = f"{BASE}/StructureDefinition/consent-method"
CONSENT_PURPOSE_URL = f"{BASE}/StructureDefinition/consent-purpose"
CONSENT_RECORDED_BY_URL = f"{BASE}/StructureDefinition/consent-recorded-by"
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
    purpose = read_ext_text(r, res, path, CONSENT_PURPOSE_URL, (*mp, "purpose"))
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


def read_supporting_consent(
    r: Reader, index: BundleIndex, res: dict[str, Any], path: str
) -> Consent | None:
    """The Consent a CarePlan names in ``supportingInfo`` (the first that resolves)."""
    for info, ipath in r.objs(res, "supportingInfo", path):
        found = index.resolve_reference(info, ipath, "Consent")
        if found is not None:
            return read_consent(r, *found, ("consent",))
    return None


__all__ = ["CONSENT_ID_SYSTEM", "read_consent", "read_supporting_consent", "write_consent"]
