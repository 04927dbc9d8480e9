"""FHIR push: the recipient's copy POSTed over HTTPS to its endpoint (a FHIR ``message``
Bundle, or the document in its own format), with the gateway's client certificate.

Verdicts (transport.py): 2xx delivered; connection failures, timeouts, 408, 429 and 5xx
retried, honouring ``Retry-After``; any other status dead-letters at once with the
recipient's reason (an OperationOutcome's ``diagnostics``/``details.text``, else the status
line). The delivery id goes in ``Idempotency-Key`` so the recipient can drop a repeat.
"""

from __future__ import annotations

import ssl
from typing import Any

import orjson

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


class FhirPushTransport:
    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """``url``: the recipient's endpoint; ``ssl_context``: from
        :func:`gateway.exchange.tls.client_context` (the gateway's certificate, the
        recipient's CA); ``headers``: fixed extra headers (e.g. an API key of theirs)."""
        self.url = url
        self._http = HttpPoster(url, ssl_context=ssl_context, timeout=timeout, name="FHIR push")
        self._headers = dict(headers or {})

    async def deliver(self, parcel: Parcel) -> Answer:
        headers = {
            **self._headers,
            "Content-Type": parcel.media_type,
            "Accept": "application/fhir+json, application/json;q=0.9, */*;q=0.1",
            IDEMPOTENCY_HEADER: parcel.delivery_id,
        }
        got = await self._http.post(self.url, parcel.payload, headers)
        if isinstance(got, Answer):
            return got
        return classify(got)

    async def close(self) -> None:
        await self._http.close()


def classify(answer: HttpAnswer) -> Answer:
    verdict = http_verdict(answer.status)
    line = status_line(answer)
    if verdict is Verdict.DELIVERED:
        return Answer(verdict, line)
    if verdict is Verdict.RETRY:
        return Answer(verdict, line, retry_after(answer.headers.get("Retry-After")))
    why = _outcome_text(answer)
    return Answer(verdict, f"{line}: {why}" if why else line)


def _outcome_text(answer: HttpAnswer) -> str | None:
    """The recipient's own words from a FHIR OperationOutcome, if the body is one."""
    if answer.truncated or not answer.body.lstrip().startswith(b"{"):
        return None
    try:
        data: Any = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("resourceType") != "OperationOutcome":
        return None
    texts: list[str] = []
    for item in data.get("issue") or []:
        if not isinstance(item, dict):
            continue
        details = item.get("details")
        text = item.get("diagnostics") or (
            details.get("text") if isinstance(details, dict) else None
        )
        if isinstance(text, str) and text.strip():
            texts.append(text)
    return reason("; ".join(texts)) if texts else None
