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
    ARBETSPLATSKOD_ROOT,
    KV_BEFATTNING,
    KV_LEGITIMERAT_YRKE,
    core,
    ext32,
    sub,
    sub_cv,
    sub_ii,
)

_PERSONAL_ID, _NAMN, _FORSKRIVARKOD, _BEFATTNING, _ENHET, _SPECIALIST = (
    core("personal-id"),
    core("fullstandigtNamn"),
    core("forskrivarkod"),
    core("befattning"),
    core("enhet"),
    core("specialistkompetens"),
)
_LEGITIMERAT_YRKE = ext32("legitimeratYrke")
_ENHETS_ID, _ARBETSPLATSKOD, _ENHETSNAMN = (
    core("enhets-id"),
    core("arbetsplatskod"),
    core("enhetsnamn"),
)
_POSTADRESS, _POSTNUMMER, _POSTORT = core("postadress"), core("postnummer"), core("postort")
_TELEFON, _EPOST, _VARDGIVARE = core("telefonnummer"), core("epost"), core("vardgivare")
_VARDGIVARE_ID, _VARDGIVARNAMN = core("vardgivare-id"), core("vardgivarnamn")


def write_hos_personal(
    parent: etree._Element, tag: str, professional: HealthcareProfessional
) -> etree._Element:
    """Append ``professional`` as a HosPersonal element named ``tag`` (Clark notation).

    Codes whose code system the contract fixes (befattning, legitimeratYrke) get it when the
    model has none; specialistkompetens has no code system in the contract and is written
    without one.
    """
    el = etree.SubElement(parent, tag)
    sub_ii(el, _PERSONAL_ID, professional.id.system, professional.id.value)
    sub(el, _NAMN, professional.name)
    if professional.prescriber_code is not None:
        sub(el, _FORSKRIVARKOD, professional.prescriber_code)
    for code in professional.positions:
        sub_cv(el, _BEFATTNING, code.code, code.system or KV_BEFATTNING, code.display)
    write_enhet(el, _ENHET, professional.unit)
    for code in professional.specialities:
        sub_cv(el, _SPECIALIST, code.code, None, code.display)
    for code in professional.licensed_professions:
        sub_cv(el, _LEGITIMERAT_YRKE, code.code, code.system or KV_LEGITIMERAT_YRKE, code.display)
    return el


def write_enhet(parent: etree._Element, tag: str, unit: CareUnit) -> etree._Element:
    """Append ``unit`` as an Enhet element. The contract requires arbetsplatskod; a unit
    without one is written without it (and a peer's schema will say so)."""
    el = etree.SubElement(parent, tag)
    sub_ii(el, _ENHETS_ID, unit.id.system, unit.id.value)
    if unit.workplace_code is not None:
        sub_ii(
            el,
            _ARBETSPLATSKOD,
            unit.workplace_code.system or ARBETSPLATSKOD_ROOT,
            unit.workplace_code.value,
        )
    sub(el, _ENHETSNAMN, unit.name)
    sub(el, _POSTADRESS, unit.address.street)
    sub(el, _POSTNUMMER, unit.address.postal_code)
    sub(el, _POSTORT, unit.address.city)
    sub(el, _TELEFON, unit.phone)
    if unit.email is not None:
        sub(el, _EPOST, unit.email)
    provider = sub(el, _VARDGIVARE)
    if unit.care_provider.id is not None:
        sub_ii(provider, _VARDGIVARE_ID, unit.care_provider.id.system, unit.care_provider.id.value)
    sub(provider, _VARDGIVARNAMN, unit.care_provider.name)
    return el
