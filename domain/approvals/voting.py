"""The SQL of one person's vote: two statements in the caller's transaction, the race settled in PostgreSQL.

``LOCK_FOR_VOTE`` takes the request's row lock (it serialises the votes on one request) and reads what the
vote needs: the row, the requester and ``approvals.quorum``. ``VOTE`` then casts the vote and, in the same
statement, closes the request when this vote decides it: the status, the edit or reject option kept, the
``agent_actions`` audit row, the outbox rows for Slack and the NOTIFY for long-polls. It must be a
statement of its own after the lock: under READ COMMITTED a statement sees what committed before it
began, so the count of earlier votes taken after the lock sees every vote committed before this one (a
count in the locking statement would miss a vote committed while it waited for the lock).
"""

from __future__ import annotations

from db.listen import AFTER_COMMIT

LOCK_FOR_VOTE_TEMPLATE = """
SELECT {columns},
       (SELECT requested_by FROM approval_request_extras x WHERE x.approval_id = a.id) AS requested_by,
       (SELECT config_value FROM agent_swarm_config WHERE config_key = 'approvals.quorum') AS quorum{quiet}
FROM approval_requests a
WHERE a.id = $1 AND a.status = 'pending' AND a.expires_at > now()
FOR UPDATE OF a
"""

# $1 request, $2 voter, $3 'approve' | 'reject', $4 edited details, $5 reject option, $6 approvals needed,
# $7 the status a decision sets, $8 reason, $9 the service's agent id (the audit row's author).
# ``cast`` is null for a second vote of the same person (the primary key); the ``d_`` columns are null
# unless this vote closed the request.
VOTE_TEMPLATE = """
WITH cast_vote AS (
    INSERT INTO approval_votes (approval_id, voter, vote, edited_details, reject_option)
    VALUES ($1::uuid, $2::text, $3::text, $4::jsonb, $5::text)
    ON CONFLICT (approval_id, voter) DO NOTHING
    RETURNING vote
), tally AS (
    SELECT c.vote,
           (SELECT count(*) FROM approval_votes v WHERE v.approval_id = $1::uuid AND v.vote = 'approve')
             + (c.vote = 'approve')::int AS approvals
    FROM cast_vote c
), decided AS (
    UPDATE approval_requests a
    SET status = $7::text, resolved_by = $2::text, resolved_at = now(), rejection_reason = $8::text
    FROM tally t
    WHERE a.id = $1::uuid AND a.status = 'pending' AND a.expires_at > now()
      AND (t.vote = 'reject' OR t.approvals >= $6::int)
    RETURNING {a_columns}
), kept AS (
    UPDATE approval_request_extras x
    SET edited_details = CASE WHEN $3::text = 'approve' THEN coalesce($4::jsonb, (
            SELECT v.edited_details FROM approval_votes v
            WHERE v.approval_id = $1::uuid AND v.vote = 'approve' AND v.edited_details IS NOT NULL
            ORDER BY v.created_at DESC LIMIT 1
        )) ELSE x.edited_details END,
        reject_option = CASE WHEN $3::text = 'reject' AND $5::text IS NOT NULL THEN $5::text ELSE x.reject_option END
    FROM decided d
    WHERE x.approval_id = d.id
    RETURNING x.edited_details, x.reject_option, x.remembered_from
), audit AS (
    INSERT INTO agent_actions (agent_name, action_type, action_category, input_context, output_result, success,
                               requires_approval, approval_status, approved_by, approved_at)
    SELECT $9::text, 'approval.' || $7::text, 'approval',
           jsonb_build_object('approval_id', d.id::text, 'requested_by', d.agent_name, 'action_type', d.action_type,
                              'risk_level', d.risk_level),
           jsonb_build_object('decision', $7::text, 'decided_by', $2::text, 'reason', $8::text),
           true, true, $7::text,
           CASE WHEN $7::text = 'approved' THEN $2::text END,
           CASE WHEN $7::text = 'approved' THEN d.resolved_at END
    FROM decided d
), queued AS (
    INSERT INTO outbox (kind, payload, dedupe_key, next_attempt_at)
    SELECT q.kind, jsonb_build_object('approval_id', $1::uuid::text), 'approval:' || $1::uuid::text || q.what, now()
    FROM decided d
    CROSS JOIN (VALUES ('slack.approval.update', ':update'), ('slack.approval.reply', ':reply')) q (kind, what)
    UNION ALL
    SELECT 'slack.approval.update', jsonb_build_object('approval_id', $1::uuid::text),
           'approval:' || $1::uuid::text || ':votes:' || t.approvals, now()
    FROM tally t
    WHERE t.vote = 'approve' AND t.approvals < $6::int
    ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT t.vote AS cast, t.approvals, k.edited_details AS kept_edit, k.reject_option AS kept_option,
       k.remembered_from, {d_columns},
       CASE WHEN d.id IS NOT NULL AND current_setting('swarm.notify', true) IS DISTINCT FROM 'after_commit'
            THEN pg_notify('approvals', d.id::text) END AS notified
FROM (SELECT 1) one
LEFT JOIN tally t ON true
LEFT JOIN decided d ON true
LEFT JOIN kept k ON true
"""


def statements(columns: str) -> tuple[str, str, str]:
    """(LOCK_FOR_VOTE, LOCK_FOR_VOTE_QUIET, VOTE) for the request's ``columns`` (store.COLUMNS); ``VOTE``
    names them ``d_<column>``. The quiet lock also leaves every NOTIFY of its transaction out, for a caller
    that announces the vote after its commit (db/listen.py)."""
    names = [c.strip() for c in columns.split(",")]
    lock = LOCK_FOR_VOTE_TEMPLATE.format(columns=", ".join(f"a.{n}" for n in names), quiet="")
    quiet = LOCK_FOR_VOTE_TEMPLATE.format(columns=", ".join(f"a.{n}" for n in names), quiet=f", {AFTER_COMMIT}")
    vote = VOTE_TEMPLATE.format(
        a_columns=", ".join(f"a.{n}" for n in names), d_columns=", ".join(f"d.{n} AS d_{n}" for n in names)
    )
    return lock, quiet, vote
