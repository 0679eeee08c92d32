"""Webhook callbacks for coding requests: Linear issues with a trigger label, GitHub pull requests."""

from __future__ import annotations

import asyncpg

from domain import coding_requests, settings
from handlers.webhooks import coding_request_payloads as parse
from handlers.webhooks.routing import WebhookEvent, router

LABELS_KEY = "coding_requests.linear_labels"
DEFAULT_LABELS = ["coding-agent"]


@router.register("linear", "Issue", "create")
@router.register("linear", "Issue", "update")
async def linear_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    wanted = await settings.get(conn, LABELS_KEY, DEFAULT_LABELS)
    new = parse.linear_issue(event.payload, wanted)
    if new is not None:
        await coding_requests.create(conn, new)


@router.register("github", "pull_request")
async def pull_request(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    pr = parse.pull_request(event.payload)
    if pr is None or not (pr.branch or pr.references):
        return
    await coding_requests.follow_pull_request(conn, pr)
