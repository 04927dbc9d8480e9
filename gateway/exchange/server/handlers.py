"""The HTTP API (docs/exchange/api.md, /openapi.json). Error answers carry every issue, as
``application/problem+json`` with our issue objects, or as an OperationOutcome for FHIR
senders; they never echo the document."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from gateway.documents import Recipient
from gateway.documents.issues import Issue, issue
from gateway.exchange.router import (
    CONSENT_USED,
    MEDIA_TYPES,
    Accepted,
    Rejection,
    media_family,
    receive,
)
from gateway.exchange.server.app import AUTH, CLOCK, COMMITTER, CONFIG, METRICS, OUTBOX, STORE
from gateway.exchange.server.auth import Principal
from gateway.exchange.server.metrics import CONTENT_TYPE as METRICS_TYPE
from gateway.exchange.store.base import AcceptStatus, AuditEntry, MessageStatus, StoreError
from gateway.formats.base import Format

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics", "/openapi.json"})


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def _wants_fhir(request: web.Request) -> bool:
    ct = request.headers.get("Content-Type", "")
    accept = request.headers.get("Accept", "")
    return "fhir" in ct or "fhir" in accept


def problem(
    request: web.Request, status: int, title: str, issues: list[Issue], fhir: bool | None = None
) -> web.Response:
    """An error answer with every issue: an OperationOutcome for FHIR senders."""
    if fhir if fhir is not None else _wants_fhir(request):
        from gateway.formats.fhir.outcome import operation_outcome

        outcome = operation_outcome(issues)
        if not issues:
            outcome["issue"] = [{"severity": "error", "code": "processing", "diagnostics": title}]
        return web.Response(
            body=orjson.dumps(outcome), status=status, content_type="application/fhir+json"
        )
    body = {"status": status, "title": title, "issues": [i.to_dict() for i in issues]}
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/problem+json"
    )


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Nothing unauthenticated passes, except the operational endpoints."""
    if request.path in OPEN_PATHS or _console(request.path):
        return await handler(request)
    principal = request.app[AUTH].authenticate(request)
    if principal is None:
        resp = problem(request, 401, "authentication required", [])
        resp.headers["WWW-Authenticate"] = 'Bearer realm="gateway"'
        return resp
    request[PRINCIPAL] = principal
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return problem(request, 413, "the message is too large", [])
    except StoreError:
        return problem(request, 503, "the store is unavailable; try again", [])


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
    result = receive(
        data,
        content_type=request.headers.get("Content-Type"),
        headers=request.headers,
        sender=principal.sender,
        config=app[CONFIG],
        now=now,
    )
    if isinstance(result, Rejection):
        await app[STORE].append_audit(result.audit)
        metrics.messages.labels("", principal.id, f"rejected-{result.status}").inc()
        return problem(request, result.status, result.title, result.issues, result.fhir)
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
    app[OUTBOX].wake()
    metrics.accept_seconds.observe(time.perf_counter() - started)
    status_url = f"/messages/{result.message.message_id}"
    return web.Response(
        body=outcome.answer,
        status=202,
        content_type="application/json",
        headers={"Location": status_url},
    )


def _status_dict(m: MessageStatus) -> dict[str, Any]:
    def t(x: datetime | None) -> str | None:
        return x.isoformat() if x is not None else None

    return {
        "message_id": m.message_id,
        "sender": m.sender_id,
        "kind": m.kind,
        "received_at": t(m.received_at),
        "recipients": [
            {
                "recipient": d.recipient_id,
                "delivery_id": d.delivery_id,
                "mode": str(d.mode),
                "state": str(d.state),
                "attempts": d.attempts,
                "last_error": d.last_error,
                "next_attempt_at": t(d.next_attempt_at),
                "updated_at": t(d.updated_at),
                "delivered_at": t(d.delivered_at),
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


async def get_message(request: web.Request) -> web.StreamResponse:
    status = await _own_message(request)
    if isinstance(status, web.Response):
        return status
    return _json(_status_dict(status))


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
    app[OUTBOX].wake()
    return _json({"message_id": status.message_id, "redelivered": moved})


# -- pull inbox ----------------------------------------------------------------------------


async def get_inbox(request: web.Request) -> web.StreamResponse:
    principal = _principal(request)
    if principal.recipient is None:
        return problem(request, 403, f"{principal.id!r} is no pull recipient", [])
    try:
        limit = max(1, min(100, int(request.query.get("limit", "20"))))
    except ValueError:
        return problem(request, 400, "limit must be a number", [])
    app = request.app
    items = await app[STORE].inbox(principal.id, limit=limit, now=app[CLOCK]())
    return _json(
        {
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


async def _document(request: web.Request) -> tuple[bytes, Any] | web.Response:
    if media_family(request.headers.get("Content-Type")) is None:
        return problem(request, 415, "unsupported media type", [])
    data = await _body(request)
    if isinstance(data, web.Response):
        return data
    from gateway.validation.service import validate_bytes

    return data, validate_bytes(data, source="request")


async def post_validate(request: web.Request) -> web.StreamResponse:
    got = await _document(request)
    if isinstance(got, web.Response):
        return got
    _data, validation = got
    if _wants_fhir(request):
        from gateway.formats.fhir.outcome import operation_outcome

        return web.Response(
            body=orjson.dumps(operation_outcome(validation.issues)),
            content_type="application/fhir+json",
        )
    return _json(validation.to_dict())


def _format(request: web.Request, name: str) -> Format | web.Response | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return Format(value)
    except ValueError:
        known = ", ".join(f.value for f in Format)
        return problem(request, 400, f"{name} must be one of {known}", [])


async def post_convert(request: web.Request) -> web.StreamResponse:
    to = _format(request, "to")
    if isinstance(to, web.Response):
        return to
    if to is None:
        return problem(request, 400, "the query parameter 'to' (a format) is required", [])
    got = await _document(request)
    if isinstance(got, web.Response):
        return got
    _data, validation = got
    if not validation.valid:
        return problem(request, 422, "invalid document", validation.issues)
    from gateway.formats.base import CannotRender
    from gateway.formats.registry import render

    try:
        out = render(validation.document, to)
    except CannotRender as exc:
        return problem(request, 422, str(exc), [])
    return web.Response(body=out, content_type=MEDIA_TYPES[to])


async def post_redact(request: web.Request) -> web.StreamResponse:
    try:
        recipient = Recipient(request.query.get("for", ""))
    except ValueError:
        known = ", ".join(r.value for r in Recipient)
        return problem(request, 400, f"the query parameter 'for' must be one of {known}", [])
    to = _format(request, "to")
    if isinstance(to, web.Response):
        return to
    got = await _document(request)
    if isinstance(got, web.Response):
        return got
    _data, validation = got
    if not validation.valid or validation.document is None:
        return problem(request, 422, "invalid document", validation.issues)
    from gateway.exchange.transfer import prepare

    t = prepare(validation.document, recipient, at=request.app[CLOCK](), to=to or validation.format)
    body: dict[str, Any] = {
        "recipient": str(recipient),
        "format": str(t.format),
        "refused": t.refused,
        "report": t.policy.report_dicts(),
        "render_error": t.render_error,
        "payload_base64": base64.b64encode(t.payload).decode("ascii") if t.payload else None,
    }
    return _json(body, status=422 if t.refused else 200)


# -- operations ----------------------------------------------------------------------------


async def health(request: web.Request) -> web.StreamResponse:
    return _json({"status": "ok"})


async def ready(request: web.Request) -> web.StreamResponse:
    if await request.app[STORE].ping():
        return _json({"status": "ready"})
    return _json({"status": "store unreachable"}, status=503)


async def metrics(request: web.Request) -> web.StreamResponse:
    app = request.app
    now = app[CLOCK]()
    try:
        stats = await app[STORE].stats(now=now)
    except StoreError:
        stats = None
    body = app[METRICS].render(stats, now)
    return web.Response(body=body, headers={"Content-Type": METRICS_TYPE})


async def openapi(request: web.Request) -> web.StreamResponse:
    from gateway.exchange.server.openapi import document

    return _json(document())


def add_routes(app: web.Application) -> None:
    app.middlewares.append(authenticate)
    app.router.add_post("/messages", post_message)
    app.router.add_get("/messages/{id}", get_message)
    app.router.add_post("/messages/{id}/redeliver", redeliver)
    app.router.add_get("/inbox", get_inbox)
    app.router.add_post("/inbox/{delivery_id}/ack", acknowledge)
    app.router.add_post("/validate", post_validate)
    app.router.add_post("/convert", post_convert)
    app.router.add_post("/redact", post_redact)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)


__all__ = ["add_routes", "problem"]
