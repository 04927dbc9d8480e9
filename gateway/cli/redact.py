"""``gateway redact PATH --for RECIPIENT [--to FORMAT] [--consent FILE] [--report FILE]
[--strict] [--at TIME]``: the document exactly as that recipient would receive it after every
policy (the Content Filter), with the redaction report."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from gateway.cli.common import (
    TARGETS,
    UsageError,
    add_override_options,
    format_issue,
    overrides_from,
    read_one,
    write_file,
)
from gateway.documents.common import Recipient

if TYPE_CHECKING:
    from gateway.documents.common import Consent
    from gateway.policy import PolicyResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "redact",
        help="show a document as one recipient would receive it",
        description="Print the document exactly as RECIPIENT would receive it after every "
        "policy: consent, minimisation, no diagnosis data for employers. Exit 1 with the "
        "reasons on stderr and nothing on stdout when policy refuses the transfer (or the "
        "input is invalid). What was removed is listed on stderr and, as JSON, in --report.",
    )
    p.add_argument("path", metavar="PATH", help="a file or - (stdin)")
    p.add_argument("--for", required=True, dest="recipient", choices=[r.value for r in Recipient])
    p.add_argument("--to", choices=TARGETS, dest="to", help="output format (default: as input)")
    p.add_argument(
        "--consent",
        metavar="FILE",
        help="a consent record standing in for the envelope's (JSON: id, status, "
        "scope{kind[,document_id]}, given_by{system,value}, given_at, method, recipients, "
        "purposes[{code,system}][, patient, policy_rule, type, recorded_by, valid_from, "
        "withdrawn_at, provisions]; docs/policy.md)",
    )
    p.add_argument("--report", metavar="FILE", help="write the redaction report here (JSON)")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a §4 notification that needs minimising instead of minimising it",
    )
    p.add_argument(
        "--at",
        metavar="TIME",
        type=_time,
        help="time of the transfer, ISO 8601 (default: now); consent must predate it",
    )
    add_override_options(p)
    p.set_defaults(func=run)


def _time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None


def _consent(path: str | None) -> Consent | None:
    if path is None:
        return None
    from pydantic import ValidationError

    from gateway.documents.common import Consent

    inp = read_one(path)
    try:
        return Consent.model_validate_json(inp.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'record'}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"{path}: not a consent record: {problems}") from None


def run(args: argparse.Namespace) -> int:
    from gateway.formats.base import CannotRender, Format
    from gateway.formats.registry import render
    from gateway.policy import apply_policy
    from gateway.validation.service import validate_bytes

    overrides = overrides_from(args)
    consent = _consent(args.consent)
    inp = read_one(args.path)
    result = validate_bytes(inp.data, source=inp.source, overrides=overrides)
    for i in result.issues:
        print(format_issue(inp.source, i), file=sys.stderr)
    if not result.valid or result.document is None:
        return 1
    doc = result.document
    # A kind that has a place for consent is checked even when it is empty; a bare RIVTA
    # certificate has none, so the preview says it did not check (the server always does).
    check = consent is not None or "consent" in type(doc).model_fields
    outcome = apply_policy(
        doc,
        Recipient(args.recipient),
        consent=consent,
        at=args.at or datetime.now(UTC),
        strict=args.strict,
        check_consent=check,
    )
    _print_report(inp.source, outcome)
    if args.report:
        write_file(
            args.report, orjson.dumps(outcome.report_dicts(), option=orjson.OPT_INDENT_2) + b"\n"
        )
    if outcome.refused or outcome.document is None:
        return 1
    fmt = Format(args.to) if args.to else result.format
    assert fmt is not None
    try:
        out = render(outcome.document, fmt)
    except CannotRender as exc:
        raise UsageError(f"cannot render in {fmt}: {exc}") from None
    sys.stdout.buffer.write(out)
    return 0


def _print_report(source: str, outcome: PolicyResult) -> None:
    for e in outcome.report:
        where = f" [{e.path}]" if e.path else ""
        print(f"{source}: {e.action} {e.code}{where}: {e.message}", file=sys.stderr)
