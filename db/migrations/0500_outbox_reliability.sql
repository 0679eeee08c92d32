-- The outbox survives the night: completion fenced on the claim, finished rows pruned, dead rows listable.

-- A fresh token per claim; DONE / RETRY / DEAD apply only `WHERE id = $1 AND lease = $2` (jobs/outbox.py),
-- so a worker whose lease expired cannot write an outcome over another replica's claim.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS lease uuid;

-- The retention job deletes finished rows oldest first; `python app.py outbox` lists the dead ones.
CREATE INDEX IF NOT EXISTS outbox_done_idx ON outbox (done_at) WHERE status = 'done';
CREATE INDEX IF NOT EXISTS outbox_dead_idx ON outbox (id) WHERE status = 'dead';

INSERT INTO agent_swarm_config (config_key, config_value, description, value_schema) VALUES
(
    'outbox.retention', '{"done_days": 7}'::jsonb,
    'How long delivered outbox rows are kept: rows with status done and done_at older than done_days are '
    'deleted by the outbox.retention job (hourly). Dead rows are kept until requeued or removed by hand.',
    '{"type": "object", "properties": {"done_days": {"type": "integer", "minimum": 1, "maximum": 3650}}, '
    '"required": ["done_days"], "additionalProperties": false}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
