"""The console's pages. Operators: the overview, messages (search, one message, redeliver),
the audit trail (browse, verify) and the directory of recipients and senders. The
coordinators' pages are in :mod:`.coordination`.

Each page is whole HTML that works without JavaScript; the ``/live/…`` routes answer the
parts that ``static/console.js`` refreshes in place.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from gateway.console import auth, coordination
from gateway.console.app import (
    CONSOLE,
    LANGUAGE,
    PREFIX,
    USER,
    audit,
    bad_input,
    now,
    render,
    role,
    see_other,
)
from gateway.console.charts import Bar, stacked_bars
from gateway.console.format import ZONE, age, local_time
from gateway.console.i18n import LANGUAGES, Translator
from gateway.console.readmodel.base import AuditQuery, MessageQuery, Overview
from gateway.documents import DocumentKind
from gateway.exchange.audit import verify
from gateway.exchange.server.app import OUTBOX, STORE
from gateway.exchange.store.base import AuditEntry, DeliveryState

OPERATOR = "operator"
COORDINATOR = "coordinator"
PAGE = 50


class BadInput(Exception):
    def __init__(self, field: str) -> None:
        self.field = field


def _next_target(value: object) -> str:
    """A place inside the console to go after logging in (never another site)."""
    safe = isinstance(value, str) and value.startswith(f"{PREFIX}/")
    if safe and not any(bad in str(value) for bad in ("\\", "//", "\n", "\r")):
        return str(value)
    return f"{PREFIX}/"


# -- logging in and out -----------------------------------------------------------------------


@role(None)
async def login_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    token = auth.new_secret()
    response = render(
        request,
        "login.html",
        login_csrf=token,
        certificate_user=console.users.by_certificate(request),
        next=_next_target(request.query.get("next")),
        notice=request.query.get("notice"),
    )
    auth.set_cookie(response, auth.LOGIN_COOKIE, token, max_age=3600)
    return response


@role(None)
async def login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await request.post()
    if form.get("method") == "certificate":
        user, method = console.users.by_certificate(request), "mtls"
    else:
        token = form.get("token")
        user, method = console.users.by_token(token if isinstance(token, str) else ""), "token"
    if user is None:
        request.app.logger.info("console: login refused (%s)", method)
        fresh = auth.new_secret()
        response = render(
            request,
            "login.html",
            status=401,
            login_csrf=fresh,
            certificate_user=console.users.by_certificate(request),
            next=_next_target(form.get("next")),
            notice="failed",
        )
        auth.set_cookie(response, auth.LOGIN_COOKIE, fresh, max_age=3600)
        return response
    t = now(request)
    secret = auth.new_secret()
    digest = auth.session_hash(secret)
    model = console.model
    await model.purge_sessions(before=t - timedelta(days=1))
    await model.start_session(digest, user.id, method, now=t, expires=t + auth.LIFETIME)
    request[USER] = auth.ConsoleUser(user, method, digest, auth.csrf_token(secret))
    await audit(request, "console-login", detail={"method": method})
    response = see_other(_next_target(form.get("next")))
    auth.set_cookie(response, auth.COOKIE, secret, max_age=int(auth.LIFETIME.total_seconds()))
    auth.clear_cookie(response, auth.LOGIN_COOKIE)
    return response


@role((OPERATOR, COORDINATOR))
async def logout(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    if await request.app[CONSOLE].model.end_session(user.session_hash, now=now(request)):
        await audit(request, "console-logout")
    response = see_other(f"{PREFIX}/login?notice=ended")
    auth.clear_cookie(response, auth.COOKIE)
    return response


@role(None)
async def language(request: web.Request) -> web.StreamResponse:
    chosen = request.query.get("to")
    response = see_other(_next_target(request.query.get("next")))
    if chosen in LANGUAGES:
        auth.set_cookie(response, auth.LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600)
    return response


@role((OPERATOR, COORDINATOR))
async def home(request: web.Request) -> web.StreamResponse:
    if request[USER].role == COORDINATOR:
        return see_other(f"{PREFIX}/coordination/")
    return await _overview_page(request)


# -- overview -------------------------------------------------------------------------------


async def _overview(request: web.Request) -> dict[str, Any]:
    console = request.app[CONSOLE]
    t = now(request)
    figures = await console.model.overview(
        now=t, recipients=[r.id for r in console.config.recipients]
    )
    tr = Translator(request[LANGUAGE])
    return {
        "o": figures,
        "now": t,
        "age": age,
        "chart": _chart(figures, tr),
    }


def _chart(o: Overview, t: Translator) -> Any:
    bars = [
        Bar(
            h.start.astimezone(ZONE).strftime("%H"),
            f"{local_time(h.start, seconds=False)}: {t('overview.legend_delivered')} "
            f"{h.delivered}, {t('overview.legend_failed')} {h.failed}",
            (h.delivered, h.failed),
        )
        for h in o.hours
    ]
    label = t(
        "overview.chart_label",
        delivered=sum(h.delivered for h in o.hours),
        failed=sum(h.failed for h in o.hours),
    )
    return stacked_bars(bars, series=("bar-delivered", "bar-failed"), label=label)


async def _overview_page(request: web.Request) -> web.StreamResponse:
    return render(request, "overview.html", **await _overview(request))


@role(OPERATOR)
async def live_overview(request: web.Request) -> web.StreamResponse:
    return render(request, "_overview_figures.html", **await _overview(request))


# -- messages -------------------------------------------------------------------------------


def _local(value: str | None, field: str) -> datetime | None:
    """A ``datetime-local`` field (Swedish time) as an aware time."""
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(field) from None
    return t.replace(tzinfo=ZONE) if t.tzinfo is None else t


def _choice(value: str | None, allowed: list[str], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise BadInput(field)
    return value


def _message_query(request: web.Request) -> MessageQuery:
    q = request.query
    config = request.app[CONSOLE].config
    before = None
    if q.get("before"):
        stamp, _, mid = q["before"].partition("|")
        moment = _local(stamp, "before")
        if moment is None or not mid:
            raise BadInput("before")
        before = (moment, mid)
    return MessageQuery(
        message_id=(q.get("id") or "").strip() or None,
        sender_id=_choice(q.get("sender"), [s.id for s in config.senders], "sender"),
        recipient_id=_choice(q.get("recipient"), [r.id for r in config.recipients], "recipient"),
        kind=_choice(q.get("kind"), [k.value for k in DocumentKind], "kind"),
        state=_choice(q.get("state"), [s.value for s in DeliveryState], "state"),
        since=_local(q.get("since"), "since"),
        until=_local(q.get("until"), "until"),
        before=before,
        limit=PAGE + 1,
    )


@role(OPERATOR)
async def messages(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    try:
        query = _message_query(request)
    except BadInput as exc:
        return bad_input(request, exc.field)
    rows = await console.model.messages(query)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    params = {k: v for k, v in request.query.items() if k != "before"}
    older = None
    if more:
        last = rows[-1]
        cursor = f"{last.received_at.isoformat()}|{last.message_id}"
        older = f"{PREFIX}/messages?{urlencode({**params, 'before': cursor})}"
    return render(
        request,
        "messages.html",
        rows=rows,
        older=older,
        form=request.query,
        senders=[s.id for s in console.config.senders],
        recipients=[r.id for r in console.config.recipients],
        kinds=[k.value for k in DocumentKind],
        states=[s.value for s in DeliveryState],
        newest=f"{PREFIX}/messages?{urlencode(params)}" if "before" in request.query else None,
    )


async def _message(request: web.Request) -> dict[str, Any] | None:
    mid = request.match_info["id"]
    view = await request.app[CONSOLE].model.message(mid)
    if view is None:
        return None
    records = await request.app[CONSOLE].model.audit(AuditQuery(message_id=mid, limit=500))
    return {"m": view, "records": records, "now": now(request), "age": age}


@role(OPERATOR)
async def message(request: web.Request) -> web.StreamResponse:
    context = await _message(request)
    if context is None:
        return render(
            request,
            "error.html",
            status=404,
            status_code=404,
            message_key="message.not_found",
            id=request.match_info["id"],
        )
    done = request.query.get("redelivered")
    return render(request, "message.html", redelivered=done, **context)


@role(OPERATOR)
async def live_message(request: web.Request) -> web.StreamResponse:
    context = await _message(request)
    if context is None:
        raise web.HTTPNotFound()
    return render(request, "_message_live.html", **context)


@role(OPERATOR)
async def redeliver(request: web.Request) -> web.StreamResponse:
    """Dead letters of one message back to the outbox, through the store's redeliver (the
    same as ``gateway redeliver``), audited as the operator who did it."""
    mid = request.match_info["id"]
    form = await request.post()
    recipient = form.get("recipient")
    recipient = recipient if isinstance(recipient, str) and recipient else None
    view = await request.app[CONSOLE].model.message(mid)
    if view is None:
        raise web.HTTPNotFound()
    t = now(request)
    entry = AuditEntry(t, request[USER].actor, "redelivered", mid, detail={"via": "console"})
    moved = await request.config_dict[STORE].redeliver(mid, recipient, entry, now=t)
    if moved:
        request.config_dict[OUTBOX].wake()
    return see_other(f"{PREFIX}/messages/{quote(mid, safe='')}?redelivered={moved}")


# -- audit trail ----------------------------------------------------------------------------


def _audit_query(request: web.Request) -> AuditQuery:
    q = request.query
    before = q.get("before")
    if before and not before.isdigit():
        raise BadInput("before")
    return AuditQuery(
        message_id=(q.get("message") or "").strip() or None,
        actor=(q.get("actor") or "").strip() or None,
        action=(q.get("action") or "").strip() or None,
        recipient_id=(q.get("recipient") or "").strip() or None,
        since=_local(q.get("since"), "since"),
        until=_local(q.get("until"), "until"),
        before_seq=int(before) if before else None,
        limit=PAGE + 1,
    )


async def _audit_page(
    request: web.Request, verification: dict[str, Any] | None = None
) -> web.StreamResponse:
    try:
        query = _audit_query(request)
    except BadInput as exc:
        return bad_input(request, exc.field)
    records = await request.app[CONSOLE].model.audit(query)
    more = len(records) > PAGE
    records = records[:PAGE]
    older = None
    if more:
        params = {k: v for k, v in request.query.items() if k != "before"}
        params["before"] = str(records[-1].seq)
        older = f"{PREFIX}/audit?{urlencode(params)}"
    return render(
        request,
        "audit.html",
        records=records,
        older=older,
        form=request.query,
        verification=verification,
        paged=bool(request.query.get("before")),
    )


@role(OPERATOR)
async def audit_trail(request: web.Request) -> web.StreamResponse:
    return await _audit_page(request)


@role(OPERATOR)
async def verify_chain(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    count, breaks = await verify(request.config_dict[STORE].audit_records())
    seconds = time.perf_counter() - started
    await audit(request, "audit-verified", detail={"records": count, "breaks": len(breaks)})
    result = {"count": count, "breaks": breaks[:20], "broken": len(breaks), "seconds": seconds}
    return await _audit_page(request, result)


# -- recipients and senders -----------------------------------------------------------------


@role(OPERATOR)
async def directory(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    answers = {
        r.id: await console.model.recent_answers(r.id, limit=8)
        for r in console.config.recipients
        if not r.pull
    }
    return render(
        request,
        "directory.html",
        recipients=console.config.recipients,
        senders=console.config.senders,
        answers=answers,
    )


# -- routes ---------------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", home)
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/language", language)
    r.add_get("/live/overview", live_overview)
    r.add_get("/messages", messages)
    r.add_get("/messages/{id}", message)
    r.add_get("/live/messages/{id}", live_message)
    r.add_post("/messages/{id}/redeliver", redeliver)
    r.add_get("/audit", audit_trail)
    r.add_post("/audit/verify", verify_chain)
    r.add_get("/recipients", directory)
    coordination.add_routes(app)


__all__ = ["add_routes"]
