"""Swedish and English labels (``labels/sv.toml``, ``labels/en.toml``), Swedish by default.

The language is the one the operator chose with the switch (a cookie), else the first of
``Accept-Language`` we have, else Swedish. Labels load once per process.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("sv", "en")
DEFAULT = "sv"


@cache
def labels(language: str) -> Mapping[str, str]:
    """The flat ``section.key -> text`` table of one language."""
    text = (resources.files("gateway.console") / "labels" / f"{language}.toml").read_text("utf-8")
    flat: dict[str, str] = {}

    def walk(prefix: str, table: Mapping[str, Any]) -> None:
        for key, value in table.items():
            if isinstance(value, Mapping):
                walk(f"{prefix}{key}.", value)
            else:
                flat[f"{prefix}{key}"] = str(value)

    walk("", tomllib.loads(text))
    return flat


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """The language for a request (see the module docstring)."""
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else DEFAULT


class Translator:
    """``t("nav.overview")`` -> the label in one language; ``t(key, n=3)`` fills ``{n}``."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._labels = labels(language)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._labels.get(key)
        if text is None:  # a missing label is a bug: show the key rather than fail the page
            return key
        return text.format(**values) if values else text

    def code(self, section: str, value: str) -> str:
        """A code's label (``section.value``), else the code as it is: a code added to a
        document kind shows as itself until it has a label."""
        return self._labels.get(f"{section}.{value}", value)


__all__ = ["DEFAULT", "LANGUAGES", "Translator", "labels", "negotiate"]
