"""Throwaway XML-DSig signing for tests: a CA and a signing certificate generated per test
session with ``cryptography`` (nothing checked in), and signxml to sign a rendered RIVTA
certificate the way a signing service would (enveloped, ``Reference URI=""``, inside
``underskrift``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree
from signxml.signer import XMLSigner

from gateway.formats.rivta.namespaces import INTYG, UNDERSKRIFT

DS = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class Signer:
    ca_pem: bytes
    key: rsa.RSAPrivateKey
    cert_pem: bytes


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@cache
def signer(name: str = "Test signing CA") -> Signer:
    """A CA and a doctor's signing certificate issued by it (cached per name)."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert(name, ca_key, name, ca_key, ca=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _cert("Ingrid Andersson Larsson", key, name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    return Signer(ca.public_bytes(pem), key, leaf.public_bytes(pem))


def sign(rendered: bytes, who: Signer | None = None) -> bytes:
    """``rendered`` (a RIVTA certificate without signature) signed as a whole, the signature in
    ``intyg/underskrift``, serialised without changing anything else."""
    who = who or signer()
    root = etree.fromstring(rendered)
    intyg = root.find(INTYG)
    assert intyg is not None
    underskrift = etree.SubElement(intyg, UNDERSKRIFT)
    etree.SubElement(underskrift, f"{{{DS}}}Signature", Id="placeholder", nsmap={"ds": DS})
    signed = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        root, key=who.key, cert=who.cert_pem.decode()
    )
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8", standalone=True)
