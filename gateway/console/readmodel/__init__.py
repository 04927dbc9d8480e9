"""The console's read model: one protocol (:mod:`.base`), one module per database beside the
exchange store's. :func:`read_model_for` picks the one for a store."""

from __future__ import annotations

from gateway.console.readmodel.base import ReadModel
from gateway.exchange.store.base import Store


def read_model_for(store: Store) -> ReadModel:
    """The read model over ``store`` (not yet opened), by its URL's database: SQLite reads
    the store's file, PostgreSQL its pool. TypeError for a store of another kind."""
    url = str(getattr(store, "url", ""))
    if url.startswith("sqlite:"):
        from gateway.console.readmodel.sqlite import SQLiteReadModel

        return SQLiteReadModel(str(getattr(store, "path", "")))
    if url.startswith(("postgresql:", "postgres:")):
        from gateway.console.readmodel.postgresql import PostgreSQLReadModel

        return PostgreSQLReadModel(store)
    raise TypeError(f"the console has no read model for {type(store).__name__} ({url!r})")


__all__ = ["ReadModel", "read_model_for"]
