"""Pure parts of the Linear client and the inbox: rate-limit waits, kept headers."""

from __future__ import annotations

import time

from integrations.linear.client import DEFAULT_RETRY_S, is_rate_limited, retry_after_s
from jobs.inbox import kept_headers


def test_retry_after_prefers_retry_after_then_linear_reset() -> None:
    assert retry_after_s({"Retry-After": "7"}) == 7
    reset = str(int((time.time() + 90) * 1000))
    assert 85 < retry_after_s({"X-RateLimit-Requests-Reset": reset}) <= 90
    assert retry_after_s({"X-RateLimit-Requests-Reset": "0"}) == 1.0
    assert retry_after_s({}) == retry_after_s(None) == DEFAULT_RETRY_S
    assert retry_after_s({"Retry-After": "soon"}) == DEFAULT_RETRY_S


def test_rate_limited_error_code() -> None:
    assert is_rate_limited([{"message": "x", "extensions": {"code": "RATELIMITED"}}])
    assert not is_rate_limited([{"message": "x", "extensions": {"code": "INVALID_INPUT"}}])
    assert not is_rate_limited(None) and not is_rate_limited(["text"])


def test_kept_headers_never_keep_signatures() -> None:
    kept = kept_headers(
        {
            "X-Hub-Signature-256": "sha256=abc",
            "Sentry-Hook-Signature": "abc",
            "Linear-Signature": "abc",
            "X-GitHub-Event": "ping",
            "Request-ID": "r",
            "Authorization": "Bearer x",
            "Cookie": "c",
        }
    )
    assert kept == {"x-github-event": "ping", "request-id": "r"}
