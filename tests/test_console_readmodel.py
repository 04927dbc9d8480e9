"""The console's read model on both stores: the overview's figures are /metrics' figures,
search and audit filters find exactly what they should, sessions open and close."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from console_support import console_config_data, log_in
from exchange_support import T0, Clock, FakeTransport, NewStore, run, serving, until
from test_console_http import dead_letter

from gateway.console.readmodel import read_model_for
from gateway.console.readmodel.base import AuditQuery, MessageQuery, ReadModel
from gateway.exchange.config import parse
from gateway.exchange.store.base import (
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    NewDelivery,
    NewMessage,
    Outcome,
    Settlement,
    Store,
)
from gateway.exchange.transport import Answer, Verdict


def message(
    mid: str,
    at: datetime,
    recipients: tuple[str, ...] = ("acme", "fk"),
    *,
    sender: str = "region-vg",
    kind: str = "certificate",
    mode: DeliveryMode = DeliveryMode.PUSH,
) -> NewMessage:
    state = DeliveryState.PENDING if mode is DeliveryMode.PUSH else DeliveryState.OFFERED
    return NewMessage(
        message_id=mid,
        sender_id=sender,
        kind=kind,
        content_hash=f"hash-{mid}",
        received_at=at,
        answer=b"{}",
        deliveries=tuple(
            NewDelivery(f"{mid}/{r}", r, mode, "xml", "application/xml", b"<secret/>", state)
            for r in recipients
        ),
        audit=(AuditEntry(at, sender, "received", mid, detail={"sha256": "x"}),),
    )


async def settle_all(store: Store, now: datetime, outcome: Outcome, limit: int = 100) -> int:
    claims = await store.claim("w", now=now, lease=timedelta(seconds=30), limit=limit)
    for c in claims:
        action = {"delivered": "delivered", "retry": "attempt-failed", "dead": "dead-lettered"}
        entry = AuditEntry(
            now,
            "worker:w",
            action[outcome],
            c.message_id,
            c.recipient_id,
            {"answer": f"answer of {c.recipient_id}"},
        )
        delay = timedelta(seconds=1) if outcome is Outcome.RETRY else None
        error = None if outcome is Outcome.DELIVERED else "why"
        await store.settle(
            c.delivery_id, c.token, Settlement(outcome, error, delay), [entry], now=now
        )
    return len(claims)


async def opened(new_store: NewStore) -> tuple[Store, ReadModel]:
    store = new_store()
    await store.open()
    model = read_model_for(store)
    await model.open()
    return store, model


def test_the_overview_has_the_figures_of_metrics(new_store: NewStore) -> None:
    async def main() -> None:
        store, model = await opened(new_store)
        try:
            now = T0
            empty = await model.overview(now=now, recipients=["acme", "fk"])
            assert (empty.depth, empty.dead, empty.oldest_undelivered) == (0, 0, None)
            assert [r.recipient_id for r in empty.recipients] == ["acme", "fk"]
            assert len(empty.hours) == 24 and not any(h.delivered for h in empty.hours)

            # two days ago: 2 delivered to each; 30 minutes ago: 3 messages, one failed
            # attempt each, then dead letters for fk; one offered to a pull recipient
            old = now - timedelta(days=2)
            await store.accept([message(f"old-{i}", old) for i in range(2)])
            await settle_all(store, old, Outcome.DELIVERED)
            recent = now - timedelta(minutes=30)
            await store.accept(
                [message(f"new-{i}", recent - timedelta(seconds=i)) for i in range(3)]
            )
            await store.accept([message("pulled", recent, ("hr",), mode=DeliveryMode.PULL)])
            await settle_all(store, recent, Outcome.RETRY)
            later = recent + timedelta(seconds=5)
            claims = await store.claim("w", now=later, lease=timedelta(seconds=30), limit=100)
            for c in claims:
                out = Outcome.DEAD if c.recipient_id == "fk" else Outcome.DELIVERED
                entry = AuditEntry(
                    later,
                    "worker:w",
                    "dead-lettered" if out is Outcome.DEAD else "delivered",
                    c.message_id,
                    c.recipient_id,
                )
                settlement = Settlement(out, "x" if out is Outcome.DEAD else None)
                await store.settle(c.delivery_id, c.token, settlement, [entry], now=later)
            await store.accept([message("waiting", now - timedelta(minutes=2), ("acme",))])

            await _sealed(store)  # PostgreSQL chains audit records a moment after the write
            o = await model.overview(now=now, recipients=["acme", "fk"])
            stats = await store.stats(now=now)
            assert (
                (o.depth, o.dead, o.oldest_undelivered)
                == (stats.depth, stats.dead, stats.oldest_undelivered)
                == (2, 3, recent)
            )
            rows = {r.recipient_id: r for r in o.recipients}
            assert list(rows) == ["acme", "fk", "hr"]
            assert (
                rows["acme"].open,
                rows["acme"].delivered_hour,
                rows["acme"].failed_hour,
                rows["acme"].delivered_day,
            ) == (1, 3, 3, 3)
            assert (rows["fk"].dead, rows["fk"].failed_hour, rows["fk"].delivered_day) == (3, 6, 0)
            assert (rows["hr"].open, rows["hr"].oldest_open) == (1, recent)
            assert (o.delivered_hour, o.failed_hour, o.delivered_day, o.failed_day) == (3, 9, 3, 9)
            bars = {h.start: (h.delivered, h.failed) for h in o.hours}
            assert bars[datetime(2026, 3, 1, 8, 0, tzinfo=T0.tzinfo)] == (3, 9)
            assert sum(d for d, _ in bars.values()) == 3  # the old deliveries are outside
        finally:
            await model.close()
            await store.close()

    run(main())


def test_metrics_and_the_overview_agree_through_the_server(new_store: NewStore) -> None:
    async def main() -> None:
        store = new_store()
        answers = [Answer(Verdict.PERMANENT, "no")]
        transports = {"acme": FakeTransport(answers), "fk": FakeTransport()}
        config = parse(console_config_data(max_attempts=1))
        async with serving(config, store, transports, clock=Clock()) as client:
            await dead_letter(client)
            s = await log_in(client)

            async def figures() -> tuple[str, str]:
                metrics = await (await client.get("/metrics")).text()
                page = await (await client.get("/console/live/overview", headers=s.headers)).text()
                return metrics, page

            await until(lambda: _sealed(store))
            metrics, page = await figures()
            for name, figure in (
                ("gateway_outbox_depth", "depth"),
                ("gateway_outbox_dead", "dead"),
            ):
                value = re.search(rf"^{name} (\S+)$", metrics, re.M)
                shown = re.search(rf'data-figure="{figure}">(?:<a [^>]*>)?(\d+)', page)
                assert value and shown
                assert float(value.group(1)) == int(shown.group(1)), name
            assert re.search(r'data-figure="dead"><a [^>]*>1<', page)

    run(main())


async def _sealed(store: Store) -> bool:
    return bool([r async for r in store.audit_records()])


def test_search_finds_what_each_filter_says(new_store: NewStore) -> None:
    async def main() -> None:
        store, model = await opened(new_store)
        try:
            await store.accept(
                [
                    message(
                        f"m-{i:02d}",
                        T0 + timedelta(minutes=i),
                        ("acme",) if i % 2 else ("fk",),
                        sender="kommun" if i % 3 == 0 else "region-vg",
                        kind="sip" if i % 5 == 0 else "certificate",
                    )
                    for i in range(12)
                ]
            )
            await settle_all(store, T0 + timedelta(hours=1), Outcome.DELIVERED, limit=4)
            await settle_all(store, T0 + timedelta(hours=1), Outcome.DEAD, limit=2)

            async def ids(**kw: object) -> list[str]:
                return [m.message_id for m in await model.messages(MessageQuery(**kw))]  # type: ignore[arg-type]

            everything = await ids()
            assert everything == [f"m-{i:02d}" for i in range(11, -1, -1)]  # newest first
            assert await ids(message_id="m-03") == ["m-03"]
            assert await ids(message_id="m-3") == []
            assert await ids(sender_id="kommun") == ["m-09", "m-06", "m-03", "m-00"]
            assert await ids(kind="sip") == ["m-10", "m-05", "m-00"]
            assert await ids(recipient_id="acme") == [f"m-{i:02d}" for i in (11, 9, 7, 5, 3, 1)]
            # claims go oldest first: m-00..m-03 delivered, m-04 and m-05 dead
            assert await ids(state="dead") == ["m-05", "m-04"]
            assert await ids(state="dead", recipient_id="acme") == ["m-05"]
            assert await ids(state="delivered") == ["m-03", "m-02", "m-01", "m-00"]
            assert await ids(state="pending", recipient_id="fk") == ["m-10", "m-08", "m-06"]
            window = await ids(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=6))
            assert window == ["m-05", "m-04", "m-03"]
            first = await model.messages(MessageQuery(limit=5))
            cursor = (first[-1].received_at, first[-1].message_id)
            assert await ids(before=cursor, limit=5) == ["m-06", "m-05", "m-04", "m-03", "m-02"]
            row = (await model.messages(MessageQuery(message_id="m-04")))[0]
            assert row.deliveries == (("fk", "dead"),)
            assert (row.sender_id, row.kind, row.received_at) == (
                "region-vg",
                "certificate",
                T0 + timedelta(minutes=4),
            )

            view = await model.message("m-04")
            assert view is not None and view.content_hash == "hash-m-04"
            (d,) = view.deliveries
            assert (d.recipient_id, d.state, d.attempts, d.last_error, d.format) == (
                "fk",
                "dead",
                1,
                "why",
                "xml",
            )
            assert await model.message("nope") is None
        finally:
            await model.close()
            await store.close()

    run(main())


def test_audit_filters_and_recent_answers(new_store: NewStore) -> None:
    async def main() -> None:
        store, model = await opened(new_store)
        try:
            await store.accept([message(f"a-{i}", T0 + timedelta(minutes=i)) for i in range(3)])
            await settle_all(store, T0 + timedelta(hours=1), Outcome.RETRY)
            await settle_all(store, T0 + timedelta(hours=2), Outcome.DELIVERED)
            await _sealed(store)

            async def seqs(**kw: object) -> list[tuple[int, str]]:
                found = await model.audit(AuditQuery(**kw))  # type: ignore[arg-type]
                return [(r.seq, r.entry.action) for r in found]

            everything = await seqs()
            assert [s for s, _ in everything] == list(range(len(everything), 0, -1))
            assert await seqs(message_id="a-1", action="received") == [(2, "received")]
            assert len(await seqs(actor="worker:w")) == 12
            assert len(await seqs(recipient_id="fk", action="delivered")) == 3
            hour = await seqs(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))
            assert {a for _, a in hour} == {"attempt-failed"} and len(hour) == 6
            page = await seqs(limit=4)
            assert await seqs(before_seq=page[-1][0], limit=2) == everything[4:6]

            answers = await model.recent_answers("acme", limit=4)
            assert [r.entry.action for r in answers] == ["delivered"] * 3 + ["attempt-failed"]
            assert all(r.entry.recipient_id == "acme" for r in answers)
            assert await model.recent_answers("nobody", limit=4) == []
        finally:
            await model.close()
            await store.close()

    run(main())


def test_sessions_open_touch_and_end(new_store: NewStore) -> None:
    async def main() -> None:
        store, model = await opened(new_store)
        try:
            expires = T0 + timedelta(hours=8)
            await model.start_session("h1", "anna", "token", now=T0, expires=expires)
            s = await model.session("h1")
            assert s is not None and (s.user_id, s.method, s.seen_at, s.ended_at) == (
                "anna",
                "token",
                T0,
                None,
            )
            await model.touch_session("h1", now=T0 + timedelta(minutes=5))
            s = await model.session("h1")
            assert s is not None and s.seen_at == T0 + timedelta(minutes=5)
            assert await model.end_session("h1", now=T0 + timedelta(minutes=6))
            assert not await model.end_session("h1", now=T0 + timedelta(minutes=7))
            s = await model.session("h1")
            assert s is not None and s.ended_at == T0 + timedelta(minutes=6)
            assert await model.session("other") is None
            await model.start_session("h2", "kim", "mtls", now=T0, expires=T0 + timedelta(hours=1))
            assert await model.purge_sessions(before=T0 + timedelta(hours=2)) == 2
            assert await model.session("h2") is None
        finally:
            await model.close()
            await store.close()

    run(main())
