"""Our own FHIR base URL: the one setting under which the gateway mints its URIs (code
systems, extensions, profiles, its own identifier systems: ``{base}`` in ``mappings/``).

An integrator sets it once: ``--fhir-base-url URL`` on the command line, else the environment
variable ``GATEWAY_FHIR_BASE_URL``, else ``[fhir] base_url`` in gateway.toml, else the
placeholder ``base`` of ``mappings/fhir-systems.toml`` (gateway/cli/fhir_base.py reads them).
It is fixed before the FHIR codecs load (systems.py reads :func:`settings` once, at import), so
no message pays for it. ``gateway fhir-artefacts`` writes the published artefacts of
``schemas/fhir/`` for it.

Documents written under an earlier base still read: the placeholder, and whatever
``[fhir] earlier_base_urls`` lists. :func:`rebase` turns their URIs into the current base's as
the codec loads them, only for a document whose bytes name an earlier base (a byte search:
the documents of the current base pay nothing else).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

ENV = "GATEWAY_FHIR_BASE_URL"
ENV_EARLIER = "GATEWAY_FHIR_EARLIER_BASE_URLS"  # space-separated
_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_configured: tuple[str | None, tuple[str, ...]] = (None, ())
_loaded: tuple[str, tuple[str, ...]] | None = None  # what the codecs loaded with
_placeholder = ""


class BaseUrlError(ValueError):
    """A base URL that cannot be one (not an absolute http(s) URL), or set too late."""


def check(url: str, what: str = "the FHIR base URL") -> str:
    """``url`` as a base: absolute http(s), no query or fragment, no trailing slash."""
    if not _URL.match(url):
        raise BaseUrlError(f"{what} must be an absolute http(s) URL, not {url!r}")
    return url.rstrip("/")


def configure(base: str | None, earlier: Sequence[str] = ()) -> None:
    """Set the base (None: the environment's, else the placeholder) and the earlier bases
    whose documents still read. Must come before the FHIR codecs load; setting again what
    they loaded with is fine."""
    global _configured
    wanted = (check(base) if base else None, tuple(check(e, "an earlier base") for e in earlier))
    if _loaded is not None and _resolve(wanted, _placeholder) != _loaded:
        raise BaseUrlError("the FHIR base URL is set after the FHIR codecs loaded another one")
    _configured = wanted


def settings(placeholder: str) -> tuple[str, tuple[str, ...]]:
    """(the base, the earlier bases), ``placeholder`` the mappings' own: read once, by
    systems.py at import."""
    global _loaded, _placeholder
    if _loaded is None:
        _placeholder = placeholder
        _loaded = _resolve(_configured, placeholder)
    return _loaded


def _resolve(
    configured: tuple[str | None, tuple[str, ...]], placeholder: str
) -> tuple[str, tuple[str, ...]]:
    from_env = os.environ.get(ENV)
    base = configured[0] or (check(from_env, ENV) if from_env else placeholder)
    earlier = [*configured[1], *os.environ.get(ENV_EARLIER, "").split(), placeholder]
    return base, tuple(dict.fromkeys(e for e in map(check, earlier) if e != base))


# -- documents written under an earlier base ---------------------------------------------


def rebase(tree: dict[str, Any], data: bytes, base: str, earlier: tuple[str, ...]) -> None:
    """Rewrite, in place, the URIs of ``tree`` (the document ``data`` was loaded into) that
    start with an earlier base to the current ``base``. Only elements of FHIR type uri, url
    and canonical are touched: a text that mentions an old URL is left as sent."""
    for old in earlier:
        if old.encode() in data:
            _walk(tree, str(tree.get("resourceType", "")), old, base)


@cache
def _types(ftype: str) -> dict[str, str]:
    from gateway.formats.fhir.conformance import element_table

    return {name: spec[0] for name, spec in element_table().get(ftype, {}).items()}


_URI_TYPES = frozenset({"uri", "url", "canonical"})


def _walk(node: dict[str, Any], ftype: str, old: str, new: str) -> None:
    types = _types(ftype)
    for key, value in node.items():
        ctype = types.get(key.lstrip("_"), "")
        if key.startswith("_"):
            ctype = "Element"
        if ctype == "Resource":
            ctype = ""  # a resource's own type says
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                _walk(item, ctype or str(item.get("resourceType", "")), old, new)
            elif ctype in _URI_TYPES and isinstance(item, str) and _under(item, old):
                if isinstance(value, list):
                    value[i] = new + item[len(old) :]
                else:
                    node[key] = new + item[len(old) :]


def _under(uri: str, base: str) -> bool:
    return uri.startswith(base) and (len(uri) == len(base) or uri[len(base)] in "/#")


__all__ = ["ENV", "ENV_EARLIER", "BaseUrlError", "check", "configure", "rebase", "settings"]
