"""One transfer service: a validated document, for one recipient, at one time, through the
policy step (Content Filter) and rendered in the recipient's format (Message Translator).

The CLI (``gateway redact``), the harness and the exchange server all call this, so consent,
minimisation and the no-diagnosis rule are decided in one place, and no copy for a recipient
is rendered anywhere else (``gateway convert`` and ``POST /convert`` give senders their own
document back, which is no transfer). Pure and cheap: no I/O. A package of its own below the
exchange, so that the command line uses it without importing the server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.documents import Document, Recipient
from gateway.documents.common import Consent
from gateway.documents.issues import SeverityOverrides
from gateway.formats.base import CannotRender, Format
from gateway.formats.registry import render
from gateway.policy import PolicyResult, apply_policy
from gateway.policy.signature import signature_fate, with_held_signature
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
    consents: Sequence[Consent] = (),
    organisation: str | None = None,
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
    the signature is checked over the bytes actually sent. ``consents`` are every consent
    offered beside the document (a message's), ``organisation`` the recipient's configured
    one (see :func:`gateway.policy.apply_policy`)."""
    recipient = Recipient(recipient)
    outcome = apply_policy(
        document,
        recipient,
        consent=consent,
        consents=consents,
        at=at,
        strict=strict,
        check_consent=check_consent,
        organisation=organisation,
    )
    if outcome.refused or outcome.document is None:
        return Transfer(recipient, to, outcome)
    try:
        payload, outcome = render_copy(outcome, to, trust_anchors=trust_anchors, finish=finish)
    except CannotRender as exc:
        return Transfer(recipient, to, outcome, render_error=str(exc))
    return Transfer(recipient, to, outcome, payload)


def render_copy(
    result: PolicyResult,
    fmt: Format,
    *,
    trust_anchors: Path | None = None,
    finish: Callable[[bytes], bytes] | None = None,
) -> tuple[bytes, PolicyResult]:
    """The recipient's copy in ``fmt``, passed through ``finish`` (e.g. indenting) when given;
    a signature the policy held back goes in only if it verifies over these very bytes, the
    finished ones, and the returned result's report says when it did not."""
    doc = result.document
    if doc is None:
        raise ValueError("a refused transfer has no copy to render")

    def rendered(document: Document) -> bytes:
        out = render(document, fmt)
        return finish(out) if finish is not None else out

    signed = with_held_signature(result)
    if signed is None:
        return rendered(doc), result
    out = rendered(signed.document) if fmt is Format.XML else None  # type: ignore[arg-type]
    dropped = signature_fate(result, fmt, out, trust_anchors)
    if dropped is None and out is not None:
        return out, signed
    assert dropped is not None
    return rendered(doc), dropped


def transfer(
    data: bytes,
    recipient: Recipient | str,
    *,
    at: datetime,
    source: str = "-",
    to: Format | None = None,
    consent: Consent | None = None,
    organisation: str | None = None,
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
        check_consent = (
            consent is not None
            or bool(validation.consents)
            or "consent" in type(document).model_fields
        )
    return validation, prepare(
        document,
        recipient,
        at=at,
        to=to or validation.format,
        consent=consent,
        consents=validation.consents,
        organisation=organisation,
        strict=strict,
        check_consent=check_consent,
        trust_anchors=trust_anchors,
        finish=finish,
    )
