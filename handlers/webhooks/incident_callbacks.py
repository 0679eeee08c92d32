"""Router callbacks for incidents, Sentry-to-Linear mappings and fix metrics: parse, then one domain call.

(Coding requests register their own callbacks in handlers/webhooks/coding_requests.py.)
"""

from __future__ import annotations

import asyncpg

from domain import ci_failures, error_tracking, fix_events
from handlers.webhooks import github, linear, sentry
from handlers.webhooks.routing import WebhookEvent, router
from handlers.webhooks.sentry import IssueAction, Resource


def _issue_action(action: IssueAction) -> None:
    @router.register("sentry", Resource.ISSUE, action.value)
    async def on_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
        issue = sentry.parse_issue(event.payload)
        await error_tracking.on_issue(conn, issue, action, now=event.received_at)


for _action in IssueAction:
    _issue_action(_action)


@router.register("sentry", Resource.EVENT_ALERT)
@router.register("sentry", Resource.ERROR)
async def on_sentry_event(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await error_tracking.on_event(conn, sentry.parse_event(event.payload), now=event.received_at)


@router.register("sentry", Resource.METRIC_ALERT)
async def on_metric_alert(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await error_tracking.on_metric_alert(conn, sentry.parse_metric_alert(event.payload), now=event.received_at)


@router.register("github", "workflow_run", "completed")
async def on_workflow_run(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await ci_failures.on_workflow_run(conn, github.parse_workflow_run(event.payload), now=event.received_at)


@router.register("github", "pull_request")
async def on_pull_request(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await fix_events.on_pull_request(conn, github.parse_pull_request(event.payload), now=event.received_at)


@router.register("github", "ping")
async def on_ping(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    """A hook's ping: nothing to do but answer 200."""


@router.register("linear", "Issue", "create")
@router.register("linear", "Issue", "update")
async def on_linear_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await fix_events.on_linear_issue(conn, linear.parse_issue(event.payload), now=event.received_at)
