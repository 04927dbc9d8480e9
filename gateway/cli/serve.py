"""``gateway serve [--config FILE] [--host HOST] [--port PORT] [--database URL] [--workers N]
[--log-level LEVEL] [--log-format FORMAT]``, ``gateway audit [--message ID] [--since TIME]
[--verify]``, ``gateway redeliver MESSAGE_ID [--recipient ID]`` and ``gateway backup FILE``:
the exchange server and its operators' commands (docs/exchange/, docs/deployment.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.cli.common import (
    UsageError,
    add_command,
    add_config_option,
    checked_overrides,
    config_path,
    load_config,
)
from gateway.exchange.config import LOG_FORMATS, LOG_LEVELS, Config, ConfigError, parse


def _common(p: argparse.ArgumentParser) -> None:
    add_config_option(p)
    p.add_argument(
        "--database",
        metavar="URL",
        help="the store, overriding the config, e.g. sqlite:///gateway-data/gateway.db or "
        "postgresql://gateway@db.example/gateway",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "serve",
        help="run the exchange server",
        description="Receive, route, deliver and audit messages over HTTP(S) (docs/exchange/). "
        "With no options: embedded SQLite under ./gateway-data/. Prints 'gateway: listening "
        "on URL' once it serves (store open and migrated, TLS loaded, port bound); logs one "
        "JSON line per event on stderr; stops gracefully on SIGTERM; reloads senders and "
        "recipients on SIGHUP. A fault of the environment (database, port, certificate, "
        "path) is one error naming the setting, exit 2.",
        examples=[
            "gateway serve --config gateway.toml",
            "gateway serve --port 0 --workers 2",
            "gateway serve --database postgresql://gateway@db.example/gateway --workers 4",
        ],
    )
    _common(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1), e.g. 0.0.0.0")
    p.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one), e.g. 8443")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes sharing the port (default 1), e.g. 2 to use both cores",
    )
    p.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="least severe level logged (default info; debug adds tracebacks), e.g. warning",
    )
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="json: one JSON object per line (default); human: for reading, e.g. human",
    )
    p.set_defaults(func=run_serve)

    b = add_command(
        subparsers,
        "backup",
        help="copy the SQLite store while the gateway serves",
        description="An online, consistent copy of the embedded SQLite store through SQLite's "
        "backup API, safe while the gateway serves; written 0600, checked, then renamed into "
        "place. Restore: docs/deployment.md. PostgreSQL: use pg_dump.",
        examples=[
            "gateway backup /var/backups/gateway/gateway-2026-12-07.db",
            "gateway backup copy.db --database sqlite:////var/lib/gateway/gateway.db",
        ],
    )
    _common(b)
    b.add_argument("destination", metavar="FILE", help="where the copy goes, e.g. copy.db")
    b.set_defaults(func=run_backup)

    a = add_command(
        subparsers,
        "audit",
        help="list or verify the audit trail",
        description="Print the append-only audit trail (metadata and hashes, never payloads) "
        "as JSON lines; --verify checks its hash chain (exit 1 if broken).",
        examples=[
            "gateway audit --message msg-1",
            "gateway audit --since 2026-03-01T00:00",
            "gateway audit --verify",
        ],
    )
    _common(a)
    a.add_argument("--message", metavar="ID", help="only this message's records, e.g. msg-1")
    a.add_argument(
        "--since",
        metavar="TIME",
        type=_time,
        help="only records at or after TIME (ISO 8601, UTC unless a zone is given), "
        "e.g. 2026-03-01T00:00",
    )
    a.add_argument(
        "--verify",
        action="store_true",
        help="check the whole hash chain instead of listing, e.g. gateway audit --verify",
    )
    a.set_defaults(func=run_audit)

    r = add_command(
        subparsers,
        "redeliver",
        help="send dead-lettered deliveries again",
        description="Move a message's dead-lettered deliveries back to the outbox; a running "
        "gateway delivers them. Exit 1 when there was nothing dead to redeliver.",
        examples=["gateway redeliver msg-1", "gateway redeliver msg-1 --recipient fk"],
    )
    _common(r)
    r.add_argument("message_id", metavar="MESSAGE_ID", help="the message, e.g. msg-1")
    r.add_argument("--recipient", metavar="ID", help="only this recipient's delivery, e.g. fk")
    r.set_defaults(func=run_redeliver)


def _time(value: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def config_from(args: argparse.Namespace, **server: Any) -> Config:
    """The configuration: gateway.toml read by the one reader (cli/common.py), the server's
    tables checked by gateway.exchange.config, ``[rules]``' codes checked against the rule
    catalogue; ``server``: ``[server]`` keys from the command line."""
    path = config_path(getattr(args, "config", None))
    data = load_config(str(path) if path else None)
    overrides = {k: v for k, v in server.items() if v is not None}
    if getattr(args, "database", None):
        overrides["database"] = args.database
    try:
        config = parse(data, source=str(path) if path else "(defaults)", overrides=overrides)
    except ConfigError as exc:
        raise UsageError(f"invalid configuration\n{exc}") from None
    rules = checked_overrides(sorted(config.rules.warn), sorted(config.rules.ignore))
    return replace(config, rules=rules)


def startup_notices(config: Config) -> list[str]:
    """What the configuration allows that will be refused whenever it happens."""
    from gateway.exchange.router import not_carried

    if not config.senders:
        return ["no senders configured: every message will be refused "
                "(docs/exchange/configuration.md)"]  # fmt: skip
    return [
        f"sender {sender!r} may send a {kind} to {rid!r}, whose endpoint cannot carry it: "
        f"such a message is refused for {rid!r} (EXCHANGE-CANNOT-RENDER)"
        for sender, kind, rid in not_carried(config)
    ]


def run_serve(args: argparse.Namespace) -> int:
    from gateway.exchange.server.serve import StartupError, run
    from gateway.exchange.wiring import build_transports

    server = {
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "log_level": args.log_level,
        "log_format": args.log_format,
    }
    config = config_from(args, **server)
    try:
        build_transports(config)  # fail before listening, not in every worker
    except ConfigError as exc:
        raise UsageError(f"invalid configuration\n{exc}") from None
    for notice in startup_notices(config):
        print(f"gateway: {notice}", file=sys.stderr)

    def reload() -> Config:  # SIGHUP: the same file, read and checked again
        try:
            return config_from(args, **server)
        except UsageError as exc:
            raise ConfigError(
                str(getattr(args, "config", None) or "gateway.toml"), str(exc).splitlines()
            ) from None

    try:
        return run(config, reload=reload)
    except StartupError as exc:
        raise UsageError(str(exc)) from None


def run_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.exchange.backup import BackupError, backup

    config = config_from(args)
    try:
        report = backup(config.server.database, Path(args.destination))
    except BackupError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"backup of {report.source} written to {report.destination}: {report.messages} "
        f"messages, {report.deliveries} deliveries, {report.audit_records} audit records "
        f"({report.bytes} bytes, integrity ok)"
    )
    return 0


def run_audit(args: argparse.Namespace) -> int:
    from gateway.exchange.audit import verify
    from gateway.exchange.store import store_for

    config = config_from(args)
    store = store_for(config.server.database)

    async def main() -> int:
        await store.open()
        try:
            if args.verify:
                count, breaks = await verify(store.audit_records())
                for b in breaks:
                    print(f"record {b.seq}: {b.problem}")
                if breaks:
                    print(f"audit trail BROKEN: {len(breaks)} problem(s) in {count} records")
                    return 1
                print(f"audit trail intact: {count} records")
                return 0
            out = sys.stdout.buffer
            async for rec in store.audit_records(message_id=args.message, since=args.since):
                e = rec.entry
                line = {
                    "seq": rec.seq,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "message": e.message_id,
                    "recipient": e.recipient_id,
                    "detail": dict(e.detail),
                    "hash": rec.hash,
                }
                out.write(orjson.dumps(line) + b"\n")
            out.flush()
            return 0
        finally:
            await store.close()

    return _with_store(main)


def _with_store(main: Any) -> int:
    """Run an operator command; a store that cannot be opened is an error naming the
    setting (exit 2), not a bug."""
    from gateway.exchange.store import StoreError

    try:
        return int(asyncio.run(main()))
    except StoreError as exc:
        raise UsageError(f"server.database: {exc}") from None


def run_redeliver(args: argparse.Namespace) -> int:
    from gateway.exchange.store import store_for
    from gateway.exchange.store.base import AuditEntry

    config = config_from(args)
    store = store_for(config.server.database)

    async def main() -> int:
        await store.open()
        try:
            now = datetime.now(UTC)
            entry = AuditEntry(now, "operator", "redelivered", args.message_id)
            moved = await store.redeliver(args.message_id, args.recipient, entry, now=now)
        finally:
            await store.close()
        if not moved:
            print(f"nothing dead-lettered for {args.message_id}", file=sys.stderr)
            return 1
        noun = "delivery" if moved == 1 else "deliveries"
        print(f"{moved} {noun} of {args.message_id} back in the outbox")
        return 0

    return _with_store(main)
