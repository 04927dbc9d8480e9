"""The coordination routes (issue 17; docs/coordination.md): the patient's plan index, as JSON
and as FHIR searchset Bundles, one actor's deadline list, and the §4 statistics with their
charts. Every caller is authenticated (the app's middleware) and sees what its role may see
(:mod:`gateway.coordination.visibility`); every read is audited by the plan-index service.

Registered with one line in the app (:func:`add_routes`); the operations are described in
:data:`OPENAPI_PATHS`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson
from aiohttp import web

from gateway.coordination import fhir
from gateway.coordination.charts import line_chart
from gateway.coordination.statistics import MEASURES
from gateway.coordination.visibility import Actor
from gateway.exchange.plan_index import PlanIndex, plan_index_for
from gateway.exchange.plan_index.service import (
    BadPatient,
    actor_deadlines,
    actor_of,
    patient_key,
    patient_view,
    section4_report,
    today,
)
from gateway.exchange.server.app import CLOCK, CONFIG, STORE
from gateway.exchange.server.handlers import PRINCIPAL, problem

PLAN_INDEX = web.AppKey("plan_index", PlanIndex)
FHIR_JSON = "application/fhir+json"
MAX_LIMIT = 1000


def _actor(request: web.Request) -> Actor:
    return actor_of(request.app[CONFIG], request[PRINCIPAL].id)


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _day(raw: str | None, now: datetime) -> date | None:
    if raw is None:
        return today(now)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _moment(request: web.Request) -> datetime | web.Response:
    """Now, or the day ``at=YYYY-MM-DD`` asks about (its end: what was known by then)."""
    now = request.app[CLOCK]()
    raw = request.query.get("at")
    if raw is None:
        return now
    on = _day(raw, now)
    if on is None:
        return problem(request, 400, "at must be a date YYYY-MM-DD", [])
    from datetime import time

    from gateway.documents.common import SWEDISH_TIME

    return datetime.combine(on, time(23, 59, 59), SWEDISH_TIME)


async def get_plans(request: web.Request) -> web.StreamResponse:
    try:
        patient = patient_key(request.match_info["id"])
    except BadPatient as exc:
        return problem(request, 400, str(exc), [])
    at = _moment(request)
    if isinstance(at, web.Response):
        return at
    app = request.app
    view = await patient_view(
        app[PLAN_INDEX], app[STORE], _actor(request), patient, at=at, via="patients/plans"
    )
    return _json(view.to_dict())


async def get_deadlines(request: web.Request) -> web.StreamResponse:
    app = request.app
    viewer = _actor(request)
    at = _moment(request)
    if isinstance(at, web.Response):
        return at
    within = _int(request, "within", 30, 0, 3650)
    limit = _int(request, "limit", 100, 1, MAX_LIMIT)
    if within is None or limit is None:
        return problem(request, 400, f"within is 0..3650 days, limit 1..{MAX_LIMIT}", [])
    raw_patient = request.query.get("patient")
    if raw_patient is not None:  # one patient's deadlines, as the caller sees them
        try:
            patient = patient_key(raw_patient)
        except BadPatient as exc:
            return problem(request, 400, str(exc), [])
        view = await patient_view(
            app[PLAN_INDEX], app[STORE], viewer, patient, at=at, via="deadlines"
        )
        found = view.deadlines
        target = viewer
    else:
        target_id = request.query.get("actor", viewer.id)
        config = app[CONFIG]
        if config.sender(target_id) is None and config.recipient(target_id) is None:
            return problem(
                request, 400, f"actor {target_id!r} is no configured sender or recipient", []
            )
        target = actor_of(config, target_id)
        found = await actor_deadlines(
            app[PLAN_INDEX],
            app[STORE],
            viewer,
            target,
            at=at,
            within=within,
            limit=limit,
            via="deadlines",
        )
    on = today(at)
    return _json(
        {
            "actor": target.id,
            "as_of": at.isoformat(),
            "deadlines": [d.to_dict(on) for d in found],
        }
    )


def _months(request: web.Request, now: datetime) -> tuple[str, str] | None:
    import re

    this = f"{today(now):%Y-%m}"
    last = request.query.get("to", this)
    first = request.query.get(
        "from", f"{int(last[:4]) - 1:04d}{last[4:]}" if len(last) == 7 else ""
    )
    pattern = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
    if not pattern.match(first) or not pattern.match(last) or first > last:
        return None
    return first, last


async def _report(request: web.Request) -> Any:
    app = request.app
    now = app[CLOCK]()
    months = _months(request, now)
    if months is None:
        return problem(request, 400, "from and to are months YYYY-MM, from <= to", [])
    viewer = _actor(request)
    return await section4_report(
        app[PLAN_INDEX], app[STORE], app[CONFIG], viewer, first=months[0], last=months[1], at=now
    )


async def get_section4_statistics(request: web.Request) -> web.StreamResponse:
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        return problem(request, 400, "format is json or csv", [])
    out = await _report(request)
    if isinstance(out, web.Response):
        return out
    if fmt == "csv":
        return web.Response(text=out.to_csv(), content_type="text/csv", charset="utf-8")
    return _json(out.to_dict())


async def get_section4_chart(request: web.Request) -> web.StreamResponse:
    measure = request.query.get("measure", "sent")
    if measure not in (*MEASURES, "rate_per_case"):
        return problem(request, 400, f"measure is one of {', '.join(MEASURES)}, rate_per_case", [])
    out = await _report(request)
    if isinstance(out, web.Response):
        return out
    title = f"§4 notifications: {measure.replace('_', ' ')} per month"
    svg = line_chart(title, out.months, out.series(measure), y_label=measure.replace("_", " "))
    return web.Response(text=svg, content_type="image/svg+xml", charset="utf-8")


async def fhir_search(request: web.Request) -> web.StreamResponse:
    rtype = request.match_info["type"]
    params = fhir.SEARCHES.get(rtype)
    if params is None:
        known = ", ".join(fhir.SEARCHES)
        return problem(request, 404, f"no search for {rtype!r}; searchable: {known}", [], fhir=True)
    names = [p for p in params if p in request.query]
    unknown = sorted(set(request.query) - set(params) - {"_format"})
    if len(names) != 1 or unknown:
        what = " or ".join(params)
        extra = f"; not supported: {', '.join(unknown)}" if unknown else ""
        return problem(
            request, 400, f"{rtype} is searched by {what} (one of them){extra}", [], fhir=True
        )
    try:
        patient = patient_key(request.query[names[0]])
    except BadPatient as exc:
        return problem(request, 400, str(exc), [], fhir=True)
    app = request.app
    now = app[CLOCK]()
    view = await patient_view(
        app[PLAN_INDEX], app[STORE], _actor(request), patient, at=now, via=f"fhir/{rtype}"
    )
    found = fhir.resources(rtype, patient, view.entries, view.flags, view.deadlines, today(now))
    bundle = fhir.searchset(found, str(request.url.relative()))
    return web.Response(body=orjson.dumps(bundle), content_type=FHIR_JSON)


def add_routes(app: web.Application) -> None:
    """The coordination routes, and the plan index over the app's store."""
    app[PLAN_INDEX] = plan_index_for(app[STORE])
    app.router.add_get("/patients/{id}/plans", get_plans)
    app.router.add_get("/deadlines", get_deadlines)
    app.router.add_get("/statistics/section4", get_section4_statistics)
    app.router.add_get("/statistics/section4/chart.svg", get_section4_chart)
    app.router.add_get("/fhir/{type}", fhir_search)


# -- the API document (docs/exchange/openapi.json) --------------------------------------------

_ERR = {"$ref": "#/components/responses/Problem"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "a parameter is malformed (named in the answer)",
        401: "no or unknown credentials",
        404: "no such search",
    }
    return {str(c): {**_ERR, "description": text[c]} for c in codes}


def _q(
    name: str, schema: dict[str, Any], description: str, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


_AT = _q("at", {"type": "string", "format": "date"}, "the day asked about (default: today)")
OPENAPI_PATHS: dict[str, Any] = {
    "/patients/{id}/plans": {
        "get": {
            "summary": "The patient's plan index as the caller may see it",
            "description": "Entries (ids, versions, statuses, periods, who is responsible "
            "and who coordinates; never free text or diagnoses), the flags and deadlines the "
            "caller may see, and the sick-leave case its visible certificates make. The same "
            "answer whether or not the gateway knows the patient. Audited.",
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "personnummer or samordningsnummer (12 digits)",
                },
                _AT,
            ],
            "responses": {"200": {"description": "the index"}, **_errors(400, 401)},
        }
    },
    "/deadlines": {
        "get": {
            "summary": "Deadlines due or overdue on an actor's list (default: the caller's)",
            "parameters": [
                _q("actor", {"type": "string"}, "a configured sender or recipient id"),
                _q("patient", {"type": "string"}, "only this patient's deadlines"),
                _q(
                    "within",
                    {"type": "integer", "minimum": 0, "maximum": 3650},
                    "days ahead (and back, for milestones), default 30",
                ),
                _q(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    "at most this many, default 100",
                ),
                _AT,
            ],
            "responses": {"200": {"description": "the deadlines"}, **_errors(400, 401)},
        }
    },
    "/statistics/section4": {
        "get": {
            "summary": "§4 statistics and deviations per region and month (JSON or CSV)",
            "parameters": [
                _q("from", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, "first month"),
                _q("to", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, "last month"),
                _q("format", {"enum": ["json", "csv"]}, "default json"),
            ],
            "responses": {"200": {"description": "the report"}, **_errors(400, 401)},
        }
    },
    "/statistics/section4/chart.svg": {
        "get": {
            "summary": "A monthly trend of the §4 statistics as an SVG chart",
            "parameters": [
                _q("measure", {"enum": [*MEASURES, "rate_per_case"]}, "default sent"),
                _q("from", {"type": "string"}, "first month"),
                _q("to", {"type": "string"}, "last month"),
            ],
            "responses": {"200": {"description": "image/svg+xml"}, **_errors(400, 401)},
        }
    },
    "/fhir/{type}": {
        "get": {
            "summary": "FHIR search of the plan index: a searchset Bundle",
            "description": "CarePlan, Communication, DocumentReference and Task by "
            "subject:identifier or patient:identifier; DetectedIssue by patient:identifier "
            "(system|value).",
            "parameters": [
                {
                    "name": "type",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": list(fhir.SEARCHES)},
                },
                _q("subject:identifier", {"type": "string"}, "the patient, system|value"),
                _q("patient:identifier", {"type": "string"}, "the patient, system|value"),
            ],
            "responses": {
                "200": {"description": "application/fhir+json searchset"},
                **_errors(400, 401, 404),
            },
        }
    },
}

__all__ = ["OPENAPI_PATHS", "PLAN_INDEX", "add_routes"]
