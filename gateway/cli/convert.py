"""``gateway convert PATH --to FORMAT [--output FILE]``: Message Translator through the
canonical model (never format to format)."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.common import (
    TARGETS,
    UsageError,
    add_command,
    add_override_options,
    add_pretty_option,
    finish_output,
    format_issue,
    overrides_from,
    read_one,
    write_file,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "convert",
        help="convert a document to another format",
        description="Print the document in the target format. Invalid input: exit 1, the "
        "issues on stderr, nothing on stdout.",
        examples=[
            "gateway convert cert.xml --to fhir-json",
            "gateway convert plan.fhir.json --to xml --pretty --output plan.xml",
            "gateway convert notice.xml --to rivta-message --warn ID-PERSON-CHECKSUM",
            "gateway convert cert.xml --to fhir-xml --ignore CERT-X",
        ],
    )
    p.add_argument("path", metavar="PATH", help="a file or - (stdin), e.g. cert.xml")
    p.add_argument(
        "--to",
        required=True,
        choices=TARGETS,
        dest="to",
        help="the target format, e.g. --to fhir-json",
    )
    p.add_argument(
        "--output", metavar="FILE", help="write here instead of stdout, e.g. --output out.xml"
    )
    add_pretty_option(p)
    add_override_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.formats.base import CannotRender, Format
    from gateway.formats.registry import render
    from gateway.validation.service import validate_bytes

    overrides = overrides_from(args)
    inp = read_one(args.path)
    result = validate_bytes(inp.data, source=inp.source, overrides=overrides)
    for i in result.issues:
        print(format_issue(inp.source, i), file=sys.stderr)
    if not result.valid or result.document is None:
        return 1
    try:
        out = render(result.document, Format(args.to))
    except CannotRender as exc:
        raise UsageError(str(exc)) from None
    out = finish_output(out, args.pretty)
    if args.output:
        write_file(args.output, out)
    else:
        sys.stdout.buffer.write(out)
    return 0
