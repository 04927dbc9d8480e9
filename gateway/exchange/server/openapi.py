"""The HTTP API as a contract: every route is declared once, beside its handler, with what it
takes and every answer it can give; the OpenAPI 3.1 document (served at ``/openapi.json``,
copied to ``docs/exchange/openapi.json``) is generated from the routes the app really has.

A handler module keeps an :class:`Api` table and declares each operation on it::

    API = Api()

    @API.get("/deadlines", "listDeadlines", "Deadlines due", access=SENDER,
             replies=[Reply(200, "the deadlines", DeadlinesAnswer), problem(404, "...")])
    async def get_deadlines(request: web.Request) -> web.StreamResponse: ...

    API.add_to(app)  # in the app factory: the routes, and their declarations for the document

What an operation's declaration does not repeat is added from its kind: an authenticated one
(``access``) answers ``401`` (no or unknown credentials) and ``429`` with ``Retry-After``
(the per-sender rate limit); one with a request body answers ``413`` and ``415``. The JSON
answers' schemas come from the typed dicts in :mod:`.shapes` that the handlers build. A route
added to the app without a declaration makes :func:`document` fail: nothing goes undocumented
(a page that is not part of the API, e.g. the console's HTML, is declared ``in_document=False``).
docs/exchange/api.md says how to declare an operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import TypeAdapter

from gateway import __version__
from gateway.documents import Recipient
from gateway.exchange.server import shapes
from gateway.formats.base import Format

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)
Json = dict[str, Any]
Where = Literal["path", "query", "header"]

#: Who may call an operation: anyone (``OPEN``), any authenticated caller (``CALLER``), or
#: a caller in a role (the security requirement names the role).
OPEN = "open"
CALLER = "caller"
SENDER = "sender"
PULL_RECIPIENT = "pull-recipient"

PROBLEM_TYPE = "application/problem+json"
FHIR_JSON = "application/fhir+json"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Header:
    """A response header."""

    name: str
    description: str
    schema: Json
    required: bool = True


RETRY_AFTER = Header(
    "Retry-After", "seconds to wait before sending again", {"type": "integer", "minimum": 0}
)
LOCATION = Header(
    "Location", "the message's status URL (GET it)", {"type": "string", "format": "uri-reference"}
)
WWW_AUTHENTICATE = Header("WWW-Authenticate", "the scheme to authenticate with", {"type": "string"})


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: a value of this answer that names what another operation reads."""

    name: str
    operation_id: str
    parameters: Mapping[str, str]
    description: str
    request_body: str | None = None  # a runtime expression, e.g. "$request.body"


@dataclass(frozen=True)
class Reply:
    """One answer an operation can give: ``shape`` (a typed dict of :mod:`.shapes`) is its
    ``application/json`` body, ``content`` maps other media types to their schemas (a reply
    with neither has no body)."""

    status: int
    description: str
    shape: type | None = None
    content: Mapping[str, Json] | None = None
    headers: tuple[Header, ...] = ()
    links: tuple[Link, ...] = ()


def problem(status: int, description: str, *headers: Header) -> Reply:
    """An error answer with every issue: ``application/problem+json``, or an
    OperationOutcome for a FHIR sender (a FHIR ``Content-Type`` or ``Accept``)."""
    content = {
        PROBLEM_TYPE: {"$ref": _REF.format(model="Problem")},
        FHIR_JSON: {"$ref": _REF.format(model="OperationOutcome")},
    }
    return Reply(status, description, content=content, headers=headers)


@dataclass(frozen=True)
class Param:
    """A path, query or header parameter."""

    name: str
    where: Where
    schema: Json
    description: str
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class Body:
    """A request body: a schema per media type the operation reads."""

    description: str
    content: Mapping[str, Json]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    description: str = ""
    access: str = OPEN  # OPEN, CALLER, SENDER or PULL_RECIPIENT
    params: tuple[Param, ...] = ()
    body: Body | None = None
    replies: tuple[Reply, ...] = ()
    tags: tuple[str, ...] = ()
    in_document: bool = True  # False: a route that is not part of the API (HTML pages)

    def all_replies(self) -> list[Reply]:
        """The declared answers and those the operation's kind implies, by status."""
        implied: list[Reply] = []
        if self.access != OPEN:
            implied += [UNAUTHENTICATED, RATE_LIMITED]
        if self.body is not None:
            implied += [TOO_LARGE, UNSUPPORTED_MEDIA]
        by_status = {r.status: r for r in implied}
        by_status.update({r.status: r for r in self.replies})  # a declaration says it better
        return [by_status[s] for s in sorted(by_status)]


UNAUTHENTICATED = problem(401, "no or unknown credentials", WWW_AUTHENTICATE)
RATE_LIMITED = problem(
    429, "over the caller's rate limit; send again after Retry-After", RETRY_AFTER
)
TOO_LARGE = problem(413, "the body is larger than server.max_body_bytes")
UNSUPPORTED_MEDIA = problem(415, "not a media type this operation reads, or not what it says")
STORE_UNAVAILABLE = problem(
    503,
    "the store does not answer (or the server is saturated): nothing was done; send again "
    "after Retry-After",
    RETRY_AFTER,
)

#: The app's declared operations (filled by :meth:`Api.add_to`).
OPERATIONS: web.AppKey[list[Operation]] = web.AppKey("operations")
_DOCUMENT: web.AppKey[dict[str, Json]] = web.AppKey("openapi-document")
_ACCESS: web.AppKey[dict[tuple[str, str], str]] = web.AppKey("access")


class Api:
    """A table of declared operations and their handlers (like aiohttp's RouteTableDef)."""

    def __init__(self) -> None:
        self.routes: list[tuple[Operation, Handler]] = []

    def operation(
        self, method: str, path: str, operation_id: str, summary: str, **kw: Any
    ) -> Callable[[H], H]:
        op = Operation(method.upper(), path, operation_id, summary, **_tuples(kw))

        def declare(handler: H) -> H:
            self.routes.append((op, handler))
            return handler

        return declare

    def get(self, path: str, operation_id: str, summary: str, **kw: Any) -> Callable[[H], H]:
        return self.operation("GET", path, operation_id, summary, **kw)

    def post(self, path: str, operation_id: str, summary: str, **kw: Any) -> Callable[[H], H]:
        return self.operation("POST", path, operation_id, summary, **kw)

    def add_to(self, app: web.Application) -> None:
        """Add the routes to ``app`` (a GET answers HEAD too) and their declarations to
        ``app[OPERATIONS]``."""
        if OPERATIONS not in app:
            app[OPERATIONS] = []
            app[_ACCESS] = {}
            app[_DOCUMENT] = {}
        for op, handler in self.routes:
            app[_ACCESS][op.method, op.path] = op.access
            if op.access == OPEN:  # another method on an open path: 405, not 401
                app[_ACCESS]["*", op.path] = OPEN
            if op.method == "GET":
                app.router.add_get(op.path, handler)
            else:
                app.router.add_route(op.method, op.path, handler)
            app[OPERATIONS].append(op)


def access_of(request: web.Request) -> str:
    """Who may call the route ``request`` matched. Another method on an open path is open
    (its answer is 405); no route at all is ``CALLER``: a stranger learns nothing about
    which paths exist."""
    access = request.app[_ACCESS]
    resource = request.match_info.route.resource
    if resource is None:  # no route, or not for this method
        return access.get(("*", request.path), CALLER)
    method = "GET" if request.method == "HEAD" else request.method
    return access.get((method, resource.canonical), CALLER)


def _tuples(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}


class Undeclared(Exception):
    """A route of the app has no declaration (or a declaration no route)."""


def document_of(app: web.Application) -> Json:
    """The app's OpenAPI document, made once per app (start-up work, not per request)."""
    cache = app[_DOCUMENT]
    if "document" not in cache:
        cache["document"] = document(app)
    return cache["document"]


def document(app: web.Application) -> Json:
    """The OpenAPI 3.1 document of the routes ``app`` has. Raises :class:`Undeclared` when a
    route lacks a declaration, so that nothing the server answers goes undocumented."""
    declared = {(op.method, op.path): op for op in app.get(OPERATIONS, [])}
    routed: set[tuple[str, str]] = set()
    for route in app.router.routes():
        method, path = route.method, route.resource.canonical if route.resource else ""
        if method == "HEAD" and ("GET", path) in declared:
            continue  # aiohttp answers HEAD for every GET
        routed.add((method, path))
    missing = sorted(routed - set(declared))
    stale = sorted(set(declared) - routed)
    if missing or stale:
        raise Undeclared(
            f"routes without a declaration: {missing}; declarations without a route: {stale}"
        )
    return build([op for op in declared.values() if op.in_document])


def build(operations: Iterable[Operation]) -> Json:
    """The document for ``operations`` (see :func:`document`)."""
    schemas = _Schemas()
    paths: dict[str, Json] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sjukskrivning gateway exchange API",
            "version": __version__,
            "summary": "Receive, route, deliver and audit sick-leave and rehabilitation documents.",
            "description": "Senders post documents and messages and read their state; pull "
            "recipients fetch and acknowledge their deliveries; the dry runs are the CLI's "
            "engine over HTTP. Every error answer carries every issue with its stable rule "
            "code (`gateway explain CODE`), as application/problem+json or, for a FHIR "
            "sender, an OperationOutcome. See docs/exchange/api.md.",
            "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "tags": [
            {"name": "messages", "description": "Send, and follow what became of it"},
            {"name": "inbox", "description": "Pull delivery for recipients that run no server"},
            {"name": "dry runs", "description": "The CLI's engine; nothing stored or sent"},
            {"name": "operations", "description": "Liveness, readiness, metrics, this document"},
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "mtls": {
                    "type": "mutualTLS",
                    "description": "A client certificate the gateway's CA issued; its identity "
                    "(SITHS HSA-id, else its commonName) is a configured sender's or pull "
                    "recipient's.",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A configured token (development).",
                },
            },
            "schemas": schemas.all(),
        },
    }


class _Schemas:
    """components.schemas: the shapes answers use, plus the error and body schemas."""

    def __init__(self) -> None:
        self.schemas: dict[str, Json] = {
            "OperationOutcome": OPERATION_OUTCOME,
            "FhirResource": FHIR_RESOURCE,
            "FhirBundle": FHIR_BUNDLE,
        }

    def ref(self, shape: type) -> Json:
        schema = TypeAdapter(shape).json_schema(ref_template=_REF)
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas[name] = _tidy(sub)
        self.schemas[shape.__name__] = _tidy(schema)
        return {"$ref": _REF.format(model=shape.__name__)}

    def all(self) -> Json:
        self.ref(shapes.Problem)
        return dict(sorted(self.schemas.items()))


def _tidy(schema: Json) -> Json:
    """pydantic's schema without the titles it makes up from property names."""
    out = {k: v for k, v in schema.items() if k != "title" or "properties" in schema}
    if "properties" in out:
        out["properties"] = {
            k: {x: y for x, y in v.items() if x != "title"} for k, v in out["properties"].items()
        }
    return out


def _operation(op: Operation, schemas: _Schemas) -> Json:
    out: Json = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    if op.tags:
        out["tags"] = list(op.tags)
    roles = [] if op.access == CALLER else [op.access]
    out["security"] = [] if op.access == OPEN else [{"mtls": roles}, {"bearer": roles}]
    if op.params:
        out["parameters"] = [_param(p) for p in op.params]
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "description": op.body.description,
            "content": {t: {"schema": s} for t, s in op.body.content.items()},
        }
    out["responses"] = {str(r.status): _reply(r, schemas) for r in op.all_replies()}
    return out


def _param(p: Param) -> Json:
    out: Json = {"name": p.name, "in": p.where, "description": p.description}
    if p.required or p.where == "path":
        out["required"] = True
    out["schema"] = p.schema
    if p.example is not None:
        out["example"] = p.example
    return out


def _reply(r: Reply, schemas: _Schemas) -> Json:
    out: Json = {"description": r.description}
    if r.headers:
        out["headers"] = {
            h.name: {"description": h.description, "required": h.required, "schema": h.schema}
            for h in r.headers
        }
    content = {t: {"schema": s} for t, s in (r.content or {}).items()}
    if r.shape is not None:
        content["application/json"] = {"schema": schemas.ref(r.shape)}
    if content:
        out["content"] = content
    if r.links:
        out["links"] = {
            link.name: {
                "operationId": link.operation_id,
                "parameters": dict(link.parameters),
                **({"requestBody": link.request_body} if link.request_body else {}),
                "description": link.description,
            }
            for link in r.links
        }
    return out


# -- schemas that are not answers' shapes ---------------------------------------------------

OPERATION_OUTCOME: Json = {
    "description": "FHIR R4 OperationOutcome (the error answer to a FHIR sender): each issue's "
    "rule code in details.coding, its FHIRPath in expression (or XML path in location).",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "details": {
                        "type": "object",
                        "properties": {
                            "coding": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "system": {"type": "string"},
                                        "code": {"type": "string"},
                                    },
                                },
                            }
                        },
                    },
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                    "location": {"type": "array", "items": {"type": "string"}},
                    "extension": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
}
FHIR_RESOURCE: Json = {
    "description": "FHIR R4 JSON: an object, reported on whatever it holds (a resource of no "
    "known document kind is an invalid one). Anything but an object (a bare string, a number, "
    "an array, null) is refused with 400 INPUT-UNKNOWN-FORMAT.",
    "type": "object",
}
FHIR_BUNDLE: Json = {
    "description": "A FHIR R4 Bundle: a `message` (routed on its MessageHeader, the message "
    "id is Bundle.id), or a bare `document` / `collection` (routed on Gateway-Recipients). "
    "Its content is checked against the document kind's profile and business rules "
    "(docs/fhir/); a body outside this schema is refused (400 or 422).",
    "type": "object",
    "required": ["resourceType", "type"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"enum": ["message", "document", "collection"]},
        "entry": {"type": "array", "items": {"type": "object"}},
    },
}
_XML: Json = {
    "type": "string",
    "format": "binary",
    "contentMediaType": "application/xml",
    "description": "An XML document: RIVTA RegisterCertificate v3, SendMessageToRecipient v2, "
    "or the gateway's own XML (schemas/); never with a DTD or entities.",
}
_FHIR_XML: Json = {
    "type": "string",
    "format": "binary",
    "contentMediaType": "application/fhir+xml",
    "description": "A FHIR R4 resource in XML (a Bundle, as in JSON).",
}


def document_body(description: str, *, resource: Json | None = None) -> Body:
    """The body of the operations that read a document: FHIR JSON or XML, RIVTA or the
    gateway's own XML. ``resource`` is the JSON schema (a Bundle unless said otherwise)."""
    json_schema = resource or {"$ref": _REF.format(model="FhirBundle")}
    return Body(
        description,
        {
            FHIR_JSON: json_schema,
            "application/json": json_schema,
            "application/fhir+xml": _FHIR_XML,
            "application/xml": _XML,
            "text/xml": _XML,
        },
    )


def formats_schema() -> Json:
    return {"enum": [f.value for f in Format]}


def recipients_schema() -> Json:
    return {"enum": [r.value for r in Recipient]}


def media_types_of(formats: Sequence[str]) -> dict[str, Json]:
    """Bodies of the documents the gateway renders, by media type (any of ``formats``)."""
    out: dict[str, Json] = {}
    for f in formats:
        if f == Format.FHIR_JSON:
            out[FHIR_JSON] = {"$ref": _REF.format(model="FhirBundle")}
        elif f == Format.FHIR_XML:
            out["application/fhir+xml"] = _FHIR_XML
        else:
            out["application/xml"] = _XML
    return out


__all__ = [
    "CALLER",
    "LOCATION",
    "OPEN",
    "OPERATIONS",
    "PULL_RECIPIENT",
    "RETRY_AFTER",
    "SENDER",
    "STORE_UNAVAILABLE",
    "Api",
    "Body",
    "Header",
    "Link",
    "Operation",
    "Param",
    "Reply",
    "Undeclared",
    "access_of",
    "build",
    "document",
    "document_body",
    "document_of",
    "problem",
]


def main() -> None:
    """python -m gateway.exchange.server.openapi > docs/exchange/openapi.json"""
    import sys

    import orjson

    from gateway.exchange.config import Config
    from gateway.exchange.server.app import create_app

    app = create_app(Config(), transports={}, run_outbox=False)
    sys.stdout.buffer.write(orjson.dumps(document(app), option=orjson.OPT_INDENT_2) + b"\n")


if __name__ == "__main__":  # run as a script this module is a copy: use the real one's keys
    from gateway.exchange.server.openapi import main as _main

    _main()
