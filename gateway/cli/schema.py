"""``gateway schema KIND``: the element reference of a kind's own XML schema."""

from __future__ import annotations

import argparse

from gateway.formats.schema_docs import SCHEMA_FILES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "schema",
        help="print the element reference of a kind's XML schema (from schemas/)",
    )
    p.add_argument("kind", choices=list(SCHEMA_FILES))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.formats.schema_docs import schema_reference

    print(schema_reference(args.kind), end="")
    return 0
