"""Who is at the console: people named in ``[[users]]`` (an ``operator`` or a ``coordinator``
bound to an organisation), authenticated like every caller of the gateway, by a client
certificate (SITHS; the same identity mapping as the API's) or, in development, a token;
then a session.

* The session cookie (``__Host-``: Secure, Path=/, no Domain; HttpOnly; SameSite=Strict)
  holds a random secret; the database keeps only its SHA-256 (``console_sessions``), so
  logging out ends the session in every process and a copied database opens none. A session
  lasts :data:`LIFETIME` at most and ends after :data:`IDLE` without a request.
* Every form carries a CSRF token derived from the session secret (so a token from an
  earlier session is refused), and every POST must come from this origin (``Sec-Fetch-Site``
  / ``Origin``). The login form, before any session, is guarded by a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import ssl
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from gateway.exchange.config import Config, UserConfig
from gateway.exchange.server.auth import Identify
from gateway.exchange.tls import peer_certificate

COOKIE = "__Host-gateway-console"
LOGIN_COOKIE = "__Host-gateway-console-login"
LANGUAGE_COOKIE = "__Host-gateway-console-language"
LIFETIME = timedelta(hours=8)
IDLE = timedelta(minutes=30)
TOUCH_EVERY = timedelta(minutes=1)  # how stale ``seen_at`` may get before a request renews it


@dataclass(frozen=True)
class ConsoleUser:
    """A logged-in person, for one request."""

    config: UserConfig
    method: str  # "mtls" or "token"
    session_hash: str
    csrf: str

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def role(self) -> str:
        return self.config.role

    @property
    def actor(self) -> str:
        """How the audit trail names this person: ``operator:anna``."""
        return f"{self.config.role}:{self.config.id}"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class Users:
    """The configured console users and their credentials (tokens compared by digest, in
    constant time, every one of them)."""

    def __init__(self, config: Config, identify: Identify) -> None:
        self.identify = identify
        self._by_id = {u.id: u for u in config.users}
        self._tokens = [(_digest(u.token), u.id) for u in config.users if u.token]
        self._identities = {u.identity: u.id for u in config.users if u.identity}

    def get(self, user_id: str) -> UserConfig | None:
        return self._by_id.get(user_id)

    def by_token(self, token: str) -> UserConfig | None:
        if not token.strip():
            return None
        digest = _digest(token.strip())
        match = None
        for known, uid in self._tokens:
            if hmac.compare_digest(known, digest):
                match = uid
        return self._by_id.get(match) if match else None

    def by_certificate(self, request: web.Request) -> UserConfig | None:
        """The user whose identity the connection's verified client certificate carries."""
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return None
        cert = peer_certificate(ssl_object)
        identity = self.identify(cert) if cert else None
        uid = self._identities.get(identity) if identity else None
        return self._by_id.get(uid) if uid else None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def session_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def csrf_token(secret: str) -> str:
    return hmac.new(secret.encode("ascii", "replace"), b"console-csrf", "sha256").hexdigest()


def tokens_match(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def same_origin(request: web.Request) -> bool:
    """A POST must come from a page of ours: ``Sec-Fetch-Site`` (every current browser sends
    it) must say same-origin; a browser without it must send an ``Origin`` of this host.
    Clients that send neither (scripts) still need the CSRF token, which only a page of ours
    holds."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.partition("://")[2] == request.host
    return True


def set_cookie(
    response: web.StreamResponse, name: str, value: str, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
        max_age=max_age,
    )


def clear_cookie(response: web.StreamResponse, name: str) -> None:
    set_cookie(response, name, "", max_age=0)


__all__ = [
    "COOKIE",
    "IDLE",
    "LANGUAGE_COOKIE",
    "LIFETIME",
    "LOGIN_COOKIE",
    "TOUCH_EVERY",
    "ConsoleUser",
    "Users",
    "clear_cookie",
    "csrf_token",
    "new_secret",
    "same_origin",
    "session_hash",
    "set_cookie",
    "tokens_match",
]
