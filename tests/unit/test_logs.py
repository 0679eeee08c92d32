"""One JSON line per event: a field never overwrites the line's own keys."""

from __future__ import annotations

import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

import logs
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


TOKENS = [
    "xoxb-1-a",
    "xoxp-2",
    "xoxa-x",
    "xoxo-y",
    "xoxs-z",
    "xoxr-r",
    "xoxe-e",
    "xapp-1-A",
    "ghp_" + "A1" * 12,
    "gho_" + "a" * 24,
    "ghu_" + "b" * 20,
    "ghs_" + "9" * 20,
    "ghr_" + "Z" * 20,
    "github_pat_" + "b" * 22,
    "lin_api_k",
    "lin_oauth_k",
    "eyJhbGciOi.eyJzdWIi.sig",
    "Bearer abc",
    "BEARER tok",
    "bEaReR\tx",
    "v0=" + "a" * 64,
    "sha256=" + "0" * 64,
    "postgresql://u:pw@h/db",
    "remembered-secret-1",
    'other"secret',
    'other\\"secret',
]
PIECES = st.sampled_from(
    [*TOKENS, "xox", "ghp_", "v0=", "sha256=", "://", "@", ":", "/", " ", "high", "github", "[redacted]", "é", "\n"]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=12).map("".join)


@given(TEXT)
@settings(max_examples=600, deadline=None)
def test_scrub_masks_exactly_what_its_patterns_match_whether_or_not_it_searches(text: str) -> None:
    """The hints only decide when to search: the line comes out as the patterns alone would leave it."""
    logs.remember_secrets(["remembered-secret-1", 'other"secret'])
    assert logs._secret_pattern is not None
    expected = logs.TOKEN_PATTERNS.sub(logs.MASK, logs._secret_pattern.sub(logs.MASK, text))
    assert logs.scrub(text) == expected
