"""Bolt listeners still working after their ack are awaited (bounded) at shutdown, not dropped: here the
slash command's listener acks, then waits on a slow Slack for ``views.open`` while the app shuts down."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp.test_utils import TestClient, TestServer

from app import build_app
from handlers.slack.bolt import running_listeners
from tests.conftest import FIXTURES, make_config
from tests.fakes.slack import fake_slack, signed_headers

SECRET = "slack-signing-secret-for-shutdown"
SLASH = dict(parse_qsl((FIXTURES / "slack" / "slash_command.form.txt").read_text(), keep_blank_values=True))


async def test_a_listener_running_after_its_ack_finishes_before_shutdown_ends(database_url: str) -> None:
    async with fake_slack() as fake:
        fake.delay_s = 1.0
        config = make_config(
            database_url, slack_signing_secret=SECRET, slack_bot_token="xoxb-test", slack_api_url=fake.url
        )
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(config)))
        await client.start_server()
        body = urlencode({**SLASH, "command": "/coding-request", "text": "fix the flaky test"}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body, SECRET)}
        try:
            acked = await client.post("/slack/events", data=body, headers=headers)
            assert acked.status == 200
            assert running_listeners(), "the listener is still at work after the ack"
        finally:
            await client.close()  # the app's shutdown
        assert not running_listeners()
        assert len(fake.called("views.open")) == 1, "the listener finished its call before the app stopped"
