"""No secret in any log line or error report: a full flow (signed webhooks, an approval decided in
Slack, refused and failing requests, an unhandled exception) runs with distinctive secret values and
the Sentry SDK pointed at a fake Sentry on loopback; then every log line and every envelope is searched."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any
from urllib.parse import quote

import asyncpg
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import logs
from app import build_app, init_sentry
from domain.approvals.blocks import ActionId
from handlers.keys import CONFIG, POOL, WIRING
from jobs import outbox
from tests.conftest import make_config
from tests.fakes.linear import fake_linear
from tests.fakes.slack import fake_slack, interaction_body, signed_headers
from tests.integration.approvals.conftest import REQUEST, click_payload
from tests.integration.webhooks.conftest import Senders, fixture_bytes, linear_body, sign
from tests.security.conftest import FakeSentry

SECRETS = {
    "slack_bot_token": "xoxb-leakcheck-bot-7f3a91",
    "slack_signing_secret": "leakcheck-slack-signing-2b8c",
    "sentry_client_secret": "leakcheck-sentry-client-5d1e",
    "github_webhook_secret": "leakcheck-github-hook-9a4f",
    "github_token": "ghp_leakcheckGithubToken0123456789",
    "linear_webhook_secret": "leakcheck-linear-hook-3c6b",
    "linear_api_key": "lin_api_leakcheckLinearKey42",
    "jwt_secret": "leakcheck-jwt-secret-of-more-than-32-bytes-e0d",
}
CHANNEL = "C0LEAKCHECK"


def _service_token() -> str:
    claims = {"role": "service_role", "sub": "leak-tester", "exp": int(time.time()) + 600}
    return jwt.encode(claims, SECRETS["jwt_secret"], algorithm="HS256")


def _forms(value: str) -> list[str]:
    """A secret as it could appear: itself, URL-quoted, JSON-escaped."""
    return [value, quote(value, safe=""), json.dumps(value)[1:-1]]


async def _flow(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    auth = {"Authorization": f"Bearer {_service_token()}"}
    ctx = outbox.Context(pool=pool, config=client.app[CONFIG], handlers=client.app[WIRING].outbox)

    # Signed webhooks (signed with our distinctive secrets) and refused ones.
    for source, body, headers in _webhooks():
        response = await client.post(f"/webhooks/{source}", data=body, headers=headers)
        assert response.status < 500, await response.text()
    await Senders(client).sentry(fixture_bytes("sentry", "issue.created"), "issue")  # another secret: 401
    while await outbox.deliver_due(ctx):
        pass

    # An approval requested, posted to Slack, decided by a signed click.
    created = await client.post("/api/v1/approvals", json={**REQUEST, "channel": CHANNEL}, headers=auth)
    assert created.status == 201, await created.text()
    approval_id = (await created.json())["id"]
    while await outbox.deliver_due(ctx):
        pass
    body = interaction_body(click_payload(ActionId.APPROVE, approval_id, user="U0LEAK", channel=CHANNEL))
    signed = {"Content-Type": "application/x-www-form-urlencoded"}
    signed.update(signed_headers(body, SECRETS["slack_signing_secret"]))
    clicked = await client.post("/slack/events", data=body, headers=signed)
    assert clicked.status == 200, await clicked.text()

    # Refused: the unauthenticated Slack request, a stale signed one, bad tokens.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await client.post("/slack/events", data=b"payload=not-json", headers=form)).status == 401
    stale = {**form, **signed_headers(body, SECRETS["slack_signing_secret"], int(time.time()) - 600)}
    assert (await client.post("/slack/events", data=body, headers=stale)).status == 401
    forged = jwt.encode({"role": "service_role", "exp": int(time.time()) + 60}, "not-the-secret-" * 3)
    for header in (f"Bearer {forged}", f"Bearer {_service_token()}x", "Basic " + SECRETS["jwt_secret"]):
        assert (await client.get("/api/v1/config", headers={"Authorization": header})).status == 401
    assert (await client.get("/api/v1/config", headers=auth)).status == 200

    # Failures that are reported: an unhandled exception, then the database gone (503, logged as error).
    assert (await client.get("/boom", headers=auth)).status == 500
    await client.app[POOL].close()
    assert (await client.get("/api/v1/config", headers=auth)).status == 503


def _webhooks() -> list[tuple[str, bytes, dict[str, str]]]:
    sentry = fixture_bytes("sentry", "issue.created")
    github = fixture_bytes("github", "workflow_run.failure")
    linear = linear_body("issue.create")
    return [
        (
            "sentry",
            sentry,
            {
                "Content-Type": "application/json",
                "Request-ID": "leak-1",
                "Sentry-Hook-Resource": "issue",
                "Sentry-Hook-Timestamp": str(int(time.time())),
                "Sentry-Hook-Signature": sign(sentry, SECRETS["sentry_client_secret"]),
            },
        ),
        (
            "github",
            github,
            {
                "Content-Type": "application/json",
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": "leak-2",
                "X-Hub-Signature-256": "sha256=" + sign(github, SECRETS["github_webhook_secret"]),
            },
        ),
        ("github", github, {"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": "sha256=" + "0" * 64}),
        (
            "linear",
            linear,
            {
                "Content-Type": "application/json",
                "Linear-Event": "Issue",
                "Linear-Delivery": "leak-3",
                "Linear-Signature": sign(linear, SECRETS["linear_webhook_secret"]),
            },
        ),
    ]


async def boom(request: web.Request) -> web.Response:
    """A handler that fails holding revealed secrets in its local variables."""
    config = request.app[CONFIG]
    revealed = [str.__str__(s) for s in config.secrets()]
    raise RuntimeError(f"failed while holding {len(revealed)} secrets")


@pytest.mark.usefixtures("sentry_off")
async def test_no_secret_reaches_a_log_line_or_sentry(
    pool: asyncpg.Pool, database_url: str, fake_sentry: FakeSentry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger().addHandler(handler)
    async with fake_slack() as slack, fake_linear() as linear:
        linear.add_team("ENG")
        config = make_config(
            database_url,
            **SECRETS,
            sentry_dsn=fake_sentry.dsn,
            slack_api_url=slack.url,
            linear_api_url=linear.url,
            linear_team_key="ENG",
            slack_incidents_channel=CHANNEL,
            slack_approvals_channel=CHANNEL,
        )
        init_sentry(config)
        app = build_app(config)
        app.router.add_get("/boom", boom)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        try:
            await _flow(client, pool)
        finally:
            await client.close()
            logging.getLogger().removeHandler(handler)
        await fake_sentry.flush()
        assert slack.called("chat.postMessage"), "the flow reached Slack with the bot token"

    events = fake_sentry.events()
    assert any("RuntimeError" in json.dumps(e) for e in events), "the unhandled exception was reported"
    assert any("http.database_unavailable" in json.dumps(e) for e in events), "the error log was reported"
    written = lines.getvalue()
    assert "http.unhandled" in written and "webhook.github.invalid_signature" in written
    raw_records = [r for r in caplog.records if r.levelno >= logging.INFO]
    raw = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')} {r.exc_text or ''}" for r in raw_records)
    envelopes = b"\n".join(fake_sentry.envelopes).decode("utf-8", "replace")
    for name, value in SECRETS.items():
        for form in _forms(value):
            assert form not in written, f"{name} in a log line"
            assert form not in raw, f"{name} in a log record at INFO or above"
            assert form not in envelopes, f"{name} in what Sentry received"
    assert "payload=not-json" not in envelopes and "v0=" not in envelopes
