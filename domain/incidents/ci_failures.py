"""CI results -> ci_failure incidents keyed by (repository, workflow or check or context, branch) on the
default branch, from GitHub Actions workflow runs, check suites and runs (CircleCI, Buildkite ...) and
commit statuses (Jenkins ...); deployment statuses -> deploy_failure incidents keyed by (repository,
environment). While one is open, further failures append to it; the next success resolves it and completes
its fix row. Results are ordered by run id and attempt: one older than the newest seen for its key (a red
run delivered after the green one that followed it) changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from db import locks
from domain.incidents import fix_timeline
from domain.incidents import store as incidents
from domain.incidents.rules import Transition, is_open
from domain.incidents.store import Incident, NewIncident
from integrations.github.payloads import DeploymentStatus, WorkflowRun

# One statement settles the order: the row moves only forward, and RETURNING says whether it did.
ADVANCE = """
INSERT INTO ci_run_heads (key, run_order, attempt, conclusion) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO UPDATE SET
    run_order = EXCLUDED.run_order, attempt = EXCLUDED.attempt, conclusion = EXCLUDED.conclusion, updated_at = now()
WHERE (ci_run_heads.run_order, ci_run_heads.attempt) < (EXCLUDED.run_order, EXCLUDED.attempt)
RETURNING key
"""


async def newest(conn: asyncpg.Connection, key: str, order: tuple[int, int], conclusion: str | None) -> bool:
    """Record the result as the newest of its key; False when a newer (or the same) one was seen."""
    return await conn.fetchval(ADVANCE, f"github:{key}", order[0], order[1], conclusion) is not None


async def _open_now(conn: asyncpg.Connection, key: str) -> Incident | None:
    current = await incidents.latest_by_key(conn, "github", key)
    return current if current is not None and is_open(current.status) else None


async def _open_with_fix(
    conn: asyncpg.Connection, new: NewIncident, fix_metadata: dict[str, Any], *, now: datetime
) -> None:
    """Open the key's incident and the fix row that times its repair."""
    incident = await incidents.open_incident(conn, new, now=now)
    await fix_timeline.create(
        conn,
        fix_timeline.NewFix(
            error_type=new.incident_type,
            source="github",
            detected_at=new.detected_at or now,
            severity=new.severity,
            metadata={"incident_id": str(incident.id), **fix_metadata},
        ),
    )


async def _resolve_with_fix(
    conn: asyncpg.Connection,
    incident: Incident,
    note: str,
    fixed_at: datetime,
    method: str,
    sha: str | None,
    *,
    now: datetime,
) -> None:
    """The next success resolves the open incident and completes its fix row."""
    await incidents.transition(conn, incident.id, Transition.RESOLVE, now=now, by="github", note=note)
    fixes = await fix_timeline.for_incident(conn, incident.id)
    await fix_timeline.complete_if_unset(conn, fixes, fixed_at, method, sha)


async def on_workflow_run(conn: asyncpg.Connection, run: WorkflowRun, *, now: datetime) -> None:
    """A completed workflow run, check suite, check run or commit status."""
    if not run.on_default_branch or not (run.failed or run.succeeded):
        return
    await locks.xact_lock(conn, locks.incident("github", run.key))
    if not await newest(conn, run.key, run.order, run.conclusion):
        return
    open_now = await _open_now(conn, run.key)
    if run.failed:
        if open_now is not None:
            runs = open_now.row.get("error_details", {}).get("runs", [])
            if not any(isinstance(r, dict) and r.get("run_id") == run.run_id for r in runs):
                await incidents.append_run(conn, open_now.id, run.details(), run.run_id)
            return
        await _open_with_fix(
            conn,
            NewIncident(
                severity="high",
                incident_type="ci_failure",
                source="github",
                source_id=run.key,
                title=f"CI failing: {run.workflow} on {run.repository} ({run.branch})",
                error_message=f"{run.kind.value.replace('_', ' ')} {run.run_id} concluded {run.conclusion}",
                error_details={
                    "repository": run.repository,
                    "workflow": run.workflow,
                    "branch": run.branch,
                    "kind": run.kind.value,
                    "runs": [run.details()],
                },
                affected_services=(run.repository,),
                github_workflow_run_id=run.run_id,
                detected_at=run.completed_at,
            ),
            {"ci_key": run.key, "first_run": run.run_id},
            now=now,
        )
    elif open_now is not None:
        note = f"run {run.run_id} succeeded"
        await _resolve_with_fix(conn, open_now, note, run.completed_at or now, "ci_rerun", run.head_sha, now=now)


async def on_deployment_status(conn: asyncpg.Connection, status: DeploymentStatus, *, now: datetime) -> None:
    """failure or error opens the environment's deploy_failure incident (linked to the sha); success resolves."""
    if not (status.failed or status.succeeded):
        return
    await locks.xact_lock(conn, locks.incident("github", status.key))
    if not await newest(conn, status.key, status.order, status.state):
        return
    open_now = await _open_now(conn, status.key)
    attempt = {"status_id": status.status_id, "state": status.state, "sha": status.sha, "url": status.url}
    if status.failed:
        if open_now is not None:
            await incidents.append_run(conn, open_now.id, attempt, status.status_id)
            return
        await _open_with_fix(
            conn,
            NewIncident(
                severity="high",
                incident_type="deploy_failure",
                source="github",
                source_id=status.key,
                title=f"Deploy failing: {status.repository} to {status.environment}",
                error_message=f"deployment of {status.sha or status.ref or 'unknown'} ended {status.state}",
                error_details={
                    "repository": status.repository,
                    "environment": status.environment,
                    "sha": status.sha,
                    "ref": status.ref,
                    "runs": [attempt],
                },
                affected_services=(status.repository,),
                detected_at=status.created_at,
            ),
            {"deploy_key": status.key, "sha": status.sha},
            now=now,
        )
    elif open_now is not None:
        note = f"{status.sha or 'a deployment'} deployed to {status.environment}"
        await _resolve_with_fix(conn, open_now, note, status.created_at or now, "redeploy", status.sha, now=now)
