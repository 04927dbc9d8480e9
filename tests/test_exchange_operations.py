"""The server in production, in-process (issue 20): a failed COMMIT does not wedge SQLite and
/ready tells; the group committer fails what it holds and restarts on a fault, refuses beyond
its bound with 503 + Retry-After; per-principal rate limits (429 + Retry-After); /metrics
behind a token or its own address; a refusal counted under its kind; [rules] honoured;
pull-only messages do not wake the outbox; the SQLite file's permissions."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES
from exchange_support import (
    AUTH_REGION,
    FK7804_XML,
    Clock,
    FakeTransport,
    NewStore,
    certificate_message,
    config_data,
    run,
    serving,
    until,
)

from gateway.exchange.config import parse
from gateway.exchange.server.app import COMMITTER
from gateway.exchange.server.committer import Committer
from gateway.exchange.store import StoreError, store_for
from gateway.exchange.store.base import AcceptResult, DeliveryMode, DeliveryState, NewMessage
from gateway.exchange.store.groupcommit import Full
from gateway.exchange.store.sqlite import SQLiteStore

FHIR = {"Content-Type": "application/fhir+json"}
BAD_PNR = SAMPLES / "fk7804-lisjp-v1-compact.RegisterCertificate.xml"  # ID-PERSON-CHECKSUM


def transports() -> dict[str, FakeTransport]:
    return {"acme": FakeTransport(), "fk": FakeTransport()}


def post(client: Any, mid: str, **headers: str) -> Any:
    body = certificate_message(FK7804_XML, message_id=mid)
    return client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR, **headers})


# -- SQLite: a failed COMMIT ------------------------------------------------------------------


def test_a_failed_commit_does_not_wedge_sqlite_and_ready_tells(tmp_path: Path) -> None:
    """A deferred foreign-key violation makes COMMIT itself fail: the transaction is rolled
    back, the next write works. A transaction left open some other way shows in /ready."""

    async def main() -> None:
        store = SQLiteStore(f"sqlite:///{tmp_path}/gw.db")
        async with serving(parse(config_data()), store, transports(), clock=Clock()) as client:

            def orphan(db: sqlite3.Connection) -> None:
                db.execute("PRAGMA defer_foreign_keys = ON")
                db.execute(
                    "INSERT INTO deliveries (delivery_id, message_id, position, recipient_id,"
                    " mode, kind, format, media_type, state, accepted_at, updated_at)"
                    " VALUES ('d', 'no-such-message', 0, 'fk', 'push', 'certificate', 'xml',"
                    " 'application/xml', 'pending', 'x', 'x')"
                )

            with pytest.raises(StoreError, match="FOREIGN KEY constraint failed"):
                await store._run(lambda db: store._write(db, orphan))
            assert await store.health() is None
            assert (await client.get("/ready")).status == 200
            assert (await post(client, "after-failed-commit")).status == 202
            # a connection left inside a transaction: /ready says so, the next write heals it
            await store._run(lambda db: db.execute("BEGIN"))
            resp = await client.get("/ready")
            assert resp.status == 503
            assert "a transaction was left open" in (await resp.json())["status"]
            assert resp.headers["Retry-After"] == "1"
            assert (await post(client, "after-open-transaction")).status == 202
            assert (await client.get("/ready")).status == 200

    run(main())


# -- the group committer ----------------------------------------------------------------------


class FaultyStore:
    """Wraps a store; ``fault`` makes accept answer with the wrong number of results (a fault
    outside a commit's own error handling), ``gate`` holds accepts."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fault = False
        self.gate: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def accept(self, messages: Sequence[NewMessage]) -> list[AcceptResult]:
        if self.gate is not None:
            await self.gate.wait()
        results: list[AcceptResult] = await self.inner.accept(messages)
        return results[:-1] if self.fault else results


def test_a_committer_fault_fails_what_it_holds_restarts_and_ready_says_so(
    new_store: NewStore,
) -> None:
    async def main() -> None:
        store = FaultyStore(new_store())
        config = parse(config_data())
        async with serving(config, store, transports(), clock=Clock()) as client:
            client.app[COMMITTER].restart_after = 0.3
            store.fault = True
            resp = await post(client, "fault-1")
            assert resp.status == 503 and resp.headers["Retry-After"] == "1"
            ready = await client.get("/ready")
            assert ready.status == 503
            assert "group committer is restarting after a fault" in (await ready.json())["status"]
            refused = await post(client, "fault-2")  # while it restarts: refused at once
            assert refused.status == 503
            store.fault = False

            async def ready_again() -> bool:
                return (await client.get("/ready")).status == 200

            await until(ready_again)
            assert (await post(client, "fault-3")).status == 202
            # the message of the faulted batch was committed before the fault: a resend is
            # answered as the first time (idempotent receiver), so 503 + resend is safe
            assert (await post(client, "fault-1")).status == 202
            assert client.app[COMMITTER].faults == 1
            text = await (await client.get("/metrics")).text()
            assert 'gateway_unavailable_total{reason="committer-fault"} 2.0' in text

    run(main())


def test_a_full_commit_queue_answers_503_with_retry_after(new_store: NewStore) -> None:
    async def main() -> None:
        store = FaultyStore(new_store())
        data = config_data()
        data["server"]["commit_queue"] = 2
        data["server"]["commit_batch"] = 1
        async with serving(parse(data), store, transports(), clock=Clock()) as client:
            store.gate = asyncio.Event()  # the disk is slow: commits wait
            committer = client.app[COMMITTER]
            first = [asyncio.ensure_future(post(client, "q-0"))]

            async def committing() -> bool:
                return bool(committer._held)

            await until(committing)  # one in its commit ...
            first += [asyncio.ensure_future(post(client, f"q-{i}")) for i in (1, 2)]

            async def queued() -> bool:
                return bool(committer.waiting == 2)

            await until(queued)  # ... two waiting: the queue is full
            resp = await post(client, "q-over")
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
            store.gate.set()
            assert [(await f).status for f in first] == [202, 202, 202]
            assert (await post(client, "q-over")).status == 202  # the resend is taken

    run(main())


def test_group_commit_bound_and_pull_only_messages_do_not_wake_the_outbox(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = store_for(f"sqlite:///{tmp_path}/gw.db")
        await store.open()
        woken: list[int] = []
        committer = Committer(store, 8, max_pending=1, wake=lambda: woken.append(1))
        committer.start()
        pull = NewMessage(
            "pull-1", "s", "certificate", "h", Clock()(), b"{}",
            (_delivery("pull-1", DeliveryMode.PULL, DeliveryState.OFFERED),), (),
        )  # fmt: skip
        push = NewMessage(
            "push-1", "s", "certificate", "h2", Clock()(), b"{}",
            (_delivery("push-1", DeliveryMode.PUSH, DeliveryState.PENDING),), (),
        )  # fmt: skip
        await committer.submit(pull)
        assert woken == []  # nothing to claim: no claim transaction for it
        await committer.submit(push)
        assert woken == [1]
        held = asyncio.ensure_future(committer.submit(push))
        with pytest.raises(Full):
            await asyncio.gather(committer.submit(pull), held)
        await committer.stop()
        await store.close()

    run(main())


def _delivery(mid: str, mode: DeliveryMode, state: DeliveryState) -> Any:
    from gateway.exchange.store.base import NewDelivery

    return NewDelivery(f"{mid}/r", "r", mode, "xml", "application/xml", b"<x/>", state)


# -- rate limits, metrics, kinds, rules -------------------------------------------------------


def test_a_sender_over_its_rate_limit_gets_429_with_retry_after(new_store: NewStore) -> None:
    async def main() -> None:
        data = config_data()
        data["server"]["rate_limit"] = {"per_second": 1000, "burst": 1000}
        data["senders"][0]["rate_limit"] = {"per_second": 0.5, "burst": 2}
        async with serving(parse(data), new_store(), transports(), clock=Clock()) as client:
            statuses = [(await post(client, f"rl-{i}")).status for i in range(2)]
            assert statuses == [202, 202]
            resp = await post(client, "rl-2")
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "2"  # one request per two seconds
            get = await client.get("/messages/rl-0", headers=AUTH_REGION)
            assert get.status == 429  # every authenticated operation counts
            kommun = {"Authorization": "Bearer kommun-token"}  # the server's default: plenty
            assert (await client.get("/messages/rl-0", headers=kommun)).status == 404
            text = await (await client.get("/metrics")).text()
            assert 'gateway_unavailable_total{reason="rate-limit"} 2.0' in text

    run(main())


def test_metrics_behind_a_token_and_a_refusal_counted_under_its_kind(new_store: NewStore) -> None:
    async def main() -> None:
        data = config_data()
        data["server"]["metrics"] = {"token": "scrape-secret"}
        async with serving(parse(data), new_store(), transports(), clock=Clock()) as client:
            assert (await client.get("/metrics")).status == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.get("/metrics", headers=wrong)).status == 401
            only = certificate_message(
                FK7804_XML, ("employer",), message_id="refused-1", consent_id=None
            )
            resp = await client.post("/messages", data=only, headers={**AUTH_REGION, **FHIR})
            assert resp.status == 422  # refused by policy for its only recipient
            ok = {"Authorization": "Bearer scrape-secret"}
            resp = await client.get("/metrics", headers=ok)
            assert resp.status == 200
            text = await resp.text()
            line = 'gateway_messages_total{kind="certificate",outcome="rejected-422",'
            assert f'{line}sender="region-vg"}} 1.0' in text
        data["server"]["metrics"] = {"port": 0}  # its own address: not on the API's port
        async with serving(parse(data), new_store(), transports(), clock=Clock()) as client:
            assert (await client.get("/metrics")).status == 404

    run(main())


def test_the_serve_configurations_rules_are_honoured(new_store: NewStore) -> None:
    async def main() -> None:
        xml = BAD_PNR.read_bytes()
        headers = {**AUTH_REGION, "Content-Type": "application/xml", "Gateway-Recipients": "fk"}
        for warn, status in (([], 422), (["ID-PERSON-CHECKSUM"], 202)):
            data = config_data()
            data["rules"] = {"warn": warn}
            async with serving(parse(data), new_store(), transports(), clock=Clock()) as client:
                mid = {"Gateway-Message-Id": f"rules-{len(warn)}"}
                resp = await client.post("/messages", data=xml, headers={**headers, **mid})
                assert resp.status == status, await resp.text()
                valid = await client.post("/validate", data=xml, headers=headers)
                assert (await valid.json())["valid"] is bool(warn)

    run(main())


# -- the SQLite file --------------------------------------------------------------------------


def test_the_sqlite_file_is_private_and_a_wider_one_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "data" / "gateway"
    url = f"sqlite:///{folder}/gw.db"

    async def open_close() -> None:
        store = store_for(url)
        await store.open()
        await store.close()

    run(open_close())
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "gw.db").stat().st_mode) == 0o600
    assert not caplog.records
    os.chmod(folder / "gw.db", 0o644)
    with caplog.at_level(logging.WARNING, logger="gateway.store"):
        run(open_close())
    (record,) = caplog.records
    assert "readable by others (mode 644)" in record.getMessage()
    assert record.__dict__["event"] == "store-permissions"


def test_an_unwritable_sqlite_path_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")

    async def main() -> str:
        store = store_for(f"sqlite:///{blocker}/sub/gw.db")
        with pytest.raises(StoreError) as caught:
            await store.open()
        return str(caught.value)

    assert run(main()) == f"SQLite {blocker}/sub: Not a directory"
