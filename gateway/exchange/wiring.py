"""From configuration to objects: the transport of each push recipient, built through the
transports' own constructors (``gateway/exchange/transports/``) with the gateway's client
TLS context. Kept apart from :mod:`.config` so reading a config never imports a network
stack."""

from __future__ import annotations

import ssl
from importlib import import_module
from typing import Any

from gateway.exchange.config import Config, ConfigError, TlsFiles
from gateway.exchange.tls import client_context
from gateway.exchange.transport import Transport


def client_ssl_context(files: TlsFiles | None) -> ssl.SSLContext:
    """Verifies recipients (the given CA, else the system's) and presents the gateway's own
    certificate when configured."""
    trusted = [files.ca] if files is not None and files.ca is not None else None
    cert = files.cert if files is not None else None
    return client_context(trusted, cert_chain=cert, key=files.key if files else None)


def build_transports(config: Config) -> dict[str, Transport]:
    """One transport per push recipient. Raises ConfigError when one cannot be built."""
    out: dict[str, Transport] = {}
    problems: list[str] = []
    ctx: ssl.SSLContext | None = None
    for r in config.recipients:
        if r.push is None:
            continue
        if r.push.url.startswith("https://") and ctx is None:
            try:
                ctx = client_ssl_context(config.client_tls)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError("config", [f"client_tls: {exc}"]) from None
        use_ctx = ctx if r.push.url.startswith("https://") else None
        try:
            if r.push.kind == "fhir":
                cls: Any = import_module("gateway.exchange.transports.fhir_push").FhirPushTransport
                out[r.id] = cls(r.push.url, ssl_context=use_ctx, timeout=r.push.timeout)
            else:
                cls = import_module("gateway.exchange.transports.rivta_soap").RivtaSoapTransport
                out[r.id] = cls(
                    r.push.url,
                    r.push.logical_address or r.organisation,
                    ssl_context=use_ctx,
                    timeout=r.push.timeout,
                )
        except ImportError:
            problems.append(f"recipients.{r.id}.push: the {r.push.kind} transport is not installed")
    if problems:
        raise ConfigError("config", problems)
    return out


__all__ = ["build_transports", "client_ssl_context"]
