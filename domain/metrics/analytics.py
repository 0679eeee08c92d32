"""``automation_analytics``: one row per period (``period_days``, default 7), computed from what the service
stores. Periods start on UTC midnights aligned to 1970-01-05 (a Monday), so weekly periods are ISO weeks.

Counting rules (deliveries are ``webhook_deliveries`` rows received in [period_start, period_end)):
- prs_total: GitHub ``pull_request`` deliveries with action ``opened`` (distinct repository + number).
- prs_merged: ``pull_request`` ``closed`` with ``pull_request.merged`` true (distinct repository + number).
- claude_reviews: ``pull_request_review`` ``submitted`` whose ``review.user.login`` is in setting
  ``analytics.ai_reviewers``.
- claude_issues_found: inline review comments (``pull_request_review_comment`` ``created``) by those logins,
  plus their reviews submitted with state ``changes_requested`` (a review asking for changes is one issue
  even without an inline comment); claude_critical_issues: those comments and reviews whose body matches
  ``CRITICAL_PATTERN`` (critical, security, vulnerability, blocker, severity: high, a red circle), any case.
- ci_runs / ci_failures: ``workflow_run`` ``completed``, distinct runs (id, attempt): a run delivered by an
  organisation hook and a repository hook counts once; failures are conclusions failure, timed_out,
  startup_failure.
- linear_issues / linear_completed: Linear ``Issue`` deliveries ``create`` / ``update`` into a state of
  type ``completed`` (distinct issue ids).
- linear_ci_failure_issues: incidents with a GitHub workflow run and a Linear issue, created in the period;
  linear_sentry_issues: ``sentry_error_mappings`` created in the period.
- pr_merge_rate = merged / total; ci_success_rate = (runs - failures) / runs; review_coverage = PRs that got
  an AI review / PRs opened (capped at 1); each NULL when its denominator is 0, rounded to 4 places.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import asyncpg

from domain import settings
from integrations.github import history as github_analytics
from integrations.github.payloads import FAILED
from jobs import scheduler

EPOCH = datetime(1970, 1, 5, tzinfo=UTC)
REVIEWERS_KEY = "analytics.ai_reviewers"
PERIOD_KEY = "analytics.period_days"
DEFAULT_REVIEWERS = ["claude[bot]", "claude"]
CRITICAL_PATTERN = r"(critical|security|vulnerab|blocker|severity:\s*high|\U0001f534)"
FAILED_CONCLUSIONS = tuple(sorted(FAILED))


@dataclass(frozen=True)
class Counts:
    prs_total: int = 0
    prs_merged: int = 0
    claude_reviews: int = 0
    claude_issues_found: int = 0
    claude_critical_issues: int = 0
    ci_runs: int = 0
    ci_failures: int = 0
    linear_issues: int = 0
    linear_completed: int = 0
    linear_ci_failure_issues: int = 0
    linear_sentry_issues: int = 0
    reviewed_prs: int = 0


def ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return min(Decimal(1), Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def rates(c: Counts) -> dict[str, Decimal | None]:
    """The three rates of a period. Pure."""
    return {
        "pr_merge_rate": ratio(c.prs_merged, c.prs_total),
        "ci_success_rate": ratio(c.ci_runs - c.ci_failures, c.ci_runs),
        "review_coverage": ratio(c.reviewed_prs, c.prs_total),
    }


def is_critical(text: str | None) -> bool:
    return bool(text and re.search(CRITICAL_PATTERN, text, re.IGNORECASE))


def period_start(at: datetime, period_days: int) -> datetime:
    """The start of the period holding ``at``. Pure."""
    days = (at.astimezone(UTC) - EPOCH).days
    return EPOCH + timedelta(days=days - days % period_days)


COUNT = """
WITH d AS (
    SELECT source, event_type, action, webhook_body_jsonb(body) AS j
    FROM webhook_deliveries
    WHERE received_at >= $1 AND received_at < $2 AND source IN ('github', 'linear')
),
gh AS (
    SELECT event_type, action, j, j #>> '{repository,full_name}' AS repo FROM d WHERE source = 'github'
),
ai AS (
    SELECT action, event_type, j, repo,
           coalesce(j #>> '{comment,body}', j #>> '{review,body}', '') AS text,
           (j #>> '{pull_request,number}') AS pr
    FROM gh
    WHERE (event_type = 'pull_request_review' AND action = 'submitted'
           AND j #>> '{review,user,login}' = ANY($3::text[]))
       OR (event_type = 'pull_request_review_comment' AND action = 'created'
           AND j #>> '{comment,user,login}' = ANY($3::text[]))
),
findings AS (
    SELECT text FROM ai
    WHERE event_type = 'pull_request_review_comment'
       OR lower(j #>> '{review,state}') = 'changes_requested'
)
SELECT
    (SELECT count(DISTINCT (repo, j #>> '{pull_request,number}')) FROM gh
        WHERE event_type = 'pull_request' AND action = 'opened') AS prs_total,
    (SELECT count(DISTINCT (repo, j #>> '{pull_request,number}')) FROM gh
        WHERE event_type = 'pull_request' AND action = 'closed'
          AND (j #>> '{pull_request,merged}')::boolean) AS prs_merged,
    (SELECT count(*) FROM ai WHERE event_type = 'pull_request_review') AS claude_reviews,
    (SELECT count(*) FROM findings) AS claude_issues_found,
    (SELECT count(*) FROM findings WHERE text ~* $4) AS claude_critical_issues,
    (SELECT count(DISTINCT (j #>> '{workflow_run,id}', coalesce(j #>> '{workflow_run,run_attempt}', '1'))) FROM gh
        WHERE event_type = 'workflow_run' AND action = 'completed') AS ci_runs,
    (SELECT count(DISTINCT (j #>> '{workflow_run,id}', coalesce(j #>> '{workflow_run,run_attempt}', '1'))) FROM gh
        WHERE event_type = 'workflow_run' AND action = 'completed'
          AND j #>> '{workflow_run,conclusion}' = ANY($5::text[])) AS ci_failures,
    (SELECT count(DISTINCT j #>> '{data,id}') FROM d
        WHERE source = 'linear' AND event_type = 'Issue' AND action = 'create') AS linear_issues,
    (SELECT count(DISTINCT j #>> '{data,id}') FROM d
        WHERE source = 'linear' AND event_type = 'Issue' AND action = 'update'
          AND j #>> '{data,state,type}' = 'completed') AS linear_completed,
    (SELECT count(*) FROM infrastructure_incidents
        WHERE created_at >= $1 AND created_at < $2
          AND github_workflow_run_id IS NOT NULL AND linear_issue_id IS NOT NULL) AS linear_ci_failure_issues,
    (SELECT count(*) FROM sentry_error_mappings
        WHERE created_at >= $1 AND created_at < $2) AS linear_sentry_issues,
    (SELECT count(DISTINCT (repo, pr)) FROM ai WHERE event_type = 'pull_request_review') AS reviewed_prs
"""
UPSERT = """
INSERT INTO automation_analytics (
    period_start, period_days, prs_total, prs_merged, claude_reviews, claude_issues_found, claude_critical_issues,
    ci_runs, ci_failures, linear_issues, linear_completed, linear_ci_failure_issues, linear_sentry_issues,
    pr_merge_rate, ci_success_rate, review_coverage
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (period_start, period_days) DO UPDATE SET
    prs_total = EXCLUDED.prs_total, prs_merged = EXCLUDED.prs_merged,
    claude_reviews = EXCLUDED.claude_reviews, claude_issues_found = EXCLUDED.claude_issues_found,
    claude_critical_issues = EXCLUDED.claude_critical_issues,
    ci_runs = EXCLUDED.ci_runs, ci_failures = EXCLUDED.ci_failures,
    linear_issues = EXCLUDED.linear_issues, linear_completed = EXCLUDED.linear_completed,
    linear_ci_failure_issues = EXCLUDED.linear_ci_failure_issues,
    linear_sentry_issues = EXCLUDED.linear_sentry_issues,
    pr_merge_rate = EXCLUDED.pr_merge_rate, ci_success_rate = EXCLUDED.ci_success_rate,
    review_coverage = EXCLUDED.review_coverage
RETURNING *
"""
LIST = """
SELECT * FROM automation_analytics
WHERE ($1::int IS NULL OR period_days = $1) AND ($2::timestamptz IS NULL OR period_start >= $2)
  AND ($3::timestamptz IS NULL OR period_start < $3)
ORDER BY period_start DESC, period_days
LIMIT $4
"""


async def count_stored(conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime) -> Counts:
    reviewers = await settings.get(conn, REVIEWERS_KEY, DEFAULT_REVIEWERS)
    row = await conn.fetchrow(COUNT, start, end, list(reviewers), CRITICAL_PATTERN, list(FAILED_CONCLUSIONS))
    return Counts(**dict(row))


async def store(
    conn: asyncpg.Connection | asyncpg.Pool, start: datetime, period_days: int, c: Counts
) -> dict[str, object]:
    r = rates(c)
    values = asdict(c)
    values.pop("reviewed_prs")
    row = await conn.fetchrow(
        UPSERT, start, period_days, *values.values(), r["pr_merge_rate"], r["ci_success_rate"], r["review_coverage"]
    )
    return dict(row)


async def compute(pool: asyncpg.Pool, start: datetime, period_days: int) -> dict[str, object]:
    counts = await count_stored(pool, start, start + timedelta(days=period_days))
    return await store(pool, start, period_days, counts)


async def roll_current(pool: asyncpg.Pool, *, now: datetime | None = None) -> int:
    """The job: recompute the current period and the one before (late deliveries land in either)."""
    period_days = int(await settings.get(pool, PERIOD_KEY, 7))
    current = period_start(now or datetime.now(UTC), period_days)
    for start in (current - timedelta(days=period_days), current):
        await compute(pool, start, period_days)
    return 2


async def list_periods(
    conn: asyncpg.Connection, period_days: int | None, start: datetime | None, end: datetime | None, limit: int
) -> list[dict[str, object]]:
    return [dict(r) for r in await conn.fetch(LIST, period_days, start, end, limit)]


REPOSITORIES_KEY = "analytics.repositories"


async def backfill(
    pool: asyncpg.Pool,
    api_url: str,
    token: str | None,
    *,
    periods: int,
    now: datetime | None = None,
    throttle_s: float | None = 0.25,
) -> list[dict[str, object]]:
    """Fill the ``periods`` periods before the current one: GitHub numbers from the GitHub API (PyGithub in a
    thread), Linear / Sentry / incident numbers from what the service stored. Upserts; returns the rows."""
    period_days = int(await settings.get(pool, PERIOD_KEY, 7))
    current = period_start(now or datetime.now(UTC), period_days)
    starts = [current - timedelta(days=period_days * k) for k in range(periods, 0, -1)]
    spans = [(s, s + timedelta(days=period_days)) for s in starts]
    repositories = list(await settings.get(pool, REPOSITORIES_KEY, []))
    reviewers = list(await settings.get(pool, REVIEWERS_KEY, DEFAULT_REVIEWERS))
    tallies = await asyncio.to_thread(
        github_analytics.count, api_url, token, repositories, reviewers, spans, is_critical, throttle_s=throttle_s
    )
    rows = []
    for start, end in spans:
        stored = await count_stored(pool, start, end)
        t = tallies.get(start, github_analytics.Tally())
        counts = replace(
            stored,
            prs_total=t.prs_total,
            prs_merged=t.prs_merged,
            claude_reviews=t.claude_reviews,
            claude_issues_found=t.claude_issues_found,
            claude_critical_issues=t.claude_critical_issues,
            ci_runs=t.ci_runs,
            ci_failures=t.ci_failures,
            reviewed_prs=len(t.reviewed),
        )
        rows.append(await store(pool, start, period_days, counts))
    return rows


JOB = scheduler.Job("automation_analytics.rollup", 900.0, roll_current)
