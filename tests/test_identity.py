"""Swedish identifiers: checksums and formats."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from gateway.documents.common import Identifier
from gateway.documents.identity import (
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
    hsa_id_problem,
    luhn_ok,
    organisation_number_problem,
    person_id_checksum_problem,
    person_id_format_problem,
)
from gateway.validation.identity_rules import check_person_id


def with_check_digit(nine: str) -> str:
    return next(nine + str(d) for d in range(10) if luhn_ok(nine + str(d)))


def test_skatteverkets_test_personnummer_are_valid() -> None:
    for pnr in ("191212121212", "201212121212", "199001012385"):
        assert person_id_format_problem(pnr) is None
        assert person_id_checksum_problem(pnr) is None


def test_ineras_made_up_test_number_has_a_wrong_check_digit() -> None:
    assert person_id_format_problem("192703104321") is None
    assert person_id_checksum_problem("192703104321") == "the check digit (last digit) is wrong"


def test_samordningsnummer_day_plus_sixty() -> None:
    sam = "1912" + "12" + "72" + with_check_digit("121272123")[-4:]
    assert person_id_format_problem(sam, samordning=True) is None
    assert person_id_format_problem(sam, samordning=False) is not None
    assert person_id_format_problem("191212121212", samordning=True) is not None


def test_impossible_dates_are_rejected() -> None:
    assert person_id_format_problem("190002301234") == "the date part is not a valid date"
    assert person_id_format_problem("19121212121") == "must be 12 digits (YYYYMMDDNNNC)"


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    st.integers(0, 999),
    st.booleans(),
)
def test_every_generated_number_with_its_check_digit_passes(
    born: date, serial: int, samordning: bool
) -> None:
    day = born.day + (60 if samordning else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    pnr = f"{born:%Y}"[:2] + with_check_digit(nine)
    system = SAMORDNINGSNUMMER_OID if samordning else PERSONNUMMER_OID
    assert list(check_person_id(Identifier(system=system, value=pnr), ("id",))) == []
    wrong = pnr[:-1] + str((int(pnr[-1]) + 1) % 10)
    (finding,) = check_person_id(Identifier(system=system, value=wrong), ("id",))
    assert (finding.rule.code, finding.path) == ("ID-PERSON-CHECKSUM", ("id", "value"))


def test_person_id_in_a_foreign_system_is_a_format_issue() -> None:
    (finding,) = check_person_id(Identifier(system="1.2.3", value="191212121212"), ("p",))
    assert (finding.rule.code, finding.path) == ("ID-PERSON-FORMAT", ("p", "system"))


def test_hsa_ids() -> None:
    assert hsa_id_problem("SE2321000016-15CJ") is None
    assert hsa_id_problem("TSTNMT2321000156-1039") is None
    assert hsa_id_problem("not an hsa id") is not None


def test_organisation_numbers() -> None:
    assert organisation_number_problem("556036-0793") is None  # a real company's number
    assert organisation_number_problem("5560360793") is None
    assert organisation_number_problem("165560360793") is None
    assert organisation_number_problem("556036-0794") == "the check digit (last digit) is wrong"
    assert organisation_number_problem("551036-0793") == (
        "the third digit of an organisation number is at least 2"
    )
    assert organisation_number_problem("12345") is not None
