"""Signed Sentry deliveries for the fault suite: the recorded ``issue.created`` with its own issue id per
delivery, signed as Sentry signs, and the counts that tell what the service made of them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from tests.conftest import FIXTURES

SENTRY_SECRET = "sentry-secret-for-the-fault-suite"
TEMPLATE = json.loads((FIXTURES / "sentry" / "issue.created.json").read_bytes())
PER_ISSUE = """
SELECT i.source_id AS issue, count(DISTINCT i.id) AS incidents,
       (SELECT count(*) FROM outbox o WHERE o.payload->>'sentry_issue_id' = i.source_id) AS outbox_rows
FROM infrastructure_incidents i WHERE i.source = 'sentry' GROUP BY i.source_id
"""


@dataclass(frozen=True)
class Delivery:
    request_id: str
    issue_id: str
    body: bytes


def delivery(issue_id: str) -> Delivery:
    payload = json.loads(json.dumps(TEMPLATE))
    payload["data"]["issue"]["id"] = issue_id
    payload["data"]["issue"]["shortId"] = f"FAULT-{issue_id}"
    return Delivery(uuid.uuid4().hex, issue_id, json.dumps(payload, separators=(",", ":")).encode())


async def send(http: aiohttp.ClientSession, base_url: str, d: Delivery, timeout_s: float = 30) -> int | None:
    """The answer's status, or None when the connection failed (nothing answered)."""
    headers = {
        "Content-Type": "application/json",
        "Request-ID": d.request_id,
        "Sentry-Hook-Resource": "issue",
        "Sentry-Hook-Timestamp": str(int(time.time())),
        "Sentry-Hook-Signature": hmac.new(SENTRY_SECRET.encode(), d.body, hashlib.sha256).hexdigest(),
    }
    try:
        async with http.post(
            f"{base_url}/webhooks/sentry", data=d.body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as r:
            await r.read()
            return r.status
    except (aiohttp.ClientError, TimeoutError):
        return None


@dataclass
class Ledger:
    """What the sender saw per delivery: every status it got, in order."""

    answers: dict[str, list[int | None]] = field(default_factory=dict)
    sent: dict[str, Delivery] = field(default_factory=dict)

    def record(self, d: Delivery, status: int | None) -> None:
        self.answers.setdefault(d.issue_id, []).append(status)
        self.sent[d.issue_id] = d

    def unacked(self) -> list[Delivery]:
        acked = self.acked()
        return [d for k, d in self.sent.items() if k not in acked]

    def acked(self) -> set[str]:
        return {k for k, v in self.answers.items() if any(s is not None and 200 <= s < 300 for s in v)}

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.answers.values():
            for s in v:
                counts[str(s)] = counts.get(str(s), 0) + 1
        return counts


async def per_issue(conn: asyncpg.Connection) -> dict[str, tuple[int, int]]:
    """issue id -> (incidents, outbox rows) the service made of it."""
    return {r["issue"]: (r["incidents"], r["outbox_rows"]) for r in await conn.fetch(PER_ISSUE)}


LEFT_RECEIVED = "SELECT count(*) FROM webhook_deliveries WHERE status = 'received'"
