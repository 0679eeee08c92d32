"""The console's pages (GET). Each renders whole for a browser without JavaScript, and only its live
region for an htmx poll (``HX-Request``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from markupsafe import Markup

from domain import settings
from domain.approvals import store as approvals
from domain.approvals.policy import may_decide
from domain.incidents import store as incidents
from domain.incidents.rules import OPEN, Status, Transition, next_status
from domain.ledger.costs import BUDGETS_KEY, budget_for
from handlers.console import charts, queries
from handlers.console.sessions import Person
from handlers.console.web import PREFIX, is_admin, partial, render, signed_in
from handlers.keys import CONFIG, GROUP_MEMBERS, HUB, POOL, WIRING
from integrations.slack import client as slack_api

SEVERITIES = ("critical", "high", "medium", "low")
APPROVERS_KEY = "approvals.approvers"


def _live(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    name = f"partials/{template}" if partial(request) else template
    return render(request, name, context)


async def overview(request: web.Request, person: Person) -> web.StreamResponse:
    pool, config = request.app[POOL], request.app[CONFIG]
    budgets = await settings.get(pool, BUDGETS_KEY, {})
    costs = [
        {"agent": r["agent_id"], "total": r["total"], "budget": budget_for(budgets, r["agent_id"])}
        for r in await queries.rows(pool, queries.COSTS_TODAY)
    ]
    hub = request.app[HUB]
    health = [{"name": "LISTEN hub", "ok": hub.listening.is_set(), "detail": hub.last_error or "listening"}]
    for job in [*request.app[WIRING].jobs]:
        detail = f"every {job.interval_s:g} s" if config.run_jobs else "jobs are off in this process"
        health.append({"name": job.name, "ok": config.run_jobs, "detail": detail})
    context = {
        "title": "Overview",
        "severities": {r["severity"]: r["n"] for r in await queries.rows(pool, queries.OPEN_BY_SEVERITY)},
        "order": SEVERITIES,
        "latest": await queries.rows(pool, queries.LATEST_OPEN),
        "pending": await approvals.pending(pool, 20),
        "coding": {r["status"]: r["n"] for r in await queries.rows(pool, queries.CODING_BY_STATUS)},
        "deliveries": dict(await pool.fetchrow(queries.DELIVERY_PROBLEMS)),
        "outbox": dict(await pool.fetchrow(queries.OUTBOX_BACKLOG)),
        "costs": costs,
        "health": health,
        "now": datetime.now(UTC),
    }
    return _live(request, "overview.html", context)


def _cursor(raw: str | None) -> tuple[datetime, int] | None:
    if not raw or "_" not in raw:
        return None
    at, _, number = raw.rpartition("_")
    try:
        return datetime.fromisoformat(at), int(number)
    except ValueError:
        return None


async def incident_list(request: web.Request, person: Person) -> web.StreamResponse:
    q = request.query
    status = q.get("status") if q.get("status") in {s.value for s in Status} else None
    severity = q.get("severity") if q.get("severity") in SEVERITIES else None
    service = (q.get("service") or "").strip()[:200] or None
    found, after = await queries.incidents_page(
        request.app[POOL], status=status, severity=severity, service=service, before=_cursor(q.get("before"))
    )
    filters = {k: v for k, v in (("status", status), ("severity", severity), ("service", service)) if v}
    next_query = {**filters, "before": f"{after[0].isoformat()}_{after[1]}"} if after else None
    context = {
        "title": "Incidents",
        "incidents": found,
        "filters": filters,
        "statuses": [s.value for s in Status],
        "severities": SEVERITIES,
        "next_query": next_query,
        "paged": "before" in q,
    }
    return _live(request, "incidents.html", context)


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms // 1000
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


async def incident_detail(request: web.Request, person: Person) -> web.StreamResponse:
    try:
        incident_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(reason="no such incident") from None
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        incident = await incidents.get(conn, incident_id)
        if incident is None:
            raise web.HTTPNotFound(reason="no such incident")
        fixes = await queries.rows(conn, queries.FIXES, str(incident_id), incident.sentry_issue_id)
    row = incident.row
    created = row["created_at"]
    timeline = [
        (
            "detected",
            created,
            _duration(row["time_to_detect_ms"]) and f"detected after {_duration(row['time_to_detect_ms'])}",
        )
    ]
    if row["time_to_mitigate_ms"] is not None:
        timeline.append(("mitigating", None, f"{_duration(row['time_to_mitigate_ms'])} after detection"))
    if row["resolved_at"] is not None:
        timeline.append(("resolved", row["resolved_at"], f"{_duration(row['time_to_resolve_ms'])} after detection"))
    moves = [
        t.value
        for t in (Transition.ACKNOWLEDGE, Transition.MITIGATE, Transition.RESOLVE)
        if next_status(incident.status, t)
    ]
    details = row.get("error_details") or {}
    context = {
        "title": f"Incident #{incident.incident_number}",
        "incident": row,
        "timeline": timeline,
        "fixes": fixes,
        "moves": moves,
        "is_open": incident.status in OPEN,
        "sentry_url": details.get("web_url") or details.get("permalink") if isinstance(details, dict) else None,
        "github_run": row.get("github_workflow_run_id"),
    }
    return render(request, "incident.html", context)


async def decidable(request: web.Request, person: Person, risk: Any) -> bool:
    """The Slack approver policy for this person and risk (groups looked up through Slack, cached)."""
    pool, config = request.app[POOL], request.app[CONFIG]
    members_of = request.app[GROUP_MEMBERS].lookup(slack_api.make_client(config))
    verdict = await may_decide(await settings.get(pool, APPROVERS_KEY, {}), risk, person.user_id, members_of)
    return verdict.allowed


async def approval_list(request: web.Request, person: Person) -> web.StreamResponse:
    pool = request.app[POOL]
    pending = await approvals.pending(pool, 100)
    rows = [{"approval": a, "may_decide": await decidable(request, person, a.risk)} for a in pending]
    context = {
        "title": "Approvals",
        "pending": rows,
        "history": await queries.rows(pool, queries.APPROVAL_HISTORY, 50),
        "now": datetime.now(UTC),
    }
    return render(request, "approvals.html", context)


async def coding_board(request: web.Request, person: Person) -> web.StreamResponse:
    columns: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in await queries.rows(request.app[POOL], queries.CODING_BOARD, 300):
        columns[r["status"]].append(r)
    order = ["pending", "planning", "in_progress", "in_review", "completed", "failed", "cancelled"]
    context = {"title": "Coding requests", "columns": [(s, columns.get(s, [])) for s in order]}
    return _live(request, "coding.html", context)


def _series(rows: list[dict[str, Any]], value: str) -> tuple[list[str], dict[str, list[float | None]]]:
    hours = sorted({r["bucket_start"] for r in rows})
    index = {h: i for i, h in enumerate(hours)}
    out: dict[str, list[float | None]] = defaultdict(lambda: [None] * len(hours))
    for r in rows:
        v = r[value]
        out[r["agent_name"]][index[r["bucket_start"]]] = None if v is None else float(v)
    return [f"{h:%m-%d %H:00}" for h in hours], dict(out)


async def agents(request: web.Request, person: Person) -> web.StreamResponse:
    pool = request.app[POOL]
    hourly = await queries.rows(pool, queries.AGENT_HOURS, 7)
    for r in hourly:
        r["success_rate"] = 100 * r["actions_successful"] / r["actions_total"] if r["actions_total"] else None
        r["mttr_min"] = r["mttr_ms"] / 60000 if r["mttr_ms"] is not None else None
    cost_rows = await queries.rows(pool, queries.COST_DAYS, 14)
    days = sorted({r["day"] for r in cost_rows})
    agents_ = sorted({r["agent_id"] for r in cost_rows})
    stacks = {a: [0.0] * len(days) for a in agents_}
    for r in cost_rows:
        stacks[r["agent_id"]][days.index(r["day"])] = float(r["total"])
    budgets_setting = await settings.get(pool, BUDGETS_KEY, {})
    budgets = {a: float(b) for a in agents_ if (b := budget_for(budgets_setting, a)) is not None}
    charts_ = []
    for title, column in (
        ("Actions per hour", "actions_total"),
        ("Success rate per hour (%)", "success_rate"),
        ("p95 execution time (ms)", "p95_execution_time_ms"),
        ("MTTR (minutes)", "mttr_min"),
    ):
        xs, series = _series(hourly, column)
        charts_.append((title, Markup(charts.lines(title, xs, series))))
    cost_title = "Cost per day (USD), stacked by agent, with budget lines"
    charts_.append((cost_title, Markup(charts.stacked(cost_title, [f"{d:%m-%d}" for d in days], stacks, budgets))))
    context = {
        "title": "Agents",
        "charts": charts_,
        "analytics": await queries.rows(pool, queries.ANALYTICS, 12),
        "has_data": bool(hourly or cost_rows),
    }
    return render(request, "agents.html", context)


async def deliveries(request: web.Request, person: Person) -> web.StreamResponse:
    pool = request.app[POOL]
    context = {
        "title": "Deliveries",
        "failed": await queries.rows(pool, queries.DELIVERIES, 200),
        "outbox": await queries.rows(pool, queries.OUTBOX_ROWS, 200),
        "kinds": await queries.rows(pool, queries.OUTBOX_KINDS),
    }
    return _live(request, "deliveries.html", context)


async def settings_page(
    request: web.Request, person: Person, *, errors: dict[str, str] | None = None, drafts: dict[str, str] | None = None
) -> web.Response:
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        rows = await settings.list_all(conn)
    context = {
        "title": "Settings",
        "settings": rows,
        "admin": await is_admin(pool, person),
        "errors": errors or {},
        "drafts": drafts or {},
    }
    return render(request, "settings.html", context, status=422 if errors else 200)


async def settings_get(request: web.Request, person: Person) -> web.StreamResponse:
    return await settings_page(request, person)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX, signed_in(overview))
    app.router.add_get(f"{PREFIX}/", signed_in(overview))
    app.router.add_get(f"{PREFIX}/incidents", signed_in(incident_list))
    app.router.add_get(f"{PREFIX}/incidents/{{id}}", signed_in(incident_detail))
    app.router.add_get(f"{PREFIX}/approvals", signed_in(approval_list))
    app.router.add_get(f"{PREFIX}/coding-requests", signed_in(coding_board))
    app.router.add_get(f"{PREFIX}/agents", signed_in(agents))
    app.router.add_get(f"{PREFIX}/deliveries", signed_in(deliveries))
    app.router.add_get(f"{PREFIX}/settings", signed_in(settings_get))
