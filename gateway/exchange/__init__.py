"""The exchange step: the server that receives, routes, stores and delivers messages
(docs/architecture.md). Nothing is imported here: `gateway validate` reads the config
through `gateway.exchange.config` and must not pay for the policy stack (issue 21)."""
