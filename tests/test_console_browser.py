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
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from console_support import (
    CERT_FK_ONLY,
    CERT_SHARED,
    EMPLOYER_USER_TOKEN,
    OPERATOR_TOKEN,
    OTHER_EMPLOYER_ORG,
    PLAN_ACME,
    PLAN_OTHER,
    REGION_COORDINATOR_TOKEN,
    S4_ID,
    SCREENSHOTS,
    SIP_ID,
    USERS,
    ScriptedRecipient,
    coordination_case,
    coordination_config,
    gateway_serve,
    toml_of,
)
from coordination_support import EMPLOYER_ORG
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
    der = (
        x509.load_pem_x509_certificate(cert.read_bytes())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
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
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    (SCREENSHOTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def log_in(driver: WebDriver, served: Served | Coordination, token: str) -> None:
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


def test_operator_finds_watches_redelivers_and_verifies(served: Served, browser: WebDriver) -> None:
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


# -- the coordinators ------------------------------------------------------------------------


@dataclass
class Coordination:
    url: str
    output: list[str]  # what the gateway wrote: its logs, the access log among them


@pytest.fixture(scope="module")
def coordination(
    served: Served, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Coordination]:
    """A second gateway (the same server certificate, so the same browser trusts it) with a
    patient's case sent through its API: certificates, two employers' plans, a SIP, a §4
    notification (console_support.coordination_case)."""
    tmp = tmp_path_factory.mktemp("console-coordination")
    ca = tmp / "ca.pem"
    ca.write_bytes(served.pki.ca_pem)
    recipient = ScriptedRecipient().start()
    data = coordination_config(recipient.url, f"sqlite:///{tmp}/gateway.db")
    data["server"]["tls"] = {
        "cert": str(served.pki.server.cert),
        "key": str(served.pki.server.key),
        "ca": str(ca),
    }
    config = tmp / "gateway.toml"
    config.write_text(toml_of(data), encoding="utf-8")
    output: list[str] = []
    context = ssl.create_default_context(cadata=served.pki.ca_pem.decode())
    try:
        with gateway_serve(config, cwd=tmp, output=output) as url:
            for sent in coordination_case(date.today()):
                headers = {
                    "Authorization": f"Bearer {sent.token}",
                    "Content-Type": sent.content_type,
                }
                if sent.recipients:
                    headers["Gateway-Recipients"] = sent.recipients
                request = urllib.request.Request(
                    f"{url}/messages", data=sent.body, method="POST", headers=headers
                )
                with urllib.request.urlopen(request, context=context, timeout=30) as answer:
                    assert answer.status == 202
            yield Coordination(url, output)
    finally:
        recipient.stop()


def open_patient(driver: WebDriver, patient: str) -> None:
    """Type the personnummer into the look-up form and send it (a POST)."""
    field = wait(driver, "the look-up form", lambda x: x.find_elements(By.ID, "patient"))[0]
    field.send_keys(patient)
    driver.find_element(By.CSS_SELECTOR, "form.lookup button[type=submit]").click()
    wait(driver, "the plan index", lambda x: x.find_elements(By.ID, "patient-id"))


def shown_entries(driver: WebDriver) -> set[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#entries tr[data-entry]")
    return {str(r.get_attribute("data-entry")) for r in rows}


def main_text(driver: WebDriver) -> str:
    return str(driver.find_element(By.TAG_NAME, "main").text)


def test_a_coordinator_at_the_region_sees_the_whole_index(
    coordination: Coordination, browser: WebDriver
) -> None:
    d = browser
    log_in(d, coordination, REGION_COORDINATOR_TOKEN)
    wait(d, "the look-up page", lambda x: x.current_url.endswith("/console/coordination/"))
    nav = [a.text for a in d.find_elements(By.CSS_SELECTOR, ".mainnav a")]
    assert nav == ["Planindex", "Tidsfrister", "Flaggor", "Statistik §4"]
    check_page(d, "coordination-plans")

    open_patient(d, "19121212-1212")
    assert d.current_url == f"{coordination.url}/console/coordination/patient"  # no number
    assert d.find_element(By.ID, "patient-id").text == "19121212-1212"
    assert shown_entries(d) == {
        f"certificate:{CERT_SHARED}",
        f"certificate:{CERT_FK_ONLY}",
        f"section4-notification:{S4_ID}",
        f"return-to-work-plan:{EMPLOYER_ORG}:{PLAN_ACME}",
        f"return-to-work-plan:{OTHER_EMPLOYER_ORG}:{PLAN_OTHER}",
        f"sip:{SIP_ID}",
    }
    cert = d.find_element(By.CSS_SELECTOR, f"tr[data-entry='certificate:{CERT_SHARED}']").text
    # the region's view of its certificate: the unit, the care provider, whether it counts
    # (it has a main diagnosis: the entry keeps the verdict, never the code)
    assert "räknas i statistiken\n✓" in cert and "enhet" in cert and "vårdgivare" in cert
    assert "100 %" in cert and "50 %" in cert
    text = main_text(d)
    assert "Annat Bolag AB" in text and "Anna Andersson" in text  # the other plan, the SIP
    assert "COORD-RTW-DEGREE" in text
    for never in ("M54", "G47", "Ryggvärk", "Sömnstörning", "Samtalsstöd"):
        assert never not in text, never  # the index keeps no diagnosis and no need, for anyone
    check_page(d, "coordination-patient-region")

    d.get(f"{coordination.url}/console/coordination/deadlines")
    rows = wait(d, "the list", lambda x: x.find_elements(By.CSS_SELECTOR, "#deadlines tbody tr"))
    assert rows and "19121212-1212" in d.find_element(By.ID, "deadlines").text
    check_page(d, "coordination-deadlines")
    # from the list to the patient: a form, so the number stays out of the address
    d.find_element(By.CSS_SELECTOR, "#deadlines button.button-link").click()
    wait(d, "the plan index", lambda x: x.find_elements(By.ID, "patient-id"))
    assert d.current_url.endswith("/console/coordination/patient")

    d.get(f"{coordination.url}/console/coordination/flags")
    wait(d, "the flags", lambda x: x.find_elements(By.CSS_SELECTOR, "#flags tbody tr"))
    assert "COORD-RTW-DEGREE" in d.find_element(By.ID, "flags").text
    check_page(d, "coordination-flags")

    d.get(f"{coordination.url}/console/coordination/statistics")
    wait(d, "the chart", lambda x: x.find_elements(By.CSS_SELECTOR, ".line-chart svg"))
    sent = d.find_elements(By.CSS_SELECTOR, "#statistics tr[data-region] td[data-measure=sent]")
    assert "1" in [c.text for c in sent]
    check_page(d, "coordination-statistics")

    d.get(f"{coordination.url}/console/messages")
    assert "behörighet" in d.find_element(By.CSS_SELECTOR, ".notice-error").text
    log_out(d)


def test_an_employer_sees_only_its_own_plan_and_the_periods_its_consent_covers(
    coordination: Coordination, browser: WebDriver
) -> None:
    d = browser
    log_in(d, coordination, EMPLOYER_USER_TOKEN)
    nav = [a.text for a in d.find_elements(By.CSS_SELECTOR, ".mainnav a")]
    assert nav == ["Planindex", "Tidsfrister", "Flaggor"]  # no §4 statistics
    open_patient(d, "191212121212")
    assert shown_entries(d) == {
        f"certificate:{CERT_SHARED}",
        f"return-to-work-plan:{EMPLOYER_ORG}:{PLAN_ACME}",
    }
    cert = d.find_element(By.CSS_SELECTOR, f"tr[data-entry='certificate:{CERT_SHARED}']").text
    assert "FK7804" in cert and "100 %" in cert and "50 %" in cert  # the periods, consented
    for never in ("räknas", "enhet", "vårdgivare"):
        assert never not in cert, never  # the employer's fields: type, status, signed, periods
    text = main_text(d)
    assert "Arbete" not in text  # no free text of the plan either
    for never in (
        "M54",
        "G47",
        "Ryggvärk",
        "Sömnstörning",  # no diagnosis
        "SIP",
        SIP_ID,
        "Samtalsstöd",
        "Anna Andersson",  # no SIP, no needs
        S4_ID,
        "Underrättelse",  # no §4 notification
        PLAN_OTHER,
        "Annat Bolag",
        OTHER_EMPLOYER_ORG,  # no other organisation's plan
        CERT_FK_ONLY,
        "COORD-RTW-DEGREE",  # nor the certificate it was not sent
    ):
        assert never not in text, never
    check_page(d, "coordination-patient-employer")

    d.get(f"{coordination.url}/console/coordination/statistics")
    assert "region eller på Försäkringskassan" in main_text(d)
    log_out(d)

    # the gateway's own log (the access log among it): paths, never the personnummer
    logged = "".join(coordination.output)
    assert "/console/coordination/patient" in logged
    for spelling in ("191212121212", "19121212-1212", "121212-1212"):
        assert spelling not in logged
