"""The stored body's parse skips the ``storable`` walk only where the walk would change nothing."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.inbox import may_hold_unstorable, storable

SPECIAL = st.sampled_from(["a", "\u00e9", "\U0001f600", "\x00", "\ud800", "\udfff", "\\", '"', "u", "0"])
TEXT = st.text(alphabet=SPECIAL | st.characters(codec=None, exclude_categories=()), max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def parsed(body: bytes) -> Any:
    value = json.loads(body)
    return storable(value) if may_hold_unstorable(body) else value


@settings(max_examples=400, deadline=None)
@given(JSON, st.booleans(), st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_the_skipped_walk_would_have_changed_nothing(value: Any, ascii_only: bool, encoding: str) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        body = text.encode(encoding, "surrogatepass")
    except UnicodeEncodeError:
        return
    assert parsed(body) == storable(json.loads(body))


def test_what_takes_the_walk() -> None:
    assert not may_hold_unstorable(b'{"a":"x","b":"\\u00e9"}')
    assert not may_hold_unstorable('{"a":"é😀"}'.encode())
    assert may_hold_unstorable(b'{"a":"\\u0000"}')
    assert may_hold_unstorable(b'{"a":"\\uDBFF"}') and may_hold_unstorable(b'{"a":"\\udc00"}')
    assert may_hold_unstorable(b'"\xed\xa0\x80"')  # a surrogate encoded as UTF-8: json.loads lets it through
    assert may_hold_unstorable('{"a":1}'.encode("utf-16"))
