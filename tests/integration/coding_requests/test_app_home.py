"""App Home: a signed app_home_opened event publishes the user's open requests and the approvals waiting for them
(buttons for listed approvers; a link to the channel message for levels anyone in the channel decides)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from tests.fakes.slack import fake_slack, signed_headers

from .helpers import file_request

SECRET = "slack-signing-secret-for-tests"
USER = "U2CERLKJA"
APPROVAL = """
INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, expires_at)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
RETURNING id
"""


def home_opened(user: str) -> bytes:
    return json.dumps(
        {
            "token": "verification_token",
            "team_id": "T1DC2JH3J",
            "api_app_id": "A0APP",
            "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"},
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
    ).encode()


async def test_home_shows_open_requests_and_decidable_approvals(
    app_factory: Callable[..., Any], pool: asyncpg.Pool
) -> None:
    await file_request(pool, requested_by_id=USER)
    await file_request(pool, source_id="command:t2", title="Done already", requested_by_id=USER)
    await pool.execute("UPDATE coding_requests SET status = 'completed' WHERE request_number = 2")
    await file_request(pool, source_id="command:t3", title="Not mine", requested_by_id="U0OTHER")
    await pool.execute(
        "UPDATE coding_requests SET pr_number = 9, pr_url = 'https://github.com/o/r/pull/9', pr_status = 'open'"
        " WHERE request_number = 1"
    )
    low = await pool.fetchval(APPROVAL, "ops-agent", "restart_service", {"summary": "restart api"}, "low", 3600.0)
    await pool.execute(
        "UPDATE approval_requests SET slack_channel_id = 'C0OPS', slack_message_ts = '1700000000.000100' WHERE id = $1",
        low,
    )
    high = await pool.fetchval(APPROVAL, "deploy-agent", "deploy", {"summary": "ship 1.2"}, "high", 3600.0)
    await pool.fetchval(APPROVAL, "db-agent", "drop_index", {}, "critical", 3600.0)  # no approver list: nobody
    await pool.fetchval(APPROVAL, "ops-agent", "expired", {}, "low", -60.0)
    await pool.execute(
        "INSERT INTO agent_swarm_config (config_key, config_value) VALUES ('approvals.approvers', $1)"
        " ON CONFLICT (config_key) DO UPDATE SET config_value = EXCLUDED.config_value",
        {"high": ["S0DEPLOYERS"]},
    )

    async with fake_slack() as fake:
        fake.usergroups["S0DEPLOYERS"] = [USER]
        client = await app_factory(slack_signing_secret=SECRET, slack_bot_token="xoxb-test", slack_api_url=fake.url)
        for expected in (1, 2):
            body = home_opened(USER)
            response = await client.post(
                "/slack/events", data=body, headers={"Content-Type": "application/json", **signed_headers(body, SECRET)}
            )
            assert response.status == 200
            published = await fake.wait_for("views.publish", expected)
        call = published[-1].args
        view = call["view"] if isinstance(call["view"], dict) else json.loads(call["view"])
        assert call["user_id"] == USER and view["type"] == "home"
        text = json.dumps(view)
        assert "Add dark mode" in text and "<https://github.com/o/r/pull/9|PR #9>" in text
        assert "Done already" not in text and "Not mine" not in text
        buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [(b["action_id"], b["value"]) for b in buttons] == [
            ("approval_approve", str(high)),
            ("approval_reject", str(high)),
        ]
        # No list for low risk: anyone in its channel decides it there; App Home links to the message.
        assert "restart_service" in text and "restart api" not in text
        (link,) = fake.called("chat.getPermalink")[-1:]
        assert (link.args["channel"], link.args["message_ts"]) == ("C0OPS", "1700000000.000100")
        assert "<https://example.slack.com/archives/C0OPS/p" in text
        # Group membership is cached between openings.
        assert [c.args["usergroup"] for c in fake.called("usergroups.users.list")] == ["S0DEPLOYERS"]


async def test_someone_outside_the_group_sees_only_open_approvals(
    app_factory: Callable[..., Any], pool: asyncpg.Pool
) -> None:
    await pool.fetchval(APPROVAL, "deploy-agent", "deploy", {}, "high", 3600.0)
    await pool.execute(
        "INSERT INTO agent_swarm_config (config_key, config_value) VALUES ('approvals.approvers', $1)"
        " ON CONFLICT (config_key) DO UPDATE SET config_value = EXCLUDED.config_value",
        {"high": ["S0DEPLOYERS"]},
    )
    async with fake_slack() as fake:
        fake.usergroups["S0DEPLOYERS"] = ["U0SOMEONE"]
        client = await app_factory(slack_signing_secret=SECRET, slack_bot_token="xoxb-test", slack_api_url=fake.url)
        body = home_opened(USER)
        await client.post(
            "/slack/events", data=body, headers={"Content-Type": "application/json", **signed_headers(body, SECRET)}
        )
        call = (await fake.wait_for("views.publish"))[0].args
        view = call["view"] if isinstance(call["view"], dict) else json.loads(call["view"])
        assert not [b for b in view["blocks"] if b["type"] == "actions"]
        assert "Nothing to decide right now." in json.dumps(view)
