"""The exchange step: one transfer service every front door uses, and (being built) the
server that receives, routes, stores and delivers messages (docs/architecture.md)."""

from gateway.exchange.transfer import Transfer, prepare, transfer

__all__ = ["Transfer", "prepare", "transfer"]
