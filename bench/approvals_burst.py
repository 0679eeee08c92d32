"""bench/approvals.py's ``--burst`` mode: ``python app.py`` in a subprocess under a burst of signed clicks.

See bench/approvals.py for what is measured; this module starts the service, runs the rounds and reads
the CPU of the service and its PostgreSQL backends from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import jwt

from bench.approvals import FORM, JWT_SECRET, ROOT, SECRET, UNPOSTED, click, pct, request, summary
from tests.fakes.slack import fake_slack, signed_headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(session: aiohttp.ClientSession, base: str, server: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(120):
        while True:
            if server.returncode is not None:
                raise SystemExit(f"app.py exited with {server.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(base + "/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)


def server_env(url: str, port: int, slack_url: str) -> dict[str, str]:
    """``python app.py``'s environment: jobs on, the fake Slack, signed requests, no other integration."""
    drop = ("SLACK_", "SENTRY_", "GITHUB_", "LINEAR_", "DATABASE_URL", "PORT", "HOST")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(drop)},
        "DATABASE_URL": url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "JWT_SECRET": JWT_SECRET,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_API_URL": slack_url,
        "SLACK_APPROVALS_CHANNEL": "C0BENCH",
    }


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (those still running)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def quiet(pids: list[int], still_s: float = 0.3, deadline_s: float = 30) -> None:
    """Until these processes use no CPU for ``still_s``: the server has read every waiter's row, or has
    finished the work that follows a burst (outbox, Slack updates)."""
    async with asyncio.timeout(deadline_s):
        while True:
            before = cpu_s(pids)
            await asyncio.sleep(still_s)
            if cpu_s(pids) - before < 0.02:
                return


async def timed(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    async with session.request(method, url, **kwargs) as response:
        assert response.status == 200, await response.text()
        await response.read()
    return time.perf_counter() - started


async def py_spy(pid: int, profile: Path) -> asyncio.subprocess.Process:
    """py-spy on the service from now until SIGINT, its raw stacks appended to ``profile`` (one burst each)."""
    out = profile.with_name(f"{profile.name}.{time.monotonic_ns()}")
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--rate", "250",
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(1.0)  # attached and sampling
    SPY_OUTPUTS.append((out, profile))
    return spy


SPY_OUTPUTS: list[tuple[Path, Path]] = []


async def backend_pids(admin: asyncpg.Connection, database: str) -> list[int]:
    return [r["pid"] for r in await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)]


async def burst_round(
    session: aiohttp.ClientSession,
    base: str,
    admin: asyncpg.Connection,
    server: int,
    clicks: int,
    targets: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One burst: ``targets`` posted requests, each awaited by a long-poll; ``clicks`` concurrent GET
    /healthz (the baseline), then ``clicks`` Approve clicks at once."""
    ids = []
    for _ in range(targets):
        async with session.post(base + "/api/v1/approvals", json=request(), headers=AUTH[0]) as response:
            ids.append((await response.json())["id"])
    async with asyncio.timeout(60):  # every message is in Slack and nothing else is queued
        while await admin.fetchval(UNPOSTED, ids):  # noqa: ASYNC110  (no event for "all posted")
            await asyncio.sleep(0.05)
    answered: list[float] = []
    started = 0.0

    async def waiter(approval_id: str) -> None:
        url = f"{base}/api/v1/approvals/{approval_id}?wait=30"
        async with session.get(url, headers=AUTH[0]) as response:
            row = await response.json()
        answered.append(time.perf_counter() - started)
        assert row["status"] == "approved", row

    waiters = [asyncio.create_task(waiter(i)) for i in ids]
    await quiet([server])  # every long-poll has read its row and waits
    healthz = await asyncio.gather(*(timed(session, "GET", base + "/healthz") for _ in range(clicks)))
    await quiet([server])
    bodies = [click(ids[i % targets], f"U{i:06d}") for i in range(clicks)]
    pids = [server, *PG_PIDS]
    spy = await py_spy(server, profile) if profile is not None else None
    cpu_before = (cpu_s([server]), cpu_s(PG_PIDS))
    started = time.perf_counter()
    acks = await asyncio.gather(
        *(
            timed(session, "POST", base + "/slack/events", data=b, headers={**FORM, **signed_headers(b, SECRET)})
            for b in bodies
        )
    )
    async with asyncio.timeout(60):
        await asyncio.gather(*waiters)
    await quiet(pids)
    cpu = (cpu_s([server]) - cpu_before[0], cpu_s(PG_PIDS) - cpu_before[1])
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await spy.wait()
    return {"acks": list(acks), "resume": answered, "healthz": list(healthz), "cpu": cpu}


AUTH: list[dict[str, str]] = []
PG_PIDS: list[int] = []


async def run_burst(url: str, clicks: int, targets: int, rounds: int, profile: Path | None) -> dict[str, Any]:
    """Burst mode against ``python app.py`` in a subprocess (jobs on), the fake Slack on loopback."""
    token = jwt.encode({"role": "service_role", "exp": int(time.time()) + 3600}, JWT_SECRET)
    AUTH.append({"Authorization": f"Bearer {token}"})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = urlsplit(url).path.lstrip("/")
    acks: list[float] = []
    resume: list[float] = []
    healthz: list[float] = []
    per_round = []
    app_cpu = pg_cpu = 0.0
    async with fake_slack() as fake:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "app.py"),
            cwd=ROOT,
            env=server_env(url, port, fake.url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # No client-side connection limit: every click and every long-poll is its own connection, as in Slack.
            connector = aiohttp.TCPConnector(limit=0)
            timeout = aiohttp.ClientTimeout(total=None)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                await wait_ready(session, base, server)
                admin = await asyncpg.connect(url)
                try:
                    await burst_round(session, base, admin, server.pid, min(clicks, 20), min(targets, 20))  # warm-up
                    PG_PIDS[:] = await backend_pids(admin, database)
                    for _ in range(rounds):
                        got = await burst_round(session, base, admin, server.pid, clicks, targets, profile)
                        acks += got["acks"]
                        resume += got["resume"]
                        healthz += got["healthz"]
                        app_cpu += got["cpu"][0]
                        pg_cpu += got["cpu"][1]
                        per_round.append({k: round(pct(got[k], 99) * 1000, 1) for k in ("acks", "resume", "healthz")})
                finally:
                    await admin.close()
        finally:
            server.terminate()
            await server.wait()
    for out, profile_path in SPY_OUTPUTS:
        with contextlib.suppress(OSError), profile_path.open("a") as merged:
            merged.write(out.read_text())
            out.unlink()
    base_p50, base_p99 = pct(healthz, 50), pct(healthz, 99)
    results = [
        summary(f"burst: {clicks} concurrent GET /healthz (baseline)", healthz),
        summary(f"burst: {clicks} Approve clicks at once on {targets} requests, ack", acks),
        summary("burst: click -> waiting agent's GET ?wait= answered", resume),
    ]
    for r in results:
        r["p50_x_healthz"] = round(r["p50_ms"] / (base_p50 * 1000), 1)
        r["p99_x_healthz"] = round(r["p99_ms"] / (base_p99 * 1000), 1)
    n = clicks * rounds
    return {
        "burst": clicks,
        "targets": targets,
        "rounds": rounds,
        "p99_ms_per_round": per_round,
        "cpu_ms_per_click": {"app": round(app_cpu / n * 1000, 2), "postgres": round(pg_cpu / n * 1000, 2)},
        "results": results,
    }
