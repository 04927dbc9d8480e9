"""One transfer service: a validated document, for one recipient, at one time, through the
policy step (Content Filter) and rendered in the recipient's format (Message Translator).

The CLI (``gateway redact``), the harness and the exchange server all call this, so consent,
minimisation and the no-diagnosis rule are decided in one place. Pure and cheap: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.documents import Document, Recipient
from gateway.documents.common import Consent
from gateway.documents.issues import SeverityOverrides
from gateway.formats.base import CannotRender, Format
from gateway.policy import PolicyResult, apply_policy
from gateway.policy.signature import render_copy
from gateway.validation.service import Validation, validate_bytes


@dataclass(frozen=True)
class Transfer:
    """One document for one recipient: the policy's decision and, unless it refused, the
    bytes the recipient receives. ``render_error`` says why a permitted copy could not be
    written in the asked format (e.g. a §4 notice without the certificate SendMessageToRecipient
    needs); it carries no patient data."""

    recipient: Recipient
    format: Format
    policy: PolicyResult
    payload: bytes | None = None
    render_error: str | None = None

    @property
    def refused(self) -> bool:
        return self.policy.refused or self.payload is None


def prepare(
    document: Document,
    recipient: Recipient | str,
    *,
    at: datetime,
    to: Format,
    consent: Consent | None = None,
    strict: bool = False,
    check_consent: bool = True,
    trust_anchors: Path | None = None,
    finish: Callable[[bytes], bytes] | None = None,
) -> Transfer:
    """The recipient's copy of a valid ``document``: policy, then render in ``to``.

    ``check_consent=False`` is for previews only (a document with no place for a consent
    record and none given); the server always checks. A signature the policy held back goes
    into the copy only if it verifies over the rendered bytes (``trust_anchors``: PEM CAs);
    the report then says which. ``finish`` (e.g. indenting) is applied before that check, so
    the signature is checked over the bytes actually sent."""
    recipient = Recipient(recipient)
    outcome = apply_policy(
        document, recipient, consent=consent, at=at, strict=strict, check_consent=check_consent
    )
    if outcome.refused or outcome.document is None:
        return Transfer(recipient, to, outcome)
    try:
        payload, outcome = render_copy(outcome, to, trust_anchors=trust_anchors, finish=finish)
    except CannotRender as exc:
        return Transfer(recipient, to, outcome, render_error=str(exc))
    return Transfer(recipient, to, outcome, payload)


def transfer(
    data: bytes,
    recipient: Recipient | str,
    *,
    at: datetime,
    source: str = "-",
    to: Format | None = None,
    consent: Consent | None = None,
    overrides: SeverityOverrides | None = None,
    strict: bool = False,
    check_consent: bool | None = None,
    trust_anchors: Path | None = None,
    finish: Callable[[bytes], bytes] | None = None,
) -> tuple[Validation, Transfer | None]:
    """Validate ``data`` and, when it is valid, :func:`prepare` it for ``recipient`` (in the
    input's own format unless ``to`` says otherwise). ``check_consent=None`` checks consent
    when one was given or the document has a place for one (the preview rule of
    ``gateway redact``); ``None`` as the transfer means the input was invalid."""
    validation = validate_bytes(data, source=source, overrides=overrides)
    document = validation.document
    if not validation.valid or document is None or validation.format is None:
        return validation, None
    if check_consent is None:
        check_consent = consent is not None or "consent" in type(document).model_fields
    return validation, prepare(
        document,
        recipient,
        at=at,
        to=to or validation.format,
        consent=consent,
        strict=strict,
        check_consent=check_consent,
        trust_anchors=trust_anchors,
        finish=finish,
    )
