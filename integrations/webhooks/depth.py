"""How deeply a JSON text nests, counted on the raw text before it is parsed.

``json.loads`` recurses once per level: a body of 50,000 ``[`` raises RecursionError (a 500), and one
a little shallower is stored as jsonb that PostgreSQL may refuse later. Every JSON body the service
accepts is checked here first. A body with fewer brackets than the limit cannot nest deeper, which
settles nearly every real request with two ``count`` calls; only bracket-heavy bodies are scanned.
"""

from __future__ import annotations

import re
from itertools import accumulate

MAX_DEPTH = 64
STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
STEP = [0] * 256
STEP[ord("[")] = STEP[ord("{")] = 1
STEP[ord("]")] = STEP[ord("}")] = -1


def too_deep(body: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON text ``body`` nests arrays and objects more than ``limit`` levels deep
    (brackets inside strings do not count; for text that is not JSON the answer may be either)."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = STRING.sub(b"", raw).translate(None, NOT_BRACKETS)
    return max(accumulate(map(STEP.__getitem__, brackets)), default=0) > limit
