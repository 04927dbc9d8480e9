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
#: A module registers the command of its name (``mock_recipient``: ``mock-recipient``) and
#: may register others (:data:`ALSO`).
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


#: Commands registered by a module of another name.
ALSO = {"audit": "serve", "redeliver": "serve"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line. ``command``: register just the module of this command, since what it
    runs needs nothing of the others (``gateway validate`` then imports neither the exchange
    nor the policy stack); every command otherwise, for the overview and its errors."""
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
    module = ALSO.get(command, command.replace("-", "_")) if command else None
    if module in COMMANDS:
        import_module(f"gateway.cli.{module}").register(sub)
    if command not in sub.choices:  # none named, or not where expected: all of them
        for name in COMMANDS:
            if name != module:
                import_module(f"gateway.cli.{name}").register(sub)
    for parser_ in sub.choices.values():  # --config anywhere on the line
        if "--config" not in parser_._option_string_actions:
            add_config_option(parser_)
        fhir_base.add_option(parser_)
    return parser


def _command(argv: list[str]) -> str | None:
    """The command the line names, unless the top level's help or version is asked first."""
    words = iter(argv)
    for word in words:
        if word in ("--config", "--fhir-base-url"):
            next(words, None)
        elif word in ("-h", "--help", "--version"):
            return None
        elif not word.startswith("-"):
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    try:
        line = sys.argv[1:] if argv is None else argv
        parser = build_parser(_command(line))
        args = parser.parse_args(line)
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
