"""A fake Slack Web API: a real HTTP server on loopback that slack_sdk talks to via ``base_url``.

It records every call, answers like Slack (the documented success bodies in
``tests/fixtures/slack/api_responses`` with the request's channel and a fresh ``ts``), and can be told
to answer 429 with ``Retry-After`` or to be slow. It keeps the messages it posted (``messages``, with
their ``metadata`` and edits), which ``conversations.history`` / ``conversations.replies`` list, and it
can fail like Slack on a bad night: 5xx answers (also in plain text, as a proxy in front of Slack does),
a connection dropped after the message was posted, an answer that comes too late (after posting), or an
``outage`` of such phases over time.

It also plays Slack's Socket Mode server: ``apps.connections.open`` (app-level token only) hands out
``ws://.../link``, where the fake says ``hello``, lets a test ``push`` envelopes and collects the client's
acks. For Sign in with Slack it serves the authorize page (``authorize_url``: signs in ``oidc_user`` and
redirects back with a code), ``openid.connect.token`` (client id and secret as HTTP Basic auth) and
``openid.connect.userInfo``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.conftest import FIXTURES

# What Slack sends first on every Socket Mode connection.
HELLO = {
    "type": "hello",
    "num_connections": 1,
    "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
    "connection_info": {"app_id": "A0FAKE"},
}
RESPONSES = {p.stem: json.loads(p.read_text()) for p in (FIXTURES / "slack" / "api_responses").glob("*.json")}


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    peer: Any = None  # the client's (host, port): one per TCP connection


@dataclass
class Message:
    """A message the fake posted: what a channel's history shows, with how often it was edited."""

    channel: str
    ts: str
    text: str
    thread_ts: str | None = None
    blocks: Any = None
    metadata: dict[str, Any] | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)

    def as_slack(self, with_metadata: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "bot_id": "BBOT"}
        if self.thread_ts:
            found["thread_ts"] = self.thread_ts
        if self.blocks is not None:
            found["blocks"] = self.blocks
        if with_metadata and self.metadata:
            found["metadata"] = self.metadata
        return found


@dataclass(frozen=True)
class Phase:
    """One stretch of an outage: ``kind`` is "429", "5xx" or "timeout" (answer after ``stall_s``), for
    ``only`` these methods when given (else every method of the outage)."""

    kind: str
    duration_s: float
    retry_after: int = 1
    stall_s: float = 0.0
    only: frozenset[str] | None = None


@dataclass
class Link:
    """One Socket Mode WebSocket a client opened: the acks it sent back, and whether it is closed."""

    ws: web.WebSocketResponse
    acks: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    delay_s: float = 0.0
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    _rate_limited: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _unavailable: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _ts = itertools.count(1)
    url: str = ""
    socket_url: str = ""
    links: list[Link] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    authorize_url: str = ""
    oidc_client: tuple[str, str] = ("1111.2222", "oidc-client-secret-for-tests")
    oidc_user: dict[str, Any] = field(
        default_factory=lambda: {"sub": "U0SIGNIN", "name": "Ada Lovelace", "https://slack.com/team_id": "T0"}
    )
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _access: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    _statuses: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _drops: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _stalls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _outage: list[Phase] = field(default_factory=list)
    _outage_methods: frozenset[str] = frozenset()
    outage_started: float = 0.0
    _late: set[asyncio.Future[dict[str, Any]]] = field(default_factory=set)

    def answer_status(self, method: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status`` (nothing is posted)."""
        self._statuses[method].extend([status] * times)

    def drop_after_posting(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect (the message is posted), then the connection
        is closed without an answer: the caller cannot know it was posted."""
        self._drops[method] += times

    def stall(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect but answer only after ``seconds``."""
        self._stalls[method].extend([seconds] * times)

    def outage(self, phases: list[Phase], methods: set[str]) -> float:
        """From now on, ``methods`` fail phase after phase; returns when the outage ends (loop time)."""
        self._outage, self._outage_methods = list(phases), frozenset(methods)
        self.outage_started = asyncio.get_running_loop().time()
        return self.outage_started + sum(p.duration_s for p in phases)

    def _phase(self, method: str) -> Phase | None:
        if method not in self._outage_methods:
            return None
        elapsed = asyncio.get_running_loop().time() - self.outage_started
        for phase in self._outage:
            if elapsed < phase.duration_s:
                return phase if phase.only is None or method in phase.only else None
            elapsed -= phase.duration_s
        return None

    def posted(self, channel: str | None = None) -> list[Message]:
        """Messages posted (optionally in one channel), in the order they were posted."""
        return [m for m in self.messages if channel is None or m.channel == channel]

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429 with ``Retry-After: retry_after``."""
        self._rate_limited[method].extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._errors[method].extend([error] * times)

    def unavailable(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 503 in plain text, as a proxy in front of Slack does."""
        self._unavailable[method] += times

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, within_s: float = 10) -> list[Call]:
        """Wait until ``method`` was called ``count`` times (successful or not)."""
        async with asyncio.timeout(within_s), self.changed:
            await self.changed.wait_for(lambda: len(self.called(method)) >= count)
        return self.called(method)

    async def wait_until(self, done: Callable[[], bool], within_s: float = 10) -> None:
        async with asyncio.timeout(within_s), self.changed:
            await self.changed.wait_for(done)

    async def open_link(self, within_s: float = 10) -> Link:
        """The newest Socket Mode connection still open (waits for one)."""
        await self.wait_until(lambda: any(not link.closed for link in self.links), within_s)
        return [link for link in self.links if not link.closed][-1]

    async def send(self, message: dict[str, Any], within_s: float = 10) -> Link:
        """Send a message (an envelope, or e.g. ``disconnect``) over the newest open connection."""
        link = await self.open_link(within_s)
        await link.ws.send_json(message)
        return link

    async def push(self, envelope: dict[str, Any], within_s: float = 10) -> dict[str, Any]:
        """Send a Socket Mode envelope to the client; return its ack (the message with the same envelope_id)."""
        link = await self.send(envelope, within_s)

        def ack() -> dict[str, Any] | None:
            return next((a for a in link.acks if a.get("envelope_id") == envelope["envelope_id"]), None)

        await self.wait_until(lambda: ack() is not None, within_s)
        found = ack()
        assert found is not None
        return found

    async def link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        link = Link(ws)
        async with self.changed:
            self.links.append(link)
            self.changed.notify_all()
        await ws.send_json(HELLO)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                async with self.changed:
                    link.acks.append(json.loads(message.data))
                    self.changed.notify_all()
        async with self.changed:
            link.closed = True
            self.changed.notify_all()
        return ws

    async def authorize(self, request: web.Request) -> web.Response:
        """Slack's authorize page, already consented: back to ``redirect_uri`` with a code for ``oidc_user``."""
        query = request.query
        if query.get("client_id") != self.oidc_client[0] or "openid" not in query.get("scope", ""):
            return web.Response(status=400, text="invalid_client_id or scope")
        code = f"code-{next(self._ts)}"
        user = {**self.oidc_user, "https://slack.com/user_id": self.oidc_user["sub"]}
        self._codes[code] = {"user": user, "redirect_uri": query.get("redirect_uri")}
        back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return web.Response(status=302, headers={"Location": back})

    def oidc_token(self, request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        auth = request.headers.get("Authorization", "")
        sent = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth.startswith("Basic ") else ""
        if sent != ":".join(self.oidc_client):
            return {"ok": False, "error": "invalid_client"}
        grant = self._codes.pop(str(args.get("code")), None)
        if grant is None or grant["redirect_uri"] != args.get("redirect_uri"):
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxp-oidc-{next(self._ts)}"
        self._access[token] = grant["user"]
        return {"ok": True, "access_token": token, "token_type": "Bearer", "id_token": "unused-in-tests"}

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel") or "C0FAKE"
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        if method == "chat.postMessage":
            metadata = args.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            self.messages.append(
                Message(channel, ts, args.get("text", ""), args.get("thread_ts"), args.get("blocks"), metadata)
            )
            body = copy.deepcopy(RESPONSES["chat.postMessage"])
            body.update(channel=channel, ts=ts)
            body["message"].update(text=args.get("text", ""), ts=ts)
            if args.get("thread_ts"):
                body["message"]["thread_ts"] = args["thread_ts"]
            return body
        if method == "chat.update":
            for message in self.messages:
                if message.channel == channel and message.ts == args.get("ts"):
                    message.edits.append({"text": args.get("text", ""), "blocks": args.get("blocks")})
                    message.text, message.blocks = args.get("text", message.text), args.get("blocks", message.blocks)
            body = copy.deepcopy(RESPONSES["chat.update"])
            body.update(channel=channel, ts=args.get("ts"), text=args.get("text", ""))
            return body
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            body = copy.deepcopy(RESPONSES["views.open"])
            view = args.get("view")
            if isinstance(view, str):
                view = json.loads(view)
            body["view"].update(view or {})
            return body
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, args)
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "chat.getPermalink":
            return {
                "ok": True,
                "channel": channel,
                "permalink": f"https://example.slack.com/archives/{channel}/p"
                + str(args.get("message_ts", "")).replace(".", ""),
            }
        if method == "users.info":
            user_id = args.get("user", "")
            profile = self.users.get(
                user_id, {"real_name": f"User {user_id}", "email": f"{user_id.lower()}@example.com"}
            )
            return {
                "ok": True,
                "user": {
                    "id": user_id,
                    "name": user_id.lower(),
                    "real_name": profile.get("real_name"),
                    "profile": profile,
                },
            }
        if method == "usergroups.users.list":
            return {"ok": True, "users": self.usergroups.get(args.get("usergroup", ""), [])}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "U0")).split(",")[0]}}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "T",
                "user": "bot",
                "team_id": "T0",
                "user_id": "UBOT",
                "bot_id": "BBOT",
            }
        return {"ok": True}

    def _history(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first for a channel (thread parents only), oldest first for a thread; metadata only when
        ``include_all_metadata`` is asked, as Slack does; ``limit`` with a ``cursor`` (an offset) to page."""
        channel = args.get("channel", "")
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        oldest = float(args.get("oldest") or 0)
        in_channel = [m for m in self.messages if m.channel == channel and float(m.ts) > oldest]
        if method == "conversations.replies":
            parent = str(args.get("ts", ""))
            found = [m for m in in_channel if m.ts == parent or m.thread_ts == parent]
            found.sort(key=lambda m: float(m.ts))
        else:
            found = [m for m in in_channel if m.thread_ts in (None, m.ts)]
            found.sort(key=lambda m: float(m.ts), reverse=True)
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 100)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": [m.as_slack(with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    async def _answer_late(self, method: str, args: dict[str, Any], stall_s: float) -> dict[str, Any]:
        await asyncio.sleep(stall_s)
        return self.answer(method, args)

    async def _fault(self, method: str, args: dict[str, Any], request: web.Request) -> web.StreamResponse | None:
        """The failure this call meets, if any (an answer to give instead, or None to answer normally)."""
        phase = self._phase(method)
        if phase is not None and phase.kind == "429":
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(phase.retry_after)}
            )
        if phase is not None and phase.kind == "5xx":
            return web.Response(status=500, text="Internal Server Error")
        if self._statuses[method]:
            return web.Response(status=self._statuses[method].pop(0), text="upstream unavailable")
        stall = phase.stall_s if phase is not None and phase.kind == "timeout" else 0.0
        if self._stalls[method]:
            stall = self._stalls[method].pop(0)
        if stall:
            # Slack finishes the call even when the caller gave up (the server cancels a handler whose
            # client went away, so the late work runs in a task of its own).
            late = asyncio.ensure_future(self._answer_late(method, args, stall))
            self._late.add(late)
            late.add_done_callback(self._late.discard)
            return web.json_response(await asyncio.shield(late))
        if self._drops[method]:
            self._drops[method] -= 1
            self.answer(method, args)
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
        # slack_sdk sends some methods (users.info, chat.getPermalink, usergroups.users.list) as GET with a query.
        args = {**request.query, **args}
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        call = Call(method, args, token, request.transport.get_extra_info("peername") if request.transport else None)
        async with self.changed:
            self.calls.append(call)
            self.changed.notify_all()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._rate_limited[method]:
            retry_after = self._rate_limited[method].pop(0)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
            )
        if self._unavailable[method]:
            self._unavailable[method] -= 1
            return web.Response(status=503, text="upstream connect error or disconnect/reset before headers")
        if method == "openid.connect.token":
            return web.json_response(self.oidc_token(request, args))
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if method == "openid.connect.userInfo":
            user = self._access.get(token)
            return web.json_response({"ok": True, **user} if user else {"ok": False, "error": "invalid_auth"})
        if self._errors[method]:
            return web.json_response({"ok": False, "error": self._errors[method].pop(0)})
        fault = await self._fault(method, args, request)
        if fault is not None:
            return fault
        if method == "apps.connections.open" and not token.startswith("xapp-"):
            return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        return web.json_response(self.answer(method, args))


@asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """Serve a FakeSlack on 127.0.0.1 (a free port); ``.url`` is the SLACK_API_URL to configure."""
    fake = FakeSlack()
    app = web.Application()
    app.router.add_route("*", "/api/{method}", fake.handle)
    app.router.add_get("/link", fake.link)
    app.router.add_get("/openid/connect/authorize", fake.authorize)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("/api/"))
    fake.socket_url = str(server.make_url("/link")).replace("http://", "ws://", 1)
    fake.authorize_url = str(server.make_url("/openid/connect/authorize"))
    try:
        yield fake
    finally:
        await server.close()


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with ``body``: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def interaction_body(payload: dict[str, Any]) -> bytes:
    """Interactivity payloads travel form-encoded as a single ``payload`` field, as Slack sends them."""
    return f"payload={quote(json.dumps(payload))}".encode()
