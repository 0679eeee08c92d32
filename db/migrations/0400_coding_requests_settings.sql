-- Coding requests (issue 5): the settings the service reads, with their JSON Schemas.

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'coding_requests.linear_labels',
    '["coding-agent"]'::jsonb,
    'Linear label names (compared case-insensitively) that turn a Linear issue into a coding request when the '
    'issue is created with one of them or one is added later.',
    '{"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": true}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'coding_requests.assigned_agent',
    '"coding-agent"'::jsonb,
    'The agent id new coding requests are assigned to; coding_request.created is targeted at it on the bus.',
    '{"type": "string", "minLength": 1, "maxLength": 100}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

-- "My open requests" (slash command `mine`, App Home) look requests up by requester.
CREATE INDEX IF NOT EXISTS coding_requests_requested_by_idx
    ON public.coding_requests (requested_by_id, created_at DESC);
-- Pull request webhooks link requests by branch name.
CREATE INDEX IF NOT EXISTS coding_requests_branch_name_idx
    ON public.coding_requests (branch_name) WHERE branch_name IS NOT NULL;
