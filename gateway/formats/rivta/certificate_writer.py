"""Canonical :class:`Certificate` -> RegisterCertificate v3 (the rendering half of the codec).

Written as Inera's services write it: core namespace as default, ``ns2`` the responder,
``ns3`` the types, elements in the order of the contract's sequences. Codes whose code system
the contract fixes get it when the model has none (it is the only legal value).
"""

from __future__ import annotations

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
    write_cv,
    write_ii,
)
from gateway.formats.rivta.xmlwriter import XmlWriter
from gateway.formats.signature import carried

_INTYG_PREFIX = next(p for p, uri in RIVTA_NAMESPACES.items() if uri == REGISTER_CERTIFICATE)
_INTYG_END = f"</{_INTYG_PREFIX}:intyg>".encode()


def _ii(w: XmlWriter, tag: str, ident: Identifier) -> None:
    write_ii(w, tag, ident.system, ident.value)


def _cv(w: XmlWriter, tag: str, code: Code, fixed_system: str | None = None) -> None:
    write_cv(w, tag, code.code, code.system or fixed_system, code.display)


def render_certificate(certificate: Certificate) -> bytes:
    w = XmlWriter(RIVTA_NAMESPACES)
    w.open(REGISTER_CERTIFICATE_ROOT)
    w.open(INTYG)
    _ii(w, INTYGS_ID, certificate.id)
    for recipient in certificate.recipients:
        _cv(w, MOTTAGARE, recipient, KV_PART)
    typ = certificate.type_code
    write_cv(
        w,
        TYP,
        RIVTA_TYPE_CODES[certificate.type],
        typ.system or KV_INTYGSTYP,
        typ.display,
    )
    w.leaf(VERSION, certificate.type_version)
    if certificate.signed_at is not None:
        w.leaf(SIGNERAD, format_timestamp(certificate.signed_at))
    if certificate.sent_at is not None:
        w.leaf(SKICKAD, format_timestamp(certificate.sent_at))
    _patient(w, certificate)
    write_hos_personal(w, SKAPAD_AV, certificate.issuer)
    for relation in certificate.relations:
        w.open(RELATION)
        _cv(w, TYP, relation.type, KV_RELATION)
        _ii(w, INTYGS_ID, relation.certificate_id)
        w.close()
    for status in certificate.statuses:
        w.open(STATUS)
        _cv(w, PART, status.part, KV_PART)
        _cv(w, STATUS, status.status, KV_STATUS)
        w.leaf(TIDPUNKT, format_timestamp(status.at))
        w.close()
    _answers(w, certificate)
    w.close()
    w.close()
    out = w.done(standalone=True)
    if certificate.signature is not None and carried(certificate.signature):
        # Opaque bytes, not a subtree: the stored canonical form (checked again here, so no
        # model, however built, splices markup in) goes in as the last child of intyg, byte
        # for byte, where a serialiser could rewrite its namespace prefixes and so break it.
        at = out.rindex(_INTYG_END)
        out = out[:at] + certificate.signature.encode() + out[at:]
    return out


def _patient(w: XmlWriter, certificate: Certificate) -> None:
    patient = certificate.patient
    w.open(PATIENT)
    _ii(w, PERSON_ID, patient.id)
    w.leaf(FORNAMN, patient.name.given)
    w.leaf(EFTERNAMN, patient.name.family)
    if patient.name.middle is not None:
        w.leaf(MELLANNAMN, patient.name.middle)
    address = patient.address
    w.leaf(POSTADRESS, address.street if address else "")
    w.leaf(POSTNUMMER, address.postal_code if address else "")
    w.leaf(POSTORT, address.city if address else "")
    if certificate.patient_address_source is not None:
        _cv(w, KALLA_ADRESS, certificate.patient_address_source, KV_KALLA_ADRESS)
    w.close()


def _answers(w: XmlWriter, certificate: Certificate) -> None:
    for answer in certificate.answers:
        w.open(SVAR, {"id": answer.id})
        if answer.instance is not None:
            w.leaf(INSTANS, str(answer.instance))
        for part in answer.parts:
            value = part.value
            if isinstance(value, str):
                w.leaf(DELSVAR, value, {"id": part.id})
                continue
            w.open(DELSVAR, {"id": part.id})
            if isinstance(value, Code):
                write_cv(w, T_CV, value.code, value.system, value.display)
            elif isinstance(value, Period):
                w.open(T_DATE_PERIOD)
                if value.start is not None:
                    w.leaf(T_START, format_date(value.start))
                if value.end is not None:
                    w.leaf(T_END, format_date(value.end))
                w.close()
            elif isinstance(value, Quantity):
                w.open(T_PQ)
                w.leaf(T_VALUE, format_double(value.value))
                w.leaf(T_UNIT, value.unit)
                w.close()
            w.close()
        w.close()
