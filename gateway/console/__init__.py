"""The console: web pages for operators and coordinators, served by ``gateway serve`` under
``/console/`` (docs/console.md). Server-rendered HTML (Jinja2) that works without JavaScript;
a small script refreshes live parts. Operators see metadata only (ids, states, rule codes,
hashes, the recipients' own answers), never a document or a personnummer.

* :mod:`.app` — the sub-application, its middleware (sessions, roles, CSRF, headers);
* :mod:`.auth` — users, credentials, session cookies, CSRF tokens;
* :mod:`.views` — the pages; :mod:`.charts` — SVG drawn on the server;
* :mod:`.readmodel` — the queries, one module per database; :mod:`.i18n` — sv/en labels.
"""

from __future__ import annotations

from gateway.console.app import add_console

__all__ = ["add_console"]
