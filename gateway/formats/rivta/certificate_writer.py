"""Canonical :class:`Certificate` -> RegisterCertificate v3 (the rendering half of the codec).

Written as Inera's services write it: core namespace as default, ``ns2`` the responder,
``ns3`` the types, elements in the order of the contract's sequences. Codes whose code system
the contract fixes get it when the model has none (it is the only legal value).
"""

from __future__ import annotations

from lxml import etree

from gateway.documents.certificate import RIVTA_TYPE_CODES, Certificate, Quantity
from gateway.documents.common import Code, Identifier, Period
from gateway.formats.rivta.hos_personal import write_hos_personal
from gateway.formats.rivta.namespaces import (
    DELSVAR,
    EFTERNAMN,
    FORNAMN,
    INSTANS,
    INTYG,
    INTYGS_ID,
    KALLA_ADRESS,
    KV_INTYGSTYP,
    KV_KALLA_ADRESS,
    KV_PART,
    KV_RELATION,
    KV_STATUS,
    MELLANNAMN,
    MOTTAGARE,
    PART,
    PATIENT,
    PERSON_ID,
    POSTADRESS,
    POSTNUMMER,
    POSTORT,
    REGISTER_CERTIFICATE,
    REGISTER_CERTIFICATE_ROOT,
    RELATION,
    RIVTA_NAMESPACES,
    SIGNERAD,
    SKAPAD_AV,
    SKICKAD,
    STATUS,
    SVAR,
    T_CV,
    T_DATE_PERIOD,
    T_END,
    T_PQ,
    T_START,
    T_UNIT,
    T_VALUE,
    TIDPUNKT,
    TYP,
    VERSION,
    format_date,
    format_double,
    format_timestamp,
    sub,
    sub_cv,
    sub_ii,
)
from gateway.formats.signature import carried

_INTYG_PREFIX = next(p for p, uri in RIVTA_NAMESPACES.items() if uri == REGISTER_CERTIFICATE)
_INTYG_END = f"</{_INTYG_PREFIX}:intyg>".encode()


def _ii(parent: etree._Element, tag: str, ident: Identifier) -> None:
    sub_ii(parent, tag, ident.system, ident.value)


def _cv(parent: etree._Element, tag: str, code: Code, fixed_system: str | None = None) -> None:
    sub_cv(parent, tag, code.code, code.system or fixed_system, code.display)


def render_certificate(certificate: Certificate) -> bytes:
    # lxml-stubs: nsmap has a None prefix
    root = etree.Element(REGISTER_CERTIFICATE_ROOT, nsmap=RIVTA_NAMESPACES)  # type: ignore[arg-type]
    intyg = etree.SubElement(root, INTYG)
    _ii(intyg, INTYGS_ID, certificate.id)
    for recipient in certificate.recipients:
        _cv(intyg, MOTTAGARE, recipient, KV_PART)
    typ = certificate.type_code
    sub_cv(
        intyg,
        TYP,
        RIVTA_TYPE_CODES[certificate.type],
        typ.system or KV_INTYGSTYP,
        typ.display,
    )
    sub(intyg, VERSION, certificate.type_version)
    if certificate.signed_at is not None:
        sub(intyg, SIGNERAD, format_timestamp(certificate.signed_at))
    if certificate.sent_at is not None:
        sub(intyg, SKICKAD, format_timestamp(certificate.sent_at))
    _patient(intyg, certificate)
    write_hos_personal(intyg, SKAPAD_AV, certificate.issuer)
    for relation in certificate.relations:
        el = sub(intyg, RELATION)
        _cv(el, TYP, relation.type, KV_RELATION)
        _ii(el, INTYGS_ID, relation.certificate_id)
    for status in certificate.statuses:
        el = sub(intyg, STATUS)
        _cv(el, PART, status.part, KV_PART)
        _cv(el, STATUS, status.status, KV_STATUS)
        sub(el, TIDPUNKT, format_timestamp(status.at))
    _answers(intyg, certificate)
    out = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    if certificate.signature is not None and carried(certificate.signature):
        # Opaque bytes, not a subtree: the stored canonical form (checked again here, so no
        # model, however built, splices markup in) goes in as the last child of intyg, byte
        # for byte, where lxml would rewrite its namespace prefixes on append and so break it.
        at = out.rindex(_INTYG_END)
        out = out[:at] + certificate.signature.encode() + out[at:]
    return out


def _patient(intyg: etree._Element, certificate: Certificate) -> None:
    patient = certificate.patient
    el = sub(intyg, PATIENT)
    _ii(el, PERSON_ID, patient.id)
    sub(el, FORNAMN, patient.name.given)
    sub(el, EFTERNAMN, patient.name.family)
    if patient.name.middle is not None:
        sub(el, MELLANNAMN, patient.name.middle)
    address = patient.address
    sub(el, POSTADRESS, address.street if address else "")
    sub(el, POSTNUMMER, address.postal_code if address else "")
    sub(el, POSTORT, address.city if address else "")
    if certificate.patient_address_source is not None:
        _cv(el, KALLA_ADRESS, certificate.patient_address_source, KV_KALLA_ADRESS)


def _answers(intyg: etree._Element, certificate: Certificate) -> None:
    for answer in certificate.answers:
        svar = etree.SubElement(intyg, SVAR, id=answer.id)
        if answer.instance is not None:
            sub(svar, INSTANS, str(answer.instance))
        for part in answer.parts:
            delsvar = etree.SubElement(svar, DELSVAR, id=part.id)
            value = part.value
            if isinstance(value, str):
                delsvar.text = value
            elif isinstance(value, Code):
                sub_cv(delsvar, T_CV, value.code, value.system, value.display)
            elif isinstance(value, Period):
                period = sub(delsvar, T_DATE_PERIOD)
                if value.start is not None:
                    sub(period, T_START, format_date(value.start))
                if value.end is not None:
                    sub(period, T_END, format_date(value.end))
            elif isinstance(value, Quantity):
                pq = sub(delsvar, T_PQ)
                sub(pq, T_VALUE, format_double(value.value))
                sub(pq, T_UNIT, value.unit)
