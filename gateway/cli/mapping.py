"""``gateway mapping KIND``: the declarative field map of a kind, as a table for integrators."""

from __future__ import annotations

import argparse

from gateway.cli.common import add_command
from gateway.documents.common import DocumentKind


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "mapping",
        examples=["gateway mapping sip", "gateway mapping certificate > certificate-map.md"],
        help="print the field mapping of a kind (canonical <-> XML <-> FHIR)",
        description="Print mappings/KIND.toml as a Markdown table: each canonical field, "
        "where the XML format holds it and where the FHIR shape holds it.",
    )
    kinds = [k.value for k in DocumentKind]
    p.add_argument(
        "kind", metavar="KIND", choices=kinds, help=f"one of {', '.join(kinds)}, e.g. sip"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.formats.fhir.mapping import render_mapping_table

    print(render_mapping_table(args.kind), end="")
    return 0
