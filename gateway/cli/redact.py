"""``gateway redact PATH --for RECIPIENT [--to FORMAT] [--consent FILE] [--report FILE]
[--strict] [--at TIME]``: the document exactly as that recipient would receive it after every
policy (the Content Filter), with the redaction report."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

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
from gateway.documents.common import Recipient
from gateway.formats.base import Format

if TYPE_CHECKING:
    from gateway.documents.common import Consent
    from gateway.policy import PolicyResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "redact",
        help="show a document as one recipient would receive it",
        examples=[
            "gateway redact cert.xml --for employer --report removed.json",
            "gateway redact sip.xml --for municipality --to fhir-json --pretty",
            "gateway redact notice.xml --for forsakringskassan --strict --at 2026-01-05T10:00",
            "gateway redact cert.xml --for employer --consent consent.json",
            "gateway redact sip.xml --for employer --organisation 556123-4567",
            "gateway redact cert.xml --for employer --warn ID-PERSON-CHECKSUM --ignore CERT-X",
        ],
        description="Print the document exactly as RECIPIENT would receive it after every "
        "policy: consent, minimisation, no diagnosis data for employers. Exit 1 with the "
        "reasons on stderr and nothing on stdout when policy refuses the transfer (or the "
        "input is invalid). What was removed is listed on stderr and, as JSON, in --report.",
    )
    p.add_argument("path", metavar="PATH", help="a file or - (stdin), e.g. cert.xml")
    p.add_argument(
        "--for",
        required=True,
        dest="recipient",
        choices=[r.value for r in Recipient],
        help="the recipient, e.g. --for employer",
    )
    p.add_argument(
        "--to",
        choices=TARGETS,
        dest="to",
        help="output format (default: as input), e.g. --to fhir-json",
    )
    p.add_argument(
        "--consent",
        metavar="FILE",
        help="a consent record offered beside the document (JSON: id, status, "
        "scope{kind[,document_id]}, given_by{system,value}, given_at, method, recipients, "
        "purposes[{code,system}][, patient, policy_rule, type, recorded_by, valid_from, "
        "withdrawn_at, provisions, organisations, actions, ...]; docs/policy.md), "
        "e.g. --consent consent.json",
    )
    p.add_argument(
        "--organisation",
        metavar="ID",
        help="the recipient's organisation number or HSA-id, as the server's configuration "
        "names it: a consent to an employer must name it (without it the preview notes that "
        "it was not compared), e.g. --organisation 556123-4567",
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="write the redaction report here (JSON), e.g. --report removed.json",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse a §4 notification that needs minimising instead of minimising it, "
        "e.g. --strict",
    )
    p.add_argument(
        "--trust-anchors",
        metavar="PEM",
        help="CA certificates (PEM) a certificate's signature must chain to for an employer's "
        "copy to carry it (default: none, so employers never get a signature), "
        "e.g. --trust-anchors siths-ca.pem",
    )
    p.add_argument(
        "--at",
        metavar="TIME",
        type=_time,
        help="time of the transfer, ISO 8601 (default: now); consent must predate it, "
        "e.g. --at 2026-01-05T10:00",
    )
    add_pretty_option(p)
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
    from gateway.transfer import transfer

    consent = _consent(args.consent)
    inp = read_one(args.path)
    result, outcome = transfer(
        inp.data,
        Recipient(args.recipient),
        at=args.at or datetime.now(UTC),
        source=inp.source,
        to=Format(args.to) if args.to else None,
        consent=consent,
        organisation=args.organisation,
        overrides=overrides_from(args),
        strict=args.strict,
        trust_anchors=_anchors(args.trust_anchors),
        finish=lambda out: finish_output(out, args.pretty),  # a signature is checked over these
    )
    for i in result.issues:
        print(format_issue(inp.source, i), file=sys.stderr)
    if outcome is None:
        return 1
    if outcome.render_error is not None:
        raise UsageError(f"cannot render in {outcome.format}: {outcome.render_error}")
    _print_report(inp.source, outcome.policy)
    if args.report:
        write_file(
            args.report,
            orjson.dumps(outcome.policy.report_dicts(), option=orjson.OPT_INDENT_2) + b"\n",
        )
    if outcome.refused or outcome.payload is None:
        return 1
    sys.stdout.buffer.write(outcome.payload)
    return 0


def _anchors(path: str | None) -> Path | None:
    if path is None:
        return None
    anchors = Path(path)
    if not anchors.is_file():
        raise UsageError(f"{path}: no such file (--trust-anchors)")
    return anchors


def _print_report(source: str, outcome: PolicyResult) -> None:
    for e in outcome.report:
        where = f" [{e.path}]" if e.path else ""
        print(f"{source}: {e.action} {e.code}{where}: {e.message}", file=sys.stderr)
