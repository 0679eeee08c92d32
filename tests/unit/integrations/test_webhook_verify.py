"""The pure receiving layer on the senders' signing vectors and the recorded payloads."""

from __future__ import annotations

import json

import pytest

from integrations.webhooks.verify import (
    Rejected,
    Source,
    delivery_id,
    linear_fresh,
    sentry_fresh,
    sign,
    signature_ok,
    verify,
)
from tests.conftest import FIXTURES


def vector(source: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((FIXTURES / source / "signing_vector.json").read_text())
    return loaded


def test_github_documented_vector() -> None:
    v = vector("github")
    body, secret = str(v["body"]).encode(), str(v["secret"])
    assert sign(body, secret) == v["expected_signature_hex"]
    assert signature_ok(v["expected_header"]["X-Hub-Signature-256"], body, secret, "sha256=")  # type: ignore[index]
    assert not signature_ok(str(v["expected_signature_hex"]), body, secret, "sha256=")  # scheme missing


def test_sentry_vector() -> None:
    v = vector("sentry")
    body = str(v["body"]).encode()
    assert signature_ok(str(v["expected_signature"]), body, str(v["secret"]))
    assert signature_ok(str(v["expected_signature"]).upper(), body, str(v["secret"]))


def test_linear_vector_and_window() -> None:
    v = vector("linear")
    body = str(v["body"]).encode()
    assert signature_ok(str(v["expected_signature"]), body, str(v["secret"]))
    ts = 1677611643000
    headers = {"Linear-Signature": str(v["expected_signature"]), "Linear-Event": "Comment"}
    verified = verify(Source.LINEAR, headers, body, "SECRET", now_ms=ts + 30_000)
    assert verified.event_type == "Comment" and verified.action == "create"
    with pytest.raises(Rejected) as stale:
        verify(Source.LINEAR, headers, body, "SECRET", now_ms=ts + 61_000)
    assert stale.value.status == 401
    assert linear_fresh({"webhookTimestamp": ts}, ts - 60_000)
    assert not linear_fresh({"webhookTimestamp": ts}, ts + 60_001)
    assert not linear_fresh({}, ts) and not linear_fresh({"webhookTimestamp": True}, 1)
    assert not linear_fresh({"webhookTimestamp": "1677611643000"}, ts)


@pytest.mark.parametrize(
    "given",
    [None, "", "sha1=" + "0" * 64, "sha256=" + "0" * 63, "sha256=" + "x" * 64, "sha256=" + "0" * 64],
)
def test_bad_signatures(given: str | None) -> None:
    assert not signature_ok(given, b"{}", "secret", "sha256=")


def test_every_flipped_hex_digit_is_refused() -> None:
    body, good = b'{"a":1}', sign(b'{"a":1}', "s")
    for i in range(len(good)):
        flipped = good[:i] + ("1" if good[i] == "0" else "0") + good[i + 1 :]
        assert not signature_ok(flipped, body, "s")


def test_order_signature_before_json() -> None:
    with pytest.raises(Rejected) as bad_sig:
        verify(Source.SENTRY, {"Sentry-Hook-Signature": "0" * 64}, b"not json", "s", now_ms=0)
    assert bad_sig.value.status == 401
    body = b"not json"
    with pytest.raises(Rejected) as bad_json:
        verify(Source.SENTRY, {"Sentry-Hook-Signature": sign(body, "s")}, body, "s", now_ms=0)
    assert bad_json.value.status == 400


def test_github_recorded_payload_verifies_over_its_exact_bytes() -> None:
    body = (FIXTURES / "github" / "workflow_run.failure.json").read_bytes()
    headers = {
        "X-Hub-Signature-256": "sha256=" + sign(body, "s"),
        "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": "bfe22520-466a-11ed-8dae-4cb245a6a856",
    }
    verified = verify(Source.GITHUB, headers, body, "s", now_ms=0)
    assert verified.delivery_id == "bfe22520-466a-11ed-8dae-4cb245a6a856"
    assert verified.event_type == "workflow_run" and verified.action == "completed"


def test_delivery_id_falls_back_to_the_body_hash() -> None:
    assert delivery_id("abc", b"x") == "abc"
    assert delivery_id(None, b"x") == delivery_id("  ", b"x") != delivery_id(None, b"y")
    assert delivery_id(None, b"x").startswith("sha256:")


def test_sentry_hook_timestamp_is_plain_seconds_within_60_s() -> None:
    now_ms = 1_700_000_000_000
    assert sentry_fresh("1700000060", now_ms) and sentry_fresh("1699999940.5", now_ms)
    for bad in (
        "1700000061",
        "1699999939",
        "1e18",
        "-1000000000000000000",
        "1000000000000000000",
        "",
        None,
        "\u0661\u0667\u0660",
    ):
        assert not sentry_fresh(bad, now_ms), bad
