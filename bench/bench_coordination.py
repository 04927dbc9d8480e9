"""The plan index at scale (issue 17): with N patients in the store (default 100,000), how long
one patient's index query takes (p50, p99; the read's audit record included), how long one
actor's deadline list takes (an employer, a region, Försäkringskassan), and what indexing adds
to the accept path (router + store, CPU and wall per message, beside the same run with the
index switched off) - on SQLite and on PostgreSQL.

Targets: index query p99 <= 20 ms, deadline list <= 200 ms, accepting at most 20 % slower.
The accept transaction writes the index entries and flags and marks the patient; the deadlines
are recomputed by a follow-up transaction (the server's drain), printed on its own line beside
the accept.

The store is filled through ``Store.accept`` (the index hook included) with entries made from
one document of each kind per template, varied per patient: a certificate each (periods of
30-180 days, 100 % then 50 %), a return-to-work plan for every 4th, a §4 notification for
every 10th, a SIP for every 20th; 21 regions, 2,000 employers. PostgreSQL runs in a fresh
schema of the server at ``GATEWAY_BENCH_POSTGRESQL`` (default 127.0.0.1:5432/test), dropped
afterwards.

    .venv/bin/python bench/bench_coordination.py [--patients N] [--stores sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # coordination_support
from _timing import row
from coordination_support import (
    certificate,
    certificate_message,
    employer_consent,
    entry,
    notification,
    plan,
    sip,
)
from strategies_common import luhn_digit

from gateway.coordination.entries import Addressee, Entry
from gateway.coordination.visibility import Actor
from gateway.documents import Recipient
from gateway.documents.common import SWEDISH_TIME
from gateway.exchange import router
from gateway.exchange.config import Config, parse
from gateway.exchange.plan_index import plan_index_for
from gateway.exchange.plan_index.service import actor_deadlines, patient_view
from gateway.exchange.store import store_for
from gateway.exchange.store.base import AuditEntry, DeliveryMode, NewDelivery, NewMessage, Store

SERVER = os.environ.get("GATEWAY_BENCH_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
REGIONS = 21
EMPLOYERS = 2000
FK = "2021005521"
T0 = datetime(2025, 1, 1, 8, tzinfo=UTC)


def person(n: int) -> str:
    born = date(1950, 1, 1) + timedelta(days=n % 18000)
    body = f"{born:%y%m%d}{(n // 18000) % 900 + 100:03d}"
    return f"{born.year // 100}{body}{luhn_digit(body)}"


def region_org(n: int) -> str:
    return f"TSTNMT2321000156-R{n % REGIONS:02d}"


def employer_org(n: int) -> str:
    return f"55{n % EMPLOYERS:08d}"


class Templates:
    """One entry per kind, made once from real documents; varied per patient by replace()."""

    def __init__(self) -> None:
        region = {"sender": "region-ehr", "sender_org": region_org(0), "sender_role": "region"}
        start = date(2025, 1, 6)
        self.cert = entry(
            certificate("c", [(start, start + timedelta(days=29), 100)]),
            received=T0,
            envelope_consent=employer_consent(),
            **region,
        )
        self.plan = entry(
            plan(
                "p",
                plan_date=start + timedelta(days=20),
                first_day=start,
                measures=[
                    (
                        "part-time",
                        "Arbete 50 %",
                        start + timedelta(days=30),
                        start + timedelta(days=60),
                    )
                ],
            ),
            received=T0,
            sender="hr",
            sender_org=employer_org(0),
            sender_role="employer",
        )
        self.s4 = entry(notification("n", sent=T0), received=T0, **region)
        self.sip = entry(
            sip("s", created=T0, follow_up=start + timedelta(days=60)), received=T0, **region
        )

    def entries(self, n: int) -> list[Entry]:
        pnr = person(n)
        start = date(2025, 1, 1) + timedelta(days=n % 300)
        length = 30 + (n * 7) % 150
        half = start + timedelta(days=min(29, length - 1))
        periods = [{"start": start.isoformat(), "end": half.isoformat(), "degree": 100}]
        if length > 30:
            periods.append(
                {
                    "start": (half + timedelta(days=1)).isoformat(),
                    "end": (start + timedelta(days=length - 1)).isoformat(),
                    "degree": 50,
                }
            )
        at = datetime.combine(start, datetime.min.time(), SWEDISH_TIME).astimezone(UTC)
        to = (
            Addressee("fk", "forsakringskassan", FK),
            Addressee(f"emp-{n % EMPLOYERS}", "employer", employer_org(n)),
        )
        region = region_org(n)
        (consent,) = self.cert.consents  # the patient's own, naming the employer
        consent = consent.model_copy(
            update={
                "given_by": consent.given_by.model_copy(update={"value": pnr}),
                "organisations": [
                    consent.organisations[0].model_copy(update={"value": employer_org(n)})
                ],
            }
        )
        out = [
            replace(
                self.cert,
                key=f"certificate:c-{n}",
                document_id=f"c-{n}",
                patient=pnr,
                message_id=f"c-{n}",
                sender_org=region,
                owners=(region,),
                received_at=at,
                recipients=to,
                consents=(consent,),
                facts={**self.cert.facts, "periods": periods},
            )
        ]
        if n % 4 == 0:
            out.append(
                replace(
                    self.plan,
                    key=f"return-to-work-plan:{employer_org(n)}:p-{n}",
                    document_id=f"p-{n}",
                    patient=pnr,
                    message_id=f"p-{n}",
                    sender_org=employer_org(n),
                    owners=(employer_org(n),),
                    received_at=at + timedelta(days=25),
                    recipients=to[:1],
                    facts={
                        **self.plan.facts,
                        "first_day": start.isoformat(),
                        "employer": {"org": employer_org(n), "name": "AB"},
                    },
                )
            )
        if n % 10 == 0:
            out.append(
                replace(
                    self.s4,
                    key=f"section4-notification:n-{n}",
                    document_id=f"n-{n}",
                    patient=pnr,
                    message_id=f"n-{n}",
                    sender_org=region,
                    owners=(region,),
                    received_at=at + timedelta(days=5),
                    recipients=to[:1],
                )
            )
        if n % 20 == 0:
            out.append(
                replace(
                    self.sip,
                    key=f"sip:s-{n}",
                    document_id=f"s-{n}",
                    patient=pnr,
                    message_id=f"s-{n}",
                    sender_org=region,
                    owners=(region,),
                    received_at=at + timedelta(days=10),
                    recipients=to[:1],
                )
            )
        return out


def new_message(e: Entry) -> NewMessage:
    d = NewDelivery(f"{e.message_id}-d", "fk", DeliveryMode.PUSH, "xml", "application/xml", b"<x/>")
    audit = (
        AuditEntry(e.received_at, e.sender, "received", e.message_id),
        AuditEntry(e.received_at, e.sender, "validated", e.message_id),
    )
    return NewMessage(
        e.message_id,
        e.sender,
        str(e.kind),
        e.message_id,
        e.received_at,
        b"{}",
        (d,),
        audit,
        index=e,
    )


async def populate(store: Store, patients: int) -> float:
    """Through ``Store.accept``, each batch's deadlines recomputed after it as the server's
    drain would."""
    t = Templates()
    index = plan_index_for(store)
    t0 = time.perf_counter()
    batch: list[NewMessage] = []
    for n in range(patients):
        batch += [new_message(e) for e in t.entries(n)]
        if len(batch) >= 500:
            await store.accept(batch)
            await index.drain()
            batch = []
    if batch:
        await store.accept(batch)
        await index.drain()
    return time.perf_counter() - t0


def config() -> Config:
    return parse(
        {
            "senders": [
                {
                    "id": "region-ehr",
                    "token": "t",
                    "role": "region",
                    "organisation": region_org(0),
                    "kinds": ["certificate"],
                    "recipients": ["fk", "acme"],
                }
            ],
            "recipients": [
                {
                    "id": "fk",
                    "role": "forsakringskassan",
                    "organisation": FK,
                    "format": "xml",
                    "push": {"kind": "rivta-soap", "url": "https://fk.example/soap"},
                },
                {
                    "id": "acme",
                    "role": "employer",
                    "organisation": employer_org(0),
                    "format": "fhir-json",
                    "pull": True,
                    "token": "e",
                },
            ],
        }
    )


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def queries(store: Store, patients: int) -> list[str]:
    index = plan_index_for(store)
    rng = random.Random(1)
    lines = []
    times = []
    for _ in range(300):
        n = rng.randrange(patients)
        actor = Actor("region-ehr", Recipient.REGION, region_org(n))
        t0 = time.perf_counter()
        view = await patient_view(
            index, store, actor, person(n), at=T0 + timedelta(days=200), via="bench"
        )
        times.append((time.perf_counter() - t0) * 1000)
        assert view.entries, n
    lines.append(
        row(
            "index query, one patient (audited)",
            f"{statistics.median(times):.2f} ms",
            f"p99 {pct(times, 0.99):.2f} ms",
            "<= 20",
        )
    )
    reads = []
    for _ in range(300):  # the same without its audit record (the write an access log costs)
        n = rng.randrange(patients)
        t0 = time.perf_counter()
        await index.patient(person(n))
        reads.append((time.perf_counter() - t0) * 1000)
    lines.append(
        row(
            "  of which the read alone",
            f"{statistics.median(reads):.2f} ms",
            f"p99 {pct(reads, 0.99):.2f} ms",
            "",
        )
    )
    on = T0 + timedelta(days=120)
    for name, actor in (
        (
            f"deadlines, one employer (~{patients // EMPLOYERS} patients)",
            Actor("emp", Recipient.EMPLOYER, employer_org(7)),
        ),
        (
            f"deadlines, one region (~{patients // REGIONS} patients)",
            Actor("reg", Recipient.REGION, region_org(7)),
        ),
        (
            f"deadlines, Försäkringskassan ({patients} patients)",
            Actor("fk", Recipient.FORSAKRINGSKASSAN, FK),
        ),
    ):
        times = []
        found = 0
        await actor_deadlines(
            index, store, actor, actor, at=on, within=30, limit=100, via="bench"
        )  # warm: the actor's policy and views, loaded once
        for _ in range(20):
            t0 = time.perf_counter()
            got = await actor_deadlines(
                index, store, actor, actor, at=on, within=30, limit=100, via="bench"
            )
            times.append((time.perf_counter() - t0) * 1000)
            found = len(got)
        lines.append(
            row(
                f"{name}: {found}",
                f"{statistics.median(times):.1f} ms",
                f"p99 {pct(times, 0.99):.1f} ms",
                "<= 200",
            )
        )
    return lines


async def accept_cost(store: Store, patients: int, count: int) -> list[str]:
    """Router + store per message, with the index and with it switched off, interleaved."""
    cfg = config()
    sender = cfg.senders[0]
    docs = []
    rng = random.Random(2)
    for k in range(count):
        n = rng.randrange(patients)
        c = certificate(f"bench-{k}", [(date(2025, 3, 1), date(2025, 4, 30), 100)])
        c = c.model_copy(
            update={
                "patient": c.patient.model_copy(
                    update={"id": c.patient.id.model_copy(update={"value": person(n)})}
                )
            }
        )
        consent = employer_consent()
        consent = consent.model_copy(  # the patient's, naming the configured employer
            update={
                "given_by": c.patient.id,
                "organisations": [
                    consent.organisations[0].model_copy(update={"value": employer_org(0)})
                ],
            }
        )
        docs.append(
            certificate_message(
                c,
                ["forsakringskassan", "employer"],
                message_id=f"bench-{k}",
                envelope_consent=consent,
            )
        )
    real = router.index_entry
    index = plan_index_for(store)
    results: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    drain_wall: list[float] = []
    drain_cpu: list[float] = []
    batch = 16
    for start in range(0, count, batch * 2):
        for indexed in (False, True) if (start // (batch * 2)) % 2 else (True, False):
            chunk = (
                docs[start : start + batch] if indexed else docs[start + batch : start + 2 * batch]
            )
            if not chunk:
                continue
            router.index_entry = real if indexed else (lambda *a, **k: None)  # type: ignore[assignment]
            w0, c0 = time.perf_counter(), time.process_time()
            msgs = []
            for data in chunk:
                got = router.receive(
                    data,
                    content_type="application/fhir+json",
                    sender=sender,
                    config=cfg,
                    now=datetime.now(UTC),
                )
                assert isinstance(got, router.Accepted), got
                msgs.append(got.message)
            await store.accept(msgs)
            results[indexed].append((time.perf_counter() - w0) * 1000 / len(chunk))
            cpu[indexed].append((time.process_time() - c0) * 1000 / len(chunk))
            if indexed:  # the follow-up transaction: the batch's patients' deadlines
                w0, c0 = time.perf_counter(), time.process_time()
                assert await index.drain() == len({m.index.patient for m in msgs if m.index})
                drain_wall.append((time.perf_counter() - w0) * 1000 / len(chunk))
                drain_cpu.append((time.process_time() - c0) * 1000 / len(chunk))
    router.index_entry = real
    on, off = statistics.median(results[True]), statistics.median(results[False])
    con, coff = statistics.median(cpu[True]), statistics.median(cpu[False])
    dw, dc = statistics.median(drain_wall), statistics.median(drain_cpu)
    return [
        row("accept (router + store), index off", f"{off:.2f} ms/msg", f"cpu {coff:.2f} ms", ""),
        row(
            "accept (router + store), index on",
            f"{on:.2f} ms/msg",
            f"cpu {con:.2f} ms",
            f"{on / off:.2f}x, cpu +{(con / coff - 1) * 100:.0f} %",
        ),
        row(
            "  then the deadline drain (batch of 16)",
            f"{dw:.2f} ms/msg",
            f"cpu {dc:.2f} ms",
            "",
        ),
        row(
            "  accept + drain",
            f"{on + dw:.2f} ms/msg",
            f"cpu {con + dc:.2f} ms",
            f"{(on + dw) / off:.2f}x, cpu +{((con + dc) / coff - 1) * 100:.0f} %",
        ),
    ]


async def bench(name: str, url: str, patients: int, accepts: int) -> None:
    store = store_for(url)
    await store.open()
    try:
        took = await populate(store, patients)
        print(
            f"\n{name}: {patients} patients indexed in {took:.0f} s "
            f"({patients / took:.0f} patients/s through Store.accept)"
        )
        print(row("", "median", "p99 / cpu", "target"))
        for line in await queries(store, patients):
            print(line)
        for line in await accept_cost(store, patients, accepts):
            print(line)
    finally:
        await store.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patients", type=int, default=100_000)
    p.add_argument("--accepts", type=int, default=1024)
    p.add_argument("--stores", default="sqlite,postgresql")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    stores = args.stores.split(",")
    if "sqlite" in stores:
        with tempfile.TemporaryDirectory() as tmp:
            await bench("SQLite", f"sqlite:///{tmp}/bench.db", args.patients, args.accepts)
    if "postgresql" in stores:
        schema = f"gw_bench_{os.getpid()}_{secrets.token_hex(3)}"
        try:
            await bench(
                "PostgreSQL", f"{SERVER}?schema={schema}&pool_max=8", args.patients, args.accepts
            )
        finally:
            conn = await asyncpg.connect(SERVER)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
