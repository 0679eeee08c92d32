"""Linear and Sentry states the service never heard of (no webhook sent) are found by a sweep and
applied through the same domain functions as the webhooks, with a line in the incident's thread."""

from __future__ import annotations

from tests.integration.sweeper.conftest import SweepWorld
from tests.integration.webhooks.conftest import fixture_bytes

SENTRY_ISSUE = "1170820242"


async def mapped(world: SweepWorld) -> str:
    """The recorded Sentry issue.created, its Linear issue opened (ENG-1): returns the identifier."""
    assert (await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")).status == 200
    await world.drain()
    identifier: str = await world.pool.fetchval("SELECT linear_issue_id FROM sentry_error_mappings")
    assert identifier == "ENG-1"
    world.sentry.set(
        SENTRY_ISSUE, "unresolved", substatus="new", lastSeen="2019-08-19T20:58:37.391000Z", shortId="FRONT-END-9"
    )
    return identifier


async def test_a_linear_completion_never_delivered_is_healed(sweep_world: SweepWorld) -> None:
    world = sweep_world
    identifier = await mapped(world)
    quiet = await world.sweep()  # nothing missed yet: our own create's state is not applied back
    assert quiet.sources["linear"] == {"checked": 1, "missing": 0, "redelivered": 0, "healed": 0}
    assert await world.pool.fetchval("SELECT status FROM infrastructure_incidents") == "detected"

    world.linear.set_state(identifier, "completed", assignee_id="user-1")
    report = await world.sweep()

    assert report.sources["linear"] == {"checked": 1, "missing": 1, "redelivered": 0, "healed": 1}
    incident = await world.pool.fetchrow("SELECT status, resolved_by FROM infrastructure_incidents")
    assert (incident["status"], incident["resolved_by"]) == ("resolved", "linear")
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "resolved"
    fix = await world.pool.fetchrow("SELECT fix_completed_at, fix_method FROM fix_metrics")
    assert fix["fix_completed_at"] is not None and fix["fix_method"] == "linear"
    notes = await world.notes()
    assert any(n.startswith("Healed by the delivery-gap sweeper: ENG-1 is Done in Linear") for n in notes)
    assert report.totals["healed"] == 1
    again = await world.sweep()
    assert again.totals["healed"] == 0


async def test_a_linear_issue_deleted_without_webhook_unlinks_the_mapping(sweep_world: SweepWorld) -> None:
    world = sweep_world
    identifier = await mapped(world)
    world.linear.set_state(identifier, "unstarted", trashed=True)
    report = await world.sweep()
    assert report.sources["linear"]["healed"] == 1
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "unlinked"


async def test_sentry_resolve_and_regression_never_delivered_are_healed(sweep_world: SweepWorld) -> None:
    world = sweep_world
    await mapped(world)
    world.sentry.set(SENTRY_ISSUE, "resolved", substatus=None)
    resolved = await world.sweep()
    assert resolved.sources["sentry"] == {"checked": 1, "missing": 1, "redelivered": 0, "healed": 1}
    incident = await world.pool.fetchrow("SELECT status, resolved_by FROM infrastructure_incidents")
    assert (incident["status"], incident["resolved_by"]) == ("resolved", "sentry")
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "resolved"
    assert any("Sentry issue FRONT-END-9 resolved" in n for n in await world.notes())

    world.sentry.set(SENTRY_ISSUE, "unresolved", substatus="regressed", lastSeen="2026-02-01T08:00:00Z")
    regressed = await world.sweep()
    assert regressed.sources["sentry"]["healed"] == 1
    rows = await world.pool.fetch("SELECT incident_type, status FROM infrastructure_incidents ORDER BY created_at")
    assert [(r["incident_type"], r["status"]) for r in rows] == [
        ("application_error", "resolved"),
        ("regression", "detected"),
    ]
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "open"
    assert await world.pool.fetchval("SELECT regression_occurred FROM fix_metrics") is True
    assert await world.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'linear.reopen'") == 1
    settled = await world.sweep()
    assert settled.sources["sentry"]["missing"] == 0


async def test_sentry_unresolve_without_new_events_reopens_as_the_webhook_does(sweep_world: SweepWorld) -> None:
    world = sweep_world
    await mapped(world)
    world.sentry.set(SENTRY_ISSUE, "resolved")
    await world.sweep()
    world.sentry.set(SENTRY_ISSUE, "unresolved", substatus="ongoing")
    report = await world.sweep()
    assert report.sources["sentry"]["healed"] == 1
    cause = await world.pool.fetchval(
        "SELECT error_details ->> 'cause' FROM infrastructure_incidents WHERE incident_type = 'regression'"
    )
    assert cause == "unresolved in Sentry"


async def test_unconfigured_sources_are_skipped_and_said(sweep_world: SweepWorld) -> None:
    from dataclasses import replace

    world = sweep_world
    world.config = replace(world.config, sentry_auth_token=None, linear_api_key=None)
    report = await world.sweep()
    assert report.sources == {
        "github": {"skipped": "no hooks in the setting sweeper.github_hooks"},
        "linear": {"skipped": "LINEAR_API_KEY is not set"},
        "sentry": {"skipped": "SENTRY_AUTH_TOKEN and SENTRY_ORG are not both set"},
    }
