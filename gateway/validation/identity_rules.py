"""Identifier rules shared by every document kind."""

from __future__ import annotations

from collections.abc import Iterator

from gateway.documents.common import Identifier
from gateway.documents.identity import (
    HSA_ID_OID,
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
    hsa_id_problem,
    organisation_number_problem,
    person_id_checksum_problem,
    person_id_format_problem,
)
from gateway.documents.issues import RULES, Finding, ModelPath, RuleKind

PERSON_ID_FORMAT = RULES.define(
    "ID-PERSON-FORMAT",
    "Personnummer or samordningsnummer malformed",
    RuleKind.BUSINESS,
    "A personnummer is 12 digits YYYYMMDDNNNC with a real date of birth; a samordningsnummer "
    "has the day of birth plus 60. The system OID must be 1.2.752.129.2.1.3.1 (personnummer) "
    "or 1.2.752.129.2.1.3.3 (samordningsnummer).",
)
PERSON_ID_CHECKSUM = RULES.define(
    "ID-PERSON-CHECKSUM",
    "Personnummer check digit wrong",
    RuleKind.BUSINESS,
    "The last digit of a personnummer or samordningsnummer is a Luhn check digit over the "
    "other nine of YYMMDDNNN. A wrong one means a typing error or a different person. Inera's "
    "made-up test number 192703104321 fails this check: downgrade it with `--warn "
    "ID-PERSON-CHECKSUM` when testing with such data; use Skatteverket's test personnummer "
    "(e.g. 191212121212) instead.",
    source="Skatteverket SKV 704",
)
HSA_ID_FORMAT = RULES.define(
    "ID-HSA-FORMAT",
    "HSA-id malformed",
    RuleKind.BUSINESS,
    "An HSA-id is a prefix (country code or test prefix), the ten-digit organisation number "
    "of the issuing organisation, '-' and a local part, e.g. SE2321000016-15CJ. Its system "
    "OID is 1.2.752.129.2.1.4.1.",
)
ORG_NUMBER_FORMAT = RULES.define(
    "ID-ORGNR",
    "Organisation number malformed",
    RuleKind.BUSINESS,
    "An organisation number (organisationsnummer) is ten digits NNNNNN-NNNN whose third digit "
    "is at least 2 and whose last digit is a Luhn check digit.",
    source="Bolagsverket",
)


def check_person_id(ident: Identifier, path: ModelPath) -> Iterator[Finding]:
    if ident.system not in (PERSONNUMMER_OID, SAMORDNINGSNUMMER_OID):
        yield Finding(
            PERSON_ID_FORMAT,
            (*path, "system"),
            f"identifier system {ident.system!r} is neither personnummer "
            f"({PERSONNUMMER_OID}) nor samordningsnummer ({SAMORDNINGSNUMMER_OID})",
        )
        return
    samordning = ident.system == SAMORDNINGSNUMMER_OID
    problem = person_id_format_problem(ident.value, samordning=samordning)
    if problem:
        yield Finding(PERSON_ID_FORMAT, (*path, "value"), f"{ident.value!r}: {problem}")
        return
    problem = person_id_checksum_problem(ident.value)
    if problem:
        yield Finding(PERSON_ID_CHECKSUM, (*path, "value"), f"{ident.value!r}: {problem}")


def check_hsa_id(ident: Identifier, path: ModelPath) -> Iterator[Finding]:
    if ident.system != HSA_ID_OID:
        yield Finding(
            HSA_ID_FORMAT,
            (*path, "system"),
            f"identifier system {ident.system!r} is not HSA-id ({HSA_ID_OID})",
        )
        return
    problem = hsa_id_problem(ident.value)
    if problem:
        yield Finding(HSA_ID_FORMAT, (*path, "value"), f"{ident.value!r}: {problem}")


def check_organisation_number(value: str, path: ModelPath) -> Iterator[Finding]:
    problem = organisation_number_problem(value)
    if problem:
        yield Finding(ORG_NUMBER_FORMAT, path, f"{value!r}: {problem}")


__all__ = [
    "HSA_ID_FORMAT",
    "ORG_NUMBER_FORMAT",
    "PERSON_ID_CHECKSUM",
    "PERSON_ID_FORMAT",
    "check_hsa_id",
    "check_organisation_number",
    "check_person_id",
]
