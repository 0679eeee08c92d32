"""A fake Linear GraphQL API: a real HTTP server on loopback that the real gql client talks to.

It records every operation, answers the operations the service uses (team lookup, issueCreate,
issue, issueUpdate, commentCreate, and the sweeper's ``issues`` by team and numbers) the way Linear
does, and can be told to be down (HTTP 503) or to
answer rate-limited (HTTP 400 with the ``RATELIMITED`` error code and ``X-RateLimit-Requests-Reset``),
or to lose the answer of an operation it carried out.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from graphql import FieldNode, OperationDefinitionNode, parse

STATES = (
    ("backlog", "Backlog", 0),
    ("unstarted", "Todo", 1),
    ("started", "In Progress", 2),
    ("completed", "Done", 3),
    ("canceled", "Canceled", 4),
)


@dataclass
class Operation:
    field: str
    operation_name: str | None
    variables: dict[str, Any]
    authorization: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(message: str, code: str, status: int = 400, headers: dict[str, str] | None = None) -> web.Response:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return web.json_response(body, status=status, headers=headers)


@dataclass
class FakeLinear:
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    down: bool = False
    # updatedAt values to answer for the next mutations (else the current time), as Linear stamps them.
    next_updated_at: list[str] = field(default_factory=list)
    _rate_limited: list[float] = field(default_factory=list)
    _lost: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _numbers: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    url: str = ""

    def add_team(self, key: str, *, next_number: int = 1) -> dict[str, Any]:
        team_id = str(uuid.uuid4())
        states = [{"id": str(uuid.uuid4()), "type": t, "name": n, "position": p} for t, n, p in STATES]
        self.teams[key] = {"id": team_id, "key": key, "name": f"Team {key}", "states": states}
        self._numbers[key] = next_number - 1
        return self.teams[key]

    def rate_limit(self, times: int = 1, reset_in_s: float = 30) -> None:
        """The next ``times`` operations answer RATELIMITED, resetting ``reset_in_s`` from now."""
        self._rate_limited.extend([reset_in_s] * times)

    def lose_answers(self, name: str, times: int = 1) -> None:
        """The next ``times`` ``name`` operations are carried out, but the answer is lost (HTTP 502)."""
        self._lost[name] += times

    def called(self, name: str) -> list[Operation]:
        return [op for op in self.operations if op.field == name]

    def set_state(
        self, identifier: str, state_type: str, *, assignee_id: str | None = None, trashed: bool = False
    ) -> dict[str, Any]:
        """Change an issue in Linear without sending any webhook (what the sweeper must find)."""
        issue = self.issue(identifier)
        assert issue is not None, identifier
        team = self._team_of(issue)
        issue["stateId"] = next(s["id"] for s in team["states"] if s["type"] == state_type)
        stamp = self._stamp()
        issue.update(updatedAt=stamp, assigneeId=assignee_id, trashed=trashed)
        if state_type == "started":
            issue.setdefault("startedAt", stamp)
        if state_type == "completed":
            issue.setdefault("startedAt", stamp)
            issue["completedAt"] = stamp
        if state_type == "canceled":
            issue["canceledAt"] = stamp
        return issue

    def _node(self, issue: dict[str, Any]) -> dict[str, Any]:
        """An issue as the ``issues`` query answers it (the fields the sweeper selects)."""
        view = self._issue_view(issue)
        return {
            **{k: view[k] for k in ("id", "identifier", "url", "updatedAt", "title")},
            "number": int(issue["identifier"].rsplit("-", 1)[1]),
            "trashed": issue.get("trashed") or None,
            "createdAt": issue.get("createdAt", issue["updatedAt"]),
            "startedAt": issue.get("startedAt"),
            "completedAt": issue.get("completedAt"),
            "canceledAt": issue.get("canceledAt"),
            "state": {"type": view["state"]["type"], "name": view["state"]["name"]},
            "assignee": {"id": issue["assigneeId"]} if issue.get("assigneeId") else None,
            "team": {"key": view["team"]["key"]},
        }

    def issue(self, identifier: str) -> dict[str, Any] | None:
        return next((i for i in self.issues.values() if i["identifier"] == identifier), None)

    async def wait_for(self, name: str, count: int = 1, within_s: float = 10) -> list[Operation]:
        async with asyncio.timeout(within_s), self.changed:
            await self.changed.wait_for(lambda: len(self.called(name)) >= count)
        return self.called(name)

    def _stamp(self) -> str:
        return self.next_updated_at.pop(0) if self.next_updated_at else _now()

    def _team_of(self, issue: dict[str, Any]) -> dict[str, Any]:
        return next(t for t in self.teams.values() if t["id"] == issue["teamId"])

    def _issue_view(self, issue: dict[str, Any]) -> dict[str, Any]:
        team = self._team_of(issue)
        state = next(s for s in team["states"] if s["id"] == issue["stateId"])
        return {
            "id": issue["id"],
            "identifier": issue["identifier"],
            "url": f"https://linear.app/fake/issue/{issue['identifier']}",
            "updatedAt": issue["updatedAt"],
            "title": issue["title"],
            "state": {"id": state["id"], "type": state["type"], "name": state["name"]},
            "team": {"id": team["id"], "key": team["key"], "states": {"nodes": team["states"]}},
        }

    def _find(self, key: str) -> dict[str, Any] | None:
        return self.issues.get(key) or self.issue(key.upper())

    def answer(self, name: str, variables: dict[str, Any]) -> web.Response:
        if name == "teams":
            team = self.teams.get(variables.get("key", ""))
            nodes = [{"id": team["id"], "key": team["key"], "name": team["name"]}] if team else []
            return web.json_response({"data": {"teams": {"nodes": nodes}}})
        if name == "issueCreate":
            data = variables["input"]
            team = next((t for t in self.teams.values() if t["id"] == data.get("teamId")), None)
            if team is None:
                return _error("Entity not found: Team", "INVALID_INPUT")
            issue_id = data.get("id") or str(uuid.uuid4())
            if issue_id in self.issues:
                return _error("Entity already exists", "INVALID_INPUT")
            self._numbers[team["key"]] += 1
            unstarted = next(s for s in team["states"] if s["type"] == "unstarted")
            issue = {
                "id": issue_id,
                "identifier": f"{team['key']}-{self._numbers[team['key']]}",
                "teamId": team["id"],
                "title": data.get("title"),
                "description": data.get("description"),
                "stateId": unstarted["id"],
                "updatedAt": self._stamp(),
            }
            self.issues[issue_id] = issue
            return web.json_response({"data": {"issueCreate": {"success": True, "issue": self._issue_view(issue)}}})
        if name == "issue":
            found = self._find(variables.get("id", ""))
            if found is None:
                return _error("Entity not found: Issue", "INVALID_INPUT")
            return web.json_response({"data": {"issue": self._issue_view(found)}})
        if name == "issueUpdate":
            found = self._find(variables.get("id", ""))
            if found is None:
                return _error("Entity not found: Issue", "INVALID_INPUT")
            found.update({k: v for k, v in variables.get("input", {}).items() if k in ("stateId", "title")})
            found["updatedAt"] = self._stamp()
            return web.json_response({"data": {"issueUpdate": {"success": True, "issue": self._issue_view(found)}}})
        if name == "issues":
            team = self.teams.get(variables.get("team", ""))
            numbers = {int(n) for n in variables.get("numbers") or []}
            nodes = [
                self._node(i)
                for i in self.issues.values()
                if team is not None and i["teamId"] == team["id"] and int(i["identifier"].rsplit("-", 1)[1]) in numbers
            ][: int(variables.get("first") or 50)]
            return web.json_response({"data": {"issues": {"nodes": nodes}}})
        if name == "commentCreate":
            comment = {"id": str(uuid.uuid4()), **variables.get("input", {})}
            self.comments.append(comment)
            return web.json_response({"data": {"commentCreate": {"success": True, "comment": {"id": comment["id"]}}}})
        return _error(f"Cannot query field {name!r}", "GRAPHQL_VALIDATION_FAILED")

    async def handle(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="upstream unavailable")
        body = await request.json()
        document = parse(body["query"])
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        root = next(s for s in operation.selection_set.selections if isinstance(s, FieldNode))
        op = Operation(
            root.name.value,
            body.get("operationName"),
            body.get("variables") or {},
            request.headers.get("Authorization"),
        )
        async with self.changed:
            self.operations.append(op)
            self.changed.notify_all()
        if self._rate_limited:
            reset_in = self._rate_limited.pop(0)
            reset_ms = str(int((time.time() + reset_in) * 1000))
            return _error("Rate limit exceeded", "RATELIMITED", headers={"X-RateLimit-Requests-Reset": reset_ms})
        if not op.authorization:
            return _error("Authentication required, not authenticated", "AUTHENTICATION_ERROR")
        answer = self.answer(op.field, op.variables)
        if self._lost[op.field]:
            self._lost[op.field] -= 1
            return web.Response(status=502, text="bad gateway")
        return answer


@asynccontextmanager
async def fake_linear() -> AsyncIterator[FakeLinear]:
    """Serve a FakeLinear on 127.0.0.1 (a free port); ``.url`` is the LINEAR_API_URL to configure."""
    fake = FakeLinear()
    app = web.Application()
    app.router.add_post("/graphql", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("/graphql"))
    try:
        yield fake
    finally:
        await server.close()
