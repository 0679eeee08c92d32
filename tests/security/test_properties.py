"""Generated requests (hypothesis) against the real app: no answer is a 5xx, and a request that is not
verified (no valid signature, no valid token) writes no row anywhere.

Each test runs the app on a loop of its own so hypothesis can drive it example by example."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import asyncpg
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import build_app
from tests.conftest import JWT_SECRET, make_config
from tests.fakes.slack import signed_headers
from tests.integration.webhooks.conftest import sign

SECRETS = {"sentry": "prop-sentry-secret", "github": "prop-github-secret", "linear": "prop-linear-secret"}
SLACK_SECRET = "prop-slack-signing-secret"
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COUNT_ROWS = """
SELECT string_agg(format('SELECT %L AS t, count(*) AS n FROM %I', tablename, tablename), ' UNION ALL ')
FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('schema_migrations', 'test_seed_config')
"""
ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
ODD_TEXT = st.one_of(
    ASCII,
    st.sampled_from(["²", "①", "\uff11", "-1", "0", "1", "99999999999999999999999", "1e3", " 1", "a\nb", "null"]),
    st.text(max_size=20),
    st.uuids().map(str),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
BODY = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"", b"null", b"[]", b"payload=[]", b"payload=not-json", b"[" * 5000, b'{"a":"\\ud800"}']),
)
CONTENT_TYPE = st.sampled_from(
    [
        None,
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain; charset=nope",
        "application/json; charset=latin-1",
    ]
)


class Harness:
    """The app on its own loop, and a way to count every table's rows."""

    def __init__(self, database_url: str, **config: Any) -> None:
        self.loop = asyncio.new_event_loop()

        async def start() -> TestClient[Any, Any]:
            client: TestClient[Any, Any] = TestClient(TestServer(build_app(make_config(database_url, **config))))
            await client.start_server()
            return client

        self.client = self.loop.run_until_complete(start())
        self.conn: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(database_url))
        self.count_sql: str = self.loop.run_until_complete(self.conn.fetchval(COUNT_ROWS))

    def rows(self) -> dict[str, int]:
        return {r["t"]: r["n"] for r in self.loop.run_until_complete(self.conn.fetch(self.count_sql))}

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        async def go() -> tuple[int, str]:
            async with asyncio.timeout(20):
                response = await self.client.request(method, path, data=body, headers=headers)
                return response.status, await response.text()

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture
def harness(database_url: str) -> Iterator[Harness]:
    started = Harness(
        database_url,
        sentry_client_secret=SECRETS["sentry"],
        github_webhook_secret=SECRETS["github"],
        linear_webhook_secret=SECRETS["linear"],
        slack_signing_secret=SLACK_SECRET,
        slack_bot_token="xoxb-prop",
        slack_api_url="http://127.0.0.1:9/api/",
        linear_api_url="http://127.0.0.1:9/graphql",
    )
    yield started
    started.close()


def _headers(content_type: str | None, extra: dict[str, str]) -> dict[str, str]:
    return {**({"Content-Type": content_type} if content_type else {}), **extra}


def _check(harness: Harness, method: str, path: str, body: bytes, headers: dict[str, str], verified: bool) -> None:
    before = harness.rows()
    status, text = harness.send(method, path, body, headers)
    assert status < 500, (method, path, headers, body[:200], status, text)
    if not verified:
        assert harness.rows() == before, f"an unverified {method} {path} ({status}) wrote a row"


WEBHOOK_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Sentry-Hook-Signature",
            "Sentry-Hook-Resource",
            "Sentry-Hook-Timestamp",
            "Request-ID",
            "X-Hub-Signature-256",
            "X-GitHub-Event",
            "X-GitHub-Delivery",
            "Linear-Signature",
            "Linear-Event",
            "Linear-Delivery",
        ]
    ),
    ASCII,
    max_size=5,
)


def test_webhooks(harness: Harness) -> None:
    @EXAMPLES
    @given(
        source=st.sampled_from(["sentry", "github", "linear"]),
        body=BODY,
        headers=WEBHOOK_HEADERS,
        content_type=CONTENT_TYPE,
        signed=st.booleans(),
    )
    def check(source: str, body: bytes, headers: dict[str, str], content_type: str | None, signed: bool) -> None:
        if signed:
            digest = sign(body, SECRETS[source])
            name = {"sentry": "Sentry-Hook-Signature", "github": "X-Hub-Signature-256", "linear": "Linear-Signature"}
            headers = {**headers, name[source]: ("sha256=" if source == "github" else "") + digest}
        _check(harness, "POST", f"/webhooks/{source}", body, _headers(content_type, headers), verified=signed)

    check()


SLACK_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "X-Slack-Request-Timestamp": st.one_of(
            ASCII, st.just(str(int(time.time()))), st.sampled_from(["abc", "\uff11"])
        ),
        "X-Slack-Signature": st.one_of(ASCII, st.just("v0=" + "0" * 64)),
    },
)


def test_slack_events(harness: Harness) -> None:
    @EXAMPLES
    @given(body=BODY, headers=SLACK_HEADERS, content_type=CONTENT_TYPE, signed=st.booleans())
    def check(body: bytes, headers: dict[str, str], content_type: str | None, signed: bool) -> None:
        if signed:
            headers = {**headers, **signed_headers(body, SLACK_SECRET)}
        _check(harness, "POST", "/slack/events", body, _headers(content_type, headers), verified=signed)

    check()


def _routes(app: web.Application) -> list[tuple[str, str]]:
    return sorted(
        {
            (r.method, r.resource.canonical)
            for r in app.router.routes()
            if r.resource is not None and r.resource.canonical.startswith("/api/v1/") and r.method != "HEAD"
        }
    )


def _token(kind: str) -> str | None:
    now = int(time.time())
    claims: dict[str, Any] = {"role": "service_role", "sub": "prop", "exp": now + 300}
    if kind == "none":
        return None
    if kind == "garbage":
        return "Bearer not-a-token"
    if kind == "expired":
        claims["exp"] = now - 10
    if kind == "forged":
        return "Bearer " + jwt.encode(claims, "forged-" * 8, algorithm="HS256")
    if kind == "array-role":
        claims["role"] = ["service_role"]
    if kind == "authenticated":
        claims["role"] = "authenticated"
    return "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")


QUERY_NAMES = [
    "limit",
    "after",
    "status",
    "target",
    "event_type",
    "correlation_id",
    "agent_id",
    "group_by",
    "from",
    "to",
]


API_ROUTES = _routes(build_app(make_config("postgresql://127.0.0.1/unused")))
AUTH = st.sampled_from(["none", "garbage", "expired", "forged", "array-role", "service_role", "authenticated"])


def test_every_api_route_is_covered() -> None:
    assert len(API_ROUTES) >= 20 and ("PATCH", "/api/v1/coding-requests/{number}") in API_ROUTES


@pytest.mark.parametrize(("method", "template"), API_ROUTES, ids=[f"{m} {t}" for m, t in API_ROUTES])
def test_api_route(harness: Harness, method: str, template: str) -> None:
    @settings(EXAMPLES, max_examples=25)
    @given(
        segment=ODD_TEXT,
        query=st.dictionaries(st.sampled_from(QUERY_NAMES), ODD_TEXT, max_size=3),
        body=BODY,
        content_type=CONTENT_TYPE,
        auth=st.one_of(st.sampled_from(["service_role", "authenticated"]), AUTH),
    )
    def check(segment: str, query: dict[str, str], body: bytes, content_type: str | None, auth: str) -> None:
        if template.endswith("/stream") and auth in ("service_role", "authenticated"):
            auth = "forged"  # a verified stream never ends; its refusals are what is tested here
        path = template
        for name in ("{id}", "{number}", "{key}"):
            path = path.replace(name, quote(segment, safe="") or "x")
        if query:
            path += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        token = _token(auth)
        headers = _headers(content_type, {"Authorization": token} if token else {})
        _check(harness, method, path, body, headers, verified=auth in ("service_role", "authenticated"))

    check()
