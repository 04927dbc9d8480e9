"""The patient's consent to a transfer, as an R4 Consent (scope patient-privacy).

The SIP, return-to-work plan and §4 notification carry it (docs/fhir/*.md). The canonical
``Consent`` maps one to one, so reading and writing are lossless:

* ``status``, ``policyRule`` (v3 ActCode OPTIN/OPTINR/OPTOUT/OPTOUTE), ``dateTime`` (given),
  ``performer`` (who gave it), ``patient`` (the document's Patient entry, or a logical
  reference by identifier when the record says it is about someone else);
* the base ``provision``: ``type``, ``period`` (start, end = withdrawn), ``actor`` (role IRCP;
  an Organization by organisation number where the recipient is one known organisation -
  Försäkringskassan, Arbetsförmedlingen - else the audience code in ``{base}/sid/recipient``),
  ``purpose`` (Codings of ``{base}/CodeSystem/consent-purpose``), ``class`` (the document kind
  it is scoped to) and ``data`` (the one document it names, by business identifier);
* nested ``provision.provision`` at any depth, read in document order into the flat
  ``provisions`` list and written one level deep (deny wins at any depth, so depth carries no
  meaning the gateway acts on).
"""

from __future__ import annotations

from typing import Any

from gateway.documents.common import (
    Code,
    Consent,
    ConsentMethod,
    ConsentPolicyRule,
    ConsentProvision,
    ConsentScope,
    ConsentStatus,
    DocumentKind,
    Identifier,
    ProvisionType,
    Recipient,
)
from gateway.documents.identity import ORGANISATIONSNUMMER_OID
from gateway.documents.issues import ModelPath
from gateway.formats.fhir import systems
from gateway.formats.fhir.bundles import RECIPIENT_SYSTEM
from gateway.formats.fhir.datatypes import (
    BundleIndex,
    ext_value,
    find_coding,
    read_coding,
    read_datetime,
    read_identifier,
    reference,
    write_coding,
    write_datetime,
    write_identifier,
)
from gateway.formats.fhir.mapping import load_mapping
from gateway.formats.fhir.texts import get_text
from gateway.formats.fhir.tree import SYSTEM, Reader, Unreadable

MAP = load_mapping("consent")
U = MAP.urls
CONSENT_ID_SYSTEM = U["consent_id"]
CONSENT_METHOD_URL = U["method"]
CONSENT_RECORDED_BY_URL = U["recorded_by"]
DOCUMENT_KIND_SYSTEM = U["document_kind"]
#: kind -> the identifier system of its business id, and back
_DOCUMENT_ID = {k: U[f"document_id_{k.value}"] for k in DocumentKind}
_DOCUMENT_ID_KIND = {v: k for k, v in _DOCUMENT_ID.items()}
#: recipient -> organisation number, and back (mappings/consent.toml)
_ORGANISATION = {Recipient(k): v for k, v in MAP.table("recipient_organisation").items()}
_ORGANISATION_NAME = {Recipient(k): v for k, v in MAP.table("recipient_name").items()}
_BY_ORGANISATION = {v: k for k, v in _ORGANISATION.items()}
_ORGNR_URI = systems.to_uri(ORGANISATIONSNUMMER_OID)

#: R4's fixed codings of a privacy consent (mappings/consent.toml [urls])
_CONSENT_SCOPE = {"coding": [{"system": U["consent_scope"], "code": "patient-privacy"}]}
_CONSENT_CATEGORY = {"coding": [{"system": U["loinc"], "code": "59284-0"}]}
_ACT_CODE = U["act_code"]
_PARTICIPATION = U["participation_type"]
_RECIPIENT_ROLE = {"coding": [{"system": _PARTICIPATION, "code": "IRCP"}]}


# -- model -> tree ----------------------------------------------------------------------------


def _actor(x: Recipient) -> dict[str, Any]:
    orgnr = _ORGANISATION.get(x)
    if orgnr is not None:
        ref: dict[str, Any] = {
            "type": "Organization",
            "identifier": {"system": _ORGNR_URI, "value": orgnr},
            "display": _ORGANISATION_NAME[x],
        }
    else:
        ref = {"identifier": {"system": RECIPIENT_SYSTEM, "value": str(x)}}
    return {"role": _RECIPIENT_ROLE, "reference": ref}


def _rule(out: dict[str, Any], recipients: list[Recipient], purposes: list[Code]) -> dict[str, Any]:
    if recipients:
        out["actor"] = [_actor(x) for x in recipients]
    if purposes:
        out["purpose"] = [write_coding(p) for p in purposes]
    return out


def _period(start: Any, end: Any) -> dict[str, str] | None:
    period = {}
    if start is not None:
        period["start"] = write_datetime(start)
    if end is not None:
        period["end"] = write_datetime(end)
    return period or None


def _provision(c: Consent) -> dict[str, Any]:
    out: dict[str, Any] = {"type": str(c.type)}
    period = _period(c.valid_from, c.withdrawn_at)
    if period is not None:
        out["period"] = period
    _rule(out, c.recipients, c.purposes)
    out["class"] = [{"system": DOCUMENT_KIND_SYSTEM, "code": str(c.scope.kind)}]
    if c.scope.document_id is not None:
        ident = {"system": _DOCUMENT_ID[c.scope.kind], "value": c.scope.document_id}
        out["data"] = [{"meaning": "instance", "reference": {"identifier": ident}}]
    nested = []
    for p in c.provisions:
        sub: dict[str, Any] = {"type": str(p.type)}
        period = _period(p.start, p.end)
        if period is not None:
            sub["period"] = period
        nested.append(_rule(sub, p.recipients, p.purposes))
    if nested:
        out["provision"] = nested
    return out


def write_consent(c: Consent, patient_url: str) -> dict[str, Any]:
    """The patient's consent to one transfer (R4 Consent, scope patient-privacy)."""
    ext: list[dict[str, Any]] = [{"url": CONSENT_METHOD_URL, "valueCode": str(c.method)}]
    if c.recorded_by is not None:
        ext.append(
            {"url": CONSENT_RECORDED_BY_URL, "valueIdentifier": write_identifier(c.recorded_by)}
        )
    patient = (
        reference(patient_url)
        if c.patient is None
        else {"type": "Patient", "identifier": write_identifier(c.patient)}
    )
    return {
        "resourceType": "Consent",
        "extension": ext,
        "identifier": [{"system": CONSENT_ID_SYSTEM, "value": c.id}],
        "status": str(c.status),
        "scope": _CONSENT_SCOPE,
        "category": [_CONSENT_CATEGORY],
        "patient": patient,
        "dateTime": write_datetime(c.given_at),
        "performer": [{"identifier": write_identifier(c.given_by)}],
        "policyRule": {"coding": [{"system": _ACT_CODE, "code": str(c.policy_rule)}]},
        "provision": _provision(c),
    }


# -- tree -> model ----------------------------------------------------------------------------


class _ConsentReader:
    def __init__(self, r: Reader, index: BundleIndex, subject: dict[str, Any] | None) -> None:
        self.r = r
        self.index = index
        self.subject = subject

    def enum(self, res: dict[str, Any], key: str, path: str, mp: ModelPath, cls: Any) -> Any:
        value = self.r.text(res, key, path)
        if value is None:
            self.r.missing(f"{path}.{key}")
            return None
        self.r.map(mp, f"{path}.{key}")
        try:
            return cls(value)
        except ValueError:
            known = ", ".join(x.value for x in cls)
            self.r.report(SYSTEM, f"{path}.{key}", f"{value!r} is not one of: {known}")
            return None

    def patient(self, res: dict[str, Any], path: str, mp: ModelPath) -> Identifier | None:
        """``None`` when the consent is about the document's own Patient entry."""
        ref = self.r.obj(res, "patient", path)
        if ref is None:
            return None
        ppath = f"{path}.patient"
        if "reference" not in ref:
            ident = self.r.obj(ref, "identifier", ppath)
            if ident is None:
                self.r.missing(f"{ppath}.reference", "the Patient the consent is about")
                return None
            return read_identifier(self.r, ident, f"{ppath}.identifier", (*mp, "patient"))
        found = self.index.resolve_reference(ref, ppath, "Patient")
        if found is None or found[0] is self.subject:
            return None
        idents = self.r.objs(found[0], "identifier", found[1])
        if not idents:
            self.r.missing(f"{found[1]}.identifier", "the identifier of the consent's patient")
            return None
        return read_identifier(self.r, *idents[0], (*mp, "patient"))

    def policy_rule(self, res: dict[str, Any], path: str, mp: ModelPath) -> ConsentPolicyRule:
        r = self.r
        rule = r.obj(res, "policyRule", path)
        rpath = f"{path}.policyRule"
        codings = r.objs(rule, "coding", rpath) if rule is not None else []
        if not codings:
            r.missing(f"{rpath}.coding", f"OPTIN, OPTINR, OPTOUT or OPTOUTE in {_ACT_CODE}")
            raise Unreadable(rpath)
        coding, cpath = codings[0]
        r.map((*mp, "policy_rule"), cpath)
        code = coding.get("code")
        if coding.get("system") == _ACT_CODE and isinstance(code, str):
            try:
                return ConsentPolicyRule(code)
            except ValueError:
                pass
        r.report(SYSTEM, cpath, f"{cpath} must be OPTIN, OPTINR, OPTOUT or OPTOUTE in {_ACT_CODE}")
        raise Unreadable(rpath)

    def recipients(self, prov: dict[str, Any], ppath: str, mp: ModelPath) -> list[Recipient]:
        r = self.r
        out: list[Recipient] = []
        r.map((*mp, "recipients"), ppath)
        for k, (actor, apath) in enumerate(r.objs(prov, "actor", ppath)):
            r.map((*mp, "recipients", k), apath)
            role = r.obj(actor, "role", apath)
            if role is None or find_coding(role, _PARTICIPATION, "IRCP") is None:
                r.report(SYSTEM, f"{apath}.role", f"{apath}.role must be IRCP in {_PARTICIPATION}")
                continue
            found = self.recipient(actor, apath)
            if found is not None:
                out.append(found)
        return out

    def recipient(self, actor: dict[str, Any], apath: str) -> Recipient | None:
        r = self.r
        ref = r.obj(actor, "reference", apath) or {}
        rpath = f"{apath}.reference"
        if "reference" in ref:
            found = self.index.resolve_reference(ref, rpath, "Organization")
            if found is None:
                return None
            idents = r.objs(found[0], "identifier", found[1])
            ident, ipath = idents[0] if idents else ({}, f"{found[1]}.identifier")
        else:
            ident, ipath = r.obj(ref, "identifier", rpath) or {}, f"{rpath}.identifier"
        system, value = ident.get("system"), r.text(ident, "value", ipath)
        if value is not None and system == RECIPIENT_SYSTEM:
            try:
                return Recipient(value)
            except ValueError:
                known = ", ".join(x.value for x in Recipient)
                r.report(SYSTEM, f"{ipath}.value", f"{value!r} is not a recipient ({known})")
                return None
        if (
            value is not None
            and isinstance(system, str)
            and systems.to_model(system) == ORGANISATIONSNUMMER_OID
        ):
            found_r = _BY_ORGANISATION.get(value.replace("-", ""))
            if found_r is not None:
                return found_r
            r.report(SYSTEM, f"{ipath}.value", f"organisation {value!r} is not a known recipient")
            return None
        r.report(
            SYSTEM,
            ipath,
            f"{ipath} must be a recipient code in {RECIPIENT_SYSTEM} or a known recipient's "
            f"organisation number in {_ORGNR_URI}",
        )
        return None

    def purposes(self, prov: dict[str, Any], ppath: str, mp: ModelPath) -> list[Code]:
        out: list[Code] = []
        for k, (obj, p) in enumerate(self.r.objs(prov, "purpose", ppath)):
            code = read_coding(self.r, obj, p, (*mp, "purposes", k))
            if code is not None:
                out.append(code)
        return out

    def period(
        self, prov: dict[str, Any], ppath: str, mp: ModelPath, names: tuple[str, str]
    ) -> Any:
        period = self.r.obj(prov, "period", ppath)
        if period is None:
            return None, None
        pp = f"{ppath}.period"
        return (
            read_datetime(self.r, period, "start", pp, (*mp, names[0])),
            read_datetime(self.r, period, "end", pp, (*mp, names[1])),
        )

    def scope(self, prov: dict[str, Any], ppath: str, mp: ModelPath) -> ConsentScope:
        r = self.r
        kind = None
        for obj, p in r.objs(prov, "class", ppath):
            if obj.get("system") == DOCUMENT_KIND_SYSTEM:
                code = r.text(obj, "code", p)
                r.map((*mp, "scope", "kind"), p)
                try:
                    kind = DocumentKind(code or "")
                except ValueError:
                    r.report(SYSTEM, f"{p}.code", f"{code!r} is not a document kind")
                break
        if kind is None:
            r.missing(f"{ppath}.class", f"the document kind, a code in {DOCUMENT_KIND_SYSTEM}")
            raise Unreadable(ppath)
        document_id = None
        for obj, p in r.objs(prov, "data", ppath):
            ref = r.obj(obj, "reference", p) or {}
            ident = r.obj(ref, "identifier", f"{p}.reference") or {}
            ipath = f"{p}.reference.identifier"
            if ident.get("system") not in _DOCUMENT_ID_KIND:
                known = ", ".join(sorted(_DOCUMENT_ID_KIND))
                r.report(SYSTEM, ipath, f"{ipath} must name a document by one of: {known}")
                continue
            document_id = get_text(r, ident, "value", ipath, (*mp, "scope", "document_id"))
            break
        return ConsentScope(kind=kind, document_id=document_id)

    def nested(
        self, prov: dict[str, Any], ppath: str, mp: ModelPath, out: list[ConsentProvision]
    ) -> None:
        """Every provision below ``prov``, at any depth, in document order."""
        for sub, spath in self.r.objs(prov, "provision", ppath):
            here = (*mp, "provisions", len(out))
            self.r.map(here, spath)
            # a provision whose type cannot be read counts as a deny: deny wins when in doubt
            ptype = self.enum(sub, "type", spath, (*here, "type"), ProvisionType)
            start, end = self.period(sub, spath, here, ("start", "end"))
            out.append(
                ConsentProvision(
                    type=ptype or ProvisionType.DENY,
                    start=start,
                    end=end,
                    recipients=self.recipients(sub, spath, here),
                    purposes=self.purposes(sub, spath, here),
                )
            )
            self.nested(sub, spath, mp, out)

    def consent(self, res: dict[str, Any], path: str, mp: ModelPath) -> Consent:
        r = self.r
        r.map(mp, path)
        cid = None
        for obj, p in r.objs(res, "identifier", path):
            if obj.get("system") == CONSENT_ID_SYSTEM:
                cid = get_text(r, obj, "value", p, (*mp, "id"))
        if cid is None:
            r.missing(f"{path}.identifier", f"the consent's id in {CONSENT_ID_SYSTEM}")
            raise Unreadable(path)
        status = r.need(self.enum(res, "status", path, (*mp, "status"), ConsentStatus), path)
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
                known = ", ".join(m.value for m in ConsentMethod)
                r.report(SYSTEM, epath, f"{code!r} is not a consent method ({known})")
        recorded_by = None
        found_r = ext_value(r, res, CONSENT_RECORDED_BY_URL, "valueIdentifier", path)
        if found_r is not None and isinstance(found_r[0], dict):
            recorded_by = read_identifier(
                r, found_r[0], f"{found_r[1]}.valueIdentifier", (*mp, "recorded_by")
            )
        patient = self.patient(res, path, mp)
        policy_rule = self.policy_rule(res, path, mp)
        ppath = f"{path}.provision"
        provision = r.obj(res, "provision", path)
        if provision is None:
            r.missing(ppath, "what the consent permits")
            raise Unreadable(ppath)
        ptype = r.need(self.enum(provision, "type", ppath, (*mp, "type"), ProvisionType), ppath)
        valid_from, withdrawn_at = self.period(provision, ppath, mp, ("valid_from", "withdrawn_at"))
        recipients = self.recipients(provision, ppath, mp)
        if not recipients:
            r.missing(f"{ppath}.actor", "the recipients the consent covers")
            raise Unreadable(ppath)
        purposes = self.purposes(provision, ppath, mp)
        if not purposes:
            r.missing(f"{ppath}.purpose", "the purpose codes the consent covers")
            raise Unreadable(ppath)
        scope = self.scope(provision, ppath, mp)
        nested: list[ConsentProvision] = []
        self.nested(provision, ppath, mp, nested)
        return Consent(
            id=cid,
            status=status,
            scope=scope,
            patient=patient,
            given_by=given_by,
            given_at=given_at,
            method=method,
            policy_rule=policy_rule,
            type=ptype,
            recipients=recipients,
            purposes=purposes,
            valid_from=valid_from,
            withdrawn_at=withdrawn_at,
            recorded_by=recorded_by,
            provisions=nested,
        )


def read_consent(
    r: Reader,
    index: BundleIndex,
    res: dict[str, Any],
    path: str,
    mp: ModelPath,
    subject: dict[str, Any] | None,
) -> Consent:
    """The Consent entry ``res``; ``subject`` is the document's Patient entry (a consent about
    it reads as ``patient=None``)."""
    return _ConsentReader(r, index, subject).consent(res, path, mp)


def read_supporting_consent(
    r: Reader,
    index: BundleIndex,
    res: dict[str, Any],
    path: str,
    subject: dict[str, Any] | None,
) -> Consent | None:
    """The Consent a CarePlan names in ``supportingInfo`` (the first that resolves)."""
    for info, ipath in r.objs(res, "supportingInfo", path):
        found = index.resolve_reference(info, ipath, "Consent")
        if found is not None:
            return read_consent(r, index, *found, ("consent",), subject)
    return None


__all__ = ["CONSENT_ID_SYSTEM", "read_consent", "read_supporting_consent", "write_consent"]
