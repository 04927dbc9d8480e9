"""``gateway harness [--fixtures DIR] [--junit FILE] [--warn CODE] [--ignore CODE]``: play the
fixtures against the gateway in-process and report which give their expected outcome."""

from __future__ import annotations

import argparse
from xml.sax.saxutils import escape, quoteattr

from gateway.cli.common import (
    UsageError,
    add_command,
    add_override_options,
    overrides_from,
    write_file,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "harness",
        help="play the fixtures and check their outcomes",
        description="Validate every fixture (a document with <name>.expected.json beside it) "
        "and check it gives exactly its expected outcome. Exit 0: all pass; 1: a fixture "
        "differs; 2: usage error.",
        examples=[
            "gateway harness",
            "gateway harness --fixtures my-suite/ --junit harness.xml -q",
            "gateway harness --warn ID-PERSON-CHECKSUM --ignore CERT-X",
            "gateway harness --target http://127.0.0.1:8080 (needs the exchange server)",
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
        help="a running gateway or an integrator's endpoint (needs the server), e.g. "
        "--target http://127.0.0.1:8080",
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
    from gateway.harness.fixtures import FixtureError, discover, run_fixture

    if args.target:
        raise UsageError("--target needs the exchange server, which this version lacks")
    root = Path(args.fixtures) if args.fixtures else FIXTURES_DIR
    if not root.is_dir():
        hint = "" if args.fixtures else " (an installed gateway has none: pass --fixtures DIR)"
        raise UsageError(f"{root}: not a directory{hint}")
    overrides = overrides_from(args)
    try:
        outcomes = [run_fixture(f, overrides) for f in discover(root)]
    except FixtureError as exc:
        raise UsageError(str(exc)) from None
    if not outcomes:
        raise UsageError(f"{root}: no fixtures (documents with a .expected.json beside them)")
    for o in outcomes:
        if args.quiet and o.passed:
            continue
        verdict = "valid" if o.result.valid else "invalid"
        mark = "ok  " if o.passed else "FAIL"
        codes = ",".join(sorted({i.code for i in o.result.issues})) or "-"
        print(f"{mark} {o.fixture.path}  {verdict}  {codes}")
        for m in o.mismatches:
            print(f"       {m}")
    failed = sum(not o.passed for o in outcomes)
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
