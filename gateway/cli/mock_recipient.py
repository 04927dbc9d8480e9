"""``gateway mock-recipient --role ROLE [--port PORT] [--fail-first N] [--answer RESULT]
[--quiet]``: a recipient endpoint (FHIR push at /fhir, RIVTA SOAP at /rivta answering like
Försäkringskassan) that records and shows what it received, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from gateway.cli.common import UsageError, add_command
from gateway.documents import Recipient

if TYPE_CHECKING:
    from gateway.testkit.mock_recipient import MockRecipient


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        subparsers,
        "mock-recipient",
        help="run a recipient endpoint (FHIR push, RIVTA SOAP) that records what it receives",
        description="A recipient endpoint for tests and integrators: POST /fhir (FHIR push), "
        "POST /rivta (RIVTA SOAP: RegisterCertificate v3, SendMessageToRecipient v2, "
        "answering like Försäkringskassan), GET /received (what it took in), "
        "GET /received/N (one receipt's bytes). Repeats of a delivery are recognised and "
        "not recorded twice. Runs until interrupted (Ctrl-C, SIGTERM).",
        examples=[
            "gateway mock-recipient --role employer --port 9001",
            "gateway mock-recipient --role forsakringskassan --fail-first 2",
            "gateway mock-recipient --role forsakringskassan --answer VALIDATION_ERROR",
            "gateway mock-recipient --role employer --tls cert.pem key.pem --client-ca ca.pem",
            "gateway mock-recipient --role forsakringskassan --quiet   # under load",
        ],
    )
    p.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Recipient],
        help="the recipient it plays, e.g. --role forsakringskassan",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on, e.g. --host 127.0.0.1 (default)"
    )
    p.add_argument(
        "--port", type=int, default=0, help="port (default: any free one), e.g. --port 9001"
    )
    p.add_argument(
        "--fail-first",
        type=int,
        default=0,
        metavar="N",
        help="fail the first N attempts of each delivery (HTTP 503 / RIVTA TECHNICAL_ERROR), "
        "e.g. --fail-first 2",
    )
    p.add_argument(
        "--answer",
        default="OK",
        metavar="RESULT",
        help="answer every attempt with RESULT: OK, INFO, VALIDATION_ERROR, "
        "APPLICATION_ERROR, TECHNICAL_ERROR, REVOKED, FAULT, or an HTTP status, e.g. 422",
    )
    p.add_argument(
        "--require-certificate",
        action="store_true",
        help="as intygstjänsten: SendMessageToRecipient only for a certificate it registered, "
        "of the same patient (else ERROR APPLICATION_ERROR), e.g. --require-certificate",
    )
    p.add_argument(
        "--tls",
        nargs=2,
        metavar=("CERT", "KEY"),
        help="serve HTTPS with this certificate chain and key (PEM files), "
        "e.g. --tls cert.pem key.pem",
    )
    p.add_argument(
        "--client-ca",
        action="append",
        metavar="FILE",
        help="with --tls: require client certificates issued by this CA (repeatable), "
        "e.g. --client-ca ca.pem",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no line per receipt (GET /received still lists them): for load tests, where "
        "a thousand lines a second cost the machine more than the receipts, e.g. --quiet",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gateway.testkit.mock_recipient import MockRecipient, check_answer

    try:
        answer = check_answer(args.answer)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.fail_first < 0:
        raise UsageError("--fail-first must be 0 or more")
    if args.client_ca and not args.tls:
        raise UsageError("--client-ca needs --tls")
    context = None
    if args.tls:
        import ssl

        from gateway.exchange.tls import server_context

        try:
            context = server_context(
                args.tls[0],
                args.tls[1],
                args.client_ca or [],
                require_client_cert=bool(args.client_ca),
            )
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"--tls: cannot load the certificate or key: {exc}") from None
    mock = MockRecipient(
        args.role,
        fail_first=args.fail_first,
        answer=answer,
        require_certificate=args.require_certificate,
        ssl_context=context,
        log=None if args.quiet else (lambda line: print(line, flush=True)),
    )
    return asyncio.run(_serve(mock, args.host, args.port))


async def _serve(mock: MockRecipient, host: str, port: int) -> int:
    try:
        url = await mock.start(host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    print(
        f"mock {mock.role} listening on {url} (FHIR push {mock.fhir_url}, "
        f"RIVTA SOAP {mock.rivta_url}, received {url}/received)",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await mock.stop()
    print(f"mock {mock.role}: stopped after {len(mock.received)} receipts", file=sys.stderr)
    return 0
