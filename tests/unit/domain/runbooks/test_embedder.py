"""The lexical embedder: placeholders for what differs between occurrences, and what it keeps apart."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time

from domain.runbooks import embedder
from domain.runbooks.config import DEFAULT_THRESHOLDS
from tests.conftest import FIXTURES


def incident(title: str, message: str = "", services: tuple[str, ...] = ("api",), error_type: str = "") -> dict:
    return {
        "incident_type": "application_error",
        "title": title,
        "error_message": message,
        "affected_services": list(services),
        "error_details": {"error_type": error_type} if error_type else {},
    }


def test_normalise_replaces_ids_hosts_paths_lines_hex_quotes_and_numbers() -> None:
    text = (
        "Job 4a1c3e9b-0b7f-4c41-9a36-3f0e6a1b2c3d on db-primary-3.payments.internal (10.0.3.12:5432) "
        "failed at /srv/app/jobs/run.py line 88 with 0xdeadbeef and 'user_42' after 3000ms"
    )
    assert embedder.normalise(text) == (
        "job <uuid> on <host> ( <host> ) failed at <path> <line> with <hex> and <str> after <num>"
    )


def test_vectors_are_deterministic_unit_length_and_384_wide() -> None:
    a = embedder.embed_incident(incident("KeyError: 'user_id'"))
    assert a == embedder.embed_incident(incident("KeyError: 'user_id'"))
    assert len(a) == embedder.DIMS == 384
    assert abs(sum(v * v for v in a) - 1.0) < 1e-9


def test_the_same_error_is_found_across_ids_hosts_and_line_numbers() -> None:
    a = embedder.embed_incident(
        incident("TimeoutError: GET https://billing.internal/v1/invoices/8812 timed out", "after 30000ms at line 41")
    )
    b = embedder.embed_incident(
        incident("TimeoutError: GET https://billing.internal/v1/invoices/9113 timed out", "after 45000ms at line 57")
    )
    assert embedder.cosine(a, b) > 0.98


def test_different_errors_of_one_service_and_one_message_in_two_services_are_kept_apart() -> None:
    threshold = DEFAULT_THRESHOLDS["lexical"]
    key_error = ("KeyError: 'customer_id'", "in charge handler")
    key = embedder.embed_incident(incident(*key_error, ("payments",), "KeyError"))
    timeout = embedder.embed_incident(
        incident("TimeoutError: stripe timed out", "after 30s", ("payments",), "TimeoutError")
    )
    other_service = embedder.embed_incident(incident(*key_error, ("orders",), "KeyError"))
    assert embedder.cosine(key, timeout) < 0.5
    assert embedder.cosine(key, other_service) < threshold


def test_the_labelled_set_embeds_fast_enough_in_pure_python() -> None:
    items = json.loads((FIXTURES / "runbooks" / "labelled.json").read_text())["items"]
    started = time.perf_counter()
    for item in itertools.islice(itertools.cycle(items), 200):
        embedder.embed_incident(item)
    assert (time.perf_counter() - started) / 200 < 0.05  # about 1 ms on an idle core; roomy for a loaded machine


def _dense(fields: dict[str, str]) -> list[float]:
    """The embedding as first written: every field a dense block of DIMS, nothing cached."""

    def unit(v: list[float]) -> list[float]:
        norm = math.sqrt(sum(x * x for x in v))
        return [x / norm for x in v] if norm else v

    vector = [0.0] * embedder.DIMS
    for name, text in fields.items():
        block = [0.0] * embedder.DIMS
        for feature, weight in embedder.features(text).items():
            digest = int.from_bytes(hashlib.blake2b(f"{name}:{feature}".encode(), digest_size=8).digest(), "big")
            block[digest % embedder.DIMS] += (1.0 if (digest >> 63) & 1 else -1.0) * weight
        for i, v in enumerate(unit(block)):
            vector[i] += embedder.FIELD_WEIGHTS.get(name, 1.0) * v
    return unit(vector)


def test_the_sparse_cached_embedding_gives_the_same_floats_as_the_dense_one() -> None:
    items = json.loads((FIXTURES / "runbooks" / "labelled.json").read_text())["items"]
    items += [incident(""), incident("x", services=()), incident("timeout timeout timeout", "the of and")]
    for item in items * 2:  # the second round from the caches
        fields = embedder.incident_fields(item)
        assert embedder.embed_fields(fields) == _dense(fields)
    first = embedder.embed_incident(items[0])
    first[0] = 42.0
    assert embedder.embed_incident(items[0]) == _dense(embedder.incident_fields(items[0]))
