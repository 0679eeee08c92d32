"""The fault suite runs the REAL service: ``python app.py`` as a subprocess, jobs on, on a database of its
own (created on the test server, dropped after). Helpers here stay generic: start, wait ready, stop
(SIGTERM) or kill (SIGKILL), read its JSON log lines, and put a cuttable proxy between it and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
import pytest

from tests.conftest import JWT_SECRET, create_database, drop_database
from tests.fakes.tcp_proxy import Proxy, tcp_proxy

ROOT = Path(__file__).resolve().parents[2]
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class AppProcess:
    """One ``python app.py`` serving on its own port; its stderr (the JSON log) goes to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**{k: os.environ[k] for k in KEPT_ENV if k in os.environ}, **env, "PORT": str(self.port)}
        self.env.setdefault("HOST", "127.0.0.1")
        self.env.setdefault("JWT_SECRET", JWT_SECRET)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        return self

    async def ready(self, deadline_s: float = 60) -> float:
        """Wait until /readyz answers 200; returns the seconds waited."""
        started = time.monotonic()
        async with aiohttp.ClientSession() as http, asyncio.timeout(deadline_s):
            while True:
                assert self.proc is not None and self.proc.poll() is None, f"app exited: {self.tail()}"
                try:
                    async with http.get(f"{self.url}/readyz") as r:
                        if r.status == 200:
                            return time.monotonic() - started
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    async def wait_exit(self, deadline_s: float) -> int:
        assert self.proc is not None
        async with asyncio.timeout(deadline_s):
            while (code := self.proc.poll()) is None:
                await asyncio.sleep(0.05)
        return code

    async def stop(self, deadline_s: float = 30) -> float:
        """SIGTERM; returns the seconds the process took to exit."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        await self.wait_exit(deadline_s)
        return time.monotonic() - started

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.wait_exit(10)

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
        return lines

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.logs() if line.get("event") == name]

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture
async def own_database(server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the test server (the app migrates it at start)."""
    url = await create_database(server_url, "rel")
    try:
        yield url
    finally:
        await drop_database(server_url, url)


@pytest.fixture
async def start_app(tmp_path: Path) -> AsyncIterator[Callable[..., AppProcess]]:
    """``start_app(DATABASE_URL=..., **env)`` -> a started AppProcess (killed after the test if alive)."""
    started: list[AppProcess] = []

    def start(**env: str) -> AppProcess:
        app = AppProcess(env, tmp_path / f"app-{len(started)}.log").start()
        started.append(app)
        return app

    yield start
    for app in started:
        if app.proc is not None and app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait(10)


@pytest.fixture
async def db_proxy(own_database: str) -> AsyncIterator[tuple[Proxy, str]]:
    """A cuttable proxy in front of ``own_database``, and the database URL through it."""
    parts = urlsplit(own_database)
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    port = parts.port or 5432
    unix_path = f"{socket_dir}/.s.PGSQL.{port}" if socket_dir.startswith("/") else None
    async with tcp_proxy(parts.hostname or "127.0.0.1", port, unix_path=unix_path) as proxy:
        user = parts.username or "postgres"
        auth = f"{user}:{parts.password}@" if parts.password else f"{user}@"
        yield proxy, urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{proxy.port}", query=""))


async def wait_for(condition: Callable[[], Any], deadline_s: float, every_s: float = 0.05) -> Any:
    """Poll ``condition`` (sync or async) until it returns something truthy; that value, or TimeoutError."""
    async with asyncio.timeout(deadline_s):
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(every_s)
