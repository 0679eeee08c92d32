"""The realistic delivery mix: recorded payloads made into many distinct deliveries, signed as sent.

Shares (of the deliveries generated): new Sentry issues 25%, Sentry error events on issues already sent
25%, GitHub workflow runs 15%, pull requests 15%, Linear issue updates 10%, and ~10% repeats of one of
the last ``RETRIED_FROM`` deliveries (same id, same bytes: a sender's retry, within Sentry's and Linear's
60 s replay window even when the benchmark pauses between phases). Only what the senders vary is varied
(ids, numbers, timestamps); bodies are compact as the senders serialise them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SECRETS = {
    "sentry": "bench-sentry-client-secret",
    "github": "bench-github-webhook-secret",
    "linear": "bench-linear-webhook-secret",
}
SHARES = (("sentry.issue", 25), ("sentry.error", 25), ("github.workflow_run", 15), ("github.pull_request", 15),
          ("linear.issue", 10), ("repeat", 10))  # fmt: skip
RETRIED_FROM = 1000


@dataclass(frozen=True)
class Delivery:
    source: str
    delivery_id: str
    kind: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return f"/webhooks/{self.source}"


@dataclass
class Sent:
    """What a run sent: the truth the correctness checks compare the database with."""

    ids: dict[str, set[str]] = field(default_factory=lambda: {"sentry": set(), "github": set(), "linear": set()})
    new_sentry_issues: set[str] = field(default_factory=set)
    answers: dict[int, int] = field(default_factory=dict)

    def record(self, delivery: Delivery, status: int) -> None:
        self.answers[status] = self.answers.get(status, 0) + 1
        if 200 <= status < 300:
            self.ids[delivery.source].add(delivery.delivery_id)
            if delivery.kind == "sentry.issue":
                self.new_sentry_issues.add(json.loads(delivery.body)["data"]["issue"]["id"])


def _load(source: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / source / f"{name}.json").read_bytes())
    return loaded


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Mix:
    """An endless, seeded stream of deliveries. Timestamps are taken when a delivery is made, so make
    them shortly before sending (Linear refuses a webhookTimestamp older than 60 s)."""

    def __init__(self, seed: int = 7, run: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.run = run or uuid.uuid4().hex[:6]
        self.serial = 0
        self.issues: list[str] = []
        self.made: list[Delivery] = []
        self.kinds = [kind for kind, share in SHARES for _ in range(share)]
        self.templates = {
            "sentry.issue": _load("sentry", "issue.created"),
            "sentry.error": _load("sentry", "error.created"),
            "workflow_run.failure": _load("github", "workflow_run.failure"),
            "workflow_run.success": _load("github", "workflow_run.success"),
            "pull_request.opened": _load("github", "pull_request.opened"),
            "pull_request.closed": _load("github", "pull_request.closed.merged"),
            "linear.issue": _load("linear", "issue.update"),
        }

    def _next_id(self) -> int:
        self.serial += 1
        return self.serial

    def _sentry(self, kind: str, resource: str, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Request-ID": uuid.uuid4().hex,
            "Sentry-Hook-Resource": resource,
            "Sentry-Hook-Timestamp": str(int(time.time())),
            "Sentry-Hook-Signature": _sign(SECRETS["sentry"], body),
        }
        return Delivery("sentry", headers["Request-ID"], kind, headers, body)

    def _github(self, kind: str, event: str, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        delivery = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + _sign(SECRETS["github"], body),
        }
        return Delivery("github", delivery, kind, headers, body)

    def make(self) -> Delivery:
        kind = self.rng.choice(self.kinds)
        if kind == "repeat" and self.made:
            made = self.rng.choice(self.made[-RETRIED_FROM:])
            return Delivery(made.source, made.delivery_id, "repeat", made.headers, made.body)
        if kind == "sentry.error" and not self.issues:
            kind = "sentry.issue"
        n = self._next_id()
        if kind in ("sentry.issue", "repeat"):
            payload = copy.deepcopy(self.templates["sentry.issue"])
            issue_id = str(7_000_000_000 + n) + self.run
            payload["data"]["issue"]["id"] = issue_id
            payload["data"]["issue"]["shortId"] = f"BENCH-{self.run.upper()}-{n}"
            self.issues.append(issue_id)
            made = self._sentry("sentry.issue", "issue", payload)
        elif kind == "sentry.error":
            payload = copy.deepcopy(self.templates["sentry.error"])
            payload["data"]["error"]["issue_id"] = self.rng.choice(self.issues[-200:])
            payload["data"]["error"]["event_id"] = uuid.uuid4().hex
            made = self._sentry(kind, "error", payload)
        elif kind == "github.workflow_run":
            payload = copy.deepcopy(self.templates[self.rng.choice(["workflow_run.failure", "workflow_run.success"])])
            payload["workflow_run"]["id"] = 10_000_000 + n
            payload["workflow_run"]["name"] = f"bench-{self.rng.randrange(20)}"
            made = self._github(kind, "workflow_run", payload)
        elif kind == "github.pull_request":
            payload = copy.deepcopy(self.templates[self.rng.choice(["pull_request.opened", "pull_request.closed"])])
            payload["pull_request"]["number"] = 1000 + n
            payload["number"] = 1000 + n
            made = self._github(kind, "pull_request", payload)
        else:
            payload = copy.deepcopy(self.templates["linear.issue"])
            payload["webhookTimestamp"] = int(time.time() * 1000)
            payload["data"]["number"] = 1000 + n
            body = json.dumps(payload, separators=(",", ":")).encode()
            delivery = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Linear-Event": "Issue",
                "Linear-Delivery": delivery,
                "Linear-Signature": _sign(SECRETS["linear"], body),
            }
            made = Delivery("linear", delivery, "linear.issue", headers, body)
        self.made.append(made)
        return made

    def batch(self, n: int) -> list[Delivery]:
        return [self.make() for _ in range(n)]
