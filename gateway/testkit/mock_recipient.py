"""A recipient endpoint for tests, the demo and integrators: a FHIR push endpoint and a RIVTA
SOAP endpoint answering like Försäkringskassan's RegisterCertificate v3 and
SendMessageToRecipient v2 responders.

It records what it received, once per delivery (Idempotent Receiver: a repeated
``Idempotency-Key`` gets the first answer again; RegisterCertificate answers ``INFO``
"Certificate already exists" for a certificate id it has, as intygstjänsten does), can fail
the first N attempts of each delivery (HTTP 503 / RIVTA ``TECHNICAL_ERROR``) or answer every
attempt with a given result, and shows what it received: ``GET /received`` lists receipts
(ids, sizes, hashes, answers; no content), ``GET /received/{n}`` returns one receipt's bytes.
A log line per receipt carries ids and sizes only, never patient data.

Endpoints: ``POST /fhir``, ``POST /rivta``, ``GET /received``, ``GET /received/{n}``,
``GET /health``.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import orjson
from aiohttp import web
from lxml import etree

from gateway.exchange.transports.http import IDEMPOTENCY_HEADER
from gateway.exchange.transports.soap import (
    CONTENT_TYPE as SOAP_CONTENT_TYPE,
)
from gateway.exchange.transports.soap import (
    REGISTER_CERTIFICATE_V3,
    ErrorId,
    Fault,
    Request,
    Result,
    ResultCode,
    fault,
    read_request,
    response,
)
from gateway.formats.rivta.namespaces import (
    CORE,
    REGISTER_CERTIFICATE,
    SEND_MESSAGE_TO_RECIPIENT,
    T_EXTENSION,
)

#: What ``--answer`` takes: a RIVTA result, a SOAP fault, or an HTTP status (e.g. ``422``).
ANSWERS: Final = ("OK", "INFO", *ErrorId.__members__, "FAULT")
#: The FHIR endpoint's status for each RIVTA-style answer.
_FHIR_STATUS: Final = {
    "OK": 201,
    "INFO": 200,
    "VALIDATION_ERROR": 422,
    "APPLICATION_ERROR": 409,
    "REVOKED": 410,
    "TECHNICAL_ERROR": 503,
    "FAULT": 500,
}
MAX_REQUEST: Final = 10 * 1024 * 1024

_INTYG = f"{{{REGISTER_CERTIFICATE}}}intyg"
_CERT_ID = (_INTYG, f"{{{CORE}}}intygs-id", T_EXTENSION)
_CERT_PATIENT = (_INTYG, f"{{{CORE}}}patient", f"{{{CORE}}}person-id", T_EXTENSION)
_MESSAGE_ID = (f"{{{SEND_MESSAGE_TO_RECIPIENT}}}meddelande-id",)
_MESSAGE_CERT = (f"{{{SEND_MESSAGE_TO_RECIPIENT}}}intygs-id", T_EXTENSION)
_MESSAGE_PATIENT = (f"{{{SEND_MESSAGE_TO_RECIPIENT}}}patientPerson-id", T_EXTENSION)


def check_answer(value: str) -> str:
    """``value`` as an ``--answer``: one of :data:`ANSWERS` or a status 200-599."""
    upper = value.strip().upper()
    if upper in ANSWERS or (upper.isdigit() and 200 <= int(upper) <= 599):
        return upper
    raise ValueError(f"answer {value!r}: use one of {', '.join(ANSWERS)} or an HTTP status")


@dataclass(frozen=True, slots=True)
class Receipt:
    """One delivery the recipient took in (its first successful attempt)."""

    seq: int
    endpoint: str  # "fhir" or "rivta"
    key: str  # what duplicates are recognised by: delivery id, certificate id, message id
    delivery_id: str | None
    interaction: str | None
    logical_address: str | None
    media_type: str
    payload: bytes = field(repr=False)
    at: datetime
    answer: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()

    def summary(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "endpoint": self.endpoint,
            "key": self.key,
            "delivery_id": self.delivery_id,
            "interaction": self.interaction,
            "logical_address": self.logical_address,
            "media_type": self.media_type,
            "size": len(self.payload),
            "sha256": self.sha256,
            "at": self.at.isoformat(),
            "answer": self.answer,
        }


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=self.body,
            headers={"Content-Type": self.content_type, **self.headers},
        )


class MockRecipient:
    def __init__(
        self,
        role: str = "employer",
        *,
        fail_first: int = 0,
        answer: str = "OK",
        require_certificate: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """``require_certificate``: SendMessageToRecipient only for a certificate this
        recipient took in by RegisterCertificate, for the same patient, as intygstjänsten
        checks (``ERROR APPLICATION_ERROR`` "Intyg does not exist" otherwise)."""
        self.role = role
        self.fail_first = fail_first
        self.answer = check_answer(answer)
        self.require_certificate = require_certificate
        self.received: list[Receipt] = []
        #: Every attempt, by key (delivery id / certificate id / message id), with its answer.
        self.attempts: dict[str, list[str]] = {}
        self._ssl = ssl_context
        self._log = log
        self._first_reply: dict[str, _Reply] = {}  # FHIR: key -> the answer it got
        self._rivta_keys: set[str] = set()  # certificate and message ids it has
        self._patients: dict[str, str | None] = {}  # certificate id -> its patient's id
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- running -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST)
        app.router.add_post("/fhir", self._fhir)
        app.router.add_post("/rivta", self._rivta)
        app.router.add_get("/received", self._list)
        app.router.add_get("/received/{seq:\\d+}", self._one)
        app.router.add_get("/health", self._health)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port); returns the base URL."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self._ssl)
        await site.start()
        bound = self._runner.addresses[0][1]  # the port the system gave for 0
        scheme = "https" if self._ssl is not None else "http"
        self.url = f"{scheme}://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def fhir_url(self) -> str:
        return f"{self.url}/fhir"

    @property
    def rivta_url(self) -> str:
        return f"{self.url}/rivta"

    # -- the endpoints --------------------------------------------------------------------

    def _attempt(self, key: str) -> int:
        return len(self.attempts.setdefault(key, [])) + 1

    def _planned(self, key: str) -> str:
        """This attempt's answer: a failure while within ``fail_first``, else ``answer``."""
        return "TECHNICAL_ERROR" if self._attempt(key) <= self.fail_first else self.answer

    def _record(
        self,
        endpoint: str,
        key: str,
        delivery_id: str | None,
        media_type: str,
        payload: bytes,
        answer: str,
        *,
        interaction: str | None = None,
        logical_address: str | None = None,
    ) -> None:
        receipt = Receipt(
            len(self.received) + 1,
            endpoint,
            key,
            delivery_id,
            interaction,
            logical_address,
            media_type,
            payload,
            datetime.now(UTC),
            answer,
        )
        self.received.append(receipt)
        if endpoint == "rivta":
            self._rivta_keys.add(key)
        if self._log is not None:
            what = interaction or media_type
            self._log(
                f"mock {self.role}: received #{receipt.seq} {endpoint} {what} key={key} "
                f"{len(payload)} bytes sha256={receipt.sha256[:12]} -> {answer}"
            )

    async def _fhir(self, request: web.Request) -> web.Response:
        body = await request.read()
        delivery_id = request.headers.get(IDEMPOTENCY_HEADER)
        key = delivery_id or "sha256:" + hashlib.sha256(body).hexdigest()
        first = self._first_reply.get(key)
        if first is not None:  # a repeat: the first answer again, nothing recorded
            self.attempts.setdefault(key, []).append(f"{first.status} (repeat)")
            return first.response()
        planned = self._planned(key)
        reply = _fhir_reply(planned)
        self.attempts.setdefault(key, []).append(str(reply.status))
        if 200 <= reply.status < 300:
            self._first_reply[key] = reply
            media_type = request.headers.get("Content-Type", "application/octet-stream")
            self._record("fhir", key, delivery_id, media_type, body, str(reply.status))
        return reply.response()

    async def _rivta(self, request: web.Request) -> web.Response:
        body = await request.read()
        read = read_request(body)
        if isinstance(read, Fault):
            return _soap(500, fault(read.code, read.text))
        if read.logical_address is None:
            return _soap(500, fault("soap:Client", "no LogicalAddress in the SOAP header"))
        key = _rivta_key(read)
        if key is None:
            result = Result(ResultCode.ERROR, ErrorId.VALIDATION_ERROR, "the request carries no id")
            return _soap(200, response(read.interaction, result))
        planned = self._planned(key)
        attempts = self.attempts.setdefault(key, [])
        if planned == "OK" and self.require_certificate and not self._has_certificate(read):
            attempts.append("APPLICATION_ERROR")
            missing = Result(ResultCode.ERROR, ErrorId.APPLICATION_ERROR, "Intyg does not exist")
            return _soap(200, response(read.interaction, missing))
        if planned == "FAULT":
            attempts.append("FAULT")
            return _soap(500, fault("soap:Server", "the service is unavailable"))
        if planned.isdigit():
            attempts.append(planned)
            return web.Response(status=int(planned), text="mock answer")
        if planned == "OK" and key in self._rivta_keys:
            # intygstjänsten: a certificate it has is INFO "Certificate already exists";
            # a message id it has is taken in once and answered OK again
            planned = "INFO" if read.interaction is REGISTER_CERTIFICATE_V3 else "OK"
            attempts.append(f"{planned} (repeat)")
            return _soap(200, response(read.interaction, _result(planned)))
        attempts.append(planned)
        if planned in ("OK", "INFO") and read.interaction is REGISTER_CERTIFICATE_V3:
            self._patients[key] = _text_at(read.element, _CERT_PATIENT)
        if planned in ("OK", "INFO"):
            self._record(
                "rivta",
                key,
                request.headers.get(IDEMPOTENCY_HEADER),
                SOAP_CONTENT_TYPE,
                body,
                planned,
                interaction=read.interaction.name,
                logical_address=read.logical_address,
            )
        return _soap(200, response(read.interaction, _result(planned)))

    def _has_certificate(self, read: Request) -> bool:
        """RegisterCertificate needs nothing; SendMessageToRecipient a certificate it holds,
        of the same patient."""
        if read.interaction is REGISTER_CERTIFICATE_V3:
            return True
        certificate = _text_at(read.element, _MESSAGE_CERT)
        if certificate is None or certificate not in self._patients:
            return False
        return self._patients[certificate] == _text_at(read.element, _MESSAGE_PATIENT)

    async def _list(self, request: web.Request) -> web.Response:
        listing = {"role": self.role, "received": [r.summary() for r in self.received]}
        return web.Response(body=orjson.dumps(listing), content_type="application/json")

    async def _one(self, request: web.Request) -> web.Response:
        seq = int(request.match_info["seq"])
        if not 1 <= seq <= len(self.received):
            raise web.HTTPNotFound(text=f"no receipt #{seq}")
        r = self.received[seq - 1]
        return web.Response(body=r.payload, headers={"Content-Type": r.media_type})

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")


def _text_at(element: etree._Element, path: tuple[str, ...]) -> str | None:
    node: etree._Element | None = element
    for tag in path:
        node = node.find(tag) if node is not None else None
    text = node.text if node is not None else None
    return text.strip() if text and text.strip() else None


def _rivta_key(request: Request) -> str | None:
    """Certificate id (RegisterCertificate) or message id (SendMessageToRecipient)."""
    path = _CERT_ID if request.interaction is REGISTER_CERTIFICATE_V3 else _MESSAGE_ID
    return _text_at(request.element, path)


def _result(planned: str) -> Result:
    if planned == "OK":
        return Result(ResultCode.OK)
    if planned == "INFO":
        return Result(ResultCode.INFO, None, "Certificate already exists")
    texts = {
        "VALIDATION_ERROR": "the request is not valid (mock answer)",
        "APPLICATION_ERROR": "the request cannot be carried out (mock answer)",
        "TECHNICAL_ERROR": "temporarily unavailable (mock answer)",
        "REVOKED": "the certificate is revoked (mock answer)",
    }
    return Result(ResultCode.ERROR, ErrorId(planned), texts[planned])


def _fhir_reply(planned: str) -> _Reply:
    status = int(planned) if planned.isdigit() else _FHIR_STATUS[planned]
    if status == 503:
        return _Reply(503, b"", "text/plain", {"Retry-After": "0"})
    if 200 <= status < 300:
        outcome = {"resourceType": "OperationOutcome", "issue": [
            {"severity": "information", "code": "informational", "diagnostics": "received"}
        ]}  # fmt: skip
    else:
        outcome = {"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "processing", "diagnostics": f"{planned} (mock answer)"}
        ]}  # fmt: skip
    return _Reply(status, orjson.dumps(outcome), "application/fhir+json")


def _soap(status: int, body: bytes) -> web.Response:
    return web.Response(status=status, body=body, headers={"Content-Type": SOAP_CONTENT_TYPE})
