"""The console over HTTP: sessions, roles, CSRF and origin checks, headers, redeliver
through the store as the operator, and what an operator can never read. Cookies are handled
by hand (console_support.log_in) so a test can replay one."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from console_support import (
    COORDINATOR_TOKEN,
    OPERATOR_TOKEN,
    Browserless,
    Client,
    console_config_data,
    csrf_of,
    log_in,
)
from exchange_support import (
    AUTH_REGION,
    Clock,
    FakeTransport,
    NewStore,
    certificate_message,
    run,
    serving,
)
from pki import issue_client, make_pki

from gateway.console import auth
from gateway.console.app import CSP, HTML_ONLY
from gateway.exchange.config import parse
from gateway.exchange.server.app import OUTBOX, create_app
from gateway.exchange.store.base import Store
from gateway.exchange.transport import Answer, Verdict

FHIR = {"Content-Type": "application/fhir+json", **AUTH_REGION}
SAME = {"Sec-Fetch-Site": "same-origin"}
#: what the AG7804 fixture holds that no console page may show
CONTENT = (
    "191212121212",
    "19121212-1212",
    "121212-1212",
    "Arnold",
    "Johansson",
    "Ryggvärk",
    "Sömnstörning",
    "Snickare",
    "Kan inte lyfta",
    "M54",
    "G47",
)


def _config() -> Any:
    return parse(console_config_data(max_attempts=1))


#: the employer's endpoint refuses the first attempt for good, echoing the patient's id
PERMANENT = [Answer(Verdict.PERMANENT, "HTTP 422 Unprocessable Entity: patient 191212121212")]


@asynccontextmanager
async def console(
    store: Store, clock: Clock | None = None, answers: list[Answer] | None = None
) -> AsyncIterator[Client]:
    scripted = list(PERMANENT) if answers is None else answers
    transports = {"acme": FakeTransport(scripted), "fk": FakeTransport()}
    async with serving(_config(), store, transports, clock=clock or Clock()) as client:
        yield client


async def dead_letter(client: Client, message_id: str = "msg-dead-1") -> str:
    """A message whose employer copy is dead-lettered (the first answer is permanent)."""
    body = certificate_message(message_id=message_id, audiences=("employer",))
    answer = await client.post("/messages", data=body, headers=FHIR)
    assert answer.status == 202, await answer.text()
    outbox = client.app[OUTBOX]
    while await outbox.run_once():
        await outbox.drain()
    status = await (await client.get(f"/messages/{message_id}", headers=AUTH_REGION)).json()
    assert status["recipients"][0]["state"] == "dead"
    return message_id


async def redeliver(client: Client, s: Browserless, mid: str, **form: str) -> Any:
    data = {"csrf": s.csrf, "recipient": "acme", **form}
    return await client.post(
        f"/console/messages/{mid}/redeliver",
        data=data,
        headers={**s.headers, **SAME},
        allow_redirects=False,
    )


async def state(client: Client, mid: str) -> str:
    status = await (await client.get(f"/messages/{mid}", headers=AUTH_REGION)).json()
    return str(status["recipients"][0]["state"])


# -- sessions -------------------------------------------------------------------------------


def test_every_page_needs_a_session(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            page = await client.get("/console/messages?state=dead", allow_redirects=False)
            assert page.status == 303
            assert page.headers["Location"].startswith("/console/login?next=")
            live = await client.get("/console/live/overview", allow_redirects=False)
            assert live.status == 401
            post = await client.post(
                "/console/audit/verify", data={"csrf": "x"}, headers=SAME, allow_redirects=False
            )
            assert post.status == 403
            bare = await client.get("/console", allow_redirects=False)
            assert bare.status == 308 and bare.headers["Location"] == "/console/"

    run(main())


def test_the_session_cookie_and_the_headers_of_every_answer(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            login_page = await client.get("/console/login")
            cookie = login_page.headers["Set-Cookie"]
            for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
                assert flag in cookie
            assert cookie.startswith(f"{auth.LOGIN_COOKIE}=")
            page = await client.get("/console/login")
            answer = await client.post(
                "/console/login",
                data={"csrf": csrf_of(await page.text()), "token": OPERATOR_TOKEN},
                headers={
                    "Cookie": f"{auth.LOGIN_COOKIE}={page.cookies[auth.LOGIN_COOKIE].value}",
                    **SAME,
                },
                allow_redirects=False,
            )
            session = next(
                c for c in answer.headers.getall("Set-Cookie") if c.startswith(auth.COOKIE + "=")
            )
            for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
                assert flag in session
            s = await log_in(client)
            for path in (
                "/console/",
                "/console/messages",
                "/console/audit",
                "/console/nowhere",
                "/console/recipients",
                "/console/static/console.css",
            ):
                got = await client.get(path, headers=s.headers)
                assert got.headers["Content-Security-Policy"] == CSP, path
                assert got.headers["X-Content-Type-Options"] == "nosniff"
                assert got.headers["X-Frame-Options"] == "DENY"
                if "static" not in path:
                    assert got.headers["Cache-Control"] == "no-store"
                    assert "style=" not in await got.text(), path  # the CSP allows no inline
            assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP

    run(main())


def test_login_refuses_an_unknown_token_and_a_form_without_its_cookie(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            page = await client.get("/console/login")
            token = csrf_of(await page.text())
            jar = {"Cookie": f"{auth.LOGIN_COOKIE}={page.cookies[auth.LOGIN_COOKIE].value}"}
            wrong = await client.post(
                "/console/login", data={"csrf": token, "token": "guess"}, headers={**jar, **SAME}
            )
            assert wrong.status == 401
            assert auth.COOKIE + "=" not in " ".join(wrong.headers.getall("Set-Cookie", []))
            no_cookie = await client.post(
                "/console/login", data={"csrf": token, "token": OPERATOR_TOKEN}, headers=SAME
            )
            assert no_cookie.status == 403
            sender = await client.post(  # a sender's token opens no console
                "/console/login",
                data={"csrf": token, "token": "region-token"},
                headers={**jar, **SAME},
            )
            assert sender.status == 401

    run(main())


def test_a_cookie_replayed_after_logout_is_refused_in_every_process(tmp_path: Path) -> None:
    async def main() -> None:
        url = f"sqlite:///{tmp_path}/gateway.db"
        from gateway.exchange.store import store_for

        async with console(store_for(url)) as one, console(store_for(url)) as two:
            mid = await dead_letter(one)
            s = await log_in(one)
            assert (await two.get("/console/", headers=s.headers)).status == 200
            out = await one.post(
                "/console/logout",
                data={"csrf": s.csrf},
                headers={**s.headers, **SAME},
                allow_redirects=False,
            )
            assert out.status == 303
            assert f'{auth.COOKIE}=""' in out.headers["Set-Cookie"]
            for client in (one, two):
                page = await client.get("/console/", headers=s.headers, allow_redirects=False)
                assert page.status == 303 and "/console/login" in page.headers["Location"]
                live = await client.get("/console/live/overview", headers=s.headers)
                assert live.status == 401
                post = await redeliver(client, s, mid)
                assert post.status == 403
            assert await state(one, mid) == "dead"

    run(main())


def test_a_session_ends_when_idle_and_at_its_lifetime(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        async with console(_sqlite(tmp_path), clock) as client:
            s = await log_in(client)
            clock.advance(auth.IDLE.total_seconds() - 5)
            assert (await client.get("/console/", headers=s.headers)).status == 200
            clock.advance(auth.IDLE.total_seconds() - 5)  # used: renewed
            assert (await client.get("/console/", headers=s.headers)).status == 200
            clock.advance(auth.IDLE.total_seconds() + 1)
            gone = await client.get("/console/", headers=s.headers, allow_redirects=False)
            assert gone.status == 303
            s = await log_in(client)
            for _ in range(int(auth.LIFETIME / auth.IDLE) + 1):
                clock.advance(auth.IDLE.total_seconds() - 60)
                await client.get("/console/", headers=s.headers)
            ended = await client.get("/console/", headers=s.headers, allow_redirects=False)
            assert ended.status == 303

    run(main())


# -- CSRF and other sites -------------------------------------------------------------------


def test_forged_cross_site_posts_are_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            mid = await dead_letter(client)
            s = await log_in(client)
            url = f"/console/messages/{mid}/redeliver"
            data = {"csrf": s.csrf, "recipient": "acme"}
            for headers in (
                {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
                {"Sec-Fetch-Site": "same-site", "Origin": "https://other.127.0.0.1.nip.io"},
                {"Origin": "https://evil.example"},  # an older browser: Origin only
                {"Origin": "null"},
            ):
                forged = await client.post(
                    url, data=data, headers={**s.headers, **headers}, allow_redirects=False
                )
                assert forged.status == 403, headers
                assert "annan webbplats" in await forged.text()
            assert await state(client, mid) == "dead"

    run(main())


def test_a_missing_or_stale_csrf_token_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            mid = await dead_letter(client)
            old = await log_in(client)
            new = await log_in(client)
            assert old.csrf != new.csrf
            missing = await client.post(
                f"/console/messages/{mid}/redeliver",
                data={"recipient": "acme"},
                headers={**new.headers, **SAME},
                allow_redirects=False,
            )
            assert missing.status == 403
            stale = await redeliver(client, new, mid, csrf=old.csrf)
            assert stale.status == 403
            flipped = new.csrf[:-1] + ("1" if new.csrf.endswith("0") else "0")
            wrong = await redeliver(client, new, mid, csrf=flipped)
            assert wrong.status == 403
            assert await state(client, mid) == "dead"
            ok = await redeliver(client, new, mid)
            assert ok.status == 303 and ok.headers["Location"].endswith("?redelivered=1")

    run(main())


# -- redeliver ------------------------------------------------------------------------------


def test_redeliver_goes_through_the_store_and_is_audited_as_the_operator(
    new_store: NewStore,
) -> None:
    async def main() -> None:
        store = new_store()
        async with console(store) as client:
            mid = await dead_letter(client)
            s = await log_in(client)
            done = await redeliver(client, s, mid)
            assert done.status == 303
            page = await client.get(done.headers["Location"], headers=s.headers)
            assert "1 leverans(er) tillbaka i utkorgen" in await page.text()
            assert await state(client, mid) == "pending"
            outbox = client.app[OUTBOX]
            while await outbox.run_once():
                await outbox.drain()
            assert await state(client, mid) == "delivered"
            again = await redeliver(client, s, mid)
            assert again.headers["Location"].endswith("?redelivered=0")
            records = [r async for r in store.audit_records(message_id=mid)]
            by_operator = [r.entry for r in records if r.entry.action == "redelivered"]
            assert [(e.actor, e.recipient_id) for e in by_operator] == [("operator:anna", "acme")]
            trail = [r.entry async for r in _all(store)]
            assert [e.action for e in trail if e.actor == "operator:anna"] == [
                "console-login",
                "redelivered",
            ]

    run(main())


async def _all(store: Store) -> AsyncIterator[Any]:
    async for r in store.audit_records():
        yield r


# -- what an operator never reads -----------------------------------------------------------


def test_an_operator_never_reads_document_content(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            mid = await dead_letter(client)
            s = await log_in(client)
            pages = [
                "/console/",
                "/console/live/overview",
                f"/console/messages?id={mid}",
                f"/console/messages/{mid}",
                f"/console/live/messages/{mid}",
                "/console/audit",
                f"/console/audit?message={mid}",
                "/console/recipients",
            ]
            for path in pages:
                got = await client.get(path, headers=s.headers)
                assert got.status == 200, path
                html = await got.text()
                for secret in CONTENT:
                    assert secret not in html, (path, secret)
            # the recipient's own answer is shown, its personnummer masked
            page = await (await client.get(f"/console/messages/{mid}", headers=s.headers)).text()
            assert "HTTP 422 Unprocessable Entity: patient ••••••••-••••" in page
            # no route of the console serves a payload, and the API's do not open for it
            for path in (
                f"/console/messages/{mid}/payload",
                f"/console/messages/{mid}/raw",
                f"/console/deliveries/{mid}",
            ):
                assert (await client.get(path, headers=s.headers)).status == 404
            for path in (f"/messages/{mid}", "/inbox"):
                with_cookie = await client.get(path, headers=s.headers)
                assert with_cookie.status == 401, path
                token = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
                assert (await client.get(path, headers=token)).status == 401, path

    run(main())


def test_the_read_model_never_selects_a_payload() -> None:
    import gateway.console.readmodel as package

    folder = Path(package.__file__).parent
    for module in folder.glob("*.py"):
        code = re.sub(r'"""(?:.|\n)*?"""', "", module.read_text("utf-8"))  # docstrings out
        code = "\n".join(line.split("#")[0] for line in code.splitlines())
        assert "payload" not in code.lower(), module.name


# -- roles ----------------------------------------------------------------------------------


def test_each_role_sees_its_own_pages(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            operator = await log_in(client)
            coordinator = await log_in(client, COORDINATOR_TOKEN)
            home = await client.get("/console/", headers=coordinator.headers, allow_redirects=False)
            assert home.headers["Location"] == "/console/coordination/"
            for path in (
                "/console/coordination/",
                "/console/coordination/deadlines",
                "/console/coordination/flags",
                "/console/coordination/statistics",
            ):
                assert (await client.get(path, headers=coordinator.headers)).status == 200
                assert (await client.get(path, headers=operator.headers)).status == 403
            for path in (
                "/console/messages",
                "/console/audit",
                "/console/recipients",
                "/console/live/overview",
            ):
                assert (await client.get(path, headers=coordinator.headers)).status == 403
            verify = await client.post(
                "/console/audit/verify",
                data={"csrf": coordinator.csrf},
                headers={**coordinator.headers, **SAME},
            )
            assert verify.status == 403
            plans = await (
                await client.get("/console/coordination/", headers=coordinator.headers)
            ).text()
            assert "SE2321000131-E000000000001" in plans
            assert 'action="/console/coordination/patient"' in plans

    run(main())


def test_a_user_removed_from_the_configuration_loses_the_session(tmp_path: Path) -> None:
    async def main() -> None:
        url = f"sqlite:///{tmp_path}/gateway.db"
        from gateway.exchange.store import store_for

        async with console(store_for(url)) as before:
            s = await log_in(before)
        data = console_config_data()
        data["users"] = [u for u in data["users"] if u["id"] != "anna"]
        async with serving(parse(data), store_for(url), {}, clock=Clock()) as after:
            page = await after.get("/console/", headers=s.headers, allow_redirects=False)
            assert page.status == 303

    run(main())


def test_an_operator_logs_in_with_a_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    anna = issue_client(pki.ca, tmp_path, "anna", serial_numbers=("SE2321000016-OP01",))
    data = console_config_data()
    data["users"][0] = {"id": "anna", "role": "operator", "identity": "SE2321000016-OP01"}

    async def main() -> None:
        from gateway.exchange.store import store_for

        app = create_app(
            parse(data),
            store=store_for(f"sqlite:///{tmp_path}/g.db"),
            transports={},
            run_outbox=False,
        )
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(
            runner, "127.0.0.1", 0, ssl_context=pki.server_context(require_client_cert=False)
        )
        await site.start()
        port = runner.addresses[0][1]
        base = f"https://127.0.0.1:{port}"
        try:
            for who, context in (
                (anna, pki.client_context(anna)),
                (None, ssl.create_default_context(cadata=pki.ca_pem.decode())),
            ):
                connector = aiohttp.TCPConnector(ssl=context)
                jar = aiohttp.CookieJar(unsafe=True)
                async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
                    page = await http.get(f"{base}/console/login")
                    html = await page.text()
                    if who is None:
                        assert "Fortsätt som" not in html
                        continue
                    assert "Fortsätt som anna med certifikat" in html
                    answer = await http.post(
                        f"{base}/console/login",
                        data={"csrf": csrf_of(html), "method": "certificate"},
                        headers=SAME,
                        allow_redirects=False,
                    )
                    assert answer.status == 303
                    cookie = answer.cookies[auth.COOKIE].value
                    home = await http.get(
                        f"{base}/console/", headers={"Cookie": f"{auth.COOKIE}={cookie}"}
                    )
                    assert home.status == 200 and "anna" in await home.text()
        finally:
            await runner.cleanup()

    run(main())


# -- language, redirects, bad input, the API's document -------------------------------------


def test_swedish_by_default_english_when_asked(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            s = await log_in(client)
            sv = await client.get("/console/audit", headers=s.headers)
            assert '<html lang="sv">' in await sv.text()
            en = await client.get(
                "/console/audit", headers={**s.headers, "Accept-Language": "en-GB,en;q=0.9"}
            )
            assert '<html lang="en">' in await en.text() and "Audit trail" in await en.text()
            pick = await client.get(
                "/console/audit", headers={**s.headers, "Accept-Language": "de, en;q=0.2, sv;q=0.8"}
            )
            assert '<html lang="sv">' in await pick.text()
            switch = await client.get(
                "/console/language?to=en&next=/console/audit",
                headers=s.headers,
                allow_redirects=False,
            )
            assert switch.headers["Location"] == "/console/audit"
            chosen = switch.cookies[auth.LANGUAGE_COOKIE].value
            both = {"Cookie": f"{s.headers['Cookie']}; {auth.LANGUAGE_COOKIE}={chosen}"}
            assert '<html lang="en">' in await (await client.get("/console/", headers=both)).text()
            for target in (
                "https://evil.example/",
                "//evil.example/",
                "/console/\\evil",
                "/elsewhere",
            ):
                away = await client.get(
                    f"/console/language?to=sv&next={target}", allow_redirects=False
                )
                assert away.headers["Location"] == "/console/", target

    run(main())


def test_bad_search_input_gets_a_clear_answer(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            s = await log_in(client)
            for query, field in (
                ("state=lost", "state"),
                ("since=yesterday", "since"),
                ("sender=nobody", "sender"),
                ("before=x", "before"),
            ):
                got = await client.get(f"/console/messages?{query}", headers=s.headers)
                assert got.status == 400
                assert f"Ogiltigt värde i {field}" in await got.text()
            bad = await client.get("/console/audit?before=abc", headers=s.headers)
            assert bad.status == 400

    run(main())


def test_console_routes_are_html_only_and_not_in_the_api_document(tmp_path: Path) -> None:
    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            app = client.app
            console_routes = [
                r
                for r in app.router.routes()
                if (r.resource is not None and r.resource.canonical.startswith("/console"))
            ]
            assert console_routes
            for route in console_routes:
                if route.resource is not None and "static" in route.resource.canonical:
                    continue
                assert getattr(route.handler, HTML_ONLY, False), route.resource
            document = await (await client.get("/openapi.json")).json()
            assert not [p for p in document["paths"] if p.startswith("/console")]

    run(main())


def _sqlite(tmp_path: Path) -> Store:
    from gateway.exchange.store import store_for

    return store_for(f"sqlite:///{tmp_path}/gateway.db")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_labels_have_the_same_keys_and_placeholders(language: str) -> None:
    from gateway.console.i18n import labels

    mine, other = labels(language), labels("en" if language == "sv" else "sv")
    # the flags' and deadlines' English is the rule catalogue's and chain.toml's
    # (tests/test_console_coordination.py)
    own = ("flags.", "deadlines.")
    mine = {k: v for k, v in mine.items() if not k.startswith(own)}
    assert set(mine) == {k for k in other if not k.startswith(own)}
    for key, text in mine.items():
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", other[key])), key


def test_a_reload_takes_the_consoles_users(tmp_path: Path) -> None:
    from gateway.exchange.server.app import reload

    async def main() -> None:
        async with console(_sqlite(tmp_path)) as client:
            s = await log_in(client)
            data = console_config_data(max_attempts=1)
            data["users"] = [u for u in data["users"] if u["id"] != "anna"]
            data["users"].append({"id": "eva", "role": "operator", "token": "eva-token"})
            reload(client.app, parse(data), {})
            page = await client.get("/console/", headers=s.headers, allow_redirects=False)
            assert page.status == 303  # anna is gone
            eva = await log_in(client, "eva-token")
            assert (await client.get("/console/", headers=eva.headers)).status == 200

    run(main())


def test_a_store_the_console_cannot_read_leaves_the_gateway_serving(tmp_path: Path) -> None:
    class Elsewhere:
        """A store of a kind the console has no read model for."""

        url = "elsewhere://db"

        def __init__(self, inner: Store) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    async def main() -> None:
        async with console(Elsewhere(_sqlite(tmp_path))) as client:
            assert (await client.get("/ready")).status == 200
            page = await client.get("/console/", headers={"Cookie": f"{auth.COOKIE}=x"})
            assert page.status == 503
            assert "Databasen svarar inte" in await page.text()

    run(main())
