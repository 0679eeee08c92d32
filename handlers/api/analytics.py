"""Automation analytics per period over HTTP (authenticated may read: the seed's RLS)."""

from __future__ import annotations

from aiohttp import web

from domain.metrics import analytics
from handlers.api import document
from handlers.api.auth import as_caller
from handlers.api.bodies import ok, param, query_int, query_time, responses

routes = web.RouteTableDef()

INT = {"type": "integer"}
RATE = {"type": ["string", "null"], "description": "a decimal from 0 to 1, as a string"}
PERIOD = {
    "type": "object",
    "required": ["period_start", "period_days", "prs_total"],
    "properties": {
        "period_start": {"type": "string"},
        "period_days": INT,
        **{
            k: INT
            for k in (
                "prs_total prs_merged claude_reviews claude_issues_found claude_critical_issues ci_runs ci_failures"
                " linear_issues linear_completed linear_ci_failure_issues linear_sentry_issues"
            ).split()
        },
        "pr_merge_rate": RATE,
        "ci_success_rate": RATE,
        "review_coverage": RATE,
    },
}


@routes.get("/api/v1/analytics")
async def periods(request: web.Request) -> web.Response:
    period_days = request.query.get("period_days")
    days = None if period_days in (None, "") else query_int(request, "period_days", 7, minimum=1, maximum=90)
    start, end = query_time(request, "from"), query_time(request, "to")
    limit = query_int(request, "limit", 52, minimum=1, maximum=1000)
    async with as_caller(request) as conn:
        rows = await analytics.list_periods(conn, days, start, end, limit)
    for row in rows:
        row.pop("id", None)
        for k in ("pr_merge_rate", "ci_success_rate", "review_coverage"):
            row[k] = None if row[k] is None else str(row[k])
    return ok({"periods": rows})


def setup(app: web.Application) -> None:
    app.add_routes(routes)


OPENAPI = document(
    {
        "/api/v1/analytics": {
            "get": {
                "summary": "Automation analytics per period, newest first (rules in domain/metrics/analytics.py)",
                "operationId": "automationAnalytics",
                "security": [{"bearer": []}],
                "parameters": [
                    param("period_days", {"type": "integer", "minimum": 1, "maximum": 90}),
                    param("from", {"type": "string", "format": "date-time"}, "period_start >= from"),
                    param("to", {"type": "string", "format": "date-time"}, "period_start < to"),
                    param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                ],
                "responses": responses(
                    "200",
                    {
                        "type": "object",
                        "required": ["periods"],
                        "properties": {
                            "periods": {"type": "array", "items": {"$ref": "#/components/schemas/AnalyticsPeriod"}}
                        },
                    },
                ),
            }
        }
    },
    {"AnalyticsPeriod": PERIOD},
)
