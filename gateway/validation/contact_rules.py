"""Telephone numbers and e-mail addresses checked as what they claim to be.

A §4 notification carries the coordinating function's telephone and e-mail to
Försäkringskassan, and nothing else may ride along in them (SKR's recommendation, seed 003:
``010-123 45 67 (psykosteamet, F20.0)`` is not a telephone number). A telephone is digits with
the usual separators (spaces, hyphens, parentheses, one leading ``+``) that Google's
``phonenumbers`` accepts as a valid Swedish or international (E.164) number; an e-mail address
is what ``email-validator`` accepts as an ASCII address, deliverability not checked (no DNS
look-up per message). The shape is enforced, not the meaning: a digit string that happens to be
a valid number, or a local part that spells a code, still passes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

#: Only digits and the separators people write; ``+`` only first.
_PHONE_SHAPE = re.compile(r"\+?[0-9][0-9 ()\-]*[0-9]")


# A region's coordinating functions are few and send many notices: the same number and
# address come back again and again, so each verdict is kept (a few hundred µs otherwise).
@lru_cache(maxsize=4096)
def phone_problem(text: str) -> str | None:
    """Why ``text`` is not a telephone number, or ``None`` when it is one."""
    if not _PHONE_SHAPE.fullmatch(text) or text.count("(") != text.count(")"):
        return (
            "is not a telephone number: only digits, spaces, hyphens, parentheses and a "
            "leading + may appear"
        )
    try:
        number = phonenumbers.parse(text, "SE")
    except phonenumbers.NumberParseException:
        return "is not a telephone number"
    if not phonenumbers.is_valid_number(number):
        return "is not a valid Swedish or international (E.164) telephone number"
    return None


@lru_cache(maxsize=4096)
def email_problem(text: str) -> str | None:
    """Why ``text`` is not an e-mail address, or ``None`` when it is one."""
    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return f"is not an e-mail address ({exc})"
    return None


__all__ = ["email_problem", "phone_problem"]
