"""Running the server: ``gateway serve``.

**Start-up, in order** (each environment fault is a :class:`StartupError` naming the setting
and the OS's or driver's cause; the CLI prints it and exits 2): logging, the server's TLS
certificate and key, the store opened and migrated, the port bound; then the workers start,
and only when every one serves does ``gateway: listening on URL`` appear on standard output
(and ``/ready`` answer 200): a supervisor that waits for that line never sees a false start.

**Workers** (``--workers N``): the parent forks N processes and supervises them. On Linux
each binds its own socket to the port with ``SO_REUSEPORT``, so the kernel spreads new
connections evenly over them (one shared socket let one process take most connections);
elsewhere they share the parent's socket. A worker that dies is started again; one that
keeps dying (:data:`CRASH_LIMIT` deaths within :data:`CRASH_WINDOW` seconds) makes the parent
stop them all and exit 1, saying why.

**Signals**: SIGTERM/SIGINT stop gracefully (each process stops accepting, commits what it
has received, finishes or hands back its deliveries). SIGHUP reloads senders, recipients and
``[rules]`` from the config file after validating it; a file that does not validate is
refused, the running configuration stays, and the log says why.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import os
import select
import signal
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from gateway.exchange import logs
from gateway.exchange.config import Config, ConfigError
from gateway.exchange.store.base import StoreError, masked
from gateway.exchange.tls import server_context

log = logging.getLogger("gateway.server")

#: Seconds a stopping worker gives open requests before closing their connections.
SHUTDOWN_TIMEOUT = 5.0
#: A worker dying this often within CRASH_WINDOW seconds is a crash loop: give up.
CRASH_LIMIT = 5
CRASH_WINDOW = 60.0

#: Reads and validates the config file again (SIGHUP); raises with the reason when it cannot.
Reload = Callable[[], Config]


class StartupError(Exception):
    """The environment keeps the server from starting (unreachable database, port in use,
    unreadable or mismatched certificate, unwritable path): the message names the setting
    and the cause."""


# -- start-up checks -------------------------------------------------------------------------


def server_ssl_context(config: Config) -> ssl.SSLContext | None:
    """HTTPS that asks for a client certificate (mTLS) when ``[server.tls]`` is set. A
    connection without a certificate may still use a bearer token if one is configured."""
    tls = config.server.tls
    if tls is None or tls.cert is None or tls.key is None:  # config requires both
        return None
    try:
        if tls.ca is not None:  # client certificates verified against this CA only
            return server_context(tls.cert, tls.key, [tls.ca], require_client_cert=False)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(tls.cert, tls.key)
        return ctx
    except ssl.SSLError as exc:
        why = f"{exc.library or 'SSL'}: {exc.reason}" if exc.reason else str(exc)
        if exc.reason == "KEY_VALUES_MISMATCH":
            why = f"the key does not belong to the certificate ({why})"
        raise StartupError(
            f"server.tls: cannot use certificate {tls.cert} with key {tls.key}"
            f"{f' and CA {tls.ca}' if tls.ca else ''}: {why}"
        ) from None
    except OSError as exc:
        raise StartupError(
            f"server.tls: cannot read {exc.filename or tls.cert}: {exc.strerror or exc}"
        ) from None


def _reuse_port(workers: int) -> bool:
    """Each worker its own socket (kernel-balanced), where the platform has it."""
    return workers > 1 and sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, *, setting: str, reuse_port: bool = False) -> socket.socket:
    """A socket bound to ``host:port`` (not yet listening: the server listens once it can
    serve). Raises :class:`StartupError` naming ``setting`` when the address is taken or
    cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        raise StartupError(f"{setting}: cannot listen on {host}:{port}: {why}") from None
    sock.setblocking(False)
    return sock


def listen(host: str, port: int) -> socket.socket:
    """A listening socket (tests and tools that serve the app themselves)."""
    sock = bind(host, port, setting="listen")
    sock.listen(1024)
    return sock


async def _check_store(config: Config) -> None:
    """Open (and migrate) the store once, then close it: before any worker starts, so a
    database fault is one error, not one per worker."""
    from gateway.exchange.store import store_for

    store = store_for(config.server.database)
    try:
        await store.open()
    except StoreError as exc:
        raise StartupError(f"server.database: {exc}") from None
    finally:
        with contextlib.suppress(Exception):
            await store.close()


# -- one worker ------------------------------------------------------------------------------


@dataclass
class Sockets:
    """What a worker serves on: the API's socket and, when metrics have an address of their
    own, that one's."""

    api: socket.socket
    metrics: socket.socket | None = None


class AccessLog(AbstractAccessLogger):
    """One line per answered request (``event=access``): method, route, path, status,
    duration, the authenticated principal's id; and the per-worker request counter."""

    enabled_lines = True

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        from gateway.exchange.server.app import METRICS, WORKER

        app = getattr(request, "app", None)  # a request the parser refused has none
        if app is not None and METRICS in app:
            app[METRICS].requests.labels(app[WORKER], f"{response.status // 100}xx").inc()
        if not self.enabled_lines:
            return
        from gateway.exchange.server.handlers import PRINCIPAL

        principal = request.get(PRINCIPAL) if isinstance(request, web.Request) else None
        route = None
        if isinstance(request, web.Request) and request.match_info.route.resource is not None:
            route = request.match_info.route.resource.canonical
        self.logger.info(
            "%s %s %d",
            request.method,
            request.path[:200],
            response.status,
            extra={
                "event": "access",
                "method": request.method,
                "route": route,
                "path": request.path[:200],
                "status": response.status,
                "ms": round(time * 1000, 2),
                "bytes": response.body_length,
                "principal": principal.id if principal is not None else None,
                "remote": request.remote,
            },
        )


def _metrics_app(main: web.Application) -> web.Application:
    """/metrics alone, for its own address (``[server.metrics] port``)."""
    from gateway.exchange.server.app import CLOCK, CONFIG, METRICS, STORE
    from gateway.exchange.server.metrics import CONTENT_TYPE, metrics_allowed

    async def metrics(request: web.Request) -> web.StreamResponse:
        refused = metrics_allowed(request, main[CONFIG].server.metrics, own_address=True)
        if refused is not None:
            return refused
        now = main[CLOCK]()
        try:
            stats = await main[STORE].stats(now=now)
        except StoreError:
            stats = None
        return web.Response(
            body=main[METRICS].render(stats, now), headers={"Content-Type": CONTENT_TYPE}
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def serve_worker(
    config: Config,
    sockets: Sockets,
    *,
    worker: int,
    workers: int,
    ssl_context: ssl.SSLContext | None,
    announce: Callable[[], None],
    reload: Reload | None,
) -> None:
    """Serve until SIGTERM/SIGINT: open the app (the store), listen, ``announce()``."""
    from gateway.exchange.server.app import create_app
    from gateway.exchange.server.app import reload as apply_reload

    name = f"{os.uname().nodename}:{os.getpid()}"
    app = create_app(config, worker_name=name, worker=str(worker), workers=workers)
    AccessLog.enabled_lines = config.server.access_log
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=AccessLog,
        access_log=logging.getLogger("gateway.access"),
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    try:
        await runner.setup()  # opens (and migrates) the store, starts committer and outbox
    except StoreError as exc:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        raise StartupError(f"server.database: {exc}") from None
    runners = [runner]
    await web.SockSite(runner, sockets.api, ssl_context=ssl_context, backlog=1024).start()
    if sockets.metrics is not None:
        metrics_runner = web.AppRunner(_metrics_app(app), handle_signals=False, access_log=None)
        await metrics_runner.setup()
        await web.SockSite(metrics_runner, sockets.metrics, backlog=128).start()
        runners.insert(0, metrics_runner)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, lambda: _reload_worker(app, reload, apply_reload))
    # What start-up built (schemas, codecs, templates, config: ~80,000 objects) lives as long
    # as the process: out of the collector's sight, a full collection walks only what serving
    # made since (5-8 ms instead of 50-100 ms pauses, the paced p99 under load).
    gc.collect()
    gc.freeze()
    log.info(
        "worker %d serving",
        worker,
        extra={"event": "worker-ready", "pid": os.getpid(), "frozen": gc.get_freeze_count()},
    )
    announce()
    await stop.wait()
    log.info("worker %d stopping", worker, extra={"event": "shutdown", "pid": os.getpid()})
    for r in runners:
        await r.cleanup()
    log.info("worker %d stopped", worker, extra={"event": "stopped", "pid": os.getpid()})


def _reload_worker(app: web.Application, reload: Reload, apply: Callable[..., None]) -> None:
    from gateway.exchange.wiring import build_transports

    try:
        new = reload()
        transports = build_transports(new)
    except Exception as exc:  # the file does not validate: keep what runs, say why
        log.error(
            "reload refused, the running configuration stays: %s",
            exc,
            extra={"event": "reload-refused"},
        )
        return
    apply(app, new, transports)


# -- the parent ------------------------------------------------------------------------------


def _sockets(config: Config, reuse_port: bool) -> Sockets:
    s = config.server
    api = bind(s.host, s.port, setting="server.port", reuse_port=reuse_port)
    metrics = None
    if s.metrics.port is not None:
        try:
            metrics = bind(
                s.metrics.host, s.metrics.port, setting="server.metrics.port", reuse_port=reuse_port
            )
        except StartupError:
            api.close()
            raise
    return Sockets(api, metrics)


def _own_sockets(parent: Sockets) -> Sockets:
    """A worker's sockets on the parent's addresses, each its own (SO_REUSEPORT)."""
    host, port = parent.api.getsockname()[:2]
    api = bind(host, port, setting="server.port", reuse_port=True)
    metrics = None
    if parent.metrics is not None:
        mhost, mport = parent.metrics.getsockname()[:2]
        metrics = bind(mhost, mport, setting="server.metrics.port", reuse_port=True)
    return Sockets(api, metrics)


def run(
    config: Config,
    *,
    reload: Reload | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Serve until SIGTERM/SIGINT (see the module docstring). Raises :class:`StartupError`
    for an environment fault found before serving; returns the exit code."""
    s = config.server
    logs.setup(s.log_level, s.log_format, stream=err)
    ssl_context = server_ssl_context(config)
    workers = s.workers
    if workers > 1:
        asyncio.run(_check_store(config))  # once, before forking (workers open it again)
    sockets = _sockets(config, _reuse_port(workers))
    host, port = sockets.api.getsockname()[:2]
    scheme = "https" if ssl_context is not None else "http"
    line = (
        f"gateway: listening on {scheme}://{host}:{port} ({workers} process"
        f"{'es' if workers > 1 else ''}, store {masked(s.database)})"
    )

    def announce() -> None:
        print(line, file=out, flush=True)
        log.info(line.removeprefix("gateway: "), extra={"event": "listening", "port": port})

    if workers == 1:
        logs.STATIC["worker"] = "0"
        asyncio.run(
            serve_worker(
                config,
                sockets,
                worker=0,
                workers=1,
                ssl_context=ssl_context,
                announce=announce,
                reload=reload,
            )
        )
        return 0
    return Supervisor(config, sockets, ssl_context, reload, err).run(announce)


class Supervisor:
    """The parent of ``--workers N``: forks them, waits until each serves, restarts one that
    dies, gives up on a crash loop, forwards SIGTERM/SIGINT and (after validating) SIGHUP."""

    def __init__(
        self,
        config: Config,
        sockets: Sockets,
        ssl_context: ssl.SSLContext | None,
        reload: Reload | None,
        err: TextIO,
    ) -> None:
        self.config = config
        self.sockets = sockets
        self.ssl_context = ssl_context
        self.reload = reload
        self.err = err
        self.reuse_port = _reuse_port(config.server.workers)
        self.children: dict[int, int] = {}  # pid -> worker number
        self.deaths: collections.deque[float] = collections.deque()
        self.stopping = False
        self.ready_r, self.ready_w = os.pipe()
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")

    def spawn(self, worker: int) -> None:
        pid = os.fork()
        if pid:
            self.children[pid] = worker
            return
        code = 0  # the child: serve, then leave without running the parent's cleanup
        try:
            os.close(self.ready_r)
            logs.STATIC["worker"] = str(worker)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            own = self.sockets
            if self.reuse_port:  # its own socket on the port; the parent's stays unused here
                own = _own_sockets(self.sockets)
                self.sockets.api.close()
                if self.sockets.metrics is not None:
                    self.sockets.metrics.close()
            asyncio.run(
                serve_worker(
                    self.config,
                    own,
                    worker=worker,
                    workers=self.config.server.workers,
                    ssl_context=self.ssl_context,
                    reload=self.reload,
                    announce=lambda: self._ready(worker),
                )
            )
        except StartupError as exc:
            print(f"gateway: error: {exc}", file=self.err, flush=True)
            code = 2
        except BaseException as exc:
            log.critical(
                "worker %d failed (%s)",
                worker,
                type(exc).__name__,
                exc_info=exc,
                extra={"event": "worker-failed"},
            )
            code = 1
        finally:
            os._exit(code)

    def _ready(self, worker: int) -> None:
        os.write(self.ready_w, bytes([worker]))

    def run(self, announce: Callable[[], None]) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until every worker serves
        for worker in range(self.config.server.workers):
            self.spawn(worker)
        code = self._await_ready()
        if code is not None:
            return code
        announce()
        signal.signal(signal.SIGHUP, self._hup)
        return self._watch()

    def _await_ready(self) -> int | None:
        """Wait until every worker announced itself; if one dies first (or we are told to
        stop), stop the others and return the exit code (a worker's own error is already on
        stderr)."""
        ready: set[int] = set()
        while len(ready) < self.config.server.workers and not self.stopping:
            readable, _, _ = select.select([self.ready_r], [], [], 0.2)
            if readable:
                ready.update(os.read(self.ready_r, 64))
                continue
            pid, raw = os.waitpid(-1, os.WNOHANG)
            if pid and self.children.pop(pid, None) is not None:
                self._terminate()
                codes = [c for c in [os.waitstatus_to_exitcode(raw), *self._reap_all()] if c]
                return max(codes) if codes else 1
        if self.stopping:
            self._reap_all()
            return 0
        return None

    def _stop(self, _signum: int, _frame: object) -> None:
        self.stopping = True
        self._terminate()

    def _hup(self, _signum: int, _frame: object) -> None:
        if self.reload is None:
            return
        from gateway.exchange.wiring import build_transports

        try:
            new = self.reload()
            for t in build_transports(new).values():  # builds them to check, nothing more
                del t
        except (ConfigError, Exception) as exc:
            log.error(
                "reload refused, the running configuration stays: %s",
                exc,
                extra={"event": "reload-refused"},
            )
            return
        # for workers started later
        self.config = replace(
            self.config, senders=new.senders, recipients=new.recipients, rules=new.rules
        )
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    def _terminate(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _reap_all(self) -> list[int]:
        codes = []
        while self.children:
            pid, status = os.wait()
            if self.children.pop(pid, None) is not None:
                codes.append(os.waitstatus_to_exitcode(status))
        return codes

    def _watch(self) -> int:
        status = 0
        while self.children:
            try:
                pid, raw = os.wait()
            except ChildProcessError:
                break
            worker = self.children.pop(pid, None)
            if worker is None:
                continue
            code = os.waitstatus_to_exitcode(raw)
            if self.stopping:
                status = status or int(code != 0)
                continue
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            log.error(
                "worker %d (pid %d) died (%s)",
                worker,
                pid,
                how,
                extra={"event": "worker-died", "worker": str(worker), "pid": pid},
            )
            now = time.monotonic()
            self.deaths.append(now)
            while self.deaths and now - self.deaths[0] > CRASH_WINDOW:
                self.deaths.popleft()
            if len(self.deaths) >= CRASH_LIMIT:
                message = (
                    f"workers died {len(self.deaths)} times within {CRASH_WINDOW:g} s (last: "
                    f"worker {worker}, {how}); giving up (see the log above for why)"
                )
                log.critical(message, extra={"event": "crash-loop"})
                print(f"gateway: error: {message}", file=self.err, flush=True)
                self.stopping = True
                self._terminate()
                self._reap_all()
                return 1
            log.info(
                "restarting worker %d",
                worker,
                extra={"event": "worker-restart", "worker": str(worker)},
            )
            self.spawn(worker)
        return status


__all__ = ["StartupError", "bind", "listen", "run", "serve_worker", "server_ssl_context"]
