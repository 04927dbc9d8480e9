"""The console in a real browser: Debian's headless Chromium driven by Selenium through
chromium-driver, against a real ``gateway serve`` (HTTPS, SQLite) on loopback, with a push
recipient the test scripts. An operator logs in, finds a message, watches its dead letter
appear, redelivers it and sees it delivered, verifies the audit chain; a coordinator sees
the frame of the coordination pages; a page on another site cannot make the browser
redeliver. axe-core (vendored: tests/data/axe.min.js, axe-core 4.14.1, MPL-2.0) checks
every page: no serious or critical violation. Each page's screenshot is written to
:data:`console_support.SCREENSHOTS`.

Chromium missing is a failure, not a skip: ``apt-get install chromium chromium-driver``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import ssl
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from console_support import (
    COORDINATOR_TOKEN,
    OPERATOR_TOKEN,
    SCREENSHOTS,
    USERS,
    ScriptedRecipient,
    gateway_serve,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from exchange_support import certificate_message
from pki import Pki, make_pki
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = Path(__file__).parent / "data" / "axe.min.js"
WAIT = 30  # seconds a condition may take on a loaded 2-core machine
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--lang=sv-SE",
)


@dataclass
class Served:
    url: str
    pki: Pki
    recipient: ScriptedRecipient
    attacker: str  # another site's page (http://localhost:…)

    def send(self, message_id: str) -> dict[str, Any]:
        """A sender posts a certificate for the employer (consent included)."""
        body = certificate_message(message_id=message_id, audiences=("employer",))
        request = urllib.request.Request(
            f"{self.url}/messages",
            data=body,
            method="POST",
            headers={"Content-Type": "application/fhir+json", "Authorization": "Bearer region"},
        )
        context = ssl.create_default_context(cadata=self.pki.ca_pem.decode())
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            assert answer.status == 202
            result: dict[str, Any] = json.loads(answer.read())
        return result

    def state(self, message_id: str) -> str:
        request = urllib.request.Request(
            f"{self.url}/messages/{message_id}", headers={"Authorization": "Bearer region"}
        )
        context = ssl.create_default_context(cadata=self.pki.ca_pem.decode())
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            status = json.loads(answer.read())
        return str(status["recipients"][0]["state"])


def _spki(cert: Path) -> str:
    """The server key's SPKI hash, for Chromium's --ignore-certificate-errors-spki-list."""
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _attacker_site(target: str) -> tuple[str, web.AppRunner, Any]:
    """Another site (http://localhost:port): a page whose form posts to the gateway's
    redeliver as soon as it loads, the way a forged cross-site request would."""
    import asyncio

    page = f"""<!doctype html><html><body><form id="f" method="post" action="{target}">
<input type="hidden" name="csrf" value="guessed"><input type="hidden" name="recipient"
value="acme"></form><script>document.getElementById('f').submit();</script></body></html>"""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "localhost", 0)
        loop.run_until_complete(site.start())
        state["port"] = runner.addresses[0][1]
        state["runner"], state["loop"] = runner, loop
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    assert ready.wait(10)
    return f"http://localhost:{state['port']}/", state["runner"], state["loop"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("console-browser")
    pki = make_pki(tmp)
    ca = tmp / "ca.pem"
    ca.write_bytes(pki.ca_pem)
    recipient = ScriptedRecipient().start()
    users = "".join(
        f'\n[[users]]\nid = "{u["id"]}"\nrole = "{u["role"]}"\ntoken = "{u["token"]}"\n'
        + (f'organisation = "{u["organisation"]}"\n' if "organisation" in u else "")
        for u in USERS
    )
    config = tmp / "gateway.toml"
    config.write_text(
        f"""
[server]
database = "sqlite:///{tmp}/gateway.db"
tls = {{ cert = "{pki.server.cert}", key = "{pki.server.key}", ca = "{ca}" }}

[delivery]
max_attempts = 2
initial_backoff_seconds = 0.2
max_backoff_seconds = 1
poll_seconds = 0.1

[[senders]]
id = "region-vg"
token = "region"
kinds = ["certificate"]
recipients = ["acme"]

[[recipients]]
id = "acme"
role = "employer"
organisation = "5561234567"
format = "fhir-json"
push = {{ kind = "fhir", url = "{recipient.url}" }}
{users}""",
        encoding="utf-8",
    )
    try:
        with gateway_serve(config, cwd=tmp) as url:
            holder: list[Any] = []
            try:
                attacker, runner, loop = _attacker_site(f"{url}/console/messages/x/redeliver")
                holder = [runner, loop]
                yield Served(url, pki, recipient, attacker)
            finally:
                if holder:
                    holder[1].call_soon_threadsafe(holder[1].stop)
    finally:
        recipient.stop()


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[WebDriver]:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        assert path.exists(), (
            f"{path} is missing: the console's browser tests need Debian's {package} "
            "(apt-get install -y chromium chromium-driver; .ci/run does)"
        )
    assert AXE.is_file(), f"{AXE} is missing (axe-core, vendored)"
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--ignore-certificate-errors-spki-list={_spki(served.pki.server.cert)}")
    options.add_experimental_option("prefs", {"intl.accept_languages": "sv-SE,sv,en"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- helpers --------------------------------------------------------------------------------


def wait(driver: WebDriver, what: str, condition: Any) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition, what)


def check_page(driver: WebDriver, name: str) -> None:
    """axe-core on the page as it is (no serious or critical violation), then a screenshot of
    the whole page."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.html)}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {name}: " + json.dumps(bad, indent=1, ensure_ascii=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1},
        },
    )
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def log_in(driver: WebDriver, served: Served, token: str) -> None:
    driver.get(f"{served.url}/console/login")
    driver.delete_all_cookies()  # whatever an earlier test left
    driver.get(f"{served.url}/console/")
    wait(driver, "the login page", lambda d: d.find_elements(By.ID, "token"))
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    wait(driver, "logged in", lambda d: d.find_elements(By.CSS_SELECTOR, ".session .who"))


def log_out(driver: WebDriver) -> None:
    driver.find_element(By.CSS_SELECTOR, ".session form button").click()
    wait(driver, "logged out", lambda d: d.find_elements(By.ID, "token"))


def click(driver: WebDriver, css: str) -> None:
    """Click, again if a live refresh replaced the element between finding and clicking."""

    def attempt(d: WebDriver) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
        except StaleElementReferenceException:
            return False
        return True

    wait(driver, f"click {css}", attempt)


def delivery_state(driver: WebDriver) -> str | None:
    """Read in one script: the live part may replace its rows between two WebDriver calls."""
    state: str | None = driver.execute_script(
        "const row = document.querySelector(\"#message-live tr[data-recipient='acme']\");"
        "return row ? row.dataset.state : null;"
    )
    return state


# -- the operator ---------------------------------------------------------------------------


def test_operator_finds_watches_redelivers_and_verifies(
    served: Served, browser: WebDriver
) -> None:
    d = browser
    d.get(f"{served.url}/console/login")
    wait(d, "the login page", lambda x: x.find_elements(By.ID, "token"))
    check_page(d, "login")
    log_in(d, served, OPERATOR_TOKEN)
    assert d.current_url == f"{served.url}/console/"
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"

    # a message whose recipient fails twice: the second attempt waits for the test
    gate = threading.Event()
    served.recipient.script[:] = [(503, None), (503, gate)]
    served.send("console-journey-1")
    wait(d, "attempt 1", lambda _: len(served.recipient.received) >= 2)

    # find it
    d.get(f"{served.url}/console/messages")
    d.find_element(By.ID, "f-id").send_keys("console-journey-1")
    d.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait(d, "the search", lambda x: "id=console-journey-1" in x.current_url)
    link = wait(d, "the result", lambda x: x.find_elements(By.LINK_TEXT, "console-journey-1"))
    check_page(d, "messages")
    link[0].click()
    wait(d, "the message page", lambda x: delivery_state(x) is not None)
    assert delivery_state(d) == "retrying"

    # watch the dead letter appear: the page refreshes itself, no reload
    marker = d.find_element(By.ID, "message-live").get_attribute("data-refreshed")
    gate.set()
    wait(d, "the dead letter", lambda x: delivery_state(x) == "dead")
    assert d.find_element(By.ID, "message-live").get_attribute("data-refreshed") != marker
    answer = d.execute_script(
        "return document.querySelector(\"tr[data-recipient='acme'] td.answer\").textContent;"
    )
    assert "503" in answer
    check_page(d, "message")

    # redeliver it and see it delivered
    click(d, "tr[data-recipient='acme'] button.button-danger")
    wait(d, "redelivered", lambda x: "redelivered=1" in x.current_url)
    assert "1 leverans(er) tillbaka i utkorgen" in d.find_element(By.CSS_SELECTOR, ".notice").text
    wait(d, "delivered", lambda x: delivery_state(x) == "delivered")
    records = d.execute_script(
        "return document.getElementById('records-title').parentElement.textContent;"
    )
    assert "operator:anna" in records and "redelivered" in records
    assert served.state("console-journey-1") == "delivered"

    # the overview counts what happened
    d.get(f"{served.url}/console/")
    figure = wait(d, "figures", lambda x: x.find_elements(By.CSS_SELECTOR, "[data-figure=dead]"))
    assert figure[0].text == "0"
    assert d.find_element(By.CSS_SELECTOR, "[data-figure=delivered-hour]").text == "1"
    assert d.find_element(By.CSS_SELECTOR, "[data-figure=failed-hour]").text == "2"
    check_page(d, "overview")

    # verify the audit chain from the page
    d.get(f"{served.url}/console/audit")
    d.find_element(By.CSS_SELECTOR, "section.verify button").click()
    result = wait(d, "the verification", lambda x: x.find_elements(By.ID, "verify-result"))
    assert result[0].get_attribute("data-result") == "intact"
    assert "Kedjan är hel" in result[0].text
    check_page(d, "audit")

    d.get(f"{served.url}/console/recipients")
    wait(d, "the directory", lambda x: x.find_elements(By.CSS_SELECTOR, "ul.answers li"))
    assert "503" in d.find_element(By.CSS_SELECTOR, "ul.answers").text
    check_page(d, "recipients")

    # in English
    d.find_element(By.CSS_SELECTOR, ".lang a[lang=en]").click()
    wait(d, "English", lambda x: x.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    assert d.find_element(By.TAG_NAME, "h1").text == "Recipients and senders"
    d.find_element(By.CSS_SELECTOR, ".lang a[lang=sv]").click()
    wait(d, "Swedish", lambda x: x.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv")
    log_out(d)


def test_a_page_on_another_site_cannot_make_the_browser_redeliver(
    served: Served, browser: WebDriver
) -> None:
    d = browser
    served.recipient.script[:] = [(503, None), (503, None)]
    served.send("console-forged-1")
    log_in(d, served, OPERATOR_TOKEN)
    d.get(f"{served.url}/console/messages/console-forged-1")
    wait(d, "the dead letter", lambda x: delivery_state(x) == "dead")
    received = len(served.recipient.received)

    # the other site's page posts to the gateway as soon as it loads
    d.get(served.attacker + "go")
    wait(d, "the forged post's answer", lambda x: x.current_url.startswith(served.url))
    assert d.find_element(By.CSS_SELECTOR, ".notice-error")  # refused, with a reason
    assert served.state("console-forged-1") == "dead"
    assert len(served.recipient.received) == received
    d.get(f"{served.url}/console/")
    wait(d, "still logged in", lambda x: x.find_elements(By.CSS_SELECTOR, ".session .who"))
    log_out(d)


# -- the coordinator ------------------------------------------------------------------------


def test_coordinator_sees_the_coordination_frame_only(
    served: Served, browser: WebDriver
) -> None:
    d = browser
    log_in(d, served, COORDINATOR_TOKEN)
    wait(d, "the plan index", lambda x: x.current_url.endswith("/console/coordination/"))
    nav = [a.text for a in d.find_elements(By.CSS_SELECTOR, ".mainnav a")]
    assert nav == ["Planindex", "Tidsfrister", "Flaggor", "Statistik §4"]
    assert "SE2321000131-E000000000001" in d.find_element(By.CSS_SELECTOR, ".lead").text
    check_page(d, "coordination-plans")
    for page in ("deadlines", "flags", "statistics"):
        d.get(f"{served.url}/console/coordination/{page}")
        wait(d, page, lambda x: x.find_elements(By.CSS_SELECTOR, ".empty-state"))
        check_page(d, f"coordination-{page}")
    d.get(f"{served.url}/console/messages")
    assert "behörighet" in d.find_element(By.CSS_SELECTOR, ".notice-error").text
    log_out(d)
