"""``depth.decode`` gives ``json.loads``'s answer for every input: the same value (orjson where it agrees)
or a ValueError where the standard library refuses too. Hypothesis writes JSON values the way senders
serialise them, with the shapes where orjson differs: integers past 64 bits, lone surrogates, NaN, BOMs,
UTF-16, control characters, raw bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.webhooks.depth import decode

BIG = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([2**63, -(2**63) - 1, 2**64, 2**64 - 1])
SCALARS = st.none() | st.booleans() | BIG | st.floats(allow_nan=True, allow_infinity=True) | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and type(a) is type(b)


def answer(body: bytes) -> tuple[str, Any]:
    try:
        return "value", json.loads(body)
    except (ValueError, RecursionError) as exc:
        return "refused", type(exc)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from(["compact", "spaced", "ascii", "bom", "utf-16"]))
def test_decode_is_json_loads_on_what_senders_write(value: Any, style: str) -> None:
    text = json.dumps(value, separators=(",", ":") if style == "compact" else None, ensure_ascii=style == "ascii")
    body = {
        "bom": b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"),
        "utf-16": text.encode("utf-16", "surrogatepass"),
    }.get(style, text.encode("utf-8", "surrogatepass"))
    kind, expected = answer(body)
    if kind == "refused":
        try:
            decode(body)
        except ValueError:
            return
        raise AssertionError("decode accepted what json.loads refuses")
    got = decode(body)
    assert same(got, expected), (body[:200], got, expected)
    assert all(type(x) is type(y) for x, y in zip(_leaves(got), _leaves(expected), strict=True))


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=64) | st.text(max_size=40).map(lambda t: ('{"a":' + t + "}").encode("utf-8", "surrogatepass"))
)
def test_decode_refuses_or_agrees_on_any_bytes(body: bytes) -> None:
    kind, expected = answer(body)
    try:
        got = decode(body)
    except ValueError:
        assert kind == "refused", body
        return
    assert kind == "value" and same(got, expected), (body, got, expected)


def test_integers_past_64_bits_stay_whole() -> None:
    assert decode(b'{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}
    assert decode(b"[-9223372036854775809, 18446744073709551615]") == [-9223372036854775809, 18446744073709551615]


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for k in sorted(value) for leaf in _leaves(value[k])]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]
