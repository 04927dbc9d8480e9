"""The exchange step: the server that receives, routes, stores and delivers messages
(docs/architecture.md). Imports nothing eagerly: ``gateway validate`` must not pay for it.
The transfer service every front door uses lives in :mod:`gateway.transfer`."""
