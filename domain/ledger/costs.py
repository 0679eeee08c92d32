"""Agent costs: exact decimal amounts, summaries, and per-agent daily budgets that alert once a day.

Budgets live in setting ``costs.daily_budgets_usd`` ({"agent-id": "12.50", "*": "5"}). When an agent's
spending for the UTC day (the sum of its ``agent_costs`` rows created that day) goes above its budget,
one Slack alert is queued in the outbox with dedupe key ``budget:<agent>:<YYYY-MM-DD>``: once per agent
per day, whatever the number of replicas or concurrent writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import asyncpg

from db import connect, locks
from domain import settings
from integrations.slack import client as slack
from jobs import outbox

BUDGETS_KEY = "costs.daily_budgets_usd"
CHANNEL_KEY = "costs.alert_channel"
ALERT_KIND = "costs.budget_alert"
ALERT_EVENT = "swarm_bridge_budget_alert"


class GroupBy(StrEnum):
    AGENT = "agent"
    COST_TYPE = "cost_type"
    DAY = "day"


INSERT = """
INSERT INTO agent_costs (agent_id, cost_type, amount_usd, description, metadata)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, agent_id, cost_type, amount_usd, description, metadata, created_at
"""
DAY_TOTAL = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, (
    SELECT coalesce(sum(amount_usd), 0) FROM agent_costs
    WHERE agent_id = $1
      AND created_at >= (c.created_at AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC'
      AND created_at < ((c.created_at AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
) AS total
FROM agent_costs c WHERE c.id = $2
"""
SUMMARY = {
    GroupBy.AGENT: "agent_id",
    GroupBy.COST_TYPE: "cost_type",
    GroupBy.DAY: "to_char((created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')",
}
SUMMARY_SQL = """
SELECT {key} AS key, sum(amount_usd) AS total_usd, count(*) AS entries
FROM agent_costs
WHERE ($1::timestamptz IS NULL OR created_at >= $1) AND ($2::timestamptz IS NULL OR created_at < $2)
GROUP BY 1 ORDER BY 1
"""


@dataclass(frozen=True)
class Cost:
    id: str
    agent_id: str
    cost_type: str
    amount_usd: Decimal
    description: str | None
    metadata: dict[str, Any]
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agent_id": self.agent_id,
            "cost_type": self.cost_type,
            "amount_usd": plain(self.amount_usd),
            "description": self.description,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
        }


def plain(amount: Decimal) -> str:
    """A decimal in positional notation (never 1E-7), as stored. Pure."""
    return format(amount, "f")


def budget_for(budgets: dict[str, Any], agent_id: str) -> Decimal | None:
    """The agent's own budget, else the "*" default, else none. Pure."""
    raw = budgets.get(agent_id, budgets.get("*"))
    return None if raw is None else Decimal(str(raw))


async def record(
    conn: asyncpg.Connection,
    agent_id: str,
    cost_type: str,
    amount_usd: Decimal,
    *,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Cost, bool]:
    """Insert a cost as the caller; returns it and whether a budget alert was queued by this call."""
    row = await conn.fetchrow(INSERT, agent_id, cost_type, amount_usd, description, metadata or {})
    cost = Cost(**{**dict(row), "id": str(row["id"]), "metadata": row["metadata"] or {}})
    budget = budget_for(await settings.get(conn, BUDGETS_KEY, {}), agent_id)
    if budget is None:
        return cost, False
    # One writer at a time per agent past this point, so two concurrent costs that cross the budget only
    # together still see each other's rows (READ COMMITTED: the next statement sees the earlier commit).
    await locks.xact_lock(conn, locks.cost_budget(agent_id))
    day_row = await conn.fetchrow(DAY_TOTAL, agent_id, row["id"])
    day: date = day_row["day"]
    total: Decimal = day_row["total"]
    if total <= budget:
        return cost, False
    # The outbox is the service's own table: queue the alert as the service, in this same transaction.
    await connect.as_owner(conn)
    queued = await outbox.enqueue(
        conn,
        ALERT_KIND,
        {"agent_id": agent_id, "day": day.isoformat(), "total_usd": plain(total), "budget_usd": plain(budget)},
        dedupe_key=f"budget:{agent_id}:{day.isoformat()}",
    )
    return cost, queued is not None


async def summary(
    conn: asyncpg.Connection, group_by: GroupBy, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(SUMMARY_SQL.format(key=SUMMARY[group_by]), start, end)
    return [{"key": r["key"], "total_usd": plain(r["total_usd"]), "entries": r["entries"]} for r in rows]


def alert_text(payload: dict[str, Any]) -> str:
    return (
        f":money_with_wings: Agent `{payload['agent_id']}` has spent ${payload['total_usd']} on {payload['day']} (UTC),"
        f" above its daily budget of ${payload['budget_usd']}."
    )


async def post_alert(ctx: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
    channel = await settings.get(ctx.pool, CHANNEL_KEY) or ctx.config.slack_incidents_channel
    if not channel:
        raise outbox.RetryLater(600, "no channel for budget alerts: set costs.alert_channel or SLACK_INCIDENTS_CHANNEL")
    key = {"agent_id": payload["agent_id"], "day": payload["day"]}
    oldest = datetime.fromisoformat(payload["day"]).replace(tzinfo=UTC).timestamp() - 600
    answer, adopted = await slack.post_once(ctx, channel, ALERT_EVENT, key, oldest=oldest, text=alert_text(payload))
    return {"channel": answer.get("channel"), "ts": answer.get("ts"), "adopted": adopted}


# The outbox kinds this module delivers (given to the wiring by the concept's setup).
OUTBOX: dict[str, outbox.Handler] = {
    ALERT_KIND: post_alert,
}
