"""The HTTP API as a contract (issue 19): the OpenAPI 3.1 document is generated from the
routes and the shapes the handlers build, passes openapi-spec-validator, and is what
docs/exchange/openapi.json holds; every answer the server gives is one the document
declares (status, media type, schema, required headers); bodies outside the contract are
refused; a client generated from the document posts a fixture and reads its status; and
schemathesis finds nothing in a short run (CI runs the long one: tests/api_contract.py)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from api_contract import (
    FIXED_SEED,
    RECIPIENT_TOKEN,
    SENDER_TOKEN,
)
from api_contract import (
    run as run_schemathesis,
)
from api_contract import (
    serving as serving_gateway,
)
from exchange_support import (
    AUTH_EMPLOYER,
    AUTH_REGION,
    FK7804_XML,
    SECTION4,
    certificate_message,
    make_config,
    run,
    serving,
)
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway import PROJECT_ROOT
from gateway.exchange.config import Config
from gateway.exchange.server.app import create_app
from gateway.exchange.server.openapi import (
    OPEN,
    SENDER,
    Api,
    Reply,
    Undeclared,
    document,
)
from gateway.exchange.store import store_for

COMMITTED = PROJECT_ROOT / "docs" / "exchange" / "openapi.json"
REGENERATE = "regenerate: python -m gateway.exchange.server.openapi > docs/exchange/openapi.json"


def the_document() -> dict[str, Any]:
    return document(create_app(Config(), transports={}, run_outbox=False))


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = the_document()
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc)  # raises on the first problem
    validate_spec(orjson.loads(COMMITTED.read_bytes()))


def test_the_committed_copy_is_the_generated_document() -> None:
    assert orjson.loads(COMMITTED.read_bytes()) == the_document(), REGENERATE


def test_every_route_is_declared_and_every_declaration_routed() -> None:
    app = create_app(Config(), transports={}, run_outbox=False)

    async def page(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html></html>", content_type="text/html")

    app.router.add_get("/undeclared", page)
    with pytest.raises(Undeclared, match="/undeclared"):
        document(app)
    # a page that is not part of the API is declared, and left out of the document
    app = create_app(Config(), transports={}, run_outbox=False)
    console = Api()
    console.get("/console", "console", "The console", in_document=False)(page)
    console.get("/extra", "extra", "An extra", access=SENDER, replies=[Reply(200, "ok")])(page)
    console.add_to(app)
    doc = document(app)
    assert "/console" not in doc["paths"]
    extra = doc["paths"]["/extra"]["get"]
    # one declaration: the statuses the operation's kind implies come with it
    assert sorted(extra["responses"]) == ["200", "401", "429"]
    assert extra["security"] == [{"mtls": ["sender"]}, {"bearer": ["sender"]}]


def test_security_statuses_headers_and_links_per_operation() -> None:
    doc = the_document()
    ops = {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert set(ops) == {
        ("POST", "/messages"),
        ("GET", "/messages/{id}"),
        ("POST", "/messages/{id}/redeliver"),
        ("GET", "/inbox"),
        ("POST", "/inbox/{delivery_id}/ack"),
        ("POST", "/validate"),
        ("POST", "/convert"),
        ("POST", "/redact"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/patients/{id}/plans"),
        ("GET", "/deadlines"),
        ("GET", "/statistics/section4"),
        ("GET", "/statistics/section4/chart.svg"),
        ("GET", "/fhir/{type}"),
    }
    roles = {k: [sorted(r) for s in op["security"] for r in s.values()] for k, op in ops.items()}
    assert roles["POST", "/messages"] == [["sender"], ["sender"]]
    assert roles["GET", "/inbox"] == [["pull-recipient"], ["pull-recipient"]]
    assert roles["POST", "/validate"] == [[], []]  # any authenticated caller
    assert roles["GET", "/health"] == []
    for key, op in ops.items():
        statuses = set(op["responses"])
        if op["security"]:
            assert {"401", "429"} <= statuses, key
            assert op["responses"]["429"]["headers"]["Retry-After"]["required"] is True
        if "requestBody" in op:
            assert {"413", "415"} <= statuses, key
            assert set(op["requestBody"]["content"]) == {
                "application/fhir+json",
                "application/json",
                "application/fhir+xml",
                "application/xml",
                "text/xml",
            }
        for status, answer in op["responses"].items():
            if status.startswith("4") and status != "422":
                assert set(answer["content"]) == {
                    "application/problem+json",
                    "application/fhir+json",
                }, key
    send = ops["POST", "/messages"]["responses"]
    assert sorted(send) == ["202", "400", "401", "403", "409", "413", "415", "422", "429", "503"]
    assert send["202"]["headers"]["Location"]["required"] is True
    assert send["503"]["headers"]["Retry-After"]["required"] is True
    assert {k: v["operationId"] for k, v in send["202"]["links"].items()} == {
        "GetMessageStatus": "getMessage",
        "RedeliverMessage": "redeliverMessage",
        "ConvertAccepted": "convertDocument",
        "RedactAccepted": "redactDocument",
    }
    assert send["202"]["links"]["RedactAccepted"]["requestBody"] == "$request.body"
    assert send["202"]["links"]["GetMessageStatus"]["parameters"] == {
        "id": "$response.body#/message_id"
    }
    inbox = ops["GET", "/inbox"]["responses"]["200"]["links"]["AcknowledgeDelivery"]
    assert inbox == {
        "operationId": "acknowledgeDelivery",
        "parameters": {"delivery_id": "$response.body#/messages/0/delivery_id"},
        "description": "acknowledge the first delivery offered",
    }


class Contract:
    """Checks an answer against the document: a declared status, a declared media type,
    a body valid against its schema, every required header present."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry: Registry[Any] = Registry().with_resource(
            "urn:api", Resource.from_contents(doc, default_specification=DRAFT202012)
        )
        self.seen: set[tuple[str, str, int]] = set()

    def check(self, method: str, path: str, status: int, headers: Any, body: bytes) -> None:
        op = self.doc["paths"][path][method.lower()]
        answer = op["responses"].get(str(status))
        assert answer is not None, f"{method} {path}: {status} is not documented"
        self.seen.add((method, path, status))
        for name, header in answer.get("headers", {}).items():
            if header["required"]:
                assert name in headers, f"{method} {path} {status}: no {name}"
        content = answer.get("content")
        if not content:
            assert body == b"", f"{method} {path} {status}: a body where none is documented"
            return
        media = headers.get("Content-Type", "").split(";")[0].strip()
        assert media in content, f"{method} {path} {status}: {media} not documented"
        schema = content[media]["schema"]
        if media.endswith("json"):
            validator = Draft202012Validator(
                {"$ref": "urn:api#" + schema["$ref"][1:]} if "$ref" in schema else schema,
                registry=self.registry,
            )
            errors = [e.message for e in validator.iter_errors(json.loads(body))]
            assert not errors, f"{method} {path} {status}: {errors}"


def _pull_message() -> bytes:
    """A certificate for the pull recipient (occupational health), with its consent."""
    tree = orjson.loads(certificate_message(FK7804_XML, ("occupational-health",), message_id="p-1"))
    consent = tree["entry"][-1]["resource"]
    consent["provision"]["actor"][0]["reference"]["identifier"]["value"] = "occupational-health"
    return orjson.dumps(tree)


FHIR = {"Content-Type": "application/fhir+json"}
JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": "application/xml", "Gateway-Recipients": "fk"}
MESSAGE = SECTION4.read_bytes()
CERTIFICATE = FK7804_XML.read_bytes()
S, R = AUTH_REGION, AUTH_EMPLOYER
ZERO = "00000000-0000-0000-0000-000000000000"
#: (method, path, its template, credentials, content type, body, the expected status)
CASES: list[tuple[str, str, str, dict[str, str], dict[str, str], bytes, int]] = [
    ("POST", "/messages", "", S, FHIR, MESSAGE, 202),
    ("POST", "/messages", "", S, FHIR, MESSAGE, 202),  # the first answer again
    ("POST", "/messages", "", S, FHIR, MESSAGE.replace(b"Tolvan", b"Tolva", 1), 409),
    ("POST", "/messages", "", S, XML, CERTIFICATE, 202),
    ("POST", "/messages", "", S, FHIR, _pull_message(), 202),
    ("POST", "/messages", "", S, JSON, b'"a bare JSON string"', 400),
    ("POST", "/messages", "", S, JSON, b"[]", 400),
    ("POST", "/messages", "", S, XML, b"<not-a-document/>", 400),
    ("POST", "/messages", "", S, FHIR, b"{}", 422),
    ("POST", "/messages", "", S, {"Content-Type": "text/plain"}, b"x", 415),
    ("POST", "/messages", "", {}, FHIR, MESSAGE, 401),
    ("POST", "/messages", "", R, FHIR, MESSAGE, 403),
    ("POST", "/messages", "", S, FHIR, b"{" + b" " * 300_000 + b"}", 413),
    ("GET", "/messages/MID", "/messages/{id}", S, {}, b"", 200),
    ("GET", "/messages/nope", "/messages/{id}", S, {}, b"", 404),
    ("POST", "/messages/MID/redeliver", "/messages/{id}/redeliver", S, {}, b"", 200),
    ("POST", "/messages/nope/redeliver", "/messages/{id}/redeliver", S, {}, b"", 404),
    ("GET", "/inbox", "", R, {}, b"", 200),
    ("GET", "/inbox?limit=100", "/inbox", R, {}, b"", 200),
    *[("GET", f"/inbox?limit={n}", "/inbox", R, {}, b"", 400) for n in ("0", "101", "a", "1.5")],
    ("GET", "/inbox", "", S, {}, b"", 403),
    ("POST", "ACK", "/inbox/{delivery_id}/ack", R, {}, b"", 204),
    ("POST", "ACK", "/inbox/{delivery_id}/ack", R, {}, b"", 204),  # twice is harmless
    ("POST", f"/inbox/{ZERO}/ack", "/inbox/{delivery_id}/ack", R, {}, b"", 404),
    ("POST", f"/inbox/{ZERO}/ack", "/inbox/{delivery_id}/ack", S, {}, b"", 403),
    ("POST", "/validate", "", S, FHIR, MESSAGE, 200),
    ("POST", "/validate", "", S, XML, CERTIFICATE, 200),
    *[  # readable but invalid: the issues
        ("POST", "/validate", "", S, FHIR, doc, 200)
        for doc in (b'{"resourceType": "Patient"}', b"{}", b'{"resourceType": 5}')
    ],
    *[
        ("POST", "/validate", "", S, JSON, junk, 400)
        for junk in (b'"a bare JSON string"', b"42", b"null", b"[]", b"")
    ],
    ("POST", "/validate", "", S, XML, b"<x/>", 400),
    ("POST", "/convert?to=fhir-json", "/convert", S, XML, CERTIFICATE, 200),
    ("POST", "/convert?to=xml", "/convert", S, FHIR, MESSAGE, 200),
    ("POST", "/convert", "/convert", S, XML, CERTIFICATE, 400),
    ("POST", "/convert?to=pdf", "/convert", S, XML, CERTIFICATE, 400),
    ("POST", "/convert?to=xml", "/convert", S, JSON, b'"s"', 400),
    ("POST", "/convert?to=xml", "/convert", S, JSON, b'{"resourceType": "Patient"}', 422),
    ("POST", "/redact?for=forsakringskassan", "/redact", S, XML, CERTIFICATE, 200),
    ("POST", "/redact?for=employer", "/redact", S, XML, CERTIFICATE, 422),  # no consent
    ("POST", "/redact?for=employer", "/redact", S, JSON, b'"s"', 400),
    ("POST", "/redact?for=nobody", "/redact", S, XML, CERTIFICATE, 400),
    ("POST", "/redact?for=employer", "/redact", S, FHIR, b'{"resourceType": "Patient"}', 422),
    *[("GET", p, "", {}, {}, b"", 200) for p in ("/health", "/ready", "/metrics", "/openapi.json")],
    # coordination (docs/coordination.md): the plan index, deadlines, §4 statistics
    ("GET", "/patients/191212121212/plans", "/patients/{id}/plans", S, {}, b"", 200),
    ("GET", "/patients/19121212/plans", "/patients/{id}/plans", S, {}, b"", 400),
    ("GET", "/patients/191212121212/plans?at=x", "/patients/{id}/plans", R, {}, b"", 400),
    ("GET", "/deadlines", "", S, {}, b"", 200),
    ("GET", "/deadlines?patient=191212121212", "/deadlines", R, {}, b"", 200),
    *[
        ("GET", f"/deadlines?{q}", "/deadlines", S, {}, b"", 400)
        for q in ("within=-1", "limit=0", "patient=1", "at=1999-01-01")
    ],
    ("GET", "/deadlines?actor=nobody", "/deadlines", S, {}, b"", 404),
    (
        "GET",
        "/statistics/section4?from=2025-01&to=2025-12",
        "/statistics/section4",
        S,
        {},
        b"",
        200,
    ),
    ("GET", "/statistics/section4?format=csv", "/statistics/section4", S, {}, b"", 200),
    ("GET", "/statistics/section4?from=2025-13", "/statistics/section4", S, {}, b"", 400),
    (
        "GET",
        "/statistics/section4/chart.svg?measure=handled",
        "/statistics/section4/chart.svg",
        S,
        {},
        b"",
        200,
    ),
    (
        "GET",
        "/statistics/section4/chart.svg?measure=x",
        "/statistics/section4/chart.svg",
        S,
        {},
        b"",
        400,
    ),
    ("GET", "/fhir/CarePlan?subject:identifier=191212121212", "/fhir/{type}", S, {}, b"", 200),
    ("GET", "/fhir/DetectedIssue?patient:identifier=x|1", "/fhir/{type}", S, {}, b"", 400),
    ("GET", "/fhir/Observation?subject:identifier=191212121212", "/fhir/{type}", S, {}, b"", 404),
]


def test_every_answer_is_the_documented_one(tmp_path: Path) -> None:
    """Each operation, its happy path and its refusals, over real HTTP: every answer is
    declared, in a declared media type, and matches its schema."""
    contract = Contract(the_document())
    mid = orjson.loads(MESSAGE)["id"]

    async def main() -> None:
        store = store_for(f"sqlite:///{tmp_path / 'api.db'}")
        async with serving(make_config(), store) as client:
            ack = ""
            for method, path, template, auth, kind, body, expected in CASES:
                if path == "ACK":
                    if not ack:
                        inbox = await (await client.get("/inbox", headers=R)).json()
                        ack = inbox["messages"][0]["ack_url"]
                    path = ack
                path = path.replace("MID", mid)
                resp = await client.request(method, path, data=body, headers={**auth, **kind})
                answer = await resp.read()
                assert resp.status == expected, (method, path, expected, answer[:300])
                contract.check(method, template or path, resp.status, resp.headers, answer)
            served = await (await client.get("/openapi.json")).json()
            assert served == contract.doc
            # the HTTP layer's own refusals are problems too
            resp = await client.request("TRACE", "/health")
            assert resp.status == 405
            assert "GET" in resp.headers["Allow"]
            assert resp.headers["Content-Type"].startswith("application/problem+json")
            resp = await client.get("/nowhere")
            assert resp.status == 401  # a stranger learns nothing of which paths exist
            resp = await client.get("/nowhere", headers=S)
            assert (resp.status, (await resp.json())["title"]) == (404, "Not Found")

    run(main())
    assert {(m, p) for m, p, _ in contract.seen} == {
        (m.upper(), p) for p, item in contract.doc["paths"].items() for m in item
    }  # every operation was exercised


def test_a_generated_client_posts_a_fixture_and_reads_its_status(tmp_path: Path) -> None:
    """openapi-python-client, as an integrator would run it, on the committed document."""
    import subprocess

    config = tmp_path / "generator.yml"
    config.write_text("post_hooks: []\n", "utf-8")
    generator = Path(sys.executable).with_name("openapi-python-client")
    out = tmp_path / "gateway_client"
    subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(COMMITTED),
            "--meta",
            "none",
            "--output-path",
            str(out),
            "--config",
            str(config),
        ],
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        client_mod = importlib.import_module("gateway_client")
        send = importlib.import_module("gateway_client.api.messages.send_message")
        get = importlib.import_module("gateway_client.api.messages.get_message")
        inbox = importlib.import_module("gateway_client.api.inbox.get_inbox")
        models = importlib.import_module("gateway_client.models")
        with serving_gateway(tmp_path) as base_url:
            sender = client_mod.AuthenticatedClient(base_url=base_url, token=SENDER_TOKEN)
            fixture = json.loads(SECTION4.read_text("utf-8"))
            accepted = send.sync(client=sender, body=models.FhirBundle.from_dict(fixture))
            assert isinstance(accepted, models.AcceptedAnswer), accepted
            assert accepted.message_id == fixture["id"]
            status = get.sync(accepted.message_id, client=sender)
            assert isinstance(status, models.GatewayMessage), status
            assert status.kind == "section4-notification"
            assert {r.recipient for r in status.recipients} == {"fk", "fk-inbox"}
            recipient = client_mod.AuthenticatedClient(base_url=base_url, token=RECIPIENT_TOKEN)
            offered = inbox.sync(client=recipient)
            assert isinstance(offered, models.InboxAnswer), offered
            assert [m.message_id for m in offered.messages] == [fixture["id"]]
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("gateway_client")]:
            del sys.modules[name]


def test_schemathesis_finds_nothing_in_a_short_run(tmp_path: Path) -> None:
    """Every check against gateway serve, briefly; CI runs the long run with the stateful
    phase, with this seed and a random one (tests/api_contract.py)."""
    phases = "examples,coverage,fuzzing"
    assert run_schemathesis(FIXED_SEED, 5, tmp_path, phases=phases)[0] == 0


def test_open_operations_need_no_credentials() -> None:
    doc = the_document()
    open_paths = {
        p for p, item in doc["paths"].items() if item.get("get", {}).get("security") == []
    }
    assert open_paths == {"/health", "/ready", "/metrics", "/openapi.json"}
    assert OPEN == "open"
