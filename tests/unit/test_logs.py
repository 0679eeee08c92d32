"""One JSON line per event: a field never overwrites the line's own keys."""

from __future__ import annotations

import json
import logging

from logs import JsonFormatter


def _line(name: str, **fields: object) -> dict[str, object]:
    record = logging.LogRecord("swarm_bridge", logging.INFO, __file__, 1, name, None, None)
    record.fields = fields
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_a_field_named_event_keeps_the_event_name() -> None:
    line = _line("webhook.github.processed", delivery="d-1", event="pull_request", level="x", ts="y")
    assert line["event"] == "webhook.github.processed" and line["level"] == "info"
    assert (line["field_event"], line["field_level"], line["field_ts"]) == ("pull_request", "x", "y")
    assert line["delivery"] == "d-1"
