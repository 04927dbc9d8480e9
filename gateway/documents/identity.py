"""Swedish identifiers: pure checks, no models.

Checks return a reason (str) when the value is wrong and ``None`` when it is right, so the
validation layer can turn each into a located, coded issue (errors are data).
"""

from __future__ import annotations

import re
from datetime import date

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
