"""``gateway deadlines [--actor ID | --patient ID] [--at DATE] [--within DAYS] [--limit N]
[--format text|json]``: the rehabilitation chain's deadlines from the plan index, read from
the store like ``gateway audit`` (docs/coordination.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime, time

import orjson

from gateway.cli.common import UsageError, add_command


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from gateway.cli.serve import _common

    p = add_command(
        subparsers,
        "deadlines",
        help="list what is due or overdue in the rehabilitation chain",
        description="List the deadlines of the plan index (return-to-work plan by day 30, "
        "assessment points at days 90, 180 and 365, SIP follow-ups, §4 handling, ...): an "
        "actor's list as that actor may see it, or one patient's. Exit 1 when a task is "
        "overdue. The read is audited (as the operator).",
        examples=[
            "gateway deadlines --actor hr-acme",
            "gateway deadlines --actor fk --within 90 --format json",
            "gateway deadlines --patient 191212121212 --at 2025-03-08",
        ],
    )
    _common(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--actor", metavar="ID", help="a configured sender or recipient, e.g. fk")
    who.add_argument(
        "--patient", metavar="ID", help="a personnummer, e.g. 191212121212 (every actor's)"
    )
    p.add_argument(
        "--at",
        metavar="DATE",
        type=_date,
        help="the day asked about (default today), e.g. 2025-03-08",
    )
    p.add_argument(
        "--within",
        metavar="DAYS",
        type=int,
        default=30,
        help="days ahead (and back, for milestones), default 30, e.g. --within 90",
    )
    p.add_argument(
        "--limit", metavar="N", type=int, default=100, help="at most N, default 100, e.g. 500"
    )
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text (one line each) or json, e.g. --format json",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.cli.serve import config_from
    from gateway.coordination.visibility import Actor
    from gateway.documents.common import SWEDISH_TIME
    from gateway.exchange.plan_index import plan_index_for
    from gateway.exchange.plan_index.service import (
        BadPatient,
        actor_deadlines,
        actor_of,
        patient_key,
        read_audit,
        today,
    )
    from gateway.exchange.store import store_for

    if args.within < 0 or args.limit < 1:
        raise UsageError("--within is 0 or more days, --limit at least 1")
    config = config_from(args)
    if args.actor and config.sender(args.actor) is None and config.recipient(args.actor) is None:
        raise UsageError(f"--actor {args.actor!r} is no configured sender or recipient")
    patient = None
    if args.patient:
        try:
            patient = patient_key(args.patient)
        except BadPatient as exc:
            raise UsageError(f"--patient: {exc}") from None
    now = datetime.now(SWEDISH_TIME)
    at = datetime.combine(args.at, time(23, 59, 59), SWEDISH_TIME) if args.at else now
    store = store_for(config.server.database)

    async def main() -> list[dict[str, object]]:
        await store.open()
        try:
            index = plan_index_for(store)
            on = today(at)
            if patient is not None:
                record = await index.patient(patient)
                found = record.deadlines
                shown = {"deadlines": [d.id for d in found]}
                await store.append_audit(
                    [read_audit(Actor("operator"), now, "cli/deadlines", patient, shown)]
                )
            else:
                actor = actor_of(config, args.actor)
                found = await actor_deadlines(
                    index,
                    store,
                    actor,
                    actor,
                    at=at,
                    within=args.within,
                    limit=args.limit,
                    via="cli/deadlines",
                )
            return [d.to_dict(on) for d in found]
        finally:
            await store.close()

    rows = asyncio.run(main())
    if args.format == "json":
        body = {"actor": args.actor, "patient": patient, "as_of": at.isoformat(), "deadlines": rows}
        sys.stdout.buffer.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        for d in rows:
            print(f"{d['due']}  {d['status']:9} {d['patient']}  {d['role']:18} {d['text']}")
        if not rows:
            print("nothing due or overdue")
    return 1 if any(d["status"] == "overdue" for d in rows) else 0
