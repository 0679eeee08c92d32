"""GitHub workflow runs -> ci_failure incidents keyed by (repository, workflow, branch) on the default
branch. While one is open, further failures append to it; the next success resolves it and completes its
fix row. Every completed run stays queryable for analytics in the github_workflow_runs view."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from db import locks
from domain.incidents import fix_timeline
from domain.incidents import store as incidents
from domain.incidents.rules import Transition, is_open
from domain.incidents.store import NewIncident
from integrations.github.payloads import WorkflowRun


async def on_workflow_run(conn: asyncpg.Connection, run: WorkflowRun, *, now: datetime) -> None:
    if not run.on_default_branch or not (run.failed or run.succeeded):
        return
    await locks.xact_lock(conn, locks.incident("github", run.key))
    current = await incidents.latest_by_key(conn, "github", run.key)
    open_now = current if current is not None and is_open(current.status) else None
    if run.failed:
        if open_now is not None:
            runs = open_now.row.get("error_details", {}).get("runs", [])
            if not any(isinstance(r, dict) and r.get("run_id") == run.run_id for r in runs):
                await incidents.append_run(conn, open_now.id, run.details(), run.run_id)
            return
        incident = await incidents.open_incident(
            conn,
            NewIncident(
                severity="high",
                incident_type="ci_failure",
                source="github",
                source_id=run.key,
                title=f"CI failing: {run.workflow} on {run.repository} ({run.branch})",
                error_message=f"workflow run {run.run_id} concluded {run.conclusion}",
                error_details={
                    "repository": run.repository,
                    "workflow": run.workflow,
                    "branch": run.branch,
                    "runs": [run.details()],
                },
                affected_services=(run.repository,),
                github_workflow_run_id=run.run_id,
                detected_at=run.completed_at,
            ),
            now=now,
        )
        await fix_timeline.create(
            conn,
            fix_timeline.NewFix(
                error_type="ci_failure",
                source="github",
                detected_at=run.completed_at or now,
                severity="high",
                metadata={"incident_id": str(incident.id), "ci_key": run.key, "first_run": run.run_id},
            ),
        )
    elif open_now is not None:
        await incidents.transition(
            conn, open_now.id, Transition.RESOLVE, now=now, by="github", note=f"run {run.run_id} succeeded"
        )
        fixes = await fix_timeline.for_incident(conn, open_now.id)
        await fix_timeline.complete_if_unset(conn, fixes, run.completed_at or now, "ci_rerun", run.head_sha)
