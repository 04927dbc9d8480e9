"""What the exchange tests share: a config, messages built from the fixtures, a fake
transport, a server on loopback port 0 and a client for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import PROJECT_ROOT
from gateway.documents import Certificate
from gateway.documents.common import (
    Consent,
    ConsentMethod,
    ConsentScope,
    ConsentStatus,
    DocumentKind,
    Identifier,
    Recipient,
)
from gateway.documents.consent import purpose_code
from gateway.exchange.config import Config, parse
from gateway.exchange.store.base import Store
from gateway.exchange.transport import Answer, Parcel, Verdict
from gateway.formats.fhir.codec import FhirJsonCodec
from gateway.formats.fhir.consent import write_consent
from gateway.formats.fhir.envelope import wrap_message
from gateway.validation.service import validate_bytes

T = TypeVar("T")
#: The ``new_store`` fixture (conftest.py): a factory of unopened stores on one database.
NewStore = Callable[[], Store]
FIXTURES = PROJECT_ROOT / "fixtures"
FK7804_XML = FIXTURES / "certificate" / "fk7804-valid.xml"
AG7804_XML = FIXTURES / "certificate" / "ag7804-valid-diagnosis-shared.xml"
SECTION4_XML = FIXTURES / "section4-notification" / "valid-refers-to-certificate.xml"
SECTION4 = FIXTURES / "section4-notification" / "fhir-message-valid-refers-to-certificate.fhir.json"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
AUTH_REGION = {"Authorization": "Bearer region-token"}
AUTH_EMPLOYER = {"Authorization": "Bearer employer-token"}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def config_data(**delivery: Any) -> dict[str, Any]:
    return {
        "server": {"max_body_bytes": 200_000},
        "delivery": {
            "lease_seconds": 30,
            "initial_backoff_seconds": 1,
            "max_backoff_seconds": 60,
            "max_attempts": 4,
            **delivery,
        },
        "senders": [
            {
                "id": "region-vg",
                "token": "region-token",
                "identity": "SE2321000131-E000000000001",
                "kinds": ["certificate", "section4-notification", "sip"],
                "recipients": ["acme", "fk", "pull-employer"],
            },
            {
                "id": "kommun",
                "token": "kommun-token",
                "kinds": ["sip"],
                "recipients": ["acme"],
            },
        ],
        "recipients": [
            {
                "id": "acme",
                "role": "employer",
                "organisation": "5561234567",
                "format": "fhir-json",
                "push": {"kind": "fhir", "url": "https://acme.example/fhir"},
            },
            {
                "id": "fk",
                "role": "forsakringskassan",
                "organisation": "2021005521",
                "format": "xml",
                "push": {"kind": "rivta-soap", "url": "https://fk.example/soap"},
            },
            {
                "id": "pull-employer",
                "role": "occupational-health",
                "organisation": "5569999999",
                "format": "fhir-json",
                "pull": True,
                "token": "employer-token",
            },
        ],
    }


def make_config(**delivery: Any) -> Config:
    return parse(config_data(**delivery))


class FakeTransport:
    """Answers from a script (then DELIVERED); keeps every parcel it was handed."""

    def __init__(self, answers: list[Answer] | None = None) -> None:
        self.answers = list(answers or [])
        self.parcels: list[Parcel] = []
        self.closed = False
        self.gate: asyncio.Event | None = None  # when set, attempts wait for it

    async def deliver(self, parcel: Parcel) -> Answer:
        self.parcels.append(parcel)
        if self.gate is not None:
            await self.gate.wait()
        if self.answers:
            return self.answers.pop(0)
        return Answer(Verdict.DELIVERED, "200 OK")

    async def close(self) -> None:
        self.closed = True

    @property
    def delivery_ids(self) -> list[str]:
        return [p.delivery_id for p in self.parcels]


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def certificate_message(
    path: Path = AG7804_XML,
    audiences: tuple[str, ...] = ("employer", "forsakringskassan"),
    *,
    message_id: str | None = None,
    consent_id: str | None = "samtycke-1",
    covers: tuple[str, ...] = ("employer",),
) -> bytes:
    """A FHIR message carrying the certificate at ``path`` and (unless ``consent_id`` is
    None) the patient's consent for the audiences in ``covers``, as the envelope's Consent
    entry."""
    doc = validate_bytes(path.read_bytes()).document
    assert isinstance(doc, Certificate)
    tree = FhirJsonCodec().to_tree(doc)
    msg = wrap_message(
        tree, "certificate", "SE2321000131-E000000000001", audiences, message_id=message_id
    )
    if consent_id is not None:
        consent = Consent(
            id=consent_id,
            status=ConsentStatus.ACTIVE,
            scope=ConsentScope(kind=DocumentKind.CERTIFICATE),
            given_by=doc.patient.id,
            given_at=datetime(2025, 1, 1, tzinfo=UTC),
            method=ConsentMethod.WRITTEN,
            recipients=[Recipient(c) for c in covers],
            purposes=[purpose_code("rehabilitation")],
            # consent is to a named recipient: an employer by its organisation (acme's)
            organisations=[Identifier(system="urn:oid:2.5.4.97", value="5561234567")]
            if "employer" in covers
            else [],
            recorded_by=Identifier(system="urn:oid:1.2.752.129.2.1.4.1", value="SE2321000131-P1"),
        )
        patient_url = tree["entry"][1]["fullUrl"] if "entry" in tree else "urn:uuid:p"
        msg["entry"].append(
            {
                "fullUrl": f"urn:uuid:consent-{consent_id}",
                "resource": write_consent(consent, patient_url),
            }
        )
    return orjson.dumps(msg)


@asynccontextmanager
async def serving(
    config: Config,
    store: Store,
    transports: dict[str, FakeTransport] | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    run_outbox: bool = False,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The gateway app on 127.0.0.1 port 0 with a client; the outbox is driven by the test
    (``client.app[OUTBOX].run_once()``) unless ``run_outbox``."""
    from gateway.exchange.server.app import create_app

    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    app = create_app(
        config,
        store=store,
        transports=dict(transports or {}),
        run_outbox=run_outbox,
        worker_name="test",
        **kwargs,
    )
    client = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait for a condition by polling the store (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
