"""The whole exchange on loopback, in one process: the gateway (embedded SQLite in a
directory, or a PostgreSQL URL) behind HTTPS with mutual TLS, and a mock recipient per
configured recipient, each HTTPS requiring the gateway's client certificate. Everything
binds 127.0.0.1 port 0 and uses a throwaway trustme PKI. ``gateway demo`` and the
end-to-end tests run on it.

Topology (:func:`config_data`):

=================  ====================  ===========  ==============================
recipient id       role                  format       endpoint
=================  ====================  ===========  ==============================
``fk``             forsakringskassan     xml          RIVTA SOAP (RegisterCertificate,
                                                      SendMessageToRecipient)
``acme``           employer              fhir-json    FHIR push
``region-skane``   region                fhir-json    FHIR push
``malmo``          municipality          fhir-json    FHIR push
``af``             arbetsformedlingen    fhir-json    FHIR push
=================  ====================  ===========  ==============================

``fk-plans`` (forsakringskassan, fhir-json) is Försäkringskassan's inbox for what its RIVTA
endpoint has no contract for (an employer's return-to-work plan): always pulled.

A recipient named in ``loopback(pull=...)`` runs no server: it is configured ``pull = true``
and fetches ``GET /inbox`` over mutual TLS with its own client certificate (commonName
``<id>-inbox``, :attr:`Loopback.inboxes`), like an HR system would; it has no mock.

Senders: ``region-ehr`` logs in with a SITHS-style client certificate (HSA-id
``SE2321000016-EHR1`` in serialNumber) and may send certificates, SIPs and §4 notifications
to everyone; ``hr-acme`` logs in with a bearer token and may send return-to-work plans to
Försäkringskassan (``fk-plans``) and the region; ``fk-case`` (Försäkringskassan's case
system) answers §4 notifications to the region; ``kommun`` (a municipality) sends SIPs. Each
acts for a role and an organisation (the plan index shows each what its role may see).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import trustme
from aiohttp import web

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
from gateway.exchange.tls import client_context, server_context
from gateway.testkit.mock_recipient import MockRecipient
from gateway.testkit.pki import Pem, issue_client, issue_server, write_ca

REGION_HSA_ID: Final = "SE2321000016-EHR1"
HR_TOKEN: Final = "dev-token-hr-acme"
#: Försäkringskassan's case system (it answers §4 notifications) and a municipality's social
#: services system, both bearer tokens; the organisations the actors act for (the plan index).
FK_TOKEN: Final = "dev-token-fk-case"
MUNICIPALITY_TOKEN: Final = "dev-token-kommun"
REGION_ORG: Final = "TSTNMT2321000156-REG1"
EMPLOYER_ORG: Final = "5561234567"
RECIPIENTS: Final = {
    "fk": ("forsakringskassan", "2021005521", "xml", "rivta-soap"),
    "acme": ("employer", EMPLOYER_ORG, "fhir-json", "fhir"),
    "region-skane": ("region", "2321000255", "fhir-json", "fhir"),
    "malmo": ("municipality", "2120001124", "fhir-json", "fhir"),
    "af": ("arbetsformedlingen", "2021005646", "fhir-json", "fhir"),
}
#: Försäkringskassan's inbox for what has no RIVTA contract (an employer's return-to-work
#: plan, which Försäkringskassan may ask for): its case system pulls it (``GET /inbox``).
FK_PLANS: Final = "fk-plans"
#: Fast retries on loopback: the demo and tests see backoff happen within a second.
DELIVERY: Final = {
    "initial_backoff_seconds": 0.05,
    "max_backoff_seconds": 0.5,
    "max_attempts": 5,
    "poll_seconds": 0.05,
    "lease_seconds": 15,  # longer than a push timeout (10 s) and a margin
}
FINAL_STATES: Final = frozenset({"delivered", "dead", "refused"})


def config_data(
    directory: Path,
    urls: Mapping[str, str],
    database: str,
    tls: Mapping[str, Path],
    delivery: Mapping[str, Any] | None = None,
    pull: Collection[str] = (),
) -> dict[str, Any]:
    recipients: list[dict[str, Any]] = []
    for rid, (role, organisation, fmt, kind) in RECIPIENTS.items():
        recipient = {"id": rid, "role": role, "organisation": organisation, "format": fmt}
        if rid in pull:
            recipients.append({**recipient, "pull": True, "identity": inbox_identity(rid)})
            continue
        push: dict[str, Any] = {"kind": kind, "url": urls[rid]}
        if kind == "rivta-soap":
            push["logical_address"] = organisation
        recipients.append({**recipient, "push": push})
    fk_plans: dict[str, Any] = {"id": FK_PLANS, "role": "forsakringskassan"}
    fk_plans |= {"organisation": "2021005521", "format": "fhir-json", "pull": True}
    recipients.append({**fk_plans, "identity": inbox_identity(FK_PLANS)})
    return {
        "server": {
            "database": database,
            "tls": {
                "cert": str(tls["server_cert"]),
                "key": str(tls["server_key"]),
                "ca": str(tls["ca"]),
            },
        },
        "client_tls": {
            "cert": str(tls["client_cert"]),
            "key": str(tls["client_key"]),
            "ca": str(tls["ca"]),
        },
        "delivery": {**DELIVERY, **(delivery or {})},
        "senders": [
            {
                "id": "region-ehr",
                "identity": REGION_HSA_ID,
                "kinds": ["certificate", "section4-notification", "sip"],
                "recipients": list(RECIPIENTS),
                "role": "region",
                "organisation": REGION_ORG,
            },
            {
                "id": "hr-acme",
                "token": HR_TOKEN,
                "kinds": ["return-to-work-plan"],
                "recipients": [FK_PLANS, "region-skane"],
                "role": "employer",
                "organisation": EMPLOYER_ORG,
            },
            {
                "id": "fk-case",
                "token": FK_TOKEN,
                "kinds": ["section4-acknowledgement"],
                "recipients": ["region-skane"],
                "role": "forsakringskassan",
                "organisation": "2021005521",
            },
            {
                "id": "kommun",
                "token": MUNICIPALITY_TOKEN,
                "kinds": ["sip"],
                "recipients": ["region-skane", "fk"],
                "role": "municipality",
                "organisation": "2120001124",
            },
        ],
        "recipients": recipients,
        # the operator at the console (/console/), logging in with a client certificate
        "users": [{"id": "operator", "role": "operator", "identity": OPERATOR_IDENTITY}],
    }


#: the commonName of the demo operator's client certificate
OPERATOR_IDENTITY: Final = "demo-operator"


def inbox_identity(recipient_id: str) -> str:
    """The commonName of a pull recipient's client certificate (its configured identity)."""
    return f"{recipient_id}-inbox"


@dataclass
class Loopback:
    """A running exchange: ``url`` is the gateway's, ``mocks`` the recipients' by id."""

    directory: Path
    url: str
    mocks: dict[str, MockRecipient]
    app: web.Application
    ca: trustme.CA
    region: Pem  # the region's client certificate (HSA-id in serialNumber)
    inboxes: dict[str, Pem] = field(default_factory=dict)  # pull recipients' certificates
    operator: Pem | None = None  # the console operator's certificate
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    def context(self, client: Pem | None = None) -> ssl.SSLContext:
        """A client context trusting the loopback CA, presenting ``client`` if given."""
        if client is None:
            return client_context([self.ca.cert_pem.bytes()])
        return client_context([self.ca.cert_pem.bytes()], cert_chain=client.cert, key=client.key)

    def session(self, client: Pem | None = None) -> aiohttp.ClientSession:
        """An HTTP client for the gateway (closed with the loopback)."""
        s = aiohttp.ClientSession(
            base_url=self.url,
            connector=aiohttp.TCPConnector(ssl=self.context(client)),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        self.sessions.append(s)
        return s

    def stranger(self) -> Pem:
        """A client certificate from another CA, with the region's HSA-id."""
        return issue_client(
            trustme.CA(), self.directory, "stranger", serial_numbers=(REGION_HSA_ID,)
        )

    async def settled(
        self,
        session: aiohttp.ClientSession,
        message_id: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """The message's status once every delivery is final (delivered, dead, refused),
        polled until then or ``timeout``; the last status either way. Ask as its sender
        (``session`` and ``headers``): another sender is told the message does not exist."""
        deadline = time.monotonic() + timeout
        while True:
            async with session.get(f"/messages/{message_id}", headers=headers) as resp:
                status: dict[str, Any] = await resp.json()
            states = {r["state"] for r in status.get("recipients", [])}
            if (states and states <= FINAL_STATES) or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.05)


@asynccontextmanager
async def loopback(
    directory: Path,
    *,
    database: str | None = None,
    mocks: Mapping[str, Mapping[str, Any]] | None = None,
    delivery: Mapping[str, Any] | None = None,
    log: Any = None,
    pull: Collection[str] = (),
) -> AsyncIterator[Loopback]:
    """Start the exchange under ``directory`` (certificates, and the SQLite database unless
    ``database`` names one); ``mocks`` gives a recipient's mock its ``fail_first`` /
    ``answer``; the recipients in ``pull`` fetch their inbox instead of running a mock.
    Everything is stopped on exit."""
    from gateway.exchange.config import parse
    from gateway.exchange.server.app import create_app
    from gateway.exchange.server.serve import server_ssl_context

    ca = trustme.CA()
    ca_path = write_ca(ca, directory)
    server = issue_server(ca, directory, "gateway-server")
    push_client = issue_client(ca, directory, "gateway-client", common_names=("gateway",))
    region = issue_client(
        ca, directory, "region-ehr", serial_numbers=(REGION_HSA_ID,), common_names=("ehr",)
    )
    inboxes = {
        rid: issue_client(ca, directory, f"{rid}-inbox", common_names=(inbox_identity(rid),))
        for rid in (*(r for r in RECIPIENTS if r in pull), FK_PLANS)
    }
    operator = issue_client(ca, directory, "operator", common_names=(OPERATOR_IDENTITY,))
    recipient_server = issue_server(ca, directory, "recipients")
    recipient_tls = server_context(recipient_server.cert, recipient_server.key, [ca_path])
    started: dict[str, MockRecipient] = {}
    runner: web.AppRunner | None = None
    lb: Loopback | None = None
    try:
        for rid, (role, *_rest) in RECIPIENTS.items():
            if rid in pull:
                continue
            mock = MockRecipient(
                role, ssl_context=recipient_tls, log=log, **(mocks or {}).get(rid, {})
            )
            await mock.start()
            started[rid] = mock
        urls = {
            rid: m.rivta_url if RECIPIENTS[rid][3] == "rivta-soap" else m.fhir_url
            for rid, m in started.items()
        }
        tls = {
            "ca": ca_path,
            "server_cert": server.cert,
            "server_key": server.key,
            "client_cert": push_client.cert,
            "client_key": push_client.key,
        }
        db = database or f"sqlite:///{directory / 'gateway.db'}"
        config = parse(config_data(directory, urls, db, tls, delivery, pull), source="loopback")
        app = create_app(config, worker_name="loopback")
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(config))
        await site.start()
        port = runner.addresses[0][1]
        lb = Loopback(
            directory, f"https://127.0.0.1:{port}", started, app, ca, region, inboxes, operator
        )
        yield lb
    finally:
        if lb is not None:
            for s in lb.sessions:
                await s.close()
        if runner is not None:
            await runner.cleanup()
        for m in started.values():
            await m.stop()


# -- messages ---------------------------------------------------------------------------------


def certificate_message(
    data: bytes,
    audiences: tuple[str, ...],
    *,
    message_id: str | None = None,
    consent_id: str | None = "samtycke-arbetsgivare-1",
    source: str = REGION_HSA_ID,
    employer: str = RECIPIENTS["acme"][1],
) -> bytes:
    """A FHIR message carrying the certificate ``data`` (any format the gateway reads) to
    ``audiences``, with the patient's consent for the employer as the envelope's Consent
    entry (how a certificate, which has no place for one, travels to an employer). The
    consent names the employer by organisation number (``employer``: Acme's by default):
    consent is to a named recipient."""
    from gateway.formats.fhir.codec import FhirJsonCodec
    from gateway.formats.fhir.consent import write_consent
    from gateway.formats.fhir.envelope import wrap_message
    from gateway.validation.service import validate_bytes

    document = validate_bytes(data).document
    if document is None:
        raise ValueError("the certificate cannot be read")
    tree = FhirJsonCodec().to_tree(document)
    message = wrap_message(tree, "certificate", source, audiences, message_id=message_id)
    if consent_id is not None:
        consent = Consent(
            id=consent_id,
            status=ConsentStatus.ACTIVE,
            scope=ConsentScope(kind=DocumentKind.CERTIFICATE),
            given_by=document.patient.id,  # type: ignore[union-attr]
            given_at=datetime(2025, 1, 1, tzinfo=UTC),
            method=ConsentMethod.WRITTEN,
            recipients=[Recipient.EMPLOYER],
            purposes=[purpose_code("sick-pay")],
            # consent is to a named recipient: the employer by its organisation number
            organisations=[Identifier(system="2.5.4.97", value=employer)],
            recorded_by=Identifier(system="urn:oid:1.2.752.129.2.1.4.1", value="SE2321000016-P1"),
        )
        message["entry"].append(
            {
                "fullUrl": f"urn:uuid:consent-{consent_id}",
                "resource": write_consent(consent, tree["entry"][1]["fullUrl"]),
            }
        )
    return orjson.dumps(message)
