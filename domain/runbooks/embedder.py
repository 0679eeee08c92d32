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

import functools
import hashlib
import math
import operator
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
    "type": 0.3,
    "error_type": 0.5,
    "title": 1.0,
    "message": 0.8,
    "service": 0.8,
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
    return list(_tokens(text))


@functools.lru_cache(maxsize=1024)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in _TOKEN.findall(normalise(text)) if t not in STOP_WORDS)


def _trigrams(word: str) -> list[str]:
    if word.startswith("<"):
        return []
    marked = f"^{word}$"
    return [marked[i : i + 3] for i in range(len(marked) - 2)]


def features(text: str) -> dict[str, float]:
    """Weighted features of one field: words (sublinear in their count) and their character trigrams."""
    weights: dict[str, float] = {}
    for word, count in Counter(_tokens(text)).items():
        word_weight = 1.0 + math.log(count)
        weights[word] = weights.get(word, 0.0) + word_weight
        grams = _trigrams(word)
        for gram in grams:
            weights["#" + gram] = weights.get("#" + gram, 0.0) + word_weight * NGRAM_WEIGHT / len(grams)
    return weights


@functools.lru_cache(maxsize=16384)
def _slot(feature: str) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    return digest % DIMS, (1.0 if (digest >> 63) & 1 else -1.0)


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(map(operator.mul, vector, vector)))
    return [v / norm for v in vector] if norm else vector


def embed_fields(fields: Mapping[str, str]) -> list[float]:
    """Each field hashed into its own unit vector, the fields summed by ``FIELD_WEIGHTS``, L2-normalised
    (all zeros for text without any token). A field's share of the similarity is thus fixed by its
    weight, not by how long its text is: one differing service weighs the same beside a long message.
    Identical fields give the identical vector from a small cache (bursts of one error repeat their text)."""
    return list(_embed(tuple(fields.items())))


@functools.lru_cache(maxsize=128)
def _embed(fields: tuple[tuple[str, str], ...]) -> tuple[float, ...]:
    vector = [0.0] * DIMS
    for name, text in fields:
        field_weight = FIELD_WEIGHTS.get(name, 1.0)
        for i, v in _field_unit(name, text):
            vector[i] += field_weight * v
    return tuple(_unit(vector))


@functools.lru_cache(maxsize=1024)
def _field_unit(name: str, text: str) -> tuple[tuple[int, float], ...]:
    """One field's unit vector, sparse: (index, value) of its non-empty dimensions in index order. The
    same arithmetic in the same order as over all DIMS (a zero adds nothing to a sum), so the same floats.
    Cached: an incident's type, error type and service repeat far more than its text."""
    block: dict[int, float] = {}
    for feature, weight in features(text).items():
        index, sign = _slot(f"{name}:{feature}")
        block[index] = block.get(index, 0.0) + sign * weight
    touched = sorted(block)
    norm = math.sqrt(sum([block[i] * block[i] for i in touched]))
    return tuple((i, block[i] / norm) for i in touched) if norm else ()


def incident_fields(incident: Mapping[str, Any]) -> dict[str, str]:
    """What is embedded of an incident (or a pattern shaped like one): type, error type, title, message,
    services."""
    details = incident.get("error_details") or {}
    # A CI failure's "error type" is its workflow.
    error_type = (details.get("error_type") or details.get("workflow")) if isinstance(details, Mapping) else None
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
