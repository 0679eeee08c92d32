"""POST /slack/events: Bolt verifies Slack's signature and replay window before anything else."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.signature import Clock, SignatureVerifier

from tests.conftest import FIXTURES
from tests.fakes.slack import signed_headers

SECRET = "slack-signing-secret-for-tests"
VECTOR = json.loads((FIXTURES / "slack" / "signing_vector.json").read_text())
URL_VERIFICATION = (FIXTURES / "slack" / "url_verification.json").read_bytes()
JSON = {"Content-Type": "application/json"}


def test_signing_matches_slacks_published_vector() -> None:
    headers = signed_headers(VECTOR["body"].encode(), VECTOR["secret"], int(VECTOR["timestamp"]))
    assert headers["X-Slack-Signature"] == VECTOR["expected_signature"]

    class Pinned(Clock):
        def now(self) -> float:
            return float(VECTOR["timestamp"])

    verifier = SignatureVerifier(VECTOR["secret"], clock=Pinned())
    assert verifier.is_valid(VECTOR["body"], VECTOR["timestamp"], headers["X-Slack-Signature"])


async def test_url_verification_answers_the_challenge(app_factory: Callable[..., Any]) -> None:
    client = await app_factory(slack_signing_secret=SECRET, slack_bot_token="xoxb-test")
    response = await client.post(
        "/slack/events", data=URL_VERIFICATION, headers={**JSON, **signed_headers(URL_VERIFICATION, SECRET)}
    )
    assert response.status == 200
    assert (await response.json())["challenge"] == json.loads(URL_VERIFICATION)["challenge"]


async def test_bad_signature_and_stale_timestamp_are_refused(app_factory: Callable[..., Any]) -> None:
    client = await app_factory(slack_signing_secret=SECRET, slack_bot_token="xoxb-test")
    bad = signed_headers(URL_VERIFICATION, "another-secret")
    stale = signed_headers(URL_VERIFICATION, SECRET, int(time.time()) - 301)
    for headers in (bad, stale, {}):
        response = await client.post("/slack/events", data=URL_VERIFICATION, headers={**JSON, **headers})
        assert response.status == 401, headers


async def test_without_signing_secret_it_is_503_naming_it(app_factory: Callable[..., Any]) -> None:
    client = await app_factory()
    response = await client.post("/slack/events", data=URL_VERIFICATION, headers=JSON)
    assert response.status == 503 and "SLACK_SIGNING_SECRET" in (await response.json())["error"]
