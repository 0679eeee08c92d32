"""The lexical embedder: an incident's text as a 384-dimension vector, offline, deterministic, pure.

1. ``normalise`` lower-cases the text and replaces what differs between occurrences of the same error with
   placeholders: UUIDs, URLs, e-mail addresses, IP addresses and host names (``<host>``), file paths,
   line numbers, hexadecimal values, quoted values and numbers.
2. Features: each word token (weight 1, sublinear in its count), and the character trigrams of each word
   with boundary marks (weight 0.25 in total per word), so ``connection``/``connections`` stay close.
   Fields weigh differently (``FIELD_WEIGHTS``): the error type and message carry the identity of an
   error, the service tells apart the same message in two services, the incident type only a little.
3. Signed feature hashing: blake2b of ``field:feature`` picks one of 384 dimensions and a sign, so
   collisions cancel on average instead of adding up.
4. The vector is L2-normalised: cosine similarity is then a dot product, and pgvector's ``<=>`` is 1 - it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

DIMS = 384
MODEL = "lexical-v1"

_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), " <uuid> "),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+"), " <url> "),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), " <email> "),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), " <host> "),
    (re.compile(r"\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|dev|internal|local|cloud|svc|cluster)(?::\d+)?\b"), " <host> "),
    (re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*-\d+[a-z0-9-]*(?::\d+)?\b"), " <host> "),
    (re.compile(r"(?:[a-z]:)?(?:[\\/][\w.@~-]+){2,}[\\/]?"), " <path> "),
    (re.compile(r"\bline \d+\b|:\d+(?::\d+)?\b"), " <line> "),
    (re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b"), " <hex> "),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|`[^`\n]{0,200}`"), " <str> "),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|kb|mb|gb|%)?\b"), " <num> "),
)
_TOKEN = re.compile(r"<[a-z]+>|[a-z_][a-z0-9_]*")
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were with".split()
)
FIELD_WEIGHTS: Mapping[str, float] = {
    "type": 0.5,
    "error_type": 1.5,
    "title": 1.0,
    "message": 1.0,
    "service": 1.2,
}
NGRAM_WEIGHT = 0.25


def normalise(text: str) -> str:
    """``text`` with its per-occurrence details (ids, hosts, paths, numbers ...) replaced by placeholders."""
    out = text.lower()
    for pattern, placeholder in _SUBSTITUTIONS:
        out = pattern.sub(placeholder, out)
    return " ".join(out.split())


def tokens(text: str) -> list[str]:
    """The word tokens of the normalised text, stop words left out."""
    return [t for t in _TOKEN.findall(normalise(text)) if t not in STOP_WORDS]


def _trigrams(word: str) -> list[str]:
    if word.startswith("<"):
        return []
    marked = f"^{word}$"
    return [marked[i : i + 3] for i in range(len(marked) - 2)]


def features(fields: Mapping[str, str]) -> dict[str, float]:
    """Weighted features of each field: words (sublinear in their count) and their character trigrams."""
    weights: dict[str, float] = {}
    for name, text in fields.items():
        field_weight = FIELD_WEIGHTS.get(name, 1.0)
        for word, count in Counter(tokens(text)).items():
            word_weight = field_weight * (1.0 + math.log(count))
            key = f"{name}:{word}"
            weights[key] = weights.get(key, 0.0) + word_weight
            grams = _trigrams(word)
            for gram in grams:
                gram_key = f"{name}#{gram}"
                weights[gram_key] = weights.get(gram_key, 0.0) + word_weight * NGRAM_WEIGHT / len(grams)
    return weights


def _slot(feature: str) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    return digest % DIMS, (1.0 if (digest >> 63) & 1 else -1.0)


def embed_fields(fields: Mapping[str, str]) -> list[float]:
    """The L2-normalised signed-hash vector of ``fields`` (all zeros for text without any token)."""
    vector = [0.0] * DIMS
    for feature, weight in features(fields).items():
        index, sign = _slot(feature)
        vector[index] += sign * weight
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def incident_fields(incident: Mapping[str, Any]) -> dict[str, str]:
    """What is embedded of an incident (or a pattern shaped like one): type, error type, title, message,
    services."""
    details = incident.get("error_details") or {}
    error_type = details.get("error_type") if isinstance(details, Mapping) else None
    services: Iterable[str] = incident.get("affected_services") or ()
    return {
        "type": str(incident.get("incident_type") or ""),
        "error_type": str(error_type or ""),
        "title": str(incident.get("title") or ""),
        "message": str(incident.get("error_message") or ""),
        "service": " ".join(str(s).replace("-", "_") for s in services),
    }


def incident_text(incident: Mapping[str, Any]) -> str:
    """One line of text for an embedder that reads prose (e5)."""
    f = incident_fields(incident)
    head = f"{f['type']} in {f['service']}" if f["service"] else f["type"]
    parts = [head, f["error_type"], f["title"], f["message"]]
    return ". ".join(p for p in parts if p)


def embed_incident(incident: Mapping[str, Any]) -> list[float]:
    return embed_fields(incident_fields(incident))


def cosine(a: list[float], b: list[float]) -> float:
    """Dot product of two L2-normalised vectors."""
    return sum(x * y for x, y in zip(a, b, strict=True))
