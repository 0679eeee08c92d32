"""Answer time of a signed Sentry ``issue`` created delivery, against GET /healthz in the same process.

    .venv/bin/python bench/webhooks.py [--n 400] [--warmup 40] [--concurrency 1]

Runs the real app (build_app) on loopback against a real PostgreSQL (DATABASE_URL if set, else an
embedded one in a temporary directory, with a fresh database either way), sends N deliveries of the
recorded ``tests/fixtures/sentry/issue.created.json``, each a new Sentry issue (the recorded payload with
its issue id replaced, compact as Sentry serialises it, signed over the exact bytes sent), one at a time,
and reports p50/p99 in milliseconds and as a ratio of /healthz's. Outbound work stays in the outbox (no
worker runs): the answer never waits on it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import build_app  # noqa: E402
from config import Config  # noqa: E402
from db import embedded, migrate  # noqa: E402

SECRET = "bench-sentry-secret"
FIXTURE = ROOT / "tests" / "fixtures" / "sentry" / "issue.created.json"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(session: aiohttp.ClientSession, method: str, url: str, **kwargs: object) -> float:
    began = time.perf_counter()
    async with session.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
        await response.read()
        assert response.status == 200, (response.status, await response.text())
    return (time.perf_counter() - began) * 1000


async def fresh_database(server_url: str) -> str:
    name = f"swarm_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(url)
    try:
        await migrate.migrate(conn)
    finally:
        await conn.close()
    return url


async def run(n: int, warmup: int, concurrency: int) -> None:
    given = os.environ.get("DATABASE_URL", "").strip()
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if given:
            server_url = given
        else:
            server = await asyncio.to_thread(embedded.start, Path(tmp))
            server_url = server.get_uri()
        try:
            url = await fresh_database(server_url)
            config = Config(database_url=url, run_jobs=False, sentry_client_secret=SECRET)
            app_server = TestServer(build_app(config), host="127.0.0.1")
            await app_server.start_server()
            base = json.loads(FIXTURE.read_bytes())
            try:
                async with aiohttp.ClientSession() as session:
                    health, hooks = [], []
                    counter = iter(range(10**9))

                    async def one(record: bool) -> None:
                        base["data"]["issue"]["id"] = str(9_000_000_000 + next(counter))
                        body = json.dumps(base, separators=(",", ":")).encode()
                        headers = {
                            "Content-Type": "application/json",
                            "Request-ID": uuid.uuid4().hex,
                            "Sentry-Hook-Resource": "issue",
                            "Sentry-Hook-Timestamp": str(int(time.time())),
                            "Sentry-Hook-Signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
                        }
                        h = await timed(session, "GET", str(app_server.make_url("/healthz")))
                        w = await timed(
                            session, "POST", str(app_server.make_url("/webhooks/sentry")), data=body, headers=headers
                        )
                        if record:
                            health.append(h)
                            hooks.append(w)

                    for i in range(0, warmup + n, concurrency):
                        await asyncio.gather(*(one(i >= warmup) for _ in range(concurrency)))
            finally:
                await app_server.close()
        finally:
            if server is not None:
                await asyncio.to_thread(server.cleanup)

    print(f"concurrency {concurrency} (each sender: GET /healthz, then the delivery)")
    for name, samples in (("GET /healthz", health), ("POST /webhooks/sentry issue.created", hooks)):
        print(
            f"{name:40s} n={len(samples)} p50={percentile(samples, 50):7.2f} ms  p99={percentile(samples, 99):7.2f} ms"
            f"  mean={statistics.fmean(samples):7.2f} ms  max={max(samples):7.2f} ms"
        )
    print(
        f"ratio webhook/healthz: p50 x{percentile(hooks, 50) / percentile(health, 50):.1f}"
        f"  p99 x{percentile(hooks, 99) / percentile(health, 99):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=1, help="deliveries in flight at once")
    args = parser.parse_args()
    asyncio.run(run(args.n, args.warmup, args.concurrency))


if __name__ == "__main__":
    main()
