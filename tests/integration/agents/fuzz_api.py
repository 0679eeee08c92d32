"""Schemathesis against a running app: ``python -m tests.integration.agents.fuzz_api BASE_URL TOKEN``.

Run in a process of its own by test_openapi.py: hypothesis and schemathesis parse source with ``ast`` and
CPython 3.11's ast module is not safe to use from two threads at once (the app serves from the other).
Exit status 0 when no operation gave a 5xx or an answer off its schema; the report goes to stderr.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES_PER_OPERATION = 30
SKIP = {("GET", "/api/v1/events/stream")}  # an endless stream: covered by tests/integration/agents/test_events.py


def fuzz(base_url: str, token: str) -> int:
    with urllib.request.urlopen(base_url + "/api/v1/openapi.json", timeout=10) as response:
        document: dict[str, Any] = json.load(response)
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {token}"}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        run()
        operations += 1
    return operations


if __name__ == "__main__":
    count = fuzz(sys.argv[1], sys.argv[2])
    print(json.dumps({"operations": count}))
