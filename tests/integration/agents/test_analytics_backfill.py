"""Backfilling past analytics periods from GitHub (PyGithub against a fake GitHub REST server)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

import app as app_module
from domain.metrics import analytics
from handlers import commands
from tests.conftest import make_config
from tests.fakes.github_analytics import FakeGitHub, fake_github_analytics

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
CURRENT = analytics.period_start(NOW, 7)  # 2026-11-23
P1, P2 = CURRENT - timedelta(days=14), CURRENT - timedelta(days=7)
REPO = "acme/api"
SET_REPOS = "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'analytics.repositories'"


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str) -> dict[str, object]:
    return {"login": login, "id": hash(login) % 10**6, "type": "User"}


def pr(number: int, created: datetime, merged: datetime | None) -> dict[str, object]:
    return {
        "number": number,
        "id": number,
        "state": "closed" if merged else "open",
        "title": f"PR {number}",
        "created_at": iso(created),
        "merged_at": iso(merged) if merged else None,
        "user": user("dev"),
    }


def populate(fake: FakeGitHub) -> None:
    fake.pulls[REPO] = [
        pr(1, P1 + timedelta(hours=1), P1 + timedelta(days=1)),
        pr(2, P1 + timedelta(hours=2), None),
        pr(3, P2 + timedelta(hours=3), P2 + timedelta(hours=5)),
        pr(4, P1 - timedelta(days=30), P1 - timedelta(days=29)),  # before the backfilled periods
    ]
    fake.reviews[(REPO, 1)] = [
        {
            "id": 11,
            "user": user("claude[bot]"),
            "state": "CHANGES_REQUESTED",
            "body": "Critical: race",
            "submitted_at": iso(P1 + timedelta(hours=4)),
        },
        {
            "id": 12,
            "user": user("someone"),
            "state": "APPROVED",
            "body": "",
            "submitted_at": iso(P1 + timedelta(hours=5)),
        },
    ]
    fake.reviews[(REPO, 3)] = [
        {
            "id": 13,
            "user": user("claude"),
            "state": "APPROVED",
            "body": "ok",
            "submitted_at": iso(P2 + timedelta(hours=4)),
        }
    ]
    fake.comments[(REPO, 1)] = [
        {"id": 21, "user": user("claude[bot]"), "body": "nit", "created_at": iso(P1 + timedelta(hours=4))},
        {"id": 22, "user": user("someone"), "body": "security!", "created_at": iso(P1 + timedelta(hours=4))},
    ]
    fake.runs[REPO] = [
        {"id": 31, "status": "completed", "conclusion": "success", "created_at": iso(P1 + timedelta(hours=1))},
        {"id": 32, "status": "completed", "conclusion": "failure", "created_at": iso(P1 + timedelta(hours=2))},
        {"id": 33, "status": "in_progress", "conclusion": None, "created_at": iso(P2 + timedelta(hours=2))},
        {"id": 34, "status": "completed", "conclusion": "timed_out", "created_at": iso(P2 + timedelta(hours=2))},
    ]


async def test_backfill_reads_github_with_pygithub(pool: asyncpg.Pool) -> None:
    await pool.execute(SET_REPOS, [REPO])
    async with fake_github_analytics() as fake:
        populate(fake)
        rows = await analytics.backfill(pool, fake.url, "ghp_test", periods=2, now=NOW, throttle_s=None)
        assert not any("/pulls/4/" in r for r in fake.requests), "stops at PRs older than the backfill"
        again = await analytics.backfill(pool, fake.url, "ghp_test", periods=2, now=NOW, throttle_s=None)
    first, second = rows
    assert first["period_start"] == P1 and second["period_start"] == P2
    assert (first["prs_total"], first["prs_merged"], first["claude_reviews"]) == (2, 1, 1)
    assert (first["claude_issues_found"], first["claude_critical_issues"]) == (2, 1)
    assert (first["ci_runs"], first["ci_failures"]) == (2, 1)
    assert first["pr_merge_rate"] == Decimal("0.5000") and first["review_coverage"] == Decimal("0.5000")
    assert (second["prs_total"], second["prs_merged"], second["ci_runs"], second["ci_failures"]) == (1, 1, 1, 1)
    assert second["ci_success_rate"] == Decimal("0.0000")
    assert [r["id"] for r in again] == [first["id"], second["id"]], "a rerun updates the same rows"


async def test_the_analytics_command_backfills(pool: asyncpg.Pool, database_url: str) -> None:
    await pool.execute(SET_REPOS, [REPO])
    async with fake_github_analytics() as fake:
        config = make_config(database_url, github_api_url=fake.url, github_token="ghp_test")
        assert await commands.analytics(config, argparse.Namespace(backfill=True, periods=1), app_module.wire()) == 0
        assert any(r.startswith(f"/repos/{REPO}/pulls") for r in fake.requests)
    assert await pool.fetchval("SELECT count(*) FROM automation_analytics") == 1
    assert await commands.analytics(config, argparse.Namespace(backfill=False, periods=1), app_module.wire()) == 0
    assert await pool.fetchval("SELECT count(*) FROM automation_analytics") == 2, "the previous one is the same row"
