"""Agent costs over HTTP: record one (exact decimal), summarise by agent, cost type or UTC day."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from domain.ledger import costs
from handlers.api import document
from handlers.api.auth import as_caller
from handlers.api.bodies import (
    bad_request,
    created,
    json_body,
    ok,
    param,
    query_str,
    query_time,
    request_body,
    responses,
)

routes = web.RouteTableDef()

AMOUNT_PATTERN = "^-?[0-9]{1,12}(\\.[0-9]{1,10})?$"
COST_IN: dict[str, Any] = {
    "type": "object",
    "required": ["agent_id", "cost_type", "amount_usd"],
    "additionalProperties": False,
    "properties": {
        "agent_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "cost_type": {"type": "string", "minLength": 1, "maxLength": 100},
        "amount_usd": {
            "description": 'exact decimal: a string like "0.0042" (or a JSON number, read as a decimal)',
            "oneOf": [
                {"type": "string", "pattern": AMOUNT_PATTERN},
                {"type": "number", "minimum": -1e12, "maximum": 1e12},
            ],
        },
        "description": {"type": ["string", "null"], "maxLength": 5000},
        "metadata": {"type": ["object", "null"]},
    },
}
COST = {
    "type": "object",
    "required": ["id", "agent_id", "cost_type", "amount_usd", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "agent_id": {"type": "string"},
        "cost_type": {"type": "string"},
        "amount_usd": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"},
        "description": {"type": ["string", "null"]},
        "metadata": {"type": "object"},
        "created_at": {"type": "string"},
        "budget_alert_queued": {"type": "boolean"},
    },
}
SUMMARY = {
    "type": "object",
    "required": ["group_by", "groups"],
    "properties": {
        "group_by": {"type": "string", "enum": [g.value for g in costs.GroupBy]},
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "total_usd", "entries"],
                "properties": {
                    "key": {"type": "string"},
                    "total_usd": {"type": "string"},
                    "entries": {"type": "integer"},
                },
            },
        },
    },
}


def _exact_amount(text: str) -> Decimal:
    """amount_usd as the exact decimal the client wrote (a JSON number is never read as a float)."""
    raw = json.loads(text, parse_float=Decimal, parse_int=Decimal)["amount_usd"]
    return Decimal(raw)


@routes.post("/api/v1/costs")
async def record(request: web.Request) -> web.Response:
    body = await json_body(request, COST_IN)
    amount = _exact_amount((await request.read()).decode("utf-8"))  # json_body checked it is UTF-8
    if not amount.is_finite() or abs(amount) >= 10**12 or amount.as_tuple().exponent < -10:  # type: ignore[operator]
        raise bad_request("amount_usd must be a decimal below 10^12 with at most 10 decimal places")
    metadata = body.get("metadata") or {}
    async with as_caller(request) as conn:
        cost, alerted = await costs.record(
            conn, body["agent_id"], body["cost_type"], amount, description=body.get("description"), metadata=metadata
        )
    return created({**cost.as_json(), "budget_alert_queued": alerted})


@routes.get("/api/v1/costs/summary")
async def summary(request: web.Request) -> web.Response:
    raw = query_str(request, "group_by") or costs.GroupBy.AGENT.value
    try:
        group_by = costs.GroupBy(raw)
    except ValueError as exc:
        raise bad_request("group_by must be one of agent, cost_type, day") from exc
    async with as_caller(request) as conn:
        groups = await costs.summary(conn, group_by, query_time(request, "from"), query_time(request, "to"))
    return ok({"group_by": group_by.value, "groups": groups})


def setup(app: web.Application) -> None:
    app.add_routes(routes)


OPENAPI = document(
    {
        "/api/v1/costs": {
            "post": {
                "summary": "Record a cost (service_role); may queue a once-a-day budget alert",
                "operationId": "recordCost",
                "security": [{"bearer": []}],
                "requestBody": request_body("CostIn"),
                "responses": responses("201", {"$ref": "#/components/schemas/Cost"}),
            }
        },
        "/api/v1/costs/summary": {
            "get": {
                "summary": "Totals (exact decimal strings) grouped by agent, cost type or UTC day",
                "operationId": "costSummary",
                "security": [{"bearer": []}],
                "parameters": [
                    param("group_by", {"type": "string", "enum": [g.value for g in costs.GroupBy]}),
                    param("from", {"type": "string", "format": "date-time"}, "inclusive"),
                    param("to", {"type": "string", "format": "date-time"}, "exclusive"),
                ],
                "responses": responses("200", {"$ref": "#/components/schemas/CostSummary"}),
            }
        },
    },
    {"CostIn": COST_IN, "Cost": COST, "CostSummary": SUMMARY},
)
