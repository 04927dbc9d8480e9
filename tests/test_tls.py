"""TLS contexts and who a client certificate speaks for (SITHS: the HSA-id in the subject's
serialNumber), checked over real handshakes on loopback with a throwaway trustme PKI."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from pki import Pki, issue_client, make_pki

from gateway.exchange.tls import fingerprint, peer_certificate, sender_identity


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def test_hsa_id_in_serial_number_is_the_identity(pki: Pki) -> None:
    cert = issue_client(pki.ca, pki.directory, "a", serial_numbers=("SE2321000016-1234",))
    assert sender_identity(cert.der) == "SE2321000016-1234"
    long_form = issue_client(pki.ca, pki.directory, "b", serial_numbers=("SE162321000255-O12",))
    assert sender_identity(long_form.der) == "SE162321000255-O12"


@pytest.mark.parametrize(
    "serials",
    [
        ("197001011234",),  # a personal eID's personnummer is not a system's identity
        ("SE2321000016-1234", "SE2321000016-9999"),  # two: ambiguous
        ("se2321000016-1234 ",),
        (),
    ],
)
def test_no_identity_without_exactly_one_hsa_id(pki: Pki, serials: tuple[str, ...]) -> None:
    cert = issue_client(pki.ca, pki.directory, "c", serial_numbers=serials)
    assert sender_identity(cert.der) is None


def test_a_common_name_cannot_smuggle_a_serial_number(pki: Pki) -> None:
    cert = issue_client(
        pki.ca, pki.directory, "d", common_names=("x, serialNumber=SE2321000016-1234",)
    )
    assert sender_identity(cert.der) is None
    assert sender_identity(cert.der, by_common_name={"x": "acme"}) is None


def test_configured_mappings_by_fingerprint_and_common_name(pki: Pki) -> None:
    cert = issue_client(pki.ca, pki.directory, "e", common_names=("hr-system.acme.se",))
    assert sender_identity(cert.der, by_common_name={"hr-system.acme.se": "acme-hr"}) == "acme-hr"
    pinned = {fingerprint(cert.der): "pinned-sender"}
    assert sender_identity(cert.der, by_fingerprint=pinned) == "pinned-sender"
    two_cns = issue_client(pki.ca, pki.directory, "f", common_names=("a", "a"))
    assert sender_identity(two_cns.der, by_common_name={"a": "acme"}) is None
    assert sender_identity(b"not a certificate") is None


async def _identify(pki: Pki, client: ssl.SSLContext, *, require_client_cert: bool = True) -> str:
    """Serve one handler that answers with the caller's identity; call it once."""

    async def who(request: web.Request) -> web.Response:
        der = peer_certificate(request.transport.get_extra_info("ssl_object"))  # type: ignore[union-attr]
        return web.Response(text=str(der and sender_identity(der)))

    app = web.Application()
    app.router.add_get("/", who)
    runner = web.AppRunner(app)
    await runner.setup()
    context = pki.server_context(require_client_cert=require_client_cert)
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    port = runner.addresses[0][1]
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client)) as session,
            session.get(f"https://127.0.0.1:{port}/") as resp,
        ):
            return await resp.text()
    except aiohttp.ClientError as exc:
        return f"refused: {type(exc).__name__}"
    finally:
        await runner.cleanup()


def test_the_server_learns_the_verified_client_identity(pki: Pki) -> None:
    assert asyncio.run(_identify(pki, pki.client_context())) == "SE2321000016-GW01"


def test_the_server_refuses_a_client_without_a_certificate(pki: Pki) -> None:
    from gateway.exchange.tls import client_context

    bare = client_context([pki.ca_pem])
    assert asyncio.run(_identify(pki, bare)).startswith("refused: ")
    # a server that also takes bearer tokens lets it in, with no identity
    assert asyncio.run(_identify(pki, bare, require_client_cert=False)) == "None"


def test_the_server_refuses_a_certificate_from_another_ca(pki: Pki, tmp_path: Path) -> None:
    stranger = issue_client(
        trustme.CA(), tmp_path, "stranger", serial_numbers=("SE2321000016-GW01",)
    )
    assert asyncio.run(_identify(pki, pki.client_context(stranger))).startswith("refused: ")
    # not even when bearer tokens are allowed: a certificate presented is a certificate checked
    got = asyncio.run(_identify(pki, pki.client_context(stranger), require_client_cert=False))
    assert got.startswith("refused: ")


def test_the_client_refuses_a_server_of_another_ca(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = make_pki(tmp_path / "other")
    got = asyncio.run(_identify(other, pki.client_context(), require_client_cert=False))
    assert got.startswith("refused: ")
