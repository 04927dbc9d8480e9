"""TLS for the exchange: the server's context (client certificates required and verified
against the configured CAs), the push clients' context (the gateway's own certificate,
the recipient verified), and who a client certificate speaks for.

Certificates and keys are files (PEM), as the config names them; a CA may also be given as
PEM bytes. Only TLS 1.2 and later are offered.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

PathLike = str | Path
#: A CA bundle: a PEM file, or PEM data.
CaSource = PathLike | bytes

#: An HSA-id: country code, the organisation's number (10 or 12 digits), a suffix
#: (``SE2321000016-1234``, ``SE162321000255-O12345``). A personal SITHS eID may carry a
#: personnummer in serialNumber instead: that is not an identity the gateway accepts.
HSA_ID: Final = re.compile(r"[A-Z]{2}\d{10}(?:\d{2})?-[A-Za-z0-9]{1,40}")


def _load_cas(context: ssl.SSLContext, cas: Iterable[CaSource]) -> None:
    for ca in cas:
        if isinstance(ca, bytes):
            context.load_verify_locations(cadata=ca.decode("ascii"))
        else:
            context.load_verify_locations(cafile=str(ca))


def server_context(
    cert_chain: PathLike,
    key: PathLike,
    client_cas: Iterable[CaSource],
    *,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    """The front door's context. With ``require_client_cert`` (the default) a client
    without a certificate from ``client_cas`` fails the handshake; ``False`` lets a
    client in without one (bearer tokens, for development) but still verifies any
    certificate it does present."""
    # not create_default_context: it would trust the system's CAs for client certificates,
    # and any public CA could then issue a certificate with a configured CN
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_chain), str(key))
    _load_cas(context, client_cas)
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_context(
    trusted: Iterable[CaSource] | None = None,
    *,
    cert_chain: PathLike | None = None,
    key: PathLike | None = None,
) -> ssl.SSLContext:
    """A push client's context: the recipient's certificate and host name are verified
    against ``trusted`` only (the system's CAs when ``None``); ``cert_chain``/``key`` is the
    gateway's own certificate for mutual TLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificate and host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if trusted is None:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        _load_cas(context, trusted)
    if cert_chain is not None:
        context.load_cert_chain(str(cert_chain), None if key is None else str(key))
    return context


def fingerprint(der: bytes) -> str:
    """SHA-256 of the certificate, lower-case hex without separators."""
    return hashlib.sha256(der).hexdigest()


def _single(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    """The attribute's value when the subject has it exactly once (two CNs or two
    serialNumbers are ambiguous, and an ambiguous identity is none)."""
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def sender_identity(
    der: bytes,
    *,
    by_fingerprint: Mapping[str, str] | None = None,
    by_common_name: Mapping[str, str] | None = None,
) -> str | None:
    """Who a (verified) client certificate speaks for, or ``None``.

    1. ``by_fingerprint``: a pinned certificate (its SHA-256, see :func:`fingerprint`)
       maps to the identity configured for it;
    2. SITHS: the HSA-id in the subject's ``serialNumber`` attribute (how Inera's services
       and SITHS function certificates identify a system), when it is one;
    3. ``by_common_name``: the subject's CN maps to the identity configured for it.

    The subject is read from the parsed certificate, attribute by attribute, never from a
    DN string, so a CN holding ``", serialNumber=SE…"`` stays a CN."""
    if by_fingerprint:
        pinned = by_fingerprint.get(fingerprint(der))
        if pinned is not None:
            return pinned
    try:
        subject = x509.load_der_x509_certificate(der).subject
    except ValueError:
        return None
    serial = _single(subject, NameOID.SERIAL_NUMBER)
    if serial is not None and HSA_ID.fullmatch(serial):
        return serial
    if by_common_name:
        cn = _single(subject, NameOID.COMMON_NAME)
        if cn is not None:
            return by_common_name.get(cn)
    return None


def common_name(der: bytes) -> str | None:
    """The subject's commonName when it has exactly one."""
    try:
        return _single(x509.load_der_x509_certificate(der).subject, NameOID.COMMON_NAME)
    except ValueError:
        return None


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    """The verified client certificate (DER) of a connection, if it presented one; in
    aiohttp: ``peer_certificate(request.transport.get_extra_info("ssl_object"))``. ``None``
    on a context that verifies nothing (there the certificate would be the client's say-so)."""
    if ssl_object is None or ssl_object.context.verify_mode == ssl.CERT_NONE:
        return None
    return ssl_object.getpeercert(binary_form=True)
