-- The agents' side: settings the event bus, costs, metrics and analytics read, the dirty-hour queue
-- that makes a late agent action re-roll its hour of agent_metrics, and the rollup's time index.

INSERT INTO agent_swarm_config (config_key, config_value, description, value_schema) VALUES
(
    'costs.daily_budgets_usd', '{}'::jsonb,
    'Daily spending budget per agent in USD as exact decimal strings, e.g. {"triage-agent": "12.50", "*": "5"}; '
    '"*" is the default for agents not listed. Crossing a budget posts one Slack alert per agent per UTC day.',
    '{"type": "object", "additionalProperties": {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,6})?$"}}'::jsonb
),
(
    'costs.alert_channel', 'null'::jsonb,
    'Slack channel id for budget alerts; null uses SLACK_INCIDENTS_CHANNEL.',
    '{"type": ["string", "null"], "minLength": 1}'::jsonb
),
(
    'analytics.ai_reviewers', '["claude[bot]", "claude"]'::jsonb,
    'GitHub logins whose pull request reviews count as AI reviews in automation_analytics.',
    '{"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": true}'::jsonb
),
(
    'analytics.repositories', '[]'::jsonb,
    'Repositories ("owner/name") that `python app.py analytics --backfill` reads from the GitHub API.',
    '{"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"}, "uniqueItems": true}'::jsonb
),
(
    'analytics.period_days', '7'::jsonb,
    'Length in days of an automation_analytics period (periods start on UTC midnights, aligned to 1970-01-05, a Monday).',
    '{"type": "integer", "minimum": 1, "maximum": 90}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

-- Rollups scan actions by time.
CREATE INDEX IF NOT EXISTS agent_actions_created_idx ON public.agent_actions (created_at);

-- Hours of agent_metrics to roll (again): marked by triggers when an action lands in an hour, changes or
-- goes, or when an incident an agent acted on is resolved. The job deletes what it rolls. The mark is an
-- upsert that locks the hour's row until the writer commits, so the job's DELETE waits for that commit
-- and its rollup then sees the action (no late action is skipped).
CREATE TABLE IF NOT EXISTS agent_metrics_dirty (
    bucket_start timestamptz PRIMARY KEY,
    marks        bigint NOT NULL DEFAULT 1
);

CREATE OR REPLACE FUNCTION agent_metrics_mark_action() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO agent_metrics_dirty (bucket_start) VALUES (date_trunc('hour', NEW.created_at, 'UTC'))
        ON CONFLICT (bucket_start) DO UPDATE SET marks = agent_metrics_dirty.marks + 1;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO agent_metrics_dirty (bucket_start) VALUES (date_trunc('hour', OLD.created_at, 'UTC'))
        ON CONFLICT (bucket_start) DO UPDATE SET marks = agent_metrics_dirty.marks + 1;
    END IF;
    RETURN NULL;
END
$$;

-- Statement-level for inserts (one mark per hour per statement, cheap for bulk loads), row-level otherwise.
CREATE OR REPLACE FUNCTION agent_metrics_mark_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO agent_metrics_dirty (bucket_start)
    SELECT DISTINCT date_trunc('hour', created_at, 'UTC') FROM inserted_actions ORDER BY 1
    ON CONFLICT (bucket_start) DO UPDATE SET marks = agent_metrics_dirty.marks + 1;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS agent_metrics_mark_inserted ON public.agent_actions;
CREATE TRIGGER agent_metrics_mark_inserted AFTER INSERT ON public.agent_actions
    REFERENCING NEW TABLE AS inserted_actions
    FOR EACH STATEMENT EXECUTE FUNCTION agent_metrics_mark_inserted();

DROP TRIGGER IF EXISTS agent_metrics_mark_action ON public.agent_actions;
CREATE TRIGGER agent_metrics_mark_action AFTER UPDATE OR DELETE ON public.agent_actions
    FOR EACH ROW EXECUTE FUNCTION agent_metrics_mark_action();

-- An incident's counts live in the hour of the first agent action on it (see domain/metrics.py).
CREATE OR REPLACE FUNCTION agent_metrics_mark_incident() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO agent_metrics_dirty (bucket_start)
    SELECT date_trunc('hour', min(a.created_at), 'UTC') FROM agent_actions a WHERE a.incident_id = NEW.id
    HAVING min(a.created_at) IS NOT NULL
    ON CONFLICT (bucket_start) DO UPDATE SET marks = agent_metrics_dirty.marks + 1;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS agent_metrics_mark_incident ON public.infrastructure_incidents;
CREATE TRIGGER agent_metrics_mark_incident
    AFTER UPDATE OF status, resolved_at, resolved_by, time_to_resolve_ms, created_at
    ON public.infrastructure_incidents
    FOR EACH ROW EXECUTE FUNCTION agent_metrics_mark_incident();
