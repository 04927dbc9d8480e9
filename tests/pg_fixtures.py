"""PostgreSQL for the store tests: the server this machine (and CI's) runs at 127.0.0.1:5432,
database ``test``. Several engineers' suites share it, so each session works in schemas of its
own (``gw_test_<pid>_<random>_<n>``, a fresh one per store) and drops them all at the end.
An unreachable server fails the tests loudly: a skipped store test would hide a broken store.

Run as a script (``.ci/run`` does) it checks the server answers and exits 1 with a clear
message if not.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import sys
from collections.abc import Callable, Iterator

import asyncpg
import pytest

#: override with GATEWAY_TEST_POSTGRESQL (the database must exist; we only make schemas)
SERVER = os.environ.get("GATEWAY_TEST_POSTGRESQL", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = f"gw_test_{os.getpid()}_{secrets.token_hex(3)}"


async def _reachable() -> str | None:
    """None when the server answers, else why not."""
    try:
        conn = await asyncpg.connect(SERVER, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def unreachable_message(why: str) -> str:
    return (
        f"PostgreSQL is not reachable at {SERVER} ({why}). The store tests need it: start the "
        "server (trust auth, database 'test') or point GATEWAY_TEST_POSTGRESQL at one."
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop_schemas(*, stale: bool = False) -> None:
    """Drop this session's schemas, or (``stale``) those of test sessions on this host whose
    process is gone (killed before it could drop its own); a live session's are never touched."""
    conn = await asyncpg.connect(SERVER)
    try:
        names = [
            r[0]
            for r in await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1",
                "gw\\_test\\_%" if stale else PREFIX + "%",
            )
        ]
        if stale:
            names = [
                n for n in names if n.split("_")[2].isdigit() and not _alive(int(n.split("_")[2]))
            ]
        for name in names:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[str]:
    """The server's URL, checked once per session; every schema we made is dropped after."""
    why = asyncio.run(_reachable())
    if why is not None:
        pytest.fail(unreachable_message(why), pytrace=False)
    asyncio.run(_drop_schemas(stale=True))
    yield SERVER
    asyncio.run(_drop_schemas())


_counter = itertools.count(1)


@pytest.fixture
def postgresql_url(postgresql_server: str) -> Callable[[], str]:
    """Makes store URLs, each naming a fresh schema (the store creates and migrates it)."""

    def make() -> str:
        return f"{postgresql_server}?schema={PREFIX}_{next(_counter)}&pool_max=4"

    return make


if __name__ == "__main__":
    problem = asyncio.run(_reachable())
    if problem is not None:
        print(unreachable_message(problem), file=sys.stderr)
        sys.exit(1)
    print(f"PostgreSQL answers at {SERVER}")
