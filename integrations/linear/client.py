"""The Linear GraphQL API (gql on LINEAR_API_URL with LINEAR_API_KEY), for outbox handlers.

Rate limits (HTTP 429, or Linear's ``RATELIMITED`` error code) and a missing key become RetryLater, so
the work waits in the outbox; another HTTP 4xx, or a GraphQL error whose code says the request itself is
wrong (``REFUSED_CODES``), raises LinearRefused (permanent: the outbox row goes dead); other failures
(5xx, timeouts, other GraphQL errors) raise LinearError and are retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError, TransportServerError
from graphql import DocumentNode, Source, parse

import logs
from integrations.linear.payloads import LinearIssue, ParseError, parse_issue
from jobs.outbox import Context, Permanent, RetryLater

TIMEOUT_S = 10
SESSION = "linear"  # ctx.clients: the connected gql session (one transport, kept-alive connections)
TEAMS = "linear.teams"  # ctx.clients: team key -> team id
DEFAULT_RETRY_S = 60.0
REFUSED_CODES = frozenset(
    {"AUTHENTICATION_ERROR", "FORBIDDEN", "INPUT_ERROR", "INVALID_INPUT", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}
)

TEAM_BY_KEY = """
query TeamByKey($key: String!) {
  teams(filter: { key: { eq: $key } }) { nodes { id key name } }
}
"""
ISSUE_CREATE = """
mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { id identifier url updatedAt } }
}
"""
ISSUE_BY_ID = """
query Issue($id: String!) {
  issue(id: $id) {
    id identifier url updatedAt
    state { id type name }
    team { id key states { nodes { id type name position } } }
  }
}
"""
ISSUE_UPDATE = """
mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) { success issue { id identifier updatedAt state { type name } } }
}
"""
COMMENT_CREATE = """
mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}
"""


class LinearError(RuntimeError):
    pass


class LinearRefused(LinearError, Permanent):
    """Linear answered 4xx (not 429): retrying the same request cannot succeed."""


@dataclass(frozen=True)
class LinearIssueRef:
    id: str
    identifier: str
    url: str | None
    updated_at: datetime | None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def retry_after_s(headers: Mapping[str, str] | None) -> float:
    """Seconds to wait after a rate limit: Retry-After, else Linear's reset time (epoch ms)."""
    headers = headers or {}
    value = headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 1.0)
        except ValueError:
            pass
    reset = headers.get("X-RateLimit-Requests-Reset")
    if reset:
        try:
            return max(float(reset) / 1000 - time.time(), 1.0)
        except ValueError:
            pass
    return DEFAULT_RETRY_S


def _codes(errors: list[Any] | None) -> set[str]:
    codes = set()
    for error in errors or []:
        ext = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(ext, dict):
            codes.add(str(ext.get("code", "")).upper())
    return codes


def is_rate_limited(errors: list[Any] | None) -> bool:
    return "RATELIMITED" in _codes(errors)


@lru_cache(maxsize=64)
def _parsed(document: str) -> DocumentNode:
    return parse(Source(document, "GraphQL request"))


class _Request(GraphQLRequest):
    """A request whose document is parsed once per process and sent as written: gql parses the text and
    prints it back on every call otherwise (8% of the outbox's CPU under the processing benchmark)."""

    def __init__(self, document: str, variables: dict[str, Any]) -> None:
        super().__init__(_parsed(document), variable_values=variables)
        self._text = document

    @property
    def payload(self) -> dict[str, Any]:
        sent: dict[str, Any] = {"query": self._text}
        if self.variable_values:
            sent["variables"] = self.variable_values
        return sent


async def _connect(ctx: Context, key: str) -> tuple[AsyncClientSession, AIOHTTPTransport]:
    transport = AIOHTTPTransport(url=ctx.config.linear_api_url, headers={"Authorization": key}, timeout=TIMEOUT_S)
    session = await Client(transport=transport, execute_timeout=TIMEOUT_S).connect_async()  # type: ignore[no-untyped-call]
    return session, transport


async def _session(ctx: Context, key: str) -> tuple[AsyncClientSession, AIOHTTPTransport]:
    """The context's one gql session, made by the first caller (concurrent callers await the same task)."""
    if SESSION not in ctx.clients:
        ctx.clients[SESSION] = asyncio.ensure_future(_connect(ctx, key))
    try:
        connected: tuple[AsyncClientSession, AIOHTTPTransport] = await ctx.clients[SESSION]
    except Exception:
        ctx.clients.pop(SESSION, None)
        raise
    return connected


async def close(ctx: Context) -> None:
    """Close the context's Linear session, if one was opened."""
    made = ctx.clients.pop(SESSION, None)
    if made is not None and made.done() and not made.cancelled() and made.exception() is None:
        session, _transport = made.result()
        await session.client.close_async()


async def execute(ctx: Context, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run one GraphQL operation; RetryLater while LINEAR_API_KEY is unset or Linear rate-limits us.
    Operations share the context's session (one transport, its connections kept alive); the rate-limit
    headers read on a 429 are those of the latest answer."""
    key = ctx.config.linear_api_key
    if not key:
        logs.event("linear.unconfigured", logging.WARNING, missing="LINEAR_API_KEY")
        raise RetryLater(300, "LINEAR_API_KEY is not set: Linear calls wait in the outbox")
    session, transport = await _session(ctx, str.__str__(key))
    try:
        result: dict[str, Any] = await session.execute(_Request(document, variables))
        return result
    except TransportQueryError as exc:
        if is_rate_limited(exc.errors):
            raise RetryLater(retry_after_s(transport.response_headers), "Linear rate limited") from exc
        if _codes(exc.errors) & REFUSED_CODES:
            raise LinearRefused(f"Linear refused the operation: {exc.errors}") from exc
        raise LinearError(f"Linear could not run the operation: {exc.errors}") from exc
    except TransportServerError as exc:
        if exc.code == 429:
            raise RetryLater(retry_after_s(transport.response_headers), "Linear rate limited") from exc
        if exc.code is not None and 400 <= exc.code < 500:
            raise LinearRefused(f"Linear refused the request: HTTP {exc.code}") from exc
        raise LinearError(f"Linear answered HTTP {exc.code}") from exc


def _ref(issue: Any) -> LinearIssueRef:
    if not isinstance(issue, dict) or not issue.get("identifier"):
        raise LinearError(f"Linear answered without an issue: {issue!r}")
    return LinearIssueRef(issue["id"], issue["identifier"], issue.get("url"), _time(issue.get("updatedAt")))


async def _ask_team(ctx: Context, team_key: str) -> str:
    data = await execute(ctx, TEAM_BY_KEY, {"key": team_key})
    nodes = (data.get("teams") or {}).get("nodes") or []
    if not nodes:
        raise LinearError(f"no Linear team with key {team_key!r}")
    found: str = nodes[0]["id"]
    return found


async def team_id(ctx: Context, team_key: str) -> str:
    """The team's id, asked once per context, also by concurrent callers (forgotten when the question
    failed, or when an issue could not be created with it)."""
    teams: dict[str, asyncio.Future[str]] = ctx.clients.setdefault(TEAMS, {})
    if team_key not in teams:
        teams[team_key] = asyncio.ensure_future(_ask_team(ctx, team_key))
    try:
        return await asyncio.shield(teams[team_key])
    except Exception:
        teams.pop(team_key, None)
        raise


async def find_issue(ctx: Context, id_or_identifier: str) -> dict[str, Any] | None:
    try:
        data = await execute(ctx, ISSUE_BY_ID, {"id": id_or_identifier})
    except LinearError:
        return None
    issue = data.get("issue")
    return issue if isinstance(issue, dict) else None


async def create_issue(ctx: Context, *, issue_uuid: str, team_key: str, title: str, description: str) -> LinearIssueRef:
    """Create the issue with our own id, so a retry after a lost answer finds it instead of duplicating."""
    team = await team_id(ctx, team_key)
    try:
        data = await execute(
            ctx,
            ISSUE_CREATE,
            {"input": {"id": issue_uuid, "teamId": team, "title": title, "description": description}},
        )
    except LinearError:
        existing = await find_issue(ctx, issue_uuid)
        if existing is None:
            ctx.clients.get(TEAMS, {}).pop(team_key, None)
            raise
        return _ref(existing)
    created = data.get("issueCreate") or {}
    if not created.get("success"):
        raise LinearError("Linear issueCreate did not succeed")
    return _ref(created.get("issue"))


async def reopen_issue(ctx: Context, identifier: str) -> LinearIssueRef:
    """Move the issue back to its team's first unstarted state (or triage/backlog where none)."""
    issue = await find_issue(ctx, identifier)
    if issue is None:
        raise LinearError(f"Linear issue {identifier} not found")
    states = ((issue.get("team") or {}).get("states") or {}).get("nodes") or []
    order = {"unstarted": 0, "triage": 1, "backlog": 2}
    candidates = sorted(
        (s for s in states if s.get("type") in order), key=lambda s: (order[s["type"]], s.get("position") or 0)
    )
    if not candidates:
        raise LinearError(f"Linear team of {identifier} has no unstarted state")
    data = await execute(ctx, ISSUE_UPDATE, {"id": issue["id"], "input": {"stateId": candidates[0]["id"]}})
    updated = data.get("issueUpdate") or {}
    if not updated.get("success"):
        raise LinearError("Linear issueUpdate did not succeed")
    ref = _ref(updated.get("issue"))
    return LinearIssueRef(issue["id"], ref.identifier, issue.get("url"), ref.updated_at)


async def comment(ctx: Context, issue_id: str, body: str) -> str:
    data = await execute(ctx, COMMENT_CREATE, {"input": {"issueId": issue_id, "body": body}})
    created = data.get("commentCreate") or {}
    if not created.get("success"):
        raise LinearError("Linear commentCreate did not succeed")
    found: str = (created.get("comment") or {}).get("id", "")
    return found


ISSUES_OF_TEAM = """
query SweepIssues($team: String!, $numbers: [Float!]!, $first: Int!) {
  issues(first: $first, includeArchived: true, filter: { team: { key: { eq: $team } }, number: { in: $numbers } }) {
    nodes {
      id identifier number title url trashed createdAt updatedAt startedAt completedAt canceledAt
      state { type name }
      assignee { id }
      team { key }
    }
  }
}
"""


async def issues_state(ctx: Context, identifiers: list[str]) -> dict[str, LinearIssue]:
    """The current state of Linear issues (``TEAM-N`` identifiers), one query per team, as the typed
    event a webhook would carry: action ``update``, or ``remove`` for an issue in the trash. Issues Linear
    does not return are left out (never guessed deleted)."""
    by_team: dict[str, list[int]] = {}
    for identifier in identifiers:
        team, _, number = identifier.upper().rpartition("-")
        if team and number.isdigit():
            by_team.setdefault(team, []).append(int(number))
    found: dict[str, LinearIssue] = {}
    for team, numbers in sorted(by_team.items()):
        data = await execute(ctx, ISSUES_OF_TEAM, {"team": team, "numbers": numbers, "first": len(numbers)})
        for node in (data.get("issues") or {}).get("nodes") or []:
            if not isinstance(node, dict):
                continue
            action = "remove" if node.get("trashed") else "update"
            try:
                issue = parse_issue({"action": action, "data": node, "url": node.get("url")})
            except ParseError:
                continue
            found[issue.identifier] = issue
    return found
