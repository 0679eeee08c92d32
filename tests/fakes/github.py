"""A fake GitHub REST API: a real HTTP server on loopback that PyGithub talks to via ``base_url``.

It answers the endpoints PyGithub calls to list a pull request's files (``GET /repos/{owner}/{repo}``,
``/pulls/{n}``, ``/pulls/{n}/files`` paginated with ``per_page``/``page`` and a ``Link`` header) with
GitHub's shapes, URLs pointing back at the fake, and 401/404 as GitHub answers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Pull:
    files: list[tuple[str, str]]  # (filename, status: added | modified | removed | renamed ...)
    title: str = "A pull request"
    head_ref: str = "feature"
    merged: bool = True


@dataclass
class Request:
    path: str
    query: dict[str, str]
    authorization: str | None


@dataclass
class FakeGitHub:
    pulls: dict[tuple[str, int], Pull] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    token: str = "ghp-test-token"
    _limited: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def rate_limit(self, status: int = 403, times: int = 1, **headers: str) -> None:
        """The next ``times`` requests answer as GitHub's rate limiter does (403 "API rate limit exceeded",
        or 429 for a secondary limit), with ``headers`` such as Retry-After or X-RateLimit-Reset."""
        self._limited.extend([(status, {k.replace("_", "-"): v for k, v in headers.items()})] * times)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def _repo(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/")
        return {
            "id": abs(hash(full_name)) % 10**8,
            "name": name,
            "full_name": full_name,
            "private": False,
            "owner": {"login": owner, "id": 1, "type": "User"},
            "html_url": f"https://github.com/{full_name}",
            "url": f"{self.url}/repos/{full_name}",
            "pulls_url": f"{self.url}/repos/{full_name}/pulls{{/number}}",
            "default_branch": "main",
        }

    def _pull(self, full_name: str, number: int, pull: Pull) -> dict[str, Any]:
        return {
            "id": number * 1000,
            "number": number,
            "state": "closed" if pull.merged else "open",
            "title": pull.title,
            "merged": pull.merged,
            "changed_files": len(pull.files),
            "url": f"{self.url}/repos/{full_name}/pulls/{number}",
            "html_url": f"https://github.com/{full_name}/pull/{number}",
            "head": {"ref": pull.head_ref, "sha": "0" * 40, "repo": self._repo(full_name)},
            "base": {"ref": "main", "sha": "1" * 40, "repo": self._repo(full_name)},
        }

    @staticmethod
    def _file(full_name: str, name: str, status: str) -> dict[str, Any]:
        return {
            "sha": "2" * 40,
            "filename": name,
            "status": status,
            "additions": 1,
            "deletions": 0 if status == "added" else 1,
            "changes": 1 if status == "added" else 2,
            "blob_url": f"https://github.com/{full_name}/blob/{'0' * 40}/{name}",
            "raw_url": f"https://github.com/{full_name}/raw/{'0' * 40}/{name}",
            "patch": "@@ -0,0 +1 @@\n+x",
        }

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Request(request.path, dict(request.query), request.headers.get("Authorization")))
        await asyncio.sleep(0)
        if request.headers.get("Authorization") not in (f"token {self.token}", f"Bearer {self.token}"):
            return web.json_response(
                {"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest"}, status=401
            )
        if self._limited:
            status, headers = self._limited.pop(0)
            message = (
                "API rate limit exceeded for user ID 1."
                if status == 403
                else "You have exceeded a secondary rate limit."
            )
            return web.json_response(
                {"message": message, "documentation_url": "https://docs.github.com/rest/rate-limit"},
                status=status,
                headers=headers,
            )
        info = request.match_info
        full_name = f"{info['owner']}/{info['repo']}"
        if not any(repo == full_name for repo, _ in self.pulls):
            return web.json_response({"message": "Not Found"}, status=404)
        if "number" not in info:
            return web.json_response(self._repo(full_name))
        pull = self.pulls.get((full_name, int(info["number"])))
        if pull is None:
            return web.json_response({"message": "Not Found"}, status=404)
        if not request.path.endswith("/files"):
            return web.json_response(self._pull(full_name, int(info["number"]), pull))
        per_page = min(int(request.query.get("per_page", "30")), 100)
        page = int(request.query.get("page", "1"))
        last = max(1, -(-len(pull.files) // per_page))
        chunk = pull.files[(page - 1) * per_page : page * per_page]
        headers = {}
        links = []
        base = f"{self.url}{request.path}?per_page={per_page}"
        if page < last:
            links += [f'<{base}&page={page + 1}>; rel="next"', f'<{base}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{base}&page=1>; rel="first"', f'<{base}&page={page - 1}>; rel="prev"']
        if links:
            headers["Link"] = ", ".join(links)
        return web.json_response([self._file(full_name, n, s) for n, s in chunk], headers=headers)


@asynccontextmanager
async def fake_github() -> AsyncIterator[FakeGitHub]:
    """Serve a FakeGitHub on 127.0.0.1 (a free port); ``.url`` is the GITHUB_API_URL to configure."""
    fake = FakeGitHub()
    app = web.Application()
    app.router.add_get("/repos/{owner}/{repo}", fake.handle)
    app.router.add_get("/repos/{owner}/{repo}/pulls/{number:\\d+}", fake.handle)
    app.router.add_get("/repos/{owner}/{repo}/pulls/{number:\\d+}/files", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()


# Hook deliveries (the delivery-gap sweeper): repository, organisation and app hooks.


@dataclass
class HookDelivery:
    id: int
    guid: str
    event: str
    delivered_at: str  # ISO 8601 with Z, as GitHub lists them
    status_code: int = 200
    action: str | None = None
    redelivery: bool = False
    body: bytes = b"{}"  # what GitHub would send again


@dataclass
class FakeHooks:
    """Deliveries per hook path (``/repos/o/r/hooks/1``, ``/orgs/o/hooks/2``, ``/app/hook``), newest first as
    GitHub lists them; ``redelivered`` records every POST .../attempts; ``send`` (set by a test) is how the
    fake "sends again" a redelivered delivery to the service; ``hold`` blocks listings until set."""

    github: FakeGitHub
    deliveries: dict[str, list[HookDelivery]] = field(default_factory=dict)
    redelivered: list[tuple[str, int]] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    send: Any = None
    hold: asyncio.Event | None = None
    refuse_redelivery: int = 0  # answer 422 to the next N redelivery requests

    def add(self, hook: str, delivery: HookDelivery) -> None:
        self.deliveries.setdefault(hook, []).append(delivery)
        self.deliveries[hook].sort(key=lambda d: d.id, reverse=True)

    @staticmethod
    def _view(d: HookDelivery) -> dict[str, Any]:
        ok = 200 <= d.status_code < 300
        return {
            "id": d.id,
            "guid": d.guid,
            "delivered_at": d.delivered_at,
            "redelivery": d.redelivery,
            "duration": 0.12,
            "status": "OK" if ok else "Invalid HTTP Response: 502",
            "status_code": d.status_code,
            "event": d.event,
            "action": d.action,
            "installation_id": None,
            "repository_id": 1,
        }

    def _authorised(self, request: web.Request) -> bool:
        self.github.requests.append(Request(request.path, dict(request.query), request.headers.get("Authorization")))
        return request.headers.get("Authorization") in (f"token {self.github.token}", f"Bearer {self.github.token}")

    async def list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Requires authentication"}, status=401)
        hook = request.path.removesuffix("/deliveries")
        self.listed.append(hook)
        if self.hold is not None:
            await self.hold.wait()
        if hook not in self.deliveries:
            return web.json_response({"message": "Not Found"}, status=404)
        per_page = min(int(request.query.get("per_page", "30")), 100)
        page = int(request.query.get("page", "1"))
        items = self.deliveries[hook]
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = f'<{self.github.url}{request.path}?per_page={per_page}&page={page + 1}>; rel="next"'
        return web.json_response([self._view(d) for d in chunk], headers=headers)

    async def attempt(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Requires authentication"}, status=401)
        hook = request.path.rsplit("/deliveries/", 1)[0]
        delivery_id = int(request.match_info["delivery"])
        found = next((d for d in self.deliveries.get(hook, []) if d.id == delivery_id), None)
        if found is None:
            return web.json_response({"message": "Not Found"}, status=404)
        if self.refuse_redelivery:
            self.refuse_redelivery -= 1
            return web.json_response({"message": "Validation Failed"}, status=422)
        self.redelivered.append((hook, delivery_id))
        status = 200
        if self.send is not None:
            status = await self.send(found)
        self.add(
            hook,
            HookDelivery(
                max(d.id for d in self.deliveries[hook]) + 1,
                found.guid,
                found.event,
                found.delivered_at,
                status,
                found.action,
                True,
                found.body,
            ),
        )
        return web.json_response({}, status=202)


@asynccontextmanager
async def fake_github_hooks() -> AsyncIterator[FakeHooks]:
    """Serve hook deliveries (and PyGithub's pull request routes) on 127.0.0.1; ``.github.url`` is the
    GITHUB_API_URL to configure."""
    github = FakeGitHub()
    hooks = FakeHooks(github)
    app = web.Application()
    for prefix in ("/repos/{owner}/{repo}/hooks/{hook}", "/orgs/{org}/hooks/{hook}", "/app/hook"):
        app.router.add_get(f"{prefix}/deliveries", hooks.list)
        app.router.add_post(f"{prefix}/deliveries/{{delivery:\\d+}}/attempts", hooks.attempt)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    github.url = str(server.make_url("")).rstrip("/")
    try:
        yield hooks
    finally:
        await server.close()
