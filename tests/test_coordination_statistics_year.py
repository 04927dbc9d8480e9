"""§4 statistics of a generated year (issue 17, "Done when"): notifications from several
regions sent through a real server on both stores, some refused, some never delivered, some
answered by Försäkringskassan; the statistics must equal the generator's own tally, cell by
cell, and the charts must be produced."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import orjson
import pytest
from exchange_support import Clock, FakeTransport, NewStore, run, serving
from section4_year import REGIONS, YEAR, generate

from gateway.coordination.statistics import MEASURES, NATIONAL
from gateway.documents.common import SWEDISH_TIME
from gateway.exchange.config import Config, parse
from gateway.exchange.plan_index import plan_index_for
from gateway.exchange.plan_index.service import section4_report
from gateway.exchange.server.app import OUTBOX, STORE
from gateway.exchange.transport import Answer, Parcel, Verdict
from gateway.formats.xmlsafe import parse_xml


def config() -> Config:
    senders: list[dict[str, Any]] = [
        {
            "id": sid,
            "token": f"t-{sid}",
            "kinds": ["certificate", "section4-notification"],
            "recipients": ["fk"],
            "role": "region",
            "organisation": org,
        }
        for sid, (org, _) in REGIONS.items()
    ]
    senders.append(
        {
            "id": "fk-case",
            "token": "t-fk-case",
            "kinds": ["section4-acknowledgement"],
            "recipients": ["region-skane"],
            "role": "forsakringskassan",
            "organisation": "2021005521",
        }
    )
    return parse(
        {
            "delivery": {"max_attempts": 1},
            "senders": senders,
            "recipients": [
                {
                    "id": "fk",
                    "role": "forsakringskassan",
                    "organisation": "2021005521",
                    "format": "xml",
                    "push": {"kind": "rivta-soap", "url": "https://fk.example/soap"},
                },
                {
                    "id": "region-skane",
                    "role": "region",
                    "organisation": "2321000255",
                    "format": "fhir-json",
                    "push": {"kind": "fhir", "url": "https://r.example/fhir"},
                },
            ],
        }
    )


class Failing(FakeTransport):
    """Försäkringskassan's endpoint, refusing the notifications the generator marked."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    async def deliver(self, parcel: Parcel) -> Answer:
        if parcel.message_id in self.failing:
            return Answer(Verdict.PERMANENT, "500 refused for good")
        return await super().deliver(parcel)


async def _year(new_store: NewStore) -> None:
    year = generate()
    clock = Clock(datetime(YEAR, 1, 1, tzinfo=UTC))
    transports = {
        "fk": Failing({e.message_id for e in year.events if e.fails}),
        "region-skane": FakeTransport(),
    }
    async with serving(config(), new_store(), transports, clock=clock) as client:
        for e in year.events:
            clock.now = e.at.astimezone(UTC)
            headers = {
                "Authorization": f"Bearer t-{e.sender}",
                "Content-Type": e.content_type,
                "Gateway-Recipients": e.recipients,
                "Gateway-Message-Id": e.message_id,
            }
            async with client.post("/messages", data=e.body, headers=headers) as resp:
                assert resp.status in (202, 422), (e.message_id, await resp.text())
        while await client.app[OUTBOX].run_once():
            await client.app[OUTBOX].drain()
        await client.app[OUTBOX].drain()
        at = datetime.combine(year.as_of, time(12), SWEDISH_TIME)
        store = client.app[STORE]
        report = await section4_report(
            plan_index_for(store),
            store,
            config(),
            None,
            first=f"{YEAR}-01",
            last=f"{YEAR}-12",
            at=at,
            cutoff=0,
        )
        # every cell is the generator's
        for (org, month), tally in year.tally.items():
            cell = report.cells[(org, month)]
            assert {m: cell[m] for m in MEASURES} == {m: float(tally[m]) for m in MEASURES}, (
                org,
                month,
            )
        for month in report.months:
            total = sum(
                (t for (o, m), t in year.tally.items() if m == month),
                start=type(next(iter(year.tally.values())))(),
            )
            assert report.cells[(NATIONAL, month)]["sent"] == total["sent"]
        assert {d["code"] for d in report.deviations} >= {
            "not-handled",
            "missing-consent",
            "no-need-not-told",
        }
        # as region b sees it over HTTP: its own rows whole, small cells of others suppressed
        clock.now = at.astimezone(UTC)
        auth = {"Authorization": "Bearer t-region-b"}
        async with client.get(
            f"/statistics/section4?from={YEAR}-01&to={YEAR}-12", headers=auth
        ) as resp:
            seen = orjson.loads(await resp.read())
        org_b = REGIONS["region-b"][0]
        for row in seen["rows"]:
            tally = year.tally[(row["region"], row["month"])]
            if row["region"] == org_b:
                assert row["suppressed"] == [] and row["sent"] == tally["sent"]
            elif row["region"] != NATIONAL:
                for m in MEASURES:
                    if 0 < tally[m] < 5:
                        assert row[m] is None and m in row["suppressed"], (row["region"], m)
        async with client.get(
            f"/statistics/section4?from={YEAR}-01&to={YEAR}-12&format=csv", headers=auth
        ) as resp:
            assert resp.content_type == "text/csv"
            assert (await resp.text()).startswith("region,region_name,month,sent,refused,")
        for measure in ("sent", "refused", "handled", "rate_per_case"):
            async with client.get(
                f"/statistics/section4/chart.svg?measure={measure}&from={YEAR}-01&to={YEAR}-12",
                headers=auth,
            ) as resp:
                assert resp.status == 200 and resp.content_type == "image/svg+xml"
                root = parse_xml(await resp.read()).root
                assert root is not None and root.tag.endswith("}svg")


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_a_generated_year_comes_out_as_the_generator_counted(new_store: NewStore) -> None:
    run(_year(new_store))
