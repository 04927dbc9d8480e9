"""``gateway harness [--fixtures DIR] [--junit FILE] [--warn CODE] [--ignore CODE]
[--target URL [--target-kind KIND] [--token T] [--cert F --key F] [--ca F]]``: play the
fixtures against the gateway in-process, or against a running target, and report which give
their expected outcome."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from gateway.cli.common import (
    UsageError,
    add_command,
    add_override_options,
    overrides_from,
    write_file,
)
from gateway.documents import Recipient
from gateway.harness import TARGET_KINDS

if TYPE_CHECKING:
    from gateway.harness.fixtures import Fixture
    from gateway.harness.remote import RemoteOutcome


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "harness",
        help="play the fixtures and check their outcomes",
        description="Validate every fixture (a document with <name>.expected.json beside it) "
        "and check it gives exactly its expected outcome: in-process, or with --target against "
        "a running gateway (POST /validate, /redact) or a recipient's endpoint (docs/fixtures.md)."
        " Exit 0: all pass; 1: a fixture differs; 2: usage error or the target cannot be reached.",
        examples=[
            "gateway harness",
            "gateway harness --fixtures my-suite/ --junit harness.xml -q",
            "gateway harness --warn ID-PERSON-CHECKSUM --ignore CERT-X",
            "gateway harness --target http://127.0.0.1:8080 --token dev-secret --junit h.xml",
            "gateway harness --target https://gw:8443 --cert me.pem --key me.key --ca ca.pem",
            "gateway harness --target http://127.0.0.1:9001/fhir --target-kind fhir-push "
            "--recipient employer",
        ],
    )
    p.add_argument(
        "--fixtures",
        metavar="DIR",
        help="fixture folder (default: fixtures/ of a source tree), e.g. --fixtures my-suite/",
    )
    p.add_argument(
        "--junit", metavar="FILE", help="also write a JUnit XML report, e.g. --junit h.xml"
    )
    p.add_argument(
        "--target",
        metavar="URL",
        help="play against a running gateway's dry runs (POST /validate, /redact) or, with "
        "--target-kind, a recipient's endpoint, e.g. --target https://gw.example:8443",
    )
    p.add_argument(
        "--target-kind",
        choices=TARGET_KINDS,
        default="gateway",
        help="what --target is: a gateway (default), or a recipient's FHIR push or RIVTA SOAP "
        "endpoint that must accept every valid fixture, e.g. --target-kind fhir-push",
    )
    p.add_argument(
        "--recipient",
        default="forsakringskassan",
        choices=[r.value for r in Recipient],
        help="with a recipient endpoint: whose copy to deliver (policy applied), e.g. "
        "--recipient employer",
    )
    p.add_argument(
        "--token", metavar="TOKEN", help="bearer token for the target, e.g. --token dev-secret"
    )
    p.add_argument(
        "--cert",
        metavar="FILE",
        help="client certificate (PEM) for mutual TLS with the target, e.g. --cert me.pem",
    )
    p.add_argument(
        "--key", metavar="FILE", help="the client certificate's key (PEM), e.g. --key me.key"
    )
    p.add_argument(
        "--ca",
        action="append",
        default=[],
        metavar="FILE",
        help="trust only this CA (PEM) for the target's certificate (repeatable), e.g. --ca ca.pem",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the fixtures that fail and the summary, e.g. gateway harness -q",
    )
    add_override_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway import FIXTURES_DIR
    from gateway.harness.fixtures import FixtureError, Outcome, discover, run_fixture
    from gateway.harness.remote import TargetError

    root = Path(args.fixtures) if args.fixtures else FIXTURES_DIR
    if not root.is_dir():
        hint = "" if args.fixtures else " (an installed gateway has none: pass --fixtures DIR)"
        raise UsageError(f"{root}: not a directory{hint}")
    overrides = overrides_from(args)
    outcomes: list[Outcome | RemoteOutcome]
    try:
        fixtures = list(discover(root))
        if not fixtures:
            raise UsageError(f"{root}: no fixtures (documents with a .expected.json beside them)")
        if args.target:
            outcomes = list(_remote(args, fixtures))
        else:
            outcomes = [run_fixture(f, overrides) for f in fixtures]
    except (FixtureError, TargetError) as exc:
        raise UsageError(str(exc)) from None
    for o in outcomes:
        if args.quiet and o.passed:
            continue
        mark = "ok  " if o.passed else "FAIL"
        print(f"{mark} {o.fixture.path}  {o.summary}")
        for m in o.mismatches:
            print(f"       {m}")
    failed = sum(not o.passed for o in outcomes)
    if args.target and not outcomes:
        raise UsageError(
            f"{root}: no fixture the gateway would deliver to {args.recipient} over "
            f"{args.target_kind}"
        )
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    if args.junit:
        cases = []
        for o in outcomes:
            case = f'<testcase classname="fixtures" name={quoteattr(str(o.fixture.path))}>'
            if not o.passed:
                msg = escape("\n".join(o.mismatches))
                case += f'<failure message="outcome differs">{msg}</failure>'
            cases.append(case + "</testcase>")
        write_file(
            args.junit,
            (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="gateway harness" '
                f'tests="{len(outcomes)}" failures="{failed}">\n'
                + "\n".join(cases)
                + "\n</testsuite>\n"
            ).encode("utf-8"),
        )
    return 0 if failed == 0 else 1


def _remote(args: argparse.Namespace, fixtures: list[Fixture]) -> Iterator[RemoteOutcome]:
    from gateway.harness.remote import Client, Target, play_gateway, play_recipient

    if args.warn or args.ignore:
        raise UsageError("--warn/--ignore apply in-process only: a target has its own config")
    target = Target(
        args.target,
        kind=args.target_kind,
        token=args.token,
        cert=args.cert,
        key=args.key,
        ca=args.ca,
        recipient=args.recipient,
    )
    client = Client(target)
    client.reach()
    if target.kind == "gateway":
        for f in fixtures:
            yield play_gateway(client, f)
    else:
        yield from play_recipient(target, fixtures)
