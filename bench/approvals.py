"""Benchmark: signed Approve click -> continuation visible to a waiting ``GET ?wait=`` caller; Slack ack time.

    .venv/bin/python bench/approvals.py [--decisions 200] [--slow-clicks 20]
    .venv/bin/python bench/approvals.py --burst 200 [--burst-targets 200] [--rounds 3]

``--burst N``: N signed Approve clicks sent at once on ``--burst-targets`` pending requests (default N,
one click each; fewer makes clicks race), each request awaited by its own ``GET ?wait=`` long-poll;
reports the clicks' ack times and click -> waiting agent answer times (from the burst's start). It runs
the service as ``python app.py`` (jobs on) in a subprocess, so the load generator's CPU is not the
service's; the baseline is ``--burst`` concurrent ``GET /healthz`` sent the same way in the same round.
It also reports the CPU the service and its PostgreSQL backends used per click (burst start until both
are idle again, so the outbox's Slack updates are included); ``--profile out.txt`` records py-spy's raw
stacks of the service over the same windows (the clicks of each measured burst until idle).

Without ``--burst``: one click at a time, and 2 s Slack calls, against the app run in this process
(build_app). Both modes use PostgreSQL at DATABASE_URL, else an embedded pgserver in a temporary
directory, and the fake Slack Web API on loopback; ratios are against GET /healthz in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import jwt
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import build_app
from config import Config
from db import embedded
from domain.approvals.blocks import ActionId
from domain.approvals.store import NOTIFY_CHANNEL
from handlers.keys import HUB
from tests.fakes.slack import fake_slack, interaction_body, signed_headers

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-signing-secret"
JWT_SECRET = "bench-jwt-secret-long-enough-for-hs256-signing"
FIXTURE = Path(__file__).resolve().parents[1] / "tests/fixtures/slack/block_actions.message_container.bolt-python.json"
UNPOSTED = """
SELECT (SELECT count(*) FROM approval_requests WHERE id = ANY($1::uuid[]) AND slack_message_ts IS NULL)
     + (SELECT count(*) FROM outbox WHERE status = 'pending')
"""
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REQUEST = {
    "agent_name": "bench-agent",
    "action_type": "restart_service",
    "risk_level": "medium",
    "continuation_payload": {"step": 1},
}


def request() -> dict[str, Any]:
    """A request of its own: an identical one pending would be answered with that one (deduplicated)."""
    return {**REQUEST, "action_details": {"service": "checkout", "replicas": 3, "bench_id": uuid.uuid4().hex}}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {
        "name": name,
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "max_ms": round(max(ms), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def click(approval_id: str, user: str, action_id: str = ActionId.APPROVE) -> bytes:
    payload = json.loads(FIXTURE.read_text())
    payload["user"]["id"] = user
    payload["channel"]["id"] = "C0BENCH"
    payload["container"].update(channel_id="C0BENCH", is_ephemeral=False)
    payload["actions"][0].update(action_id=action_id, value=approval_id, block_id=f"approval:{approval_id}")
    return interaction_body(payload)


async def timed_click(client: TestClient[Any, Any], body: bytes) -> float:
    started = time.perf_counter()
    response = await client.post("/slack/events", data=body, headers={**FORM, **signed_headers(body, SECRET)})
    assert response.status == 200, await response.text()
    await response.read()
    return time.perf_counter() - started


async def wait_for_waiter(client: TestClient[Any, Any], count: int) -> None:
    hub = client.app[HUB]
    async with asyncio.timeout(10):
        while hub.subscribers(NOTIFY_CHANNEL) < count:  # noqa: ASYNC110  (the app has no event for "a GET is now waiting")
            await asyncio.sleep(0.0005)


async def run(url: str, decisions: int, slow_clicks: int) -> dict[str, Any]:
    auth = {
        "Authorization": "Bearer " + jwt.encode({"role": "service_role", "exp": int(time.time()) + 3600}, JWT_SECRET)
    }
    async with fake_slack() as fake:
        config = Config(
            database_url=url,
            jwt_secret=JWT_SECRET,
            slack_signing_secret=SECRET,
            slack_bot_token="xoxb-bench",
            slack_api_url=fake.url,
            slack_approvals_channel="C0BENCH",
            run_jobs=True,
        )
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(config)))
        await client.start_server()
        try:
            for _ in range(20):  # warm-up
                await (await client.get("/healthz")).read()
            healthz = []
            for _ in range(decisions):
                started = time.perf_counter()
                await (await client.get("/healthz")).read()
                healthz.append(time.perf_counter() - started)

            resume, acks = [], []
            for i in range(decisions):
                created = await (await client.post("/api/v1/approvals", json=request(), headers=auth)).json()
                approval_id = created["id"]
                waiter = asyncio.create_task(client.get(f"/api/v1/approvals/{approval_id}?wait=30", headers=auth))
                await wait_for_waiter(client, 1)
                started = time.perf_counter()
                # The click's HTTP answer (Bolt's ack) and the waiter's answer are timed independently.
                clicked = asyncio.create_task(timed_click(client, click(approval_id, f"U{i:06d}")))
                response = await waiter
                resume.append(time.perf_counter() - started)
                row = await response.json()
                acks.append(await clicked)
                assert row["status"] == "approved", row

            # Slack's 3-second limit while every Web API call takes 2 s (user-group lookup after the ack).
            admin = await asyncpg.connect(url)
            try:
                await admin.execute(
                    "UPDATE agent_swarm_config SET config_value = $1::jsonb WHERE config_key = 'approvals.approvers'",
                    json.dumps({"medium": ["S0BENCH"]}),
                )
            finally:
                await admin.close()
            fake.usergroups["S0BENCH"] = [f"U{i:06d}" for i in range(slow_clicks)]
            fake.delay_s = 2.0
            slow_acks, slow_reject_acks, decided_after = [], [], []
            for i in range(slow_clicks):
                created = await (await client.post("/api/v1/approvals", json=request(), headers=auth)).json()
                approval_id = created["id"]
                started = time.perf_counter()
                slow_acks.append(await timed_click(client, click(approval_id, f"U{i:06d}")))
                row = await (await client.get(f"/api/v1/approvals/{approval_id}?wait=30", headers=auth)).json()
                decided_after.append(time.perf_counter() - started)
                assert row["status"] == "approved", row
                other = await (await client.post("/api/v1/approvals", json=request(), headers=auth)).json()
                slow_reject_acks.append(await timed_click(client, click(other["id"], "U000000", ActionId.REJECT)))
        finally:
            await client.close()

    base = pct(healthz, 50)
    results = [
        summary("GET /healthz (baseline)", healthz),
        summary("click -> continuation seen by GET ?wait=", resume),
        summary("Approve click ack (fast Slack)", acks),
        summary("Approve click ack (Slack API 2 s per call)", slow_acks),
        summary("Reject click ack, modal opened after ack (Slack API 2 s per call)", slow_reject_acks),
        summary("click -> decided (Slack API 2 s per call, group lookup)", decided_after),
    ]
    for r in results:
        r["p50_x_healthz"] = round(r["p50_ms"] / (base * 1000), 1)
    return {"decisions": decisions, "slow_clicks": slow_clicks, "results": results}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    given = os.environ.get("DATABASE_URL", "").strip()
    server = None
    if not given:
        server = embedded.start(Path(tempfile.mkdtemp(prefix="bench-pg-")))
        given = server.get_uri()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(given)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlunsplit(urlsplit(given)._replace(path=f"/{name}"))
    try:
        if args.burst:
            from bench.approvals_burst import run_burst

            return await run_burst(url, args.burst, args.burst_targets or args.burst, args.rounds, args.profile)
        return await run(url, args.decisions, args.slow_clicks)
    finally:
        admin = await asyncpg.connect(given)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if server is not None:
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--slow-clicks", type=int, default=10)
    parser.add_argument("--burst", type=int, default=0, help="clicks sent at once (burst mode)")
    parser.add_argument("--burst-targets", type=int, default=0, help="pending requests they click (default: one each)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts measured (burst mode)")
    parser.add_argument("--profile", type=Path, help="burst mode: py-spy the service over the bursts (raw stacks)")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    for r in report["results"]:
        print(
            f"{r['name']:<70} n={r['n']:<4} p50={r['p50_ms']:>9.2f} ms  p99={r['p99_ms']:>9.2f} ms  "
            f"max={r['max_ms']:>9.2f} ms  p50/healthz={r['p50_x_healthz']}  p99/healthz={r.get('p99_x_healthz', '-')}"
        )
    for key in ("cpu_ms_per_click", "p99_ms_per_round"):
        if key in report:
            print(f"{key}: {report[key]}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
