"""The coordinators' pages over HTTP, on SQLite and PostgreSQL: one patient's case sent
through the API, then the plan index, deadline list, flags and §4 statistics as a coordinator
at the region and as an employer's HR person see them - exactly what the API's own answers
say each may see (the same read functions), audited as the API's reads are; the personnummer
only ever in a form's body; CSRF and roles enforced."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time
from typing import Any

import pytest
from console_support import (
    CERT_FK_ONLY,
    CERT_SHARED,
    EMPLOYER_USER_TOKEN,
    OPERATOR_TOKEN,
    PLAN_ACME,
    PLAN_OTHER,
    REGION_COORDINATOR_TOKEN,
    S4_ID,
    SIP_ID,
    Browserless,
    Client,
    coordination_case,
    coordination_config,
    log_in,
)
from coordination_support import PATIENT
from exchange_support import Clock, FakeTransport, NewStore, run
from markupsafe import escape

from gateway.documents.common import SWEDISH_TIME
from gateway.exchange.config import ConfigError, parse
from gateway.exchange.store.base import Store

SAME = {"Sec-Fetch-Site": "same-origin"}
#: noon today, Swedish time: the case's day 20
NOW = datetime.combine(datetime.now(SWEDISH_TIME).date(), time(12), SWEDISH_TIME).astimezone(UTC)
#: what an employer must never be shown: the fixture certificate's diagnosis codes and texts,
#: a SIP and its needs, the §4 notification, the other employer's plan, the second certificate
NEVER_TO_EMPLOYER = (
    "M54",
    "G47",
    "Ryggvärk",
    "Sömnstörning",
    "Samtalsstöd",
    SIP_ID,
    S4_ID,
    "SIP",
    "Rehabiliteringskoordinator",
    PLAN_OTHER,
    "Annat Bolag",
    CERT_FK_ONLY,
    "COORD-RTW-DEGREE",
)


@asynccontextmanager
async def coordination(store: Store) -> AsyncIterator[Client]:
    """The gateway with the case sent through its API (the outbox delivers nothing: the
    index is written when a message is accepted)."""
    from aiohttp.test_utils import TestClient, TestServer

    from gateway.exchange.server.app import create_app
    from gateway.exchange.server.serve import AccessLog

    config = parse(coordination_config("https://push.example/fhir"))
    transports: dict[str, Any] = {r.id: FakeTransport() for r in config.recipients}
    app = create_app(
        config,
        store=store,
        transports=transports,
        run_outbox=False,
        worker_name="test",
        clock=Clock(NOW),
    )
    server = TestServer(app, host="127.0.0.1", port=0)
    # the gateway's own access log, as `gateway serve` has it
    await server.start_server(
        access_log_class=AccessLog, access_log=logging.getLogger("gateway.access")
    )
    async with TestClient(server) as client:
        for sent in coordination_case(NOW.astimezone(SWEDISH_TIME).date()):
            headers = {"Authorization": f"Bearer {sent.token}", "Content-Type": sent.content_type}
            if sent.recipients:
                headers["Gateway-Recipients"] = sent.recipients
            answer = await client.post("/messages", data=sent.body, headers=headers)
            assert answer.status == 202, await answer.text()
        yield client


async def open_patient(client: Client, s: Browserless, patient: str = PATIENT) -> Any:
    return await client.post(
        "/console/coordination/patient",
        data={"csrf": s.csrf, "patient": patient},
        headers={**s.headers, **SAME},
    )


def entries_of(html: str) -> set[str]:
    return set(re.findall(r'data-entry="([^"]+)"', html))


def codes_of(html: str) -> set[str]:
    return set(re.findall(r'data-code="([^"]+)"', html))


async def api(client: Client, token: str, path: str) -> Any:
    answer = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, await answer.text()
    return await answer.json()


def test_the_region_and_the_employer_each_see_only_their_own(new_store: NewStore) -> None:
    async def main() -> None:
        async with coordination(new_store()) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            lisa = await log_in(client, EMPLOYER_USER_TOKEN)

            region = await open_patient(client, kim)
            assert region.status == 200
            html = await region.text()
            assert entries_of(html) == {
                f"certificate:{CERT_SHARED}",
                f"certificate:{CERT_FK_ONLY}",
                f"section4-notification:{S4_ID}",
                f"return-to-work-plan:5566778899:{PLAN_ACME}",
                f"return-to-work-plan:5560001116:{PLAN_OTHER}",
                f"sip:{SIP_ID}",
            }
            assert {"COORD-RTW-DEGREE"} <= codes_of(html)
            assert "19121212-1212" in html

            employer = await open_patient(client, lisa, "19121212-1212")
            html = await employer.text()
            assert entries_of(html) == {
                f"certificate:{CERT_SHARED}",
                f"return-to-work-plan:5566778899:{PLAN_ACME}",
            }
            main_part = html[html.index("<main") :]
            for word in NEVER_TO_EMPLOYER:
                assert word not in main_part, word
            # the certificate as the employer's fields allow: type, status, signed, periods
            row = main_part[main_part.index(f'data-entry="certificate:{CERT_SHARED}"') :]
            row = row[: row.index("</tr>")]
            assert "100 %" in row and "50 %" in row and "FK7804" in row
            assert "counts" not in row and "räknas" not in row and "enhet" not in row

    run(main())


def test_the_pages_show_what_the_api_shows(tmp_path: Any) -> None:
    """The same read functions: the index page's entries and the deadline list's deadlines
    are the API's for the actor with the same role and organisation (the region's EHR)."""

    async def main() -> None:
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            page = await (await open_patient(client, kim)).text()
            plans = await api(client, "t-region", f"/patients/{PATIENT}/plans")
            assert entries_of(page) == {e["entry"] for e in plans["entries"]}
            assert codes_of(page) >= {f["code"] for f in plans["flags"]}

            listed = await (
                await client.get("/console/coordination/deadlines", headers=kim.headers)
            ).text()
            deadlines = await api(client, "t-region", "/deadlines?within=30&limit=200")
            shown = re.findall(r'<tr data-code="([^"]+)" data-status="([^"]+)"', listed)
            assert shown == [(d["code"], d["status"]) for d in deadlines["deadlines"]]
            assert "19121212-1212" in listed

            lisa = await log_in(client, EMPLOYER_USER_TOKEN)
            mine = await (
                await client.get("/console/coordination/deadlines", headers=lisa.headers)
            ).text()
            hr = await api(client, "t-acme", "/deadlines?within=30&limit=200")
            shown = re.findall(r'<tr data-code="([^"]+)" data-status="([^"]+)"', mine)
            assert shown == [(d["code"], d["status"]) for d in hr["deadlines"]]

            flags = await (
                await client.get("/console/coordination/flags", headers=kim.headers)
            ).text()
            assert 'data-code="COORD-RTW-DEGREE"' in flags
            assert "COORD-RTW-LATE" in flags  # the catalogue explains every flag

            stats = await client.get("/console/coordination/statistics", headers=kim.headers)
            html = await stats.text()
            assert stats.status == 200 and "<svg" in html
            month = f"{NOW.astimezone(SWEDISH_TIME):%Y-%m}"  # counted when accepted
            sent = re.search(rf'data-month="{month}">.*?data-measure="sent">(\d+)<', html, re.S)
            assert sent is not None and sent.group(1) == "1"
            forbidden = await client.get("/console/coordination/statistics", headers=lisa.headers)
            assert forbidden.status == 403
            assert "/console/coordination/statistics" not in (
                await (await client.get("/console/coordination/", headers=lisa.headers)).text()
            )

    run(main())


def test_every_read_is_audited_as_the_person(tmp_path: Any) -> None:
    async def main() -> None:
        from gateway.exchange.server.app import STORE
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            await open_patient(client, kim)
            await client.get("/console/coordination/deadlines", headers=kim.headers)
            reads = [
                r.entry async for r in client.app[STORE].audit_records() if r.entry.action == "read"
            ]
            by_page = {e.detail["via"]: e for e in reads}
            index = by_page["console/patient"]
            assert index.actor == "coordinator:kim"
            assert index.detail["patient"] == PATIENT
            assert f"certificate:{CERT_SHARED}" in index.detail["entries"]
            listed = by_page["console/deadlines"]
            assert listed.actor == "coordinator:kim" and listed.detail["patients"] == [PATIENT]
            # the operator sees who read, never whose record (metadata only)
            anna = await log_in(client, OPERATOR_TOKEN)
            trail = await (
                await client.get("/console/audit?actor=coordinator:kim", headers=anna.headers)
            ).text()
            assert "console/patient" in trail
            for spelling in ("191212121212", "19121212-1212", "121212-1212"):
                assert spelling not in trail

    run(main())


def test_the_personnummer_is_never_in_a_url_or_the_access_log(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            with caplog.at_level(logging.DEBUG):
                page = await open_patient(client, kim, "19121212-1212")
                assert page.status == 200
                listed = await client.get("/console/coordination/deadlines", headers=kim.headers)
                flags = await client.get("/console/coordination/flags", headers=kim.headers)
                bad = await open_patient(client, kim, "12345")
            assert str(page.url).endswith("/console/coordination/patient")
            for html in (await listed.text(), await flags.text()):
                hrefs = re.findall(r'(?:href|action)="([^"]*)"', html)
                assert not [h for h in hrefs if re.search(r"\d{8}-?\d{4}", h)], hrefs
            assert bad.status == 400
            assert "inte ett personnummer" in await bad.text()
            logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
            assert "/console/coordination/patient" in logged  # the access log saw the request
            for spelling in ("191212121212", "19121212-1212", "121212-1212"):
                assert spelling not in logged

    run(main())


def test_csrf_and_roles_guard_the_coordinators_pages(tmp_path: Any) -> None:
    async def main() -> None:
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            anna = await log_in(client, OPERATOR_TOKEN)
            # no token; a stale one (kim's earlier session, logged out); another site's post
            earlier = await log_in(client, REGION_COORDINATOR_TOKEN)
            ended = await client.post(
                "/console/logout",
                data={"csrf": earlier.csrf},
                headers={**earlier.headers, **SAME},
                allow_redirects=False,
            )
            assert ended.status == 303
            for data, headers in (
                ({"patient": PATIENT}, SAME),
                ({"patient": PATIENT, "csrf": earlier.csrf}, SAME),
                ({"patient": PATIENT, "csrf": kim.csrf}, {"Sec-Fetch-Site": "cross-site"}),
            ):
                answer = await client.post(
                    "/console/coordination/patient", data=data, headers={**kim.headers, **headers}
                )
                assert answer.status == 403
                assert "1212" not in await answer.text()
            # an operator sees no patient pages, a coordinator no operator pages
            for path in (
                "/console/coordination/",
                "/console/coordination/deadlines",
                "/console/coordination/flags",
                "/console/coordination/statistics",
            ):
                assert (await client.get(path, headers=anna.headers)).status == 403
            refused = await open_patient(client, anna)
            assert refused.status == 403 and "1212" not in await refused.text()
            for path in ("/console/", "/console/messages", "/console/audit", "/console/recipients"):
                page = await client.get(path, headers=kim.headers, allow_redirects=False)
                assert page.status in (303, 403)
                if page.status == 303:
                    assert page.headers["Location"] == "/console/coordination/"

    run(main())


@pytest.mark.parametrize(
    ("user", "problem"),
    [
        ({"actor_role": "hr"}, "users[0].actor_role: 'hr' is not one of"),
        (
            {"role": "operator", "organisation": None, "actor_role": "employer"},
            "users[0].actor_role: only a coordinator acts in a role",
        ),
    ],
)
def test_an_unknown_actor_role_names_the_setting(user: dict[str, Any], problem: str) -> None:
    base = {"id": "kim", "role": "coordinator", "organisation": "5566778899", "token": "x"}
    data = coordination_config("https://push.example/fhir")
    data["users"] = [{k: v for k, v in {**base, **user}.items() if v is not None}]
    with pytest.raises(ConfigError) as caught:
        parse(data)
    assert problem in str(caught.value)


def test_a_coordinator_without_actor_role_acts_as_the_region() -> None:
    data = coordination_config("https://push.example/fhir")
    data["users"] = [{"id": "kim", "role": "coordinator", "organisation": "x", "token": "t"}]
    (user,) = parse(data).users
    assert user.actor_role == "region"


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_label_of_the_coordinators_pages_is_there(tmp_path: Any, language: str) -> None:
    """No page shows a label's key where its text belongs (a missing label shows its key)."""

    async def main() -> None:
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            lang = {**kim.headers, "Accept-Language": language}
            index = await client.post(
                "/console/coordination/patient",
                data={"csrf": kim.csrf, "patient": PATIENT},
                headers={**lang, **SAME},
            )
            assert index.headers["Content-Language"] == language
            pages = [await index.text()]
            for path in ("", "deadlines", "flags", "statistics"):
                page = await client.get(f"/console/coordination/{path}", headers=lang)
                assert page.status == 200
                pages.append(await page.text())
            keys = re.compile(
                r">\s*(?:coordination|fact|deadline|kind|measure|statistics|case|entry|flag|"
                r"actor|deviation)\.[a-z_-]+\s*<"
            )
            for html in pages:
                assert keys.search(html) is None, keys.search(html)

    run(main())


def test_every_flag_is_explained_in_swedish_and_english() -> None:
    """sv.toml's flags are exactly the catalogue's COORD codes, each with a title and an
    explanation; English is the catalogue's own."""
    from gateway.console.coordination import catalogue, explain
    from gateway.console.i18n import labels
    from gateway.coordination import flags  # noqa: F401 - defines the COORD rules
    from gateway.documents.issues import RULES

    rules = {r.code: r for r in RULES.all() if r.code.startswith("COORD-")}
    sv = {k.split(".")[1] for k in labels("sv") if k.startswith("flags.")}
    assert sv == set(rules)
    for code, rule in rules.items():
        title, why, lang = explain(code, "sv")
        assert lang == "sv" and title and len(why) > 80, code
        assert explain(code, "en") == (rule.title, rule.explanation, "en")
    assert [c for c, _ in catalogue("sv")] == [c for c, _ in catalogue("en")]
    assert {c for c, _ in catalogue("sv")} == set(rules)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_flags_page_explains_each_flag_whole_in_the_pages_language(
    tmp_path: Any, language: str
) -> None:
    """The catalogue on the flags page shows each flag's title and its whole explanation, in
    the page's language, marked with it."""
    from gateway.console.coordination import explain

    async def main() -> None:
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            lang = {**kim.headers, "Accept-Language": language}
            page = await client.get("/console/coordination/flags", headers=lang)
            html = await page.text()
            title, why, _ = explain("COORD-RTW-DEGREE", language)
            item = re.search(r'<div lang="(\w+)" data-code="COORD-RTW-DEGREE">(.*?)</div>', html)
            assert item is not None
            assert item.group(1) == language
            assert f"</span> {escape(title)}</dt>" in item.group(2)
            assert f'<dd class="small">{escape(why)}</dd>' in item.group(2)
            row = re.search(r'<tr data-code="COORD-RTW-DEGREE">(.*?)</tr>', html, re.S)
            assert row is not None and f'<strong lang="{language}">{escape(title)}<' in row[1]
            entries = re.search(r'<span class="mono">([^<]*)</span></span></td>', row[1])
            assert entries is not None and entries[1]  # which documents it is about

    run(main())


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_code_the_index_keeps_has_a_label(language: str) -> None:
    """An entry's status, a return-to-work measure's type and a SIP effort's status read as
    words in both languages (a code without a label would show as itself)."""
    from gateway.console.i18n import Translator
    from gateway.documents.acknowledgement import HandlingStatus, Outcome
    from gateway.documents.return_to_work import MeasureType
    from gateway.documents.sip import EffortStatus

    t = Translator(language)
    statuses = {"current", "revoked", "active", "completed", "not-needed", "sent"}
    for section, codes in (
        ("status", statuses | set(HandlingStatus) | set(Outcome)),
        ("rtw_measure", set(MeasureType)),
        ("effort", set(EffortStatus)),
    ):
        for code in codes:
            assert t.code(section, str(code)) != f"{section}.{code}", (section, code)
            assert f"{section}.{code}" in t._labels, (section, code)
    assert t.code("status", "a-new-code") == "a-new-code"


def test_the_index_page_names_statuses_and_measures_in_swedish(tmp_path: Any) -> None:
    async def main() -> None:
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            html = await (await open_patient(client, kim)).text()
            assert re.search(r'<td class="mono">intyg-fk-2</td>\s*<td>gällande</td>', html), html
            assert "part-time" not in html and "deltidsarbete, 50 %" in html

    run(main())


def test_every_deadline_has_a_swedish_title() -> None:
    """sv.toml's deadlines are exactly chain.toml's codes; English is chain.toml's title."""
    from gateway.console.coordination import deadline_title
    from gateway.console.i18n import labels
    from gateway.coordination.settings import deadline_rules

    rules = {r.code: r for r in deadline_rules()}
    assert {k.split(".", 1)[1] for k in labels("sv") if k.startswith("deadlines.")} == set(rules)
    for code, rule in rules.items():
        title, lang = deadline_title(code, "sv")
        assert lang == "sv" and title and title != rule.title, code
        assert deadline_title(code, "en") == (rule.title, "en")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_deadline_list_names_each_deadline_in_the_pages_language(
    tmp_path: Any, language: str
) -> None:
    from gateway.console.coordination import deadline_title

    async def main() -> None:
        from gateway.exchange.store import store_for

        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            kim = await log_in(client, REGION_COORDINATOR_TOKEN)
            lang = {**kim.headers, "Accept-Language": language}
            html = await (await client.get("/console/coordination/deadlines", headers=lang)).text()
            rows = re.findall(
                r'<tr data-code="([^"]+)".*?<span class="small deadline-title" lang="(\w+)">'
                r"([^<]*)</span>",
                html,
                re.S,
            )
            assert rows
            for code, lang_attr, title in rows:
                assert (title, lang_attr) == (
                    str(escape(deadline_title(code, language)[0])),
                    language,
                )

    run(main())


def test_many_patients_are_read_as_one_is_and_audited_in_one_transaction(tmp_path: Any) -> None:
    """``patient_views`` (the flags page's read of every patient on its list) answers for each
    patient what ``patient_view`` answers, and commits their audit records at once."""
    from gateway.console.auth import ConsoleUser
    from gateway.console.coordination import actor
    from gateway.exchange.plan_index.service import patient_view, patient_views
    from gateway.exchange.server.app import STORE
    from gateway.exchange.server.coordination import PLAN_INDEX
    from gateway.exchange.store import store_for

    async def main() -> None:
        async with coordination(store_for(f"sqlite:///{tmp_path}/g.db")) as client:
            app = client.app
            users = parse(coordination_config("https://push.example/fhir")).users
            me = next(u for u in users if u.token == REGION_COORDINATOR_TOKEN)
            kim = actor(ConsoleUser(me, "token", "", ""))
            record = await app[PLAN_INDEX].patient(PATIENT)
            keys = [f"{PATIENT}"] + [f"1912121{n:05d}" for n in range(79)]  # 80 patients

            class Index:  # the same record for every key: 80 patients with its flags
                async def patients(self, keys: list[str]) -> dict[str, Any]:
                    return dict.fromkeys(keys, record)

            commits: list[list[Any]] = []

            class Store:
                async def append_audit(self, entries: list[Any]) -> None:
                    commits.append(entries)

            views = await patient_views(Index(), Store(), kim, keys, at=NOW, via="test")  # type: ignore[arg-type]
            one = await patient_view(app[PLAN_INDEX], app[STORE], kim, PATIENT, at=NOW, via="test")
            assert [v.patient for v in views] == keys
            assert all(v.flags == one.flags and v.entries == one.entries for v in views)
            assert len(one.flags) == 3
            assert len(commits) == 1 and [e.detail["patient"] for e in commits[0]] == keys

    run(main())
