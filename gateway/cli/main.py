"""``gateway``: the command line integrators script against (CLI.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from importlib import import_module

from gateway import __version__
from gateway.cli.common import UsageError

#: Command modules, each with ``register(subparsers)``.
COMMANDS = [
    "validate",
    "convert",
    "redact",
    "explain",
    "mapping",
    "schema",
    "harness",
    "serve",  # also audit and redeliver
    "mock_recipient",
    "demo",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gateway",
        description="Validate, convert and redact Swedish sick-leave and rehabilitation "
        "documents (certificates FK7804/AG7804/AG1-14, SIP, return-to-work plans, "
        "§4 notifications) in RIVTA/own XML and FHIR R4.",
    )
    parser.add_argument("--version", action="version", version=f"gateway {__version__}")
    parser.add_argument(
        "--config", metavar="FILE", help="TOML config file (default ./gateway.toml if present)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        import_module(f"gateway.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return 2
        return func(args)
    except UsageError as exc:
        print(f"gateway: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: say so plainly, no traceback (no patient data)
        if os.environ.get("GATEWAY_DEBUG"):
            raise
        print(
            f"gateway: internal error ({type(exc).__name__}); this is a bug in the gateway, "
            "not in your document. Run with GATEWAY_DEBUG=1 for details.",
            file=sys.stderr,
        )
        return 2
