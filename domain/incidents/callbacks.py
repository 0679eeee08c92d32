"""Webhook callbacks for incidents, Sentry-to-Linear mappings and fix metrics: parse, then one domain call."""

from __future__ import annotations

import asyncpg

from domain.incidents import activity, ci_failures, error_tracking, fix_events, security_alerts
from integrations.github import payloads as github
from integrations.linear import payloads as linear
from integrations.sentry import payloads as sentry
from integrations.sentry.payloads import IssueAction, Resource
from jobs.routing import Router, WebhookEvent


async def on_sentry_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    issue = sentry.parse_issue(event.payload)
    await error_tracking.on_issue(conn, issue, IssueAction(event.action or ""), now=event.received_at)


async def on_sentry_events(conn: asyncpg.Connection, events: list[WebhookEvent]) -> None:
    """Consecutive events of one Sentry issue (the inbox's order key), counted together."""
    parsed = [sentry.parse_event(event.payload) for event in events]
    await error_tracking.on_events(conn, parsed, now=events[0].received_at)


async def on_metric_alert(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await error_tracking.on_metric_alert(conn, sentry.parse_metric_alert(event.payload), now=event.received_at)


async def on_workflow_run(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await ci_failures.on_workflow_run(conn, github.parse_workflow_run(event.payload), now=event.received_at)


async def on_check(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    check = github.parse_check(event.payload, github.CiKind(event.event_type))
    if check is not None:
        await ci_failures.on_workflow_run(conn, check, now=event.received_at)


async def on_status(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await ci_failures.on_workflow_run(conn, github.parse_status(event.payload), now=event.received_at)


async def on_deployment_status(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    status = github.parse_deployment_status(event.payload)
    await ci_failures.on_deployment_status(conn, status, now=event.received_at)


async def on_security_alert(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    alert = github.parse_security_alert(event.payload, github.AlertKind(event.event_type))
    await security_alerts.on_alert(conn, alert, now=event.received_at)


async def on_sentry_comment(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await activity.on_sentry_comment(conn, sentry.parse_comment(event.payload), delivery=event.delivery_id)


async def on_sentry_installation(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await activity.on_sentry_installation(conn, sentry.parse_installation(event.payload))


async def on_seer(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await activity.on_seer(conn, sentry.parse_seer(event.payload), now=event.received_at)


async def on_linear_comment(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await activity.on_linear_comment(conn, linear.parse_comment(event.payload), delivery=event.delivery_id)


async def on_issue_sla(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await activity.on_issue_sla(conn, linear.parse_issue_sla(event.payload))


async def on_pull_request(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await fix_events.on_pull_request(conn, github.parse_pull_request(event.payload), now=event.received_at)


async def on_ping(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    """A hook's ping: nothing to do but answer 200."""


async def on_linear_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    await fix_events.on_linear_issue(conn, linear.parse_issue(event.payload), now=event.received_at)


def register(router: Router) -> None:
    router.add("sentry", Resource.ISSUE, on_sentry_issue, *(action.value for action in IssueAction))
    router.add_many("sentry", Resource.EVENT_ALERT, on_sentry_events)
    router.add_many("sentry", Resource.ERROR, on_sentry_events)
    router.add("sentry", Resource.METRIC_ALERT, on_metric_alert)
    router.add("github", "workflow_run", on_workflow_run, "completed")
    router.add("github", "pull_request", on_pull_request)
    router.add("github", "ping", on_ping)
    router.add("github", "check_suite", on_check, "completed")
    router.add("github", "check_run", on_check, "completed")
    router.add("github", "status", on_status)
    router.add("github", "deployment_status", on_deployment_status)
    for kind in github.AlertKind:
        router.add("github", kind.value, on_security_alert)
    router.add("sentry", Resource.COMMENT, on_sentry_comment, "created", "updated", "deleted")
    router.add("sentry", Resource.INSTALLATION, on_sentry_installation, "created", "deleted")
    router.add("sentry", Resource.SEER, on_seer)
    router.add("linear", "Issue", on_linear_issue, "create", "update", "remove")
    router.add("linear", "Comment", on_linear_comment, "create", "update", "remove")
    router.add("linear", "IssueSLA", on_issue_sla)
