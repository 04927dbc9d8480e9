"""``gateway schema KIND``: the element reference of a kind's own XML schema."""

from __future__ import annotations

import argparse

from gateway.cli.common import add_command
from gateway.formats.schema_docs import SCHEMA_FILES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "schema",
        help="print the element reference of a kind's XML schema (from schemas/)",
        examples=["gateway schema sip", "gateway schema section4-notification > ref.md"],
    )
    p.add_argument(
        "kind",
        metavar="KIND",
        choices=list(SCHEMA_FILES),
        help="one of " + ", ".join(SCHEMA_FILES) + ", e.g. sip",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.formats.schema_docs import schema_reference

    print(schema_reference(args.kind), end="")
    return 0
