"""Who is calling: every request except the operational ones (/health, /ready, /metrics,
/openapi.json) must authenticate, by the client certificate of a mutual-TLS connection
(its identity mapped to a configured sender or pull recipient) or, for development, by a
bearer token from the config. Nothing unauthenticated gets past :func:`principal_of`.

And how often: a token bucket per principal (:class:`RateLimiter`, ``rate_limit`` in the
config); a caller over its limit is answered ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.exchange.config import Config, RateLimit, RecipientConfig, SenderConfig
from gateway.exchange.tls import common_name, peer_certificate, sender_identity

#: A verified client certificate (DER) -> its identity, or None.
Identify = Callable[[bytes], str | None]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a sender, a pull recipient, or both (one id)."""

    id: str
    sender: SenderConfig | None
    recipient: RecipientConfig | None
    method: str  # "mtls" or "token"


def certificate_identity(der: bytes) -> str | None:
    """The identity a client certificate carries: for SITHS the HSA-id in the subject's
    serialNumber (:func:`gateway.exchange.tls.sender_identity`: exactly one, shaped like an
    HSA-id), otherwise the subject's single commonName."""
    return sender_identity(der) or common_name(der)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class Authenticator:
    """Maps credentials to principals; tokens are compared by digest in constant time."""

    def __init__(self, config: Config, identify: Identify = certificate_identity) -> None:
        self.identify = identify
        self._tokens: list[tuple[bytes, str]] = []
        self._identities: dict[str, str] = {}
        self._principals: dict[str, Principal] = {}
        ids = {s.id for s in config.senders} | {r.id for r in config.recipients if r.pull}
        for pid in sorted(ids):
            s = config.sender(pid)
            r = config.recipient(pid)
            r = r if r is not None and r.pull else None
            for who in (s, r):
                if who is None:
                    continue
                if who.token is not None:
                    self._tokens.append((_digest(who.token), pid))
                if who.identity is not None:
                    self._identities[who.identity] = pid
            self._principals[pid] = Principal(pid, s, r, "")

    def _principal(self, pid: str, method: str) -> Principal:
        p = self._principals[pid]
        return Principal(p.id, p.sender, p.recipient, method)

    def authenticate(self, request: web.Request) -> Principal | None:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            cert = peer_certificate(ssl_object)
            if cert:
                identity = self.identify(cert)
                if identity is not None and identity in self._identities:
                    return self._principal(self._identities[identity], "mtls")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            digest = _digest(token.strip())
            match = None
            for known, pid in self._tokens:
                if hmac.compare_digest(known, digest):
                    match = pid
            if match is not None:
                return self._principal(match, "token")
        return None


class RateLimiter:
    """A token bucket per principal: its own ``rate_limit`` (sender's, else pull
    recipient's), else ``[server] rate_limit``. ``share``: this process's part of the limit
    when ``--workers N`` processes enforce it (1/N each)."""

    def __init__(
        self, config: Config, share: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.share = share
        self.clock = clock
        self.default = config.server.rate_limit
        self._limits: dict[str, RateLimit] = {}
        everyone: list[SenderConfig | RecipientConfig] = [*config.recipients, *config.senders]
        for who in everyone:  # a sender's own limit wins
            if who.rate_limit is not None:
                self._limits[who.id] = who.rate_limit
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, principal: str) -> float | None:
        """Spend one request of ``principal``'s: ``None`` when allowed, else the seconds
        until the next one would be."""
        limit = self._limits.get(principal, self.default)
        if limit.per_second <= 0:
            return None
        rate = limit.per_second * self.share
        burst = max(1.0, limit.burst * self.share)
        now = self.clock()
        tokens, last = self._buckets.get(principal, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1:
            self._buckets[principal] = (tokens - 1, now)
            return None
        self._buckets[principal] = (tokens, now)
        return (1 - tokens) / rate


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


__all__ = ["Authenticator", "Principal", "RateLimiter", "certificate_identity", "retry_after"]
