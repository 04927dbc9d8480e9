"""The HTTP API (docs/exchange/api.md, /openapi.json). Error answers carry every issue, as
``application/problem+json`` with our issue objects, or as an OperationOutcome for FHIR
senders; they never echo the document."""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

import orjson
from aiohttp import web

from gateway.documents import Recipient
from gateway.documents.issues import Issue, Severity, issue
from gateway.exchange.router import (
    CONSENT_USED,
    MEDIA_TYPES,
    NOT_PERMITTED,
    UNKNOWN_RECIPIENT,
    Accepted,
    Refusal,
    Rejection,
    media_family,
    receive,
)
from gateway.exchange.server import shapes
from gateway.exchange.server.app import (
    CLOCK,
    COMMITTER,
    CONFIG,
    LIVE,
    METRICS,
    OUTBOX,
    STORE,
    readiness,
)
from gateway.exchange.server.auth import Principal, retry_after
from gateway.exchange.server.metrics import CONTENT_TYPE as METRICS_TYPE
from gateway.exchange.server.metrics import kind_of, metrics_allowed, unavailable_reason
from gateway.exchange.server.openapi import (
    CALLER,
    LOCATION,
    OPEN,
    PULL_RECIPIENT,
    SENDER,
    STORE_UNAVAILABLE,
    Api,
    Link,
    Param,
    Reply,
    access_of,
    document_body,
    document_of,
    formats_schema,
    media_types_of,
)
from gateway.exchange.server.openapi import (
    problem as declared_problem,
)
from gateway.exchange.store.base import (
    AcceptStatus,
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    MessageStatus,
    StoreError,
)
from gateway.formats.base import Format
from gateway.validation.service import Validation

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The router's reasons for not accepting a message, as HTTP statuses (docs/exchange/api.md).
STATUS_FOR: dict[Refusal, int] = {
    Refusal.UNSUPPORTED: 415,
    Refusal.UNREADABLE: 400,
    Refusal.INVALID: 422,
    Refusal.FORBIDDEN: 403,
}
#: What a sender names beside the bytes (docs/exchange/api.md): read here, nowhere else.
RECIPIENTS_HEADER = "Gateway-Recipients"
MESSAGE_ID_HEADER = "Gateway-Message-Id"
PRINCIPAL = web.RequestKey("principal", Principal)
#: Every operation of the HTTP API, declared beside its handler (openapi.py; api.md).
API = Api()
#: How long a caller waits before sending again after a 503 (seconds).
RETRY_AFTER_SECONDS = 1
log = logging.getLogger("gateway.server")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _wants_fhir(request: web.Request) -> bool:
    ct = request.headers.get("Content-Type", "")
    accept = request.headers.get("Accept", "")
    return "fhir" in ct or "fhir" in accept


def problem(
    request: web.Request,
    status: int,
    title: str,
    issues: list[Issue],
    fhir: bool | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error answer with every issue: an OperationOutcome for FHIR senders."""
    if fhir if fhir is not None else _wants_fhir(request):
        from gateway.formats.fhir.outcome import operation_outcome

        outcome = operation_outcome(issues)
        if not issues:
            outcome["issue"] = [{"severity": "error", "code": "processing", "diagnostics": title}]
        return web.Response(
            body=orjson.dumps(outcome),
            status=status,
            content_type="application/fhir+json",
            headers=headers,
        )
    body: shapes.Problem = {"status": status, "title": title, "issues": _issues(issues)}
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/problem+json",
        headers=headers,
    )


_SEVERITY: dict[Severity, shapes.Severity] = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "information",
}


def _issues(issues: list[Issue]) -> list[shapes.IssueAnswer]:
    return [
        {
            "severity": _SEVERITY[i.severity],
            "code": i.code,
            "location": str(i.location),
            "message": i.message,
        }
        for i in issues
    ]


def unavailable(request: web.Request, title: str, fhir: bool | None = None) -> web.Response:
    """``503`` with ``Retry-After``: nothing was done, sending again is safe."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem(request, 503, title, [], fhir, headers=headers)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Nothing unauthenticated passes, except the operations declared open and the console
    (which authenticates its own callers); a caller over its rate limit gets 429 with
    Retry-After. Errors of the HTTP layer (no such path, method not allowed, too large) are
    answered as problems too."""
    if _console(request.path):
        return await handler(request)
    try:
        if access_of(request) == OPEN:
            return await handler(request)
        live = request.app[LIVE]
        principal = live.auth.authenticate(request)
        if principal is None:
            resp = problem(request, 401, "authentication required", [])
            resp.headers["WWW-Authenticate"] = 'Bearer realm="gateway"'
            return resp
        request[PRINCIPAL] = principal
        wait = live.limits.take(principal.id)
        if wait is not None:  # over its rate limit (config: rate_limit)
            request.app[METRICS].unavailable.labels("rate-limit").inc()
            headers = {"Retry-After": retry_after(wait)}
            return problem(request, 429, "too many requests; try again later", [], headers=headers)
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return problem(request, 413, "the message is too large", [])
    except StoreError as exc:  # down, or busy (the commit queue is full): a resend is safe
        reason = unavailable_reason(exc)
        request.app[METRICS].unavailable.labels(reason).inc()
        log.warning("answered 503: %s", reason, extra={"event": "unavailable", "reason": reason})
        return unavailable(request, "the store is unavailable; try again")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow",)}
        return problem(request, exc.status, exc.reason, [], headers=headers)


def _console(path: str) -> bool:
    """The console authenticates its own callers (a session; gateway/console/auth.py)."""
    return path == "/console" or path.startswith("/console/")


def _principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def _body(request: web.Request) -> bytes | web.Response:
    limit = request.app[CONFIG].server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return problem(request, 413, f"the message is larger than {limit} bytes", [])
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return problem(request, 413, f"the message is larger than {limit} bytes", [])


# -- messages ------------------------------------------------------------------------------

_MESSAGE_ID = "^[A-Za-z0-9._:-]{1,128}$"
_ID_PARAM = Param(
    "id",
    "path",
    {"type": "string", "pattern": _MESSAGE_ID},
    "the message id (Bundle.id of a FHIR message, Gateway-Message-Id, or the derived id)",
)
_TO_STATUS = Link(
    "GetMessageStatus",
    "getMessage",
    {"id": "$response.body#/message_id"},
    "the state per recipient of the message just accepted",
)
_TO_REDELIVER = Link(
    "RedeliverMessage",
    "redeliverMessage",
    {"id": "$response.body#/message_id"},
    "its dead letters back to the outbox",
)
#: What a receiving system does next with a document the gateway took (a dry run of the same
#: bytes: a document accepted is one these operations answer 200 for).
_TO_CONVERT = Link(
    "ConvertAccepted",
    "convertDocument",
    {"to": "fhir-json"},
    "the document just accepted, in FHIR JSON",
    request_body="$request.body",
)
_TO_REDACT = Link(
    "RedactAccepted",
    "redactDocument",
    {"for": "forsakringskassan"},
    "what Försäkringskassan receives of the document just accepted",
    request_body="$request.body",
)


@API.post(
    "/messages",
    "sendMessage",
    "Send a message",
    description="A FHIR message Bundle (routed on its MessageHeader), or a RIVTA / own-XML "
    "document or bare FHIR document routed by the header Gateway-Recipients. `202` once "
    "stored durably; the same id with the same content gets the first answer again, byte "
    "for byte. A policy refusal for one recipient does not stop the others.",
    access=SENDER,
    tags=["messages"],
    params=[
        Param(
            "Gateway-Recipients",
            "header",
            {"type": "string"},
            "recipient ids or audiences, comma-separated (required for anything but a FHIR "
            "message, whose audiences it narrows)",
            example="forsakringskassan",
        ),
        Param(
            "Gateway-Message-Id",
            "header",
            {"type": "string"},
            "the message id of a document that is not a FHIR message: 1-128 letters, digits, "
            "'.', '_', ':' or '-' (else 400 EXCHANGE-MESSAGE-ID); without it the id is derived "
            "from the sender and the content",
        ),
    ],
    body=document_body("the message or document, as its sender would give it to Inera"),
    replies=[
        Reply(
            202,
            "accepted and stored durably (or the first answer to this id and content again)",
            shapes.AcceptedAnswer,
            headers=(LOCATION,),
            links=(_TO_STATUS, _TO_REDELIVER, _TO_CONVERT, _TO_REDACT),
        ),
        declared_problem(
            400, "unreadable input, no route, an unknown recipient or a bad message id"
        ),
        declared_problem(403, "not a sender, or a kind or recipient this sender may not send"),
        declared_problem(409, "the message id was used for other content (or by another sender)"),
        declared_problem(
            422, "invalid document, refused by policy for every recipient, or a used §4 consent"
        ),
        STORE_UNAVAILABLE,
    ],
)
async def post_message(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    app = request.app
    principal = _principal(request)
    metrics = app[METRICS]
    if principal.sender is None:
        return problem(request, 403, f"{principal.id!r} is not a sender", [])
    data = await _body(request)
    if isinstance(data, web.Response):
        metrics.messages.labels("", principal.id, "rejected-413").inc()
        return data
    now = app[CLOCK]()
    result = _receive(request, data, principal, now)
    if isinstance(result, Rejection):
        await app[STORE].append_audit(result.audit)
        status = STATUS_FOR[result.reason]
        kind = kind_of(result.audit)
        metrics.messages.labels(kind, principal.id, f"rejected-{status}").inc()
        return problem(request, status, result.title, result.issues, result.fhir)
    assert isinstance(result, Accepted)
    outcome = await app[COMMITTER].submit(result.message)
    kind = result.message.kind
    metrics.messages.labels(kind, principal.id, str(outcome.status)).inc()
    if outcome.status is not AcceptStatus.ACCEPTED:
        # nothing of this message was stored: the receipt and why it went no further still
        # belong in the trail (a repeat, a reused id, a spent §4 consent)
        mid = result.message.message_id
        received = result.message.audit[0]
        await app[STORE].append_audit(
            [
                AuditEntry(received.at, principal.id, "received", mid, None, received.detail),
                AuditEntry(now, principal.id, str(outcome.status), mid),
            ]
        )
    if outcome.status is AcceptStatus.CONFLICT:
        return problem(
            request,
            409,
            f"message id {result.message.message_id} was used for other content",
            [],
            result.fhir,
        )
    if outcome.status is AcceptStatus.CONSENT_USED:
        reason = issue(CONSENT_USED, "the consent of this §4 notification was already used")
        return problem(request, 422, "consent already used", [reason], result.fhir)
    # (the committer woke the outbox if the message has push deliveries)
    metrics.accept_seconds.observe(time.perf_counter() - started)
    status_url = f"/messages/{result.message.message_id}"
    return web.Response(
        body=outcome.answer,
        status=202,
        content_type="application/json",
        headers={"Location": status_url},
    )


def _receive(
    request: web.Request,
    data: bytes,
    principal: Principal,
    now: datetime,
    to: Format | None = None,
    named: list[str] | None = None,
    validation: Validation | None = None,
) -> Accepted | Rejection:
    """The accept pipeline over what the request says beside the bytes: the one decision
    ``POST /messages`` commits and ``POST /redact`` shows."""
    assert principal.sender is not None
    if named is None:
        named = request.headers.get(RECIPIENTS_HEADER, "").split(",")
    return receive(
        data,
        content_type=request.headers.get("Content-Type"),
        named=named,
        message_id=request.headers.get(MESSAGE_ID_HEADER),
        sender=principal.sender,
        config=request.app[LIVE].config,
        now=now,
        to=to,
        validation=validation,
    )


_MODE: dict[DeliveryMode, Literal["push", "pull"]] = {
    DeliveryMode.PUSH: "push",
    DeliveryMode.PULL: "pull",
}
_STATE: dict[DeliveryState, shapes.DeliveryStateName] = {
    DeliveryState.PENDING: "pending",
    DeliveryState.RETRYING: "retrying",
    DeliveryState.OFFERED: "offered",
    DeliveryState.DELIVERED: "delivered",
    DeliveryState.DEAD: "dead",
    DeliveryState.REFUSED: "refused",
}


def _t(x: datetime | None) -> str | None:
    return x.isoformat() if x is not None else None


def _status_dict(m: MessageStatus) -> shapes.GatewayMessage:
    return {
        "message_id": m.message_id,
        "sender": m.sender_id,
        "kind": m.kind,
        "received_at": m.received_at.isoformat(),
        "recipients": [
            {
                "recipient": d.recipient_id,
                "delivery_id": d.delivery_id,
                "mode": _MODE[d.mode],
                "state": _STATE[d.state],
                "attempts": d.attempts,
                "last_error": d.last_error,
                "next_attempt_at": _t(d.next_attempt_at),
                "updated_at": _t(d.updated_at),
                "delivered_at": _t(d.delivered_at),
            }
            for d in m.deliveries
        ],
    }


async def _own_message(request: web.Request) -> MessageStatus | web.Response:
    """The message, when the caller sent it (another sender's id is 'not found')."""
    status = await request.app[STORE].message(request.match_info["id"])
    if status is None or status.sender_id != _principal(request).id:
        return problem(request, 404, "no such message", [])
    return status


@API.get(
    "/messages/{id}",
    "getMessage",
    "State per recipient of one of the caller's messages",
    access=SENDER,
    tags=["messages"],
    params=[_ID_PARAM],
    replies=[
        Reply(200, "the message", shapes.GatewayMessage, links=(_TO_REDELIVER,)),
        declared_problem(404, "no such message of the caller's (another sender's is not found)"),
        STORE_UNAVAILABLE,
    ],
)
async def get_message(request: web.Request) -> web.StreamResponse:
    status = await _own_message(request)
    if isinstance(status, web.Response):
        return status
    return _json(_status_dict(status))


@API.post(
    "/messages/{id}/redeliver",
    "redeliverMessage",
    "Dead letters of the caller's message back to the outbox",
    description="Operators use `gateway redeliver`. Deliveries that are not dead are left "
    "alone: redelivering twice is harmless.",
    access=SENDER,
    tags=["messages"],
    params=[
        _ID_PARAM,
        Param("recipient", "query", {"type": "string"}, "only this recipient's dead letter"),
    ],
    replies=[
        Reply(200, "how many went back", shapes.RedeliveredAnswer),
        declared_problem(404, "no such message of the caller's"),
        STORE_UNAVAILABLE,
    ],
)
async def redeliver(request: web.Request) -> web.StreamResponse:
    """Dead letters of one of the caller's messages back to the outbox."""
    status = await _own_message(request)
    if isinstance(status, web.Response):
        return status
    recipient = request.query.get("recipient")
    app = request.app
    now = app[CLOCK]()
    entry = AuditEntry(now, _principal(request).id, "redelivered", status.message_id)
    moved = await app[STORE].redeliver(status.message_id, recipient, entry, now=now)
    if moved:
        app[OUTBOX].wake()
        fields = {"message_id": status.message_id, "recipient": recipient}
        log.info(
            "redelivered %d deliveries of %s",
            moved,
            status.message_id,
            extra={"event": "redelivered", "sender": status.sender_id, **fields},
        )
    answer: shapes.RedeliveredAnswer = {"message_id": status.message_id, "redelivered": moved}
    return _json(answer)


# -- pull inbox ----------------------------------------------------------------------------

_LIMIT = re.compile(r"[1-9][0-9]{0,2}")


@API.get(
    "/inbox",
    "getInbox",
    "A pull recipient's unacknowledged deliveries",
    description="Oldest first; each is offered again on every fetch until acknowledged "
    "(`offers` counts).",
    access=PULL_RECIPIENT,
    tags=["inbox"],
    params=[
        Param(
            "limit",
            "query",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "at most this many deliveries (1-100)",
        )
    ],
    replies=[
        Reply(
            200,
            "the deliveries (none: an empty list)",
            shapes.InboxAnswer,
            links=(
                Link(
                    "AcknowledgeDelivery",
                    "acknowledgeDelivery",
                    {"delivery_id": "$response.body#/messages/0/delivery_id"},
                    "acknowledge the first delivery offered",
                ),
            ),
        ),
        declared_problem(400, "limit is not a whole number from 1 to 100"),
        declared_problem(403, "the caller is no pull recipient"),
        STORE_UNAVAILABLE,
    ],
)
async def get_inbox(request: web.Request) -> web.StreamResponse:
    principal = _principal(request)
    if principal.recipient is None:
        return problem(request, 403, f"{principal.id!r} is no pull recipient", [])
    raw = request.query.get("limit", "20")
    if not _LIMIT.fullmatch(raw) or int(raw) > 100:
        return problem(request, 400, "limit must be a whole number from 1 to 100", [])
    app = request.app
    items = await app[STORE].inbox(principal.id, limit=int(raw), now=app[CLOCK]())
    answer: shapes.InboxAnswer = {
        "messages": [
            {
                "delivery_id": i.delivery_id,
                "message_id": i.message_id,
                "kind": i.kind,
                "format": i.format,
                "media_type": i.media_type,
                "accepted_at": i.accepted_at.isoformat(),
                "offers": i.offers,
                "payload_base64": base64.b64encode(i.payload).decode("ascii"),
                "ack_url": f"/inbox/{i.delivery_id}/ack",
            }
            for i in items
        ]
    }
    return _json(answer)


@API.post(
    "/inbox/{delivery_id}/ack",
    "acknowledgeDelivery",
    "Acknowledge a pulled delivery",
    description="Acknowledging twice is harmless.",
    access=PULL_RECIPIENT,
    tags=["inbox"],
    params=[
        Param(
            "delivery_id",
            "path",
            {"type": "string", "format": "uuid"},
            "the delivery's id, from GET /inbox",
        )
    ],
    replies=[
        Reply(204, "acknowledged: delivered"),
        declared_problem(403, "the caller is no pull recipient"),
        declared_problem(404, "no such delivery in the caller's inbox"),
        STORE_UNAVAILABLE,
    ],
)
async def acknowledge(request: web.Request) -> web.StreamResponse:
    principal = _principal(request)
    if principal.recipient is None:
        return problem(request, 403, f"{principal.id!r} is no pull recipient", [])
    app = request.app
    now = app[CLOCK]()
    delivery = request.match_info["delivery_id"]
    entry = AuditEntry(now, principal.id, "acknowledged", detail={"delivery": delivery})
    ok = await app[STORE].acknowledge(principal.id, delivery, entry, now=now)
    if not ok:
        return problem(request, 404, "no such delivery in your inbox", [])
    app[METRICS].deliveries.labels("", principal.id, "delivered").inc()
    return web.Response(status=204)


# -- dry runs: the CLI's engine over HTTP ---------------------------------------------------

_UNREADABLE = "unreadable input: not a JSON object, nor XML naming a known document (every issue)"


async def _document(request: web.Request) -> Validation | web.Response:
    """The posted document, validated; a problem when the body is outside the contract
    (``415`` media type, ``413`` size, ``400`` not a document at all: a bare JSON string,
    an array, an object without ``resourceType``, text that is no XML document)."""
    got = await _document_and_bytes(request)
    return got if isinstance(got, web.Response) else got[1]


async def _document_and_bytes(request: web.Request) -> tuple[bytes, Validation] | web.Response:
    """:func:`_document`, with the bytes it read."""
    if media_family(request.headers.get("Content-Type")) is None:
        return problem(request, 415, "unsupported media type", [])
    data = await _body(request)
    if isinstance(data, web.Response):
        return data
    from gateway.validation.service import validate_bytes

    validation = validate_bytes(data, source="request", overrides=request.app[LIVE].config.rules)
    if unreadable(validation):
        return problem(request, 400, "unreadable input", validation.issues)
    return data, validation


def unreadable(validation: Validation) -> bool:
    """The bytes are in no format the gateway reads (``INPUT-UNKNOWN-FORMAT``: JSON that is
    not an object, XML that names no known document), as opposed to a document of a known
    format that is broken or invalid, which the dry runs report on."""
    return validation.format is None


_OUTCOME_OR_PROBLEM = declared_problem(0, "").content or {}


@API.post(
    "/validate",
    "validateDocument",
    "Validate (dry run, like gateway validate)",
    description="Every issue of a readable document, valid or not, as `gateway validate "
    "--format json`'s result object (an OperationOutcome for a FHIR sender). Input that is "
    "no document at all is refused with 400.",
    access=CALLER,
    tags=["dry runs"],
    body=document_body(
        "a document or message", resource={"$ref": "#/components/schemas/FhirResource"}
    ),
    replies=[
        Reply(
            200,
            "the result, issues and all",
            shapes.ValidationAnswer,
            content={"application/fhir+json": {"$ref": "#/components/schemas/OperationOutcome"}},
            links=(
                Link(
                    "ConvertDocument",
                    "convertDocument",
                    {"to": "fhir-json"},
                    "convert the document just validated",
                    request_body="$request.body",
                ),
                Link(
                    "RedactDocument",
                    "redactDocument",
                    {"for": "forsakringskassan"},
                    "what Försäkringskassan would receive of the document just validated",
                    request_body="$request.body",
                ),
            ),
        ),
        declared_problem(400, _UNREADABLE),
    ],
)
async def post_validate(request: web.Request) -> web.StreamResponse:
    validation = await _document(request)
    if isinstance(validation, web.Response):
        return validation
    if _wants_fhir(request):
        from gateway.formats.fhir.outcome import operation_outcome

        return web.Response(
            body=orjson.dumps(operation_outcome(validation.issues)),
            content_type="application/fhir+json",
        )
    answer: shapes.ValidationAnswer = {
        "source": validation.source,
        "kind": str(validation.kind) if validation.kind else None,
        "subtype": validation.subtype,
        "format": str(validation.format) if validation.format else None,
        "valid": validation.valid,
        "issues": _issues(validation.issues),
    }
    return _json(answer)


def _format(request: web.Request, name: str) -> Format | web.Response | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return Format(value)
    except ValueError:
        known = ", ".join(f.value for f in Format)
        return problem(request, 400, f"{name} must be one of {known}", [])


@API.post(
    "/convert",
    "convertDocument",
    "Convert (dry run, like gateway convert)",
    access=CALLER,
    tags=["dry runs"],
    params=[
        Param(
            "to", "query", formats_schema(), "the target format", required=True, example="fhir-json"
        )
    ],
    body=document_body("a document or message"),
    replies=[
        Reply(200, "the document in the target format", content=media_types_of(list(Format))),
        declared_problem(400, f"'to' missing or no format; or {_UNREADABLE}"),
        declared_problem(422, "invalid document, or the target format cannot carry it"),
    ],
)
async def post_convert(request: web.Request) -> web.StreamResponse:
    to = _format(request, "to")
    if isinstance(to, web.Response):
        return to
    if to is None:
        return problem(request, 400, "the query parameter 'to' (a format) is required", [])
    validation = await _document(request)
    if isinstance(validation, web.Response):
        return validation
    if not validation.valid or validation.document is None:
        return problem(request, 422, "invalid document", validation.issues)
    from gateway.formats.base import CannotRender
    from gateway.formats.registry import render

    try:
        out = render(validation.document, to)
    except CannotRender as exc:
        return problem(request, 422, str(exc), [])
    return web.Response(body=out, content_type=MEDIA_TYPES[to])


@API.post(
    "/redact",
    "redactDocument",
    "What a recipient would receive (dry run, like gateway redact)",
    description="The decision `POST /messages` would make for that recipient on the same "
    "bytes (every consent offered, the recipient's configured organisation and format), "
    "committed nowhere. Unlike `gateway redact` it always checks consent.",
    access=CALLER,
    tags=["dry runs"],
    params=[
        Param(
            "for",
            "query",
            {"type": "string", "minLength": 1},
            "a configured recipient id, or a recipient role (its first recipient the caller "
            "may send to; a role the caller reaches none of, or a caller that is no sender, "
            "gets the role's policy previewed)",
            required=True,
            example="forsakringskassan",
        ),
        Param("to", "query", formats_schema(), "the format (default: the input's)"),
    ],
    body=document_body("a document or message"),
    replies=[
        Reply(200, "the report and the recipient's copy", shapes.RedactionAnswer),
        declared_problem(400, f"'for' missing or no role, 'to' no format; or {_UNREADABLE}"),
        Reply(
            422,
            "refused for this recipient (the report says why), or an invalid document (a "
            "problem with every issue)",
            shapes.RedactionAnswer,
            content=_OUTCOME_OR_PROBLEM,
        ),
    ],
)
async def post_redact(request: web.Request) -> web.StreamResponse:
    """What the named recipient would receive of these bytes: the accept pipeline of
    ``POST /messages`` run to its decision and not committed (the envelope's consents, the
    recipient's configured organisation and format, the sender's rights: all as a send would
    have them). ``for`` names a configured recipient id or an audience (its first recipient
    the sender may reach)."""
    principal = _principal(request)
    named = request.query.get("for", "").strip()
    if not named:
        return problem(request, 400, "the query parameter 'for' (a recipient) is required", [])
    to = _format(request, "to")
    if isinstance(to, web.Response):
        return to
    got = await _document_and_bytes(request)
    if isinstance(got, web.Response):
        return got
    data, validation = got
    if not validation.valid or validation.document is None or validation.format is None:
        return problem(request, 422, "invalid document", validation.issues)
    now = request.app[CLOCK]()
    decision: shapes.RedactionAnswer | None = None
    if principal.sender is not None:
        result = _receive(request, data, principal, now, to, [named], validation)
        decision = _first_decision(result)
        if decision is None and not (isinstance(result, Rejection) and _unrouted(result, named)):
            assert isinstance(result, Rejection)
            status = STATUS_FOR[result.reason]
            return problem(request, status, result.title, result.issues, result.fhir)
    if decision is None:
        try:
            recipient = Recipient(named)
        except ValueError:
            known = ", ".join(r.value for r in Recipient)
            return problem(
                request, 400, f"'for' names no recipient this caller reaches ({known})", []
            )
        decision = _preview(validation, recipient, now, to)
    return _json(decision, status=422 if decision["refused"] else 200)


_UNROUTED = frozenset({NOT_PERMITTED.code, UNKNOWN_RECIPIENT.code})


def _unrouted(result: Rejection, named: str) -> bool:
    """The sender reaches no configured recipient of the audience ``named``: the dry run
    previews that audience's policy instead (the recipient's organisation unknown)."""
    return (
        named in Recipient.__members__.values()
        and bool(result.issues)
        and all(i.code in _UNROUTED for i in result.issues)
    )


def _preview(
    validation: Validation, recipient: Recipient, now: datetime, to: Format | None
) -> shapes.RedactionAnswer:
    """An audience's policy over the document and every consent offered with it, as
    ``gateway redact`` previews it (no recipient configured: its organisation not compared)."""
    from gateway.transfer import prepare

    assert validation.document is not None and validation.format is not None
    t = prepare(
        validation.document,
        recipient,
        at=now,
        to=to or validation.format,
        consents=validation.consents,
    )
    return {
        "recipient": str(recipient),
        "format": str(t.format),
        "refused": t.refused,
        "report": [
            {"action": str(e.action), "path": e.path, "code": e.code, "message": e.message}
            for e in t.policy.report
        ],
        "render_error": t.render_error,
        "payload_base64": base64.b64encode(t.payload).decode("ascii") if t.payload else None,
    }


def _first_decision(result: Accepted | Rejection) -> shapes.RedactionAnswer | None:
    """The policy decision for the first recipient, as recorded for the audit trail, with
    the copy its delivery would carry; ``None`` when no recipient was decided for."""
    audit = result.message.audit if isinstance(result, Accepted) else result.audit
    entry = next((a for a in audit if a.action == "policy"), None)
    if entry is None or entry.detail is None:
        return None
    payload = None
    if isinstance(result, Accepted):
        payload = next(
            (d.payload for d in result.message.deliveries if d.recipient_id == entry.recipient_id),
            None,
        )
    return {
        "recipient": entry.recipient_id or "",
        "format": str(entry.detail.get("format")),
        "refused": bool(entry.detail.get("refused")),
        "report": entry.detail.get("report", []),
        "render_error": entry.detail.get("render_error"),
        "payload_base64": base64.b64encode(payload).decode("ascii") if payload else None,
    }


# -- operations ----------------------------------------------------------------------------


@API.get(
    "/health",
    "health",
    "Liveness: the process answers",
    tags=["operations"],
    replies=[Reply(200, "alive", shapes.StatusAnswer)],
)
async def health(request: web.Request) -> web.StreamResponse:
    answer: shapes.StatusAnswer = {"status": "ok"}
    return _json(answer)


@API.get(
    "/ready",
    "ready",
    "Readiness: able to accept messages",
    tags=["operations"],
    replies=[
        Reply(200, "ready", shapes.StatusAnswer),
        Reply(503, "not ready: what is at fault", shapes.StatusAnswer),
    ],
)
async def ready(request: web.Request) -> web.StreamResponse:
    why = await readiness(request.app)
    if why is None:
        return _json({"status": "ready"})
    return _json({"status": why}, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@API.get(
    "/metrics",
    "metrics",
    "Prometheus metrics",
    tags=["operations"],
    replies=[
        Reply(
            200,
            "the text exposition format",
            content={"text/plain": {"type": "string"}},
        )
    ],
)
async def metrics(request: web.Request) -> web.StreamResponse:
    app = request.app
    refused = metrics_allowed(request, app[CONFIG].server.metrics)
    if refused is not None:
        return refused
    now = app[CLOCK]()
    try:
        stats = await app[STORE].stats(now=now)
    except StoreError:
        stats = None
    body = app[METRICS].render(stats, now)
    return web.Response(body=body, headers={"Content-Type": METRICS_TYPE})


@API.get(
    "/openapi.json",
    "openapi",
    "This document",
    tags=["operations"],
    replies=[Reply(200, "OpenAPI 3.1", content={"application/json": {"type": "object"}})],
)
async def openapi(request: web.Request) -> web.StreamResponse:
    return _json(document_of(request.app))


def add_routes(app: web.Application) -> None:
    app.middlewares.append(authenticate)
    API.add_to(app)


__all__ = ["API", "add_routes", "problem", "unavailable", "unreadable"]
