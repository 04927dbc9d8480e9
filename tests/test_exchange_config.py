"""The exchange config: every problem at once, each naming its key; and the operator
commands (gateway serve refusing a bad config, gateway audit, gateway redeliver)."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from exchange_support import T0, config_data, run

from gateway.cli.main import main
from gateway.exchange.config import ConfigError, parse
from gateway.exchange.store import store_for
from gateway.exchange.store.base import (
    AuditEntry,
    DeliveryMode,
    NewDelivery,
    NewMessage,
    Outcome,
    Settlement,
)


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse(data)
    return err.value.problems


def test_a_good_config_reads() -> None:
    cfg = parse(config_data())
    assert [r.id for r in cfg.recipients] == ["acme", "fk", "pull-employer"]
    assert cfg.recipient("pull-employer") is not None
    assert cfg.recipient("pull-employer").pull  # type: ignore[union-attr]
    assert cfg.sender("region-vg").recipients == ("acme", "fk", "pull-employer")  # type: ignore[union-attr]
    assert cfg.delivery.max_attempts == 4


def test_every_problem_is_reported_with_its_key() -> None:
    data = copy.deepcopy(config_data())
    data["server"]["port"] = 70000
    data["server"]["database"] = "mysql://x"
    data["server"]["colour"] = "blue"
    data["delivery"]["max_attempts"] = 0
    data["delivery"]["lease_seconds"] = "long"
    data["recipients"][0]["role"] = "boss"
    data["recipients"][1]["push"]["url"] = "ftp://fk"
    data["recipients"][2].pop("token")
    data["senders"][0]["kinds"] = ["certificate", "letter"]
    data["senders"][1]["recipients"] = ["acme", "nobody"]
    data["senders"][1]["token"] = "region-token"
    assert problems(data) == [
        "server.colour: unknown key (known: access_log, commit_batch, commit_queue, database, "
        "host, log_format, log_level, max_body_bytes, metrics, port, rate_limit, tls, workers)",
        "server.port: must be 0..65535, not 70000",
        "server.database: must be sqlite:///PATH or postgresql://…",
        "delivery.lease_seconds: must be a number, not 'long'",
        "delivery.max_attempts: must be greater than 0, not 0",
        "recipients[0].role: 'boss' is not one of forsakringskassan, employer, region, "
        "municipality, arbetsformedlingen, occupational-health",
        "recipients[1].push.url: must be an https:// (or, for tests, http://) URL",
        "recipients[2]: a pull recipient needs a token or an identity to fetch its inbox",
        "senders[0].kinds: 'letter' is not one of certificate, sip, return-to-work-plan, "
        "section4-notification, section4-acknowledgement",
        "senders[1].recipients: 'nobody' is no configured recipient",
        "kommun: shares a token or identity with 'region-vg'",
    ]


def test_recipients_need_push_or_pull_and_ids_are_unique() -> None:
    data = copy.deepcopy(config_data())
    data["recipients"][0].pop("push")
    data["recipients"][1]["pull"] = True
    data["recipients"][2]["id"] = "acme"
    data["senders"][0]["id"] = "bad id!"
    got = problems(data)
    assert "recipients[0]: needs a push endpoint ([recipients.push]) or pull = true" in got
    assert "recipients[1]: either push or pull = true, not both" in got
    assert "recipients: id 'acme' is used twice" in got
    assert "senders[0].id: 'bad id!' must be letters, digits, '.', '_' or '-'" in got


def test_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One reader of gateway.toml (the CLI's) for the server too."""
    assert main(["serve", "--config", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: config file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n", encoding="utf-8")
    assert main(["serve", "--config", str(bad)]) == 2
    assert "not a valid TOML config file" in capsys.readouterr().err
    assert parse({}).server.database == "sqlite:///gateway-data/gateway.db"


def test_serve_refuses_a_bad_config_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text('[server]\nport = "x"\n[[senders]]\nid = "a"\n', encoding="utf-8")
    assert main(["serve", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "invalid configuration" in err
    assert f"{cfg}: server.port: must be an integer, not 'x'" in err
    assert f"{cfg}: senders[0]: needs a token (development) or an identity (mTLS)" in err
    assert "Traceback" not in err


def _seed(url: str) -> None:
    async def go() -> None:
        store = store_for(url)
        await store.open()
        d = NewDelivery("d1", "fk", DeliveryMode.PUSH, "xml", "application/xml", b"<x/>")
        audit = (AuditEntry(T0, "region", "received", "m1", detail={"sha256": "ab"}),)
        await store.accept(
            [NewMessage("m1", "region", "certificate", "ab", T0, b"{}", (d,), audit)]
        )
        (c,) = await store.claim("w", now=T0, lease=timedelta(seconds=30), limit=1)
        await store.settle("d1", c.token, Settlement(Outcome.DEAD, "400 Bad Request"), [], now=T0)
        await store.close()

    run(go())


def test_audit_and_redeliver_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/gw.db"
    _seed(url)
    assert main(["audit", "--database", url]) == 0
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["seq"], x["action"], x["message"]) for x in lines] == [(1, "received", "m1")]
    assert main(["redeliver", "m1", "--database", url, "--recipient", "other"]) == 1
    assert "nothing dead-lettered for m1" in capsys.readouterr().err
    assert main(["redeliver", "m1", "--database", url]) == 0
    assert capsys.readouterr().out == "1 delivery of m1 back in the outbox\n"
    assert main(["audit", "--database", url, "--message", "m1", "--since", "2026-03-01T09:00"]) == 0
    actions = [orjson.loads(x)["action"] for x in capsys.readouterr().out.splitlines()]
    assert actions == ["received", "redelivered"]
    assert main(["audit", "--database", url, "--verify"]) == 0
    assert capsys.readouterr().out == "audit trail intact: 2 records\n"
    import sqlite3

    db = sqlite3.connect(f"{tmp_path}/gw.db")
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 1")
    db.commit()
    db.close()
    assert main(["audit", "--database", url, "--verify"]) == 1
    out = capsys.readouterr().out
    assert out == (
        "record 1: its content does not match its hash (changed)\n"
        "audit trail BROKEN: 1 problem(s) in 2 records\n"
    )


def test_one_gateway_toml_serves_the_cli_and_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server's tables (arrays of tables among them) do not trouble the CLI's reader,
    and a typo in the CLI's own table is still caught."""
    from exchange_support import FK7804_XML

    cfg = tmp_path / "gateway.toml"
    text = '[rules]\nwarn = []\n[server]\nport = 0\n[[senders]]\nid = "a"\ntoken = "t"\n'
    text += 'kinds = ["certificate"]\nrecipients = []\n'
    cfg.write_text(text, encoding="utf-8")
    assert main(["validate", str(FK7804_XML), "--config", str(cfg), "-q"]) == 0
    cfg.write_text(text.replace("[rules]\nwarn", "[rules]\nwarm"), encoding="utf-8")
    assert main(["validate", str(FK7804_XML), "--config", str(cfg), "-q"]) == 2
    assert "unknown key 'warm' in [rules]" in capsys.readouterr().err


def test_a_push_timeout_that_could_outlive_its_lease_is_refused() -> None:
    data = copy.deepcopy(config_data(lease_seconds=10))
    data["recipients"][0]["push"]["timeout"] = 9.5
    data["recipients"][1]["push"]["timeout"] = 5
    assert problems(data) == [
        "recipients[0].push.timeout: 9.5 s can outlive its lease (delivery.lease_seconds = 10): "
        "an attempt must end at least 1 s before its lease; lower the timeout or raise "
        "lease_seconds"
    ]
    data["recipients"][0]["push"]["timeout"] = 9
    assert parse(data).recipients[0].push.timeout == 9  # type: ignore[union-attr]


def test_unknown_keys_name_the_nearest_known_one() -> None:
    data = copy.deepcopy(config_data())
    data["server"]["prot"] = 8080
    data["senders"][0]["rate_limt"] = {"per_second": 1}
    data["delivery"]["lease_second"] = 3
    got = problems(data)
    assert got[0].startswith("server.prot: unknown key (did you mean 'port'?) (known: ")
    assert any(p.startswith("delivery.lease_second: unknown key (did you mean 'lease_seconds'?)")
               for p in got)  # fmt: skip
    assert any(p.startswith("senders[0].rate_limt: unknown key (did you mean 'rate_limit'?)")
               for p in got)  # fmt: skip


def test_the_cli_and_the_server_know_the_same_tables() -> None:
    from gateway.cli.common import CONFIG_KEYS
    from gateway.exchange.config import SECTIONS

    assert {k for k, v in CONFIG_KEYS.items() if v is None} == set(SECTIONS)
