"""What an operator may read of free text: the recipients' answers and audit details are
metadata, but a recipient's error text could echo a patient's personnummer. Anything shaped
like a personnummer or samordningsnummer (a valid date, day + 60 for samordning, then four
digits, with or without century and separator) is masked before a page shows it.
Organisation numbers (month digits 20 and up) and HSA-ids are left alone."""

from __future__ import annotations

import re
from datetime import date

_PERSON = re.compile(r"(?<![0-9])((?:19|20)?)(\d{2})(\d{2})(\d{2})([-+ ]?)(\d{4})(?![0-9])")
MASK = "••••••••-••••"


def _is_date(century: str, yy: str, mm: str, dd: str) -> bool:
    day = int(dd)
    if day > 60:
        day -= 60
    year = int((century or "19") + yy)
    try:
        date(year, int(mm), day)
    except ValueError:
        # a two-digit year may belong to either century (29 February)
        if century:
            return False
        try:
            date(2000 + int(yy), int(mm), day)
        except ValueError:
            return False
    return True


def mask_person_ids(text: str) -> str:
    """``text`` with every personnummer-shaped number replaced by :data:`MASK`."""

    def replace(m: re.Match[str]) -> str:
        century, yy, mm, dd, _sep, _last = m.groups()
        return MASK if _is_date(century, yy, mm, dd) else m.group(0)

    return _PERSON.sub(replace, text)


__all__ = ["MASK", "mask_person_ids"]
