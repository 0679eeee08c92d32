"""The bus under a burst: 200 SSE streams open while 1,000 events are published, against the real app.

    .venv/bin/python bench/bus.py [--streams 200] [--events 1000] [--publishers 20]
                                  [--profile stacks.txt] (py-spy the service during the burst)
                                  [--uvloop] (the service on uvloop, to measure it)
                                  (DATABASE_URL, else an embedded PostgreSQL in a temporary directory)

Starts ``python app.py`` as a subprocess, opens the streams (every fourth one filtered on a target, so
most events reach 150 of them and a quarter reach all 200), then publishes the burst with ``--publishers``
concurrent ``POST /api/v1/events``. Delivery time = arrival of an event on a stream minus the start of its
POST; one sample per (stream, event); ``after_201`` is the same from the POST's answer (the fan-out alone:
negative when the stream is faster than the publisher's answer). Meanwhile ``GET /readyz`` is polled in a
loop from a process of its own (``readyz_*``, alternating with ``GET /healthz``: ``healthz_during_*``, the
floor) and from the load generator's (``readyz_in_client_*``, which also counts that loop's own delays).
Baselines from the same run, before the streams open: the same number of requests with the same
concurrency against ``GET /healthz`` (the HTTP floor), and the same burst published with no stream open.
Also: a stream whose client never reads is open during the burst, and the server's RSS is sampled before
and after (a bounded per-stream queue keeps the growth flat). Prints one table and the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
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


BENCH_EVENT = re.compile(rb"^event: bench\.(\d+)$", re.MULTILINE)


async def stream(
    session: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    target: str | None,
    arrivals: dict[int, float],
    connected: asyncio.Event,
    want: int,
) -> None:
    """Reads whole chunks (a regex per chunk, not a Python loop per line): the load generator shares the
    machine's two cores with the service, so it should spend as little of them as it can."""
    params = {"target": target} if target else {}
    async with session.get(base + "/api/v1/events/stream", headers=headers, params=params) as response:
        assert response.status == 200, await response.text()
        pending = b""
        async for chunk in response.content.iter_any():
            at = time.perf_counter()
            text = pending + chunk
            cut = text.rfind(b"\n") + 1
            text, pending = text[:cut], text[cut:]
            if not connected.is_set() and b": connected" in text:
                connected.set()
            for match in BENCH_EVENT.finditer(text):
                arrivals[int(match[1])] = at
            if len(arrivals) >= want:
                return


def readyz_process(base: str, stop: EventType, out: Connection) -> None:
    """The same poll from a process of its own: its timings are not delayed by this process's event loop,
    busy reading 200 streams (the service's answer time, as a separate prober sees it). It alternates with
    ``GET /healthz``, the floor: what any request waits for in the service's loop during the burst."""

    async def main() -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {"/readyz": [], "/healthz": []}
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                for path, times in samples.items():
                    t0 = time.perf_counter()
                    async with session.get(base + path) as r:
                        await r.read()
                    times.append(time.perf_counter() - t0)
                    await asyncio.sleep(0.005)
        return samples

    out.send(asyncio.run(main()))


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


def event_body(i: int, kind: str = "bench") -> dict[str, Any]:
    """A quarter of the events target agent-0 (the filtered streams' target), the rest broadcast."""
    return {
        "source_agent_id": "bench",
        "source_agent_type": "bench",
        "event_type": f"{kind}.{i}",
        "payload": {"i": i},
        "target_agent_ids": ["agent-0"] if i % 4 == 0 else [],
    }


async def closed_loop(
    session: aiohttp.ClientSession, count: int, workers: int, send: Callable[[int], Awaitable[None]]
) -> float:
    """Seconds for ``count`` requests sent by ``workers`` concurrent clients."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await send(queue.get_nowait())

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - t0


async def baselines(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], events: int, publishers: int
) -> dict[str, float]:
    """Before any stream opens: ``GET /healthz`` and publishing alone, with the burst's count and concurrency."""

    async def healthz(_i: int) -> None:
        async with session.get(base + "/healthz") as r:
            assert r.status == 200

    async def quiet_publish(i: int) -> None:
        async with session.post(base + "/api/v1/events", json=event_body(i, "warm"), headers=headers) as r:
            assert r.status == 201, await r.text()

    healthz_s = await closed_loop(session, events, publishers, healthz)
    quiet_s = await closed_loop(session, events, publishers, quiet_publish)
    return {"healthz_per_s": round(events / healthz_s, 1), "publish_no_streams_per_s": round(events / quiet_s, 1)}


async def py_spy(pid: int, out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--rate", "200",
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def burst(
    base: str, port: int, pid: int, streams: int, events: int, publishers: int, profile: Path | None = None
) -> dict[str, Any]:
    token = jwt.encode({"role": "service_role", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        await wait_ready(session, base, SERVER[0])
        base_rates = await baselines(session, base, headers, events, publishers)
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
        stop_prober, (samples_in, samples_out) = multiprocessing.Event(), multiprocessing.Pipe(duplex=False)
        prober = multiprocessing.Process(target=readyz_process, args=(base, stop_prober, samples_out))
        prober.start()
        spy = await py_spy(pid, profile) if profile is not None else None
        await asyncio.sleep(0.5)
        started: dict[int, float] = {}
        answered: dict[int, float] = {}

        async def publish(i: int) -> None:
            started[i] = time.perf_counter()
            async with session.post(base + "/api/v1/events", json=event_body(i), headers=headers) as r:
                assert r.status == 201, await r.text()
            answered[i] = time.perf_counter()

        published_s = await closed_loop(session, events, publishers, publish)
        try:
            async with asyncio.timeout(120):
                await asyncio.gather(*tasks)
        except TimeoutError:
            for task in tasks:
                task.cancel()
        stop.set()
        await poller
        stop_prober.set()
        apart: dict[str, list[float]] = await asyncio.to_thread(samples_in.recv)
        prober.join()
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its samples when interrupted
            await spy.wait()
        rss_after = rss_mb(pid)
        slow.transport.abort()
    delivery = [(at - started[i]) * 1000 for a in arrivals for i, at in a.items()]
    after_answer = [(at - answered[i]) * 1000 for a in arrivals for i, at in a.items()]
    publish_ms = [(answered[i] - started[i]) * 1000 for i in answered]
    expected = sum(wanted)
    publish_rate = events / published_s
    return {
        "streams": streams,
        "events": events,
        "publish_s": round(published_s, 3),
        "publish_per_s": round(publish_rate, 1),
        **base_rates,
        "publish_vs_healthz": round(publish_rate / base_rates["healthz_per_s"], 3),
        "publish_vs_no_streams": round(publish_rate / base_rates["publish_no_streams_per_s"], 3),
        "deliveries": len(delivery),
        "deliveries_expected": expected,
        "delivery_p50_ms": round(pct(delivery, 0.5), 2),
        "delivery_p99_ms": round(pct(delivery, 0.99), 2),
        "delivery_max_ms": round(max(delivery, default=float("nan")), 2),
        "publish_p50_ms": round(pct(publish_ms, 0.5), 2),
        "publish_p99_ms": round(pct(publish_ms, 0.99), 2),
        "after_201_p50_ms": round(pct(after_answer, 0.5), 2),
        "after_201_p99_ms": round(pct(after_answer, 0.99), 2),
        "readyz_samples": len(apart["/readyz"]),
        "readyz_p50_ms": round(pct(apart["/readyz"], 0.5) * 1000, 2),
        "readyz_p99_ms": round(pct(apart["/readyz"], 0.99) * 1000, 2),
        "healthz_during_p50_ms": round(pct(apart["/healthz"], 0.5) * 1000, 2),
        "healthz_during_p99_ms": round(pct(apart["/healthz"], 0.99) * 1000, 2),
        "readyz_in_client_p50_ms": round(pct(readyz, 0.5) * 1000, 2),
        "readyz_in_client_p99_ms": round(pct(readyz, 0.99) * 1000, 2),
        "server_rss_growth_mb": round(rss_after - rss_before, 1),
    }


SERVER: list[subprocess.Popen[bytes]] = []
UVLOOP = (
    "import asyncio, runpy, sys, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy());"
    " sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--profile", type=Path, help="py-spy the service during the burst (raw stacks here)")
    parser.add_argument("--uvloop", action="store_true", help="run the service on uvloop (must be installed)")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "PORT": str(port), "DATA_DIR": data_dir, "JWT_SECRET": SECRET}
        log = open(Path(data_dir) / "app.log", "wb")
        command = [sys.executable, str(ROOT / "app.py")]
        if args.uvloop:  # a measurement only: the service itself does not choose its loop here
            command[1:] = ["-c", UVLOOP, str(ROOT / "app.py")]
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        SERVER.append(server)
        try:
            result = asyncio.run(
                burst(
                    f"http://127.0.0.1:{port}",
                    port,
                    server.pid,
                    args.streams,
                    args.events,
                    args.publishers,
                    args.profile,
                )
            )
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    print(f"{'figure':<18} {'value':>10} {'goal':>8}  met")
    for key, goal in GOALS.items():
        print(f"{key:<18} {result[key]:>10} {goal:>8}  {'yes' if result[key] <= goal else 'no'}")
    print(
        f"publish {result['publish_per_s']}/s during the burst; baselines: GET /healthz {result['healthz_per_s']}/s"
        f" (ratio {result['publish_vs_healthz']}), publishing with no stream open"
        f" {result['publish_no_streams_per_s']}/s (ratio {result['publish_vs_no_streams']});"
        f" /readyz p99 {result['readyz_p99_ms']} ms against GET /healthz's {result['healthz_during_p99_ms']} ms"
        " in the same burst"
    )
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
