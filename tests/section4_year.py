"""A generated year of §4 notifications from several regions, with the generator's own tally
of what the statistics must say (per region and month, every measure), for
test_coordination_statistics_year.py and bench/bench_coordination.py.

Each region sends FK 7804 certificates (the sick-leave cases the rates are measured against),
§4 notifications with consent (some Försäkringskassan never receives: their delivery fails
for good), notifications refused (no consent, a reworded statement, a consent used twice),
and Försäkringskassan answers some: received only, handled in time or late, with each
outcome, a "no need" told or not told to the patient.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from coordination_support import acknowledgement, certificate, notification
from strategies_common import luhn_digit

from gateway.documents.acknowledgement import Outcome
from gateway.documents.common import SWEDISH_TIME, Identifier, Organisation, Person, PersonName
from gateway.formats.base import Format
from gateway.formats.registry import render

YEAR = 2025
REGIONS = {  # sender id -> (organisation, how busy it is)
    "region-a": ("TSTNMT2321000156-RGA1", 9),
    "region-b": ("TSTNMT2321000156-RGB1", 4),
    "region-c": ("TSTNMT2321000156-RGC1", 2),
}


@dataclass
class Event:
    """One thing to send: when, by whom, the bytes, the headers it needs."""

    at: datetime
    sender: str
    body: bytes
    content_type: str
    recipients: str
    message_id: str
    fails: bool = False  # Försäkringskassan's endpoint refuses it for good


@dataclass
class Year:
    events: list[Event] = field(default_factory=list)
    tally: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    as_of: date = date(YEAR + 1, 3, 31)  # every answer (at most 45 days) is in by then


def person(n: int) -> str:
    """A valid personnummer of a test person, one per n."""
    born = date(1960, 1, 1) + timedelta(days=n % 12000)
    body = f"{born:%y%m%d}{(n // 12000) % 900 + 100:03d}"
    return f"{born.year // 100}{body}{luhn_digit(body)}"


def _moment(d: date, hour: int) -> datetime:
    return datetime.combine(d, time(hour), SWEDISH_TIME)


def _with_patient(doc, pnr: str):  # type: ignore[no-untyped-def]
    pid = Identifier(system="1.2.752.129.2.1.3.1", value=pnr)
    update = {"patient": doc.patient.model_copy(update={"id": pid})}
    consent = getattr(doc, "consent", None)
    if consent is not None:
        update["consent"] = consent.model_copy(update={"given_by": pid})
    return doc.model_copy(update=update)


def generate(seed: int = 17) -> Year:
    rng = random.Random(seed)
    year = Year()
    n = 0
    for sender, (org, busy) in REGIONS.items():
        region = Organisation(
            id=Identifier(system="1.2.752.129.2.1.4.1", value=org), name=f"Region {sender[-1]}"
        )
        for month in range(1, 13):
            key = (org, f"{YEAR}-{month:02d}")
            t = year.tally[key]
            first = date(YEAR, month, 1)
            for _ in range(busy * 2):  # sick-leave cases (FK 7804, one patient each)
                n += 1
                start = first + timedelta(days=rng.randrange(0, 10))
                cert = certificate(
                    f"c-{n}", [(start, start + timedelta(days=12), 100)], signed=_moment(start, 9)
                )
                cert = _with_patient(cert, person(n))
                year.events.append(
                    Event(
                        _moment(start, 10),
                        sender,
                        render(cert, Format.XML),
                        "application/xml",
                        "fk",
                        f"c-{n}",
                    )
                )
                t["sick_leave_cases"] += 1
            for _ in range(rng.randrange(busy, busy * 2 + 1)):  # §4 notifications
                n += 1
                sent = _moment(first + timedelta(days=rng.randrange(0, 25)), 11)
                pnr = person(n)
                note = notification(f"s4-{n}", sent=sent)
                note = _with_patient(note.model_copy(update={"region": region}), pnr)
                fails = rng.random() < 0.1
                year.events.append(
                    Event(
                        sent,
                        sender,
                        render(note, Format.XML),
                        "application/xml",
                        "fk",
                        f"s4-{n}",
                        fails=fails,
                    )
                )
                t["sent"] += 1
                t["delivered"] += not fails
                _answer(rng, year, t, n, note.id, pnr, sent)
                if rng.random() < 0.1:  # the same consent again: refused
                    year.events.append(
                        Event(
                            sent + timedelta(minutes=5),
                            sender,
                            render(note.model_copy(update={"id": f"s4-{n}-again"}), Format.XML),
                            "application/xml",
                            "fk",
                            f"s4-{n}-again",
                        )
                    )
                    t["refused"] += 1
                    t["refused_consent_reused"] += 1
            for reason in rng.sample(["no_consent", "invalid", None, None], 2):
                if reason is None:
                    continue
                n += 1
                sent = _moment(first + timedelta(days=rng.randrange(0, 25)), 14)
                bad = _with_patient(notification(f"s4-{n}", sent=sent), person(n))
                if reason == "no_consent":
                    bad = bad.model_copy(update={"consent": None, "region": region})
                else:
                    bad = bad.model_copy(
                        update={"statement": "Patienten behöver hjälp", "region": region}
                    )
                year.events.append(
                    Event(sent, sender, render(bad, Format.XML), "application/xml", "fk", f"s4-{n}")
                )
                t["refused"] += 1
                t[f"refused_{reason}"] += 1
    year.events.sort(key=lambda e: e.at)
    return year


def _answer(
    rng: random.Random, year: Year, t: Counter[str], n: int, nid: str, pnr: str, sent: datetime
) -> None:
    """Försäkringskassan's answer to one notification, if any."""
    roll = rng.random()
    if roll < 0.15:
        t["not_handled_overdue"] += 1  # never answered (the year is long over by as_of)
        return
    received = sent + timedelta(hours=2)
    if roll < 0.25:  # received, not handled
        ack = acknowledgement(f"a-{n}", nid, received=received, handled=None, outcome=None)
        t["acknowledged"] += 1
        t["not_handled_overdue"] += 1
    else:
        days = rng.choice([3, 10, 20, 45])
        outcome = rng.choice(list(Outcome))
        informed = rng.random() < 0.7 if outcome is Outcome.NO_NEED else None
        ack = acknowledgement(
            f"a-{n}",
            nid,
            received=received,
            handled=received + timedelta(days=days),
            outcome=outcome,
            informed=informed,
        )
        t["acknowledged"] += 1
        t["handled"] += 1
        t["handled_in_time"] += days <= 30
        t[f"outcome_{outcome.value.replace('-', '_')}"] += 1
        if outcome is Outcome.NO_NEED:
            t["no_need_patient_told" if informed else "no_need_patient_not_told"] += 1
    ack = ack.model_copy(
        update={
            "patient": Person(
                id=Identifier(system="1.2.752.129.2.1.3.1", value=pnr),
                name=PersonName(given="Test", family="Testsson"),
            ),
            "certificate_id": Identifier(system="TSTNMT2321000156-ALMC", value=f"cert-{n}"),
        }
    )
    at = (ack.handled_at or ack.received_at).replace(tzinfo=SWEDISH_TIME) + timedelta(hours=1)
    year.events.append(
        Event(
            at,
            "fk-case",
            render(ack, Format.RIVTA_MESSAGE),
            "application/xml",
            "region-skane",
            f"a-{n}",
        )
    )
