"""The embedded PostgreSQL (pgserver, with pgvector) used when DATABASE_URL is unset."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import logs
from config import Config


class EmbeddedServer(Protocol):
    def get_uri(self, database: str | None = None) -> str: ...

    def cleanup(self) -> None: ...


def start(data_dir: Path) -> EmbeddedServer:
    """Start (or reuse) the server whose data lives in ``data_dir/pg``; blocking, run it off the loop."""
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on servers
        warnings.simplefilter("ignore")
        import pgserver  # imported late: only the embedded mode needs it

    pgdata = data_dir.resolve() / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server: EmbeddedServer = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return server


@asynccontextmanager
async def database_url(config: Config) -> AsyncIterator[str]:
    """DATABASE_URL when set; else the embedded server's, started for the block and stopped after it."""
    if config.database_url is not None:
        yield config.database_url
        return
    server = await asyncio.to_thread(start, config.data_dir)
    logs.event("db.embedded.started", data_dir=str(config.data_dir.resolve()))
    try:
        yield server.get_uri()
    finally:
        await asyncio.to_thread(server.cleanup)
        logs.event("db.embedded.stopped")
