"""GitHub security alerts -> security_alert incidents keyed by (alert kind, repository, alert number).

A secret scanning alert is critical; a Dependabot alert takes its advisory's severity, a code scanning
alert its rule's. The alert fixed, resolved or dismissed resolves the incident; the alert reopened opens a
new one on the same key (a resolved incident stays resolved, as for a Sentry regression).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from db import locks
from domain.incidents import fix_timeline
from domain.incidents import store as incidents
from domain.incidents.rules import Transition, is_open
from domain.incidents.store import NewIncident
from integrations.github.payloads import SecurityAlert


async def on_alert(conn: asyncpg.Connection, alert: SecurityAlert, *, now: datetime) -> None:
    if not (alert.opens or alert.closes):
        return
    await locks.xact_lock(conn, locks.incident("github", alert.key))
    current = await incidents.latest_by_key(conn, "github", alert.key)
    open_now = current if current is not None and is_open(current.status) else None
    if alert.closes:
        if open_now is not None:
            await incidents.transition(
                conn, open_now.id, Transition.RESOLVE, now=now, by="github", note=f"alert {alert.action}"
            )
            fixes = await fix_timeline.for_incident(conn, open_now.id)
            await fix_timeline.complete_if_unset(conn, fixes, alert.at or now, alert.action)
        return
    if open_now is not None:
        return
    incident = await incidents.open_incident(
        conn,
        NewIncident(
            severity=alert.severity,
            incident_type="security_alert",
            source="github",
            source_id=alert.key,
            title=f"Security alert: {alert.title} in {alert.repository} (#{alert.number})",
            error_message=f"{alert.kind.value.replace('_', ' ')} {alert.action}",
            error_details={
                "kind": alert.kind.value,
                "repository": alert.repository,
                "number": alert.number,
                "url": alert.url,
                "reopened_from": str(current.id) if current is not None and alert.reopens else None,
            },
            affected_services=(alert.repository,),
            detected_at=alert.at,
        ),
        now=now,
    )
    await fix_timeline.create(
        conn,
        fix_timeline.NewFix(
            error_type=alert.kind.value,
            source="github",
            detected_at=alert.at or now,
            severity=alert.severity,
            metadata={"incident_id": str(incident.id), "alert_key": alert.key},
        ),
    )
