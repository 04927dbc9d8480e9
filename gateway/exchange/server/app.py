"""The aiohttp application: typed state with ``web.AppKey``, resources opened and closed with
``cleanup_ctx`` (store, group committer, outbox workers, retention purge, transports).
Handlers are in :mod:`.handlers`; the API is described in :mod:`.openapi` (served at
``/openapi.json``) and docs/exchange/api.md.

What SIGHUP may change (senders, recipients, their rate limits and transports, ``[rules]``)
lives in :class:`Live`, replaced whole by :func:`reload`; everything else is fixed at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aiohttp import web

from gateway.exchange.config import Config
from gateway.exchange.outbox import Outbox, utcnow
from gateway.exchange.server.auth import Authenticator, Identify, RateLimiter, certificate_identity
from gateway.exchange.server.committer import Committer
from gateway.exchange.server.metrics import Metrics
from gateway.exchange.store import store_for
from gateway.exchange.store.base import AuditEntry, Claim, Outcome, Store
from gateway.exchange.transport import Answer, Transport

log = logging.getLogger("gateway.server")


@dataclass
class Live:
    """What a reload replaces: the config (its senders, recipients and rules), who may log in,
    their rate limits."""

    config: Config
    auth: Authenticator
    limits: RateLimiter


CONFIG = web.AppKey("config", Config)  # as started (server, delivery, retention sections)
LIVE = web.AppKey("live", Live)
STORE = web.AppKey("store", Store)
COMMITTER = web.AppKey("committer", Committer)
OUTBOX = web.AppKey("outbox", Outbox)
METRICS = web.AppKey("metrics", Metrics)
AUTH = web.AppKey("auth", Authenticator)  # the one in LIVE, as started (tests)
WORKER = web.AppKey("worker", str)  # this process's number among --workers N ("0", "1", …)
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
#: the state of start-up: "starting", then "ready"; /ready answers 200 only when ready
STATE = web.AppKey("state", dict)


def create_app(
    config: Config,
    *,
    store: Store | None = None,
    transports: Mapping[str, Transport] | None = None,
    clock: Callable[[], datetime] = utcnow,
    identify: Identify = certificate_identity,
    run_outbox: bool = True,
    worker_name: str | None = None,
    worker: str = "0",
    workers: int = 1,
    restart_after: float = 1.0,
) -> web.Application:
    """The gateway as an aiohttp app. ``store`` and ``transports`` default to what the config
    says (tests pass their own); ``run_outbox=False`` leaves delivery to the test, which then
    drives ``app[OUTBOX]`` itself. ``workers``: how many processes share the configured rate
    limits (each admits its share)."""
    from gateway.console import add_console
    from gateway.exchange.server import handlers

    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[CONFIG] = config
    auth = Authenticator(config, identify)
    app[LIVE] = Live(config, auth, RateLimiter(config, share=1 / workers))
    app[AUTH] = auth
    app[STORE] = store if store is not None else store_for(config.server.database)
    app[CLOCK] = clock
    app[WORKER] = worker
    app[STATE] = {"state": "starting"}
    app[METRICS] = Metrics()
    if transports is None:
        from gateway.exchange.wiring import build_transports

        transports = build_transports(config)
    metrics = app[METRICS]

    def observe(claim: Claim, answer: Answer, outcome: Outcome, age: float) -> None:
        metrics.deliveries.labels(claim.kind, claim.recipient_id, str(outcome)).inc()
        if outcome is Outcome.DELIVERED:
            metrics.delivery_seconds.labels(claim.recipient_id).observe(age)

    outbox = app[OUTBOX] = Outbox(
        app[STORE],
        dict(transports),
        config.delivery,
        name=worker_name or f"{os.uname().nodename}:{os.getpid()}",
        clock=clock,
        observer=observe,
    )
    app[COMMITTER] = Committer(
        app[STORE],
        config.server.commit_batch,
        max_pending=config.server.commit_queue,
        wake=outbox.wake,
        restart_after=restart_after,
    )
    app[STORE].watch(outbox.wake)  # another host's new messages (PostgreSQL NOTIFY)
    handlers.add_routes(app)
    add_console(app)  # /console/: the operators' and coordinators' pages (gateway/console/)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_committer_ctx)
    app.cleanup_ctx.append(_transports_ctx)  # closed after the outbox stops
    if run_outbox:
        app.cleanup_ctx.append(_outbox_ctx)
        app.cleanup_ctx.append(_retention_ctx)
    app.on_startup.append(_started)
    return app


async def _started(app: web.Application) -> None:
    app[STATE]["state"] = "ready"


async def readiness(app: web.Application) -> str | None:
    """``None`` when this process can accept messages durably (GET /ready), else why not."""
    if app[STATE]["state"] != "ready":
        return f"the gateway is {app[STATE]['state']}"
    fault = app[COMMITTER].fault
    if fault is not None:
        return f"the group committer is restarting after a fault ({fault})"
    problem = await app[STORE].health()
    return None if problem is None else f"the store is unavailable: {problem}"


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[STORE].open()
    yield
    await app[STORE].close()


async def _committer_ctx(app: web.Application) -> AsyncIterator[None]:
    app[COMMITTER].start()
    yield
    app[STATE]["state"] = "stopping"
    await app[COMMITTER].stop()


async def _outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    app[OUTBOX].start()
    yield
    await app[OUTBOX].stop()


async def purge_once(app: web.Application) -> int:
    """Drop payloads delivered longer ago than the retention period."""
    now = app[CLOCK]()
    before = now - timedelta(days=app[CONFIG].retention.payload_days)
    entry = AuditEntry(now, "retention", "purged")
    purged = await app[STORE].purge_payloads(before, entry)
    if purged:
        log.info(
            "retention: %d payloads purged", purged, extra={"event": "purged", "payloads": purged}
        )
    return purged


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            try:
                await purge_once(app)
            except Exception as exc:
                log.error(
                    "retention purge failed (%s)",
                    type(exc).__name__,
                    extra={"event": "purge-failed", "error": type(exc).__name__},
                )
            await asyncio.sleep(app[CONFIG].retention.purge_interval_seconds)

    task = asyncio.create_task(loop(), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _transports_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    for t in app[OUTBOX].transports.values():
        with contextlib.suppress(Exception):
            await t.close()


def reload(app: web.Application, new: Config, transports: Mapping[str, Transport]) -> None:
    """Take a reloaded config's senders, recipients, ``[rules]`` and console users (already
    validated, its transports built): logins, rate limits and routes change for the next
    request, the outbox uses the new transports for its next attempts; a replaced transport is
    closed once the attempts that may still use it are over (they end within a lease)."""
    live = app[LIVE]  # changed in place: a started app's state is not replaced
    old = live.config
    config = replace(
        old, senders=new.senders, recipients=new.recipients, rules=new.rules, users=new.users
    )
    live.config = config
    live.auth = Authenticator(config, live.auth.identify)
    live.limits = RateLimiter(config, live.limits.share)
    outbox = app[OUTBOX]
    before = outbox.transports
    keep = {
        r.id: before[r.id]
        for r in config.recipients
        if r.id in before and r.push is not None and old.recipient(r.id) == r
    }
    outbox.transports = {**transports, **keep}
    retired = [t for rid, t in before.items() if keep.get(rid) is not t]
    for t in transports.values():
        if t not in outbox.transports.values():
            retired.append(t)  # built for the check, not needed: the old one is kept

    async def close_later() -> None:
        await asyncio.sleep(old.delivery.lease_seconds)
        for t in retired:
            with contextlib.suppress(Exception):
                await t.close()

    if retired:
        task = asyncio.get_running_loop().create_task(close_later())
        app[STATE].setdefault("tasks", set()).add(task)
        task.add_done_callback(app[STATE]["tasks"].discard)
    log.info(
        "configuration reloaded: %d senders, %d recipients",
        len(config.senders),
        len(config.recipients),
        extra={"event": "reloaded"},
    )


__all__ = [
    "AUTH",
    "CLOCK",
    "COMMITTER",
    "CONFIG",
    "LIVE",
    "METRICS",
    "OUTBOX",
    "STATE",
    "STORE",
    "WORKER",
    "Live",
    "create_app",
    "purge_once",
    "readiness",
    "reload",
]
