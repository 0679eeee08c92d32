-- Approvals that do not just wait (issue 16): votes and quorums, escalation steps, what a request declares
-- beyond the seed's columns, pending dedupe and the settings that drive them. Internal tables: only the
-- service's own (owner) connection touches them.

-- What a request declares beyond the seed's columns, and what its decision carried (edits, a reject option).
CREATE TABLE IF NOT EXISTS approval_request_extras (
    approval_id     uuid PRIMARY KEY REFERENCES public.approval_requests (id) ON DELETE CASCADE,
    requested_by    text,
    editable        jsonb,
    reject_options  jsonb NOT NULL DEFAULT '[]'::jsonb,
    edited_details  jsonb,
    reject_option   text,
    remembered_from uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One vote per person per request: the primary key settles two racing clicks of the same person.
CREATE TABLE IF NOT EXISTS approval_votes (
    approval_id    uuid NOT NULL REFERENCES public.approval_requests (id) ON DELETE CASCADE,
    voter          text NOT NULL,
    vote           text NOT NULL CHECK (vote IN ('approve', 'reject')),
    edited_details jsonb,
    reject_option  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (approval_id, voter)
);

-- Each escalation step of a request, once (reminded, widened) and the watchdog's report (undeliverable).
CREATE TABLE IF NOT EXISTS approval_escalations (
    approval_id uuid NOT NULL REFERENCES public.approval_requests (id) ON DELETE CASCADE,
    step        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (approval_id, step)
);

-- An identical request (agent, action type, canonical details: jsonb's text form sorts keys and drops
-- whitespace) while one is pending is the pending one: settled by this index, not by a read in Python.
CREATE UNIQUE INDEX IF NOT EXISTS approval_requests_pending_identical_idx
    ON public.approval_requests (agent_name, action_type, md5(action_details::text))
    WHERE status = 'pending';

-- Earlier decisions of one agent and action type, newest first (precedent and rejection memory).
CREATE INDEX IF NOT EXISTS approval_requests_agent_action_idx
    ON public.approval_requests (agent_name, action_type, resolved_at DESC)
    WHERE status IN ('approved', 'rejected');

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'approvals.escalation',
    '{}'::jsonb,
    'Escalation of unanswered approval requests per risk level, e.g. {"high": {"after_s": 900}}. After '
    'after_s a reminder mentioning the approvers goes to the request''s thread and a DM to each listed '
    'approver; after widen_after_s more (default: after_s again) the approvers of the next risk level may '
    'decide too. Each step is published as approval.escalated to the agent. Expiry still applies.',
    '{
        "type": "object",
        "propertyNames": {"enum": ["low", "medium", "high", "critical"]},
        "additionalProperties": {
            "type": "object",
            "required": ["after_s"],
            "additionalProperties": false,
            "properties": {
                "after_s": {"type": "integer", "minimum": 10},
                "widen_after_s": {"type": "integer", "minimum": 10}
            }
        }
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'approvals.quorum',
    '{}'::jsonb,
    'How many distinct allowed people must approve a request, per risk level, e.g. {"critical": 2} '
    '(default 1). One reject rejects it. The requester (requested_by) never votes.',
    '{
        "type": "object",
        "propertyNames": {"enum": ["low", "medium", "high", "critical"]},
        "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 20}
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'approvals.rejection_memory',
    '{"seconds": 86400}'::jsonb,
    'For how long a rejection is remembered: an identical request (same agent, action type and details) '
    'made within this time after a rejection is answered at once as rejected, naming the earlier decision. '
    '{"seconds": 0} turns it off.',
    '{
        "type": "object",
        "required": ["seconds"],
        "additionalProperties": false,
        "properties": {"seconds": {"type": "integer", "minimum": 0, "maximum": 2592000}}
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
