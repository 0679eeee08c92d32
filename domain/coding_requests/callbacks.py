"""Webhook callbacks for coding requests: Linear issues with a trigger label, GitHub pull requests."""

from __future__ import annotations

import asyncpg

from domain import settings
from domain.coding_requests import payloads as parse
from domain.coding_requests import store as coding_requests
from jobs.routing import Router, WebhookEvent

LABELS_KEY = "coding_requests.linear_labels"
DEFAULT_LABELS = ["coding-agent"]


async def linear_issue(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    wanted = await settings.get(conn, LABELS_KEY, DEFAULT_LABELS)
    new = parse.linear_issue(event.payload, wanted)
    if new is not None:
        await coding_requests.create(conn, new)


async def pull_request(conn: asyncpg.Connection, event: WebhookEvent) -> None:
    pr = parse.pull_request(event.payload)
    if pr is None or not (pr.branch or pr.references):
        return
    await coding_requests.follow_pull_request(conn, pr)


def register(router: Router) -> None:
    router.add("linear", "Issue", linear_issue, "create", "update")
    router.add("github", "pull_request", pull_request)
