"""Hourly agent metrics over HTTP (the seed keeps agent_metrics to service_role; RLS decides)."""

from __future__ import annotations

from aiohttp import web

from domain.metrics import rollup as metrics
from handlers.api import document
from handlers.api.auth import as_caller
from handlers.api.bodies import ok, param, query_int, query_str, query_time, responses

routes = web.RouteTableDef()

INT_OR_NULL = {"type": ["integer", "null"]}
METRIC = {
    "type": "object",
    "required": ["bucket_start", "bucket_end", "agent_name", "actions_total"],
    "properties": {
        "bucket_start": {"type": "string"},
        "bucket_end": {"type": "string"},
        "agent_name": {"type": "string"},
        "actions_total": {"type": "integer"},
        "actions_successful": {"type": "integer"},
        "actions_failed": {"type": "integer"},
        "avg_execution_time_ms": INT_OR_NULL,
        "p50_execution_time_ms": INT_OR_NULL,
        "p95_execution_time_ms": INT_OR_NULL,
        "p99_execution_time_ms": INT_OR_NULL,
        "incidents_detected": INT_OR_NULL,
        "incidents_auto_resolved": INT_OR_NULL,
        "incidents_escalated": INT_OR_NULL,
        "mttr_ms": INT_OR_NULL,
    },
}


@routes.get("/api/v1/metrics/agents")
async def agents(request: web.Request) -> web.Response:
    start, end = query_time(request, "from"), query_time(request, "to")
    agent = query_str(request, "agent")
    limit = query_int(request, "limit", 1000, minimum=1, maximum=10000)
    async with as_caller(request) as conn:
        rows = await metrics.list_metrics(conn, start, end, agent, limit)
    return ok({"metrics": rows})


def setup(app: web.Application) -> None:
    app.add_routes(routes)


OPENAPI = document(
    {
        "/api/v1/metrics/agents": {
            "get": {
                "summary": "Hourly agent metrics (percentiles are percentile_cont; see domain/metrics/rollup.py)",
                "operationId": "agentMetrics",
                "security": [{"bearer": []}],
                "parameters": [
                    param("from", {"type": "string", "format": "date-time"}, "bucket_start >= from"),
                    param("to", {"type": "string", "format": "date-time"}, "bucket_start < to"),
                    param("agent", {"type": "string", "maxLength": 200}),
                    param("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
                ],
                "responses": responses(
                    "200",
                    {
                        "type": "object",
                        "required": ["metrics"],
                        "properties": {
                            "metrics": {"type": "array", "items": {"$ref": "#/components/schemas/AgentMetric"}}
                        },
                    },
                ),
            }
        }
    },
    {"AgentMetric": METRIC},
)
