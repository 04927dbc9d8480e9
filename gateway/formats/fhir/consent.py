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
  meaning the gateway acts on);
* everything else that can limit a consent, for the one reading
  (``gateway.documents.consent``) to act on: ``scope`` other than patient privacy, a
  ``category`` other than a privacy consent's, ``verification``, and on every provision
  ``action``, ``dataPeriod``, ``code``, ``securityLabel`` and recipient organisations by
  identifier (an ``actor`` Organization by organisation number or HSA-id other than the
  national recipients': consent is to a named recipient). What could limit and cannot be
  read (``policy``, a ``modifierExtension``, an actor in another role, ``data`` not named by
  instance, a ``class`` of another system) is kept by name as not understood, written back as
  our own modifier extension, and never authorises.

The consent's subject is resolved by reference and compared by identifier: a consent about
the very Patient resource the document names reads as ``patient=None``; any other Patient,
and every consent offered beside a document (a message's Consent entries, a document's
further ones), reads as that Patient's identifier, which the evaluator compares.
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
from gateway.documents.consent import purpose_system, vocabulary
from gateway.documents.identity import HSA_ID_OID, ORGANISATIONSNUMMER_OID
from gateway.documents.issues import Issue, ModelPath
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
from gateway.formats.fhir.tree import SYSTEM, Reader, Unreadable, as_list

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
_SCOPE_SYSTEM = U["consent_scope"]
NOT_UNDERSTOOD_URL = U["not_understood"]
_ORGANISATION_SYSTEMS = (ORGANISATIONSNUMMER_OID, HSA_ID_OID)
#: R4 Consent elements that can limit what it allows and that the gateway does not read
_UNREAD_LIMITS = ("policy", "modifierExtension")
_UNREAD_PROVISION_LIMITS = ("modifierExtension",)


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


def _organisation_actor(ident: Identifier) -> dict[str, Any]:
    ref = {"type": "Organization", "identifier": write_identifier(ident)}
    return {"role": _RECIPIENT_ROLE, "reference": ref}


def _concepts(codes: list[Code]) -> list[dict[str, Any]]:
    return [{"coding": [write_coding(c)]} for c in codes]


def _not_understood(names: list[str]) -> list[dict[str, Any]]:
    return [{"url": NOT_UNDERSTOOD_URL, "valueString": n} for n in names]


def _rule(out: dict[str, Any], rule: Consent | ConsentProvision) -> dict[str, Any]:
    """What a provision (the base one, or a nested one) names and limits."""
    if isinstance(rule, ConsentProvision) and rule.not_understood:
        out["modifierExtension"] = _not_understood(rule.not_understood)
    actors = [_actor(x) for x in rule.recipients]
    actors += [_organisation_actor(o) for o in rule.organisations]
    if actors:
        out["actor"] = actors
    if rule.actions:
        out["action"] = _concepts(rule.actions)
    if rule.security_labels:
        out["securityLabel"] = [write_coding(c) for c in rule.security_labels]
    if rule.purposes:
        out["purpose"] = [write_coding(p) for p in rule.purposes]
    data_period = _period(rule.data_from, rule.data_to)
    if data_period is not None:
        out["dataPeriod"] = data_period
    if rule.codes:
        out["code"] = _concepts(rule.codes)
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
    _rule(out, c)
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
        nested.append(_rule(sub, p))
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
    out: dict[str, Any] = {"resourceType": "Consent", "extension": ext}
    if c.not_understood:
        out["modifierExtension"] = _not_understood(c.not_understood)
    scope = (
        _CONSENT_SCOPE if c.consent_scope is None else {"coding": [write_coding(c.consent_scope)]}
    )
    out.update(
        {
            "identifier": [{"system": CONSENT_ID_SYSTEM, "value": c.id}],
            "status": str(c.status),
            "scope": scope,
            "category": [_CONSENT_CATEGORY, *_concepts(c.categories)],
            "patient": patient,
            "dateTime": write_datetime(c.given_at),
            "performer": [{"identifier": write_identifier(c.given_by)}],
            "policyRule": {"coding": [{"system": _ACT_CODE, "code": str(c.policy_rule)}]},
        }
    )
    if c.verified is not None:
        out["verification"] = [{"verified": c.verified}]
    out["provision"] = _provision(c)
    return out


# -- tree -> model ----------------------------------------------------------------------------


class _Limits:
    """What one provision names and limits, as read."""

    def __init__(self) -> None:
        self.recipients: list[Recipient] = []
        self.organisations: list[Identifier] = []
        self.not_understood: list[str] = []

    def model(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "organisations": self.organisations,
            "not_understood": self.not_understood,
        }


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
        """Whom the consent is about: ``None`` when it is the document's own Patient (the
        very resource the document names), else that Patient's identifier, resolved by
        reference (or given as a logical reference)."""
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

    def actors(self, prov: dict[str, Any], ppath: str, mp: ModelPath, out: _Limits) -> None:
        """The recipients a provision names: audiences, the national recipients'
        organisation numbers, and any other organisation by organisation number or HSA-id.
        An actor in another role than recipient is not understood."""
        r = self.r
        r.map((*mp, "recipients"), ppath)
        for actor, apath in r.objs(prov, "actor", ppath):
            role = r.obj(actor, "role", apath)
            if role is None or find_coding(role, _PARTICIPATION, "IRCP") is None:
                out.not_understood.append("provision.actor.role")
                continue
            self.actor(actor, apath, mp, out)

    def actor(self, actor: dict[str, Any], apath: str, mp: ModelPath, out: _Limits) -> None:
        r = self.r
        ref = r.obj(actor, "reference", apath) or {}
        rpath = f"{apath}.reference"
        if "reference" in ref:
            found = self.index.resolve_reference(ref, rpath, "Organization")
            if found is None:
                return
            idents = r.objs(found[0], "identifier", found[1])
            ident, ipath = idents[0] if idents else ({}, f"{found[1]}.identifier")
        else:
            ident, ipath = r.obj(ref, "identifier", rpath) or {}, f"{rpath}.identifier"
        system, value = ident.get("system"), r.text(ident, "value", ipath)
        if value is not None and system == RECIPIENT_SYSTEM:
            try:
                r.map((*mp, "recipients", len(out.recipients)), apath)
                out.recipients.append(Recipient(value))
            except ValueError:
                known = ", ".join(x.value for x in Recipient)
                r.report(SYSTEM, f"{ipath}.value", f"{value!r} is not a recipient ({known})")
            return
        model_system = systems.to_model(system) if isinstance(system, str) else None
        if value is not None and model_system in _ORGANISATION_SYSTEMS:
            national = _BY_ORGANISATION.get(value.replace("-", "").removeprefix("16"))
            if model_system == ORGANISATIONSNUMMER_OID and national is not None:
                r.map((*mp, "recipients", len(out.recipients)), apath)
                out.recipients.append(national)
            else:
                r.map((*mp, "organisations", len(out.organisations)), apath)
                out.organisations.append(Identifier(system=model_system, value=value))
            return
        r.report(
            SYSTEM,
            ipath,
            f"{ipath} must be a recipient code in {RECIPIENT_SYSTEM}, or an organisation by "
            f"organisation number ({_ORGNR_URI}) or HSA-id",
        )

    def codings(self, owner: dict[str, Any], key: str, path: str, mp: ModelPath) -> list[Code]:
        """Codes of a list of Codings (``key``) or of CodeableConcepts (every coding)."""
        out: list[Code] = []
        for obj, p in self.r.objs(owner, key, path):
            inner = self.r.objs(obj, "coding", p) if "coding" in obj else [(obj, p)]
            for coding, cpath in inner:
                code = read_coding(self.r, coding, cpath, (*mp, len(out)))
                if code is not None:
                    out.append(code)
        return out

    def purposes(self, prov: dict[str, Any], ppath: str, mp: ModelPath) -> list[Code]:
        """Purpose codes; the purpose system only as declared (its URI or a declared alias),
        never by a generic rule (``urn:oid:consent-purpose``, a bare ``consent-purpose``)."""
        out: list[Code] = []
        declared = purpose_system().system
        for k, (obj, p) in enumerate(self.r.objs(prov, "purpose", ppath)):
            code = read_coding(self.r, obj, p, (*mp, "purposes", k))
            if code is None:
                continue
            if code.system == declared and not _declared(obj.get("system"), declared):
                # a spelling the table does not declare (urn:oid:consent-purpose, a bare
                # consent-purpose) is no system the gateway knows: the code is uncoded
                code = code.model_copy(update={"system": None})
            out.append(code)
        return out

    def limits(self, prov: dict[str, Any], ppath: str, mp: ModelPath) -> dict[str, Any]:
        """What else a provision limits by: actions, data period, codes, security labels."""
        data_from, data_to = self.period(prov, ppath, mp, ("data_from", "data_to"), "dataPeriod")
        return {
            "actions": self.codings(prov, "action", ppath, (*mp, "actions")),
            "codes": self.codings(prov, "code", ppath, (*mp, "codes")),
            "security_labels": self.codings(prov, "securityLabel", ppath, (*mp, "security_labels")),
            "data_from": data_from,
            "data_to": data_to,
        }

    def period(
        self,
        prov: dict[str, Any],
        ppath: str,
        mp: ModelPath,
        names: tuple[str, str],
        key: str = "period",
    ) -> Any:
        period = self.r.obj(prov, key, ppath)
        if period is None:
            return None, None
        pp = f"{ppath}.{key}"
        return (
            read_datetime(self.r, period, "start", pp, (*mp, names[0])),
            read_datetime(self.r, period, "end", pp, (*mp, names[1])),
        )

    def scope(
        self, prov: dict[str, Any], ppath: str, mp: ModelPath, unread: list[str]
    ) -> ConsentScope:
        r = self.r
        kind = None
        for obj, p in r.objs(prov, "class", ppath):
            if obj.get("system") != DOCUMENT_KIND_SYSTEM:
                unread.append("provision.class")
                continue
            if kind is not None:
                continue
            code = r.text(obj, "code", p)
            r.map((*mp, "scope", "kind"), p)
            try:
                kind = DocumentKind(code or "")
            except ValueError:
                r.report(SYSTEM, f"{p}.code", f"{code!r} is not a document kind")
        if kind is None:
            r.missing(f"{ppath}.class", f"the document kind, a code in {DOCUMENT_KIND_SYSTEM}")
            raise Unreadable(ppath)
        document_id = None
        for obj, p in r.objs(prov, "data", ppath):
            if obj.get("meaning") != "instance":
                unread.append("provision.data.meaning")
            ref = r.obj(obj, "reference", p) or {}
            ident = r.obj(ref, "identifier", f"{p}.reference") or {}
            ipath = f"{p}.reference.identifier"
            if ident.get("system") not in _DOCUMENT_ID_KIND:
                known = ", ".join(sorted(_DOCUMENT_ID_KIND))
                r.report(SYSTEM, ipath, f"{ipath} must name a document by one of: {known}")
                continue
            if document_id is not None:
                unread.append("provision.data")  # two documents: which one is unclear
                continue
            document_id = get_text(r, ident, "value", ipath, (*mp, "scope", "document_id"))
        return ConsentScope(kind=kind, document_id=document_id)

    def unread(self, res: dict[str, Any], names: tuple[str, ...], prefix: str) -> list[str]:
        """Limiting elements present that the gateway does not read (our own modifier
        extension carries names read before)."""
        found: list[str] = []
        for name in names:
            value = res.get(name)
            if not value:
                continue
            if name == "modifierExtension" and isinstance(value, list):
                for ext in value:
                    if isinstance(ext, dict) and ext.get("url") == NOT_UNDERSTOOD_URL:
                        found.append(str(ext.get("valueString", "modifierExtension")))
                    else:
                        found.append(f"{prefix}modifierExtension")
            else:
                found.append(f"{prefix}{name}")
        return found

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
            limits = _Limits()
            limits.not_understood += self.unread(sub, _UNREAD_PROVISION_LIMITS, "provision.")
            self.actors(sub, spath, here, limits)
            for obj, _p in self.r.objs(sub, "class", spath):
                if obj.get("system") != DOCUMENT_KIND_SYSTEM:
                    limits.not_understood.append("provision.class")
            if sub.get("data"):
                limits.not_understood.append("provision.data")
            out.append(
                ConsentProvision(
                    type=ptype or ProvisionType.DENY,
                    start=start,
                    end=end,
                    purposes=self.purposes(sub, spath, here),
                    **limits.model(),
                    **self.limits(sub, spath, here),
                )
            )
            self.nested(sub, spath, mp, out)

    def about(self, res: dict[str, Any], path: str, mp: ModelPath) -> dict[str, Any]:
        """What kind of consent this is: scope, categories, verification."""
        r = self.r
        scope = r.obj(res, "scope", path)
        consent_scope = None
        if scope is not None and find_coding(scope, _SCOPE_SYSTEM, "patient-privacy") is None:
            codes = self.codings(res, "scope", path, (*mp, "consent_scope"))
            consent_scope = codes[0] if codes else Code(code="(not readable)")
        categories = [
            c
            for c in self.codings(res, "category", path, (*mp, "categories"))
            if (systems.to_uri(c.system or ""), c.code) not in vocabulary().privacy_categories
            and (c.system, c.code) not in vocabulary().privacy_categories
        ]
        verified = None
        for obj, p in r.objs(res, "verification", path):
            flag = obj.get("verified")
            if flag is not True:
                verified = False
                r.map((*mp, "verified"), f"{p}.verified")
            elif verified is None:
                verified = True
        return {"consent_scope": consent_scope, "categories": categories, "verified": verified}

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
        method = self.method(res, path, mp)
        recorded_by = None
        found_r = ext_value(r, res, CONSENT_RECORDED_BY_URL, "valueIdentifier", path)
        if found_r is not None and isinstance(found_r[0], dict):
            recorded_by = read_identifier(
                r, found_r[0], f"{found_r[1]}.valueIdentifier", (*mp, "recorded_by")
            )
        patient = self.patient(res, path, mp)
        policy_rule = self.policy_rule(res, path, mp)
        unread = self.unread(res, _UNREAD_LIMITS, "")
        ppath = f"{path}.provision"
        provision = r.obj(res, "provision", path)
        if provision is None:
            r.missing(ppath, "what the consent permits")
            raise Unreadable(ppath)
        ptype = r.need(self.enum(provision, "type", ppath, (*mp, "type"), ProvisionType), ppath)
        valid_from, withdrawn_at = self.period(provision, ppath, mp, ("valid_from", "withdrawn_at"))
        limits = _Limits()
        limits.not_understood = unread + self.unread(
            provision, _UNREAD_PROVISION_LIMITS, "provision."
        )
        self.actors(provision, ppath, mp, limits)
        if not limits.recipients and not limits.organisations and not limits.not_understood:
            r.missing(f"{ppath}.actor", "the recipients the consent covers")
            raise Unreadable(ppath)
        purposes = self.purposes(provision, ppath, mp)
        if not purposes:
            r.missing(f"{ppath}.purpose", "the purpose codes the consent covers")
            raise Unreadable(ppath)
        scope = self.scope(provision, ppath, mp, limits.not_understood)
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
            purposes=purposes,
            valid_from=valid_from,
            withdrawn_at=withdrawn_at,
            recorded_by=recorded_by,
            provisions=nested,
            **limits.model(),
            **self.limits(provision, ppath, mp),
            **self.about(res, path, mp),
        )

    def method(self, res: dict[str, Any], path: str, mp: ModelPath) -> ConsentMethod:
        r = self.r
        found = ext_value(r, res, CONSENT_METHOD_URL, "valueCode", path)
        if found is None:
            r.missing(f"{path}.extension", f"{CONSENT_METHOD_URL} (oral, written or digital)")
            return ConsentMethod.ORAL
        code, epath = found
        r.map((*mp, "method"), epath)
        try:
            return ConsentMethod(code)
        except ValueError:
            known = ", ".join(m.value for m in ConsentMethod)
            r.report(SYSTEM, epath, f"{code!r} is not a consent method ({known})")
            return ConsentMethod.ORAL


def _declared(raw: Any, model_system: str) -> bool:
    """Whether ``raw`` (a FHIR Coding's system) is the declared FHIR spelling of the model
    system ``model_system`` or an alias the systems table declares for it."""
    if not isinstance(raw, str):
        return False
    if raw == systems.to_uri(model_system):
        return True
    row = systems.lookup(raw)
    return row is not None and row.model == model_system and raw != row.model


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
    """The Consent a CarePlan names in ``supportingInfo``: the first that resolves is the
    document's own; every other Consent of the Bundle is offered beside it and read too
    (:func:`offered_consents`), so a later deny or withdrawn copy is never passed over."""
    for info, ipath in r.objs(res, "supportingInfo", path):
        found = index.resolve_reference(info, ipath, "Consent")
        if found is not None:
            return read_consent(r, index, *found, ("consent",), subject)
    return None


def _consent_resources(
    tree: dict[str, Any], entries: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], str]]:
    """The Consent resources of a Bundle's entries and of a document Bundle's inside it, each
    with its FHIRPath (indexes as the sender wrote them)."""
    consents: list[tuple[dict[str, Any], str]] = []
    for i, e in enumerate(as_list(tree.get("entry"))):
        res = e.get("resource") if isinstance(e, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Consent":
            consents.append((res, f"Bundle.entry[{i}].resource"))
    for i, e in enumerate(entries):
        res = e.get("resource")
        if isinstance(res, dict) and res.get("resourceType") == "Bundle":
            for j, sub in enumerate(as_list(res.get("entry"))):
                found = sub.get("resource") if isinstance(sub, dict) else None
                if isinstance(found, dict) and found.get("resourceType") == "Consent":
                    consents.append((found, f"Bundle.entry[{i}].resource.entry[{j}].resource"))
    return consents


def offered_consents(
    tree: dict[str, Any], lines: dict[str, int] | None = None
) -> tuple[list[Consent], list[Issue]]:
    """Every Consent resource in a FHIR tree read as a Bundle: a message's entries, and the
    entries of a document Bundle inside it (a certificate message), each read completely with
    its patient resolved by reference to that Patient's identifier. The policy reads them all
    beside the document's own consent, and a no in any of them wins; one that cannot be read
    is an error (deny when in doubt). Issues name the place in the tree the sender wrote."""
    if tree.get("resourceType") != "Bundle":
        return [], []
    r = Reader(lines)
    entries = [e for e in as_list(tree.get("entry")) if isinstance(e, dict)]
    inner = [
        sub
        for e in entries
        if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Bundle"
        for sub in as_list(e["resource"].get("entry"))
        if isinstance(sub, dict)
    ]
    consents = _consent_resources(tree, entries)
    if not consents:
        return [], []
    index = BundleIndex(Reader(), {"entry": [*entries, *inner]})
    index.r = r
    out: list[Consent] = []
    for res, path in consents:
        try:
            out.append(read_consent(r, index, res, path, ("consent",), None))
        except Unreadable:
            continue
    return out, r.issues


__all__ = [
    "CONSENT_ID_SYSTEM",
    "NOT_UNDERSTOOD_URL",
    "offered_consents",
    "read_consent",
    "read_supporting_consent",
    "write_consent",
]
