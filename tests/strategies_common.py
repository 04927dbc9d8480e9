"""Test helpers every strategy module shares: Luhn check digits, Swedish person and
organisation numbers, HSA-ids and the test patient Tolvan.

``strategies_certificate``, ``strategies_plans`` and ``strategies_policy`` build on these.
"""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from gateway.documents.common import Identifier
from gateway.documents.identity import (
    HSA_ID_OID,
    ORGANISATIONSNUMMER_OID,
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
)

#: Tolvan Tolvansson, Skatteverket's test person.
TOLVAN_NUMBER = "191212121212"
TOLVAN = Identifier(system=PERSONNUMMER_OID, value=TOLVAN_NUMBER)


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def with_check_digit(nine_or_eleven: str) -> str:
    """Complete YYYYMMDDNNN (or YYMMDDNNN) with its Luhn check digit."""
    return nine_or_eleven + luhn_digit(nine_or_eleven[-9:])


@st.composite
def person_numbers(
    draw: st.DrawFn, born_from: date, born_to: date, samordning: bool = False
) -> str:
    """A 12-digit personnummer (or samordningsnummer: day + 60) with a correct check digit."""
    born = draw(st.dates(born_from, born_to))
    day = born.day + (60 if samordning else 0)
    serial = draw(st.integers(0, 999))
    return with_check_digit(f"{born:%Y%m}{day:02d}{serial:03d}")


@st.composite
def person_ids(draw: st.DrawFn, samordning: bool | None = None) -> Identifier:
    """A person's identifier, born 1930-2010 (a samordningsnummer or not, as asked)."""
    if samordning is None:
        samordning = draw(st.booleans())
    value = draw(person_numbers(date(1930, 1, 1), date(2010, 12, 31), samordning))
    return Identifier(system=SAMORDNINGSNUMMER_OID if samordning else PERSONNUMMER_OID, value=value)


@st.composite
def organisation_numbers(draw: st.DrawFn) -> str:
    body = f"{draw(st.integers(10, 99))}{draw(st.integers(2, 9))}{draw(st.integers(0, 999999)):06d}"
    return f"{body[:6]}-{body[6:]}{luhn_digit(body)}"


org_number_ids = organisation_numbers().map(
    lambda v: Identifier(system=ORGANISATIONSNUMMER_OID, value=v)
)


def hsa(local: str, prefix: str = "SE2321000016") -> Identifier:
    """The HSA-id ``<prefix>-<local>``."""
    return Identifier(system=HSA_ID_OID, value=f"{prefix}-{local}")


hsa_ids = st.builds(
    hsa,
    st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=8),
    st.sampled_from(["SE2321000016", "TSTNMT2321000156", "SE2321000131"]),
)

__all__ = [
    "TOLVAN",
    "TOLVAN_NUMBER",
    "hsa",
    "hsa_ids",
    "luhn_digit",
    "org_number_ids",
    "organisation_numbers",
    "person_ids",
    "person_numbers",
    "with_check_digit",
]
