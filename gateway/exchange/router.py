"""The accept pipeline: an authenticated sender's bytes -> one :class:`NewMessage` for the
store, or a :class:`Rejection` with every issue. Pure and synchronous (no I/O): the server
commits what this returns in one transaction before it answers ``202``.

detect and validate once -> route (Content-Based Router) -> check the sender's permissions ->
:func:`gateway.exchange.transfer.prepare` per recipient (Content Filter + Message Translator)
-> the deliveries, the consent use and the audit entries.

Routing (docs/exchange/api.md):

* a FHIR ``message`` Bundle routes on its MessageHeader: each destination names an audience
  (``employer``, ``forsakringskassan`` …) and goes to the recipients of that role the sender
  may send to; the message id is ``Bundle.id``;
* anything else (RIVTA RegisterCertificate, SendMessageToRecipient, our own XML, a bare FHIR
  document) routes on HTTP headers: ``Gateway-Recipients`` (recipient ids or audiences,
  comma-separated) and ``Gateway-Message-Id``. A ``Gateway-Recipients`` header on a FHIR
  message narrows its audiences to the named recipients.

Without a message id the id is derived from the sender and the content, so an identical
re-post is still recognised. A policy refusal for one recipient does not stop the others:
that recipient's delivery is recorded as ``refused`` with the rule codes and the answer says
so; only when every recipient is refused is the message refused (``422``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from gateway.documents import DocumentKind, Recipient
from gateway.documents.common import Consent
from gateway.documents.issues import RULES, Issue, RuleKind, issue
from gateway.exchange.audit import content_hash
from gateway.exchange.config import Config, RecipientConfig, SenderConfig
from gateway.exchange.store.base import (
    AuditEntry,
    DeliveryMode,
    DeliveryState,
    NewDelivery,
    NewMessage,
)
from gateway.exchange.transfer import Transfer, prepare
from gateway.formats.base import Format
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
    "as SendMessageToRecipient needs the certificate it refers to and the sender's HSA-id). "
    "Nothing is delivered to that recipient; the others still receive theirs.",
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


@dataclass(frozen=True)
class Rejection:
    """Why a message was not accepted: the HTTP status, a short title, every issue, and
    the audit entries that record the refusal."""

    status: int
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


def _status_for(issues: list[Issue]) -> int:
    """400 when the bytes cannot be read as a document at all, 422 when they can but are
    invalid."""
    for i in issues:
        rule = RULES.get(i.code)
        if rule is not None and rule.kind is RuleKind.SYNTAX and i.severity == "error":
            return 400
    return 422


def _envelope(tree: dict[str, Any] | None) -> tuple[Any, Consent | None, list[Issue]]:
    """A FHIR message's envelope (None for a bare document; the codec already checked it)
    and the envelope's consent: a ``Consent`` entry of the message outside the document
    (how a certificate, which has no place for one, travels to an employer with consent).
    ``tree`` is the one the codec read (``Validation.tree``): the bytes are parsed once."""
    from gateway.formats.fhir.consent import read_consent
    from gateway.formats.fhir.datatypes import BundleIndex
    from gateway.formats.fhir.envelope import unwrap_message
    from gateway.formats.fhir.tree import Reader, Unreadable

    if tree is None or tree.get("type") != "message":
        return None, None, []
    envelope = unwrap_message(tree)[0]
    if envelope is None or envelope.kind is not DocumentKind.CERTIFICATE:
        return envelope, None, []  # the other kinds carry their consent in the document
    entries = tree.get("entry") or []
    for i, entry in enumerate(entries):
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict) and res.get("resourceType") == "Consent":
            r = Reader()
            # the consent's Patient is the certificate's, inside the document Bundle entry
            inner = [
                e
                for x in entries
                if isinstance(x, dict) and isinstance(x.get("resource"), dict)
                for e in (x["resource"].get("entry") or [])
                if x["resource"].get("resourceType") == "Bundle"
            ]
            index = BundleIndex(r, {"entry": [*entries, *inner]})
            subject = next(iter(index.all("Patient")), (None, ""))[0]
            try:
                consent = read_consent(
                    r, index, res, f"Bundle.entry[{i}].resource", ("consent",), subject
                )
            except Unreadable:
                return envelope, None, r.issues
            return envelope, consent, r.issues
    return envelope, None, []


def receive(
    data: bytes,
    *,
    content_type: str | None,
    headers: Mapping[str, str],
    sender: SenderConfig,
    config: Config,
    now: datetime,
) -> Accepted | Rejection:
    """Run the accept pipeline for one posted message (see the module docstring)."""
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
        return Rejection(415, "unsupported media type", [], (received,), fhir=fhir)
    validation = validate_bytes(data, source="request", overrides=config.rules)
    fmt = validation.format
    fhir = fhir or fmt in (Format.FHIR_JSON, Format.FHIR_XML)
    if fmt is not None and (family == "json") != (fmt is Format.FHIR_JSON):
        return Rejection(415, f"the body is {fmt}, not {content_type}", [], (received,), fhir)
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
        return Rejection(
            _status_for(issues), "invalid document", issues, (received, validated), fhir
        )
    return _route(
        data, validation, fmt, headers, sender, config, now, digest, fhir, received, validated
    )


def _route(
    data: bytes,
    validation: Validation,
    fmt: Format,
    headers: Mapping[str, str],
    sender: SenderConfig,
    config: Config,
    now: datetime,
    digest: str,
    fhir: bool,
    received: AuditEntry,
    validated: AuditEntry,
) -> Accepted | Rejection:
    document = validation.document
    assert document is not None
    kind = document.kind
    audit = [received, validated]

    def reject(status: int, title: str, problems: list[Issue]) -> Rejection:
        codes = sorted({i.code for i in problems})
        detail = {"status": status, "codes": codes}
        audit.append(AuditEntry(now, sender.id, "refused", detail=detail))
        return Rejection(status, title, problems, tuple(audit), fhir)

    envelope, consent, consent_issues = None, None, list[Issue]()
    if fmt in (Format.FHIR_JSON, Format.FHIR_XML):
        envelope, consent, consent_issues = _envelope(validation.tree)
    if any(i.severity == "error" for i in consent_issues):
        return reject(422, "the message's consent cannot be read", consent_issues)
    message_id = (envelope.message_id if envelope is not None else None) or headers.get(
        "Gateway-Message-Id"
    )
    if message_id is None:
        message_id = str(uuid.uuid5(_NS, f"{sender.id}|{digest}"))
    elif not _ID.match(message_id):
        return reject(400, "bad message id", [issue(BAD_MESSAGE_ID, "the message id is unusable")])
    if kind not in sender.kinds:
        return reject(
            403,
            "not permitted",
            [issue(NOT_PERMITTED, f"sender {sender.id!r} may not send a {kind}")],
        )
    permitted = [r for rid in sender.recipients if (r := config.recipient(rid)) is not None]
    named = [x.strip() for x in headers.get("Gateway-Recipients", "").split(",") if x.strip()]
    recipients, problems = _resolve(envelope, named, permitted, config, sender)
    if problems:
        status = 403 if any(p.code == NOT_PERMITTED.code for p in problems) else 400
        return reject(status, "cannot route", problems)
    if not recipients:
        return reject(400, "no route", [issue(NO_ROUTE, "the message names no recipients")])

    deliveries: list[NewDelivery] = []
    outcome: list[dict[str, Any]] = []
    consent_id: str | None = None
    # The policy decides by role and the renderer by format: recipients alike in both (two
    # employers, two regions) share one copy, prepared once.
    copies: dict[tuple[Recipient, Format], tuple[Transfer, list[dict[str, Any]], str | None]] = {}
    for rcp in recipients:
        fmt = _format_for(rcp, document.kind)
        if (rcp.role, fmt) not in copies:
            t = prepare(document, rcp.role, at=now, to=fmt, consent=consent)
            copies[rcp.role, fmt] = t, t.policy.report_dicts(), (
                content_hash(t.payload) if t.payload else None
            )
        t, report, payload_hash = copies[rcp.role, fmt]
        did = delivery_id(message_id, rcp.id)
        codes = sorted({e["code"] for e in report if e["action"] == "refused"})
        if t.payload is None or t.refused:
            if not codes:
                codes = [CANNOT_RENDER.code]
            reason = ", ".join(codes)
            deliveries.append(
                NewDelivery(
                    did,
                    rcp.id,
                    _mode(rcp),
                    str(fmt),
                    MEDIA_TYPES[fmt],
                    None,
                    DeliveryState.REFUSED,
                    reason,
                )
            )
            outcome.append({"recipient": rcp.id, "state": "refused", "rules": codes})
        else:
            consent_id = consent_id or t.policy.consent_id
            state = DeliveryState.OFFERED if rcp.pull else DeliveryState.PENDING
            deliveries.append(
                NewDelivery(
                    did,
                    rcp.id,
                    _mode(rcp),
                    str(fmt),
                    MEDIA_TYPES[fmt],
                    t.payload,
                    state,
                )
            )
            outcome.append({"recipient": rcp.id, "state": str(state)})
        audit.append(
            AuditEntry(
                now,
                sender.id,
                "policy",
                message_id,
                rcp.id,
                {
                    "refused": t.payload is None or t.refused,
                    "report": report,
                    "sha256": payload_hash,
                },
            )
        )
    if all(d.state is DeliveryState.REFUSED for d in deliveries):
        problems = [
            issue(RULES.get(c) or CANNOT_RENDER, f"refused for {o['recipient']}")
            for o in outcome
            for c in o.get("rules", ())
        ]
        return reject(422, "refused by policy for every recipient", problems)
    for entry in (received, validated):
        audit[audit.index(entry)] = AuditEntry(
            entry.at, entry.actor, entry.action, message_id, entry.recipient_id, entry.detail
        )
    consent_key = None
    if kind is DocumentKind.SECTION4_NOTIFICATION and consent_id is not None:
        consent_key = f"{kind}:{consent_id}"
        audit.append(
            AuditEntry(now, sender.id, "consent-used", message_id, detail={"consent": consent_id})
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
        sender_id=sender.id,
        kind=str(kind),
        content_hash=digest,
        received_at=now,
        answer=orjson.dumps(answer),
        deliveries=tuple(deliveries),
        audit=tuple(audit),
        consent_key=consent_key,
    )
    return Accepted(message, answer, fhir)


def _format_for(rcp: RecipientConfig, kind: DocumentKind) -> Format:
    """The format ``rcp`` gets ``kind`` in: its configured one, except that a RIVTA SOAP
    endpoint takes a §4 notification as SendMessageToRecipient (docs/policy.md), whatever
    format its certificates come in."""
    if (
        kind is DocumentKind.SECTION4_NOTIFICATION
        and rcp.push is not None
        and rcp.push.kind == "rivta-soap"
    ):
        return Format.RIVTA_MESSAGE
    return rcp.format


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
                    issue(UNKNOWN_RECIPIENT, f"Gateway-Recipients: {name!r} is not a recipient")
                )
                continue
            for m in matches:
                if audiences is not None and m.role not in audiences:
                    problems.append(
                        issue(
                            UNKNOWN_RECIPIENT,
                            f"Gateway-Recipients: {m.id!r} is not among the message's destinations",
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
    "Rejection",
    "delivery_id",
    "media_family",
    "receive",
]
