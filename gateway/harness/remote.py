"""The harness against a running target (``gateway harness --target URL``): the same fixtures
and the same comparison (:func:`~gateway.harness.fixtures.compare_result`) as in-process, the
answers taken over HTTP(S) instead.

Two kinds of target:

* ``gateway``: a running gateway's dry runs. Every fixture is posted to ``POST /validate``
  and its answer compared with ``<name>.expected.json`` (verdict, kind, format, and the exact
  multiset of code, severity and location); every ``<name>.redaction.<recipient>.json`` beside
  it is checked against ``POST /redact?for=<recipient>`` (refused or not, and each report
  entry).
* ``fhir-push`` / ``rivta-soap``: a recipient's endpoint (an integrator's, or ``gateway
  mock-recipient``). Every valid fixture is rendered as the gateway would deliver it to
  ``--recipient`` (policy applied, in that transport's format) and handed over with the
  gateway's own transport; each must be accepted. Fixtures the gateway would not send there
  (refused by policy, or not writable in that format) are not played.

Network and TLS failures and refused credentials stop the run (:class:`TargetError`, exit 2):
nothing could pass. Any other answer is one fixture's failure, described.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.harness import TARGET_KINDS
from gateway.harness.fixtures import (
    Fixture,
    compare_redaction,
    compare_result,
    redactions,
    send_expectation,
)

#: Försäkringskassan's RIVTA logical address, as the gateway's own configuration uses it.
FK_LOGICAL_ADDRESS = "2021005521"
#: The most of an answer read (a validation result of a large batch document is far less).
MAX_ANSWER = 16 * 1024 * 1024


class TargetError(Exception):
    """The target cannot be played against at all (unreachable, TLS, credentials)."""


@dataclass(frozen=True)
class Target:
    url: str
    kind: str = "gateway"
    token: str | None = None
    cert: str | None = None
    key: str | None = None
    ca: Sequence[str] = ()
    recipient: str = "forsakringskassan"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetError(f"--target {self.url!r}: not an http:// or https:// URL")
        if parts.scheme == "http" and (self.cert or self.ca):
            raise TargetError("--cert and --ca need an https:// target")
        if self.key and not self.cert:
            raise TargetError("--key needs --cert")
        if self.kind not in TARGET_KINDS:
            raise TargetError(f"--target-kind must be one of {', '.join(TARGET_KINDS)}")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https:"):
            return None
        from gateway.exchange.tls import client_context

        try:
            return client_context(list(self.ca) or None, cert_chain=self.cert, key=self.key)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TargetError(f"--cert/--key/--ca: cannot load: {exc}") from None


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not JSON."""
        if "json" not in self.content_type:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def describe(self) -> str:
        return f"HTTP {self.status} {self.content_type or 'without a content type'}"


class Client:
    """Synchronous HTTP(S) to one target: its CA and client certificate only, no proxies
    from the environment, every transport failure a :class:`TargetError`."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.base = target.url.rstrip("/")
        context = target.ssl_context()
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self._opener = urllib.request.build_opener(*handlers)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> Answer:
        headers = {"Accept": "application/json", **(extra or {})}
        if content_type:
            headers["Content-Type"] = content_type
        if self.target.token:
            headers["Authorization"] = f"Bearer {self.target.token}"
        url = self.base + path
        req = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.target.timeout) as resp:
                return Answer(
                    resp.status, resp.headers.get("Content-Type", ""), resp.read(MAX_ANSWER)
                )
        except urllib.error.HTTPError as exc:
            with exc:
                return Answer(exc.code, exc.headers.get("Content-Type", ""), exc.read(MAX_ANSWER))
        except urllib.error.URLError as exc:
            raise TargetError(f"{url}: {_network_reason(exc.reason)}") from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise TargetError(f"{url}: TLS failed: {_ssl_reason(exc)}") from None
        except TimeoutError:
            raise TargetError(f"{url}: no answer within {self.target.timeout:g} s") from None
        except (http.client.HTTPException, ConnectionError) as exc:
            raise TargetError(
                f"{url}: not an HTTP answer ({type(exc).__name__}): is it http:// vs https://?"
            ) from None

    def reach(self) -> None:
        """Fail early and clearly when the target does not answer at all."""
        self.request("GET", "/health" if self.target.kind == "gateway" else "")


def _ssl_reason(exc: BaseException) -> str:
    return getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)


def _network_reason(reason: object) -> str:
    if isinstance(reason, ssl.SSLError | ssl.CertificateError):
        return f"TLS failed: {_ssl_reason(reason)}"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the gateway running, and on this port?)"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    if isinstance(reason, OSError):
        return f"cannot connect: {reason.strerror or type(reason).__name__}"
    return f"cannot connect: {reason}"


@dataclass
class RemoteOutcome:
    """One fixture played against the target: what it answered and how that differs."""

    fixture: Fixture
    got: dict[str, Any] | None
    mismatches: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def summary(self) -> str:
        if self.note:
            return self.note
        got = self.got or {}
        valid = got.get("valid")
        verdict = "valid" if valid is True else "invalid" if valid is False else "no verdict"
        issues = got.get("issues")
        listed = issues if isinstance(issues, list) else []
        codes = ",".join(sorted({str(i.get("code")) for i in listed if isinstance(i, dict)}))
        return f"{verdict}  {codes or '-'}"


def media_type(fixture: Fixture) -> str:
    """What a sender would say the fixture is (never a FHIR type: the gateway would answer an
    OperationOutcome, and the harness reads the CLI's result object)."""
    return "application/json" if fixture.path.name.lower().endswith(".json") else "application/xml"


def _auth_failure(answer: Answer, what: str) -> None:
    if answer.status in (401, 403):
        raise TargetError(
            f"{what}: the target refused the credentials ({answer.describe()}): give "
            "--token, or --cert/--key for mutual TLS, of a configured sender"
        )


#: The report entry of ``gateway redact`` for a document that carries no consent record.
_NOT_CHECKED = ("note", "consent", "POLICY-CONSENT-NOT-CHECKED")


#: The note of ``gateway redact`` that it did not compare the recipient's organisation.
_ORGANISATION_NOT_CHECKED = "POLICY-CONSENT-ORGANISATION-NOT-CHECKED"


def as_served(expected: dict[str, Any]) -> dict[str, Any]:
    """The expected report as a server gives it. ``<name>.redaction.*.json`` is what ``gateway
    redact`` previews, which renders a document without a consent record and notes
    ``POLICY-CONSENT-NOT-CHECKED``; the server always checks consent (docs/exchange/api.md),
    so there the same document is refused for want of one, and that is the expectation. The
    server also compares the organisation a consent names with the recipient's configured
    one, which the preview notes it did not."""
    report = [e for e in expected.get("report", []) if e.get("code") != _ORGANISATION_NOT_CHECKED]
    expected = {**expected, "report": report}
    if not any(
        (e.get("action"), e.get("path"), e.get("code")) == _NOT_CHECKED
        for e in expected.get("report", [])
    ):
        return expected
    missing = {"action": "refused", "path": "consent", "code": "POLICY-CONSENT-MISSING"}
    return {**expected, "refused": True, "report": [missing]}


def play_gateway(client: Client, fixture: Fixture) -> RemoteOutcome:
    data = fixture.path.read_bytes()
    answer = client.request("POST", "/validate", data, media_type(fixture))
    _auth_failure(answer, "POST /validate")
    got = answer.json()
    if answer.status != 200 or not isinstance(got, dict):
        return RemoteOutcome(
            fixture,
            None,
            [
                "POST /validate: expected HTTP 200 with a validation result, got "
                + answer.describe()
            ],
            note=f"no verdict  ({answer.describe()})",
        )
    mismatches = compare_result(fixture.expected, got)
    for recipient, expected in redactions(fixture.path).items():
        path = "/redact?" + urllib.parse.urlencode({"for": recipient})
        redacted = client.request("POST", path, data, media_type(fixture))
        _auth_failure(redacted, f"POST {path}")
        report = redacted.json()
        if (
            redacted.status not in (200, 422)
            or not isinstance(report, dict)
            or ("report" not in report)
        ):
            mismatches.append(
                f"POST {path}: expected a redaction report, got {redacted.describe()}"
            )
            continue
        mismatches += [
            f"redaction for {recipient}: {m}"
            for m in compare_redaction(as_served(expected), report)
        ]
    send = send_expectation(fixture.path)
    if send is not None:
        mismatches += [f"send: {m}" for m in play_send(client, fixture, data, send)]
    return RemoteOutcome(fixture, got, mismatches)


#: Delivery states that may still change (docs/exchange/api.md).
_UNSETTLED = ("pending", "retrying")


def play_send(client: Client, fixture: Fixture, data: bytes, send: dict[str, Any]) -> list[str]:
    """``POST /messages`` as a sender would, then ``GET /messages/{id}`` until every delivery
    has settled: each recipient's state (and the rules of a refusal) as ``<name>.send.json``
    expects; for a recipient that names its ``role`` (and ``format``), the redaction report
    of its copy through ``POST /redact`` (the engine a send uses; the message status does not
    show reports or formats, docs/exchange/api.md)."""
    extra = {"Gateway-Recipients": str(send["to"])} if send.get("to") else {}
    answer = client.request("POST", "/messages", data, media_type(fixture), extra)
    _auth_failure(answer, "POST /messages")
    body = answer.json()
    want_status = int(send.get("status", 202))
    expected: dict[str, dict[str, Any]] = send["recipients"]
    if answer.status != want_status or not isinstance(body, dict):
        codes = _codes(body)
        return [f"POST /messages: expected HTTP {want_status}, got {answer.describe()}{codes}"]
    if want_status != 202:  # every recipient refused: the rules are the answer's issues
        want = sorted({r for e in expected.values() for r in e.get("rules", [])})
        got = sorted({str(i.get("code")) for i in body.get("issues", []) if isinstance(i, dict)})
        return [f"rules: expected {want}, got {got}"] if want != got else []
    out = _answered(body, expected)
    final = _settled(client, str(body.get("status_url") or f"/messages/{body.get('message_id')}"))
    for rid, exp in sorted(expected.items()):
        state = final.get(rid, {})
        if state.get("state") != exp["state"]:
            why = f" ({state['last_error']})" if state.get("last_error") else ""
            out.append(f"{rid}: expected {exp['state']}, got {state.get('state')}{why}")
        if "report" in exp and "role" in exp:
            out += [f"{rid}: {m}" for m in _redaction(client, fixture, data, rid, exp)]
    return out


def _answered(body: dict[str, Any], expected: dict[str, dict[str, Any]]) -> list[str]:
    """The ``202``'s recipients and the rules of each one's refusal, as expected."""
    out: list[str] = []
    answered = {r.get("recipient"): r for r in body.get("recipients", []) if isinstance(r, dict)}
    if set(answered) != set(expected):
        out.append(f"recipients: expected {sorted(expected)}, got {sorted(map(str, answered))}")
    for rid, exp in sorted(expected.items()):
        rules = sorted(answered.get(rid, {}).get("rules") or [])
        if sorted(exp.get("rules", [])) != rules:
            out.append(f"{rid}: rules: expected {sorted(exp.get('rules', []))}, got {rules}")
    return out


def _codes(body: Any) -> str:
    issues = body.get("issues") if isinstance(body, dict) else None
    if not isinstance(issues, list):
        return ""
    return " " + str(sorted({str(i.get("code")) for i in issues if isinstance(i, dict)}))


def _settled(client: Client, status_url: str) -> dict[str, dict[str, Any]]:
    """Each recipient's delivery state once none is pending or retrying any more (or the
    target's timeout has passed: then as it stands)."""
    deadline = time.monotonic() + client.target.timeout
    while True:
        answer = client.request("GET", status_url)
        body = answer.json()
        states = {
            str(r.get("recipient")): r
            for r in (body.get("recipients", []) if isinstance(body, dict) else [])
            if isinstance(r, dict)
        }
        if all(r.get("state") not in _UNSETTLED for r in states.values()):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.1)  # a delivery takes milliseconds; polling is what a sender does too


def _redaction(
    client: Client, fixture: Fixture, data: bytes, rid: str, exp: dict[str, Any]
) -> list[str]:
    """The copy ``rid`` received, as ``POST /redact`` decides it for that very recipient
    (its organisation and format included): the decision a send made."""
    query = {"for": rid, **({"to": exp["format"]} if "format" in exp else {})}
    path = "/redact?" + urllib.parse.urlencode(query)
    answer = client.request("POST", path, data, media_type(fixture))
    report = answer.json()
    if not isinstance(report, dict) or "report" not in report:
        return [f"POST {path}: expected a redaction report, got {answer.describe()}"]
    out = compare_redaction(as_served({"report": exp["report"]}), report)
    if report.get("render_error"):  # the copy cannot be written in the recipient's format
        out.append(f"{exp.get('format')}: expected a copy, got {report['render_error']}")
    return out


def play_recipient(target: Target, fixtures: list[Fixture]) -> Iterator[RemoteOutcome]:
    """Deliver every valid fixture, as the gateway would, to a recipient's endpoint."""
    from gateway.exchange.transport import Parcel, Verdict
    from gateway.formats.base import Format
    from gateway.transfer import prepare
    from gateway.validation.service import validate_bytes

    fmt = Format.FHIR_JSON if target.kind == "fhir-push" else Format.XML
    now = datetime.now(UTC)
    parcels: list[tuple[Fixture, Parcel]] = []
    for f in fixtures:
        if f.expected.get("valid") is not True:
            continue
        v = validate_bytes(f.path.read_bytes(), source=str(f.path))
        if not v.valid or v.document is None:
            continue  # the in-process harness reports that fixture; nothing to deliver
        to = (
            Format.RIVTA_MESSAGE
            if fmt is Format.XML and v.document.kind == "section4-notification"
            else fmt
        )
        t = prepare(v.document, target.recipient, at=now, to=to, check_consent=False)
        if t.refused or t.payload is None:
            continue
        parcels.append(
            (
                f,
                Parcel(
                    f"harness-{len(parcels)}-{now.timestamp():.0f}",
                    f"harness-{f.name}",
                    target.recipient,
                    v.document.kind,
                    to,
                    t.payload,
                    "application/fhir+json" if to is Format.FHIR_JSON else "application/xml",
                ),
            )
        )
    answers = asyncio.run(_deliver(target, [p for _, p in parcels]))
    for (f, parcel), answer in zip(parcels, answers, strict=True):
        played = f"{parcel.format} copy for {target.recipient}"
        if answer.verdict is Verdict.DELIVERED:
            yield RemoteOutcome(f, None, note=f"accepted  {played}")
        else:
            yield RemoteOutcome(
                f,
                None,
                [f"{played}: expected accepted, got {answer.verdict}: {answer.detail}"],
                note=f"rejected  {played}",
            )


async def _deliver(target: Target, parcels: list[Any]) -> list[Any]:
    from gateway.exchange.transports.fhir_push import FhirPushTransport
    from gateway.exchange.transports.rivta_soap import RivtaSoapTransport

    context = target.ssl_context()
    transport: FhirPushTransport | RivtaSoapTransport
    if target.kind == "fhir-push":
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
        transport = FhirPushTransport(
            target.url, ssl_context=context, timeout=target.timeout, headers=headers
        )
    else:
        transport = RivtaSoapTransport(
            target.url, FK_LOGICAL_ADDRESS, ssl_context=context, timeout=target.timeout
        )
    try:
        return [await transport.deliver(p) for p in parcels]
    finally:
        await transport.close()
