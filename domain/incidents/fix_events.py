"""Pull requests and Linear issue changes -> the fix timeline, mapping states and incident acknowledgement.

Linear changes are applied from the issue's current state in the payload (not from ``updatedFrom``), so
a missed or reordered delivery is healed by the next one. Changes this service made in Linear come back
as webhooks; they are recognised (``linear_own_changes``) and not applied again.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from db import locks
from domain.incidents import fix_timeline, sentry_mappings
from domain.incidents import store as incidents
from domain.incidents.rules import Status, Transition
from domain.incidents.sentry_mappings import MappingStatus
from integrations.github.payloads import PullRequest
from integrations.linear.payloads import LinearIssue

STARTING = frozenset({"opened", "reopened", "ready_for_review"})
IS_OWN_CHANGE = "SELECT EXISTS (SELECT 1 FROM linear_own_changes WHERE identifier = $1 AND updated_at = $2)"
RECORD_OWN_CHANGE = """
INSERT INTO linear_own_changes (identifier, updated_at, operation) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
"""
# Comments this service wrote in Linear, by comment id (their Comment webhooks are not mirrored back).
RECORD_OWN_COMMENT = """
INSERT INTO linear_own_changes (identifier, updated_at, operation) VALUES ('comment:' || $1, now(), 'comment')
ON CONFLICT DO NOTHING
"""
IS_OWN_COMMENT = "SELECT EXISTS (SELECT 1 FROM linear_own_changes WHERE identifier = 'comment:' || $1)"
# The Linear team keys this service knows: of its mappings, its fix rows and the routing setting. The
# distinct keys of each table are walked by index, one probe per key (a plain DISTINCT read every row of
# both tables for every pull request).
KNOWN_TEAMS = """
WITH RECURSIVE m(team_key) AS (
    (SELECT team_key FROM sentry_error_mappings WHERE team_key IS NOT NULL ORDER BY team_key LIMIT 1)
    UNION ALL
    SELECT (SELECT s.team_key FROM sentry_error_mappings s WHERE s.team_key > m.team_key ORDER BY s.team_key LIMIT 1)
    FROM m WHERE m.team_key IS NOT NULL
), f(team_key) AS (
    (SELECT team_key FROM fix_metrics WHERE team_key IS NOT NULL ORDER BY team_key LIMIT 1)
    UNION ALL
    SELECT (SELECT x.team_key FROM fix_metrics x WHERE x.team_key > f.team_key ORDER BY x.team_key LIMIT 1)
    FROM f WHERE f.team_key IS NOT NULL
)
SELECT team_key FROM m WHERE team_key IS NOT NULL
UNION SELECT team_key FROM f WHERE team_key IS NOT NULL
UNION SELECT r.value FROM agent_swarm_config c, jsonb_each_text(c.config_value -> 'sentry_projects') r
      WHERE c.config_key = 'linear.routing' AND jsonb_typeof(c.config_value -> 'sentry_projects') = 'object'
"""


async def _lock_all(conn: asyncpg.Connection, identifiers: list[str]) -> None:
    await locks.xact_lock_all(conn, [locks.incident("linear", identifier) for identifier in identifiers])


async def record_own_change(
    conn: asyncpg.Connection | asyncpg.Pool, identifier: str, updated_at: datetime, operation: str
) -> None:
    await conn.execute(RECORD_OWN_CHANGE, identifier, updated_at, operation)


async def record_own_comment(conn: asyncpg.Connection | asyncpg.Pool, comment_id: str) -> None:
    await conn.execute(RECORD_OWN_COMMENT, comment_id)


async def is_own_comment(conn: asyncpg.Connection, comment_id: str) -> bool:
    return bool(await conn.fetchval(IS_OWN_COMMENT, comment_id))


async def known_teams(conn: asyncpg.Connection) -> frozenset[str]:
    return frozenset(str(r[0]).upper() for r in await conn.fetch(KNOWN_TEAMS) if r[0])


async def on_pull_request(conn: asyncpg.Connection, pr: PullRequest, *, now: datetime) -> None:
    """An opened PR naming an incident's Linear issue starts its fix; merged, it completes the fix and
    moves the incident to mitigating, with the PR and commit in its resolution steps."""
    identifiers = list(pr.identifiers_of(await known_teams(conn)))
    if not identifiers:
        return
    await _lock_all(conn, identifiers)
    fixes = await fix_timeline.for_linear(conn, identifiers)
    if not fixes:
        return
    if pr.action in STARTING and not pr.draft:
        started = pr.created_at if pr.action == "opened" and pr.created_at else now
        await fix_timeline.start(conn, fixes, started, pr.url)
    elif pr.action == "closed" and pr.merged:
        await _mitigate(conn, identifiers, pr, now=now)
        await fix_timeline.complete_by_merge(
            conn,
            fixes,
            merged_at=pr.merged_at or now,
            commit_sha=pr.merge_commit_sha,
            pr_url=pr.url,
            pr_created_at=pr.created_at,
        )


async def _mitigate(conn: asyncpg.Connection, identifiers: list[str], pr: PullRequest, *, now: datetime) -> None:
    step = {"action": "merged", "pr_url": pr.url, "commit_sha": pr.merge_commit_sha, "merged_at": pr.merged_at}
    for identifier in identifiers:
        for incident in await incidents.open_for_linear(conn, identifier):
            await incidents.append_step(conn, incident.id, step)
            await incidents.transition(
                conn, incident.id, Transition.MITIGATE, now=now, note=f"fix merged: {pr.url}", notify=True
            )


async def on_linear_removed(conn: asyncpg.Connection, issue: LinearIssue) -> str:
    """A mapped Linear issue was deleted: the mapping is unlinked (a new issue is opened on the next
    regression) and the incident's thread is told."""
    mapping = await sentry_mappings.unlink(conn, issue.identifier)
    if mapping is None:
        return "unknown"
    latest = await incidents.latest_for_sentry(conn, mapping.sentry_issue_id)
    if latest is not None:
        note = f"Linear issue {issue.identifier} was deleted; a new one will be opened if the issue comes back."
        await incidents.tell_note(conn, latest, note, f"linear-removed:{issue.identifier}")
    return "unlinked"


async def on_linear_issue(conn: asyncpg.Connection, issue: LinearIssue, *, now: datetime) -> str:
    """Apply a known Linear issue's current state. Returns what happened (for logs and tests)."""
    await _lock_all(conn, [issue.identifier])
    if issue.action == "remove":
        return await on_linear_removed(conn, issue)
    if issue.updated_at and await conn.fetchval(IS_OWN_CHANGE, issue.identifier, issue.updated_at):
        return "own_change"
    mapping = await sentry_mappings.by_linear(conn, issue.identifier)
    fixes = await fix_timeline.for_linear(conn, [issue.identifier])
    if mapping is None and not fixes:
        return "unknown"
    at = issue.changed_at or now
    if issue.acknowledged or issue.started or issue.completed:
        # Incidents before fix rows: the order every writer uses, so concurrent writers do not deadlock.
        for incident in await incidents.open_for_linear(conn, issue.identifier):
            if incident.status == Status.DETECTED:
                await incidents.transition(
                    conn, incident.id, Transition.ACKNOWLEDGE, now=now, note=f"{issue.identifier} picked up in Linear"
                )
        await fix_timeline.acknowledge(conn, fixes, at)
    if issue.started or (issue.completed and issue.started_at):
        await fix_timeline.start(conn, fixes, issue.started_at or at)
    if issue.completed:
        for incident in await incidents.open_for_linear(conn, issue.identifier):
            await incidents.transition(
                conn, incident.id, Transition.RESOLVE, now=now, by="linear", note=f"{issue.identifier} completed"
            )
        await fix_timeline.complete_if_unset(conn, fixes, issue.completed_at or at, "linear")
        await sentry_mappings.set_status_by_linear(conn, issue.identifier, MappingStatus.RESOLVED)
    elif issue.canceled:
        await sentry_mappings.set_status_by_linear(conn, issue.identifier, MappingStatus.IGNORED)
    return "applied"
