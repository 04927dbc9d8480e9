"""RIVTA namespaces, Clark-notation tags and tiny builders shared by the RIVTA codecs.

Inera's services write the core namespace as the default one and number the others (``ns2``,
``ns3``...); peers match on namespace URIs, not prefixes, but we write the same prefixes so
our messages read like theirs.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Final

from gateway.documents.common import SWEDISH_TIME
from gateway.formats import roots
from gateway.formats.rivta.xmlwriter import XmlWriter

CORE: Final = "urn:riv:clinicalprocess:healthcond:certificate:3"
TYPES: Final = "urn:riv:clinicalprocess:healthcond:certificate:types:3"
EXT_32: Final = "urn:riv:clinicalprocess:healthcond:certificate:3.2"  # underskrift & co.
REGISTER_CERTIFICATE: Final = roots.REGISTER_CERTIFICATE.namespace
SEND_MESSAGE_TO_RECIPIENT: Final = roots.SEND_MESSAGE.namespace

#: Prefixes as Inera's RegisterCertificate senders write them (default namespace = core).
RIVTA_NAMESPACES: Final[dict[str | None, str]] = {
    None: CORE,
    "ns2": REGISTER_CERTIFICATE,
    "ns3": TYPES,
    "ns5": EXT_32,
}

#: For SendMessageToRecipient v2, as intygstjänsten writes it (ns2 = the responder).
SEND_MESSAGE_NAMESPACES: Final[dict[str | None, str]] = {
    "ns2": SEND_MESSAGE_TO_RECIPIENT,
    "ns3": TYPES,
    "ns4": CORE,
    "ns5": EXT_32,
}

# Fixed code systems and identifier roots of the RIVTA types (types:3).
HSA_ID_ROOT: Final = "1.2.752.129.2.1.4.1"
ARBETSPLATSKOD_ROOT: Final = "1.2.752.29.4.71"
KV_INTYGSTYP: Final = "b64ea353-e8f6-4832-b563-fc7d46f29548"
KV_BEFATTNING: Final = "1.2.752.129.2.2.1.4"
KV_PART: Final = "769bb12b-bd9f-4203-a5cd-fd14f2eb3b80"
KV_STATUS: Final = "9871cd17-8755-4ed9-b894-ff3729e775a4"
KV_RELATION: Final = "c2362fcd-eda0-4f9a-bd13-b3bbaf7f2146"
KV_AMNE: Final = "ffa59d8f-8d7e-46ae-ac9e-31804e8e8499"
KV_KALLA_ADRESS: Final = "4ade8de2-effe-41d0-b177-fedc820e69fa"
KV_LEGITIMERAT_YRKE: Final = "1.2.752.29.23.1.6"


def core(local: str) -> str:
    return f"{{{CORE}}}{local}"


def types(local: str) -> str:
    return f"{{{TYPES}}}{local}"


def ext32(local: str) -> str:
    return f"{{{EXT_32}}}{local}"


# Tags in Clark notation, computed once: readers compare child tags with these (no XPath on
# the hot path) and writers create elements with them.
REGISTER_CERTIFICATE_ROOT: Final = roots.REGISTER_CERTIFICATE.tag
INTYG: Final = f"{{{REGISTER_CERTIFICATE}}}intyg"
INTYGS_ID, MOTTAGARE, TYP = core("intygs-id"), core("mottagare"), core("typ")
VERSION = core("version")
SIGNERAD, SKICKAD = core("signeringstidpunkt"), core("skickatTidpunkt")
PATIENT, SKAPAD_AV, RELATION, STATUS, SVAR = (
    core("patient"),
    core("skapadAv"),
    core("relation"),
    core("status"),
    core("svar"),
)
UNDERSKRIFT, KALLA_ADRESS = ext32("underskrift"), ext32("kallaAdressuppgifter")
LEGITIMERAT_YRKE = ext32("legitimeratYrke")
PERSON_ID, FORNAMN, EFTERNAMN, MELLANNAMN = (
    core("person-id"),
    core("fornamn"),
    core("efternamn"),
    core("mellannamn"),
)
POSTADRESS, POSTNUMMER, POSTORT = core("postadress"), core("postnummer"), core("postort")
PERSONAL_ID, FULLST_NAMN, FORSKRIVARKOD, BEFATTNING, ENHET, SPECIALIST = (
    core("personal-id"),
    core("fullstandigtNamn"),
    core("forskrivarkod"),
    core("befattning"),
    core("enhet"),
    core("specialistkompetens"),
)
ENHETS_ID, ARBETSPLATSKOD, ENHETSNAMN, TELEFON, EPOST, VARDGIVARE = (
    core("enhets-id"),
    core("arbetsplatskod"),
    core("enhetsnamn"),
    core("telefonnummer"),
    core("epost"),
    core("vardgivare"),
)
VARDGIVARE_ID, VARDGIVARNAMN = core("vardgivare-id"), core("vardgivarnamn")
PART, TIDPUNKT = core("part"), core("tidpunkt")
INSTANS, DELSVAR = core("instans"), core("delsvar")
T_ROOT, T_EXTENSION = types("root"), types("extension")
T_CODE, T_CODE_SYSTEM, T_DISPLAY = types("code"), types("codeSystem"), types("displayName")
T_CV, T_DATE_PERIOD, T_PQ = types("cv"), types("datePeriod"), types("pq")
T_START, T_END, T_VALUE, T_UNIT = types("start"), types("end"), types("value"), types("unit")


def format_timestamp(value: datetime) -> str:
    """RIVTA TimeStampType: local Swedish time, seconds precision, no offset."""
    if value.tzinfo is not None:
        value = value.astimezone(SWEDISH_TIME).replace(tzinfo=None)
    return value.isoformat(timespec="seconds")


def format_date(value: date) -> str:
    return value.isoformat()


def format_double(value: float) -> str:
    """xs:double lexical form (Python writes inf/nan, XSD wants INF/NaN)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    return repr(value)


def write_ii(w: XmlWriter, tag: str, root: str, extension: str) -> None:
    """An II-typed element (``root``/``extension`` in types:3), e.g. intygs-id, person-id."""
    w.open(tag)
    w.leaf(T_ROOT, root)
    w.leaf(T_EXTENSION, extension)
    w.close()


def write_cv(
    w: XmlWriter, tag: str, code: str, system: str | None, display: str | None = None
) -> None:
    """A CV-typed element (``code``, ``codeSystem``, ``displayName``); ``system`` None leaves
    codeSystem out (types without one, e.g. Specialistkompetens)."""
    w.open(tag)
    w.leaf(T_CODE, code)
    if system is not None:
        w.leaf(T_CODE_SYSTEM, system)
    if display is not None:
        w.leaf(T_DISPLAY, display)
    w.close()
