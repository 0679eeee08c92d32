"""POST /slack/events: the signature and timestamp are checked on the raw body before Bolt parses it.

The issue's requests reached a 500 (and an error report) before any signature check; each now gets a
401 or 400, nothing is logged but the reason, and a signed but malformed body is a 400 too."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.fakes.slack import signed_headers

SECRET = "slack-signing-secret-for-verification"
FORM = "application/x-www-form-urlencoded"
URL_VERIFICATION = b'{"token":"VERIFICATION-TOKEN-77","challenge":"c","type":"url_verification"}'

UNSIGNED = [
    ("payload=not-json", b"payload=not-json", {"Content-Type": FORM}),
    ("timestamp abc", b"{}", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64}),
    ("timestamp full-width digits", b"{}", {"X-Slack-Request-Timestamp": "\uff11\uff12", "X-Slack-Signature": "v0=1"}),
    ("payload=[]", b"payload=[]", {"Content-Type": FORM}),
    ("null", b"null", {"Content-Type": "application/json"}),
    ("unknown charset", b"a=b", {"Content-Type": f"{FORM}; charset=no-such-charset"}),
    ("not UTF-8", b"payload=\xff\xfe", {"Content-Type": FORM}),
    ("no headers, empty", b"", {}),
]

SIGNED_MALFORMED = [
    ("payload=not-json", b"payload=not-json", FORM),
    ("payload=[]", b"payload=[]", FORM),
    ("null", b"null", "application/json"),
    ("a JSON array", b"[1, 2]", "application/json"),
    ("JSON nested 100,000 deep", b"payload=" + b"[" * 100_000 + b"]" * 100_000, FORM),
    ("object nested deep", b"{" + b'"a":{' * 1000 + b"}" * 1001, "application/json"),
    ("authorizations of the wrong type", b'{"type":"event_callback","authorizations":[1]}', "application/json"),
]


@pytest.fixture
async def client(app_factory: Callable[..., Any]) -> TestClient[Any, Any]:
    started: TestClient[Any, Any] = await app_factory(slack_signing_secret=SECRET, slack_bot_token="xoxb-verify")
    return started


@pytest.mark.parametrize(("name", "body", "headers"), UNSIGNED, ids=[c[0] for c in UNSIGNED])
async def test_an_unsigned_request_is_refused_before_parsing(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, name: str, body: bytes, headers: dict[str, str]
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.post("/slack/events", data=body, headers=headers)
    assert response.status in (400, 401), await response.text()
    assert (await response.json())["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no error, so no error report"


@pytest.mark.parametrize(("name", "body", "content_type"), SIGNED_MALFORMED, ids=[c[0] for c in SIGNED_MALFORMED])
async def test_a_signed_malformed_body_is_a_400(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, name: str, body: bytes, content_type: str
) -> None:
    caplog.set_level(logging.INFO)
    headers = {"Content-Type": content_type, **signed_headers(body, SECRET)}
    response = await client.post("/slack/events", data=body, headers=headers)
    assert response.status == 400, await response.text()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_stale_signed_request_is_refused_without_logging_its_body_or_signature(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Content-Type": "application/json", **signed_headers(URL_VERIFICATION, SECRET, int(time.time()) - 301)}
    response = await client.post("/slack/events", data=URL_VERIFICATION, headers=headers)
    assert response.status == 401
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "slack.refused" in logged
    assert "VERIFICATION-TOKEN-77" not in logged and headers["X-Slack-Signature"] not in logged


async def test_bolts_loggers_stay_quiet_below_warning(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Content-Type": "application/json", **signed_headers(URL_VERIFICATION, SECRET)}
    assert (await client.post("/slack/events", data=URL_VERIFICATION, headers=headers)).status == 200
    # Bolt configures its middleware loggers from ours at the first dispatch; the one that logged a
    # stale request's body at INFO is RequestVerification's.
    for name in ("swarm_bridge.slack", "slack_bolt.RequestVerification", "slack_bolt.SslCheck"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert not [r for r in caplog.records if r.name.startswith("slack_bolt") and r.levelno < logging.WARNING]


async def test_a_signed_request_still_reaches_bolt(client: TestClient[Any, Any]) -> None:
    headers = {"Content-Type": "application/json", **signed_headers(URL_VERIFICATION, SECRET)}
    response = await client.post("/slack/events", data=URL_VERIFICATION, headers=headers)
    assert response.status == 200 and (await response.json())["challenge"] == "c"
    wrong = {"Content-Type": "application/json", **signed_headers(URL_VERIFICATION, "another-secret")}
    assert (await client.post("/slack/events", data=URL_VERIFICATION, headers=wrong)).status == 401
    odd_charset = {
        "Content-Type": "application/json; charset=no-such-charset",
        **signed_headers(URL_VERIFICATION, SECRET),
    }
    response = await client.post("/slack/events", data=URL_VERIFICATION, headers=odd_charset)
    assert response.status == 200, "Slack's bodies are UTF-8 whatever the header says"
    assert json.loads(URL_VERIFICATION)["type"] == "url_verification"
