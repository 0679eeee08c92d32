"""automation_analytics from stored deliveries (recorded payloads + generated review deliveries)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from domain.metrics import analytics
from tests.conftest import FIXTURES, bearer

START = analytics.period_start(datetime(2026, 11, 18, tzinfo=UTC), 7)
INSERT = """
INSERT INTO webhook_deliveries (source, delivery_id, event_type, action, body, status, received_at)
VALUES ($1, $2, $3, $4, $5, 'processed', $6)
"""


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def review(login: str, number: int, state: str, body: str) -> bytes:
    return json.dumps(
        {
            "action": "submitted",
            "review": {"user": {"login": login}, "state": state, "body": body},
            "pull_request": {"number": number},
            "repository": {"full_name": "Codertocat/Hello-World"},
        }
    ).encode()


def comment(login: str, number: int, body: str) -> bytes:
    return json.dumps(
        {
            "action": "created",
            "comment": {"user": {"login": login}, "body": body},
            "pull_request": {"number": number},
            "repository": {"full_name": "Codertocat/Hello-World"},
        }
    ).encode()


async def load(pool: asyncpg.Pool) -> None:
    at = START + timedelta(days=1)
    rows: list[tuple[str, str, str, bytes]] = [
        ("github", "pull_request", "opened", fixture("github/pull_request.opened.json")),
        ("github", "pull_request", "closed", fixture("github/pull_request.closed.merged.json")),
        ("github", "workflow_run", "completed", fixture("github/workflow_run.failure.json")),
        ("github", "workflow_run", "completed", fixture("github/workflow_run.success.json")),
        ("github", "workflow_run", "completed", fixture("github/workflow_run.success.json")),
        ("linear", "Issue", "create", fixture("linear/issue.create.json")),
        ("linear", "Issue", "update", fixture("linear/issue.update.json")),  # started, not completed
        ("github", "pull_request_review", "submitted", review("claude[bot]", 2, "changes_requested", "Needs work")),
        ("github", "pull_request_review", "submitted", review("claude[bot]", 2, "approved", "LGTM")),
        ("github", "pull_request_review", "submitted", review("a-human", 2, "changes_requested", "critical")),
        ("github", "pull_request_review_comment", "created", comment("claude[bot]", 2, "Security: SQL injection")),
        ("github", "pull_request_review_comment", "created", comment("claude", 2, "nit: naming")),
        ("github", "pull_request_review_comment", "created", comment("a-human", 2, "CRITICAL")),
    ]
    async with pool.acquire() as conn:
        await conn.executemany(INSERT, [(s, str(uuid.uuid4()), e, a, b, at) for s, e, a, b in rows])
        # Outside the period: not counted.
        await conn.execute(
            INSERT,
            "github",
            "late",
            "pull_request",
            "opened",
            fixture("github/pull_request.opened.json"),
            START + timedelta(days=7),
        )
        await conn.execute(
            "INSERT INTO sentry_error_mappings (sentry_issue_id, linear_issue_id, error_type, team_key, created_at)"
            " VALUES ('s1', 'ENG-1', 'KeyError', 'ENG', $1)",
            at,
        )
        await conn.execute(
            "INSERT INTO infrastructure_incidents (severity, incident_type, source, title, github_workflow_run_id,"
            " linear_issue_id, created_at) VALUES ('high', 'ci_failure', 'github', 't', '42', 'ENG-2', $1)",
            at,
        )


EXPECTED: dict[str, Any] = {
    "prs_total": 1,
    "prs_merged": 1,
    "claude_reviews": 2,
    "claude_issues_found": 3,  # one changes_requested review + two inline comments by AI logins
    "claude_critical_issues": 1,  # "Security: ..."
    "ci_runs": 2,  # the success run was delivered twice: one run (issue 12, defect 7)
    "ci_failures": 1,
    "linear_issues": 1,
    "linear_completed": 0,
    "linear_ci_failure_issues": 1,
    "linear_sentry_issues": 1,
    "pr_merge_rate": Decimal("1.0000"),
    "ci_success_rate": Decimal("0.5000"),
    "review_coverage": Decimal("1.0000"),
}


async def test_a_period_is_computed_from_stored_deliveries_and_recomputed_in_place(
    pool: asyncpg.Pool, client: TestClient[Any, Any]
) -> None:
    await load(pool)
    row = await analytics.compute(pool, START, 7)
    assert {k: row[k] for k in EXPECTED} == EXPECTED
    again = await analytics.compute(pool, START, 7)
    assert again["id"] == row["id"] and await pool.fetchval("SELECT count(*) FROM automation_analytics") == 1

    assert await analytics.roll_current(pool, now=START + timedelta(days=8)) == 2
    assert await pool.fetchval("SELECT count(*) FROM automation_analytics") == 2

    response = await client.get("/api/v1/analytics", params={"period_days": "7"}, headers=bearer("authenticated"))
    periods = (await response.json())["periods"]
    assert response.status == 200 and len(periods) == 2
    assert periods[1]["ci_success_rate"] == "0.5000" and periods[0]["prs_total"] == 1  # the late PR


def test_rates_and_rules_are_pure() -> None:
    assert analytics.rates(analytics.Counts()) == dict.fromkeys(("pr_merge_rate", "ci_success_rate", "review_coverage"))
    assert analytics.is_critical("SECURITY hole") and not analytics.is_critical("nit")
    assert analytics.period_start(datetime(2026, 11, 27, 18, tzinfo=UTC), 7) == datetime(2026, 11, 23, tzinfo=UTC)
