"""Swedish identifiers: pure checks, no models.

Checks return a reason (str) when the value is wrong and ``None`` when it is right, so the
validation layer can turn each into a located, coded issue (errors are data).
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache

from gateway.documents.common import Identifier

# OIDs of the national identifier systems (Inera, HL7 Sweden).
PERSONNUMMER_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "1.2.752.129.2.1.3.3"
HSA_ID_OID = "1.2.752.129.2.1.4.1"
ORGANISATIONSNUMMER_OID = "2.5.4.97"  # organizationIdentifier; used for employers in our schemas

_DIGITS12 = re.compile(r"^\d{12}$")
_ORGNR = re.compile(r"^(16)?\d{6}-?\d{4}$")
# SE/TST + ten-digit organisation number + '-' + local part, e.g. SE2321000016-15CJ,
# TSTNMT2321000156-1039.
_HSA_ID = re.compile(r"^[A-Z]{2,6}\d{10}-[A-Za-z0-9]{1,20}$")


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check over a string of digits, the last one being the check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def normalise_person_id(value: str) -> str:
    """Drop the separator of ``YYYYMMDD-NNNN`` forms; keep anything else as sent."""
    return value.replace("-", "").replace("+", "") if len(value) == 13 else value


def person_id_format_problem(value: str, *, samordning: bool | None = None) -> str | None:
    """Format and date problems of a personnummer or samordningsnummer (12 digits).

    ``samordning`` None means either kind is accepted (decided by the day part).
    """
    if not _DIGITS12.match(value):
        return "must be 12 digits (YYYYMMDDNNNC)"
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
    is_samordning = day > 60
    if samordning is True and not is_samordning:
        return "a samordningsnummer has the day of birth plus 60"
    if samordning is False and is_samordning:
        return "a personnummer cannot have a day above 31 (is it a samordningsnummer?)"
    if is_samordning:
        day -= 60
    try:
        date(year, month, day)
    except ValueError:
        return "the date part is not a valid date"
    return None


def person_id_checksum_problem(value: str) -> str | None:
    """The Luhn check digit over the last ten digits; only meaningful once the format is right."""
    if not _DIGITS12.match(value):
        return None
    return None if luhn_ok(value[2:]) else "the check digit (last digit) is wrong"


def hsa_id_problem(value: str) -> str | None:
    if not _HSA_ID.match(value):
        return (
            "must look like SE2321000016-15CJ "
            "(prefix, ten-digit organisation number, '-', local id)"
        )
    return None


def organisation_number_problem(value: str) -> str | None:
    if not _ORGNR.match(value):
        return "must be ten digits (NNNNNN-NNNN, optionally prefixed with 16)"
    digits = value.replace("-", "")[-10:]
    if int(digits[2]) < 2:
        return "the third digit of an organisation number is at least 2"
    if not luhn_ok(digits):
        return "the check digit (last digit) is wrong"
    return None


# --------------------------------------------------------------------- comparing identities
#
# Two persons, organisations or documents are the same when their identifiers say so as the
# identifier system defines it, not when their spellings agree: a personnummer is the same
# with or without century, hyphen or plus, under any recognised spelling of its system
# (bare OID, urn:oid:, HL7 Sweden's URI). Every comparison of two persons in the gateway goes
# through :func:`same_person` (docs/policy.md "Consent").

_SYSTEM_ROWS_FILE = "fhir-systems.toml"
#: identifier row names (mappings/fhir-systems.toml) -> the kind of identity they carry
_IDENTITY_KINDS = {
    "personnummer": "person",
    "samordningsnummer": "person",
    "hsa-id": "hsa",
    "organisationsnummer": "organisation",
}
_PERSON_VALUE = re.compile(r"^(\d{2})?(\d{6})([-+]?)(\d{4})$")
_HSA_VALUE = re.compile(r"^[A-Za-z]{2,6}\d{10}-[A-Za-z0-9]{1,20}$")
_UUID = re.compile(
    r"^(?:urn:uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.I
)


def _bare_system(system: str) -> str:
    s = system.strip().casefold()
    for prefix in ("urn:oid:", "https://", "http://"):
        s = s.removeprefix(prefix)
    return s.rstrip("/")


@cache
def _system_kinds() -> dict[str, str]:
    """Every spelling of the person, HSA-id and organisation-number systems -> its kind."""
    import tomllib

    from gateway import MAPPINGS_DIR

    data = tomllib.loads((MAPPINGS_DIR / _SYSTEM_ROWS_FILE).read_text("utf-8"))
    base = str(data.get("base", ""))
    out: dict[str, str] = {}
    for row in data.get("identifier", []):
        kind = _IDENTITY_KINDS.get(str(row.get("name")))
        if kind is None:
            continue
        for spelling in (row["model"], row["uri"], *row.get("aliases", [])):
            out[_bare_system(str(spelling).replace("{base}", base))] = kind
    return out


def identity_kind(system: str) -> str | None:
    """``"person"``, ``"hsa"``, ``"organisation"`` for a recognised spelling of those
    identifier systems, else ``None``."""
    return _system_kinds().get(_bare_system(system))


def person_key(value: str) -> tuple[str | None, str, str] | None:
    """A personnummer or samordningsnummer as (century or ``None``, its ten digits, the
    separator written: ``-``, ``+`` or none), however written; ``None`` for anything else."""
    m = _PERSON_VALUE.match(value.strip())
    if m is None:
        return None
    century, rest, sep, last = m.groups()
    return century, rest + last, sep


def _same_person_value(a: str, b: str, today: date | None) -> bool:
    """The same ten digits (birth date, number, check digit); centuries, where both are
    written, equal; a ``+`` (100 years or older, as Skatteverket writes it) against a
    century that makes the person younger is someone else. A ten-digit form without ``+`` is
    read as either century: senders write Tolvan (born 1912) ``1212121212`` and
    ``121212-1212`` alike, and only the ten digits carry the check digit."""
    ka, kb = person_key(a), person_key(b)
    if ka is None or kb is None:
        return ka is None and kb is None and a.strip() == b.strip()  # as sent, when no number
    if ka[1] != kb[1]:
        return False
    if ka[0] is not None and kb[0] is not None:
        return ka[0] == kb[0]
    full, short = (ka, kb) if ka[0] is not None else (kb, ka)
    if full[0] is None or short[2] != "+":
        return True
    today = today or date.today()
    return today.year - int(full[0] + full[1][:2]) >= 100


def same_person(a: Identifier, b: Identifier, today: date | None = None) -> bool:
    """Whether two identifiers name the same person: personnummer and samordningsnummer in
    any spelling of their systems (bare OID, ``urn:oid:``, HL7 Sweden's URI) and any
    notation of the number (:func:`_same_person_value`); identifiers of other systems when
    their systems (in any spelling) and values are the same. Every comparison of two persons
    goes through here (docs/policy.md "Consent")."""
    ka, kb = identity_kind(a.system), identity_kind(b.system)
    if ka == kb == "person":
        return _same_person_value(a.value, b.value, today)
    if ka is not None or kb is not None:
        return ka == kb and _organisation_value(a.value) == _organisation_value(b.value)
    return _bare_system(a.system) == _bare_system(b.system) and a.value.strip() == b.value.strip()


#: A Swedish VAT number: ``SE``, the ten-digit organisation number, ``01``.
_VAT = re.compile(r"^SE(\d{10})01$")


def may_be_same_person(a: Identifier, b: Identifier, today: date | None = None) -> bool:
    """Whether a *refusal* about the person ``a`` may be about ``b``, read broadly: the same
    person as :func:`same_person` says, or ``a`` under a system the gateway does not know
    whose value is the same personnummer (or is no personnummer at all, so that it cannot be
    told apart: deny when in doubt). Only an identifier readable as someone else (another
    number, an organisation's or an HSA-id) excludes it."""
    if same_person(a, b, today):
        return True
    if identity_kind(a.system) is not None:
        return False
    ka = person_key(a.value)
    if ka is None:
        return True
    kb = person_key(b.value)
    return kb is None or ka[1] == kb[1]


def _organisation_value(value: str) -> str:
    """An organisation number as its ten digits (no ``16`` prefix, no hyphen, no spaces, or
    inside the VAT number ``SE556123456701``); an HSA-id in capitals (HSA-ids are
    case-insensitive); anything else as sent, trimmed."""
    v = value.strip()
    compact = "".join(v.split()).upper()
    if _ORGNR.match(compact):
        return compact.replace("-", "")[-10:]
    vat = _VAT.match(compact.replace("-", ""))
    if vat is not None:
        return vat.group(1)
    if _HSA_VALUE.match(compact):
        return compact
    return v


def _organisation_number(key: str) -> str | None:
    """The organisation number an organisation key carries: itself, or the one inside an
    HSA-id (``SE5561234567-1234`` is a unit of 556123-4567)."""
    if key.isdigit() and len(key) == 10:
        return key
    if _HSA_VALUE.match(key):
        digits = key.split("-", 1)[0][-10:]
        return digits if digits.isdigit() else None
    return None


def organisation_key(value: str) -> str:
    """How an organisation named by a bare value (a recipient's configured ``organisation``:
    an organisation number or an HSA-id) is compared."""
    return _organisation_value(value)


def names_organisation(identifier: Identifier, organisation: str) -> bool:
    """Whether ``identifier`` (a consent's named recipient: an organisation number or an
    HSA-id, in any spelling of its system) is the organisation configured as ``organisation``."""
    kind = identity_kind(identifier.system)
    if kind not in ("organisation", "hsa"):
        return False
    return _organisation_value(identifier.value) == organisation_key(organisation)


def may_name_organisation(identifier: Identifier, organisation: str) -> bool:
    """Whether a *refusal* (a deny, a withdrawal) naming ``identifier`` may be about the
    organisation configured as ``organisation``, read broadly, since a no wins wherever it
    could apply: it names that organisation in any spelling, or a unit of it (an HSA-id
    carrying its organisation number), or the same ten digits under a person system (a
    sole trader's organisation number is the owner's personnummer), or it cannot be read as
    an organisation at all (an unknown system, a value that is no organisation number or
    HSA-id: deny when in doubt). Only an identifier readable as another organisation
    excludes it."""
    if names_organisation(identifier, organisation):
        return True
    kind = identity_kind(identifier.system)
    value = _organisation_value(identifier.value)
    if kind == "person":
        digits = "".join(ch for ch in identifier.value if ch.isdigit())[-10:]
        return digits == _organisation_number(organisation_key(organisation))
    named, configured = (
        _organisation_number(value),
        _organisation_number(organisation_key(organisation)),
    )
    if kind is None or named is None:
        return True
    return configured is None or named == configured


def same_document_id(a: str, b: str) -> bool:
    """Two document ids, compared as their systems define them: UUIDs (a certificate's
    intygs-id as Webcert issues it; ``urn:uuid:`` or not) in any letter case, the gateway's
    own ids (SIP, plan, §4) too, since they are issued case-insensitive (docs/policy.md)."""
    ma, mb = _UUID.match(a.strip()), _UUID.match(b.strip())
    if ma is not None and mb is not None:
        return ma.group(1).lower() == mb.group(1).lower()
    return a.strip().casefold() == b.strip().casefold()
