"""The coordination routes (issue 17; docs/coordination.md): the patient's plan index, as JSON
and as FHIR searchset Bundles, one actor's deadline list, and the §4 statistics with their
charts. Every caller is authenticated (the app's middleware) and sees what its role may see
(:mod:`gateway.coordination.visibility`); every read is audited by the plan-index service.

Registered with one line in the app (:func:`add_routes`); the operations are described in
:data:`OPENAPI_PATHS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import date, datetime, time
from typing import Any, Literal, NotRequired, cast

import orjson
from aiohttp import web
from typing_extensions import TypedDict

from gateway.coordination import fhir
from gateway.coordination.charts import line_chart
from gateway.coordination.statistics import MEASURES
from gateway.coordination.visibility import Actor
from gateway.documents.common import SWEDISH_TIME
from gateway.exchange.plan_index import NoPlanIndex, PlanIndex, plan_index_for
from gateway.exchange.plan_index.service import (
    PATIENT_PATTERN,
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
from gateway.exchange.server.openapi import CALLER, STORE_UNAVAILABLE, Api, Link, Param, Reply
from gateway.exchange.server.openapi import problem as declared_problem
from gateway.exchange.store.base import StoreError

log = logging.getLogger("gateway.coordination")
PLAN_INDEX = web.AppKey("plan_index", PlanIndex)
FHIR_JSON = "application/fhir+json"
MAX_LIMIT = 1000
#: Every coordination operation, declared beside its handler (openapi.py; api.md).
API = Api()


# -- the answers' shapes (the document's schemas come from these) ------------------------------


class CaseAnswer(TypedDict):
    """The sick-leave case the caller's visible certificates make (docs/coordination.md)."""

    start: str
    end: str
    covered_days: int
    day: int | None
    calendar_day: int
    active: bool
    degree: int | None
    length_rehabstod: str
    length_intygsstatistik: str


class EntryAnswer(TypedDict):
    """One document of the index: ids, version, status and the facts the role may see (never
    free text, never a diagnosis)."""

    entry: str
    kind: str
    id: str
    version: str | None
    status: NotRequired[str]
    received_at: str
    sender: str
    facts: dict[str, Any]


class FlagAnswer(TypedDict):
    """A conflict or parallel plan: a COORD-* code of the rule catalogue and the entries."""

    id: str
    patient: str
    code: str
    title: str
    raised_at: str
    message_id: str
    entries: list[str]
    detail: dict[str, Any]


class DeadlineAnswer(TypedDict):
    """A deadline of the rehabilitation chain on one actor's list, with its status that day."""

    id: str
    patient: str
    code: str
    type: Literal["task", "milestone"]
    due: str
    day: int | None
    opens: str | None
    role: str
    organisation: str
    relation: Literal["responsible", "informed"]
    met_on: str | None
    waived: bool
    basis: list[str]
    detail: dict[str, Any]
    status: Literal["due", "overdue", "met", "met-late", "waived", "upcoming", "reached"]
    text: str


class PlansAnswer(TypedDict):
    """The patient's plan index as the caller may see it."""

    patient: str
    as_of: str
    case: CaseAnswer | None
    entries: list[EntryAnswer]
    flags: list[FlagAnswer]
    deadlines: list[DeadlineAnswer]


class DeadlinesAnswer(TypedDict):
    """An actor's deadline list, earliest first."""

    actor: str
    as_of: str
    deadlines: list[DeadlineAnswer]


class StatisticsAnswer(TypedDict):
    """§4 statistics per region and month (a suppressed cell is null and named in its row's
    ``suppressed``) and the deviations."""

    as_of: str | None
    cutoff: int
    months: list[str]
    measures: list[str]
    rows: list[dict[str, Any]]
    deviations: list[dict[str, Any]]


_AT = Param(
    "at",
    "query",
    {"type": "string", "format": "date", "pattern": r"^20\d{2}-\d{2}-\d{2}$"},
    "the day asked about, 2000-2099 (default today)",
)
MONTH_PATTERN = r"^20\d{2}-(0[1-9]|1[0-2])$"  # years 2000-2099
_MONTHS = re.compile(MONTH_PATTERN)
_MONTH = {"type": "string", "pattern": MONTH_PATTERN}
_PATIENT = {"type": "string", "pattern": PATIENT_PATTERN}
_SEARCHSET = {
    "type": "object",
    "required": ["resourceType", "type"],
    "properties": {"resourceType": {"const": "Bundle"}, "type": {"const": "searchset"}},
}
_BAD = "a parameter is malformed (the answer names it)"
#: FHIR names the patient ``subject`` or ``patient``; either is read, whatever the type
_PATIENT_PARAMS = ("subject:identifier", "patient:identifier")


def _actor(request: web.Request) -> Actor:
    return actor_of(request.app[CONFIG], request[PRINCIPAL].id)


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):  # int() would take " 5", "5_0" and non-ASCII digits
        return None
    value = int(raw)
    return value if low <= value <= high else None


_INTEGER = re.compile(r"-?[0-9]{1,9}")


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
    if on is None or not 2000 <= on.year <= 2099:
        return problem(request, 400, "at must be a date YYYY-MM-DD (2000-2099)", [])
    return datetime.combine(on, time(23, 59, 59), SWEDISH_TIME)


@API.get(
    "/patients/{id}/plans",
    "getPatientPlans",
    "The patient's plan index as the caller may see it",
    description="Entries (ids, versions, statuses, periods, who is responsible and who "
    "coordinates; never free text or diagnoses), the flags and deadlines the caller may see, "
    "and the sick-leave case its visible certificates make. The same answer whether or not "
    "the gateway knows the patient. Audited (docs/coordination.md).",
    access=CALLER,
    tags=["coordination"],
    params=[
        Param(
            "id",
            "path",
            _PATIENT,
            "the patient's personnummer or samordningsnummer",
            example="191212121212",
        ),
        _AT,
    ],
    replies=[
        Reply(200, "the index", PlansAnswer),
        declared_problem(400, "the patient id is not a personnummer, or at is no date"),
        STORE_UNAVAILABLE,
    ],
)
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
    answer = cast(PlansAnswer, view.to_dict())
    return _json(answer)


@API.get(
    "/deadlines",
    "getDeadlines",
    "Deadlines due or overdue on an actor's list (default: the caller's)",
    description="Open tasks due within `within` days or overdue, and milestones within "
    "`within` days either side, earliest first, as the caller may see them; with `patient`, "
    "that patient's deadlines. Audited.",
    access=CALLER,
    tags=["coordination"],
    params=[
        Param(
            "actor",
            "query",
            {"type": "string", "minLength": 1},
            "a configured sender or recipient id",
        ),
        Param("patient", "query", _PATIENT, "only this patient's deadlines"),
        Param(
            "within",
            "query",
            {"type": "integer", "minimum": 0, "maximum": 3650, "default": 30},
            "days ahead (and back, for milestones)",
        ),
        Param(
            "limit",
            "query",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
            "at most this many",
        ),
        _AT,
    ],
    replies=[
        Reply(
            200,
            "the list",
            DeadlinesAnswer,
            links=(
                Link(
                    "GetPatientPlans",
                    "getPatientPlans",
                    {"id": "$response.body#/deadlines/0/patient"},
                    "the plan index of the first deadline's patient",
                ),
            ),
        ),
        declared_problem(400, _BAD),
        declared_problem(404, "no configured sender or recipient has that id"),
        STORE_UNAVAILABLE,
    ],
)
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
    if request.query.get("actor") == "":  # checked even beside patient, which it does not narrow
        return problem(request, 400, "actor is a configured sender or recipient id", [])
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
            return problem(request, 404, "no configured sender or recipient has that id", [])
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
    answer: DeadlinesAnswer = {
        "actor": target.id,
        "as_of": at.isoformat(),
        "deadlines": [cast(DeadlineAnswer, d.to_dict(on)) for d in found],
    }
    return _json(answer)


def _months(request: web.Request, now: datetime) -> tuple[str, str] | None:
    """(first, last) month asked for; ``None`` when one is malformed (``from`` after ``to``
    is an empty range, not an error)."""
    last = request.query.get("to", f"{today(now):%Y-%m}")
    if not _MONTHS.match(last):
        return None
    first = request.query.get("from", f"{max(2000, int(last[:4]) - 1):04d}{last[4:]}")
    if not _MONTHS.match(first):
        return None
    return first, last


async def _report(request: web.Request) -> Any:
    app = request.app
    now = app[CLOCK]()
    months = _months(request, now)
    if months is None:
        return problem(request, 400, "from and to are months YYYY-MM (2000-2099)", [])
    viewer = _actor(request)
    return await section4_report(
        app[PLAN_INDEX], app[STORE], app[CONFIG], viewer, first=months[0], last=months[1], at=now
    )


@API.get(
    "/statistics/section4",
    "getSection4Statistics",
    "§4 statistics and deviations per region and month",
    description="Notifications sent, refused and why, delivered, acknowledged and handled by "
    "Försäkringskassan, outcomes, and the deviations SKR and Försäkringskassan name; small "
    "cells suppressed except in the caller's own region's rows (docs/coordination.md).",
    access=CALLER,
    tags=["coordination"],
    params=[
        Param("from", "query", _MONTH, "first month (default: a year before `to`)"),
        Param("to", "query", _MONTH, "last month (default: this month)"),
        Param("format", "query", {"enum": ["json", "csv"], "default": "json"}, "json or csv"),
    ],
    replies=[
        Reply(
            200,
            "the report",
            StatisticsAnswer,
            content={"text/csv": {"type": "string"}},
            links=(
                Link(
                    "GetSection4Chart",
                    "getSection4Chart",
                    {"from": "$response.body#/months/0"},
                    "the monthly trend from the report's first month",
                ),
            ),
        ),
        declared_problem(400, _BAD),
        STORE_UNAVAILABLE,
    ],
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
    answer = cast(StatisticsAnswer, out.to_dict())
    return _json(answer)


@API.get(
    "/statistics/section4/chart.svg",
    "getSection4Chart",
    "A monthly trend of the §4 statistics as an SVG chart (drawn on the server, no script)",
    access=CALLER,
    tags=["coordination"],
    params=[
        Param(
            "measure",
            "query",
            {"enum": [*MEASURES, "rate_per_case"], "default": "sent"},
            "what to plot",
        ),
        Param("from", "query", _MONTH, "first month"),
        Param("to", "query", _MONTH, "last month"),
    ],
    replies=[
        Reply(200, "the chart", content={"image/svg+xml": {"type": "string"}}),
        declared_problem(400, _BAD),
        STORE_UNAVAILABLE,
    ],
)
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


@API.get(
    "/fhir/{type}",
    "searchPlanIndex",
    "FHIR search of the plan index: a searchset Bundle of what the caller may see",
    description="CarePlan, Communication, DocumentReference and Task by `subject:identifier` "
    "or `patient:identifier`; DetectedIssue by `patient:identifier` (system|value, or the "
    "number). Audited.",
    access=CALLER,
    tags=["coordination"],
    params=[
        Param("type", "path", {"enum": list(fhir.SEARCHES)}, "the resource type"),
        Param(
            "subject:identifier",
            "query",
            _PATIENT,
            "the patient (system|value)",
            example="http://electronichealth.se/identifier/personnummer|191212121212",
        ),
        Param("patient:identifier", "query", _PATIENT, "the patient (system|value)"),
    ],
    replies=[
        Reply(200, "a searchset Bundle", content={FHIR_JSON: _SEARCHSET}),
        declared_problem(400, _BAD),
        declared_problem(404, "no search for that resource type"),
        STORE_UNAVAILABLE,
    ],
)
async def fhir_search(request: web.Request) -> web.StreamResponse:
    rtype = request.match_info["type"]
    params = fhir.SEARCHES.get(rtype)
    if params is None:
        known = ", ".join(fhir.SEARCHES)
        return problem(request, 404, f"no search for {rtype!r}; searchable: {known}", [], fhir=True)
    accepted = (*params, *(p for p in _PATIENT_PARAMS if p not in params))
    unknown = sorted(set(request.query) - set(accepted) - {"_format"})
    if unknown:
        what = " or ".join(params)
        return problem(
            request,
            400,
            f"{rtype} is searched by {what}; not supported: {', '.join(unknown)}",
            [],
            fhir=True,
        )
    names = [p for p in accepted if p in request.query]
    if not names:  # a search never lists across patients: it names one, or matches nothing
        return web.Response(
            body=orjson.dumps(fhir.searchset([], str(request.url.relative()))),
            content_type=FHIR_JSON,
        )
    try:  # every value is checked; FHIR ANDs repeated parameters: two patients match nothing
        keys = {patient_key(v) for n in names for v in request.query.getall(n)}
    except BadPatient as exc:
        return problem(request, 400, str(exc), [], fhir=True)
    if len(keys) > 1:
        return web.Response(
            body=orjson.dumps(fhir.searchset([], str(request.url.relative()))),
            content_type=FHIR_JSON,
        )
    (patient,) = keys
    app = request.app
    now = app[CLOCK]()
    view = await patient_view(
        app[PLAN_INDEX], app[STORE], _actor(request), patient, at=now, via=f"fhir/{rtype}"
    )
    found = fhir.resources(rtype, patient, view.entries, view.flags, view.deadlines, today(now))
    bundle = fhir.searchset(found, str(request.url.relative()))
    return web.Response(body=orjson.dumps(bundle), content_type=FHIR_JSON)


#: How often the drain looks for patients whose deadlines are to be recomputed (their
#: deadline rows lag the accept by at most this, plus the drain's own time; the readers that
#: show deadlines recompute a marked patient first, so no answer is stale).
DRAIN_SECONDS = 0.25


class DeadlineDrain:
    """The server's worker for the plan index's deadlines: :meth:`PlanIndex.drain` at start-up
    (patients a crash left marked), then every :data:`DRAIN_SECONDS`, and once more at stop.
    Accepts between two rounds share one recomputation per patient."""

    def __init__(self, index: PlanIndex, every: float = DRAIN_SECONDS) -> None:
        self.index = index
        self.every = every
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="plan-index-drain")

    async def _run(self) -> None:
        while True:
            last = self._stop.is_set()  # a round begun after stop was asked is the last
            try:
                await self.index.drain()
            except Exception as exc:  # the store is away (or a bug): the marks wait, and
                # the readers recompute what they show; the class only (no patient data)
                log.warning(
                    "plan index: recomputing deadlines failed (%s)",
                    exc if isinstance(exc, StoreError) else type(exc).__name__,
                    extra={"event": "plan-index-drain-failed"},
                )
            if last:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every)

    async def stop(self) -> None:
        """One last round, then stop (never cancelled mid-transaction)."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None


DRAIN = web.AppKey("plan_index_drain", DeadlineDrain)


def add_routes(app: web.Application) -> None:
    """The coordination routes, the plan index over the app's store (a store the index does
    not know leaves the gateway serving; its coordination routes answer 503) and its drain,
    started once the store is open and stopped before it closes."""
    try:
        app[PLAN_INDEX] = plan_index_for(app[STORE])
    except TypeError as exc:
        app[PLAN_INDEX] = NoPlanIndex(str(exc))
        API.add_to(app)
        return
    app[DRAIN] = DeadlineDrain(app[PLAN_INDEX])

    async def start(app: web.Application) -> None:  # on_startup: after the store opened
        app[DRAIN].start()

    async def stop(app: web.Application) -> None:  # on_shutdown: before the store closes
        await app[DRAIN].stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    API.add_to(app)


__all__ = ["API", "DRAIN", "DRAIN_SECONDS", "PLAN_INDEX", "DeadlineDrain", "add_routes"]
