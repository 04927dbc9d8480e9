"""RegisterCertificate v3 -> canonical :class:`Certificate` (the mapping half of the codec).

One pass over the children of each element. The reader builds plain dicts (answers as model
instances, see :mod:`answer_reader`) and validates them into the model once at the end, and
records where each model path came from for the source map. It never raises for bad input:
what it cannot read becomes an issue, and the document is ``None`` only when a part every
certificate needs (id, type, patient, issuer) is missing.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from pydantic import ValidationError

from gateway.documents.certificate import CERTIFICATE_TYPE_BY_RIVTA_CODE, Certificate
from gateway.documents.issues import RULES, ModelPath, RuleKind, issue
from gateway.formats import signature
from gateway.formats.rivta.answer_reader import AnswerLocator, AnswerReader
from gateway.formats.rivta.namespaces import (
    ARBETSPLATSKOD,
    BEFATTNING,
    EFTERNAMN,
    ENHET,
    ENHETS_ID,
    ENHETSNAMN,
    EPOST,
    FORNAMN,
    FORSKRIVARKOD,
    FULLST_NAMN,
    INTYG,
    INTYGS_ID,
    KALLA_ADRESS,
    LEGITIMERAT_YRKE,
    MELLANNAMN,
    MOTTAGARE,
    PART,
    PATIENT,
    PERSON_ID,
    PERSONAL_ID,
    POSTADRESS,
    POSTNUMMER,
    POSTORT,
    RELATION,
    SIGNERAD,
    SKAPAD_AV,
    SKICKAD,
    SPECIALIST,
    STATUS,
    SVAR,
    TELEFON,
    TIDPUNKT,
    TYP,
    UNDERSKRIFT,
    VARDGIVARE,
    VARDGIVARE_ID,
    VARDGIVARNAMN,
    VERSION,
)
from gateway.formats.rivta.reading import local, text
from gateway.formats.signature import SIGNATURE_MALFORMED
from gateway.formats.sourcemap import ElementSourceMap
from gateway.formats.xmlsafe import element_location, tag_of

UNKNOWN_TYPE = RULES.define(
    "CERT-UNKNOWN-TYPE",
    "Certificate type not supported",
    RuleKind.SCHEMA,
    "The certificate's `typ/code` (KV_INTYGSTYP) is not one the gateway reads: LISJP (FK7804), "
    "AG7804 or AG1-14. Other certificate types cannot be validated or converted.",
)
INCOMPLETE = RULES.define(
    "CERT-INCOMPLETE",
    "Certificate cannot be read",
    RuleKind.SCHEMA,
    "A part every certificate needs (intygs-id, typ, patient with person-id, skapadAv with "
    "personal-id and enhet with enhets-id and vårdgivare) is missing or unreadable, so the "
    "certificate could not be read and its business rules were not checked.",
)


class CertificateReader(AnswerReader):
    """Reads one RegisterCertificate. One instance per message."""

    __slots__ = ()

    def source_map(self) -> ElementSourceMap:
        return ElementSourceMap(self.elements, (AnswerLocator(self.answer_elements),))

    # --- the certificate ----------------------------------------------------------------

    def read(self, root: etree._Element) -> Certificate | None:
        data = self.read_data(root)
        if data is None:
            return None
        try:
            return Certificate.model_validate(data)
        except ValidationError as exc:  # a gap in the reader's checks: report, never raise
            # pydantic's own message quotes the input: name only where, never the values
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            self.issues.append(
                issue(
                    INCOMPLETE,
                    f"the certificate could not be read ({exc.error_count()} problem(s), "
                    f"first at {where})",
                    element_location(self.elements[()]),
                )
            )
            return None

    def read_data(self, root: etree._Element) -> dict[str, Any] | None:
        """The certificate as the plain data :class:`Certificate` validates (what ``read``
        builds the model from; the benchmark times the two steps apart)."""
        intyg: etree._Element | None = None
        for child in root:
            if tag_of(child) == INTYG and intyg is None:
                intyg = child
            elif isinstance(child.tag, str):
                self.not_carried(child, "RegisterCertificate")
        if intyg is None:
            self.issues.append(
                issue(INCOMPLETE, "RegisterCertificate has no <intyg>", element_location(root))
            )
            return None
        return self._intyg(intyg)

    def _intyg(self, intyg: etree._Element) -> dict[str, Any] | None:
        self.elements[()] = intyg
        data: dict[str, Any] = {
            "type_version": "",
            "recipients": [],
            "relations": [],
            "statuses": [],
        }
        answers: list[Any] = []
        typ_el: etree._Element | None = None
        for child in intyg:
            tag = tag_of(child)
            if tag == SVAR:  # most of a certificate: kept out of the dispatch below
                answer = self.svar(child)
                if answer is not None:
                    answers.append(answer)
            elif tag == TYP:
                typ_el = child
                data["type_code"] = self.cv(child, ("type_code",))
                self.elements[("type",)] = child
            else:
                self._header(child, tag, data)
        data["answers"] = answers
        return self._required(intyg, typ_el, data)

    def _header(self, child: etree._Element, tag: object, data: dict[str, Any]) -> None:
        """One of intyg's elements other than svar and typ, into ``data``."""
        elements = self.elements
        if tag == INTYGS_ID:
            data["id"] = self.ii(child, ("id",))
        elif tag == VERSION:
            data["type_version"] = text(child)
            elements[("type_version",)] = child
        elif tag == SIGNERAD:
            data["signed_at"] = self.timestamp(child)
            elements[("signed_at",)] = child
        elif tag == SKICKAD:
            data["sent_at"] = self.timestamp(child)
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
            recipients = data["recipients"]
            recipients.append(self.cv(child, ("recipients", len(recipients))))
        elif tag == RELATION:
            relations = data["relations"]
            relation = self._relation(child, ("relations", len(relations)))
            if relation is not None:
                relations.append(relation)
        elif tag == STATUS:
            statuses = data["statuses"]
            status = self._status(child, ("statuses", len(statuses)))
            if status is not None:
                statuses.append(status)
        elif tag == UNDERSKRIFT:
            elements[("signature",)] = child
            why = signature.problem(child)
            if why is None:
                data["signature"] = signature.canonical(child)
            else:  # never carried: a signature is signed bytes, not a place for content
                self.issues.append(
                    issue(SIGNATURE_MALFORMED, f"underskrift: {why}", element_location(child))
                )
        elif isinstance(tag, str):
            self.not_carried(child, "intyg")

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
            tag = tag_of(child)
            if tag == PERSON_ID:
                person_id = self.ii(child, ("patient", "id"))
            elif tag == FORNAMN:
                name["given"] = text(child)
                elements[("patient", "name", "given")] = child
                elements[("patient", "name")] = child
            elif tag == EFTERNAMN:
                name["family"] = text(child)
                elements[("patient", "name", "family")] = child
            elif tag == MELLANNAMN:
                name["middle"] = text(child)
                elements[("patient", "name", "middle")] = child
            elif tag == POSTADRESS:
                address["street"] = text(child)
                elements[("patient", "address", "street")] = child
                elements[("patient", "address")] = child
            elif tag == POSTNUMMER:
                address["postal_code"] = text(child)
                elements[("patient", "address", "postal_code")] = child
            elif tag == POSTORT:
                address["city"] = text(child)
                elements[("patient", "address", "city")] = child
            elif tag == KALLA_ADRESS:
                certificate["patient_address_source"] = self.cv(child, ("patient_address_source",))
            elif isinstance(tag, str):
                self.not_carried(child, "patient")
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
            tag = tag_of(child)
            if tag == PERSONAL_ID:
                data["id"] = self.ii(child, (*path, "id"))
            elif tag == FULLST_NAMN:
                data["name"] = text(child)
                elements[(*path, "name")] = child
            elif tag == FORSKRIVARKOD:
                data["prescriber_code"] = text(child)
                elements[(*path, "prescriber_code")] = child
            elif tag == BEFATTNING:
                positions.append(self.cv(child, (*path, "positions", len(positions))))
            elif tag == ENHET:
                unit = self._enhet(child, (*path, "unit"))
            elif tag == SPECIALIST:
                specialities.append(self.cv(child, (*path, "specialities", len(specialities))))
            elif tag == LEGITIMERAT_YRKE:
                licensed.append(self.cv(child, (*path, "licensed_professions", len(licensed))))
            elif isinstance(tag, str):
                self.not_carried(child, local(el))
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
            tag = tag_of(child)
            if tag == ENHETS_ID:
                data["id"] = self.ii(child, (*path, "id"))
            elif tag == ARBETSPLATSKOD:
                data["workplace_code"] = self.ii(child, (*path, "workplace_code"))
            elif tag == ENHETSNAMN:
                data["name"] = text(child)
                elements[(*path, "name")] = child
            elif tag == POSTADRESS:
                address["street"] = text(child)
                elements[(*path, "address", "street")] = child
                elements[(*path, "address")] = child
            elif tag == POSTNUMMER:
                address["postal_code"] = text(child)
                elements[(*path, "address", "postal_code")] = child
            elif tag == POSTORT:
                address["city"] = text(child)
                elements[(*path, "address", "city")] = child
            elif tag == TELEFON:
                data["phone"] = text(child)
                elements[(*path, "phone")] = child
            elif tag == EPOST:
                data["email"] = text(child)
                elements[(*path, "email")] = child
            elif tag == VARDGIVARE:
                data["care_provider"] = self._vardgivare(child, (*path, "care_provider"))
            elif isinstance(tag, str):
                self.not_carried(child, "enhet")
        if "id" not in data or "care_provider" not in data:
            return None
        data["address"] = address
        return data

    def _vardgivare(self, el: etree._Element, path: ModelPath) -> dict[str, Any]:
        self.elements[path] = el
        data: dict[str, Any] = {"name": ""}
        for child in el:
            tag = tag_of(child)
            if tag == VARDGIVARE_ID:
                data["id"] = self.ii(child, (*path, "id"))
            elif tag == VARDGIVARNAMN:
                data["name"] = text(child)
                self.elements[(*path, "name")] = child
            elif isinstance(tag, str):
                self.not_carried(child, "vardgivare")
        return data

    def _relation(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        self.elements[path] = el
        data: dict[str, Any] = {}
        for child in el:
            tag = tag_of(child)
            if tag == TYP:
                data["type"] = self.cv(child, (*path, "type"))
            elif tag == INTYGS_ID:
                data["certificate_id"] = self.ii(child, (*path, "certificate_id"))
            elif isinstance(tag, str):
                self.not_carried(child, "relation")
        return data if len(data) == 2 else None

    def _status(self, el: etree._Element, path: ModelPath) -> dict[str, Any] | None:
        self.elements[path] = el
        data: dict[str, Any] = {}
        for child in el:
            tag = tag_of(child)
            if tag == PART:
                data["part"] = self.cv(child, (*path, "part"))
            elif tag == STATUS:
                data["status"] = self.cv(child, (*path, "status"))
            elif tag == TIDPUNKT:
                at = self.timestamp(child)
                if at is not None:
                    data["at"] = at
                    self.elements[(*path, "at")] = child
            elif isinstance(tag, str):
                self.not_carried(child, "status")
        return data if len(data) == 3 else None
