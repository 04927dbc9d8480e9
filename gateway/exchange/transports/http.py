"""What the push transports share: one aiohttp session per transport (keep-alive to one
recipient), a POST that turns every network failure into an :class:`Answer` instead of an
exception, and the parts of an HTTP answer that decide its verdict."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

import aiohttp

from gateway.exchange.transport import Answer, Verdict

#: The header a recipient drops duplicates by: the delivery id, the same on every attempt
#: (the IETF ``Idempotency-Key`` draft's name).
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
#: The most of an answer's body a transport reads: enough for any receipt or error.
MAX_BODY: Final = 64 * 1024
#: The longest recipient reason kept in :attr:`Answer.detail`.
MAX_REASON: Final = 300
#: A Retry-After further away than this is capped (the outbox's own maximum backs off too).
MAX_RETRY_AFTER: Final = 3600.0

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def reason(text: str) -> str:
    """A recipient's reason made safe to show: one line, bounded."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= MAX_REASON else flat[: MAX_REASON - 1] + "…"


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """HTTP ``Retry-After`` in seconds (delta-seconds or an HTTP-date), capped; ``None`` when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    truncated: bool


class HttpPoster:
    """POSTs to one URL over a lazily opened session (it needs the running loop)."""

    def __init__(
        self, url: str, *, ssl_context: ssl.SSLContext | None, timeout: float, name: str
    ) -> None:
        self.url = url
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._name = name
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32),
                # no cookies, no env proxies: a delivery goes to its configured endpoint only
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def post(self, url: str, data: bytes, headers: Mapping[str, str]) -> HttpAnswer | Answer:
        """The recipient's HTTP answer, or a RETRY :class:`Answer` for a network failure
        (refused, reset, TLS handshake, timeout), named by the exception's class only."""
        try:
            async with self._open().post(
                url, data=data, headers=dict(headers), allow_redirects=False
            ) as resp:
                body = await resp.content.read(MAX_BODY)
                truncated = not resp.content.at_eof()
                return HttpAnswer(resp.status, resp.reason or "", resp.headers, body, truncated)
        except TimeoutError:
            return Answer(Verdict.RETRY, f"{self._name}: timed out")
        except aiohttp.ClientSSLError as exc:
            return Answer(Verdict.RETRY, f"{self._name}: TLS failed ({type(exc).__name__})")
        except (aiohttp.ClientError, OSError) as exc:
            return Answer(Verdict.RETRY, f"{self._name}: connection failed ({type(exc).__name__})")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def status_line(answer: HttpAnswer) -> str:
    return f"HTTP {answer.status} {answer.reason}".rstrip()


def http_verdict(status: int) -> Verdict:
    """The verdict of an HTTP status alone: 2xx delivered; 408, 429 and 5xx may succeed
    later; any other answer (3xx not followed, 4xx) will not."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (408, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.PERMANENT
