"""The bus under a burst: 200 SSE streams open while 1,000 events are published, against the real app.

    .venv/bin/python bench/bus.py [--streams 200] [--events 1000] [--publishers 20]
                                  (DATABASE_URL, else an embedded PostgreSQL in a temporary directory)

Starts ``python app.py`` as a subprocess, opens the streams (every fourth one filtered on a
target, so most events reach 150 of them and a quarter reach all 200), then publishes the burst with
``--publishers`` concurrent ``POST /api/v1/events``. Delivery time = arrival of an event on a stream minus
the start of its POST; one sample per (stream, event). Meanwhile one client polls ``GET /readyz`` in a
loop. Also: a stream whose client never reads is open during the burst, and the server's RSS is sampled
before and after (a bounded per-stream queue keeps the growth flat). Prints one table and the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-bench-secret-bench-secret"
GOALS = {"delivery_p99_ms": 50.0, "readyz_p99_ms": 10.0}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_ready(session: aiohttp.ClientSession, base: str, server: subprocess.Popen[bytes]) -> None:
    async with asyncio.timeout(120):
        while True:
            if server.poll() is not None:
                raise SystemExit(f"app.py exited with {server.returncode}")
            try:
                async with session.get(base + "/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


async def stream(
    session: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    target: str | None,
    arrivals: dict[int, float],
    connected: asyncio.Event,
    want: int,
) -> None:
    params = {"target": target} if target else {}
    async with session.get(base + "/api/v1/events/stream", headers=headers, params=params) as response:
        assert response.status == 200, await response.text()
        async for line in response.content:
            if line.startswith(b": connected"):
                connected.set()
            elif line.startswith(b"event: bench."):
                arrivals[int(line[13:])] = time.perf_counter()
                if len(arrivals) >= want:
                    return


async def poll_readyz(session: aiohttp.ClientSession, base: str, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        async with session.get(base + "/readyz") as r:
            await r.read()
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(0.005)


async def never_reads(port: int, token: str) -> asyncio.StreamWriter:
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(f"GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()
    writer.transport.pause_reading()
    return writer


async def burst(base: str, port: int, pid: int, streams: int, events: int, publishers: int) -> dict[str, Any]:
    token = jwt.encode({"role": "service_role", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        await wait_ready(session, base, SERVER[0])
        targets = [f"agent-{n % 4}" if n % 4 == 0 else None for n in range(streams)]
        arrivals: list[dict[int, float]] = [{} for _ in range(streams)]
        connected = [asyncio.Event() for _ in range(streams)]
        wanted = [
            events if t is None else (events * 3) // 4 + sum(1 for i in range(events) if i % 4 == 0) for t in targets
        ]
        tasks = [
            asyncio.create_task(stream(session, base, headers, t, a, c, w))
            for t, a, c, w in zip(targets, arrivals, connected, wanted, strict=True)
        ]
        async with asyncio.timeout(60):
            for c in connected:
                await c.wait()
        slow = await never_reads(port, token)
        rss_before = rss_mb(pid)
        stop = asyncio.Event()
        readyz: list[float] = []
        poller = asyncio.create_task(poll_readyz(session, base, stop, readyz))
        await asyncio.sleep(0.5)
        started: dict[int, float] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(events):
            queue.put_nowait(i)

        async def publisher() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                # a quarter of the events target agent-0 (the filtered streams' target), the rest broadcast
                body = {
                    "source_agent_id": "bench",
                    "source_agent_type": "bench",
                    "event_type": f"bench.{i}",
                    "payload": {"i": i},
                    "target_agent_ids": ["agent-0"] if i % 4 == 0 else [],
                }
                started[i] = time.perf_counter()
                async with session.post(base + "/api/v1/events", json=body, headers=headers) as r:
                    assert r.status == 201, await r.text()

        t0 = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(publishers)))
        published_s = time.perf_counter() - t0
        try:
            async with asyncio.timeout(120):
                await asyncio.gather(*tasks)
        except TimeoutError:
            for task in tasks:
                task.cancel()
        stop.set()
        await poller
        rss_after = rss_mb(pid)
        slow.transport.abort()
    delivery = [(at - started[i]) * 1000 for a in arrivals for i, at in a.items()]
    expected = sum(wanted)
    return {
        "streams": streams,
        "events": events,
        "publish_s": round(published_s, 3),
        "deliveries": len(delivery),
        "deliveries_expected": expected,
        "delivery_p50_ms": round(pct(delivery, 0.5), 2),
        "delivery_p99_ms": round(pct(delivery, 0.99), 2),
        "delivery_max_ms": round(max(delivery, default=float("nan")), 2),
        "readyz_samples": len(readyz),
        "readyz_p50_ms": round(pct(readyz, 0.5) * 1000, 2),
        "readyz_p99_ms": round(pct(readyz, 0.99) * 1000, 2),
        "server_rss_growth_mb": round(rss_after - rss_before, 1),
    }


SERVER: list[subprocess.Popen[bytes]] = []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "PORT": str(port), "DATA_DIR": data_dir, "JWT_SECRET": SECRET}
        log = open(Path(data_dir) / "app.log", "wb")
        server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=log, stderr=log)
        SERVER.append(server)
        try:
            result = asyncio.run(
                burst(f"http://127.0.0.1:{port}", port, server.pid, args.streams, args.events, args.publishers)
            )
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    print(f"{'figure':<18} {'value':>10} {'goal':>8}  met")
    for key, goal in GOALS.items():
        print(f"{key:<18} {result[key]:>10} {goal:>8}  {'yes' if result[key] <= goal else 'no'}")
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
