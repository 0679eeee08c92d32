"""Reading a Server-Sent Events answer in tests, with a deadline on every wait."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse

from integrations.agents.sse import Parser


class SSE:
    def __init__(self, response: ClientResponse) -> None:
        self.response = response
        self.parser = Parser()
        self.comments: list[str] = []

    async def until_connected(self, deadline_s: float = 10) -> None:
        async with asyncio.timeout(deadline_s):
            while True:
                line = (await self.response.content.readline()).decode()
                if not line:
                    raise EOFError("stream ended")
                if line.startswith(": connected"):
                    return

    async def events(self, n: int, deadline_s: float = 10) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(deadline_s):
            while len(out) < n:
                line = (await self.response.content.readline()).decode()
                if not line:
                    raise EOFError(f"stream ended after {len(out)} events")
                if line.startswith(":"):
                    self.comments.append(line.strip())
                message = self.parser.feed(line)
                if message is not None:
                    data = json.loads(message.data)
                    assert str(data["seq"]) == message.id and data["event_type"] == message.event
                    out.append(data)
        return out

    async def nothing_within(self, seconds: float) -> None:
        try:
            got = await self.events(1, deadline_s=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {got}")
