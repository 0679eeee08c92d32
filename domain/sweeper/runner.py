"""One sweep (``sweep``: the job's run and ``python app.py sweep``), and the job that runs one every
``sweeper.interval_s`` on one replica at a time (the scheduler's advisory lock)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

import logs
from config import Config
from domain import settings
from domain.sweeper import rules, sources, store
from jobs import scheduler

Progress = Callable[[int, int], None]
CHECK_EVERY_S = 30.0
JOB_NAME = "sweeper.run"
DEFAULTS = {
    "sweeper.interval_s": 600,
    "sweeper.lookback_s": 86400,
    "sweeper.settle_s": 120,
    "sweeper.redeliver_after_s": 3600,
    "sweeper.batch_size": 50,
}


@dataclass(frozen=True)
class Report:
    run_id: int
    totals: dict[str, int]
    sources: dict[str, Any]


async def _setting(pool: asyncpg.Pool, key: str) -> int:
    value = await settings.get(pool, key, DEFAULTS[key])
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULTS[key]


async def sweep(
    pool: asyncpg.Pool,
    config: Config,
    *,
    since: datetime,
    trigger: str = "command",
    progress: Progress | None = None,
) -> Report:
    """Sweep GitHub deliveries since ``since`` and the current Linear and Sentry states; record the run."""
    now = datetime.now(UTC)
    hooks = rules.hooks(await settings.get(pool, "sweeper.github_hooks", []))
    batch = await _setting(pool, "sweeper.batch_size")
    plan = sources.GitHubPlan(
        hooks=hooks,
        since=since,
        settle_before=now - timedelta(seconds=await _setting(pool, "sweeper.settle_s")),
        again_after_s=await _setting(pool, "sweeper.redeliver_after_s"),
    )
    skipped: dict[str, Any] = {}
    if not hooks:
        skipped["github"] = {"skipped": "no hooks in the setting sweeper.github_hooks"}
    elif not config.github_token:
        skipped["github"] = {"skipped": "GITHUB_TOKEN is not set"}
    if not config.linear_api_key:
        skipped["linear"] = {"skipped": "LINEAR_API_KEY is not set"}
    if not config.sentry_auth_token or not config.sentry_org:
        skipped["sentry"] = {"skipped": "SENTRY_AUTH_TOKEN and SENTRY_ORG are not both set"}
    identifiers = [] if "linear" in skipped else await store.linear_candidates(pool)
    candidates = [] if "sentry" in skipped else await store.sentry_candidates(pool)
    total = (0 if "github" in skipped else len(hooks)) + len(identifiers) + len(candidates)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    advance(0)
    run_id = await store.start_run(pool, trigger, since)
    results: dict[str, Any] = dict(skipped)
    try:
        if "github" not in skipped:
            results["github"] = (await sources.sweep_github(pool, config, run_id, plan, advance)).as_json()
        if "linear" not in skipped:
            tally = await sources.sweep_linear(pool, config, run_id, identifiers, batch, advance)
            results["linear"] = tally.as_json()
        if "sentry" not in skipped:
            tally = await sources.sweep_sentry(pool, config, run_id, candidates, batch, advance)
            results["sentry"] = tally.as_json()
    except BaseException as exc:
        totals = _totals(results)
        await store.finish_run(pool, run_id, "failed", totals, results, type(exc).__name__)
        raise
    totals = _totals(results)
    await store.finish_run(pool, run_id, "done", totals, results)
    logs.event("sweeper.done", logging.INFO, run=run_id, trigger=trigger, **totals)
    return Report(run_id, totals, results)


def _totals(results: dict[str, Any]) -> dict[str, int]:
    keys = ("checked", "missing", "redelivered", "healed")
    return {k: sum(int(r.get(k, 0)) for r in results.values() if isinstance(r, dict)) for k in keys}


def job(config: Config) -> scheduler.Job:
    """Looks every CHECK_EVERY_S whether a sweep is due (``sweeper.interval_s`` since the last job run)."""

    async def run(pool: asyncpg.Pool) -> Report | None:
        if not await store.job_due(pool, await _setting(pool, "sweeper.interval_s")):
            return None
        lookback = await _setting(pool, "sweeper.lookback_s")
        return await sweep(pool, config, since=datetime.now(UTC) - timedelta(seconds=lookback), trigger="job")

    return scheduler.Job(JOB_NAME, CHECK_EVERY_S, run)
