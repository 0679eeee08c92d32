"""A quality test (not a timing one): the lexical embedder's precision and recall on the labelled set at
the seeded threshold. ``bench/runbooks_quality.py`` prints the figures per embedder and threshold."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from domain.runbooks import embedder
from domain.runbooks.config import DEFAULT_THRESHOLDS
from tests.conftest import FIXTURES

LABELLED = FIXTURES / "runbooks" / "labelled.json"
REPO = Path(__file__).resolve().parents[4]


def scored() -> list[tuple[float, bool, str, str]]:
    items = json.loads(LABELLED.read_text())["items"]
    vectors = [embedder.embed_incident(i) for i in items]
    return [
        (embedder.cosine(va, vb), a["group"] == b["group"], a["group"], b["group"])
        for (a, va), (b, vb) in itertools.combinations(zip(items, vectors, strict=True), 2)
    ]


def test_the_labelled_set_covers_variations_and_hard_negatives() -> None:
    items = json.loads(LABELLED.read_text())["items"]
    groups = {i["group"] for i in items}
    assert len(items) >= 30 and len(groups) >= 15
    for item in items:
        if "recorded" in item:  # the recorded payload really carries this incident's title
            assert item["title"].split(": ", 1)[-1].split(" on ")[0] in (REPO / item["recorded"]).read_text()


def test_lexical_precision_and_recall_at_the_seeded_threshold() -> None:
    threshold = DEFAULT_THRESHOLDS["lexical"]
    pairs = scored()
    tp = sum(1 for s, same, *_ in pairs if same and s >= threshold)
    fp = [(a, b, round(s, 3)) for s, same, a, b in pairs if not same and s >= threshold]
    fn = [(a, b, round(s, 3)) for s, same, a, b in pairs if same and s < threshold]
    precision, recall = tp / max(tp + len(fp), 1), tp / max(tp + len(fn), 1)
    assert precision >= 1.0, fp
    assert recall >= 1.0, fn
