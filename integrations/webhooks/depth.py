"""JSON with a bounded nesting depth.

``json.loads`` recurses once per level: a body of 50,000 ``[`` raised RecursionError (a 500), and a
value a little shallower breaks the recursive code that reads it later. Every JSON body the service
accepts goes through ``loads`` here. A text with fewer brackets than the limit cannot nest deeper, which
settles nearly every request with two ``count`` calls; a bracket-heavy body is parsed (RecursionError
means too deep) and its containers walked level by level, which costs a fraction of the parse
(``bench/json_depth.py``). A scan of the raw text cost more than the parse on real GitHub payloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

MAX_DEPTH = 64
# orjson reads an integer past 64 bits as a float; the standard library keeps it whole. A body with a run of
# 19 digits goes to the standard library, found by mapping every digit to 0 (5 us on 8 KB; a regex took 70).
DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
LONG_DIGITS = b"0" * 19
CONTAINERS = frozenset({dict, list})  # what json.loads builds; exact types, as the walk compares them


class TooDeep(ValueError):
    """JSON nested deeper than the limit."""


def _bracket_count(text: str | bytes) -> int:
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")


def decode(text: str | bytes) -> Any:
    """``json.loads(text)``'s value, by orjson where that is the same value (twice as fast on a webhook
    body): bytes without a 19-digit run that orjson accepts. What orjson refuses (lone surrogates, NaN,
    UTF-16, a BOM, nesting past 1,024) is left to the standard library, which accepts or refuses it."""
    if isinstance(text, bytes) and LONG_DIGITS not in text.translate(DIGITS_AS_ZERO):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def deeper_than(value: Any, limit: int) -> bool:
    """True when arrays and objects in ``value`` nest more than ``limit`` levels (a walk without recursion)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        below: list[Any] = []
        for item in level:
            below += [c for c in (item.values() if type(item) is dict else item) if type(c) in CONTAINERS]
        if not below:
            return False
        level = below
    return bool(level)


def loads(text: str | bytes, *, limit: int = MAX_DEPTH, parse: Callable[[Any], Any] = decode) -> Any:
    """``parse(text)``, refusing with TooDeep JSON nested more than ``limit`` levels (other ValueErrors
    mean it is not JSON)."""
    try:
        value = parse(text)
    except RecursionError as exc:
        raise TooDeep(f"JSON nested deeper than {limit} levels") from exc
    if _bracket_count(text) > limit and deeper_than(value, limit):
        raise TooDeep(f"JSON nested deeper than {limit} levels")
    return value


def too_deep(text: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether valid JSON ``text`` nests more than ``limit`` levels (False for text that is not JSON)."""
    try:
        loads(text, limit=limit)
    except TooDeep:
        return True
    except ValueError:
        return False
    return False
