"""The delivery transports against real endpoints on loopback: every answer a recipient can
give leads to the verdict transport.py promises, and nothing of the payload reaches
``Answer.detail``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from aiohttp import web
from conftest import RIVTA
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from multidict import CIMultiDict
from pki import Pki, issue_client, make_pki

from gateway import FIXTURES_DIR
from gateway.documents import DocumentKind
from gateway.exchange.transport import Answer, Parcel, Verdict
from gateway.exchange.transports import (
    FhirPushTransport,
    RecordingTransport,
    RivtaSoapTransport,
    fhir_push,
    rivta_soap,
)
from gateway.exchange.transports.http import MAX_REASON, HttpAnswer, http_verdict, retry_after
from gateway.exchange.transports.soap import (
    REGISTER_CERTIFICATE_V3,
    REGISTRY,
    SEND_MESSAGE_TO_RECIPIENT_V2,
    SOAP_ENV,
    ErrorId,
    Fault,
    Result,
    ResultCode,
    Unreadable,
    envelope,
    interaction_of,
    read_answer,
    response,
)
from gateway.formats.base import Format
from gateway.formats.xsd import load_schema
from gateway.testkit.mock_recipient import MockRecipient

T = TypeVar("T")
CERTIFICATE = (FIXTURES_DIR / "certificate" / "fk7804-valid.xml").read_bytes()
FHIR = (FIXTURES_DIR / "certificate" / "fk7804-fhir-valid.fhir.json").read_bytes()
PATIENT_ID = b"191212121212"  # the fixtures' test patient: must never reach a detail
CERT_ID = b"9020fbb9-e387-40b0-ba75-0001"  # the FK7804 fixture's certificate id
RC_XSD = RIVTA / "interactions/RegisterCertificateInteraction/RegisterCertificateResponder_3.1.xsd"
SM_XSD = (
    RIVTA / "interactions/SendMessageToRecipientInteraction/SendMessageToRecipientResponder_2.1.xsd"
)


def _send_message() -> bytes:
    from gateway.formats.ownxml.section4 import Section4XmlCodec
    from gateway.formats.rivta.send_message import render_send_message

    path = FIXTURES_DIR / "section4-notification" / "valid-refers-to-certificate.xml"
    parsed = Section4XmlCodec().parse(path.read_bytes())
    assert parsed.document is not None
    return render_send_message(parsed.document)


def parcel(payload: bytes = FHIR, *, delivery_id: str = "d-1", **kw: Any) -> Parcel:
    fields: dict[str, Any] = {
        "delivery_id": delivery_id,
        "message_id": "m-1",
        "recipient_id": "employer-acme",
        "kind": DocumentKind.CERTIFICATE,
        "format": Format.FHIR_JSON,
        "payload": payload,
        "media_type": "application/fhir+json",
    }
    fields.update(kw)
    return Parcel(**fields)


def rivta_parcel(payload: bytes = CERTIFICATE, delivery_id: str = "d-1") -> Parcel:
    return parcel(payload, delivery_id=delivery_id, format=Format.XML, media_type="text/xml")


def run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(body())  # type: ignore[arg-type]


async def with_mock(mock: MockRecipient, use: Callable[[MockRecipient], Awaitable[T]]) -> T:
    await mock.start()
    try:
        return await use(mock)
    finally:
        await mock.stop()


async def deliver_all(transport: Any, parcels: list[Parcel]) -> list[Answer]:
    try:
        return [await transport.deliver(p) for p in parcels]
    finally:
        await transport.close()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


# -- FHIR push -------------------------------------------------------------------------------


def test_fhir_push_over_mutual_tls_is_delivered_once(pki: Pki) -> None:
    mock = MockRecipient("employer", ssl_context=pki.server_context())

    async def use(m: MockRecipient) -> list[Answer]:
        t = FhirPushTransport(m.fhir_url, ssl_context=pki.client_context())
        return await deliver_all(t, [parcel(), parcel()])

    first, repeat = run(lambda: with_mock(mock, use))
    assert first == Answer(Verdict.DELIVERED, "HTTP 201 Created")
    assert repeat == Answer(Verdict.DELIVERED, "HTTP 201 Created")  # the first answer again
    assert [r.key for r in mock.received] == ["d-1"]
    assert mock.received[0].payload == FHIR
    assert mock.received[0].media_type == "application/fhir+json"
    assert mock.attempts == {"d-1": ["201", "201 (repeat)"]}


def test_fhir_push_retries_the_first_failures_then_delivers() -> None:
    mock = MockRecipient("employer", fail_first=2)

    async def use(m: MockRecipient) -> list[Answer]:
        return await deliver_all(FhirPushTransport(m.fhir_url), [parcel()] * 3)

    answers = run(lambda: with_mock(mock, use))
    assert answers == [
        Answer(Verdict.RETRY, "HTTP 503 Service Unavailable", 0.0),
        Answer(Verdict.RETRY, "HTTP 503 Service Unavailable", 0.0),
        Answer(Verdict.DELIVERED, "HTTP 201 Created"),
    ]
    assert len(mock.received) == 1


@pytest.mark.parametrize(
    ("answer", "verdict", "detail"),
    [
        ("VALIDATION_ERROR", Verdict.PERMANENT,
         "HTTP 422 Unprocessable Entity: VALIDATION_ERROR (mock answer)"),
        ("REVOKED", Verdict.PERMANENT, "HTTP 410 Gone: REVOKED (mock answer)"),
        ("404", Verdict.PERMANENT, "HTTP 404 Not Found: 404 (mock answer)"),
        ("429", Verdict.RETRY, "HTTP 429 Too Many Requests"),
        ("408", Verdict.RETRY, "HTTP 408 Request Timeout"),
        ("500", Verdict.RETRY, "HTTP 500 Internal Server Error"),
        ("302", Verdict.PERMANENT, "HTTP 302 Found: 302 (mock answer)"),
    ],
)  # fmt: skip
def test_fhir_push_classifies_each_status(answer: str, verdict: Verdict, detail: str) -> None:
    mock = MockRecipient("employer", answer=answer)

    async def use(m: MockRecipient) -> list[Answer]:
        return await deliver_all(FhirPushTransport(m.fhir_url), [parcel(payload=CERTIFICATE)])

    (got,) = run(lambda: with_mock(mock, use))
    assert (got.verdict, got.detail) == (verdict, detail)
    assert mock.received == []


def test_retry_after_is_honoured_in_seconds_and_as_a_date() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": request.query["after"]})

    async def use() -> list[Answer]:
        app = web.Application()
        app.router.add_post("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            out = []
            for after in ("120", "soon"):
                t = FhirPushTransport(f"http://127.0.0.1:{port}/?after={after}")
                out += await deliver_all(t, [parcel()])
            return out
        finally:
            await runner.cleanup()

    seconds, unreadable = run(use)
    assert seconds == Answer(Verdict.RETRY, "HTTP 429 Too Many Requests", 120.0)
    assert unreadable == Answer(Verdict.RETRY, "HTTP 429 Too Many Requests", None)
    now = datetime(2026, 11, 28, 8, 0, 0, tzinfo=UTC)
    assert retry_after("Sat, 28 Nov 2026 08:01:30 GMT", now=now) == 90.0
    assert retry_after("Sat, 28 Nov 2026 07:00:00 GMT", now=now) == 0.0
    assert retry_after("99999999") == 3600.0


def test_connection_refused_and_timeout_are_retried() -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response()

    async def use() -> tuple[Answer, Answer]:
        mock = MockRecipient()
        await mock.start()
        closed_url = mock.fhir_url
        await mock.stop()  # nothing listens there any more
        (refused,) = await deliver_all(FhirPushTransport(closed_url), [parcel()])
        app = web.Application()
        app.router.add_post("/", stall)
        runner = web.AppRunner(app, shutdown_timeout=0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        t = FhirPushTransport(f"http://127.0.0.1:{port}/", timeout=0.3)
        (slow,) = await deliver_all(t, [parcel()])
        release.set()
        await runner.cleanup()
        return refused, slow

    refused, slow = run(use)
    assert refused == Answer(Verdict.RETRY, "FHIR push: connection failed (ClientConnectorError)")
    assert slow == Answer(Verdict.RETRY, "FHIR push: timed out")


def test_a_recipient_not_signed_by_the_trusted_ca_is_not_delivered_to(
    pki: Pki, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    other = make_pki(tmp_path / "other")
    mock = MockRecipient("employer", ssl_context=other.server_context(require_client_cert=False))

    async def use(m: MockRecipient) -> list[Answer]:
        t = FhirPushTransport(m.fhir_url, ssl_context=pki.client_context())
        return await deliver_all(t, [parcel()])

    (got,) = run(lambda: with_mock(mock, use))
    assert got.verdict is Verdict.RETRY
    assert got.detail.startswith("FHIR push: TLS failed")
    assert mock.received == []


def test_a_recipient_requiring_client_certificates_refuses_a_stranger(
    pki: Pki, tmp_path: Path
) -> None:
    import trustme

    stranger = issue_client(trustme.CA(), tmp_path, "stranger")
    mock = MockRecipient("employer", ssl_context=pki.server_context())

    async def use(m: MockRecipient) -> list[Answer]:
        t = FhirPushTransport(m.fhir_url, ssl_context=pki.client_context(stranger))
        return await deliver_all(t, [parcel()])

    (got,) = run(lambda: with_mock(mock, use))
    assert got.verdict is Verdict.RETRY
    assert got.detail.startswith("FHIR push: ")
    assert mock.received == []


# -- RIVTA SOAP -------------------------------------------------------------------------------


def test_register_certificate_then_info_for_a_certificate_it_has(pki: Pki) -> None:
    mock = MockRecipient("forsakringskassan", ssl_context=pki.server_context())

    async def use(m: MockRecipient) -> list[Answer]:
        t = RivtaSoapTransport(m.rivta_url, "2021005521", ssl_context=pki.client_context())
        # a second delivery (another id) of the same certificate: intygstjänsten's INFO
        return await deliver_all(t, [rivta_parcel(), rivta_parcel(delivery_id="d-2")])

    first, again = run(lambda: with_mock(mock, use))
    assert first == Answer(Verdict.DELIVERED, "RegisterCertificate: OK")
    assert again == Answer(
        Verdict.DELIVERED, "RegisterCertificate: INFO: Certificate already exists"
    )
    (receipt,) = mock.received
    assert receipt.interaction == "RegisterCertificate"
    assert receipt.logical_address == "2021005521"
    assert receipt.delivery_id == "d-1"


def test_the_envelope_is_what_inera_reads() -> None:
    env = etree.fromstring(envelope(CERTIFICATE, "2021005521"))
    assert env.tag == f"{{{SOAP_ENV}}}Envelope"
    (address,) = env.iter(f"{{{REGISTRY}}}LogicalAddress")
    assert address.text == "2021005521"
    (body,) = env.iter(f"{{{SOAP_ENV}}}Body")
    (request,) = body
    schema = load_schema(RC_XSD)
    assert schema.validate(request), schema.error_log
    # the body is spliced, not re-serialised: byte for byte the rendered document
    assert CERTIFICATE.split(b"?>", 1)[1].strip() in envelope(CERTIFICATE, "x")
    assert interaction_of(CERTIFICATE) is REGISTER_CERTIFICATE_V3
    assert interaction_of(_send_message()) is SEND_MESSAGE_TO_RECIPIENT_V2
    assert interaction_of(FHIR) is None


def test_the_mocks_answers_are_valid_against_ineras_schemas() -> None:
    for interaction, xsd in (
        (REGISTER_CERTIFICATE_V3, RC_XSD),
        (SEND_MESSAGE_TO_RECIPIENT_V2, SM_XSD),
    ):
        schema = load_schema(xsd)
        for result in (
            Result(ResultCode.OK),
            Result(ResultCode.INFO, None, "Certificate already exists"),
            Result(ResultCode.ERROR, ErrorId.REVOKED, "revoked"),
        ):
            env = etree.fromstring(response(interaction, result))
            (answer,) = env.iter(interaction.response_tag)
            assert schema.validate(answer), schema.error_log
            assert read_answer(response(interaction, result), interaction) == result


@pytest.mark.parametrize(
    ("answer", "verdict", "detail"),
    [
        ("VALIDATION_ERROR", Verdict.PERMANENT,
         "RegisterCertificate: ERROR VALIDATION_ERROR: the request is not valid (mock answer)"),
        ("APPLICATION_ERROR", Verdict.PERMANENT,
         "RegisterCertificate: ERROR APPLICATION_ERROR: the request cannot be carried out "
         "(mock answer)"),
        ("REVOKED", Verdict.PERMANENT,
         "RegisterCertificate: ERROR REVOKED: the certificate is revoked (mock answer)"),
        ("TECHNICAL_ERROR", Verdict.RETRY,
         "RegisterCertificate: ERROR TECHNICAL_ERROR: temporarily unavailable (mock answer)"),
        ("FAULT", Verdict.RETRY,
         "RegisterCertificate: SOAP fault soap:Server: the service is unavailable"),
        ("INFO", Verdict.DELIVERED, "RegisterCertificate: INFO: Certificate already exists"),
        ("503", Verdict.RETRY, "RegisterCertificate: HTTP 503 Service Unavailable"),
        ("404", Verdict.PERMANENT, "RegisterCertificate: HTTP 404 Not Found"),
        ("200", Verdict.RETRY,
         "RegisterCertificate: HTTP 200 OK, unreadable answer: answer is not readable XML "
         "(XML-SYNTAX: Start tag expected, '<' not found, line 1, column 1)"),
    ],
)  # fmt: skip
def test_rivta_answers_lead_to_their_verdicts(answer: str, verdict: Verdict, detail: str) -> None:
    mock = MockRecipient("forsakringskassan", answer=answer)

    async def use(m: MockRecipient) -> list[Answer]:
        return await deliver_all(RivtaSoapTransport(m.rivta_url, "FK"), [rivta_parcel()])

    (got,) = run(lambda: with_mock(mock, use))
    assert (got.verdict, got.detail) == (verdict, detail)


def test_send_message_to_recipient_fails_first_then_is_delivered() -> None:
    mock = MockRecipient("forsakringskassan", fail_first=1)
    message = _send_message()

    async def use(m: MockRecipient) -> list[Answer]:
        t = RivtaSoapTransport(m.rivta_url, "2021005521")
        return await deliver_all(t, [rivta_parcel(message)] * 3)

    failed, delivered, repeat = run(lambda: with_mock(mock, use))
    assert failed.verdict is Verdict.RETRY
    assert failed.detail.startswith("SendMessageToRecipient: ERROR TECHNICAL_ERROR")
    assert delivered == Answer(Verdict.DELIVERED, "SendMessageToRecipient: OK")
    assert repeat == Answer(Verdict.DELIVERED, "SendMessageToRecipient: OK")
    (receipt,) = mock.received
    assert receipt.interaction == "SendMessageToRecipient"


def test_a_parcel_that_is_no_rivta_request_is_permanent() -> None:
    async def use() -> list[Answer]:
        return await deliver_all(RivtaSoapTransport("http://127.0.0.1:9/", "FK"), [parcel()])

    (got,) = run(use)
    assert got == Answer(
        Verdict.PERMANENT,
        "RIVTA: a certificate in format fhir-json is not a RegisterCertificate or "
        "SendMessageToRecipient request",
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "answer is not readable XML (XML-FORBIDDEN"),
        (b"<html><body>Bad gateway</body></html>", "answer is not a SOAP 1.1 envelope"),
        (response(SEND_MESSAGE_TO_RECIPIENT_V2, Result(ResultCode.OK)),
         "answer is <SendMessageToRecipientResponse>, expected <RegisterCertificateResponse>"),
        (response(REGISTER_CERTIFICATE_V3, Result(ResultCode.OK)).replace(b">OK<", b">ok<"),
         "resultCode 'ok' is not OK, INFO or ERROR"),
        (b"x" * 300_000, "answer of 300000 bytes"),
    ],
)  # fmt: skip
def test_hostile_or_foreign_answers_are_unreadable_never_guessed(
    body: bytes, expected: str
) -> None:
    got = read_answer(body, REGISTER_CERTIFICATE_V3)
    assert isinstance(got, Unreadable)
    assert got.reason.startswith(expected)


def test_a_fault_is_read_as_a_fault() -> None:
    from gateway.exchange.transports.soap import fault

    assert read_answer(fault("soap:Server", "down"), REGISTER_CERTIFICATE_V3) == Fault(
        "soap:Server", "down"
    )


@pytest.mark.parametrize("answer", ["OK", "VALIDATION_ERROR", "TECHNICAL_ERROR", "FAULT", "422"])
def test_no_detail_carries_the_payload(answer: str) -> None:
    """Whatever the recipient answers, the detail names the answer, not the document."""
    assert PATIENT_ID in CERTIFICATE and PATIENT_ID in FHIR
    mock = MockRecipient("forsakringskassan", answer=answer)

    async def use(m: MockRecipient) -> list[Answer]:
        rivta = await deliver_all(RivtaSoapTransport(m.rivta_url, "FK"), [rivta_parcel()])
        fhir = await deliver_all(FhirPushTransport(m.fhir_url), [parcel(delivery_id="d-9")])
        return rivta + fhir

    for got in run(lambda: with_mock(mock, use)):
        assert PATIENT_ID.decode() not in got.detail


# -- the recording fake -------------------------------------------------------------------------


def test_recording_transport_answers_from_its_script() -> None:
    retry = Answer(Verdict.RETRY, "busy")
    scripted = RecordingTransport(
        lambda p, attempt: retry if attempt < 3 else Answer(Verdict.DELIVERED, "ok")
    )
    queued = RecordingTransport([retry])

    async def use() -> tuple[list[Answer], list[Answer]]:
        return (
            await deliver_all(scripted, [parcel()] * 3 + [parcel(delivery_id="d-2")]),
            await deliver_all(queued, [parcel()] * 2),
        )

    by_script, by_queue = run(use)
    assert [a.verdict for a in by_script] == [Verdict.RETRY, Verdict.RETRY, Verdict.DELIVERED,
                                               Verdict.RETRY]  # fmt: skip
    assert list(scripted.delivered) == ["d-1"]
    assert len(scripted.attempts) == 4 and scripted.closed
    assert by_queue == [retry, Answer(Verdict.DELIVERED, "recorded")]


# -- properties of the classification -----------------------------------------------------------


_bodies = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda text: orjson.dumps(
            {"resourceType": "OperationOutcome", "issue": [{"diagnostics": text}]}
        ),
        st.text(max_size=600),
    ),
    st.sampled_from(
        [response(REGISTER_CERTIFICATE_V3, Result(code, err, text))
         for code, err, text in [(ResultCode.OK, None, None),
                                 (ResultCode.ERROR, ErrorId.REVOKED, "x\n" * 400),
                                 (ResultCode.INFO, None, "a\tb\r\nc" * 200)]]
    ),
)  # fmt: skip


@given(status=st.integers(100, 599), body=_bodies, after=st.sampled_from(["", "5", "soon"]))
def test_every_answer_gets_a_verdict_and_a_bounded_one_line_detail(
    status: int, body: bytes, after: str
) -> None:
    got = HttpAnswer(status, "Reason", CIMultiDict({"Retry-After": after}), body, False)
    fhir = fhir_push.classify(got)
    rivta = rivta_soap.classify(got, REGISTER_CERTIFICATE_V3)
    assert fhir.verdict is http_verdict(status)
    for answer in (fhir, rivta):
        assert "\n" not in answer.detail and "\x00" not in answer.detail
        assert len(answer.detail) <= MAX_REASON + 60
    if rivta.verdict is Verdict.DELIVERED:  # only a result the responder gave says so
        assert isinstance(read_answer(body, REGISTER_CERTIFICATE_V3), Result)


def test_like_intygstjanst_a_message_needs_the_certificate_of_its_patient_first() -> None:
    """With ``require_certificate`` the mock checks what intygstjänsten checks: the
    certificate a SendMessageToRecipient refers to was registered, for the same patient."""
    mock = MockRecipient("forsakringskassan", require_certificate=True)
    message = _send_message()
    its_certificate = CERTIFICATE.replace(CERT_ID, b"9f02dd2f-f57c-4a73-8190-2fe602bd6ed1")
    someone_else = its_certificate.replace(PATIENT_ID, b"195206262387")

    async def use(m: MockRecipient) -> list[Answer]:
        t = RivtaSoapTransport(m.rivta_url, "2021005521")
        return await deliver_all(
            t,
            [
                rivta_parcel(message, "d-1"),  # before any certificate
                rivta_parcel(someone_else, "d-2"),  # the id, but another patient's
                rivta_parcel(message, "d-1"),
            ],
        )

    first, _, second = run(lambda: with_mock(mock, use))
    refused = "SendMessageToRecipient: ERROR APPLICATION_ERROR: Intyg does not exist"
    assert first == Answer(Verdict.PERMANENT, refused)
    assert second == Answer(Verdict.PERMANENT, refused)
    assert [r.interaction for r in mock.received] == ["RegisterCertificate"]

    mock = MockRecipient("forsakringskassan", require_certificate=True)

    async def in_order(m: MockRecipient) -> list[Answer]:
        t = RivtaSoapTransport(m.rivta_url, "2021005521")
        return await deliver_all(t, [rivta_parcel(its_certificate, "d-3"), rivta_parcel(message)])

    registered, sent = run(lambda: with_mock(mock, in_order))
    assert registered.verdict is sent.verdict is Verdict.DELIVERED
    assert [r.interaction for r in mock.received] == [
        "RegisterCertificate",
        "SendMessageToRecipient",
    ]
