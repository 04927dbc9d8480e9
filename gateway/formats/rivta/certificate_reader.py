"""RegisterCertificate v3 -> canonical :class:`Certificate` (the mapping half of the codec).

One pass over the children of each element, dispatching on precomputed Clark-notation tags
(no XPath on the hot path). The reader builds plain dicts and validates them into the model
once at the end, and records each model path's element for the source map. It never raises
for bad input: what it cannot read becomes an issue, and the document is ``None`` only when a
required part (id, type, patient, issuer) is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, cast

from lxml import etree
from pydantic import ValidationError

from gateway.documents.certificate import CERTIFICATE_TYPE_BY_RIVTA_CODE, Certificate
from gateway.documents.issues import RULES, Issue, ModelPath, RuleKind, Severity, issue
from gateway.formats.rivta.namespaces import CORE, EXT_32, REGISTER_CERTIFICATE, TYPES
from gateway.formats.xmlsafe import element_location

UNKNOWN_TYPE = RULES.define(
    "CERT-UNKNOWN-TYPE",
    "Certificate type not supported",
    RuleKind.SCHEMA,
    "The certificate's `typ/code` (KV_INTYGSTYP) is not one the gateway reads: LISJP (FK7804), "
    "AG7804 or AG1-14. Other certificate types cannot be validated or converted.",
)
VALUE_UNREADABLE = RULES.define(
    "CERT-VALUE-UNREADABLE",
    "Value cannot be read",
    RuleKind.SCHEMA,
    "A date, timestamp, number or instance number could not be read (e.g. 2016-13-01). The "
    "value is left out of the converted certificate. When the XML schema already reports the "
    "same problem, only the schema's issue is shown.",
)
VALUE_UNSUPPORTED = RULES.define(
    "CERT-VALUE-UNSUPPORTED",
    "Answer value of a kind the gateway does not carry",
    RuleKind.SCHEMA,
    "A `delsvar` holds either text or exactly one value element: `cv` (a code), `datePeriod` "
    "or `pq` (a quantity). Other value kinds (ii, partialDate, timePeriod, pqInterval, date, "
    "timestamp), several value elements, or text mixed with an element cannot be converted; "
    "the sub-answer is left out.",
)
NOT_CARRIED = RULES.define(
    "CERT-NOT-CARRIED",
    "Element not carried over",
    RuleKind.SCHEMA,
    "The element is allowed by the contract (an extension, `svarPa`, or a CV's codeSystemName, "
    "codeSystemVersion or originalText) but the canonical certificate has no place for it, so "
    "conversions to other formats leave it out.",
    severity=Severity.WARNING,
)
INCOMPLETE = RULES.define(
    "CERT-INCOMPLETE",
    "Certificate cannot be read",
    RuleKind.SCHEMA,
    "A part every certificate needs (intygs-id, typ, patient with person-id, skapadAv with "
    "personal-id and enhet with enhets-id and vårdgivare) is missing or unreadable, so the "
    "certificate could not be read and its business rules were not checked.",
)


def _c(local: str) -> str:
    return f"{{{CORE}}}{local}"


def _t(local: str) -> str:
    return f"{{{TYPES}}}{local}"


# Clark-notation tags, computed once.
INTYG = f"{{{REGISTER_CERTIFICATE}}}intyg"
INTYGS_ID, MOTTAGARE, TYP, VERSION = _c("intygs-id"), _c("mottagare"), _c("typ"), _c("version")
SIGNERAD, SKICKAD = _c("signeringstidpunkt"), _c("skickatTidpunkt")
PATIENT, SKAPAD_AV, RELATION, STATUS, SVAR = (
    _c("patient"),
    _c("skapadAv"),
    _c("relation"),
    _c("status"),
    _c("svar"),
)
UNDERSKRIFT = f"{{{EXT_32}}}underskrift"
KALLA_ADRESS = f"{{{EXT_32}}}kallaAdressuppgifter"
LEGITIMERAT_YRKE = f"{{{EXT_32}}}legitimeratYrke"
PERSON_ID, FORNAMN, EFTERNAMN, MELLANNAMN = (
    _c("person-id"),
    _c("fornamn"),
    _c("efternamn"),
    _c("mellannamn"),
)
POSTADRESS, POSTNUMMER, POSTORT = _c("postadress"), _c("postnummer"), _c("postort")
PERSONAL_ID, FULLST_NAMN, FORSKRIVARKOD, BEFATTNING, ENHET, SPECIALIST = (
    _c("personal-id"),
    _c("fullstandigtNamn"),
    _c("forskrivarkod"),
    _c("befattning"),
    _c("enhet"),
    _c("specialistkompetens"),
)
ENHETS_ID, ARBETSPLATSKOD, ENHETSNAMN, TELEFON, EPOST, VARDGIVARE = (
    _c("enhets-id"),
    _c("arbetsplatskod"),
    _c("enhetsnamn"),
    _c("telefonnummer"),
    _c("epost"),
    _c("vardgivare"),
)
VARDGIVARE_ID, VARDGIVARNAMN = _c("vardgivare-id"), _c("vardgivarnamn")
PART, TIDPUNKT = _c("part"), _c("tidpunkt")
INSTANS, DELSVAR = _c("instans"), _c("delsvar")
T_ROOT, T_EXTENSION = _t("root"), _t("extension")
T_CODE, T_CODE_SYSTEM, T_DISPLAY = _t("code"), _t("codeSystem"), _t("displayName")
T_CV, T_DATE_PERIOD, T_PQ = _t("cv"), _t("datePeriod"), _t("pq")
T_START, T_END, T_VALUE, T_UNIT = _t("start"), _t("end"), _t("value"), _t("unit")


def _text(el: etree._Element) -> str:
    """Text as sent; joins the pieces around comments (``itertext`` skips their content)."""
    if len(el) == 0:
        return el.text or ""
    return "".join(cast("Iterator[str]", el.itertext()))  # lxml-stubs: str | bytes


def _signature(el: etree._Element) -> str:
    """The underskrift in exclusive XML canonicalisation (with comments): the form its own
    signature is computed over, and independent of the namespaces declared around it, so it
    survives being carried into another document unchanged."""
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=True).decode()


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


class CertificateReader:
    """Reads one ``intyg``. Holds the per-message state: issues and the element of each model
    path. ``schema_issues`` are problems the XML schema also catches: the codec drops them
    when the schema has already spoken, so each problem is reported once."""

    __slots__ = ("elements", "issues", "schema_issues")

    def __init__(self) -> None:
        self.elements: dict[ModelPath, etree._Element] = {}
        self.issues: list[Issue] = []
        self.schema_issues: list[Issue] = []

    # --- small pieces -------------------------------------------------------------------

    def _not_carried(self, el: etree._Element, where: str) -> None:
        self.schema_issues.append(
            issue(
                NOT_CARRIED,
                f"<{_local(el)}> in {where} is not carried into the canonical certificate",
                element_location(el),
            )
        )

    def _unreadable(self, el: etree._Element, what: str) -> None:
        self.schema_issues.append(
            issue(
                VALUE_UNREADABLE,
                f"<{_local(el)}> {_text(el)!r} is not {what}; it is left out",
                element_location(el),
            )
        )

    def _ii(self, el: etree._Element, path: ModelPath) -> dict[str, str]:
        system = value = ""
        elements = self.elements
        elements[path] = el
        for child in el:
            tag = child.tag
            if tag == T_ROOT:
                system = _text(child)
                elements[(*path, "system")] = child
            elif tag == T_EXTENSION:
                value = _text(child)
                elements[(*path, "value")] = child
        return {"system": system, "value": value}

    def _cv(self, el: etree._Element, path: ModelPath) -> dict[str, str | None]:
        code = ""
        system: str | None = None
        display: str | None = None
        elements = self.elements
        elements[path] = el
        for child in el:
            tag = child.tag
            if tag == T_CODE:
                code = _text(child)
                elements[(*path, "code")] = child
            elif tag == T_CODE_SYSTEM:
                system = _text(child)
                elements[(*path, "system")] = child
            elif tag == T_DISPLAY:
                display = _text(child)
                elements[(*path, "display")] = child
            elif isinstance(tag, str):
                self._not_carried(child, "a code")
        return {"code": code, "system": system, "display": display}

    def _timestamp(self, el: etree._Element) -> datetime | None:
        try:
            return datetime.fromisoformat(_text(el).strip())
        except ValueError:
            self._unreadable(el, "a timestamp (YYYY-MM-DDThh:mm:ss)")
            return None

    def _date(self, el: etree._Element) -> date | None:
        try:
            return date.fromisoformat(_text(el).strip())
        except ValueError:
            self._unreadable(el, "a date (YYYY-MM-DD)")
            return None

    # --- the certificate ----------------------------------------------------------------

    def read(self, root: etree._Element) -> Certificate | None:
        intyg: etree._Element | None = None
        for child in root:
            if child.tag == INTYG and intyg is None:
                intyg = child
            elif isinstance(child.tag, str):
                self._not_carried(child, "RegisterCertificate")
        if intyg is None:
            self.issues.append(
                issue(INCOMPLETE, "RegisterCertificate has no <intyg>", element_location(root))
            )
            return None
        data = self._intyg(intyg)
        if data is None:
            return None
        try:
            return Certificate.model_validate(data)
        except ValidationError as exc:  # a gap in the checks above: report, never raise
            # pydantic's own message quotes the input: name only where, never the values
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            self.issues.append(
                issue(
                    INCOMPLETE,
                    f"the certificate could not be read ({exc.error_count()} problem(s), "
                    f"first at {where})",
                    element_location(intyg),
                )
            )
            return None

    def _intyg(self, intyg: etree._Element) -> dict[str, Any] | None:
        elements = self.elements
        elements[()] = intyg
        data: dict[str, Any] = {"type_version": ""}
        recipients: list[Any] = []
        relations: list[Any] = []
        statuses: list[Any] = []
        answers: list[Any] = []
        typ_el: etree._Element | None = None
        for child in intyg:
            tag = child.tag
            if tag == SVAR:
                answer = self._svar(child, ("answers", len(answers)))
                if answer is not None:
                    answers.append(answer)
            elif tag == INTYGS_ID:
                data["id"] = self._ii(child, ("id",))
            elif tag == TYP:
                typ_el = child
                data["type_code"] = self._cv(child, ("type_code",))
                elements[("type",)] = child
            elif tag == VERSION:
                data["type_version"] = _text(child)
                elements[("type_version",)] = child
            elif tag == SIGNERAD:
                data["signed_at"] = self._timestamp(child)
                elements[("signed_at",)] = child
            elif tag == SKICKAD:
                data["sent_at"] = self._timestamp(child)
                elements[("sent_at",)] = child
            elif tag == PATIENT:
                patient = self._patient(child, data)
                if patient is not None:
                    data["patient"] = patient
            elif tag == SKAPAD_AV:
                issuer = self._hos_personal(child, ("issuer",))
                if issuer is not None:
                    data["issuer"] = issuer
            elif tag == MOTTAGARE:
                recipients.append(self._cv(child, ("recipients", len(recipients))))
            elif tag == RELATION:
                relation = self._relation(child, ("relations", len(relations)))
                if relation is not None:
                    relations.append(relation)
            elif tag == STATUS:
                status = self._status(child, ("statuses", len(statuses)))
                if status is not None:
                    statuses.append(status)
            elif tag == UNDERSKRIFT:
                data["signature"] = _signature(child)
                elements[("signature",)] = child
            elif isinstance(tag, str):
                self._not_carried(child, "intyg")
        data["recipients"] = recipients
        data["relations"] = relations
        data["statuses"] = statuses
        data["answers"] = answers
        return self._required(intyg, typ_el, data)

    def _required(
        self, intyg: etree._Element, typ_el: etree._Element | None, data: dict[str, Any]
    ) -> dict[str, Any] | None:
        missing = [
            name
            for key, name in (
                ("id", "intygs-id"),
                ("type_code", "typ"),
                ("patient", "patient with person-id"),
                ("issuer", "skapadAv with personal-id, enhet, enhets-id and vårdgivare"),
            )
            if key not in data
        ]
        if missing:
            self.issues.append(
                issue(
                    INCOMPLETE,
                    f"intyg lacks {', '.join(missing)}; the certificate cannot be read",
                    element_location(intyg),
                )
            )
            return None
        code = (data["type_code"]["code"] or "").strip()
        certificate_type = CERTIFICATE_TYPE_BY_RIVTA_CODE.get(code)
        if certificate_type is None:
            assert typ_el is not None  # type_code present means typ was read
            known = ", ".join(CERTIFICATE_TYPE_BY_RIVTA_CODE)
            self.issues.append(
                issue(
                    UNKNOWN_TYPE,
                    f"certificate type {code!r} is not supported (known: {known})",
                    element_location(typ_el),
                )
            )
            return None
        data["type"] = certificate_type
        return data

    def _patient(self, el: etree._Element, certificate: dict[str, Any]) -> dict[str, Any] | None:
        elements = self.elements
        elements[("patient",)] = el
        person_id: dict[str, str] | None = None
        name: dict[str, str] = {}
        address = {"street": "", "postal_code": "", "city": ""}
        for child in el:
            tag = child.tag
            if tag == PERSON_ID:
                person_id = self._ii(child, ("patient", "id"))
            elif tag == FORNAMN:
                name["given"] = _text(child)
                elements[("patient", "name", "given")] = child
                elements[("patient", "name")] = child
            elif tag == EFTERNAMN:
                name["family"] = _text(child)
                elements[("patient", "name", "family")] = child
            elif tag == MELLANNAMN:
                name["middle"] = _text(child)
                elements[("patient", "name", "middle")] = child
            elif tag == POSTADRESS:
                address["street"] = _text(child)
                elements[("patient", "address", "street")] = child
                elements[("patient", "address")] = child
            elif tag == POSTNUMMER:
                address["postal_code"] = _text(child)
                elements[("patient", "address", "postal_code")] = child
            elif tag == POSTORT:
                address["city"] = _text(child)
                elements[("patient", "address", "city")] = child
            elif tag == KALLA_ADRESS:
                certificate["patient_address_source"] = self._cv(child, ("patient_address_source",))
            elif isinstance(tag, str):
                self._not_carried(child, "patient")
        if person_id is None:
            return None
        # Empty address elements (PatientInfo.BASIC senders) mean "no address".
        has_address = address["street"] or address["postal_code"] or address["city"]
        return {"id": person_id, "name": name, "address": address if has_address else None}

    def _hos_personal(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        elements = self.elements
        elements[path] = el
        data: dict[str, Any] = {}
        positions: list[Any] = []
        specialities: list[Any] = []
        licensed: list[Any] = []
        unit: dict[str, Any] | None = None
        for child in el:
            tag = child.tag
            if tag == PERSONAL_ID:
                data["id"] = self._ii(child, (*path, "id"))
            elif tag == FULLST_NAMN:
                data["name"] = _text(child)
                elements[(*path, "name")] = child
            elif tag == FORSKRIVARKOD:
                data["prescriber_code"] = _text(child)
                elements[(*path, "prescriber_code")] = child
            elif tag == BEFATTNING:
                positions.append(self._cv(child, (*path, "positions", len(positions))))
            elif tag == ENHET:
                unit = self._enhet(child, (*path, "unit"))
            elif tag == SPECIALIST:
                specialities.append(self._cv(child, (*path, "specialities", len(specialities))))
            elif tag == LEGITIMERAT_YRKE:
                licensed.append(self._cv(child, (*path, "licensed_professions", len(licensed))))
            elif isinstance(tag, str):
                self._not_carried(child, _local(el))
        if "id" not in data or unit is None:
            return None
        data["positions"] = positions
        data["specialities"] = specialities
        data["licensed_professions"] = licensed
        data["unit"] = unit
        return data

    def _enhet(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        elements = self.elements
        elements[path] = el
        data: dict[str, Any] = {"name": "", "phone": ""}
        address = {"street": "", "postal_code": "", "city": ""}
        for child in el:
            tag = child.tag
            if tag == ENHETS_ID:
                data["id"] = self._ii(child, (*path, "id"))
            elif tag == ARBETSPLATSKOD:
                data["workplace_code"] = self._ii(child, (*path, "workplace_code"))
            elif tag == ENHETSNAMN:
                data["name"] = _text(child)
                elements[(*path, "name")] = child
            elif tag == POSTADRESS:
                address["street"] = _text(child)
                elements[(*path, "address", "street")] = child
                elements[(*path, "address")] = child
            elif tag == POSTNUMMER:
                address["postal_code"] = _text(child)
                elements[(*path, "address", "postal_code")] = child
            elif tag == POSTORT:
                address["city"] = _text(child)
                elements[(*path, "address", "city")] = child
            elif tag == TELEFON:
                data["phone"] = _text(child)
                elements[(*path, "phone")] = child
            elif tag == EPOST:
                data["email"] = _text(child)
                elements[(*path, "email")] = child
            elif tag == VARDGIVARE:
                data["care_provider"] = self._vardgivare(child, (*path, "care_provider"))
            elif isinstance(tag, str):
                self._not_carried(child, "enhet")
        if "id" not in data or "care_provider" not in data:
            return None
        data["address"] = address
        return data

    def _vardgivare(self, el: etree._Element, path: ModelPath) -> dict[str, Any]:
        self.elements[path] = el
        data: dict[str, Any] = {"name": ""}
        for child in el:
            tag = child.tag
            if tag == VARDGIVARE_ID:
                data["id"] = self._ii(child, (*path, "id"))
            elif tag == VARDGIVARNAMN:
                data["name"] = _text(child)
                self.elements[(*path, "name")] = child
            elif isinstance(tag, str):
                self._not_carried(child, "vardgivare")
        return data

    def _relation(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        self.elements[path] = el
        data: dict[str, Any] = {}
        for child in el:
            tag = child.tag
            if tag == TYP:
                data["type"] = self._cv(child, (*path, "type"))
            elif tag == INTYGS_ID:
                data["certificate_id"] = self._ii(child, (*path, "certificate_id"))
            elif isinstance(tag, str):
                self._not_carried(child, "relation")
        return data if len(data) == 2 else None

    def _status(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        self.elements[path] = el
        data: dict[str, Any] = {}
        for child in el:
            tag = child.tag
            if tag == PART:
                data["part"] = self._cv(child, (*path, "part"))
            elif tag == STATUS:
                data["status"] = self._cv(child, (*path, "status"))
            elif tag == TIDPUNKT:
                at = self._timestamp(child)
                if at is not None:
                    data["at"] = at
                    self.elements[(*path, "at")] = child
            elif isinstance(tag, str):
                self._not_carried(child, "status")
        return data if len(data) == 3 else None

    # --- answers ------------------------------------------------------------------------

    def _svar(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        answer_id = el.get("id")
        if answer_id is None:  # the schema reports the missing id
            return None
        elements = self.elements
        elements[path] = el
        instance: int | None = None
        parts: list[Any] = []
        for child in el:
            tag = child.tag
            if tag == DELSVAR:
                part_path = (*path, "parts", len(parts))
                part = self._delsvar(child, part_path)
                if part is not None:
                    parts.append(part)
            elif tag == INSTANS:
                try:
                    instance = int(_text(child))
                    elements[(*path, "instance")] = child
                except ValueError:
                    self._unreadable(child, "a whole number")
            elif isinstance(tag, str):
                self._not_carried(child, "svar")
        return {"id": answer_id, "instance": instance, "parts": parts}

    def _delsvar(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        part_id = el.get("id")
        if part_id is None:
            return None
        value_path = (*path, "value")
        elements = self.elements
        elements[path] = el
        if len(el) == 0:  # the common case: text only
            elements[value_path] = el
            return {"id": part_id, "value": el.text or ""}
        values = [c for c in el if isinstance(c.tag, str)]
        if not values:  # text around comments
            elements[value_path] = el
            return {"id": part_id, "value": _text(el)}
        loose_text = (el.text or "").strip() or any((c.tail or "").strip() for c in el)
        if len(values) > 1 or loose_text:
            self.issues.append(
                issue(
                    VALUE_UNSUPPORTED,
                    f"delsvar {part_id} holds "
                    + ("several value elements" if len(values) > 1 else "text and an element")
                    + "; it must hold text or exactly one value element",
                    element_location(el),
                )
            )
            return None
        value_el = values[0]
        tag = value_el.tag
        value: Any
        if tag == T_CV:
            value = self._cv(value_el, value_path)
        elif tag == T_DATE_PERIOD:
            value = self._period(value_el, value_path)
        elif tag == T_PQ:
            value = self._quantity(value_el, value_path)
            if value is None:
                return None
        else:
            self.issues.append(
                issue(
                    VALUE_UNSUPPORTED,
                    f"delsvar {part_id} holds <{_local(value_el)}>; the gateway carries text, "
                    "cv, datePeriod and pq values",
                    element_location(value_el),
                )
            )
            return None
        return {"id": part_id, "value": value}

    def _period(self, el: etree._Element, path: ModelPath) -> dict[str, date | None]:
        elements = self.elements
        elements[path] = el
        start = end = None
        for child in el:
            tag = child.tag
            if tag == T_START:
                start = self._date(child)
                elements[(*path, "start")] = child
            elif tag == T_END:
                end = self._date(child)
                elements[(*path, "end")] = child
            elif isinstance(tag, str):
                self._not_carried(child, "datePeriod")
        return {"start": start, "end": end}

    def _quantity(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        elements = self.elements
        elements[path] = el
        value: float | None = None
        unit = ""
        for child in el:
            tag = child.tag
            if tag == T_VALUE:
                elements[(*path, "value")] = child
                try:
                    value = float(_text(child))
                except ValueError:
                    self._unreadable(child, "a number")
            elif tag == T_UNIT:
                unit = _text(child)
                elements[(*path, "unit")] = child
        if value is None:
            return None
        return {"value": value, "unit": unit}
