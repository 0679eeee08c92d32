"""Structured logs: one JSON line per event, with a dotted event key and flat fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_logger = logging.getLogger("swarm_bridge")
RESERVED = ("ts", "level", "event", "message", "exc")  # a field by one of these names is prefixed "field_"


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
        return json.dumps(line, default=str)


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
