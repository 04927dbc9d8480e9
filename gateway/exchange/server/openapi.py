"""The OpenAPI 3.1 document of the HTTP API, served at ``/openapi.json`` and written to
``docs/exchange/openapi.json`` (a test checks the copy is current)."""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.documents import Recipient
from gateway.formats.base import Format

_ERR = {"$ref": "#/components/responses/Problem"}
_BODY_TYPES = ["application/fhir+json", "application/fhir+xml", "application/xml", "text/xml"]


def _body(description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {t: {"schema": {"type": "string"}} for t in _BODY_TYPES},
    }


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "unreadable input, or no route (every issue)",
        401: "no or unknown credentials",
        403: "this caller may not do this (kind, recipient, role)",
        404: "not found, or not the caller's",
        409: "the message id was used for other content",
        413: "the body is larger than server.max_body_bytes",
        415: "not a media type the gateway reads",
        422: "invalid document, or refused by policy (every issue with its rule code)",
        503: "the store is unavailable",
    }
    return {str(c): {**_ERR, "description": text[c]} for c in codes}


def document() -> dict[str, Any]:
    formats = [f.value for f in Format]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sjukskrivning gateway exchange API",
            "version": __version__,
            "description": "Receive, route, deliver and audit sick-leave documents. Every "
            "call except /health, /ready, /metrics and /openapi.json needs a client "
            "certificate (mTLS) or a bearer token. See docs/exchange/api.md.",
        },
        "components": {
            "securitySchemes": {
                "mtls": {"type": "mutualTLS"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Issue": {
                    "type": "object",
                    "properties": {
                        "severity": {"enum": ["error", "warning", "information"]},
                        "code": {"type": "string"},
                        "location": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
                "Problem": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "integer"},
                        "title": {"type": "string"},
                        "issues": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Issue"},
                        },
                    },
                },
                "Accepted": {
                    "type": "object",
                    "properties": {
                        "message_id": {"type": "string"},
                        "status": {"const": "accepted"},
                        "status_url": {"type": "string"},
                        "kind": {"type": "string"},
                        "recipients": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "recipient": {"type": "string"},
                                    "state": {"enum": ["pending", "offered", "refused"]},
                                    "rules": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
                "MessageStatus": {
                    "type": "object",
                    "properties": {
                        "message_id": {"type": "string"},
                        "sender": {"type": "string"},
                        "kind": {"type": "string"},
                        "received_at": {"type": "string", "format": "date-time"},
                        "recipients": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "recipient": {"type": "string"},
                                    "delivery_id": {"type": "string"},
                                    "mode": {"enum": ["push", "pull"]},
                                    "state": {
                                        "enum": [
                                            "pending",
                                            "retrying",
                                            "offered",
                                            "delivered",
                                            "dead",
                                            "refused",
                                        ]
                                    },
                                    "attempts": {"type": "integer"},
                                    "last_error": {"type": ["string", "null"]},
                                    "next_attempt_at": {"type": ["string", "null"]},
                                    "delivered_at": {"type": ["string", "null"]},
                                },
                            },
                        },
                    },
                },
            },
            "responses": {
                "Problem": {
                    "description": "every issue; an OperationOutcome for FHIR senders",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        },
                        "application/fhir+json": {"schema": {"type": "object"}},
                    },
                }
            },
        },
        "security": [{"mtls": []}, {"bearer": []}],
        "paths": {
            "/messages": {
                "post": {
                    "summary": "Send a message",
                    "description": "A FHIR message Bundle (routed on its MessageHeader), or a "
                    "RIVTA / own-XML document or bare FHIR document with the headers "
                    "Gateway-Recipients and (optional) Gateway-Message-Id. 202 once stored "
                    "durably; the same id with the same content gets the first answer again.",
                    "parameters": [
                        {
                            "name": "Gateway-Recipients",
                            "in": "header",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "Gateway-Message-Id",
                            "in": "header",
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": _body("the message"),
                    "responses": {
                        "202": {
                            "description": "accepted and stored",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        **_errors(400, 401, 403, 409, 413, 415, 422, 503),
                    },
                }
            },
            "/messages/{id}": {
                "get": {
                    "summary": "State per recipient of one of the caller's messages",
                    "parameters": [{"name": "id", "in": "path", "required": True}],
                    "responses": {
                        "200": {
                            "description": "the message",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/MessageStatus"}
                                }
                            },
                        },
                        **_errors(401, 404),
                    },
                }
            },
            "/messages/{id}/redeliver": {
                "post": {
                    "summary": "Dead letters of the caller's message back to the outbox",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True},
                        {"name": "recipient", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "how many"}, **_errors(401, 404)},
                }
            },
            "/inbox": {
                "get": {
                    "summary": "A pull recipient's unacknowledged deliveries (offered again "
                    "until acknowledged)",
                    "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "messages"}, **_errors(401, 403)},
                }
            },
            "/inbox/{delivery_id}/ack": {
                "post": {
                    "summary": "Acknowledge a pulled delivery",
                    "parameters": [{"name": "delivery_id", "in": "path", "required": True}],
                    "responses": {"204": {"description": "acknowledged"}, **_errors(401, 403, 404)},
                }
            },
            "/validate": {
                "post": {
                    "summary": "Validate (dry run, like gateway validate)",
                    "requestBody": _body("a document or message"),
                    "responses": {"200": {"description": "the result"}, **_errors(401, 413, 415)},
                }
            },
            "/convert": {
                "post": {
                    "summary": "Convert (dry run, like gateway convert)",
                    "parameters": [
                        {"name": "to", "in": "query", "required": True, "schema": {"enum": formats}}
                    ],
                    "requestBody": _body("a document or message"),
                    "responses": {
                        "200": {"description": "the document in the target format"},
                        **_errors(400, 401, 413, 415, 422),
                    },
                }
            },
            "/redact": {
                "post": {
                    "summary": "What a recipient would receive (dry run, like gateway redact)",
                    "parameters": [
                        {
                            "name": "for",
                            "in": "query",
                            "required": True,
                            "schema": {"enum": [r.value for r in Recipient]},
                        },
                        {"name": "to", "in": "query", "schema": {"enum": formats}},
                    ],
                    "requestBody": _body("a document or message"),
                    "responses": {
                        "200": {"description": "report and payload"},
                        **_errors(400, 401, 413, 415, 422),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "alive"}},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: the store answers",
                    "security": [],
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [],
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI"}},
                }
            },
            **_coordination_paths(),
        },
    }


def _coordination_paths() -> dict[str, Any]:
    from gateway.exchange.server.coordination import OPENAPI_PATHS

    return OPENAPI_PATHS


__all__ = ["document"]


if __name__ == "__main__":  # python -m gateway.exchange.server.openapi > docs/exchange/openapi.json
    import sys

    import orjson

    sys.stdout.buffer.write(orjson.dumps(document(), option=orjson.OPT_INDENT_2) + b"\n")
