"""The console's read model: one protocol (:mod:`.base`), one module per database beside the
exchange store's. :func:`read_model_for` picks the one for a store."""

from __future__ import annotations

from gateway.console.readmodel.base import ReadModel
from gateway.exchange.store.base import Store


def read_model_for(store: Store) -> ReadModel:
    """The read model over ``store`` (not yet opened). TypeError for a store of another kind."""
    from gateway.exchange.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        from gateway.console.readmodel.sqlite import SQLiteReadModel

        return SQLiteReadModel(store.path)
    if store.url.startswith(("postgresql:", "postgres:")):
        from gateway.console.readmodel.postgresql import PostgreSQLReadModel

        return PostgreSQLReadModel(store)
    raise TypeError(f"the console has no read model for {type(store).__name__}")


__all__ = ["ReadModel", "read_model_for"]
