"""The pure receiving layer: which headers each sender uses, signature and freshness checks, delivery ids.

Headers + raw bytes + secret in, a verdict out; no I/O, so it is tested on the senders' signing vectors.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from integrations.webhooks.depth import MAX_DEPTH, TooDeep, loads

MAX_BODY = 1024 * 1024
LINEAR_WINDOW_MS = 60_000
# Sentry-Hook-Timestamp (Unix seconds, set at send time) gets Linear's tolerance. The header is not signed,
# so it bounds honest retries only; a replayed body is recognised by its sha256 (jobs/inbox.py).
SENTRY_WINDOW_S = 60
SECONDS = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?", re.ASCII)
HEX = frozenset("0123456789abcdefABCDEF")


class Source(StrEnum):
    SENTRY = "sentry"
    GITHUB = "github"
    LINEAR = "linear"


@dataclass(frozen=True)
class SourceSpec:
    secret_setting: str  # the Config field (and, upper-cased, the environment variable)
    signature_header: str
    signature_prefix: str
    delivery_header: str
    event_header: str


SPECS: dict[Source, SourceSpec] = {
    Source.SENTRY: SourceSpec(
        "sentry_client_secret", "Sentry-Hook-Signature", "", "Request-ID", "Sentry-Hook-Resource"
    ),
    Source.GITHUB: SourceSpec(
        "github_webhook_secret", "X-Hub-Signature-256", "sha256=", "X-GitHub-Delivery", "X-GitHub-Event"
    ),
    Source.LINEAR: SourceSpec("linear_webhook_secret", "Linear-Signature", "", "Linear-Delivery", "Linear-Event"),
}


class Rejected(Exception):
    """A delivery refused before anything is stored: ``status`` is the HTTP answer."""

    def __init__(self, status: int, reason: str, log_key: str) -> None:
        super().__init__(reason)
        self.status = status
        self.log_key = log_key


@dataclass(frozen=True)
class Verified:
    source: Source
    delivery_id: str
    event_type: str
    action: str | None
    payload: dict[str, Any]


def sign(body: bytes, secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with ``secret`` (what all three senders compute)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(given: str | None, body: bytes, secret: str, prefix: str = "") -> bool:
    """Constant-time check of a hex HMAC-SHA256 header value (with its scheme prefix, if any)."""
    if not given or not given.startswith(prefix):
        return False
    digest = given[len(prefix) :].strip()
    if len(digest) != 64 or not set(digest) <= HEX:
        return False
    return hmac.compare_digest(sign(body, secret), digest.lower())


def linear_fresh(payload: Mapping[str, Any], now_ms: int) -> bool:
    """Linear's replay window: the signed ``webhookTimestamp`` (ms) within 60 s of now."""
    ts = payload.get("webhookTimestamp")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return False
    return abs(now_ms - ts) <= LINEAR_WINDOW_MS


def sentry_fresh(header: str | None, now_ms: int) -> bool:
    """Sentry's ``Sentry-Hook-Timestamp`` (Unix seconds, plain ASCII digits) within 60 s of now."""
    value = (header or "").strip()
    if not SECONDS.fullmatch(value):
        return False
    return abs(now_ms / 1000 - float(value)) <= SENTRY_WINDOW_S


def delivery_id(given: str | None, body: bytes) -> str:
    """The sender's delivery id, or a SHA-256 of the body where it sends none."""
    given = (given or "").strip()
    return given[:200] if given else "sha256:" + hashlib.sha256(body).hexdigest()


def verify(source: Source, headers: Mapping[str, str], body: bytes, secret: str, *, now_ms: int) -> Verified:
    """Signature -> depth -> Linear freshness -> JSON -> Sentry freshness, in that order. Raises Rejected
    (401/400); size is checked before."""
    spec = SPECS[source]
    if not signature_ok(headers.get(spec.signature_header), body, secret, spec.signature_prefix):
        raise Rejected(401, "invalid or missing signature", f"webhook.{source}.invalid_signature")
    try:
        payload = loads(body)
    except TooDeep as exc:
        raise Rejected(400, f"body nests JSON deeper than {MAX_DEPTH} levels", f"webhook.{source}.too_deep") from exc
    except (UnicodeDecodeError, ValueError):
        payload = None
    if source is Source.LINEAR and isinstance(payload, dict) and not linear_fresh(payload, now_ms):
        raise Rejected(401, "stale or missing webhookTimestamp", f"webhook.{source}.stale")
    if not isinstance(payload, dict):
        raise Rejected(400, "body is not a JSON object", f"webhook.{source}.bad_json")
    if source is Source.SENTRY and not sentry_fresh(headers.get("Sentry-Hook-Timestamp"), now_ms):
        raise Rejected(401, "stale or missing Sentry-Hook-Timestamp", f"webhook.{source}.stale")
    event_type = (headers.get(spec.event_header) or "").strip()
    if source is Source.LINEAR and isinstance(payload.get("type"), str):
        event_type = payload["type"]
    if not event_type:
        raise Rejected(400, f"missing {spec.event_header} header", f"webhook.{source}.no_event")
    action = payload.get("action")
    return Verified(
        source=source,
        delivery_id=delivery_id(headers.get(spec.delivery_header), body),
        event_type=event_type,
        action=action if isinstance(action, str) else None,
        payload=payload,
    )
