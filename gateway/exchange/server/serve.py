"""Running the server: ``gateway serve``. One listening socket, opened by the parent, shared
by ``workers`` processes forked from it (pre-fork, as gunicorn does): the kernel spreads
connections over them, each runs its own event loop, store connection, group committer and
outbox workers, so both cores work. The parent forwards SIGTERM/SIGINT and waits; each
process shuts down gracefully (stops accepting, commits what it has, finishes or hands back
its deliveries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import sys
import tempfile
from typing import TextIO

from aiohttp import web

from gateway.exchange.config import Config
from gateway.exchange.tls import server_context

log = logging.getLogger("gateway.server")


def server_ssl_context(config: Config) -> ssl.SSLContext | None:
    """HTTPS that asks for a client certificate (mTLS) when ``[server.tls]`` is set. A
    connection without a certificate may still use a bearer token if one is configured."""
    tls = config.server.tls
    if tls is None or tls.cert is None or tls.key is None:  # config requires both
        return None
    if tls.ca is not None:  # client certificates verified against this CA only
        return server_context(tls.cert, tls.key, [tls.ca], require_client_cert=False)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(tls.cert, tls.key)
    return ctx


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _serve_one(config: Config, sock: socket.socket, name: str) -> None:
    from gateway.exchange.server.app import create_app

    app = create_app(config, worker_name=name)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=server_ssl_context(config), shutdown_timeout=5)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def run(config: Config, *, out: TextIO = sys.stdout) -> int:
    """Serve until SIGTERM/SIGINT. Prints one line with the address once listening."""
    sock = listen(config.server.host, config.server.port)
    host, port = sock.getsockname()[:2]
    scheme = "https" if config.server.tls is not None else "http"
    workers = config.server.workers
    print(
        f"gateway: listening on {scheme}://{host}:{port} ({workers} process"
        f"{'es' if workers > 1 else ''}, store {_redact(config.server.database)})",
        file=out,
        flush=True,
    )
    if workers == 1:
        asyncio.run(_serve_one(config, sock, f"{os.uname().nodename}:{os.getpid()}"))
        return 0
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gateway-metrics-")
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # child: serve, then leave without running the parent's cleanup
            code = 0
            try:
                asyncio.run(_serve_one(config, sock, f"{os.uname().nodename}:{os.getpid()}"))
            except BaseException:
                log.exception("gateway worker failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    sock.close()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _pid, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        status = status or (os.waitstatus_to_exitcode(code) != 0)
    return int(status)


def _redact(url: str) -> str:
    """A database URL without its password, for the log line."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


__all__ = ["listen", "run", "server_ssl_context"]
