"""A TCP proxy on 127.0.0.1 that a test can cut: every open connection is dropped by ``drop()``, and
while ``refusing`` is set new connections are closed at once (the server looks down). The upstream is a
TCP ``host:port`` or, with ``unix_path``, a Unix socket (the embedded PostgreSQL listens on one)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Proxy:
    def __init__(self, host: str, port: int, *, unix_path: str | None = None) -> None:
        self.target = (host, port)
        self.unix_path = unix_path
        self.refusing = False
        self.port = 0
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.refusing:
            writer.transport.abort()
            return
        if self.unix_path is not None:
            up_reader, up_writer = await asyncio.open_unix_connection(self.unix_path)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    def drop(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.asynccontextmanager
async def tcp_proxy(host: str, port: int, *, unix_path: str | None = None) -> AsyncIterator[Proxy]:
    proxy = Proxy(host, port, unix_path=unix_path)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
