"""The aiohttp application: typed state with ``web.AppKey``, resources opened and closed with
``cleanup_ctx`` (store, group committer, outbox workers, retention purge, transports).
Handlers are in :mod:`.handlers`; the API is described in :mod:`.openapi` (served at
``/openapi.json``) and docs/exchange/api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta

from aiohttp import web

from gateway.exchange.config import Config
from gateway.exchange.outbox import Outbox, utcnow
from gateway.exchange.server.auth import Authenticator, Identify, certificate_identity
from gateway.exchange.server.committer import Committer
from gateway.exchange.server.metrics import Metrics
from gateway.exchange.store import store_for
from gateway.exchange.store.base import AuditEntry, Claim, Outcome, Store
from gateway.exchange.transport import Answer, Transport

log = logging.getLogger("gateway.server")

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
COMMITTER = web.AppKey("committer", Committer)
OUTBOX = web.AppKey("outbox", Outbox)
METRICS = web.AppKey("metrics", Metrics)
AUTH = web.AppKey("auth", Authenticator)
Clock = Callable[[], datetime]
CLOCK: web.AppKey[Clock] = web.AppKey("clock")


def create_app(
    config: Config,
    *,
    store: Store | None = None,
    transports: Mapping[str, Transport] | None = None,
    clock: Callable[[], datetime] = utcnow,
    identify: Identify = certificate_identity,
    run_outbox: bool = True,
    worker_name: str | None = None,
) -> web.Application:
    """The gateway as an aiohttp app. ``store`` and ``transports`` default to what the config
    says (tests pass their own); ``run_outbox=False`` leaves delivery to the test, which then
    drives ``app[OUTBOX]`` itself."""
    from gateway.console import add_console
    from gateway.exchange.server import handlers

    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[CONFIG] = config
    app[STORE] = store if store is not None else store_for(config.server.database)
    app[CLOCK] = clock
    app[METRICS] = Metrics()
    app[AUTH] = Authenticator(config, identify)
    app[COMMITTER] = Committer(app[STORE], config.server.commit_batch)
    if transports is None:
        from gateway.exchange.wiring import build_transports

        transports = build_transports(config)
    metrics = app[METRICS]

    def observe(claim: Claim, answer: Answer, outcome: Outcome, age: float) -> None:
        metrics.deliveries.labels(claim.kind, claim.recipient_id, str(outcome)).inc()
        if outcome is Outcome.DELIVERED:
            metrics.delivery_seconds.labels(claim.recipient_id).observe(age)

    app[OUTBOX] = Outbox(
        app[STORE],
        transports,
        config.delivery,
        name=worker_name or f"{os.uname().nodename}:{os.getpid()}",
        clock=clock,
        observer=observe,
    )
    handlers.add_routes(app)
    add_console(app)  # /console/: the operators' and coordinators' pages (gateway/console/)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_committer_ctx)
    app.cleanup_ctx.append(_transports_ctx(transports))  # closed after the outbox stops
    if run_outbox:
        app.cleanup_ctx.append(_outbox_ctx)
        app.cleanup_ctx.append(_retention_ctx)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[STORE].open()
    yield
    await app[STORE].close()


async def _committer_ctx(app: web.Application) -> AsyncIterator[None]:
    app[COMMITTER].start()
    yield
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
    return await app[STORE].purge_payloads(before, entry)


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            try:
                await purge_once(app)
            except Exception:
                log.exception("retention purge failed")
            await asyncio.sleep(app[CONFIG].retention.purge_interval_seconds)

    task = asyncio.create_task(loop(), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _transports_ctx(
    transports: Mapping[str, Transport],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        for t in transports.values():
            with contextlib.suppress(Exception):
                await t.close()

    return ctx


__all__ = [
    "AUTH",
    "CLOCK",
    "COMMITTER",
    "CONFIG",
    "METRICS",
    "OUTBOX",
    "STORE",
    "create_app",
    "purge_once",
]
