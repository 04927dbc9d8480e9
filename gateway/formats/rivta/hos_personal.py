"""Writing RIVTA ``HosPersonal`` (healthcare staff with unit and care provider).

RegisterCertificate's ``skapadAv`` and SendMessageToRecipient's ``skickatAv`` share this type:
the certificate writer calls :func:`write_hos_personal`; SendMessageToRecipient writes a sender
acting for the notification's own unit, so it calls :func:`write_enhet` for that unit. Children
are in the core namespace, in the order the contract's sequence fixes.
"""

from __future__ import annotations

from gateway.documents.common import CareUnit, HealthcareProfessional
from gateway.formats.rivta.namespaces import (
    ARBETSPLATSKOD,
    ARBETSPLATSKOD_ROOT,
    BEFATTNING,
    ENHET,
    ENHETS_ID,
    ENHETSNAMN,
    EPOST,
    FORSKRIVARKOD,
    FULLST_NAMN,
    KV_BEFATTNING,
    KV_LEGITIMERAT_YRKE,
    LEGITIMERAT_YRKE,
    PERSONAL_ID,
    POSTADRESS,
    POSTNUMMER,
    POSTORT,
    SPECIALIST,
    TELEFON,
    VARDGIVARE,
    VARDGIVARE_ID,
    VARDGIVARNAMN,
    write_cv,
    write_ii,
)
from gateway.formats.rivta.xmlwriter import XmlWriter


def write_hos_personal(w: XmlWriter, tag: str, professional: HealthcareProfessional) -> None:
    """Write ``professional`` as a HosPersonal element named ``tag`` (Clark notation).

    Codes whose code system the contract fixes (befattning, legitimeratYrke) get it when the
    model has none; specialistkompetens has no code system in the contract and is written
    without one.
    """
    w.open(tag)
    write_ii(w, PERSONAL_ID, professional.id.system, professional.id.value)
    w.leaf(FULLST_NAMN, professional.name)
    if professional.prescriber_code is not None:
        w.leaf(FORSKRIVARKOD, professional.prescriber_code)
    for code in professional.positions:
        write_cv(w, BEFATTNING, code.code, code.system or KV_BEFATTNING, code.display)
    write_enhet(w, ENHET, professional.unit)
    for code in professional.specialities:
        write_cv(w, SPECIALIST, code.code, None, code.display)
    for code in professional.licensed_professions:
        write_cv(w, LEGITIMERAT_YRKE, code.code, code.system or KV_LEGITIMERAT_YRKE, code.display)
    w.close()


def write_enhet(w: XmlWriter, tag: str, unit: CareUnit) -> None:
    """Write ``unit`` as an Enhet element. The contract requires arbetsplatskod; a unit
    without one is written without it (and a peer's schema will say so)."""
    w.open(tag)
    write_ii(w, ENHETS_ID, unit.id.system, unit.id.value)
    if unit.workplace_code is not None:
        write_ii(
            w,
            ARBETSPLATSKOD,
            unit.workplace_code.system or ARBETSPLATSKOD_ROOT,
            unit.workplace_code.value,
        )
    w.leaf(ENHETSNAMN, unit.name)
    w.leaf(POSTADRESS, unit.address.street)
    w.leaf(POSTNUMMER, unit.address.postal_code)
    w.leaf(POSTORT, unit.address.city)
    w.leaf(TELEFON, unit.phone)
    if unit.email is not None:
        w.leaf(EPOST, unit.email)
    w.open(VARDGIVARE)
    if unit.care_provider.id is not None:
        write_ii(w, VARDGIVARE_ID, unit.care_provider.id.system, unit.care_provider.id.value)
    w.leaf(VARDGIVARNAMN, unit.care_provider.name)
    w.close()
    w.close()
