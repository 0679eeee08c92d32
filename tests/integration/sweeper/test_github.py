"""GitHub hook deliveries we never stored are redelivered (once), recorded, and then arrive through the
signed endpoint; stored ones, young ones and ones older than --since are left alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.fakes.github import HookDelivery
from tests.integration.sweeper.conftest import SweepWorld
from tests.integration.webhooks.conftest import fixture_bytes

REPO_HOOK = "/repos/acme/app/hooks/1"


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def hooks_setting(world: SweepWorld, value: list[dict[str, object]]) -> None:
    await world.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'sweeper.github_hooks'", value
    )


async def test_deliveries_never_stored_are_redelivered_and_arrive(sweep_world: SweepWorld) -> None:
    world = sweep_world
    await hooks_setting(world, [{"type": "repository", "repository": "acme/app", "hook_id": 1}])
    ping, failure = fixture_bytes("github", "ping"), fixture_bytes("github", "workflow_run.failure")
    assert (await world.send.github(ping, "ping", delivery="guid-stored")).status == 200
    world.hooks.add(REPO_HOOK, HookDelivery(1, "guid-old", "ping", ago(3 * 86400), 502, body=ping))
    world.hooks.add(REPO_HOOK, HookDelivery(2, "guid-stored", "ping", ago(600), 200, body=ping))
    world.hooks.add(REPO_HOOK, HookDelivery(3, "guid-failed", "workflow_run", ago(600), 502, "completed", body=failure))
    other = json.dumps({**json.loads(ping), "zen": "Keep it logically awesome."}).encode()
    world.hooks.add(REPO_HOOK, HookDelivery(4, "guid-elsewhere", "ping", ago(500), 200, body=other))
    world.hooks.add(REPO_HOOK, HookDelivery(5, "guid-young", "ping", ago(5), 502, body=ping))

    async def send(delivery: HookDelivery) -> int:
        response = await world.send.github(delivery.body, delivery.event, delivery=delivery.guid)
        return response.status

    world.hooks.send = send
    report = await world.sweep()

    assert sorted(world.hooks.redelivered) == [(REPO_HOOK, 3), (REPO_HOOK, 4)]
    assert report.sources["github"] == {"checked": 3, "missing": 2, "redelivered": 2, "healed": 0}
    stored = await world.pool.fetch("SELECT delivery_id, status FROM webhook_deliveries ORDER BY delivery_id")
    assert {r["delivery_id"]: r["status"] for r in stored} == {
        "guid-elsewhere": "processed",
        "guid-failed": "processed",
        "guid-stored": "processed",
    }
    recorded = await world.pool.fetch("SELECT hook, guid, delivery_id, outcome, run_id FROM sweeper_redeliveries")
    assert {(r["hook"], r["guid"], r["delivery_id"], r["outcome"], r["run_id"]) for r in recorded} == {
        ("repository:acme/app:1", "guid-failed", 3, "requested", report.run_id),
        ("repository:acme/app:1", "guid-elsewhere", 4, "requested", report.run_id),
    }
    # The next sweep finds them stored: nothing missing, nothing asked again.
    again = await world.sweep()
    assert again.sources["github"] == {"checked": 3, "missing": 0, "redelivered": 0, "healed": 0}
    assert len(world.hooks.redelivered) == 2


async def test_a_redelivery_is_asked_once_until_it_is_old(sweep_world: SweepWorld) -> None:
    world = sweep_world
    await hooks_setting(world, [{"type": "repository", "repository": "acme/app", "hook_id": 1}])
    world.hooks.add(REPO_HOOK, HookDelivery(7, "guid-lost", "ping", ago(600), 502))
    first = await world.sweep()
    second = await world.sweep()  # GitHub has not sent it yet: asked already, not again
    assert first.sources["github"]["redelivered"] == 1
    assert second.sources["github"] == {"checked": 1, "missing": 1, "redelivered": 0, "healed": 0}
    await world.pool.execute("UPDATE sweeper_redeliveries SET requested_at = now() - interval '2 hours'")
    third = await world.sweep()
    assert third.sources["github"]["redelivered"] == 1
    assert await world.pool.fetchval("SELECT attempts FROM sweeper_redeliveries") == 2


async def test_organisation_and_app_hooks_and_a_refused_redelivery(sweep_world: SweepWorld) -> None:
    world = sweep_world
    await hooks_setting(world, [{"type": "organization", "organization": "acme", "hook_id": 2}, {"type": "app"}])
    world.hooks.add("/orgs/acme/hooks/2", HookDelivery(11, "guid-org", "ping", ago(900), 502))
    world.hooks.add("/app/hook", HookDelivery(21, "guid-app", "ping", ago(900), 502))
    world.hooks.refuse_redelivery = 1
    report = await world.sweep()
    assert report.sources["github"]["missing"] == 2 and report.sources["github"]["redelivered"] == 1
    assert any("422" in e for e in report.sources["github"]["errors"])
    refused = await world.pool.fetchrow("SELECT guid, outcome FROM sweeper_redeliveries WHERE outcome <> 'requested'")
    assert "422" in refused["outcome"]
    # A refused ask is made again by the next sweep.
    again = await world.sweep()
    assert again.sources["github"]["redelivered"] == 1
    assert sorted(world.hooks.redelivered) == [("/app/hook", 21), ("/orgs/acme/hooks/2", 11)]
    assert json.dumps(report.sources).find(world.hooks.github.token) == -1
