"""The sweeper's job (advisory lock: two ticks at once, one runs; the interval from its setting), the
``python app.py sweep`` command with its progress bar, and GET /api/v1/sweeps."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from domain.sweeper import runner
from jobs import scheduler
from tests.conftest import bearer
from tests.fakes.github import HookDelivery
from tests.integration.sweeper.conftest import SweepWorld
from tests.integration.sweeper.test_github import REPO_HOOK, ago, hooks_setting

ROOT = Path(__file__).resolve().parents[3]


async def test_two_ticks_at_once_one_runs(sweep_world: SweepWorld) -> None:
    world = sweep_world
    await hooks_setting(world, [{"type": "repository", "repository": "acme/app", "hook_id": 1}])
    world.hooks.add(REPO_HOOK, HookDelivery(1, "guid-lost", "ping", ago(600), 502))
    world.hooks.hold = asyncio.Event()
    job = runner.job(world.config)
    first = asyncio.create_task(scheduler.tick(world.pool, job))
    async with asyncio.timeout(30):
        while not world.hooks.listed:  # the first tick holds the lock, inside its sweep
            await asyncio.sleep(0.01)
    assert await scheduler.tick(world.pool, job) is False
    world.hooks.hold.set()
    async with asyncio.timeout(30):
        assert await first is True
    assert world.hooks.listed == [REPO_HOOK]
    assert world.hooks.redelivered == [(REPO_HOOK, 1)]
    assert await world.pool.fetchval("SELECT count(*) FROM sweeper_runs") == 1


async def test_the_job_runs_every_interval_of_its_setting(sweep_world: SweepWorld) -> None:
    world = sweep_world
    job = runner.job(world.config)
    assert await job.run(world.pool) is not None
    assert await job.run(world.pool) is None  # 600 s (the default) have not passed
    await world.pool.execute(
        "UPDATE agent_swarm_config SET config_value = '60' WHERE config_key = 'sweeper.interval_s'"
    )
    await world.pool.execute("UPDATE sweeper_runs SET started_at = now() - interval '61 seconds'")
    report = await job.run(world.pool)
    assert report is not None
    rows = await world.pool.fetch("SELECT trigger, status FROM sweeper_runs ORDER BY id")
    assert [(r["trigger"], r["status"]) for r in rows] == [("job", "done"), ("job", "done")]


async def test_the_command_sweeps_with_a_progress_bar(sweep_world: SweepWorld, database_url: str) -> None:
    world = sweep_world
    await hooks_setting(world, [{"type": "repository", "repository": "acme/app", "hook_id": 1}])
    world.hooks.add(REPO_HOOK, HookDelivery(1, "guid-lost", "ping", ago(3600), 502))
    config = world.config
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GITHUB_API_URL": config.github_api_url,
        "GITHUB_TOKEN": world.hooks.github.token,
        "LINEAR_API_URL": config.linear_api_url,
        "LINEAR_API_KEY": "lin_api_test",
        "SENTRY_API_URL": config.sentry_api_url,
        "SENTRY_AUTH_TOKEN": world.sentry.token,
        "SENTRY_ORG": world.sentry.org,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        "sweep",
        "--since",
        "2h",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "sweep: 100%" in err.decode()
    assert "github\tchecked=1\tmissing=1\tredelivered=1\thealed=0" in out.decode()
    assert "redelivered=1 healed=0" in out.decode().splitlines()[-1]
    assert world.hooks.redelivered == [(REPO_HOOK, 1)]
    assert await world.pool.fetchval("SELECT trigger FROM sweeper_runs") == "command"
    assert world.sentry.token not in out.decode() + err.decode()


async def test_the_drift_report(sweep_world: SweepWorld) -> None:
    world = sweep_world
    await hooks_setting(world, [{"type": "repository", "repository": "acme/app", "hook_id": 1}])
    world.hooks.add(REPO_HOOK, HookDelivery(1, "guid-lost", "ping", ago(600), 502))
    first = await world.sweep()
    second = await world.sweep()
    response = await world.client.get("/api/v1/sweeps?limit=5", headers=bearer())
    assert response.status == 200
    sweeps = (await response.json())["sweeps"]
    assert [s["id"] for s in sweeps] == [second.run_id, first.run_id]
    newest, oldest = sweeps[1], sweeps[0]
    assert (newest["checked"], newest["missing"], newest["redelivered"], newest["healed"]) == (1, 1, 1, 0)
    assert (oldest["missing"], oldest["redelivered"]) == (1, 0)
    assert newest["status"] == "done" and newest["trigger"] == "command" and "T" in newest["started_at"]
    assert set(newest["sources"]) == {"github", "linear", "sentry"}
    assert (await world.client.get("/api/v1/sweeps", headers=bearer("authenticated"))).status == 403
    assert (await world.client.get("/api/v1/sweeps")).status == 401
    assert (await world.client.get("/api/v1/sweeps?limit=0", headers=bearer())).status == 400
    spec = await (await world.client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/sweeps" in spec["paths"] and "Sweep" in spec["components"]["schemas"]
