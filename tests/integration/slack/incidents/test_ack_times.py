"""The ack time of each new incident button, modal submission and /incident, against GET /healthz in the
same run (printed; ``pytest -s`` shows it). Timings are measured, never asserted: only that Slack got its
200 every time."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientResponse

from domain.incidents.messages import ActionId, Field, declare_modal, resolve_modal
from tests.conftest import bearer
from tests.integration.slack.incidents.world import Incidents, click_payload, submission_payload

ROUNDS = 15


async def timed(send: Callable[[], Awaitable[ClientResponse]]) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await send()
        assert response.status == 200, await response.text()
        await response.read()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def test_ack_time_of_each_new_button_against_healthz(incidents: Incidents) -> None:
    await incidents.world.client.post(
        "/api/v1/events",
        json={"source_agent_id": "triage-agent", "source_agent_type": "triage", "event_type": "triage.ready"},
        headers=bearer(),
    )
    incident = await incidents.open_sentry()
    value, block = str(incident["id"]), f"incident:{incident['id']}"
    resolve_view = resolve_modal({"id": value, "incident_number": 1, "title": "bench"}, "C0INCIDENTS")
    declare_view = declare_modal("", "C0INCIDENTS")

    def click(action: str, val: str | None, **kw: Any) -> Callable[[], Awaitable[ClientResponse]]:
        return lambda: incidents.interact(click_payload(action, val, user="U0BENCH", **kw))

    cases: dict[str, Callable[[], Awaitable[ClientResponse]]] = {
        "GET /healthz": lambda: incidents.world.client.get("/healthz"),
        "Approve (existing approvals button, for comparison)": click("approval_approve", str(uuid.uuid4())),
        "Acknowledge": click(ActionId.ACKNOWLEDGE, value),
        "Mitigating": click(ActionId.MITIGATE, value),
        "Escalate": click(ActionId.ESCALATE, f"{value}:high"),
        "Assign to agent": click(ActionId.ASSIGN, None, block_id=block, selected="triage-agent"),
        "Resolve (opens the modal)": click(ActionId.RESOLVE, value),
        "/incident (opens the modal)": lambda: incidents.slash("Checkout 502s"),
        "resolve modal submit (refused: summary missing)": lambda: incidents.interact(
            submission_payload(resolve_view, "U0BENCH", **{Field.SUMMARY: ""})
        ),
        "declare modal submit (stores, then acks)": lambda: incidents.interact(
            submission_payload(
                declare_view, "U0BENCH", view_id="V0BENCH", **{Field.TITLE: "Bench", Field.SEVERITY: "low"}
            )
        ),
    }
    results = {name: await timed(send) for name, send in cases.items()}
    base = statistics.median(results["GET /healthz"])
    print(f"\nack times over {ROUNDS} signed requests each (ms; same app, same run)")
    print(f"{'request':50} {'median':>8} {'p95':>8} {'x healthz':>10}")
    for name, times in results.items():
        p95 = sorted(times)[int(0.95 * (len(times) - 1))]
        median = statistics.median(times)
        print(f"{name:50} {median:8.2f} {p95:8.2f} {median / base:10.1f}")
