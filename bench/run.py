"""The benchmark: the service against its baselines, in one run, on this machine.

    python -m bench run [--quick] [--out report.json]

Starts its own PostgreSQL (embedded, or a fresh database on DATABASE_URL's server), fake Slack and
Linear on loopback, the service as ``python app.py`` (jobs on), and the baselines B0, B1, B2
(bench/baseline.py), one at a time, all under the same load generator (bench/load.py) and the same
realistic delivery mix (bench/mix.py). It prints one table (figure, service, baseline, ratio, goal,
met?) and writes a JSON report. After the run it checks that stored rows = distinct delivery ids
answered 2xx, that every delivery was processed exactly once, and that no incident is doubled or
missing; a failed check exits 1. ``--quick`` (under 2 minutes) is for correctness only: its timings
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from bench import cpu
from bench.load import Result, closed_loop, open_loop
from bench.mix import SECRETS, Mix, Sent
from bench.table import show, table

ROOT = Path(__file__).resolve().parents[1]
JWT_SECRET = "bench-jwt-secret-that-is-long-enough-for-hs256-0123456789"


@dataclass
class Plan:
    warmup: int
    ceiling_s: float
    open_s: float
    loads: tuple[float, ...]
    connections: int = 32


FULL = Plan(warmup=300, ceiling_s=10.0, open_s=8.0, loads=(0.25, 0.5, 0.75))
QUICK = Plan(warmup=60, ceiling_s=2.0, open_s=2.0, loads=(0.5,))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fresh_database(server_url: str) -> str:
    name = f"swarm_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def postgres(tmp: Path) -> AsyncIterator[str]:
    given = os.environ.get("DATABASE_URL", "").strip()
    if given:
        yield given
        return
    from db import embedded

    server = await asyncio.to_thread(embedded.start, tmp / "pg")
    try:
        yield server.get_uri()
    finally:
        await asyncio.to_thread(server.cleanup)


async def wait_ready(url: str, proc: asyncio.subprocess.Process, deadline_s: float = 60) -> float:
    began = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() - began < deadline_s:
            if proc.returncode is not None:
                raise RuntimeError(f"{url} exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return time.perf_counter() - began
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} not ready within {deadline_s} s")


@contextlib.asynccontextmanager
async def process(args: list[str], env: dict[str, str], ready_url: str) -> AsyncIterator[tuple[Any, float]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        ready_s = await wait_ready(ready_url, proc)
        yield proc, ready_s
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(30):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No full collection of the load generator's own heap (the fakes keep every call they saw) inside a
    timed phase: one paused its clock 70-80 ms, for the service and the baselines alike."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def drive(
    base: str,
    plan: Plan,
    mix: Mix,
    sent: Sent | None,
    *,
    dsn: str | None = None,
    profile: Path | None = None,
    pid: int | None = None,
    postmaster: int | None = None,
) -> tuple[dict[str, Result], dict[str, Any]]:
    """Warm up, find the ceiling (closed loop), then open loops at fractions of it. With ``dsn`` (the
    service), the inbox and then the outbox (the Slack and Linear calls a burst queues; they yield to an inbox
    backlog) are drained after the ceiling and after each open loop, so that each open loop measures its own
    load, not the last phase's leftovers; each phase's wall-clock window is kept (the end-to-end figure is
    read over the open loop at 50%). With ``profile``, py-spy samples ``pid`` during the ceiling (raw
    collapsed stacks). With ``pid`` and ``postmaster``, the CPU both used from the ceiling's start to the end
    of its outbox's drain is kept per delivery: accepting, processing and the calls out."""
    results: dict[str, Result] = {}
    info: dict[str, Any] = {"windows": {}}
    await closed_loop(base, mix.batch(plan.warmup), connections=plan.connections, duration_s=60, sent=sent)
    if dsn is not None:
        await drained(dsn, 120)
    batch = mix.batch(int(plan.ceiling_s * 3000))
    spy = await _py_spy(pid, profile, plan.ceiling_s) if profile is not None and pid is not None else None
    cpu_before = (cpu.process_s(pid) if pid else 0.0, cpu.server_s(postmaster) if postmaster else 0.0)
    began = time.time()
    with collector_paused():
        ceiling = await closed_loop(base, batch, connections=plan.connections, duration_s=plan.ceiling_s, sent=sent)
    info["windows"]["ceiling"] = (began, time.time())
    if spy is not None:
        await spy.wait()
    results["ceiling"] = ceiling
    if dsn is not None:
        info["drain_s"] = await drained(dsn, 300)
        info["outbox_drain_s"] = await drained(dsn, 300, "outbox")
    if ceiling.sent:
        info["cpu_ms"] = {
            "service": (cpu.process_s(pid) - cpu_before[0]) * 1000 / ceiling.sent if pid else None,
            "postgres": (cpu.server_s(postmaster) - cpu_before[1]) * 1000 / ceiling.sent if postmaster else None,
        }
    for load in plan.loads:
        rate = max(ceiling.rate * load, 1.0)
        batch = mix.batch(int(rate * plan.open_s))
        began = time.time()
        with collector_paused():
            results[f"open@{int(load * 100)}"] = await open_loop(base, batch, rate=rate, sent=sent)
        if dsn is not None:
            await drained(dsn, 300)
        info["windows"][f"open@{int(load * 100)}"] = (began, time.time())
        if dsn is not None:
            await drained(dsn, 300, "outbox")
    return results, info


async def _py_spy(pid: int, out: Path, duration_s: float) -> asyncio.subprocess.Process:
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        str(spy), "record", "--pid", str(pid), "--duration", str(max(int(duration_s), 1)), "--rate", "200",
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def baseline(mode: str, plan: Plan, dsn: str) -> tuple[dict[str, Result], dict[str, Any]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["-m", "bench.baseline", mode, "--port", str(port), "--dsn", dsn]
    postmaster = await cpu.postmaster_of(dsn)
    async with process(args, env, f"http://127.0.0.1:{port}/healthz") as (proc, _ready_s):
        results, info = await drive(
            f"http://127.0.0.1:{port}", plan, Mix(seed=11), None, pid=proc.pid, postmaster=postmaster
        )
        return results, info.get("cpu_ms", {})


WAITING = {
    "inbox": "SELECT count(*) FROM webhook_deliveries WHERE status = 'received'",
    "outbox": "SELECT count(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= now()",
}


async def drained(dsn: str, deadline_s: float, what: str = "inbox") -> float:
    """Seconds until no stored delivery waits for processing (the inbox is empty), or, with ``what`` =
    "outbox", until no outbound call is due (rows backing off after a failure are not waited for)."""
    began = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        while time.perf_counter() - began < deadline_s:
            if not await conn.fetchval(WAITING[what]):
                return time.perf_counter() - began
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise TimeoutError(f"the {what} still had work waiting after {deadline_s} s")


CHECKS = {
    "stored per source": "SELECT source, count(*) AS n FROM webhook_deliveries GROUP BY source",
    "not processed once": """
        SELECT count(*) FROM webhook_deliveries WHERE status NOT IN ('processed', 'ignored') OR attempts <> 1
    """,
    "sentry incidents": """
        SELECT count(*) AS rows, count(DISTINCT sentry_issue_id) AS issues
        FROM infrastructure_incidents WHERE sentry_issue_id = ANY($1::text[])
    """,
    "end to end": """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
               percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
        FROM (SELECT extract(epoch FROM processed_at - received_at) * 1000 AS ms FROM webhook_deliveries
              WHERE received_at >= $1 AND received_at < $2 AND status = 'processed') t
    """,
}


async def check(dsn: str, sent: Sent) -> list[str]:
    """What the database holds against what was answered 2xx: a list of failures (empty: all good)."""
    failures = []
    conn = await asyncpg.connect(dsn)
    try:
        stored = {r["source"]: r["n"] for r in await conn.fetch(CHECKS["stored per source"])}
        for source, ids in sent.ids.items():
            if stored.get(source, 0) != len(ids):
                failures.append(f"{source}: {stored.get(source, 0)} rows stored, {len(ids)} distinct ids answered 2xx")
        bad = await conn.fetchval(CHECKS["not processed once"])
        if bad:
            failures.append(f"{bad} deliveries not processed exactly once")
        incidents = await conn.fetchrow(CHECKS["sentry incidents"], sorted(sent.new_sentry_issues))
        if incidents["rows"] != len(sent.new_sentry_issues) or incidents["issues"] != len(sent.new_sentry_issues):
            failures.append(
                f"sentry incidents: {incidents['rows']} rows for {incidents['issues']} issues, "
                f"{len(sent.new_sentry_issues)} new issues sent"
            )
    finally:
        await conn.close()
    return failures


async def service(plan: Plan, dsn: str, slack_url: str, linear_url: str, profile: Path | None = None) -> dict[str, Any]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SENTRY_", "GITHUB_", "LINEAR_"))},
        "DATABASE_URL": dsn,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SENTRY_CLIENT_SECRET": SECRETS["sentry"],
        "GITHUB_WEBHOOK_SECRET": SECRETS["github"],
        "LINEAR_WEBHOOK_SECRET": SECRETS["linear"],
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_API_URL": slack_url,
        "SLACK_INCIDENTS_CHANNEL": "C0BENCH",
        "LINEAR_API_KEY": "lin_api_bench",
        "LINEAR_API_URL": linear_url,
        "LINEAR_TEAM_KEY": "ENG",
        "JWT_SECRET": JWT_SECRET,
    }
    base = f"http://127.0.0.1:{port}"
    sent = Sent()
    async with process(["app.py"], env, base + "/readyz") as (proc, ready_s):
        mix = Mix(seed=7)
        postmaster = await cpu.postmaster_of(dsn)
        results, info = await drive(
            base, plan, mix, sent, dsn=dsn, profile=profile, pid=proc.pid, postmaster=postmaster
        )
        drain_s = info["drain_s"]
        rss = peak_rss_mb(proc.pid)
        health = await closed_loop_health(base, plan)
    began, ended = info["windows"].get("open@50") or info["windows"]["ceiling"]
    conn = await asyncpg.connect(dsn)
    try:
        e2e = await conn.fetchrow(CHECKS["end to end"], _ts(began), _ts(ended))
    finally:
        await conn.close()
    return {
        "results": results,
        "sent": sent,
        "ready_s": ready_s,
        "drain_s": drain_s,
        "outbox_drain_s": info["outbox_drain_s"],
        "peak_rss_mb": rss,
        "healthz": health,
        "e2e": dict(e2e) if e2e else {},
        "cpu_ms": info.get("cpu_ms", {}),
    }


def _ts(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


async def closed_loop_health(base: str, plan: Plan) -> float:
    """GET /healthz p50 on the same connection pool: the service's own floor, for reference."""
    latencies = []
    async with aiohttp.ClientSession() as http:
        for _ in range(50 if plan is QUICK else 300):
            began = time.perf_counter()
            async with http.get(base + "/healthz") as response:
                await response.read()
            latencies.append((time.perf_counter() - began) * 1000)
    latencies.sort()
    return latencies[len(latencies) // 2]


async def main_async(quick: bool, out: Path | None, profile: Path | None = None) -> int:
    from tests.fakes.linear import fake_linear
    from tests.fakes.slack import fake_slack

    plan = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        async with postgres(Path(tmp)) as server_url, fake_slack() as slack, fake_linear() as linear:
            measured = {}
            for mode in ("b0", "b1", "b2"):
                measured[mode] = await baseline(mode, plan, await fresh_database(server_url))
            bases = {mode: results for mode, (results, _cpu) in measured.items()}
            base_cpu = {mode: cpu_ms for mode, (_results, cpu_ms) in measured.items()}
            dsn = await fresh_database(server_url)
            svc = await service(plan, dsn, slack.url, linear.url, profile)
            failures = await check(dsn, svc["sent"])
    rows = table(svc, bases, plan.loads, base_cpu)
    print(show(rows))
    print(f"answers: {svc['sent'].answers}")
    report = {
        "quick": quick,
        "rows": rows,
        "answers": svc["sent"].answers,
        "checks": failures or "all passed",
        "runs": {
            name: {k: {**asdict(v), "latencies_ms": None, "p50": v.p(50), "p99": v.p(99)} for k, v in res.items()}
            for name, res in [("service", svc["results"]), *bases.items()]
        },
    }
    target = out or ROOT / "bench" / "results" / f"run-{time.strftime('%Y%m%dT%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, default=str))
    print(f"report: {target}")
    for failure in failures:
        print(f"CHECK FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and fast, for correctness (CI)")
    parser.add_argument("--out", type=Path, help="where to write the JSON report")
    parser.add_argument("--profile", type=Path, help="py-spy the service during the ceiling (raw stacks here)")
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args.quick, args.out, args.profile))
