"""``gateway``: the command line integrators script against (CLI.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from importlib import import_module

from gateway import __version__
from gateway.cli import fhir_base
from gateway.cli.common import HelpFormatter, UsageError, add_config_option

#: Command modules, each with ``register(subparsers)``; a new command is one more name here.
COMMANDS = [
    "validate",
    "convert",
    "redact",
    "explain",
    "mapping",
    "schema",
    "fhir_artefacts",
    "harness",
    "serve",  # also audit and redeliver
    "deadlines",
    "statistics",
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
        epilog="examples:\n  gateway validate fixtures/ -q\n  gateway validate --help\n"
        "  gateway --config ci.toml validate in/ --format junit --output report.xml",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"gateway {__version__}",
        help="print the version and exit, e.g. gateway --version",
    )
    add_config_option(parser)
    fhir_base.add_option(parser)
    parser.set_defaults(config=None)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, help="one of:"
    )
    for name in COMMANDS:
        import_module(f"gateway.cli.{name}").register(sub)
    for command in sub.choices.values():  # --config anywhere on the line
        if "--config" not in command._option_string_actions:
            add_config_option(command)
        fhir_base.add_option(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
        if func is None:
            parser.print_help(sys.stderr)
            return 2
        fhir_base.apply(args)  # before any FHIR codec loads
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
