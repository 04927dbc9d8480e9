"""The coordinators' pages: a patient's plan index (looked up by a personnummer posted in a
form, never put in a URL), the deadline list of the coordinator's organisation, the flags
on its patients and the §4 statistics with their chart and deviation report.

Every read goes through the plan-index service the HTTP API uses
(:mod:`gateway.exchange.plan_index.service`: ``patient_view``, ``actor_deadlines``,
``section4_report``), as the coordinator's :class:`~gateway.coordination.visibility.Actor`
(their ``actor_role`` and ``organisation``): the same visibility rules, consent reading and
audit records as the API - no second rule here. The audit trail names the person
(``coordinator:kim``) and the page (``via=console/...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from aiohttp import web
from markupsafe import Markup

from gateway.console.app import CONSOLE, LANGUAGE, USER, bad_input, now, render, role
from gateway.console.auth import ConsoleUser
from gateway.console.i18n import Translator, labels
from gateway.coordination.chain import Deadline
from gateway.coordination.charts import line_chart
from gateway.coordination.entries import org_key
from gateway.coordination.flags import Flag
from gateway.coordination.settings import deadline_rules
from gateway.coordination.statistics import NATIONAL
from gateway.coordination.visibility import Actor
from gateway.documents import Recipient
from gateway.documents.issues import RULES, RuleKind
from gateway.exchange.plan_index.service import (
    BadPatient,
    actor_deadlines,
    patient_key,
    patient_view,
    patient_views,
    section4_report,
    today,
)
from gateway.exchange.server.app import STORE
from gateway.exchange.server.coordination import PLAN_INDEX

COORDINATOR = "coordinator"
#: roles that see the §4 statistics (the notifications are the regions' and FK's business)
STATISTICS_ROLES = (Recipient.REGION, Recipient.FORSAKRINGSKASSAN)
WITHIN = 30  # days ahead (and back, for milestones) on the deadline list, as the API's
LIMIT = 200  # deadlines on the page
#: what the statistics table shows (the rest is in the API's JSON and CSV)
TABLE_MEASURES = (
    "sent",
    "refused",
    "delivered",
    "acknowledged",
    "handled",
    "handled_in_time",
    "not_handled_overdue",
    "sick_leave_cases",
)
CHART_MEASURES = ("sent", "refused", "delivered", "handled", "sick_leave_cases")


def actor(user: ConsoleUser) -> Actor:
    """The coordinator as the plan index knows an actor: their role and organisation."""
    c = user.config
    return Actor(user.actor, c.actor_role or Recipient.REGION, org_key(c.organisation))


def sees_statistics(user: ConsoleUser | None) -> bool:
    return user is not None and user.config.actor_role in STATISTICS_ROLES


def person(key: str) -> str:
    """19121212-1212, as people write a personnummer."""
    return f"{key[:8]}-{key[8:]}" if len(key) == 12 and key.isdigit() else key


# -- facts, for people -------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "✓" if value else "–"
    if isinstance(value, Mapping):
        return _mapping(value)
    if isinstance(value, list | tuple):
        return "; ".join(_value(v) for v in value) or "–"
    if isinstance(value, str) and _STAMP.match(value):  # a time the index keeps: minutes
        return value[:16].replace("T", " ")
    return str(value)


_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _mapping(value: Mapping[str, Any]) -> str:
    """An organisation or a person as its name and organisation; anything else key by key."""
    contact = value.get("contact")
    if isinstance(contact, Mapping) and contact.get("name"):  # a SIP's coordinator
        return f"{_value(contact)} ({value.get('org') or '–'})"
    name, org = value.get("name"), value.get("org")
    if name or org:
        return " ".join(x for x in (name, f"({org})" if org and name else org) if x)
    return ", ".join(f"{k} {_value(v)}" for k, v in value.items() if v is not None)


def _period(p: Mapping[str, Any], t: Translator) -> str:
    span = f"{p.get('start') or '…'} – {p.get('end') or '…'}"
    rest = []
    if p.get("degree") is not None:
        rest.append(f"{p['degree']} %")
    if p.get("type"):
        rest.append(t.code("rtw_measure", str(p["type"])))
    if p.get("status"):
        rest.append(t.code("effort", str(p["status"])))
    if p.get("work_share") is not None:
        rest.append(f"{p['work_share']} %")
    return f"{span} {', '.join(rest)}".strip()


def facts(entry: Mapping[str, Any], t: Translator) -> list[tuple[str, str]]:
    """An entry's facts as (label, text) rows, in the order the index keeps them."""
    rows = []
    for key, value in entry.get("facts", {}).items():
        if key in ("periods", "measures", "efforts") and isinstance(value, list):
            text = "; ".join(_period(p, t) for p in value) or "–"
        else:
            text = _value(value)
        label = t(f"fact.{key}")
        rows.append((key if label == f"fact.{key}" else label, text))
    return rows


def explain(code: str, language: str) -> tuple[str, str, str]:
    """A flag's (title, explanation, language they are in): the page's language's
    (``labels/<language>.toml [flags.<code>]``), else the rule catalogue's, which is English
    (``gateway explain``)."""
    own = labels(language)
    title = own.get(f"flags.{code}.title")
    if title is not None:
        return title, own.get(f"flags.{code}.explanation", ""), language
    rule = RULES.get(code)
    return (rule.title, rule.explanation, "en") if rule is not None else (code, "", "en")


def deadline_title(code: str, language: str) -> tuple[str, str]:
    """A deadline's (title, language it is in): the page's language's
    (``labels/<language>.toml [deadlines]``), else its rule's in
    ``mappings/coordination/chain.toml``, which is English."""
    own = labels(language).get(f"deadlines.{code}")
    if own is not None:
        return own, language
    rule = next((r for r in deadline_rules() if r.code == code), None)
    return (rule.title if rule is not None else code), "en"


def _deadline(d: Deadline, on: date, language: str) -> dict[str, Any]:
    return {**d.to_dict(on), "title": deadline_title(d.code, language)}


def catalogue(language: str) -> list[tuple[str, tuple[str, str, str]]]:
    """Every COORD-* flag: (code, what :func:`explain` says of it)."""
    return [
        (r.code, explain(r.code, language))
        for r in RULES.all()
        if r.kind is RuleKind.COORDINATION and r.code.startswith("COORD-")
    ]


# -- pages -------------------------------------------------------------------------------------


def _lookup(request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
    return render(request, "coordination_lookup.html", status=status, **context)


@role(COORDINATOR)
async def lookup(request: web.Request) -> web.StreamResponse:
    return _lookup(request, error=None, entered="")


@role(COORDINATOR)
async def patient(request: web.Request) -> web.StreamResponse:
    """The patient's plan index as the coordinator may see it (POST: the personnummer is in
    the form, never the URL nor the access log)."""
    form = await request.post()
    raw = form.get("patient")
    raw = raw.strip() if isinstance(raw, str) else ""
    try:
        key = patient_key(raw)
    except BadPatient:
        return _lookup(request, status=400, error="coordination.bad_patient", entered=raw)
    user = request[USER]
    view = await patient_view(
        request.config_dict[PLAN_INDEX],
        request.config_dict[STORE],
        actor(user),
        key,
        at=now(request),
        via="console/patient",
    )
    t = Translator(request[LANGUAGE])
    entries = [{**e, "rows": facts(e, t)} for e in view.entries]
    on = today(view.at)
    return render(
        request,
        "coordination_patient.html",
        patient=person(key),
        patient_key=key,
        view=view,
        entries=entries,
        flags=[(f, explain(f.code, t.language)) for f in view.flags],
        deadlines=[_deadline(d, on, t.language) for d in view.deadlines],
    )


@role(COORDINATOR)
async def deadlines(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    me = actor(user)
    t = now(request)
    found = await actor_deadlines(
        request.config_dict[PLAN_INDEX],
        request.config_dict[STORE],
        me,
        me,
        at=t,
        within=WITHIN,
        limit=LIMIT,
        via="console/deadlines",
    )
    on = today(t)
    rows = [_deadline(d, on, request[LANGUAGE]) for d in found]
    return render(
        request,
        "coordination_deadlines.html",
        rows=rows,
        person=person,
        within=WITHIN,
        overdue=sum(1 for r in rows if r["status"] == "overdue"),
    )


@role(COORDINATOR)
async def flags(request: web.Request) -> web.StreamResponse:
    """The flags on every patient of the organisation's deadline list (up to ``LIMIT``
    deadlines), each patient read as ``patient_view`` reads one (so only the flags this
    coordinator may see), their audit records in one transaction."""
    user = request[USER]
    me = actor(user)
    t = now(request)
    index, store = request.config_dict[PLAN_INDEX], request.config_dict[STORE]
    listed = await actor_deadlines(
        index, store, me, me, at=t, within=WITHIN, limit=LIMIT, via="console/flags"
    )
    patients = list(dict.fromkeys(d.patient for d in listed))
    language = request[LANGUAGE]
    views = await patient_views(index, store, me, patients, at=t, via="console/flags")
    found: list[tuple[str, Flag, tuple[str, str, str]]] = [
        (v.patient, f, explain(f.code, language)) for v in views for f in v.flags
    ]
    found.sort(key=lambda x: x[1].raised_at, reverse=True)
    return render(
        request,
        "coordination_flags.html",
        rows=found,
        person=person,
        catalogue=catalogue(language),
        patients=len(patients),
    )


def _month(value: str | None, default: str) -> str | None:
    if value is None or value == "":
        return default
    shaped = len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit()
    if shaped and 2000 <= int(value[:4]) <= 2099 and 1 <= int(value[5:]) <= 12:
        return value
    return None


def _chart(report: Any, measure: str, t: Translator) -> Markup:
    title = t("statistics.chart_title", measure=t(f"measure.{measure}"))
    series = report.series(measure)
    series = {(t("statistics.national") if k == "all" else k): v for k, v in series.items()}
    return Markup(line_chart(title, report.months, series, y_label=t(f"measure.{measure}")))


@role(COORDINATOR)
async def statistics(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    if not sees_statistics(user):
        return render(
            request,
            "error.html",
            status=403,
            status_code=403,
            message_key="coordination.statistics_forbidden",
        )
    t = now(request)
    this = f"{today(t):%Y-%m}"
    last = _month(request.query.get("to"), this)
    first = _month(request.query.get("from"), f"{int(this[:4]) - 1:04d}{this[4:]}")
    measure = request.query.get("measure", "sent")
    if first is None or last is None or measure not in CHART_MEASURES:
        field = "from" if first is None else "to" if last is None else "measure"
        return bad_input(request, field)
    report = await section4_report(
        request.config_dict[PLAN_INDEX],
        request.config_dict[STORE],
        request.app[CONSOLE].config,
        actor(user),
        first=first,
        last=last,
        at=t,
    )
    tr = Translator(request[LANGUAGE])
    rows = [r for r in report.rows() if any(r.get(m) for m in TABLE_MEASURES)]
    return render(
        request,
        "coordination_statistics.html",
        report=report,
        rows=rows,
        national=NATIONAL,
        measures=TABLE_MEASURES,
        chart_measures=CHART_MEASURES,
        measure=measure,
        chart=_chart(report, measure, tr),
        first=first,
        last=last,
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/coordination/", lookup)
    r.add_post("/coordination/patient", patient)
    r.add_get("/coordination/deadlines", deadlines)
    r.add_get("/coordination/flags", flags)
    r.add_get("/coordination/statistics", statistics)


__all__ = ["actor", "add_routes", "person", "sees_statistics"]
