"""Filing from Slack end to end: signed slash command / shortcut -> modal on the fake Slack -> signed
view_submission -> row, bus event, confirmation through the outbox."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from app import wire
from config import Config
from jobs import outbox
from tests.conftest import FIXTURES
from tests.fakes.slack import FakeSlack, fake_slack, interaction_body, signed_headers

from .helpers import bolt_listeners_done, events, file_request, outbox_rows, wait_for_events

SECRET = "slack-signing-secret-for-tests"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SLASH = dict(parse_qsl((FIXTURES / "slack" / "slash_command.form.txt").read_text(), keep_blank_values=True))
SUBMISSION = json.loads((FIXTURES / "slack" / "view_submission.json").read_text())
USER = SLASH["user_id"]  # U2CERLKJA, who runs the command in the recorded body
CHANNEL, MESSAGE_TS, THREAD_TS = "C0CHANNEL1", "1547823853.000200", "1547823800.000100"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as running:
        running.users[USER] = {"real_name": "Road Runner", "email": "roadrunner@example.com"}
        yield running


@pytest.fixture
async def slack_client(app_factory: Callable[..., Any], fake: FakeSlack) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await app_factory(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-test", slack_api_url=fake.url
    )
    return client


async def post(client: TestClient[Any, Any], body: bytes) -> Any:
    return await client.post("/slack/events", data=body, headers={**FORM, **signed_headers(body, SECRET)})


async def slash(client: TestClient[Any, Any], text: str) -> Any:
    """The recorded slash command body, as Slack would send ``/coding-request <text>``."""
    return await post(client, urlencode({**SLASH, "command": "/coding-request", "text": text}).encode())


def submission(opened_view: dict[str, Any], user: str = USER, **typed: str) -> bytes:
    """The recorded view_submission, carrying the modal we opened with ``typed`` values in its inputs."""
    payload = copy.deepcopy(SUBMISSION)
    payload["user"].update(id=user, username="roadrunner", name="roadrunner")
    state: dict[str, Any] = {}
    for block in opened_view["blocks"]:
        element, value = block["element"], typed.get(block["block_id"])
        if element["type"] == "static_select":
            chosen = (
                {"text": {"type": "plain_text", "text": value}, "value": value} if value else element["initial_option"]
            )
            state[block["block_id"]] = {"value": {"type": "static_select", "selected_option": chosen}}
        else:
            text = value if value is not None else element.get("initial_value")
            state[block["block_id"]] = {"value": {"type": "plain_text_input", "value": text}}
    payload["view"].update(
        callback_id=opened_view["callback_id"],
        private_metadata=opened_view["private_metadata"],
        blocks=opened_view["blocks"],
        state={"values": state},
    )
    return interaction_body(payload)


def message_shortcut() -> dict[str, Any]:
    """A message shortcut (``message_action``) as Slack documents it, on a reply inside a thread."""
    return {
        "type": "message_action",
        "token": "verification_token",
        "action_ts": "1547823856.409836",
        "team": {"id": SLASH["team_id"], "domain": SLASH["team_domain"]},
        "user": {"id": USER, "name": "roadrunner", "team_id": SLASH["team_id"]},
        "channel": {"id": CHANNEL, "name": "engineering"},
        "callback_id": "send_to_coding_agent",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "response_url": "https://hooks.slack.com/app/T1DC2JH3J/1234/abcd",
        "message_ts": MESSAGE_TS,
        "message": {
            "type": "message",
            "user": "U0AUTHOR1",
            "ts": MESSAGE_TS,
            "thread_ts": THREAD_TS,
            "text": "Export to CSV crashes on empty reports\nSteps: open an empty report, click Export.",
        },
    }


async def test_slash_command_modal_submission_row_event_confirmation(
    slack_client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    response = await slash(slack_client, "")
    assert response.status == 200
    opened = (await fake.wait_for("views.open"))[0]
    assert opened.args["trigger_id"] == SLASH["trigger_id"]
    view = json.loads(opened.args["view"]) if isinstance(opened.args["view"], str) else opened.args["view"]
    assert view["callback_id"] == "coding_request_modal" and "initial_value" not in view["blocks"][0]["element"]

    response = await post(
        slack_client,
        submission(
            view, title="Add dark mode", description="A toggle in settings", request_type="feature", priority="high"
        ),
    )
    assert response.status == 200 and await response.text() == ""
    created = (await wait_for_events(pool, "coding_request.created"))[0]
    assert created.target_agent_ids == ["coding-agent"] and created.payload["request_number"] == 1
    assert created.payload["id"] == str(created.correlation_id) and created.payload["status"] == "pending"
    for private in ("Add dark mode", "A toggle in settings", "Road Runner", "roadrunner@"):
        assert private not in json.dumps(created.payload), "the bus carries no requester or text"

    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert (row["source"], row["source_id"], row["title"], row["description"]) == (
        "slack",
        f"command:{SLASH['trigger_id']}",
        "Add dark mode",
        "A toggle in settings",
    )
    assert (row["request_type"], row["priority"], row["status"]) == ("feature", "high", "pending")
    # Stored before Slack is asked anything: the requester's profile is filled in through the outbox.
    assert (row["requested_by_id"], row["requested_by_name"]) == (USER, None) and fake.called("users.info") == []

    ctx = outbox.Context(
        pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
    )
    assert await outbox.deliver_due(ctx) == 2  # the confirmation and the enrichment
    assert fake.called("users.info")[0].args["user"] == USER
    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert (row["requested_by_name"], row["requested_by_email"]) == ("Road Runner", "roadrunner@example.com")
    dm = fake.called("chat.postMessage")[0].args
    assert dm["channel"] == f"D{USER}" and "#1" in dm["text"] and "thread_ts" not in dm


async def test_text_prefills_the_title(slack_client: TestClient[Any, Any], fake: FakeSlack) -> None:
    await slash(slack_client, "Add dark mode to the dashboard")
    opened = (await fake.wait_for("views.open"))[0]
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    assert view["blocks"][0]["element"]["initial_value"] == "Add dark mode to the dashboard"


async def test_validation_errors_stay_in_the_modal(
    slack_client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    await slash(slack_client, "")
    opened = (await fake.wait_for("views.open"))[0]
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    response = await post(slack_client, submission(view, title="  "))
    assert response.status == 200
    assert await response.json() == {
        "response_action": "errors",
        "errors": {"title": "Give the request a title of at least 3 characters."},
    }
    await bolt_listeners_done()
    assert await pool.fetchval("SELECT count(*) FROM coding_requests") == 0
    assert fake.called("users.info") == []


async def test_a_repeated_submission_files_one_request(
    slack_client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    await slash(slack_client, "Add dark mode")
    opened = (await fake.wait_for("views.open"))[0]
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    body = submission(view)
    for _ in range(3):
        assert (await post(slack_client, body)).status == 200
    await wait_for_events(pool, "coding_request.created")
    await bolt_listeners_done()
    assert await pool.fetchval("SELECT count(*) FROM coding_requests") == 1
    assert len(await events(pool, "coding_request.created")) == 1
    assert len(await outbox_rows(pool, "coding_request.notify")) == 1
    assert len(await outbox_rows(pool, "coding_request.enrich")) == 1


async def test_message_shortcut_files_from_the_message_and_replies_in_its_thread(
    slack_client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    response = await post(slack_client, interaction_body(message_shortcut()))
    assert response.status == 200
    opened = (await fake.wait_for("views.open"))[0]
    assert opened.args["trigger_id"] == message_shortcut()["trigger_id"]
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    title, description = (b["element"].get("initial_value") for b in view["blocks"][:2])
    assert title == "Export to CSV crashes on empty reports"
    assert description == message_shortcut()["message"]["text"]
    assert fake.called("chat.getPermalink") == []  # only after the submission was acked

    await post(slack_client, submission(view, request_type="bug"))
    await wait_for_events(pool, "coding_request.created")
    ctx = outbox.Context(
        pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
    )
    await outbox.deliver_due(ctx)
    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert row["source_id"] == f"message:{CHANNEL}:{MESSAGE_TS}:{THREAD_TS}"
    assert row["source_url"] == f"https://example.slack.com/archives/{CHANNEL}/p{MESSAGE_TS.replace('.', '')}"
    assert row["request_type"] == "bug"
    permalink = fake.called("chat.getPermalink")[0].args
    assert (permalink["channel"], permalink["message_ts"]) == (CHANNEL, MESSAGE_TS)
    reply = fake.called("chat.postMessage")[0].args
    assert (reply["channel"], reply["thread_ts"]) == (CHANNEL, THREAD_TS)
    assert fake.called("conversations.open") == []


async def test_status_and_mine_answer_ephemerally(
    slack_client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    await file_request(pool, requested_by_id=USER)
    await file_request(pool, source_id="command:other", title="Someone else's", requested_by_id="U0OTHER")

    answer = await (await slash(slack_client, "status 1")).json()
    assert "*#1* Add dark mode — pending" in answer["text"] and answer["blocks"]
    # A text-only ack is answered as plain text, which Slack shows ephemerally to the caller.
    assert await (await slash(slack_client, "status 7")).text() == "There is no coding request #7."
    mine = await (await slash(slack_client, "mine")).json()
    assert "Add dark mode" in mine["text"] and "Someone else's" not in mine["text"]
    assert "status <number>" in await (await slash(slack_client, "status")).text()
    assert fake.called("views.open") == []


async def test_a_thread_the_bot_cannot_post_in_falls_back_to_a_dm(
    slack_client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    await post(slack_client, interaction_body(message_shortcut()))
    opened = (await fake.wait_for("views.open"))[0]
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    await post(slack_client, submission(view))
    await wait_for_events(pool, "coding_request.created")
    fake.fail("chat.postMessage", "not_in_channel")
    ctx = outbox.Context(
        pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
    )
    await outbox.deliver_due(ctx)
    assert [c.args["channel"] for c in fake.called("chat.postMessage")] == [CHANNEL, f"D{USER}"]
    assert [r["status"] for r in await outbox_rows(pool, "coding_request.notify")] == ["done"]


async def test_a_submission_during_a_slack_outage_is_stored_at_once_and_enriched_later(
    slack_client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    await post(slack_client, interaction_body(message_shortcut()))
    opened = (await fake.wait_for("views.open"))[0]
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    fake.unavailable("users.info", times=2)
    fake.unavailable("chat.getPermalink", times=1)

    response = await post(slack_client, submission(view, request_type="bug"))
    assert response.status == 200 and await response.text() == ""
    await bolt_listeners_done()
    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert row is not None and row["title"] == "Export to CSV crashes on empty reports"
    assert len(await events(pool, "coding_request.created")) == 1

    ctx = outbox.Context(
        pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
    )
    for _ in range(4):  # 503s in plain text: users.info twice, then chat.getPermalink; each attempt is retried
        await outbox.deliver_due(ctx)
        await pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'")
    enrich = (await outbox_rows(pool, "coding_request.enrich"))[0]
    assert enrich["status"] == "done"
    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert (row["requested_by_name"], row["requested_by_email"]) == ("Road Runner", "roadrunner@example.com")
    assert row["source_url"] == f"https://example.slack.com/archives/{CHANNEL}/p{MESSAGE_TS.replace('.', '')}"
    assert len(fake.called("users.info")) == 4 and len(fake.called("chat.getPermalink")) == 2
