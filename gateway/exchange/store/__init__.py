"""Stores behind one protocol (:mod:`.base`): ``sqlite:///path/to/file.db`` (the embedded
default, under ``./gateway-data/``) and ``postgresql://…`` (:mod:`.postgresql`, class
``PostgreSQLStore(url)``). :func:`open_store` picks one by URL scheme; nothing else in the
gateway names a database."""

from __future__ import annotations

from gateway.exchange.store.base import Store, StoreError, masked

DEFAULT_URL = "sqlite:///gateway-data/gateway.db"


def store_for(url: str, *, caller_clock: bool = False) -> Store:
    """The store for ``url`` (not yet opened). Raises ValueError for an unknown scheme.
    ``caller_clock``: leases and due times on the caller's ``now`` even where the store has
    a clock of its own (PostgreSQL): for tests that move time (store/base.py)."""
    if url.startswith("sqlite:"):
        from gateway.exchange.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        from gateway.exchange.store.postgresql import PostgreSQLStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = PostgreSQLStore(url, caller_clock=caller_clock)
        return store
    raise ValueError(
        f"unknown database URL scheme in {url!r}: use sqlite:///PATH or postgresql://…"
    )


__all__ = ["DEFAULT_URL", "Store", "StoreError", "masked", "store_for"]
