-- Settings read by the approvals feature (domain/approvals.py, handlers/slack/approvals.py).
-- Seeded once with their defaults; an operator changes them through PUT /api/v1/config/{key}.

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'approvals.approvers',
    '{}'::jsonb,
    'Who may decide approval requests, per risk level: Slack user ids (U…/W…) and user-group ids (S…). '
    'With no list for a level, anyone in the channel may decide low and medium; high and critical are '
    'refused until a list is configured. Group membership is resolved with usergroups.users.list (cached 60 s).',
    '{
        "type": "object",
        "propertyNames": {"enum": ["low", "medium", "high", "critical"]},
        "additionalProperties": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[UWS][A-Z0-9]{2,}$"},
            "uniqueItems": true
        }
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'approvals.channels',
    '{}'::jsonb,
    'The Slack channel id for approval messages per risk level, e.g. {"critical": "C0123ABCD"}. '
    'A request''s own channel wins; without either, SLACK_APPROVALS_CHANNEL is used.',
    '{
        "type": "object",
        "propertyNames": {"enum": ["low", "medium", "high", "critical"]},
        "additionalProperties": {"type": "string", "pattern": "^[CG][A-Z0-9]{2,}$"}
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
