"""``gateway statistics [--from MONTH] [--to MONTH] [--format json|csv] [--chart FILE]
[--measure M] [--cutoff N]``: the §4 statistics and deviation report, read from the store
(docs/coordination.md "§4 statistics")."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import datetime

import orjson

from gateway.cli.common import UsageError, add_command

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gateway.cli.serve import _common
    from gateway.coordination.statistics import MEASURES

    p = add_command(
        subparsers,
        "statistics",
        help="§4 statistics and deviations per region and month",
        description="Per region and month: §4 notifications sent, refused (and why), "
        "delivered, acknowledged and handled by Försäkringskassan, outcomes, and the "
        "deviations SKR and Försäkringskassan name (seed 003, questions 5 and 7). Small cells "
        "are suppressed (--cutoff, default 5; 0 shows every cell: the operator's own view). "
        "The read is audited (as the operator).",
        examples=[
            "gateway statistics --from 2025-01 --to 2025-12",
            "gateway statistics --format csv > s4.csv",
            "gateway statistics --chart sent.svg --measure sent",
        ],
    )
    _common(p)
    p.add_argument(
        "--from",
        dest="first",
        metavar="MONTH",
        help="first month (default: a year before --to), e.g. 2025-01",
    )
    p.add_argument(
        "--to", dest="last", metavar="MONTH", help="last month (default: this month), e.g. 2025-12"
    )
    p.add_argument(
        "--format",
        choices=["json", "csv"],
        default="json",
        help="json (with the deviations) or csv, e.g. --format csv",
    )
    p.add_argument("--chart", metavar="FILE", help="also write an SVG chart, e.g. sent.svg")
    p.add_argument(
        "--measure",
        choices=[*MEASURES, "rate_per_case"],
        default="sent",
        metavar="MEASURE",
        help="what --chart plots (default sent), e.g. handled",
    )
    p.add_argument(
        "--cutoff",
        type=int,
        metavar="N",
        help="suppress cells below N (default from section4.toml: 5), e.g. 0",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.cli.common import write_file
    from gateway.cli.serve import config_from
    from gateway.coordination.charts import line_chart
    from gateway.coordination.statistics import Report
    from gateway.documents.common import SWEDISH_TIME
    from gateway.exchange.plan_index import plan_index_for
    from gateway.exchange.plan_index.service import section4_report
    from gateway.exchange.store import store_for

    now = datetime.now(SWEDISH_TIME)
    last = args.last or f"{now:%Y-%m}"
    first = args.first or f"{int(last[:4]) - 1:04d}{last[4:]}"
    if not (_MONTH.match(first) and _MONTH.match(last)) or first > last:
        raise UsageError("--from and --to are months YYYY-MM, --from not after --to")
    if args.cutoff is not None and args.cutoff < 0:
        raise UsageError("--cutoff is 0 or more")
    config = config_from(args)
    store = store_for(config.server.database)

    async def main() -> Report:
        await store.open()
        try:
            return await section4_report(
                plan_index_for(store),
                store,
                config,
                None,
                first=first,
                last=last,
                at=now,
                cutoff=args.cutoff,
            )
        finally:
            await store.close()

    report = asyncio.run(main())
    if args.chart:
        title = f"§4 notifications: {args.measure.replace('_', ' ')} per month"
        svg = line_chart(
            title,
            report.months,
            report.series(args.measure),
            y_label=args.measure.replace("_", " "),
        )
        write_file(args.chart, svg.encode("utf-8"))
    if args.format == "csv":
        sys.stdout.write(report.to_csv())
    else:
        sys.stdout.buffer.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return 0
