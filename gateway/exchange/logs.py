"""The exchange server's logs: one line per event, as JSON (default, for log shippers) or for
humans, on standard error; the level and format from ``[server] log_level/log_format`` or
``gateway serve --log-level/--log-format``.

Every line has ``ts``, ``level``, ``logger``, ``event`` and ``msg``; the other fields are
ids and codes (docs/exchange/logging.md lists them): message, delivery and recipient ids,
sender, kind, rule codes, HTTP status, verdict, attempt. Never payload text, never a
recipient's reason text, never an exception's message (it may quote input): an exception is
logged by its type and where it was raised; ``--log-level debug`` adds the traceback.

aiohttp's own loggers go through the same handler; its parser's complaint about a malformed
request (e.g. a header holding a NUL byte, answered 400) becomes one line, not a traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

#: LogRecord attributes that are not fields of ours.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
#: fields every line may carry besides its own (set once per process: the worker's number)
STATIC: dict[str, Any] = {}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record's own fields (what the call passed as ``extra``)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    frame = tb[-1]
    return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"


def _exception(record: logging.LogRecord, debug: bool) -> dict[str, Any]:
    if not record.exc_info or record.exc_info[1] is None:
        return {}
    exc = record.exc_info[1]
    out: dict[str, Any] = {"error": type(exc).__name__, "where": _where(exc)}
    if debug:
        out["traceback"] = "".join(traceback.format_exception(exc))
    return out


class JsonFormatter(logging.Formatter):
    def __init__(self, debug: bool = False) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or record.name.rsplit(".", 1)[-1],
            "msg": record.getMessage(),
            **STATIC,
            **{k: v for k, v in fields(record).items() if k != "event"},
            **_exception(record, self.debug),
        }
        return orjson.dumps(line, default=str).decode()


class HumanFormatter(logging.Formatter):
    def __init__(self, debug: bool = False) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        more = {**STATIC, **fields(record), **_exception(record, False)}
        tail = " ".join(f"{k}={v}" for k, v in more.items() if v is not None)
        text = f"{ts}Z {record.levelname:<7} {record.name}: {record.getMessage()}"
        text = f"{text}  [{tail}]" if tail else text
        if self.debug and record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception(record.exc_info[1])).rstrip()
        return text


class MalformedRequests(logging.Filter):
    """aiohttp logs a request its parser refuses (answered 400) with a full traceback, and
    the exception's text quotes the offending bytes: one line instead, by type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        from aiohttp.http_exceptions import HttpProcessingError

        if isinstance(exc, HttpProcessingError):
            status = getattr(exc, "code", 400)
            record.msg = "malformed request refused: %s (HTTP %s)"
            record.args = (type(exc).__name__, status)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"  # the client's fault
            record.__dict__.update(
                event="malformed-request", status=status, error=type(exc).__name__
            )
        return True


def setup(
    level: str = "info",
    fmt: str = "json",
    *,
    stream: TextIO | None = None,
    static: Mapping[str, Any] | None = None,
) -> logging.Handler:
    """Route the gateway's and aiohttp's loggers to one handler on ``stream`` (stderr)."""
    debug = level == "debug"
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(debug) if fmt == "json" else HumanFormatter(debug))
    STATIC.clear()
    STATIC.update(static or {})
    for name in ("gateway", "aiohttp", "asyncio"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_gateway", False):
                logger.removeHandler(old)
        handler._gateway = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(_LEVELS[level] if name == "gateway" else max(_LEVELS[level], logging.INFO))
        logger.propagate = False
    malformed = MalformedRequests()
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access"):
        logging.getLogger(name).addFilter(malformed)
    return handler


__all__ = ["STATIC", "HumanFormatter", "JsonFormatter", "MalformedRequests", "fields", "setup"]
