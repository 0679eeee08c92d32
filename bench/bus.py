"""Publish-to-stream delivery time of the event bus, against /healthz in the same process.

    .venv/bin/python bench/bus.py [--events 300]        (DATABASE_URL, else an embedded PostgreSQL)

For each event: POST /api/v1/events, then wait until it arrives on an open SSE stream
(GET /api/v1/events/stream) of the same app; the time from the POST's start to the arrival is the delivery
time. The baseline is GET /healthz on the same server and client. Prints p50/p99 of both and the ratios,
then how much the server's heap grows while 20 MB go to a stream whose client never reads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import aiohttp
import jwt
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import build_app
from config import Config
from integrations.agents.sse import Parser

SECRET = "bench-secret-bench-secret-bench-secret"


async def slow_client(
    session: aiohttp.ClientSession, base: str, port: int, token: str, headers: dict[str, str]
) -> float:
    """A stream whose client never reads while 20 MB of events are published: how much the server's
    Python heap grows (tracemalloc). Bounded pages + drained writes keep it near one page, not 20 MB."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.transport.set_write_buffer_limits(0)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(
        f"GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Last-Event-ID: 0\r\n\r\n".encode()
    )
    await writer.drain()
    reader._transport.pause_reading()  # type: ignore[attr-defined]  # the client stops reading
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    blob = "x" * 10_000
    for i in range(2000):
        body = {
            "source_agent_id": "bench",
            "source_agent_type": "bench",
            "event_type": "bench.big",
            "payload": {"i": i, "blob": blob},
        }
        async with session.post(base + "/api/v1/events", json=body, headers=headers) as r:
            assert r.status == 201
    await asyncio.sleep(1)  # let the stream read and try to write what it can
    growth = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()
    writer.transport.abort()
    return growth


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


async def main(events: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        config = Config(
            database_url=os.environ.get("DATABASE_URL") or None,
            data_dir=Path(data_dir),
            jwt_secret=SECRET,
            run_jobs=False,
        )
        runner = web.AppRunner(build_app(config), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        token = jwt.encode({"role": "service_role", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with aiohttp.ClientSession() as session:
                health: list[float] = []
                for _ in range(events):
                    t0 = time.perf_counter()
                    async with session.get(base + "/healthz") as r:
                        await r.read()
                    health.append(time.perf_counter() - t0)

                delivery: list[float] = []
                async with session.get(base + "/api/v1/events/stream", headers=headers) as stream:
                    parser = Parser()
                    while not (await stream.content.readline()).startswith(b": connected"):
                        pass
                    for i in range(events):
                        body = {
                            "source_agent_id": "bench",
                            "source_agent_type": "bench",
                            "event_type": "bench.tick",
                            "payload": {"i": i},
                        }
                        t0 = time.perf_counter()
                        async with session.post(base + "/api/v1/events", json=body, headers=headers) as r:
                            assert r.status == 201, await r.text()
                        while True:
                            message = parser.feed((await asyncio.wait_for(stream.content.readline(), 10)).decode())
                            if message is not None and f'"i":{i}}}' in message.data:
                                break
                        delivery.append(time.perf_counter() - t0)
                slow_growth_mb = await slow_client(session, base, port, token, headers)
        finally:
            await runner.cleanup()

    def ms(v: float) -> str:
        return f"{v * 1000:.2f} ms"

    h50, h99, d50, d99 = pct(health, 0.5), pct(health, 0.99), pct(delivery, 0.5), pct(delivery, 0.99)
    print(f"events: {events}")
    print(f"/healthz           p50 {ms(h50)}  p99 {ms(h99)}  mean {ms(statistics.mean(health))}")
    print(f"publish->stream    p50 {ms(d50)}  p99 {ms(d99)}  mean {ms(statistics.mean(delivery))}")
    print(f"ratio vs /healthz  p50 {d50 / h50:.1f}x  p99 {d99 / h99:.1f}x")
    print(f"slow client: 20 MB published to a stream that never reads; server heap grew {slow_growth_mb:.1f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    asyncio.run(main(parser.parse_args().events))
