"""Cost of reading a consent completely and of checking a §4 coordinator's contact, beside
validating the §4 notification that carries them (the baseline), per call.

    .venv/bin/python bench/bench_consent.py
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import per_second, row

from gateway import FIXTURES_DIR
from gateway.documents.consent import consent_problems
from gateway.documents.section4 import Section4Notification
from gateway.validation.contact_rules import email_problem, phone_problem
from gateway.validation.service import validate_bytes

FIXTURE = FIXTURES_DIR / "section4-notification" / "valid-notification.xml"
AT = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    data = FIXTURE.read_bytes()
    doc = validate_bytes(data).document
    assert isinstance(doc, Section4Notification) and doc.consent is not None
    consent, coordinator = doc.consent, doc.coordinator
    assert coordinator.phone is not None and coordinator.email is not None
    phone, email = coordinator.phone, coordinator.email

    def read_consent() -> None:
        for _ in consent_problems(
            consent, kind=doc.kind, document_id=doc.id, patient=doc.patient.id, at=AT
        ):
            pass

    cases = [
        ("validate the §4 notification (baseline)", lambda: validate_bytes(data)),
        ("read its consent completely", read_consent),
        (
            "check the coordinator's telephone (first time)",
            lambda: phone_problem.__wrapped__(phone),
        ),
        ("check the coordinator's e-mail (first time)", lambda: email_problem.__wrapped__(email)),
        (
            "both, a number and address seen before",
            lambda: (phone_problem(phone), email_problem(email)),
        ),
    ]
    base = 0.0
    print(row("step", "calls/s", "µs/call", "of base", widths=(48, 12, 10, 9)))
    for name, fn in cases:
        rate = per_second(fn)
        base = base or rate
        print(
            row(
                name,
                f"{rate:,.0f}",
                f"{1e6 / rate:,.1f}",
                f"{base / rate:.0%}",
                widths=(48, 12, 10, 9),
            )
        )


if __name__ == "__main__":
    main()
