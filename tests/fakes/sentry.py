"""A fake Sentry REST API: a real HTTP server on loopback answering the organisation's issue list
(``GET /api/0/organizations/{org}/issues/?group=ID&group=ID``) with Sentry's issue shape, for the
delivery-gap sweeper. Issues are set by tests (``set``) without any webhook being sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class FakeSentry:
    org: str = "acme"
    token: str = "sntrys_test_token"
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def set(self, issue_id: str, status: str, *, substatus: str | None = None, **fields: Any) -> dict[str, Any]:
        """Put (or update) an issue as Sentry's API answers it."""
        issue = self.issues.setdefault(
            issue_id,
            {
                "id": issue_id,
                "shortId": f"PROJ-{issue_id[-3:]}",
                "title": f"Error {issue_id}",
                "culprit": "app.handler",
                "level": "error",
                "type": "error",
                "metadata": {"type": "Error", "value": f"Error {issue_id}"},
                "project": {"id": "1", "slug": "front-end", "name": "front-end"},
                "permalink": f"https://sentry.io/organizations/{self.org}/issues/{issue_id}/",
                "firstSeen": "2026-01-01T10:00:00Z",
                "lastSeen": "2026-01-01T10:00:00Z",
                "count": "1",
                "platform": "python",
            },
        )
        issue.update(status=status, substatus=substatus, **fields)
        return issue

    async def list_issues(self, request: web.Request) -> web.Response:
        groups = request.query.getall("group", [])
        self.requests.append({"path": request.path, "groups": groups})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"detail": "Invalid token"}, status=401)
        if request.match_info["org"] != self.org:
            return web.json_response({"detail": "The requested resource does not exist"}, status=404)
        return web.json_response([self.issues[g] for g in groups if g in self.issues])


@asynccontextmanager
async def fake_sentry() -> AsyncIterator[FakeSentry]:
    """Serve a FakeSentry on 127.0.0.1 (a free port); ``.url`` is the SENTRY_API_URL to configure."""
    fake = FakeSentry()
    app = web.Application()
    app.router.add_get("/api/0/organizations/{org}/issues/", fake.list_issues)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
