-- The setting read by the incident Escalate button (domain/incidents/actions.py). Seeded once with its
-- default; an operator changes it through PUT /api/v1/config/{key} or the console.

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'incidents.escalation',
    '{}'::jsonb,
    'The Slack user group (S…) mentioned in an incident''s thread when someone escalates it to a severity, '
    'e.g. {"high": "S0614TZR7", "critical": "S0123ABCD"}. Escalate raises the severity one step '
    '(low -> medium -> high -> critical); a severity without a group mentions nobody.',
    '{
        "type": "object",
        "propertyNames": {"enum": ["medium", "high", "critical"]},
        "additionalProperties": {"type": "string", "pattern": "^S[A-Z0-9]{2,}$"}
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
