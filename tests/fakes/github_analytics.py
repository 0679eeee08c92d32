"""A fake GitHub REST API on 127.0.0.1 for the analytics backfill: repositories, pull requests, their reviews
and review comments, and workflow runs, served the way PyGithub reads them (object ``url`` fields point back
at this server; one page per list)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class FakeGitHub:
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reviews: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def _repo(self, request: web.Request) -> str:
        return f"{request.match_info['owner']}/{request.match_info['name']}"

    async def repo(self, request: web.Request) -> web.Response:
        full = self._repo(request)
        return web.json_response(
            {"id": 1, "name": full.split("/")[1], "full_name": full, "url": f"{self.url}/repos/{full}"}
        )

    async def list_pulls(self, request: web.Request) -> web.Response:
        full = self._repo(request)
        assert request.query.get("state") == "all"
        items = sorted(self.pulls.get(full, []), key=lambda p: p["created_at"], reverse=True)
        return web.json_response([{**p, "url": f"{self.url}/repos/{full}/pulls/{p['number']}"} for p in items])

    async def list_reviews(self, request: web.Request) -> web.Response:
        key = (self._repo(request), int(request.match_info["number"]))
        return web.json_response(self.reviews.get(key, []))

    async def list_comments(self, request: web.Request) -> web.Response:
        key = (self._repo(request), int(request.match_info["number"]))
        return web.json_response(self.comments.get(key, []))

    async def list_runs(self, request: web.Request) -> web.Response:
        runs = self.runs.get(self._repo(request), [])
        created = request.query.get("created", "")
        if created.startswith(">="):
            runs = [r for r in runs if r["created_at"][:10] >= created[2:12]]
        return web.json_response({"total_count": len(runs), "workflow_runs": runs})

    @web.middleware
    async def record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request.path_qs)
        response: web.StreamResponse = await handler(request)
        return response

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.record])
        base = "/repos/{owner}/{name}"
        app.router.add_get(base, self.repo)
        app.router.add_get(base + "/pulls", self.list_pulls)
        app.router.add_get(base + "/pulls/{number}/reviews", self.list_reviews)
        app.router.add_get(base + "/pulls/{number}/comments", self.list_comments)
        app.router.add_get(base + "/actions/runs", self.list_runs)
        return app


@contextlib.asynccontextmanager
async def fake_github_analytics() -> AsyncIterator[FakeGitHub]:
    fake = FakeGitHub()
    async with TestServer(fake.app(), host="127.0.0.1") as server:
        fake.url = str(server.make_url("")).rstrip("/")
        yield fake
