"""What a request declares beyond the seed's columns (requester, editable schema, reject options), what its
decision carried (edited details, the chosen reject option), and its votes so far. Internal tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from domain.approvals.rules import NewApproval

INSERT_EXTRAS = """
INSERT INTO approval_request_extras (approval_id, requested_by, editable, reject_options, remembered_from)
VALUES ($1, $2, $3, $4, $5)
"""
EXTRAS = """
SELECT requested_by, editable, reject_options, edited_details, reject_option, remembered_from
FROM approval_request_extras WHERE approval_id = $1
"""
VOTES = "SELECT voter, vote FROM approval_votes WHERE approval_id = $1 ORDER BY created_at, voter"


@dataclass(frozen=True)
class Extras:
    """What a request declared beyond the seed's columns, and what its decision carried."""

    requested_by: str | None = None
    editable: dict[str, Any] | None = None
    reject_options: tuple[str, ...] = ()
    edited_details: dict[str, Any] | None = None
    reject_option: str | None = None
    remembered_from: uuid.UUID | None = None
    votes: tuple[tuple[str, str], ...] = field(default=())

    def continuation_extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.edited_details is not None:
            out["edited_details"] = self.edited_details
        if self.reject_option is not None:
            out["reject_option"] = self.reject_option
        if self.remembered_from is not None:
            out["remembered_from"] = str(self.remembered_from)
            out["rejected_by_memory"] = True
        return out


async def insert_extras(
    conn: asyncpg.Connection, approval_id: uuid.UUID, new: NewApproval, *, remembered_from: uuid.UUID | None
) -> None:
    await conn.execute(
        INSERT_EXTRAS, approval_id, new.requested_by, new.editable, list(new.reject_options), remembered_from
    )


async def extras(conn: asyncpg.Connection | asyncpg.Pool, approval_id: uuid.UUID) -> Extras:
    row = await conn.fetchrow(EXTRAS, approval_id)
    votes = tuple((r["voter"], r["vote"]) for r in await conn.fetch(VOTES, approval_id))
    if row is None:
        return Extras(votes=votes)
    return Extras(
        requested_by=row["requested_by"],
        editable=row["editable"],
        reject_options=tuple(row["reject_options"] or ()),
        edited_details=row["edited_details"],
        reject_option=row["reject_option"],
        remembered_from=row["remembered_from"],
        votes=votes,
    )
