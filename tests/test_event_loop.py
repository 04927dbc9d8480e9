"""``[server] event_loop``: uvloop where it is installed (auto), asyncio's own on request, and
a named startup fault when uvloop is asked for and missing."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
import uvloop

from gateway.exchange.config import ConfigError, parse
from gateway.exchange.server.serve import StartupError, use_event_loop


@pytest.fixture(autouse=True)
def _default_policy() -> Iterator[None]:
    yield
    asyncio.set_event_loop_policy(None)  # the rest of the suite runs on asyncio's loop


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_auto_and_uvloop_run_every_loop_on_uvloop() -> None:
    for setting in ("auto", "uvloop"):
        assert use_event_loop(setting) == "uvloop"
        assert asyncio.run(_loop_type()) is uvloop.Loop
        asyncio.set_event_loop_policy(None)


def test_asyncio_keeps_the_standard_loop() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # as a policy set before would
    assert use_event_loop("asyncio") == "asyncio"
    assert asyncio.run(_loop_type()) is not uvloop.Loop


def test_uvloop_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert use_event_loop("auto") == "asyncio"
    with pytest.raises(StartupError) as raised:
        use_event_loop("uvloop")
    assert str(raised.value).startswith("server.event_loop: uvloop is not installed here")


def test_the_setting_is_read_and_checked() -> None:
    assert parse({}).server.event_loop == "auto"
    assert parse({"server": {"event_loop": "asyncio"}}).server.event_loop == "asyncio"
    with pytest.raises(ConfigError) as raised:
        parse({"server": {"event_loop": "tokio"}})
    assert "server.event_loop: 'tokio' is not one of auto, uvloop, asyncio" in str(raised.value)
