"""``python app.py demo`` and ``python app.py console-link``: something true to show, and a way in.

The demo plays the recorded payloads of ``tests/fixtures`` through the running service's real webhook
endpoints, signed with the secrets of this environment (the same variables the service reads; the only
change to a payload is Linear's ``webhookTimestamp``, set to now as Linear's docs require), then files an
approval request and a coding request with the domain's own functions.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path

import aiohttp

from config import Config
from db import connect
from domain.approvals import store as approvals
from domain.approvals.policy import RiskLevel
from domain.approvals.rules import NewApproval
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import NewRequest, Priority, RequestType
from handlers.console import sessions
from jobs.wiring import Wiring

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
SENTRY = (("issue.created", "issue"), ("error.created", "error"), ("event_alert.triggered", "event_alert"))
GITHUB = (("workflow_run.failure", "workflow_run"), ("pull_request.opened", "pull_request"))
SECRETS = ("SENTRY_CLIENT_SECRET", "GITHUB_WEBHOOK_SECRET", "LINEAR_WEBHOOK_SECRET")


def base_url(config: Config) -> str:
    return (config.public_url or f"http://{config.host}:{config.port}").rstrip("/")


def _sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliveries(config: Config) -> list[tuple[str, bytes, dict[str, str]]]:
    """(path, body, headers) of every recorded delivery, signed as its sender signs."""
    assert config.sentry_client_secret and config.github_webhook_secret and config.linear_webhook_secret
    out: list[tuple[str, bytes, dict[str, str]]] = []
    for name, resource in SENTRY:
        body = (FIXTURES / "sentry" / f"{name}.json").read_bytes()
        headers = {
            "Content-Type": "application/json",
            "Request-ID": uuid.uuid4().hex,
            "Sentry-Hook-Resource": resource,
            "Sentry-Hook-Timestamp": str(int(time.time())),
            "Sentry-Hook-Signature": _sign(body, config.sentry_client_secret),
        }
        out.append(("/webhooks/sentry", body, headers))
    for name, event in GITHUB:
        body = (FIXTURES / "github" / f"{name}.json").read_bytes()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256=" + _sign(body, config.github_webhook_secret),
        }
        out.append(("/webhooks/github", body, headers))
    payload = json.loads((FIXTURES / "linear" / "issue.create.json").read_bytes())
    payload["webhookTimestamp"] = int(time.time() * 1000)
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Linear-Event": "Issue",
        "Linear-Delivery": str(uuid.uuid4()),
        "Linear-Signature": _sign(body, config.linear_webhook_secret),
    }
    out.append(("/webhooks/linear", body, headers))
    return out


async def demo(config: Config, args: argparse.Namespace, _wiring: Wiring) -> int:
    missing = [name for name in SECRETS if getattr(config, name.lower()) is None]
    if missing:
        print(
            f"demo signs deliveries with the webhook secrets the service uses: set {', '.join(missing)} "
            "(the same values for `python app.py` and for `python app.py demo`)"
        )
        return 2
    url = args.url or base_url(config)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for path, body, headers in deliveries(config):
                async with http.post(url + path, data=body, headers=headers) as response:
                    kind = headers.get("Sentry-Hook-Resource") or headers.get("X-GitHub-Event") or "Issue"
                    print(f"{response.status}\tPOST {path}\t{kind}")
    except aiohttp.ClientError as exc:
        print(f"the service does not answer at {url} ({type(exc).__name__}): start it with `python app.py` first")
        return 1
    async with connect.command_pool(config) as pool, pool.acquire() as conn, conn.transaction():
        approval = await approvals.create(
            conn,
            NewApproval(
                agent_name="deploy-agent",
                action_type="rollback_deployment",
                action_details={"service": "checkout", "from": "v42", "to": "v41", "reason": "error rate 12% > 2%"},
                risk_level=RiskLevel.MEDIUM,
                continuation_event_type="deploy.rollback.decided",
                continuation_payload={"step": 3},
            ),
        )
        request, _ = await coding_requests.create(
            conn,
            NewRequest(
                source="demo",
                source_id=uuid.uuid4().hex,
                title="Retry the checkout call when the payment gateway answers 503",
                description="Filed by `python app.py demo`.",
                request_type=RequestType.BUG,
                priority=Priority.HIGH,
                requested_by_name="demo",
            ),
        )
    print(f"approval request {approval.id} (pending) and coding request #{request.request_number} filed")
    print(f"open the console: {url}/console (python app.py console-link prints a sign-in link)")
    return 0


async def console_link(config: Config, args: argparse.Namespace, _wiring: Wiring) -> int:
    async with connect.command_pool(config) as pool:
        token = await sessions.create_link(pool, args.user or sessions.LOCAL_ADMIN)
    print(f"{base_url(config)}/console/link/{token}")
    print("valid once, for 10 minutes; it signs in a local administrator", flush=True)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    link = sub.add_parser("console-link", help="print a one-time sign-in link to the console (10 minutes)")
    link.add_argument("--user", help="the Slack user id the session acts as (approver rules), default local-admin")
    play = sub.add_parser("demo", help="play recorded webhooks through the running service, then file requests")
    play.add_argument("--url", help="the running service (default PUBLIC_URL, else http://HOST:PORT)")
