"""The delivery seam: how one prepared copy reaches one recipient (push over HTTPS as FHIR,
RIVTA SOAP to Försäkringskassan, a recording fake in tests). The outbox workers are written
against :class:`Transport` only, the way httpx's client knows only ``BaseTransport``.

A transport never raises for what the recipient or the network did: every outcome is an
:class:`Answer`, classified so the outbox knows what to do next (Guaranteed Delivery):

* ``DELIVERED``: the recipient has it (a RIVTA ``INFO`` saying the certificate already exists
  counts: the earlier attempt arrived);
* ``RETRY``: may succeed later: connection refused or reset, timeout, HTTP 429 and 5xx, a
  SOAP fault, a RIVTA ``ERROR`` with ``errorId`` ``TECHNICAL_ERROR``;
* ``PERMANENT``: will not succeed as it is: any other HTTP 4xx, RIVTA ``VALIDATION_ERROR``,
  ``APPLICATION_ERROR``, ``REVOKED``: dead-lettered at once with the recipient's own reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from gateway.documents import DocumentKind
from gateway.formats.base import Format


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Parcel:
    """One delivery's bytes and what the transport needs to address them. ``delivery_id`` is
    the same on every attempt: recipients use it to drop duplicates (Idempotent Receiver)."""

    delivery_id: str
    message_id: str
    recipient_id: str
    kind: DocumentKind
    format: Format
    payload: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class Answer:
    """What came of one attempt. ``detail`` is the recipient's own reason (status line, RIVTA
    resultCode/errorId/resultText, exception class): it is shown in the delivery state and the
    audit trail, so it must never be built from the payload. ``retry_after`` is seconds the
    recipient asked to wait (HTTP Retry-After), if any."""

    verdict: Verdict
    detail: str
    retry_after: float | None = None


class Transport(Protocol):
    async def deliver(self, parcel: Parcel) -> Answer:
        """One attempt to hand ``parcel`` over. Never raises for remote or network failures."""
        ...

    async def close(self) -> None:
        """Release connections; called once when the worker stops."""
        ...
