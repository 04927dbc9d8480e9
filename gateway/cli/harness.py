"""``gateway harness [--fixtures DIR] [--junit FILE] [--warn CODE] [--ignore CODE]``: play the
fixtures against the gateway in-process and report which give their expected outcome."""

from __future__ import annotations

import argparse
from xml.sax.saxutils import escape, quoteattr

from gateway.cli.common import UsageError, add_override_options, overrides_from, write_file


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("harness", help="play the fixtures and check their outcomes")
    p.add_argument("--fixtures", metavar="DIR", help="fixture folder (default: fixtures/)")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    p.add_argument(
        "--target",
        metavar="URL",
        help="a running gateway or an integrator's endpoint (needs the server)",
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
        raise UsageError(f"{root}: not a directory")
    overrides = overrides_from(args)
    try:
        outcomes = [run_fixture(f, overrides) for f in discover(root)]
    except FixtureError as exc:
        raise UsageError(str(exc)) from None
    if not outcomes:
        raise UsageError(f"{root}: no fixtures (documents with a .expected.json beside them)")
    for o in outcomes:
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
