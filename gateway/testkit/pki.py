"""A throwaway PKI for loopback runs (``gateway demo``, the tests): one trustme CA, a server
certificate for 127.0.0.1, and client certificates with SITHS-style subjects (the HSA-id in
serialNumber). Keys live in a temporary directory and die with it; never for production."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path
    der: bytes


def issue_client(
    ca: trustme.CA,
    directory: Path,
    name: str,
    *,
    serial_numbers: tuple[str, ...] = (),
    common_names: tuple[str, ...] = ("client",),
) -> Pem:
    """A client certificate from ``ca`` whose subject has exactly these serialNumber and CN
    attributes (trustme cannot set serialNumber, so cryptography signs it)."""
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "SE")]
    attrs += [x509.NameAttribute(NameOID.SERIAL_NUMBER, s) for s in serial_numbers]
    attrs += [x509.NameAttribute(NameOID.COMMON_NAME, c) for c in common_names]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pem(cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))


def issue_server(ca: trustme.CA, directory: Path, name: str = "server") -> Pem:
    """A server certificate for 127.0.0.1 and localhost, chain and key as PEM files."""
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(b"".join(b.bytes() for b in leaf.cert_chain_pems))
    key_path.write_bytes(leaf.private_key_pem.bytes())
    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER
    )
    return Pem(cert_path, key_path, der)


def write_ca(ca: trustme.CA, directory: Path) -> Path:
    path = directory / "ca.pem"
    path.write_bytes(ca.cert_pem.bytes())
    return path
