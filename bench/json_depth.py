"""The bounded ``loads`` of integrations/webhooks/depth.py against plain json.loads, per body shape.

.venv/bin/python bench/json_depth.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from integrations.webhooks.depth import loads

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"


def per_call(fn: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def main() -> None:
    bodies = {
        "recorded Sentry issue webhook": (FIXTURES / "sentry" / "issue.created.json").read_bytes(),
        "recorded GitHub workflow_run": (FIXTURES / "github" / "workflow_run.failure.json").read_bytes(),
        "small API body": b'{"agent_name":"a","action_type":"t","action_details":{"x":1},"risk_level":"low"}',
        "1 MB of [[1],[1],...]": json.dumps([[1]] * 200_000).encode(),
        "88 kB of strings full of brackets": json.dumps(["[{" * 20] * 2000).encode(),
    }
    for name, body in bodies.items():
        n = max(10, 2_000_000 // len(body))
        bounded, parse = per_call(lambda b=body: loads(b), n), per_call(lambda b=body: json.loads(b), n)
        print(
            f"{name:36} {len(body):>9} B  bounded loads {bounded * 1e6:9.1f} us  json.loads {parse * 1e6:9.1f} us"
            f"  ratio {bounded / parse:5.2f}"
        )


if __name__ == "__main__":
    main()
