"""The tests' throwaway PKI (gateway/testkit/pki.py, made by trustme; nothing checked in):
a CA, a server certificate for 127.0.0.1 and a gateway client certificate."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

from gateway.exchange.tls import client_context, server_context
from gateway.testkit.pki import Pem, issue_client, issue_server

__all__ = ["Pem", "Pki", "issue_client", "make_pki"]


@dataclass
class Pki:
    ca: trustme.CA
    directory: Path
    server: Pem
    gateway: Pem

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def server_context(self, *, require_client_cert: bool = True) -> ssl.SSLContext:
        return server_context(
            self.server.cert,
            self.server.key,
            [self.ca_pem],
            require_client_cert=require_client_cert,
        )

    def client_context(self, client: Pem | None = None) -> ssl.SSLContext:
        who = client or self.gateway
        return client_context([self.ca_pem], cert_chain=who.cert, key=who.key)


def make_pki(directory: Path) -> Pki:
    """A fresh CA, its files under ``directory`` (a test's tmp_path)."""
    ca = trustme.CA()
    gateway = issue_client(
        ca, directory, "gateway", serial_numbers=("SE2321000016-GW01",), common_names=("gw",)
    )
    return Pki(ca, directory, issue_server(ca, directory), gateway)
