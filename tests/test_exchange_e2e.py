"""End to end over real HTTPS on loopback (gateway/testkit/loopback.py): the gateway behind
mutual TLS, on embedded SQLite and on PostgreSQL (the ``store_url`` fixture), a mock recipient
per recipient requiring the gateway's client certificate, messages posted by a sender
presenting a SITHS-style certificate."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from conftest import RIVTA
from lxml import etree

from gateway import FIXTURES_DIR
from gateway.cli.main import main
from gateway.documents.certificate import Certificate
from gateway.exchange.server.app import STORE
from gateway.exchange.transports.soap import REGISTER_CERTIFICATE_V3, Request, read_request
from gateway.formats.fhir.codec import FhirJsonCodec
from gateway.formats.xsd import load_schema
from gateway.testkit.loopback import HR_TOKEN, Loopback, certificate_message, loopback

FK7804 = (FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes()
SECTION4 = (FIXTURES_DIR / "section4-notification" / "valid-refers-to-certificate.xml").read_bytes()
FHIR = {"Content-Type": "application/fhir+json"}
RC_XSD = RIVTA / "interactions/RegisterCertificateInteraction/RegisterCertificateResponder_3.1.xsd"
TO_BOTH = ("forsakringskassan", "employer")

Scenario = Callable[[Loopback, aiohttp.ClientSession], Awaitable[None]]


def run(tmp_path: Path, database: str, scenario: Scenario, **options: Any) -> None:
    async def go() -> None:
        async with loopback(tmp_path, database=database, **options) as lb:
            await scenario(lb, lb.session(lb.region))

    asyncio.run(go())


async def post(
    session: aiohttp.ClientSession, body: bytes, headers: dict[str, str] = FHIR
) -> tuple[int, dict[str, Any]]:
    async with session.post("/messages", data=body, headers=headers) as resp:
        return resp.status, orjson.loads(await resp.read())


def states(status: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {r["recipient"]: (r["state"], r["attempts"]) for r in status["recipients"]}


def test_recipients_failing_first_get_it_once_the_employer_redacted_fk_in_full(
    tmp_path: Path, store_url: str
) -> None:
    async def scenario(lb: Loopback, s: aiohttp.ClientSession) -> None:
        code, answer = await post(s, certificate_message(FK7804, TO_BOTH, message_id="m-1"))
        assert (code, answer["status"]) == (202, "accepted")
        status = await lb.settled(s, "m-1")
        assert states(status) == {"acme": ("delivered", 3), "fk": ("delivered", 2)}
        fk, employer = lb.mocks["fk"], lb.mocks["acme"]
        assert [r.interaction for r in fk.received] == ["RegisterCertificate"]
        assert len(employer.received) == 1
        assert list(employer.attempts.values()) == [["503", "503", "201"]]
        assert list(fk.attempts.values()) == [["TECHNICAL_ERROR", "OK"]]

        # Försäkringskassan: the certificate as issued, valid against Inera's schema
        request = read_request(fk.received[0].payload)
        assert isinstance(request, Request)
        assert request.interaction is REGISTER_CERTIFICATE_V3
        assert request.logical_address == "2021005521"
        schema = load_schema(RC_XSD)
        assert schema.validate(request.element), schema.error_log
        full = _certificate(etree.tostring(request.element))
        # the employer: FHIR, the AG7804 view, no diagnosis
        parsed = FhirJsonCodec().parse(employer.received[0].payload)
        redacted = parsed.document
        assert isinstance(redacted, Certificate)
        assert "6" in {a.id for a in full.answers}  # FK7804's diagnosis answer
        assert "6" not in {a.id for a in redacted.answers}
        assert {a.id for a in redacted.answers} < {a.id for a in full.answers} | {"100"}
        diagnosis = [
            p.value if isinstance(p.value, str) else getattr(p.value, "code", "")
            for a in full.answers
            if a.id == "6"
            for p in a.parts
        ]
        assert diagnosis == ["Ryggvärk", "M54", "Sömnstörning", "G47"]
        employer_text = employer.received[0].payload.decode()
        assert [d for d in diagnosis if d in employer_text] == []
        assert all(d in fk.received[0].payload.decode() for d in diagnosis)

    run(tmp_path, store_url, scenario, mocks={"acme": {"fail_first": 2}, "fk": {"fail_first": 1}})


def _certificate(register_certificate: bytes) -> Certificate:
    from gateway.formats.rivta.register_certificate import RegisterCertificateCodec

    doc = RegisterCertificateCodec().parse(register_certificate).document
    assert isinstance(doc, Certificate)
    return doc


def test_a_permanent_answer_dead_letters_at_once_and_is_redelivered_on_command(
    tmp_path: Path, store_url: str
) -> None:
    async def scenario(lb: Loopback, s: aiohttp.ClientSession) -> None:
        await post(s, certificate_message(FK7804, TO_BOTH, message_id="m-dead"))
        status = await lb.settled(s, "m-dead")
        assert states(status) == {"acme": ("dead", 1), "fk": ("delivered", 1)}
        (acme,) = (r for r in status["recipients"] if r["recipient"] == "acme")
        assert acme["last_error"] == (
            "HTTP 422 Unprocessable Entity: VALIDATION_ERROR (mock answer)"
        )
        lb.mocks["acme"].answer = "OK"  # the employer fixed its side
        code = await asyncio.to_thread(
            main, ["redeliver", "m-dead", "--recipient", "acme", "--database", store_url]
        )
        assert code == 0
        async with s.post("/messages/m-dead/redeliver") as resp:  # the running gateway wakes
            assert resp.status == 200
        status = await lb.settled(s, "m-dead")
        # redelivery starts the count again
        assert states(status) == {"acme": ("delivered", 1), "fk": ("delivered", 1)}
        assert list(lb.mocks["acme"].attempts.values()) == [["422", "201"]]
        assert len(lb.mocks["acme"].received) == 1
        assert len(lb.mocks["fk"].received) == 1  # the delivered copy was not sent again

    run(tmp_path, store_url, scenario, mocks={"acme": {"answer": "VALIDATION_ERROR"}})


def test_a_duplicate_is_not_delivered_twice_and_other_content_under_its_id_is_409(
    tmp_path: Path, store_url: str
) -> None:
    async def scenario(lb: Loopback, s: aiohttp.ClientSession) -> None:
        message = certificate_message(FK7804, TO_BOTH, message_id="m-dup")
        first = await post(s, message)
        await lb.settled(s, "m-dup")
        again = await post(s, message)
        assert again == first
        assert first[0] == 202
        other = certificate_message(FK7804, ("forsakringskassan",), message_id="m-dup")
        code, body = await post(s, other)
        assert code == 409
        assert "m-dup" in orjson.dumps(body).decode()
        status = await lb.settled(s, "m-dup")
        assert states(status) == {"acme": ("delivered", 1), "fk": ("delivered", 1)}
        assert [len(m.received) for m in (lb.mocks["acme"], lb.mocks["fk"])] == [1, 1]
        assert sum(len(a) for a in lb.mocks["fk"].attempts.values()) == 1

    run(tmp_path, store_url, scenario)


def test_unauthenticated_and_unauthorised_senders_are_refused(
    tmp_path: Path, store_url: str
) -> None:
    async def scenario(lb: Loopback, s: aiohttp.ClientSession) -> None:
        message = certificate_message(FK7804, TO_BOTH, message_id="m-auth")
        anonymous = lb.session()
        async with anonymous.post("/messages", data=message, headers=FHIR) as resp:
            assert resp.status == 401
        async with anonymous.post(
            "/messages", data=message, headers={**FHIR, "Authorization": "Bearer guess"}
        ) as resp:
            assert resp.status == 401
        # a certificate with the region's HSA-id, from a CA the gateway does not trust
        stranger = lb.session(lb.stranger())
        with pytest.raises(aiohttp.ClientError):
            async with stranger.post("/messages", data=message, headers=FHIR) as resp:
                await resp.read()
        # the HR system may send return-to-work plans, not certificates
        hr = {**FHIR, "Authorization": f"Bearer {HR_TOKEN}"}
        async with anonymous.post("/messages", data=message, headers=hr) as resp:
            assert resp.status == 403
            assert "EXCHANGE-NOT-PERMITTED" in await resp.text()
        async with s.get("/messages/m-auth") as resp:
            assert resp.status == 404  # nothing was stored
        assert all(not m.received for m in lb.mocks.values())

    run(tmp_path, store_url, scenario)


def test_a_second_section4_notification_on_one_consent_is_refused(
    tmp_path: Path, store_url: str
) -> None:
    async def scenario(lb: Loopback, s: aiohttp.ClientSession) -> None:
        def headers(message_id: str) -> dict[str, str]:
            return {
                "Content-Type": "application/xml",
                "Gateway-Recipients": "fk",
                "Gateway-Message-Id": message_id,
            }

        code, _ = await post(s, SECTION4, headers("s4-1"))
        assert code == 202
        status = await lb.settled(s, "s4-1")
        assert states(status) == {"fk": ("delivered", 1)}
        code, body = await post(s, SECTION4, headers("s4-2"))
        assert code == 422
        assert [i["code"] for i in body["issues"]] == ["EXCHANGE-CONSENT-USED"]
        (receipt,) = lb.mocks["fk"].received
        assert receipt.interaction == "SendMessageToRecipient"

    run(tmp_path, store_url, scenario)


def test_a_section4_notice_before_its_certificate_dead_letters_then_goes_after_it(
    tmp_path: Path, store_url: str
) -> None:
    """Intygstjänsten forwards a SendMessageToRecipient only for a certificate it holds: the
    notice that overtook its certificate dead-letters with FK's reason, and goes once the
    certificate has arrived and the notice is redelivered."""

    async def scenario(lb: Loopback, s: aiohttp.ClientSession) -> None:
        xml = {"Content-Type": "application/xml", "Gateway-Recipients": "fk"}
        code, _ = await post(s, SECTION4, {**xml, "Gateway-Message-Id": "s4-early"})
        assert code == 202
        status = await lb.settled(s, "s4-early")
        assert states(status) == {"fk": ("dead", 1)}
        assert status["recipients"][0]["last_error"] == (
            "SendMessageToRecipient: ERROR APPLICATION_ERROR: Intyg does not exist"
        )
        certificate = FK7804.replace(
            b"9020fbb9-e387-40b0-ba75-0001", b"9f02dd2f-f57c-4a73-8190-2fe602bd6ed1"
        )  # the certificate the notice refers to
        code, _ = await post(s, certificate, {**xml, "Gateway-Message-Id": "cert-late"})
        assert code == 202
        assert states(await lb.settled(s, "cert-late")) == {"fk": ("delivered", 1)}
        async with s.post("/messages/s4-early/redeliver") as resp:
            assert (await resp.json())["redelivered"] == 1
        assert states(await lb.settled(s, "s4-early")) == {"fk": ("delivered", 1)}
        assert [r.interaction for r in lb.mocks["fk"].received] == [
            "RegisterCertificate",
            "SendMessageToRecipient",
        ]

    run(tmp_path, store_url, scenario, mocks={"fk": {"require_certificate": True}})


def test_a_pull_employer_fetches_over_mutual_tls_and_is_offered_again_until_it_acknowledges(
    tmp_path: Path, store_url: str
) -> None:
    """The employer runs no server: its HR system presents its own client certificate,
    fetches the redacted copy from ``GET /inbox``, is offered it again while it has not
    acknowledged, and never again once it has; nobody else reads or acknowledges its inbox."""

    async def scenario(lb: Loopback, s: aiohttp.ClientSession) -> None:
        assert set(lb.mocks) == {"fk", "region-skane", "malmo", "af"}  # no employer server
        code, answer = await post(s, certificate_message(FK7804, TO_BOTH, message_id="m-pull"))
        assert code == 202
        assert answer["recipients"] == [
            {"recipient": "acme", "state": "offered"},
            {"recipient": "fk", "state": "pending"},
        ]
        hr = lb.session(lb.inboxes["acme"])

        async def inbox() -> list[dict[str, Any]]:
            async with hr.get("/inbox") as resp:
                assert resp.status == 200
                messages: list[dict[str, Any]] = (await resp.json())["messages"]
                return messages

        first, again = await inbox(), await inbox()
        assert [(m["message_id"], m["offers"]) for m in first] == [("m-pull", 1)]
        assert [(m["message_id"], m["offers"]) for m in again] == [("m-pull", 2)]
        assert first[0]["payload_base64"] == again[0]["payload_base64"]
        (m,) = first
        assert (m["kind"], m["format"], m["media_type"]) == (
            "certificate", "fhir-json", "application/fhir+json"
        )  # fmt: skip
        redacted = FhirJsonCodec().parse(base64.b64decode(m["payload_base64"])).document
        assert isinstance(redacted, Certificate)
        assert "6" not in {a.id for a in redacted.answers}  # no diagnosis for the employer
        # FK was pushed its copy meanwhile; the employer's is offered until acknowledged
        async with s.get("/messages/m-pull") as resp:
            assert states(await resp.json())["acme"] == ("offered", 0)
        # the sender, an unauthenticated caller: no inbox, no acknowledging the employer's
        async with s.get("/inbox") as resp:
            assert resp.status == 403
        async with s.post(m["ack_url"]) as resp:
            assert resp.status == 403
        async with lb.session().get("/inbox") as resp:
            assert resp.status == 401
        async with hr.post(m["ack_url"]) as resp:
            assert resp.status == 204
        async with hr.post(m["ack_url"]) as resp:  # a repeated acknowledgement is harmless
            assert resp.status == 204
        assert await inbox() == []
        status = await lb.settled(s, "m-pull")
        assert states(status) == {"acme": ("delivered", 1), "fk": ("delivered", 1)}
        acknowledged = [
            r.entry
            async for r in lb.app[STORE].audit_records(message_id="m-pull")
            if r.entry.action == "acknowledged"
        ]
        assert [(e.actor, e.recipient_id) for e in acknowledged] == [("acme", "acme")]

    run(tmp_path, store_url, scenario, pull=("acme",))
