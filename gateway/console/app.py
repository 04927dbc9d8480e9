"""The console as an aiohttp sub-application mounted at ``/console`` by the gateway's app
(:func:`add_console`): its own read model, templates and one middleware that every request
passes (sessions, roles, CSRF and origin checks, security headers, error pages).

The API's authentication middleware lets ``/console`` through: the console authenticates
its own callers (:mod:`.auth`). Its routes are HTML for people, not part of the API's
OpenAPI document: each is declared ``in_document=False`` (:func:`add_console`) and its
handler carries :data:`HTML_ONLY`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from gateway.console import auth, i18n
from gateway.console.auth import ConsoleUser, Users
from gateway.console.format import FILTERS
from gateway.console.readmodel import ReadModel, read_model_for
from gateway.exchange.config import Config
from gateway.exchange.server.app import CLOCK, LIVE, STORE, Live
from gateway.exchange.store.base import AuditEntry, StoreError

log = logging.getLogger("gateway.console")
PREFIX = "/console"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: an attribute on every console handler: HTML for people, not an API operation
HTML_ONLY = "console_html_only"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Strict-Transport-Security": "max-age=31536000",
}


class Console:
    """What the console's handlers share (one per process). The configuration is the
    gateway's live one: a reload (SIGHUP) changes the users, senders and recipients the
    console knows at the next request."""

    def __init__(self, live: Live, templates: jinja2.Environment) -> None:
        self.live = live
        self.templates = templates
        self.read: ReadModel | None = None
        self._users: tuple[Config, Users] | None = None

    @property
    def config(self) -> Config:
        return self.live.config

    @property
    def users(self) -> Users:
        config = self.live.config
        if self._users is None or self._users[0] is not config:
            self._users = (config, Users(config, self.live.auth.identify))
        return self._users[1]

    @property
    def model(self) -> ReadModel:
        if self.read is None:
            raise StoreError("the console's read model is not open")
        return self.read


CONSOLE = web.AppKey("console", Console)
USER = web.RequestKey("console_user", ConsoleUser)
LANGUAGE = web.RequestKey("console_language", str)


def role(required: str | tuple[str, ...] | None) -> Callable[[Handler], Handler]:
    """Mark a handler: the role(s) it admits (``None``: open, e.g. the login page)."""
    roles = (required,) if isinstance(required, str) else required

    def mark(handler: Handler) -> Handler:
        handler.console_roles = roles  # type: ignore[attr-defined]
        setattr(handler, HTML_ONLY, True)
        return handler

    return mark


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    console = request.app[CONSOLE]
    language = request.get(LANGUAGE, i18n.DEFAULT)
    user = request.get(USER)
    page = console.templates.get_template(template).render(
        t=i18n.Translator(language),
        lang=language,
        user=user,
        csrf=user.csrf if user is not None else "",
        path=request.path,
        query=request.query_string,
        **context,
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def bad_input(request: web.Request, field: str) -> web.Response:
    """400: the page names the query field it could not read."""
    return render(
        request,
        "error.html",
        status=400,
        status_code=400,
        message_key="error.bad_input",
        field=field,
    )


def see_other(location: str, status: int = 303) -> web.Response:
    """A redirect as a response (returning aiohttp's HTTPException objects is deprecated)."""
    return web.Response(status=status, headers={"Location": location})


def now(request: web.Request) -> datetime:
    clock: Callable[[], datetime] = request.config_dict[CLOCK]
    return clock()


async def audit(request: web.Request, action: str, **kwargs: Any) -> None:
    """One audit record by the person at the console."""
    user = request[USER]
    entry = AuditEntry(now(request), user.actor, action, **kwargs)
    await request.config_dict[STORE].append_audit([entry])


# -- the middleware ---------------------------------------------------------------------------


async def _user(request: web.Request) -> ConsoleUser | None:
    """The session's user, when the cookie names an open, unexpired, recently used session
    of a user still in the configuration."""
    secret = request.cookies.get(auth.COOKIE)
    if not secret or len(secret) > 100:
        return None
    console = request.app[CONSOLE]
    digest = auth.session_hash(secret)
    session = await console.model.session(digest)
    t = now(request)
    if session is None or session.ended_at is not None or session.expires_at <= t:
        return None
    if t - session.seen_at > auth.IDLE:
        return None
    config = console.users.get(session.user_id)
    if config is None:  # removed from the configuration since
        return None
    if t - session.seen_at > auth.TOUCH_EVERY:
        await console.model.touch_session(digest, now=t)
    return ConsoleUser(config, session.method, digest, auth.csrf_token(secret))


def _error(request: web.Request, status: int, key: str) -> web.Response:
    return render(request, "error.html", status=status, status_code=status, message_key=key)


async def _checked(request: web.Request, handler: Handler) -> web.StreamResponse:
    roles = getattr(request.match_info.handler, "console_roles", None)
    live = request.path.startswith(f"{PREFIX}/live/")
    if roles is not None:
        user = await _user(request)
        if user is None:
            if live:
                return web.Response(status=401, text="", content_type="text/plain")
            if request.method == "GET":
                return see_other(f"{PREFIX}/login?next={quote(request.path_qs, safe='')}")
            return _error(request, 403, "error.session")
        request[USER] = user
        if user.role not in roles:
            return _error(request, 403, "error.forbidden")
    if request.method not in ("GET", "HEAD"):
        if not auth.same_origin(request):
            return _error(request, 403, "error.csrf")
        form = await request.post()
        given = form.get("csrf")
        given = given if isinstance(given, str) else None
        if USER in request:
            expected = request[USER].csrf
        else:  # the login form: the double-submit cookie set with it
            expected = request.cookies.get(auth.LOGIN_COOKIE, "")
        if not expected or not auth.tokens_match(expected, given):
            return _error(request, 403, "error.csrf")
    return await handler(request)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[LANGUAGE] = i18n.negotiate(
        request.cookies.get(auth.LANGUAGE_COOKIE), request.headers.get("Accept-Language")
    )
    response: web.StreamResponse
    try:
        if request.path == PREFIX:
            response = see_other(f"{PREFIX}/", 308)
        else:
            response = await _checked(request, handler)
    except web.HTTPRedirection as exc:
        response = see_other(exc.headers.get("Location", f"{PREFIX}/"), exc.status)
    except web.HTTPNotFound:
        response = _error(request, 404, "error.not_found")
    except web.HTTPMethodNotAllowed:
        response = _error(request, 405, "error.not_found")
    except web.HTTPException as exc:
        response = _error(request, exc.status, "error.title")
    except StoreError:
        response = _error(request, 503, "error.store")
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith(f"{PREFIX}/static/"):
        response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Language"] = request[LANGUAGE]
    response.headers["Vary"] = "Cookie, Accept-Language"
    return response


# -- wiring ---------------------------------------------------------------------------------


def console_app(parent: web.Application) -> web.Application:
    """The sub-application for ``parent`` (the gateway's app, whose store it reads)."""
    from gateway.console import views

    console = Console(parent[LIVE], templates())
    sub = web.Application(middlewares=[guard])
    sub[CONSOLE] = console

    async def read_model(_sub: web.Application) -> AsyncIterator[None]:
        # the parent's store is open by now (its cleanup context runs first)
        try:
            console.read = read_model_for(parent[STORE])
        except TypeError as exc:  # the gateway serves on; the console's pages answer 503
            log.warning("console: %s", exc, extra={"event": "console-unavailable"})
            yield
            return
        await console.read.open()
        yield
        await console.read.close()
        console.read = None

    sub.cleanup_ctx.append(read_model)
    views.add_routes(sub)
    static = Path(str(resources.files("gateway.console") / "static"))
    sub.router.add_static("/static", static, name="static")
    return sub


def add_console(app: web.Application) -> None:
    """Mount the console at ``/console/`` on the gateway's ``app``, and declare its routes
    to the API's document as pages that are not part of it (``in_document=False``)."""
    from gateway.exchange.server.openapi import OPERATIONS, Operation

    sub = console_app(app)
    app.add_subapp(f"{PREFIX}/", sub)
    declared = app.setdefault(OPERATIONS, [])
    for route in sub.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue  # aiohttp answers HEAD for every GET
        path = route.resource.canonical
        name = f"console {route.method} {path}"
        declared.append(
            Operation(route.method, path, name, "console page (HTML)", in_document=False)
        )


__all__ = [
    "CONSOLE",
    "CSP",
    "HTML_ONLY",
    "LANGUAGE",
    "PREFIX",
    "USER",
    "Console",
    "add_console",
    "audit",
    "console_app",
    "now",
    "render",
    "role",
    "see_other",
]
