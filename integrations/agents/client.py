"""The agents' client for swarm-bridge: publish on the bus, follow a stream, ask a human for approval.

    async with AgentClient("https://bridge.example", token, agent_id="triage-1", agent_type="triage") as c:
        await c.publish("incident.detected", {"id": "..."}, targets=["fixer-1"])
        async for event in c.stream("triage-1"):          # reconnects and resumes by Last-Event-ID
            ...
        decision = await c.request_approval("restart_service", {"service": "api"}, risk_level="high")

Only aiohttp and the standard library: agents import this file without the rest of the service.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from integrations.agents.sse import Parser

DECIDED = frozenset({"approved", "rejected", "expired", "cancelled"})


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class StreamEvent:
    seq: int
    event_type: str
    data: dict[str, Any]


class AgentClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        agent_id: str = "agent",
        agent_type: str = "agent",
        session: aiohttp.ClientSession | None = None,
        reconnect_delay_s: float = 0.5,
        max_reconnect_delay_s: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.agent_id = agent_id
        self.agent_type = agent_type
        self.reconnect_delay_s = reconnect_delay_s
        self.max_reconnect_delay_s = max_reconnect_delay_s
        self.reconnects = 0
        self.position: str | None = None  # the offset the current stream has reached (its Last-Event-ID)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._own_session = session is None
        self._session = session or aiohttp.ClientSession()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._session.request(method, self.base_url + path, headers=self._headers, **kwargs) as r:
            body = await r.json(content_type=None)
            if r.status >= 400:
                raise ApiError(r.status, str((body or {}).get("error") or r.reason))
            return body

    async def publish(
        self,
        event_type: str,
        payload: dict[str, Any] | None = None,
        *,
        targets: Sequence[str] = (),
        correlation_id: uuid.UUID | str | None = None,
    ) -> dict[str, Any]:
        """Publish an event; returns it with its ``seq``."""
        body = {
            "source_agent_id": self.agent_id,
            "source_agent_type": self.agent_type,
            "event_type": event_type,
            "payload": payload or {},
            "target_agent_ids": list(targets),
            "correlation_id": str(correlation_id) if correlation_id else None,
        }
        result: dict[str, Any] = await self._json("POST", "/api/v1/events", json=body)
        return result

    async def stream(
        self, target: str | None = None, last_event_id: int | str | None = None, *, event_type: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Every event for ``target`` after ``last_event_id`` (else from now on), forever.

        A dropped connection is re-opened with ``Last-Event-ID`` set to the last event received, so the
        server sends exactly what came after it: no gap, no duplicate. 401/403 end the iteration.
        """
        last = None if last_event_id is None else str(last_event_id)
        delay = self.reconnect_delay_s
        params = {k: v for k, v in (("target", target), ("event_type", event_type)) if v}
        while True:
            headers = dict(self._headers, Accept="text/event-stream")
            if last is not None:
                headers["Last-Event-ID"] = last
            try:
                async with self._session.get(
                    self.base_url + "/api/v1/events/stream",
                    params=params,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60),
                ) as response:
                    if response.status in (401, 403):
                        raise ApiError(response.status, (await response.text())[:200])
                    if response.status != 200:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status, message=response.reason or ""
                        )
                    parser = Parser(last_event_id=last)
                    delay = self.reconnect_delay_s
                    async for raw in response.content:
                        line = raw.decode("utf-8")
                        if last is None and line.startswith(": connected at "):
                            # A fresh subscription starts at the server's tail: resume from there after a drop.
                            last = parser.last_event_id = line.removeprefix(": connected at ").strip()
                            self.position = last
                        message = parser.feed(line)
                        if parser.retry_ms is not None:
                            delay = parser.retry_ms / 1000
                        if message is None:
                            continue
                        last = self.position = message.id
                        yield StreamEvent(
                            seq=int(message.id or 0), event_type=message.event, data=json.loads(message.data)
                        )
            except ApiError:
                raise
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                pass
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(max(delay, 0.1) * 2, self.max_reconnect_delay_s)

    async def request_approval(
        self,
        action_type: str,
        action_details: dict[str, Any],
        *,
        risk_level: str = "medium",
        continuation_event_type: str | None = None,
        continuation_payload: dict[str, Any] | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
        expires_in_s: int | None = None,
        timeout_s: float | None = None,
        poll_s: int = 25,
    ) -> dict[str, Any]:
        """Ask for approval and wait (long-polling ``?wait=``) until a human decides or it expires.

        Returns the decided approval row. ``timeout_s`` bounds the whole wait (TimeoutError after it).
        """
        body: dict[str, Any] = {
            "agent_name": self.agent_id,
            "action_type": action_type,
            "action_details": action_details,
            "risk_level": risk_level,
        }
        optional = {
            "continuation_event_type": continuation_event_type,
            "continuation_payload": continuation_payload,
            "channel": channel,
            "thread_ts": thread_ts,
            "expires_in_s": expires_in_s,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        row: dict[str, Any] = await self._json("POST", "/api/v1/approvals", json=body)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while row.get("status") not in DECIDED:
            wait = poll_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"approval {row['id']} still {row.get('status')} after {timeout_s} s")
                wait = max(1, min(poll_s, int(left)))
            try:
                row = await self._json("GET", f"/api/v1/approvals/{row['id']}", params={"wait": str(wait)})
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                await asyncio.sleep(self.reconnect_delay_s)
        return row
