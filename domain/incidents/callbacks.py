"""Webhook callbacks for incidents, Sentry-to-Linear mappings and fix metrics: parse, then one domain call."""

from __future__ import annotations

import asyncpg

from domain.incidents import ci_failures, error_tracking, fix_events
from integrations.github import payloads as github
from integrations.linear import payloads as linear
from integrations.sentry import payloads as sentry
from integrations.sentry.payloads import IssueAction, Resource
from jobs.routing import Router, WebhookEvent


async def on_sentry_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    issue = sentry.parse_issue(event.payload)
    await error_tracking.on_issue(conn, issue, IssueAction(event.action or ""), now=event.received_at)


async def on_sentry_event(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await error_tracking.on_event(conn, sentry.parse_event(event.payload), now=event.received_at)


async def on_metric_alert(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await error_tracking.on_metric_alert(conn, sentry.parse_metric_alert(event.payload), now=event.received_at)


async def on_workflow_run(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await ci_failures.on_workflow_run(conn, github.parse_workflow_run(event.payload), now=event.received_at)


async def on_pull_request(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await fix_events.on_pull_request(conn, github.parse_pull_request(event.payload), now=event.received_at)


async def on_ping(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    """A hook's ping: nothing to do but answer 200."""


async def on_linear_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await fix_events.on_linear_issue(conn, linear.parse_issue(event.payload), now=event.received_at)


def register(router: Router) -> None:
    router.add("sentry", Resource.ISSUE, on_sentry_issue, *(action.value for action in IssueAction))
    router.add("sentry", Resource.EVENT_ALERT, on_sentry_event)
    router.add("sentry", Resource.ERROR, on_sentry_event)
    router.add("sentry", Resource.METRIC_ALERT, on_metric_alert)
    router.add("github", "workflow_run", on_workflow_run, "completed")
    router.add("github", "pull_request", on_pull_request)
    router.add("github", "ping", on_ping)
    router.add("linear", "Issue", on_linear_issue, "create", "update")
