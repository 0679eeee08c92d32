-- Inbox reliability (issue 10, issue 11 defect 7): a dead-letter state, replay detection by body hash,
-- an index for the retry query, webhook bodies readable as jsonb even when they hold \u0000, retention.

-- 'dead': processing failed for a reason retrying cannot cure (a parse error, a value PostgreSQL refuses,
-- attempts used up). Listed by `python app.py deliveries`, replayable, never retried by the job.
ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_status_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check
    CHECK (status IN ('received', 'processed', 'ignored', 'failed', 'dead'));
UPDATE webhook_deliveries SET status = 'dead' WHERE status = 'failed' AND next_attempt_at IS NULL;

-- The same signed body under a new delivery id is a replay: one row per (source, sha256 of the body).
-- Rows stored before this migration keep NULL where their body repeats an older row's.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS body_sha256 bytea;
UPDATE webhook_deliveries d SET body_sha256 = f.digest
FROM (SELECT DISTINCT ON (source, sha256(body)) id, sha256(body) AS digest
      FROM webhook_deliveries ORDER BY source, sha256(body), id) f
WHERE d.id = f.id AND d.body_sha256 IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS webhook_deliveries_body_key ON webhook_deliveries (source, body_sha256);

-- The retry query: failed rows by next attempt (webhook_deliveries_retry_idx), and rows left 'received'
-- by a crash, by arrival. Retention: finished rows by arrival.
CREATE INDEX IF NOT EXISTS webhook_deliveries_received_idx ON webhook_deliveries (received_at)
    WHERE status = 'received';
CREATE INDEX IF NOT EXISTS webhook_deliveries_finished_idx ON webhook_deliveries (received_at)
    WHERE status IN ('processed', 'ignored');

-- A stored body as jsonb. PostgreSQL's jsonb refuses \u0000 and lone surrogates, which JSON allows: those
-- escapes are then kept as visible text (\\u0000), as the service's own parser does; NULL when unreadable.
CREATE OR REPLACE FUNCTION webhook_body_jsonb(body bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    doc text;
BEGIN
    doc := convert_from(body, 'UTF8');
    BEGIN
        RETURN doc::jsonb;
    EXCEPTION WHEN untranslatable_character OR invalid_text_representation THEN
        RETURN regexp_replace(doc, '\\u(0000|d[89a-f][0-9a-f]{2})', '\\\\u\1', 'gi')::jsonb;
    END;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

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
CROSS JOIN LATERAL (SELECT webhook_body_jsonb(d.body) AS doc) b
WHERE d.source = 'github' AND d.event_type = 'workflow_run' AND d.action = 'completed';

CREATE OR REPLACE VIEW github_pull_request_events AS
SELECT d.id AS delivery_id,
       d.received_at,
       d.action,
       b.doc -> 'repository' ->> 'full_name' AS repository,
       (b.doc -> 'pull_request' ->> 'number')::integer AS number,
       b.doc -> 'pull_request' ->> 'html_url' AS url,
       COALESCE((b.doc -> 'pull_request' ->> 'merged')::boolean, false) AS merged,
       (b.doc -> 'pull_request' ->> 'created_at')::timestamptz AS created_at,
       (b.doc -> 'pull_request' ->> 'merged_at')::timestamptz AS merged_at
FROM webhook_deliveries d
CROSS JOIN LATERAL (SELECT webhook_body_jsonb(d.body) AS doc) b
WHERE d.source = 'github' AND d.event_type = 'pull_request';

INSERT INTO agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'webhooks.retention',
    '{"days": 30}'::jsonb,
    'How long processed and ignored webhook deliveries are kept (days) before the webhooks.retention job '
    'deletes them; failed and dead ones are kept until replayed. Identical bodies are recognised as replays '
    'for as long as the first one is kept.',
    '{"type": "object", "properties": {"days": {"type": "integer", "minimum": 1, "maximum": 3650}},
      "required": ["days"], "additionalProperties": false}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
