"""Sentry's REST API (aiohttp on SENTRY_API_URL with SENTRY_AUTH_TOKEN, in SENTRY_ORG), read by the
delivery-gap sweeper: the current state of issues, parsed into the same typed issue a webhook carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from config import Config
from integrations.sentry.payloads import ParseError, SentryIssue, parse_issue

TIMEOUT_S = 15


class SentryError(RuntimeError):
    """Sentry failed or refused a call (the message has the status, never the token)."""


class SentryUnconfigured(SentryError):
    """SENTRY_AUTH_TOKEN or SENTRY_ORG is unset: nothing is read."""


@dataclass(frozen=True)
class IssueState:
    issue: SentryIssue  # ``status``: resolved | unresolved | ignored
    substatus: str | None  # ongoing | regressed | escalating | new | archived_* ...


def _state(node: Any) -> IssueState | None:
    try:
        issue = parse_issue({"data": {"issue": node}})
    except ParseError:
        return None
    sub = node.get("substatus") if isinstance(node, dict) else None
    return IssueState(issue, sub if isinstance(sub, str) else None)


async def issue_states(config: Config, issue_ids: list[str]) -> dict[str, IssueState]:
    """The current state of these Sentry issues (one request: ``?group=`` per id), by issue id."""
    if not config.sentry_auth_token or not config.sentry_org:
        raise SentryUnconfigured("SENTRY_AUTH_TOKEN and SENTRY_ORG must be set to read Sentry issues")
    if not issue_ids:
        return {}
    url = f"{config.sentry_api_url.rstrip('/')}/api/0/organizations/{config.sentry_org}/issues/"
    params = [("query", ""), *(("group", issue_id) for issue_id in issue_ids)]
    headers = {"Authorization": f"Bearer {str.__str__(config.sentry_auth_token)}"}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, params=params, headers=headers) as response,
        ):
            if response.status != 200:
                raise SentryError(f"Sentry answered HTTP {response.status} listing issues of {config.sentry_org}")
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SentryError(f"Sentry could not be reached: {type(exc).__name__}") from exc
    if not isinstance(body, list):
        raise SentryError("Sentry answered something other than a list of issues")
    states = [s for node in body if (s := _state(node)) is not None]
    return {s.issue.issue_id: s for s in states}
