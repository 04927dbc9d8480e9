"""The exchange server's HTTP side: the aiohttp app (:mod:`.app`), its handlers, sender
authentication, group commit, metrics, the OpenAPI document, and ``gateway serve``."""
