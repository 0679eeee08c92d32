-- Webhook ingestion (issue 3): fix_metrics intervals kept by the database, Linear echo memory,
-- a queryable view of GitHub workflow runs for analytics, lookup indexes, and the settings it reads.

-- fix_metrics intervals always equal the differences of their timestamps, whoever writes the row.
CREATE OR REPLACE FUNCTION fix_metrics_intervals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.time_to_acknowledge := NEW.acknowledged_at - NEW.detected_at;
    NEW.time_to_fix_start := NEW.fix_started_at - NEW.detected_at;
    NEW.time_to_resolution := NEW.fix_completed_at - NEW.detected_at;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS fix_metrics_intervals ON public.fix_metrics;
CREATE TRIGGER fix_metrics_intervals BEFORE INSERT OR UPDATE ON public.fix_metrics
    FOR EACH ROW EXECUTE FUNCTION fix_metrics_intervals();

-- Changes this service made in Linear (identifier + the updatedAt Linear answered): the webhook that
-- echoes such a change is recognised and not applied again.
CREATE TABLE IF NOT EXISTS linear_own_changes (
    identifier  text NOT NULL,
    updated_at  timestamptz NOT NULL,
    operation   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (identifier, updated_at)
);

CREATE INDEX IF NOT EXISTS infrastructure_incidents_source_key_idx
    ON public.infrastructure_incidents (source, source_id, created_at DESC);
CREATE INDEX IF NOT EXISTS infrastructure_incidents_sentry_issue_idx
    ON public.infrastructure_incidents (sentry_issue_id, created_at DESC) WHERE sentry_issue_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS fix_metrics_sentry_issue_idx ON public.fix_metrics (sentry_issue_id, created_at DESC);
CREATE INDEX IF NOT EXISTS fix_metrics_linear_issue_idx ON public.fix_metrics (linear_issue_id);
CREATE INDEX IF NOT EXISTS webhook_deliveries_kind_idx ON webhook_deliveries (source, event_type, received_at);

-- Every completed GitHub workflow run that was delivered, any branch: what analytics counts.
CREATE OR REPLACE VIEW github_workflow_runs AS
SELECT d.id AS delivery_id,
       d.received_at,
       b.doc -> 'repository' ->> 'full_name' AS repository,
       COALESCE(NULLIF(b.doc -> 'workflow' ->> 'name', ''), NULLIF(b.doc -> 'workflow_run' ->> 'name', ''),
                b.doc -> 'workflow_run' ->> 'path') AS workflow,
       b.doc -> 'workflow_run' ->> 'head_branch' AS branch,
       (b.doc -> 'workflow_run' ->> 'head_branch') = (b.doc -> 'repository' ->> 'default_branch') AS on_default_branch,
       b.doc -> 'workflow_run' ->> 'conclusion' AS conclusion,
       (b.doc -> 'workflow_run' ->> 'id')::bigint AS run_id,
       (b.doc -> 'workflow_run' ->> 'updated_at')::timestamptz AS completed_at
FROM webhook_deliveries d
CROSS JOIN LATERAL (SELECT convert_from(d.body, 'UTF8')::jsonb AS doc) b
WHERE d.source = 'github' AND d.event_type = 'workflow_run' AND d.action = 'completed';

INSERT INTO agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'linear.routing',
    '{"sentry_projects": {}}'::jsonb,
    'Which Linear team (its key, e.g. ENG) gets the issue opened for a new Sentry issue, by Sentry project slug. '
    'Projects not listed go to LINEAR_TEAM_KEY.',
    '{"type": "object", "properties": {"sentry_projects": {"type": "object",
      "additionalProperties": {"type": "string", "pattern": "^[A-Z0-9]{1,10}$"}}},
      "required": ["sentry_projects"], "additionalProperties": false}'::jsonb
), (
    'webhooks.retry',
    '{"max_attempts": 8, "base_delay_s": 30}'::jsonb,
    'Retry of webhook deliveries whose processing failed: attempts before giving up, first delay (doubles each time).',
    '{"type": "object", "properties": {"max_attempts": {"type": "integer", "minimum": 1},
      "base_delay_s": {"type": "number", "minimum": 1}}, "required": ["max_attempts", "base_delay_s"],
      "additionalProperties": false}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
