"""``gateway demo [--keep DIR] [--database URL]``: the main job end to end on loopback
(gateway/testkit/demo.py): the gateway, mock recipients, the fixture messages, a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.common import add_command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "demo",
        help="run the gateway end to end on loopback with mock recipients",
        description="Start the gateway (embedded SQLite in a temporary directory, HTTPS with "
        "mutual TLS on 127.0.0.1) and its recipients (Försäkringskassan over RIVTA SOAP; a "
        "region, a municipality and Arbetsförmedlingen over FHIR push; an employer's HR system "
        "pulling its inbox), send the fixture messages through it (refusals included), and "
        "show what each recipient received. Exit 0 when every answer was the expected one.",
        examples=[
            "gateway demo",
            "gateway demo --keep demo-data/",
            "gateway demo --database postgresql://postgres@127.0.0.1:5432/test?schema=demo",
        ],
    )
    p.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="keep the data (database, keys) here, e.g. --keep demo-data/",
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="PostgreSQL instead of SQLite, e.g. --database postgresql://127.0.0.1/test",
    )
    p.add_argument(
        "--fixtures",
        metavar="DIR",
        type=Path,
        help="fixture folder (default: fixtures/ of a source tree; an installed wheel has "
        "none), e.g. --fixtures fixtures/",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway import FIXTURES_DIR
    from gateway.cli.common import UsageError
    from gateway.testkit.demo import missing_fixtures
    from gateway.testkit.demo import run as demo

    fixtures = args.fixtures or FIXTURES_DIR
    missing = missing_fixtures(fixtures)
    if missing:
        raise UsageError(
            f"the demo sends fixture messages it cannot find ({missing[0]}); "
            "run it from a source checkout or pass --fixtures DIR"
        )
    return demo(keep=args.keep, database=args.database, fixtures=fixtures)
