"""``gateway deadlines`` and ``gateway statistics`` on a store: text and JSON, exit codes, the
chart, and clear usage errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from coordination_support import (
    EMPLOYER_ORG,
    FK_ORG,
    PATIENT,
    REGION_ORG,
    at,
    certificate,
    day,
    employer_consent,
    entry,
    notification,
)
from exchange_support import run
from test_coordination_store import message

from gateway.cli.main import main
from gateway.exchange.store import store_for

CONFIG = f"""
[server]
database = "sqlite:///{{db}}"

[[senders]]
id = "region-ehr"
token = "t1"
kinds = ["certificate", "section4-notification"]
recipients = ["fk", "acme"]
role = "region"
organisation = "{REGION_ORG}"

[[recipients]]
id = "fk"
role = "forsakringskassan"
organisation = "{FK_ORG}"
format = "xml"
push = {{ kind = "rivta-soap", url = "https://fk.example/soap" }}

[[recipients]]
id = "acme"
role = "employer"
organisation = "{EMPLOYER_ORG}"
pull = true
token = "t2"
"""


@pytest.fixture
def gateway_toml(tmp_path: Path) -> Path:
    db = tmp_path / "gateway.db"
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG.replace("{db}", str(db)), "utf-8")

    async def fill() -> None:
        store = store_for(f"sqlite:///{db}")
        await store.open()
        try:
            to = [("fk", "forsakringskassan", FK_ORG), ("acme", "employer", EMPLOYER_ORG)]
            cert = certificate("c1", [(day(1), day(90), 100)])
            region: dict[str, Any] = {
                "sender": "region-ehr",
                "sender_org": REGION_ORG,
                "sender_role": "region",
            }
            consent = employer_consent()
            c1 = entry(cert, received=at(1), to=to, envelope_consent=consent, **region)
            await store.accept([message(c1)])
            n = notification("s4-1", sent=at(3))
            await store.accept([message(entry(n, received=at(3), to=to[:1], **region))])
        finally:
            await store.close()

    run(fill())
    return config


def test_deadlines_of_an_actor_and_of_a_patient(
    gateway_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["deadlines", "--config", str(gateway_toml), "--actor", "acme", "--at", str(day(34))])
    out = capsys.readouterr().out
    assert rc == 1  # the return-to-work plan is overdue
    assert f"{day(30)}  overdue   {PATIENT}  employer" in out
    assert "return-to-work-plan overdue: due" in out
    rc = main(
        [
            "deadlines",
            "--config",
            str(gateway_toml),
            "--patient",
            PATIENT,
            "--at",
            str(day(10)),
            "--format",
            "json",
        ]
    )
    body = orjson.loads(capsys.readouterr().out)
    assert rc == 0 and body["patient"] == PATIENT
    codes = {(d["code"], d["role"]) for d in body["deadlines"]}
    assert ("section4-handling", "forsakringskassan") in codes
    assert ("return-to-work-plan", "employer") in codes


def test_statistics_json_csv_and_chart(
    gateway_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "sent.svg"
    rc = main(
        [
            "statistics",
            "--config",
            str(gateway_toml),
            "--from",
            "2025-01",
            "--to",
            "2025-03",
            "--cutoff",
            "0",
            "--chart",
            str(chart),
        ]
    )
    body = orjson.loads(capsys.readouterr().out)
    assert rc == 0
    (feb,) = [r for r in body["rows"] if r["region"] == REGION_ORG and r["month"] == "2025-02"]
    assert feb["sent"] == 1 and feb["sick_leave_cases"] == 1
    assert chart.read_text("utf-8").startswith("<svg")
    assert (
        main(
            [
                "statistics",
                "--config",
                str(gateway_toml),
                "--from",
                "2025-02",
                "--to",
                "2025-02",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("region,region_name,month,sent")
    assert any("sent" in line.split(",")[-1] for line in lines[1:])  # 1 < 5: suppressed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deadlines"], "one of the arguments --actor --patient is required"),
        (["deadlines", "--actor", "nobody"], "no configured sender or recipient"),
        (["deadlines", "--patient", "12"], "--patient: the patient id must be a personnummer"),
        (["statistics", "--from", "2025-13"], "months YYYY-MM"),
    ],
)
def test_usage_errors_name_the_option(
    gateway_toml: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*args, "--config", str(gateway_toml)]) == 2
    assert message in capsys.readouterr().err
