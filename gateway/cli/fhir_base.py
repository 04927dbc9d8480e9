"""``--fhir-base-url URL``: the base of the URIs the gateway mints in FHIR (its code systems,
extensions, profiles), read before any FHIR codec loads: the option, else the environment's
``GATEWAY_FHIR_BASE_URL``, else ``[fhir] base_url`` of the config file, else the placeholder
of ``mappings/fhir-systems.toml`` (gateway/formats/fhir/base.py). ``[fhir] earlier_base_urls``
lists the bases documents may still be written under (the placeholder always reads)."""

from __future__ import annotations

import argparse
import os

from gateway.cli.common import UsageError, load_config


def add_option(parser: argparse.ArgumentParser) -> None:
    """``--fhir-base-url``, before and after the subcommand alike (as ``--config``)."""
    parser.add_argument(
        "--fhir-base-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="the base of the gateway's own FHIR URIs (default: GATEWAY_FHIR_BASE_URL, "
        "[fhir] base_url, else the placeholder), e.g. --fhir-base-url https://gw.region.se/fhir",
    )


def apply(args: argparse.Namespace) -> None:
    """Fix the FHIR base for this process and the workers it starts (their environment)."""
    from gateway.formats.fhir.base import ENV, ENV_EARLIER, BaseUrlError, check, configure

    table = load_config(getattr(args, "config", None)).get("fhir", {})
    url = getattr(args, "fhir_base_url", None)
    where = "--fhir-base-url"
    if url is None and os.environ.get(ENV):
        url, where = os.environ[ENV], ENV
    if url is None and "base_url" in table:
        url, where = table["base_url"], "[fhir] base_url"
    earlier = table.get("earlier_base_urls", [])
    if url is not None and not isinstance(url, str):
        raise UsageError(f"{where} must be a URL string")
    if not isinstance(earlier, list) or not all(isinstance(e, str) for e in earlier):
        raise UsageError("[fhir] earlier_base_urls must be a list of URLs")
    try:
        for e in earlier:
            check(e, "each of [fhir] earlier_base_urls")
    except BaseUrlError as exc:
        raise UsageError(str(exc)) from None
    try:
        configure(url, earlier)
    except BaseUrlError as exc:
        raise UsageError(f"{where}: {exc}") from None
    if url is not None:
        os.environ[ENV] = url
    if earlier:
        os.environ[ENV_EARLIER] = " ".join(earlier)


__all__ = ["add_option", "apply"]
