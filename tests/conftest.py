from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from gateway import PROJECT_ROOT

pytest_plugins = ["pg_fixtures"]  # PostgreSQL schemas for the store tests

#: Inera's reference material beside the project (never copied into it).
INTEROP = PROJECT_ROOT.parent / "shared" / "interop"
SAMPLES = INTEROP / "sklintyg"
RIVTA = INTEROP / "rivta"

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE: "full" (the default, and CI's: every
# property with its own number of examples, derandomized when CI is set, so a red CI is a real
# failure and reproducible) and "fast" for day-to-day runs: every property still runs, on at
# most FAST_EXAMPLES examples (a test's own @settings(max_examples=...) is capped too).
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "full")
FAST = PROFILE == "fast"
FAST_EXAMPLES = 10
settings.register_profile(
    "full",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=bool(os.environ.get("CI")),
)
settings.register_profile("fast", settings.get_profile("full"), max_examples=FAST_EXAMPLES)
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fast profile caps the examples of tests that set their own."""
    if not FAST:
        return
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)  # hypothesis' own slot
        if own is not None and own.max_examples > FAST_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(own, max_examples=FAST_EXAMPLES)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def interop() -> Path:
    assert INTEROP.is_dir(), f"{INTEROP} is missing: ../shared must sit beside the project"
    return INTEROP


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a failing test: a skip hides a feature that is missing."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("skipped") and session.exitstatus == 0:
        reporter.write_line("skipped tests count as failures here", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


#: The stores every store test runs against.
STORES = ["sqlite", "postgresql"]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for a fresh, empty store of each kind (PostgreSQL: a new schema of this
    session's, pg_fixtures.py)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gateway.db"
    if request.param == "postgresql":
        make: Callable[[], str] = request.getfixturevalue("postgresql_url")
        return make()
    raise AssertionError(f"no store fixture for {request.param}")


@pytest.fixture
def new_store(store_url: str):  # type: ignore[no-untyped-def]
    """A factory of unopened stores on one fresh database (open them inside the test's loop);
    several calls give several connections to the same database, like several processes.
    Leases and due times follow the test's clock (tests move time); the database's own clock
    is tested in test_store_postgresql.py and by the real servers of the crash tests."""
    from gateway.exchange.store import store_for

    return lambda: store_for(store_url, caller_clock=True)
