"""Structured logs: one JSON line per event, with a dotted event key and flat fields."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_logger = logging.getLogger("swarm_bridge")
RESERVED = ("ts", "level", "event", "message", "exc")  # a field by one of these names is prefixed "field_"

MASK = "[redacted]"
# Credentials by their shape, whoever's they are: Slack tokens, GitHub tokens, Linear keys, JWTs, bearer
# credentials, Slack/GitHub signatures, and the password of a database URL.
TOKEN_PATTERNS = re.compile(
    r"\bxox[abposre]-[A-Za-z0-9-]+"
    r"|\bxapp-[A-Za-z0-9-]+"
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
    r"|\blin_(?:api|oauth)_[A-Za-z0-9]+"
    r"|\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]+"
    r"|\b(?:v0|sha256)=[0-9a-fA-F]{64}"
    r"|(?<=://)[^/@\s:]+:[^/@\s]+(?=@)"
)
# What every TOKEN_PATTERNS match contains (with "bearer" in any case): a line holding none of them cannot
# match, and is not searched. Searching took 27 us of a 40 us access-log line, most lines hold none.
TOKEN_HINTS = (
    "xox", "xapp-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "lin_api_", "lin_oauth_", "eyJ", "v0=",
    "sha256=", "://",
)  # fmt: skip
SENSITIVE_KEY = re.compile(r"signature|authorization|token|secret|password|cookie|api_key", re.IGNORECASE)
MIN_SECRET_LEN = 8  # shorter values (tests' "s") would mask ordinary words
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None


def remember_secrets(values: Iterable[str]) -> None:
    """Add the configured credentials to what ``scrub`` masks (and their JSON-escaped forms)."""
    global _secret_pattern
    for value in values:
        if len(value) >= MIN_SECRET_LEN:
            _secrets.update({value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]})
    if _secrets:
        alternatives = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(v) for v in alternatives))


def scrub(text: str) -> str:
    """``text`` with every remembered secret and every token-shaped value replaced by a mask."""
    if _secret_pattern is not None and any(secret in text for secret in _secrets):
        text = _secret_pattern.sub(MASK, text)
    if any(hint in text for hint in TOKEN_HINTS) or "bearer" in text.lower():
        text = TOKEN_PATTERNS.sub(MASK, text)
    return text


def scrub_value(value: Any) -> Any:
    """A copy of a JSON-like structure (an error report) with every string scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {
            scrub_value(k): MASK if isinstance(k, str) and SENSITIVE_KEY.search(k) and v else scrub_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage() if record.name == "swarm_bridge" else record.name,
        }
        if record.name != "swarm_bridge":
            line["message"] = record.getMessage()
        for key, value in getattr(record, "fields", {}).items():
            line[f"field_{key}" if key in RESERVED else key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(line, default=str))


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a handler bound once outlives a redirected stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def configure(level: int = logging.INFO) -> None:
    handler = _Stderr()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def event(name: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log `name` (e.g. ``webhook.github.invalid_signature``) with structured fields. Never pass secrets."""
    _logger.log(level, name, extra={"fields": fields}, exc_info=exc_info)
