"""`python app.py` on the embedded default: ready on a fresh DATA_DIR, data kept across a restart,
stopped cleanly on SIGTERM. Runs the real command in a subprocess, as a person would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(data_dir: Path, port: int) -> tuple[asyncio.subprocess.Process, float]:
    env = {**os.environ, "DATABASE_URL": "", "DATA_DIR": str(data_dir), "PORT": str(port)}
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with aiohttp.ClientSession() as http:
        deadline = began + 90
        while time.monotonic() < deadline:
            assert proc.returncode is None, (await proc.stderr.read()).decode() if proc.stderr else ""
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return proc, time.monotonic() - began
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("not ready within 90 s")


async def stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(60):
        assert await proc.wait() == 0


async def test_embedded_start_restart_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    proc, first = await start(data_dir, port)
    socket_dir = data_dir / "pg"
    try:
        conn = await asyncpg.connect(f"postgresql://postgres@/postgres?host={socket_dir}")
        await conn.execute("INSERT INTO agent_swarm_config (config_key, config_value) VALUES ('test.kept', '42')")
        await conn.close()
    finally:
        await stop(proc)
    assert not (socket_dir / "postmaster.pid").exists(), "embedded PostgreSQL stopped on SIGTERM"

    proc, again = await start(data_dir, port)
    try:
        conn = await asyncpg.connect(f"postgresql://postgres@/postgres?host={socket_dir}")
        value = await conn.fetchval("SELECT config_value FROM agent_swarm_config WHERE config_key = 'test.kept'")
        await conn.close()
        assert value == "42"
    finally:
        await stop(proc)
    print(f"embedded cold start to ready: first {first:.2f}s, restart {again:.2f}s")


async def test_bad_configuration_fails_fast_with_a_readable_message() -> None:
    env = {**os.environ, "PORT": "not-a-port", "DATABASE_URL": "mysql://nope"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"PORT must be" in err and b"DATABASE_URL must be" in err
