"""A fake Sentry on loopback that keeps every envelope the SDK sends, and the SDK pointed at it."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sentry_sdk
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class FakeSentry:
    dsn: str = ""
    envelopes: list[bytes] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        self.envelopes.append(raw)
        return web.json_response({"id": "0" * 32})

    def events(self) -> list[dict[str, Any]]:
        """The error events among the envelopes' items (an envelope is JSON lines: header, then
        item header and payload pairs)."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found

    async def flush(self) -> None:
        # The SDK's transport thread posts to this server, which runs on this loop: flush off the loop.
        await asyncio.to_thread(sentry_sdk.flush, 10)


@pytest.fixture
async def fake_sentry() -> AsyncIterator[FakeSentry]:
    fake = FakeSentry()
    app = web.Application()
    app.router.add_post("/api/{project}/envelope/", fake.receive)
    app.router.add_post("/api/{project}/store/", fake.receive)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.dsn = f"http://public@127.0.0.1:{server.port}/1"
    try:
        yield fake
    finally:
        await server.close()


@pytest.fixture
def sentry_off() -> Iterator[None]:
    """Whatever a test initialised, the SDK is off again afterwards."""
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.init()
