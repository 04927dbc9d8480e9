"""The accept pipeline: an authenticated sender's bytes -> one :class:`NewMessage` for the
store, or a :class:`Rejection` with every issue. Pure and synchronous (no I/O): the server
commits what this returns in one transaction before it answers ``202``.

detect and validate once -> route (Content-Based Router) -> check the sender's permissions ->
:func:`gateway.transfer.prepare` per recipient (Content Filter + Message Translator)
-> the deliveries, the consent use and the audit entries.

Routing (docs/exchange/api.md):

* a FHIR ``message`` Bundle routes on its MessageHeader: each destination names an audience
  (``employer``, ``forsakringskassan`` …) and goes to the recipients of that role the sender
  may send to; the message id is ``Bundle.id``;
* anything else (RIVTA RegisterCertificate, SendMessageToRecipient, our own XML, a bare FHIR
  document) routes on the recipients the sender names (``named``: recipient ids or
  audiences; the server takes them from ``Gateway-Recipients``) and the message id it gives.
  Named recipients on a FHIR message narrow its audiences.

Without a message id the id is derived from the sender and the content, so an identical
re-post is still recognised. A policy refusal for one recipient does not stop the others:
that recipient's delivery is recorded as ``refused`` with the rule codes and the answer says
so; only when every recipient is refused is the message refused. The router speaks no HTTP:
a :class:`Rejection` says why (:class:`Refusal`), the server maps that to a status. The
envelope and the consents are what validation read (``Validation.envelope``/``consents``):
the router only routes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from gateway.documents import Document, DocumentKind, Recipient
from gateway.documents.identity import organisation_key
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.exchange.audit import content_hash
from gateway.exchange.config import Config, RecipientConfig, SenderConfig
from gateway.exchange.plan_index.service import index_entry
from gateway.exchange.store.base import (
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    NewDelivery,
    NewMessage,
)
from gateway.exchange.transports.formats import carried_as, carried_kinds
from gateway.formats.base import Format
from gateway.transfer import Transfer, prepare
from gateway.validation.service import Validation, validate_bytes

NO_ROUTE = RULES.define(
    "EXCHANGE-NO-ROUTE",
    "No recipients for the message",
    RuleKind.SYNTAX,
    "The gateway could not tell where the message goes. A FHIR message names its audiences "
    "in MessageHeader.destination; any other document needs the HTTP header "
    "`Gateway-Recipients` with recipient ids or audiences (docs/exchange/api.md).",
)
UNKNOWN_RECIPIENT = RULES.define(
    "EXCHANGE-UNKNOWN-RECIPIENT",
    "A named recipient is not configured",
    RuleKind.SYNTAX,
    "`Gateway-Recipients` names a recipient id or audience that is not configured, or that "
    "is not among the message's own destinations. Use the ids the gateway's operator gave you.",
)
NOT_PERMITTED = RULES.define(
    "EXCHANGE-NOT-PERMITTED",
    "The sender may not send this",
    RuleKind.POLICY,
    "The configuration says which document kinds each sender may send, and to which "
    "recipients. This sender is not allowed this kind, or to this recipient.",
)
BAD_MESSAGE_ID = RULES.define(
    "EXCHANGE-MESSAGE-ID",
    "Message id unusable",
    RuleKind.SYNTAX,
    "A message id (Bundle.id of a FHIR message, or the `Gateway-Message-Id` header) is 1-128 "
    "letters, digits, '.', '_', ':' or '-'.",
)
CONSENT_USED = RULES.define(
    "EXCHANGE-CONSENT-USED",
    "The §4 consent was already used",
    RuleKind.POLICY,
    "A patient's consent to a §4 notification covers one transfer (seed 003). The gateway "
    "records the consent each §4 notification uses; this one was used by an earlier message. "
    "Obtain a new consent for a new notification.",
    source="seed 003",
)
CANNOT_RENDER = RULES.define(
    "EXCHANGE-CANNOT-RENDER",
    "The recipient's format cannot carry this document",
    RuleKind.POLICY,
    "The recipient receives a format that cannot express this document (a §4 notification "
    "as SendMessageToRecipient needs the certificate it refers to and the sender's HSA-id), "
    "or its endpoint has no contract for this kind of document (a RIVTA SOAP endpoint takes "
    "certificates and §4 notifications only). Nothing is delivered to that recipient; the "
    "others still receive theirs. The answer says which field is missing, or what the "
    "endpoint carries, as POST /convert does.",
)

MEDIA_TYPES: dict[Format, str] = {
    Format.XML: "application/xml",
    Format.RIVTA_MESSAGE: "application/xml",
    Format.FHIR_JSON: "application/fhir+json",
    Format.FHIR_XML: "application/fhir+xml",
}
#: Content types a sender may post, and which family of formats each announces.
ACCEPTED_TYPES = {
    "application/fhir+json": "json",
    "application/json": "json",
    "application/fhir+xml": "xml",
    "application/xml": "xml",
    "text/xml": "xml",
}
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_NS = uuid.UUID("0b5cf4a6-4f2e-5d55-9c1e-7d3b8e61a2f4")


class Refusal(StrEnum):
    """Why a message was not accepted; the server maps each to an HTTP status."""

    UNSUPPORTED = "unsupported"  # not a media type or format the gateway reads
    UNREADABLE = "unreadable"  # not a document at all, or unusable routing data
    INVALID = "invalid"  # a document, but invalid; or refused for every recipient
    FORBIDDEN = "forbidden"  # the sender may not send this, or to there


@dataclass(frozen=True)
class Rejection:
    """Why a message was not accepted: the reason, a short title, every issue, and the
    audit entries that record the refusal."""

    reason: Refusal
    title: str
    issues: list[Issue]
    audit: tuple[AuditEntry, ...] = ()
    fhir: bool = False


@dataclass(frozen=True)
class Accepted:
    """What to commit, and the answer body once committed."""

    message: NewMessage
    answer: dict[str, Any] = field(default_factory=dict)
    fhir: bool = False


def media_family(content_type: str | None) -> str | None:
    """``json`` / ``xml`` for a content type we read, ``None`` otherwise (415)."""
    if not content_type:
        return None
    return ACCEPTED_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def delivery_id(message_id: str, recipient_id: str) -> str:
    """The same on every attempt and in every process: recipients drop duplicates by it."""
    return str(uuid.uuid5(_NS, f"{message_id}|{recipient_id}"))


def _reason_for(issues: list[Issue]) -> Refusal:
    """Unreadable when the bytes cannot be read as a document at all, invalid when they can
    but break its rules."""
    for i in issues:
        rule = RULES.get(i.code)
        if rule is not None and rule.kind is RuleKind.SYNTAX and i.severity == "error":
            return Refusal.UNREADABLE
    return Refusal.INVALID


def receive(
    data: bytes,
    *,
    content_type: str | None,
    named: Sequence[str] = (),
    message_id: str | None = None,
    sender: SenderConfig,
    config: Config,
    now: datetime,
    to: Format | None = None,
    validation: Validation | None = None,
) -> Accepted | Rejection:
    """Run the accept pipeline for one posted message (see the module docstring). ``named``
    and ``message_id`` are what the sender said beside the bytes; ``to`` (dry runs only)
    renders every copy in that format instead of the recipient's; ``validation`` is the
    bytes' validation when the caller has it already (a dry run), so they are read once."""
    family = media_family(content_type)
    digest = content_hash(data)
    received = AuditEntry(
        now,
        sender.id,
        "received",
        detail={"sha256": digest, "bytes": len(data), "content_type": content_type or ""},
    )
    fhir = family == "json" or (content_type or "").startswith("application/fhir")
    if family is None:
        return Rejection(Refusal.UNSUPPORTED, "unsupported media type", [], (received,), fhir)
    if validation is None:
        validation = validate_bytes(data, source="request", overrides=config.rules)
    fmt = validation.format
    fhir = fhir or fmt in (Format.FHIR_JSON, Format.FHIR_XML)
    if fmt is not None and (family == "json") != (fmt is Format.FHIR_JSON):
        title = f"the body is {fmt}, not {content_type}"
        return Rejection(Refusal.UNSUPPORTED, title, [], (received,), fhir)
    validated = AuditEntry(
        now,
        sender.id,
        "validated",
        detail={
            "valid": validation.valid,
            "kind": str(validation.kind) if validation.kind else None,
            "format": str(fmt) if fmt else None,
            "codes": sorted({i.code for i in validation.issues}),
        },
    )
    if not validation.valid or validation.document is None or fmt is None:
        issues = validation.issues
        reason = _reason_for(issues)
        return Rejection(reason, "invalid document", issues, (received, validated), fhir)
    route = _Route(validation, sender, config, now, [received, validated], fhir)
    return route.run(digest, named, message_id, to)


class _Route:
    """One valid message through the Content-Based Router: its id, the sender's rights,
    its recipients, a copy per recipient through the transfer service, the answer."""

    def __init__(
        self,
        validation: Validation,
        sender: SenderConfig,
        config: Config,
        now: datetime,
        audit: list[AuditEntry],
        fhir: bool,
    ) -> None:
        assert validation.document is not None
        self.validation = validation
        self.document: Document = validation.document
        self.sender = sender
        self.config = config
        self.now = now
        self.audit = audit
        self.fhir = fhir

    def reject(self, reason: Refusal, title: str, problems: list[Issue]) -> Rejection:
        codes = sorted({i.code for i in problems})
        detail = {"reason": str(reason), "codes": codes}
        self.audit.append(AuditEntry(self.now, self.sender.id, "refused", detail=detail))
        return Rejection(reason, title, problems, tuple(self.audit), self.fhir)

    def run(
        self, digest: str, named: Sequence[str], given_id: str | None, to: Format | None
    ) -> Accepted | Rejection:
        envelope = self.validation.envelope
        kind = self.document.kind
        message_id = (envelope.message_id if envelope is not None else None) or given_id
        if message_id is None:
            message_id = str(uuid.uuid5(_NS, f"{self.sender.id}|{digest}"))
        elif not _ID.match(message_id):
            problem = issue(BAD_MESSAGE_ID, "the message id is unusable")
            return self.reject(Refusal.UNREADABLE, "bad message id", [problem])
        if kind not in self.sender.kinds:
            problem = issue(NOT_PERMITTED, f"sender {self.sender.id!r} may not send a {kind}")
            return self.reject(Refusal.FORBIDDEN, "not permitted", [problem])
        permitted = [r for rid in self.sender.recipients if (r := self.config.recipient(rid))]
        names = [x.strip() for x in named if x.strip()]
        recipients, problems = _resolve(envelope, names, permitted, self.config, self.sender)
        if problems:
            forbidden = any(p.code == NOT_PERMITTED.code for p in problems)
            reason = Refusal.FORBIDDEN if forbidden else Refusal.UNREADABLE
            return self.reject(reason, "cannot route", problems)
        if not recipients:
            problem = issue(NO_ROUTE, "the message names no recipients")
            return self.reject(Refusal.UNREADABLE, "no route", [problem])
        deliveries, outcome, consent_id = self.deliveries(message_id, recipients, to)
        if all(d.state is DeliveryState.REFUSED for d in deliveries):
            problems = [
                issue(RULES.get(c) or CANNOT_RENDER, _refusal_note(o))
                for o in outcome
                for c in o.get("rules", ())
            ]
            return self.reject(Refusal.INVALID, "refused by policy for every recipient", problems)
        return self.accepted(message_id, digest, deliveries, outcome, consent_id)

    def deliveries(
        self, message_id: str, recipients: list[RecipientConfig], to: Format | None
    ) -> tuple[list[NewDelivery], list[dict[str, Any]], str | None]:
        """A delivery per recipient. The policy decides by role and organisation, the
        renderer by format: recipients alike in all three share one copy, prepared once."""
        deliveries: list[NewDelivery] = []
        outcome: list[dict[str, Any]] = []
        consent_id: str | None = None
        copies: dict[tuple[Recipient, str, Format], tuple[Transfer, list[dict[str, Any]]]] = {}
        for rcp in recipients:
            fmt = to or _format_for(rcp, self.document.kind)
            if fmt is None:  # refused here rather than dead-lettered by the transport
                deliveries.append(self.uncarried(message_id, rcp, outcome))
                continue
            key = (rcp.role, organisation_key(rcp.organisation), fmt)
            if key not in copies:
                t = prepare(
                    self.document,
                    rcp.role,
                    at=self.now,
                    to=fmt,
                    consents=self.validation.consents,
                    organisation=rcp.organisation,
                )
                copies[key] = t, t.policy.report_dicts()
            t, report = copies[key]
            did = delivery_id(message_id, rcp.id)
            payload_hash = content_hash(t.payload) if t.payload else None
            if t.payload is None or t.refused:
                codes = sorted({e["code"] for e in report if e["action"] == "refused"})
                state, payload = DeliveryState.REFUSED, None
                if not codes:
                    codes = [CANNOT_RENDER.code]
                reason = ", ".join(codes)
                entry: dict[str, Any] = {"recipient": rcp.id, "state": "refused", "rules": codes}
                if t.render_error is not None:  # which field is missing, as /convert says
                    reason = f"{reason}: {t.render_error}"
                    entry["reason"] = t.render_error
                outcome.append(entry)
            else:
                consent_id = consent_id or t.policy.consent_id
                state = DeliveryState.OFFERED if rcp.pull else DeliveryState.PENDING
                payload, reason = t.payload, None
                outcome.append({"recipient": rcp.id, "state": str(state)})
            deliveries.append(
                NewDelivery(
                    did, rcp.id, _mode(rcp), str(fmt), MEDIA_TYPES[fmt], payload, state, reason
                )
            )
            detail = {"refused": state is DeliveryState.REFUSED, "report": report}
            detail["sha256"] = payload_hash
            detail["format"] = str(fmt)
            if t.render_error is not None:
                detail["render_error"] = t.render_error
            self.audit.append(
                AuditEntry(self.now, self.sender.id, "policy", message_id, rcp.id, detail)
            )
        return deliveries, outcome, consent_id

    def uncarried(
        self, message_id: str, rcp: RecipientConfig, outcome: list[dict[str, Any]]
    ) -> NewDelivery:
        """A recipient whose endpoint cannot carry the document: refused, with the reason,
        in the answer and the audit trail."""
        why = _not_carried(rcp, self.document.kind)
        codes = [CANNOT_RENDER.code]
        outcome.append({"recipient": rcp.id, "state": "refused", "rules": codes, "reason": why})
        detail = {"refused": True, "report": [], "format": None, "render_error": why}
        self.audit.append(
            AuditEntry(self.now, self.sender.id, "policy", message_id, rcp.id, detail)
        )
        return NewDelivery(
            delivery_id(message_id, rcp.id),
            rcp.id,
            _mode(rcp),
            str(rcp.format),
            MEDIA_TYPES[rcp.format],
            None,
            DeliveryState.REFUSED,
            f"{CANNOT_RENDER.code}: {why}",
        )

    def accepted(
        self,
        message_id: str,
        digest: str,
        deliveries: list[NewDelivery],
        outcome: list[dict[str, Any]],
        consent_id: str | None,
    ) -> Accepted:
        audit = self.audit
        kind = self.document.kind
        for i, entry in enumerate(audit[:2]):  # the receipt and validation, now with the id
            audit[i] = AuditEntry(
                entry.at, entry.actor, entry.action, message_id, entry.recipient_id, entry.detail
            )
        consent_key = None
        if kind is DocumentKind.SECTION4_NOTIFICATION and consent_id is not None:
            consent_key = f"{kind}:{consent_id}"
            audit.append(
                AuditEntry(
                    self.now,
                    self.sender.id,
                    "consent-used",
                    message_id,
                    detail={"consent": consent_id},
                )
            )
        answer = {
            "message_id": message_id,
            "status": "accepted",
            "status_url": f"/messages/{message_id}",
            "kind": str(kind),
            "recipients": outcome,
        }
        message = NewMessage(
            message_id=message_id,
            sender_id=self.sender.id,
            kind=str(kind),
            content_hash=digest,
            received_at=self.now,
            answer=orjson.dumps(answer),
            deliveries=tuple(deliveries),
            audit=tuple(audit),
            consent_key=consent_key,
            index=index_entry(  # the patient's plan index, committed with the message
                self.document,
                message_id=message_id,
                sender=self.sender,
                config=self.config,
                recipients=[
                    r
                    for d in deliveries
                    if d.state is not DeliveryState.REFUSED
                    and (r := self.config.recipient(d.recipient_id)) is not None
                ],
                consents=self.validation.consents,
                at=self.now,
            ),
        )
        return Accepted(message, answer, self.fhir)


def _refusal_note(outcome: dict[str, Any]) -> str:
    why = outcome.get("reason")
    return f"refused for {outcome['recipient']}" + (f": {why}" if why else "")


def _format_for(rcp: RecipientConfig, kind: DocumentKind) -> Format | None:
    """The format ``rcp`` gets ``kind`` in: its configured one, unless its transport needs
    another for this kind; ``None`` when its transport cannot carry the kind at all (the
    transports say which)."""
    if rcp.push is None:
        return rcp.format
    return carried_as(rcp.push.kind, kind, rcp.format)


def not_carried(config: Config) -> list[tuple[str, DocumentKind, str]]:
    """(sender, kind, recipient) where the configuration lets a sender send a kind to a
    recipient whose endpoint cannot carry it: every such message is refused for that
    recipient (said at start-up, so that the operator is not surprised by it)."""
    out = []
    for sender in config.senders:
        for rid in sender.recipients:
            rcp = config.recipient(rid)
            for kind in sorted(sender.kinds):
                if rcp is not None and _format_for(rcp, kind) is None:
                    out.append((sender.id, kind, rid))
    return out


def _not_carried(rcp: RecipientConfig, kind: DocumentKind) -> str:
    """Why ``rcp`` cannot get ``kind`` (only a push transport refuses a kind)."""
    push = rcp.push.kind if rcp.push is not None else ""
    kinds = ", ".join(map(str, carried_kinds(push) or ()))
    return f"its {push} endpoint carries {kinds}, not a {kind}"


def _mode(r: RecipientConfig) -> DeliveryMode:
    return DeliveryMode.PULL if r.pull else DeliveryMode.PUSH


def _resolve(
    envelope: Any,
    named: list[str],
    permitted: list[RecipientConfig],
    config: Config,
    sender: SenderConfig,
) -> tuple[list[RecipientConfig], list[Issue]]:
    """The recipients a message goes to, or the problems that stop routing it."""
    problems: list[Issue] = []
    audiences: set[Recipient] | None = None
    if envelope is not None:
        audiences = set(envelope.destinations)
    chosen: list[RecipientConfig] = []
    if named:
        for name in named:
            found = config.recipient(name)
            matches = (
                [found] if found is not None else [r for r in permitted if r.role.value == name]
            )
            if not matches:
                problems.append(
                    issue(UNKNOWN_RECIPIENT, f"the named recipient {name!r} is not a recipient")
                )
                continue
            for m in matches:
                if audiences is not None and m.role not in audiences:
                    problems.append(
                        issue(
                            UNKNOWN_RECIPIENT,
                            f"the named recipient {m.id!r} is not among the message's destinations",
                        )
                    )
                elif m not in permitted:
                    problems.append(
                        issue(NOT_PERMITTED, f"sender {sender.id!r} may not send to {m.id!r}")
                    )
                elif m not in chosen:
                    chosen.append(m)
        return chosen, problems
    if audiences is None:
        return [], []
    for audience in sorted(audiences):
        matches = [r for r in permitted if r.role is audience]
        if not matches:
            problems.append(
                issue(NOT_PERMITTED, f"sender {sender.id!r} may send to no {audience} recipient")
            )
        chosen.extend(m for m in matches if m not in chosen)
    return chosen, problems


__all__ = [
    "ACCEPTED_TYPES",
    "CONSENT_USED",
    "MEDIA_TYPES",
    "Accepted",
    "Refusal",
    "Rejection",
    "delivery_id",
    "media_family",
    "receive",
]
