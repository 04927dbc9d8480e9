"""How the console writes values: times in Swedish time, ages, short hashes, and audit
details as metadata (every free text through :func:`gateway.console.mask.mask_person_ids`;
a policy report as its actions, paths and rule codes, never its messages)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from gateway.console.mask import mask_person_ids

ZONE = ZoneInfo("Europe/Stockholm")
_HASH_KEYS = frozenset({"sha256", "hash", "content_hash"})
_MAX_TEXT = 240


def local_time(value: datetime | None, seconds: bool = True) -> str:
    if value is None:
        return "–"
    return value.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def utc_time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def age(value: datetime | None, now: datetime) -> str:
    """``3 min``, ``2 h 5 min``, ``4 d 3 h`` (units read the same in both languages)."""
    if value is None:
        return "–"
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def short_hash(value: str | None) -> str:
    return "–" if not value else value[:12]


def text(value: object) -> str:
    """A free text as an operator may read it: person ids masked, bounded in length."""
    s = mask_person_ids(str(value))
    return s if len(s) <= _MAX_TEXT else s[: _MAX_TEXT - 1] + "…"


def _report(entries: list[Any]) -> str:
    parts = []
    for e in entries:
        if isinstance(e, Mapping):
            bits = [str(e.get(k)) for k in ("action", "code", "path") if e.get(k)]
            parts.append(" ".join(bits))
    return "; ".join(parts) if parts else "–"


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def iso_local(value: str | None) -> str:
    """An ISO time as the index keeps it (``received_at``), in Swedish time."""
    moment = _moment(value) if value else None
    return local_time(moment) if moment is not None else (value or "–")


def figure(value: float | None) -> str:
    """A count as a count (the statistics keep floats), a rate with up to two decimals."""
    if value is None:
        return "–"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def detail_items(detail: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An audit record's detail as (key, text) pairs for display."""
    items = []
    for key in sorted(detail):
        value = detail[key]
        if key in _HASH_KEYS and isinstance(value, str):
            shown = short_hash(value)
        elif key == "report" and isinstance(value, list):
            shown = text(_report(value))
        elif isinstance(value, list | dict):
            shown = text(orjson.dumps(value).decode())
        elif value is None:
            shown = "–"
        elif isinstance(value, bool):
            shown = "true" if value else "false"
        elif key.endswith("_at") and isinstance(value, str) and (moment := _moment(value)):
            shown = local_time(moment)
        else:
            shown = text(value)
        items.append((key, shown))
    return items


FILTERS = {
    "local_time": local_time,
    "utc_time": utc_time,
    "short_hash": short_hash,
    "text": text,
    "detail_items": detail_items,
    "iso_local": iso_local,
    "figure": figure,
}

__all__ = [
    "FILTERS",
    "ZONE",
    "age",
    "detail_items",
    "figure",
    "iso_local",
    "local_time",
    "short_hash",
    "text",
    "utc_time",
]
