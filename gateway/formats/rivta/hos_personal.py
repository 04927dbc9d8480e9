"""Writing RIVTA ``HosPersonal`` (healthcare staff with unit and care provider).

RegisterCertificate's ``skapadAv`` and SendMessageToRecipient's ``skickatAv`` share this type:
the certificate writer calls :func:`write_hos_personal`; SendMessageToRecipient writes a sender
acting for the notification's own unit, so it calls :func:`write_enhet` for that unit. Children
are in the core namespace, in the order the contract's sequence fixes.
"""

from __future__ import annotations

from lxml import etree

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
    sub,
    sub_cv,
    sub_ii,
)


def write_hos_personal(
    parent: etree._Element, tag: str, professional: HealthcareProfessional
) -> etree._Element:
    """Append ``professional`` as a HosPersonal element named ``tag`` (Clark notation).

    Codes whose code system the contract fixes (befattning, legitimeratYrke) get it when the
    model has none; specialistkompetens has no code system in the contract and is written
    without one.
    """
    el = etree.SubElement(parent, tag)
    sub_ii(el, PERSONAL_ID, professional.id.system, professional.id.value)
    sub(el, FULLST_NAMN, professional.name)
    if professional.prescriber_code is not None:
        sub(el, FORSKRIVARKOD, professional.prescriber_code)
    for code in professional.positions:
        sub_cv(el, BEFATTNING, code.code, code.system or KV_BEFATTNING, code.display)
    write_enhet(el, ENHET, professional.unit)
    for code in professional.specialities:
        sub_cv(el, SPECIALIST, code.code, None, code.display)
    for code in professional.licensed_professions:
        sub_cv(el, LEGITIMERAT_YRKE, code.code, code.system or KV_LEGITIMERAT_YRKE, code.display)
    return el


def write_enhet(parent: etree._Element, tag: str, unit: CareUnit) -> etree._Element:
    """Append ``unit`` as an Enhet element. The contract requires arbetsplatskod; a unit
    without one is written without it (and a peer's schema will say so)."""
    el = etree.SubElement(parent, tag)
    sub_ii(el, ENHETS_ID, unit.id.system, unit.id.value)
    if unit.workplace_code is not None:
        sub_ii(
            el,
            ARBETSPLATSKOD,
            unit.workplace_code.system or ARBETSPLATSKOD_ROOT,
            unit.workplace_code.value,
        )
    sub(el, ENHETSNAMN, unit.name)
    sub(el, POSTADRESS, unit.address.street)
    sub(el, POSTNUMMER, unit.address.postal_code)
    sub(el, POSTORT, unit.address.city)
    sub(el, TELEFON, unit.phone)
    if unit.email is not None:
        sub(el, EPOST, unit.email)
    provider = sub(el, VARDGIVARE)
    if unit.care_provider.id is not None:
        sub_ii(provider, VARDGIVARE_ID, unit.care_provider.id.system, unit.care_provider.id.value)
    sub(provider, VARDGIVARNAMN, unit.care_provider.name)
    return el
