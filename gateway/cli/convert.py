"""``gateway convert PATH --to FORMAT [--output FILE]``: Message Translator through the
canonical model (never format to format)."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.common import (
    UsageError,
    add_override_options,
    format_issue,
    iter_inputs,
    overrides_from,
)

TARGETS = ["xml", "fhir-json", "fhir-xml", "rivta-message"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a document to another format",
        description="Print the document in the target format. Invalid input: exit 1, the "
        "issues on stderr, nothing on stdout.",
    )
    p.add_argument("path", metavar="PATH", help="a file or - (stdin)")
    p.add_argument("--to", required=True, choices=TARGETS, dest="to")
    p.add_argument("--output", metavar="FILE")
    add_override_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.formats.base import Format
    from gateway.validation.service import validate_bytes

    overrides = overrides_from(args)
    (inp,) = list(iter_inputs([args.path]))
    result = validate_bytes(inp.data, source=inp.source, overrides=overrides)
    for i in result.issues:
        print(format_issue(inp.source, i), file=sys.stderr)
    if not result.valid or result.document is None:
        return 1
    out = render(result.document, Format(args.to))
    if args.output:
        with open(args.output, "wb") as f:
            f.write(out)
    else:
        sys.stdout.buffer.write(out)
    return 0


def render(document: object, fmt: object) -> bytes:
    """Render a canonical document in a format; UsageError when that cannot be done."""
    from gateway.documents import Document, Section4Notification
    from gateway.documents.issues import Issue
    from gateway.formats.base import Format
    from gateway.formats.registry import codec_for

    assert isinstance(fmt, Format)
    doc: Document = document  # type: ignore[assignment]
    if fmt is Format.RIVTA_MESSAGE:
        if not isinstance(doc, Section4Notification):
            raise UsageError("rivta-message is the format of §4 notifications only")
        from gateway.formats.rivta.send_message import (  # type: ignore[import-not-found,unused-ignore]
            CannotRender,
            render_send_message,
        )

        try:
            out: bytes = render_send_message(doc)
            return out
        except CannotRender as exc:
            raise UsageError(str(exc)) from None
    codec = codec_for(doc.kind, fmt)
    if isinstance(codec, Issue):
        raise UsageError(codec.message)
    return codec.render(doc)
