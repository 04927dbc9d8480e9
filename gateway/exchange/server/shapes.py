"""The shapes of the HTTP API's JSON answers, as typed dicts: the handlers build exactly
these (mypy checks it) and :mod:`.openapi` turns them into the document's schemas (one
source for both). A key added to an answer is added here, or mypy refuses the handler."""

from __future__ import annotations

from typing import (
    Literal,
    NotRequired,  # pydantic reads these on 3.11
)

from typing_extensions import TypedDict

Severity = Literal["error", "warning", "information"]
DeliveryStateName = Literal["pending", "retrying", "offered", "delivered", "dead", "refused"]


class IssueAnswer(TypedDict):
    """One issue: a stable rule code (``gateway explain CODE``), where, and what."""

    severity: Severity
    code: str
    location: str
    message: str


class Problem(TypedDict):
    """An error answer (``application/problem+json``, RFC 9457): the status, a short title
    and every issue found, never the document's content."""

    status: int
    title: str
    issues: list[IssueAnswer]


class RecipientOutcome(TypedDict):
    """What became of one recipient's copy when the message was accepted."""

    recipient: str
    state: Literal["pending", "offered", "refused"]
    rules: NotRequired[list[str]]  # the rule codes, when refused


class AcceptedAnswer(TypedDict):
    """``202``: stored durably; the same id with the same bytes gets this answer again."""

    message_id: str
    status: Literal["accepted"]
    status_url: str
    kind: str
    recipients: list[RecipientOutcome]


class DeliveryAnswer(TypedDict):
    recipient: str
    delivery_id: str
    mode: Literal["push", "pull"]
    state: DeliveryStateName
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    updated_at: str | None
    delivered_at: str | None


class GatewayMessage(TypedDict):
    """A message as the gateway holds it: its state per recipient (the resource that
    Gateway-Message-Id and the path parameter `id` name)."""

    message_id: str
    sender: str
    kind: str
    received_at: str
    recipients: list[DeliveryAnswer]


class RedeliveredAnswer(TypedDict):
    """How many dead letters went back to the outbox."""

    message_id: str
    redelivered: int


class InboxEntry(TypedDict):
    """A pull delivery, offered again on every fetch until acknowledged."""

    delivery_id: str
    message_id: str
    kind: str
    format: str
    media_type: str
    accepted_at: str
    offers: int
    payload_base64: str
    ack_url: str


class InboxAnswer(TypedDict):
    messages: list[InboxEntry]


class ValidationAnswer(TypedDict):
    """``gateway validate --format json``'s result object for one input."""

    source: str
    kind: str | None
    subtype: str | None
    format: str | None
    valid: bool
    issues: list[IssueAnswer]


class ReportEntry(TypedDict):
    """One line of a redaction report: what the policy did to which element, and why."""

    action: str
    path: str
    code: str
    message: str


class RedactionAnswer(TypedDict):
    """What a recipient would receive (``gateway redact``)."""

    recipient: str
    format: str
    refused: bool
    report: list[ReportEntry]
    render_error: str | None
    payload_base64: str | None


class StatusAnswer(TypedDict):
    """``/health`` and ``/ready``: ``ok`` / ``ready``, or what is at fault."""

    status: str


__all__ = [
    "AcceptedAnswer",
    "DeliveryAnswer",
    "GatewayMessage",
    "InboxAnswer",
    "InboxEntry",
    "IssueAnswer",
    "Problem",
    "RecipientOutcome",
    "RedactionAnswer",
    "RedeliveredAnswer",
    "ReportEntry",
    "StatusAnswer",
    "ValidationAnswer",
]
