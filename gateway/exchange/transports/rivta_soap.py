"""RIVTA SOAP push to Försäkringskassan (or any RIVTA responder): RegisterCertificate v3 for
certificates, SendMessageToRecipient v2 for §4 notifications, each in a SOAP 1.1 envelope
with the ``LogicalAddress`` header, over HTTPS with the gateway's client certificate.

Verdicts, as Inera's responders answer (intygstjänsten's RegisterCertificateResponderImpl):

========================================================  ==========
``resultCode`` OK                                          delivered
``resultCode`` INFO ("Certificate already exists")         delivered: an earlier attempt arrived
ERROR ``TECHNICAL_ERROR``, a SOAP fault, 408/429/5xx,      retry
a connection failure or timeout, an unreadable answer
ERROR ``VALIDATION_ERROR``/``APPLICATION_ERROR``/          dead letter, with ``resultText``
``REVOKED``, ERROR without ``errorId``, other 3xx/4xx
========================================================  ==========

An unreadable answer is retried because the attempt's outcome is unknown and a repeat is
harmless: the responder answers INFO for a certificate it already has.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from gateway.exchange.transport import Answer, Parcel, Verdict
from gateway.exchange.transports.http import (
    IDEMPOTENCY_HEADER,
    HttpAnswer,
    HttpPoster,
    http_verdict,
    reason,
    retry_after,
    status_line,
)
from gateway.exchange.transports.soap import (
    CONTENT_TYPE,
    ErrorId,
    Fault,
    Interaction,
    Result,
    ResultCode,
    Unreadable,
    envelope,
    interaction_of,
    read_answer,
)


class RivtaSoapTransport:
    def __init__(
        self,
        url: str,
        logical_address: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        endpoints: Mapping[str, str] | None = None,
    ) -> None:
        """``url``: the responder's endpoint; ``logical_address``: the RIVTA
        ``LogicalAddress`` (Försäkringskassan: ``2021005521``); ``endpoints``: per-interaction
        URLs by name (``RegisterCertificate``, ``SendMessageToRecipient``) where a platform
        exposes one endpoint per contract."""
        self.url = url
        self.logical_address = logical_address
        self._endpoints = dict(endpoints or {})
        self._http = HttpPoster(url, ssl_context=ssl_context, timeout=timeout, name="RIVTA")

    async def deliver(self, parcel: Parcel) -> Answer:
        interaction = interaction_of(parcel.payload)
        if interaction is None:
            return Answer(
                Verdict.PERMANENT,
                f"RIVTA: a {parcel.kind} in format {parcel.format} is not a RegisterCertificate "
                "or SendMessageToRecipient request",
            )
        headers = {
            "Content-Type": CONTENT_TYPE,
            "SOAPAction": f'"{interaction.soap_action}"',
            IDEMPOTENCY_HEADER: parcel.delivery_id,
        }
        url = self._endpoints.get(interaction.name, self.url)
        body = envelope(parcel.payload, self.logical_address)
        got = await self._http.post(url, body, headers)
        if isinstance(got, Answer):
            return got
        return classify(got, interaction)

    async def close(self) -> None:
        await self._http.close()


def classify(answer: HttpAnswer, interaction: Interaction) -> Answer:
    line = status_line(answer)
    verdict = http_verdict(answer.status)
    # SOAP 1.1 faults come with 500; a result may come with 200 (or, from some stacks, 500)
    read = read_answer(answer.body, interaction) if not answer.truncated else None
    if isinstance(read, Result):
        return _result(read, interaction)
    if isinstance(read, Fault):
        return Answer(
            Verdict.RETRY, reason(f"{interaction.name}: SOAP fault {read.code}: {read.text}")
        )
    if verdict is Verdict.DELIVERED:  # 2xx without a result: did it arrive? ask again
        why = read.reason if isinstance(read, Unreadable) else "answer too large"
        return Answer(
            Verdict.RETRY, reason(f"{interaction.name}: {line}, unreadable answer: {why}")
        )
    if verdict is Verdict.RETRY:
        return Answer(
            verdict, f"{interaction.name}: {line}", retry_after(answer.headers.get("Retry-After"))
        )
    return Answer(verdict, f"{interaction.name}: {line}")


def _result(result: Result, interaction: Interaction) -> Answer:
    text = f": {result.text}" if result.text else ""
    if result.code is ResultCode.OK:
        return Answer(Verdict.DELIVERED, f"{interaction.name}: OK")
    if result.code is ResultCode.INFO:
        return Answer(Verdict.DELIVERED, reason(f"{interaction.name}: INFO{text}"))
    error = result.error_id.value if result.error_id is not None else "(no errorId)"
    verdict = Verdict.RETRY if result.error_id is ErrorId.TECHNICAL_ERROR else Verdict.PERMANENT
    return Answer(verdict, reason(f"{interaction.name}: ERROR {error}{text}"))
