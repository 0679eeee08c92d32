"""Console page load times with many incidents: server time of the incidents list and detail pages.

    .venv/bin/python -m bench.console [--incidents 1000000] [--requests 300]

Fills infrastructure_incidents with generate_series on a fresh embedded PostgreSQL, builds the real app,
signs in through a real session cookie and times GET /console/incidents (first page, a filtered page, a
deep keyset page) and GET /console/incidents/{id} on loopback. Prints p50/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from app import build_app
from config import Config
from db import embedded, migrate
from handlers.console import sessions
from handlers.console.web import KEY
from handlers.keys import POOL

FILL = """
INSERT INTO infrastructure_incidents (severity, status, incident_type, source, source_id, title, affected_services,
                                      created_at)
SELECT (ARRAY['critical', 'high', 'medium', 'low'])[1 + n % 4],
       (ARRAY['detected', 'acknowledged', 'mitigating', 'resolved', 'resolved', 'resolved'])[1 + n % 6],
       'error', 'sentry', 'bench-' || n, 'TypeError in handler ' || n,
       ARRAY['svc-' || (n % 50)], now() - n * interval '1 second'
FROM generate_series($1::int, $2::int) AS n
"""


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(client: TestClient, path: str, cookies: dict[str, str], n: int) -> list[float]:  # type: ignore[type-arg]
    out = []
    for _ in range(n):
        start = time.perf_counter()
        async with client.get(path, cookies=cookies) as response:
            await response.read()
            assert response.status == 200, (path, response.status)
        out.append((time.perf_counter() - start) * 1000)
    return out


async def main(count: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = await asyncio.to_thread(embedded.start, Path(tmp))
        try:
            url = server.get_uri()
            conn = await asyncpg.connect(url)
            await migrate.migrate(conn)
            started = time.perf_counter()
            for lo in range(1, count + 1, 100_000):
                await conn.execute(FILL, lo, min(lo + 99_999, count))
            await conn.execute("ANALYZE infrastructure_incidents")
            print(f"inserted {count} incidents in {time.perf_counter() - started:.1f} s")
            sample = "SELECT id FROM infrastructure_incidents TABLESAMPLE SYSTEM (1) LIMIT 200"
            ids = [r["id"] for r in await conn.fetch(sample)]
            await conn.close()
            client = TestClient(TestServer(build_app(Config(database_url=url, run_jobs=False))))
            await client.start_server()
            try:
                session = await sessions.start(client.app[POOL], "U0BENCH", "bench")
                cookies = {sessions.COOKIE: sessions.sign(client.app[KEY], session)}
                cases = {
                    "list, first page": "/console/incidents",
                    "list, status+severity filter": "/console/incidents?status=detected&severity=critical",
                    "list, service filter": "/console/incidents?service=svc-7",
                    "list, keyset page 250k rows deep": "/console/incidents?before=" + (await _cursor(client, count)),
                }
                for name, path in cases.items():
                    await timed(client, path, cookies, 5)
                    samples = await timed(client, path, cookies, requests)
                    print(f"{name:32s} p50 {statistics.median(samples):7.2f} ms  p99 {pct(samples, 99):7.2f} ms")
                samples = []
                for i in range(requests):
                    samples += await timed(client, f"/console/incidents/{ids[i % len(ids)]}", cookies, 1)
                print(f"{'detail':32s} p50 {statistics.median(samples):7.2f} ms  p99 {pct(samples, 99):7.2f} ms")
            finally:
                await client.close()
        finally:
            await asyncio.to_thread(server.cleanup)


async def _cursor(client: TestClient, count: int) -> str:  # type: ignore[type-arg]
    row = await client.app[POOL].fetchrow(
        "SELECT created_at, incident_number FROM infrastructure_incidents "
        "ORDER BY created_at DESC, incident_number DESC OFFSET $1 LIMIT 1",
        min(250_000, count // 2),
    )
    return f"{row['created_at'].isoformat()}_{row['incident_number']}".replace("+", "%2B")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.requests))
