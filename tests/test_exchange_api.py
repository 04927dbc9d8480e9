"""The HTTP API over real HTTP on loopback (the outbox driven by the test, a fake transport
for push recipients): accept, routing, policy per recipient, idempotency, §4 consent once,
auth, limits, error answers, inbox, status, metrics, dry runs."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from exchange_support import (
    AUTH_EMPLOYER,
    AUTH_REGION,
    FK7804_XML,
    SECTION4_XML,
    T0,
    Clock,
    FakeTransport,
    NewStore,
    certificate_message,
    make_config,
    run,
    serving,
)

from gateway.exchange.server.app import OUTBOX
from gateway.exchange.transport import Answer, Verdict

FHIR = {"Content-Type": "application/fhir+json"}
XML = {"Content-Type": "application/xml"}


def transports() -> dict[str, FakeTransport]:
    return {"acme": FakeTransport(), "fk": FakeTransport()}


async def deliver_all(client: Any) -> None:
    outbox = client.app[OUTBOX]
    while await outbox.run_once():
        await outbox.drain()


def test_one_message_employer_gets_the_redacted_view_and_fk_the_full_certificate(
    new_store: NewStore,
) -> None:
    async def main() -> None:
        t = transports()
        async with serving(make_config(), new_store(), t, clock=Clock()) as client:
            body = certificate_message(FK7804_XML, message_id="msg-1")
            resp = await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            assert resp.status == 202, await resp.text()
            answer = await resp.json()
            assert answer == {
                "message_id": "msg-1",
                "status": "accepted",
                "status_url": "/messages/msg-1",
                "kind": "certificate",
                "recipients": [
                    {"recipient": "acme", "state": "pending"},
                    {"recipient": "fk", "state": "pending"},
                ],
            }
            assert resp.headers["Location"] == "/messages/msg-1"
            await deliver_all(client)
            (emp,) = t["acme"].parcels
            (fk,) = t["fk"].parcels
            assert (emp.media_type, fk.media_type) == ("application/fhir+json", "application/xml")
            for diagnosis in (b"M54", "Ryggvärk".encode()):
                assert diagnosis in fk.payload  # Försäkringskassan: the full certificate
                assert diagnosis not in emp.payload  # the employer: never diagnosis data
            status = await (await client.get("/messages/msg-1", headers=AUTH_REGION)).json()
            assert [(r["recipient"], r["state"], r["attempts"]) for r in status["recipients"]] == [
                ("acme", "delivered", 1),
                ("fk", "delivered", 1),
            ]

    run(main())


def test_duplicate_post_returns_the_first_answer_and_delivers_nothing_again(
    new_store: NewStore,
) -> None:
    async def main() -> None:
        t = transports()
        async with serving(make_config(), new_store(), t, clock=Clock()) as client:
            body = certificate_message(FK7804_XML, message_id="msg-dup")
            first = await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            await deliver_all(client)
            again = await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            assert (first.status, again.status) == (202, 202)
            assert await first.read() == await again.read()
            await deliver_all(client)
            assert len(t["acme"].parcels) == len(t["fk"].parcels) == 1
            other = certificate_message(FK7804_XML, message_id="msg-dup", consent_id="other")
            conflict = await client.post("/messages", data=other, headers={**AUTH_REGION, **FHIR})
            assert conflict.status == 409
            assert (await conflict.json())["resourceType"] == "OperationOutcome"

    run(main())


def test_a_section4_consent_is_used_once(new_store: NewStore) -> None:
    async def main() -> None:
        t = transports()
        async with serving(make_config(), new_store(), t, clock=Clock()) as client:
            xml = SECTION4_XML.read_bytes()
            headers = {**AUTH_REGION, **XML, "Gateway-Recipients": "fk"}
            first = await client.post(
                "/messages", data=xml, headers={**headers, "Gateway-Message-Id": "s4-1"}
            )
            assert first.status == 202, await first.text()
            # a new message (another id) on the same consent
            second = await client.post(
                "/messages", data=xml, headers={**headers, "Gateway-Message-Id": "s4-2"}
            )
            assert second.status == 422
            problem = await second.json()
            assert [i["code"] for i in problem["issues"]] == ["EXCHANGE-CONSENT-USED"]
            await deliver_all(client)
            (parcel,) = t["fk"].parcels
            assert parcel.format == "rivta-message"  # SendMessageToRecipient to FK's SOAP

    run(main())


def test_policy_refusal_for_one_recipient_still_delivers_to_the_others(new_store: NewStore) -> None:
    """Decision (docs/exchange/api.md): the refused recipient is recorded as refused with the
    rule code, the others receive theirs; only all refused refuses the message."""

    async def main() -> None:
        t = transports()
        async with serving(make_config(), new_store(), t, clock=Clock()) as client:
            body = certificate_message(FK7804_XML, message_id="no-consent", consent_id=None)
            resp = await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            assert resp.status == 202
            assert (await resp.json())["recipients"] == [
                {"recipient": "acme", "state": "refused", "rules": ["POLICY-CONSENT-MISSING"]},
                {"recipient": "fk", "state": "pending"},
            ]
            await deliver_all(client)
            assert (len(t["acme"].parcels), len(t["fk"].parcels)) == (0, 1)
            only = certificate_message(
                FK7804_XML, ("employer",), message_id="only-employer", consent_id=None
            )
            resp = await client.post("/messages", data=only, headers={**AUTH_REGION, **FHIR})
            assert resp.status == 422
            issues = (await resp.json())["issue"]
            assert [i["details"]["coding"][0]["code"] for i in issues] == ["POLICY-CONSENT-MISSING"]

    run(main())


def test_rivta_xml_routes_by_headers(new_store: NewStore) -> None:
    async def main() -> None:
        t = transports()
        async with serving(make_config(), new_store(), t, clock=Clock()) as client:
            xml = FK7804_XML.read_bytes()
            headers = {
                **AUTH_REGION,
                **XML,
                "Gateway-Recipients": "fk",
                "Gateway-Message-Id": "x-1",
            }
            resp = await client.post("/messages", data=xml, headers=headers)
            assert resp.status == 202
            assert (await resp.json())["recipients"] == [{"recipient": "fk", "state": "pending"}]
            # by audience as well
            headers["Gateway-Message-Id"] = "x-2"
            headers["Gateway-Recipients"] = "forsakringskassan"
            resp = await client.post("/messages", data=xml, headers=headers)
            assert (await resp.json())["recipients"] == [{"recipient": "fk", "state": "pending"}]
            nowhere = await client.post("/messages", data=xml, headers={**AUTH_REGION, **XML})
            assert nowhere.status == 400
            problem = await nowhere.json()
            assert [i["code"] for i in problem["issues"]] == ["EXCHANGE-NO-ROUTE"]
            unknown = await client.post(
                "/messages",
                data=xml,
                headers={**AUTH_REGION, **XML, "Gateway-Recipients": "nobody"},
            )
            assert unknown.status == 400
            assert [i["code"] for i in (await unknown.json())["issues"]] == [
                "EXCHANGE-UNKNOWN-RECIPIENT"
            ]

    run(main())


def test_authentication_and_authorisation(new_store: NewStore) -> None:
    async def main() -> None:
        async with serving(make_config(), new_store(), transports(), clock=Clock()) as client:
            body = certificate_message(FK7804_XML, message_id="auth-1")
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                resp = await client.post("/messages", data=body, headers={**headers, **FHIR})
                assert resp.status == 401
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            for path in ("/messages/auth-1", "/inbox"):
                assert (await client.get(path)).status == 401
            for path in ("/validate", "/convert?to=xml", "/redact?for=employer"):
                assert (await client.post(path, data=body, headers=FHIR)).status == 401
            # a sender that may send SIPs only, to acme only
            kommun = {"Authorization": "Bearer kommun-token"}
            resp = await client.post("/messages", data=body, headers={**kommun, **FHIR})
            assert resp.status == 403
            codes = [i["details"]["coding"][0]["code"] for i in (await resp.json())["issue"]]
            assert codes == ["EXCHANGE-NOT-PERMITTED"]
            # a pull recipient is no sender
            resp = await client.post("/messages", data=body, headers={**AUTH_EMPLOYER, **FHIR})
            assert resp.status == 403
            # another sender's message is not found
            await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            assert (await client.get("/messages/auth-1", headers=kommun)).status == 404
            for path in ("/health", "/ready", "/metrics", "/openapi.json"):
                assert (await client.get(path)).status == 200

    run(main())


def test_limits_media_types_and_invalid_documents(new_store: NewStore) -> None:
    async def main() -> None:
        async with serving(make_config(), new_store(), transports(), clock=Clock()) as client:
            big = b"{" + b" " * 300_000 + b"}"
            resp = await client.post("/messages", data=big, headers={**AUTH_REGION, **FHIR})
            assert resp.status == 413
            resp = await client.post(
                "/messages", data=b"hello", headers={**AUTH_REGION, "Content-Type": "text/plain"}
            )
            assert resp.status == 415
            xml = FK7804_XML.read_bytes()
            resp = await client.post("/messages", data=xml, headers={**AUTH_REGION, **FHIR})
            assert resp.status == 415  # says JSON, is XML
            resp = await client.post(
                "/messages",
                data=b"<broken",
                headers={**AUTH_REGION, **XML, "Gateway-Recipients": "fk"},
            )
            assert resp.status == 400
            assert [i["code"] for i in (await resp.json())["issues"]] == ["INPUT-UNKNOWN-FORMAT"]
            # invalid: every issue, located, in an OperationOutcome for a FHIR sender
            tree = orjson.loads(certificate_message(FK7804_XML, message_id="bad-1"))
            doc = tree["entry"][1]["resource"]
            doc["entry"][1]["resource"]["identifier"][0]["value"] = "191212121213"
            resp = await client.post(
                "/messages", data=orjson.dumps(tree), headers={**AUTH_REGION, **FHIR}
            )
            assert resp.status == 422
            outcome = await resp.json()
            assert outcome["resourceType"] == "OperationOutcome"
            (issue,) = outcome["issue"]
            assert issue["details"]["coding"][0]["code"] == "ID-PERSON-CHECKSUM"
            assert issue["expression"] == [
                "Bundle.entry[1].resource.entry[1].resource.identifier[0].value"
            ]
            assert (await client.get("/messages/bad-1", headers=AUTH_REGION)).status == 404

    run(main())


def test_pull_inbox_offers_again_until_acknowledged(new_store: NewStore) -> None:
    async def main() -> None:
        async with serving(make_config(), new_store(), transports(), clock=Clock()) as client:
            body = certificate_message(FK7804_XML, ("occupational-health",), message_id="p-1")
            tree = orjson.loads(body)
            consent = tree["entry"][-1]["resource"]
            consent["provision"]["actor"][0]["reference"]["identifier"]["value"] = (
                "occupational-health"
            )
            resp = await client.post(
                "/messages", data=orjson.dumps(tree), headers={**AUTH_REGION, **FHIR}
            )
            assert resp.status == 202, await resp.text()
            assert (await resp.json())["recipients"] == [
                {"recipient": "pull-employer", "state": "offered"}
            ]
            first = (await (await client.get("/inbox", headers=AUTH_EMPLOYER)).json())["messages"]
            again = (await (await client.get("/inbox", headers=AUTH_EMPLOYER)).json())["messages"]
            assert [m["message_id"] for m in first] == [m["message_id"] for m in again] == ["p-1"]
            assert (first[0]["offers"], again[0]["offers"]) == (1, 2)
            payload = base64.b64decode(first[0]["payload_base64"])
            assert orjson.loads(payload)["resourceType"] == "Bundle"
            ack = await client.post(first[0]["ack_url"], headers=AUTH_EMPLOYER)
            assert ack.status == 204
            left = (await (await client.get("/inbox", headers=AUTH_EMPLOYER)).json())["messages"]
            assert left == []
            assert (await client.post("/inbox/nope/ack", headers=AUTH_EMPLOYER)).status == 404
            assert (await client.get("/inbox", headers=AUTH_REGION)).status == 403
            status = await (await client.get("/messages/p-1", headers=AUTH_REGION)).json()
            assert status["recipients"][0]["state"] == "delivered"

    run(main())


def test_status_retrying_dead_and_redeliver_endpoint(new_store: NewStore) -> None:
    async def main() -> None:
        clock = Clock()
        t = transports()
        t["acme"].answers = [Answer(Verdict.RETRY, "503 Service Unavailable")]
        t["fk"].answers = [Answer(Verdict.PERMANENT, "ERROR VALIDATION_ERROR: intyget finns inte")]
        async with serving(make_config(), new_store(), t, clock=clock) as client:
            body = certificate_message(FK7804_XML, message_id="r-1")
            await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            await deliver_all(client)
            status = await (await client.get("/messages/r-1", headers=AUTH_REGION)).json()
            got = {r["recipient"]: (r["state"], r["last_error"]) for r in status["recipients"]}
            assert got == {
                "acme": ("retrying", "503 Service Unavailable"),
                "fk": ("dead", "ERROR VALIDATION_ERROR: intyget finns inte"),
            }
            assert status["recipients"][0]["next_attempt_at"] is not None
            resp = await client.post("/messages/r-1/redeliver?recipient=fk", headers=AUTH_REGION)
            assert await resp.json() == {"message_id": "r-1", "redelivered": 1}
            clock.advance(120)
            await deliver_all(client)
            status = await (await client.get("/messages/r-1", headers=AUTH_REGION)).json()
            assert [r["state"] for r in status["recipients"]] == ["delivered", "delivered"]
            text = await (await client.get("/metrics")).text()
            accepted = 'kind="certificate",outcome="accepted",sender="region-vg"} 1.0'
            assert "gateway_messages_total{" + accepted in text
            dead = 'kind="certificate",outcome="dead",recipient="fk"} 1.0'
            assert "gateway_delivery_attempts_total{" + dead in text
            assert "gateway_outbox_depth 0.0" in text
            assert "gateway_accept_seconds_count 1.0" in text

    run(main())


def test_metrics_show_outbox_depth_and_oldest_age(new_store: NewStore) -> None:
    async def main() -> None:
        clock = Clock()
        async with serving(make_config(), new_store(), transports(), clock=clock) as client:
            body = certificate_message(FK7804_XML, message_id="d-1")
            await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            clock.advance(42)
            text = await (await client.get("/metrics")).text()
            assert "gateway_outbox_depth 2.0" in text
            assert "gateway_outbox_oldest_undelivered_seconds 42.0" in text

    run(main())


def test_dry_runs_validate_convert_redact(new_store: NewStore) -> None:
    async def main() -> None:
        async with serving(make_config(), new_store(), transports(), clock=Clock()) as client:
            xml = FK7804_XML.read_bytes()
            resp = await client.post("/validate", data=xml, headers={**AUTH_REGION, **XML})
            result = await resp.json()
            assert (resp.status, result["valid"], result["kind"]) == (200, True, "certificate")
            resp = await client.post(
                "/convert?to=fhir-json", data=xml, headers={**AUTH_REGION, **XML}
            )
            assert resp.headers["Content-Type"].startswith("application/fhir+json")
            assert (await resp.json())["resourceType"] == "Bundle"
            resp = await client.post("/convert?to=nope", data=xml, headers={**AUTH_REGION, **XML})
            assert resp.status == 400
            resp = await client.post(
                "/redact?for=employer", data=xml, headers={**AUTH_REGION, **XML}
            )
            body = await resp.json()
            assert (resp.status, body["refused"]) == (422, True)  # a bare certificate: no consent
            assert [e["code"] for e in body["report"]] == ["POLICY-CONSENT-MISSING"]
            resp = await client.post(
                "/redact?for=forsakringskassan", data=xml, headers={**AUTH_REGION, **XML}
            )
            assert resp.status == 200
            assert base64.b64decode((await resp.json())["payload_base64"]).startswith(b"<")

    run(main())


_T0 = T0


def test_retention_purges_delivered_payloads_after_the_configured_days(new_store: NewStore) -> None:
    from gateway.exchange.server.app import STORE, purge_once

    async def main() -> None:
        clock = Clock()
        t = transports()
        t["fk"].answers = [Answer(Verdict.RETRY, "503")] * 100  # fk stays undelivered
        async with serving(make_config(), new_store(), t, clock=clock) as client:
            body = certificate_message(FK7804_XML, message_id="ret-1")
            await client.post("/messages", data=body, headers={**AUTH_REGION, **FHIR})
            await deliver_all(client)
            clock.advance(29 * 86400)
            assert await purge_once(client.app) == 0  # default: 30 days
            clock.advance(2 * 86400)
            assert await purge_once(client.app) == 1  # acme's delivered copy; fk's stays
            store = client.app[STORE]
            records = [r async for r in store.audit_records()]
            assert records[-1].entry.action == "purged"
            assert records[-1].entry.detail["payloads"] == 1
            status = await (await client.get("/messages/ret-1", headers=AUTH_REGION)).json()
            assert [r["state"] for r in status["recipients"]] == ["delivered", "retrying"]

    run(main())


def test_repeats_conflicts_and_spent_consents_are_in_the_audit_trail(new_store: NewStore) -> None:
    from gateway.exchange.server.app import STORE

    async def main() -> None:
        async with serving(make_config(), new_store(), transports(), clock=Clock()) as client:
            body = certificate_message(FK7804_XML, message_id="aud-1")
            for data in (
                body,
                body,
                certificate_message(FK7804_XML, message_id="aud-1", consent_id="x"),
            ):
                await client.post("/messages", data=data, headers={**AUTH_REGION, **FHIR})
            records = [r async for r in client.app[STORE].audit_records(message_id="aud-1")]
            actions = [r.entry.action for r in records]
            assert actions == [
                "received", "validated", "policy", "policy",  # the first, accepted
                "received", "duplicate",
                "received", "conflict",
            ]  # fmt: skip
            assert records[4].entry.detail["sha256"] == records[0].entry.detail["sha256"]

    run(main())


def test_gateway_recipients_narrows_a_fhir_messages_audiences(new_store: NewStore) -> None:
    async def main() -> None:
        async with serving(make_config(), new_store(), transports(), clock=Clock()) as client:
            body = certificate_message(FK7804_XML, message_id="n-1")
            headers = {**AUTH_REGION, **FHIR, "Gateway-Recipients": "fk"}
            resp = await client.post("/messages", data=body, headers=headers)
            assert resp.status == 202
            assert (await resp.json())["recipients"] == [{"recipient": "fk", "state": "pending"}]
            # a recipient outside the message's own destinations is not added by a header
            only_fk = certificate_message(FK7804_XML, ("forsakringskassan",), message_id="n-2")
            headers["Gateway-Recipients"] = "acme"
            resp = await client.post("/messages", data=only_fk, headers=headers)
            assert resp.status == 400
            problem = await resp.json()
            assert [i["details"]["coding"][0]["code"] for i in problem["issue"]] == [
                "EXCHANGE-UNKNOWN-RECIPIENT"
            ]

    run(main())
