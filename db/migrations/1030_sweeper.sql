-- The delivery-gap sweeper (issue 12, domain/sweeper/): its runs (the drift report of GET /api/v1/sweeps),
-- the GitHub redeliveries it asked for, and its settings. Internal tables: only the service's own role.

-- One row per sweep: what was checked, found missing, redelivered and healed, per source in `sources`.
CREATE TABLE IF NOT EXISTS sweeper_runs (
    id           bigserial PRIMARY KEY,
    trigger      text NOT NULL CHECK (trigger IN ('job', 'command')),
    since        timestamptz NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    checked      integer NOT NULL DEFAULT 0,
    missing      integer NOT NULL DEFAULT 0,
    redelivered  integer NOT NULL DEFAULT 0,
    healed       integer NOT NULL DEFAULT 0,
    sources      jsonb NOT NULL DEFAULT '{}'::jsonb,
    error        text
);
CREATE INDEX IF NOT EXISTS sweeper_runs_started_idx ON sweeper_runs (started_at DESC, id DESC);

-- A GitHub delivery (by its X-GitHub-Delivery guid, per hook) the sweeper asked GitHub to send again.
-- The row is the claim: a second sweeper asks again only after `sweeper.redeliver_after_s`.
CREATE TABLE IF NOT EXISTS sweeper_redeliveries (
    hook          text NOT NULL,
    guid          text NOT NULL,
    delivery_id   bigint NOT NULL,
    event         text,
    run_id        bigint REFERENCES sweeper_runs (id) ON DELETE SET NULL,
    attempts      integer NOT NULL DEFAULT 1,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    outcome       text,
    PRIMARY KEY (hook, guid)
);

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema) VALUES
(
    'sweeper.github_hooks', '[]'::jsonb,
    'GitHub hooks whose recent deliveries the delivery-gap sweeper compares with webhook_deliveries (by '
    'X-GitHub-Delivery) and asks GitHub to redeliver when we never stored them: '
    '{"type": "repository", "repository": "owner/name", "hook_id": 123}, '
    '{"type": "organization", "organization": "org", "hook_id": 456} or {"type": "app"} '
    '(app hooks need GITHUB_TOKEN to be accepted by /app/hook/deliveries).',
    '{
        "type": "array",
        "items": {"oneOf": [
            {"type": "object", "required": ["type", "repository", "hook_id"], "additionalProperties": false,
             "properties": {"type": {"const": "repository"},
                            "repository": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"},
                            "hook_id": {"type": "integer", "minimum": 1}}},
            {"type": "object", "required": ["type", "organization", "hook_id"], "additionalProperties": false,
             "properties": {"type": {"const": "organization"},
                            "organization": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
                            "hook_id": {"type": "integer", "minimum": 1}}},
            {"type": "object", "required": ["type"], "additionalProperties": false,
             "properties": {"type": {"const": "app"}}}
        ]}
    }'::jsonb
),
(
    'sweeper.interval_s', '600'::jsonb,
    'Seconds between two runs of the delivery-gap sweeper job (sweeper.run); it looks every 30 s whether one is due.',
    '{"type": "integer", "minimum": 60, "maximum": 86400}'::jsonb
),
(
    'sweeper.lookback_s', '86400'::jsonb,
    'How far back (seconds) each job run of the sweeper lists GitHub hook deliveries (GitHub keeps 3 days).',
    '{"type": "integer", "minimum": 600, "maximum": 259200}'::jsonb
),
(
    'sweeper.settle_s', '120'::jsonb,
    'GitHub deliveries younger than this (seconds) are left alone by the sweeper: they may still be in flight.',
    '{"type": "integer", "minimum": 0, "maximum": 3600}'::jsonb
),
(
    'sweeper.redeliver_after_s', '3600'::jsonb,
    'A delivery the sweeper asked GitHub to redeliver is asked again only after this many seconds.',
    '{"type": "integer", "minimum": 60, "maximum": 259200}'::jsonb
),
(
    'sweeper.batch_size', '50'::jsonb,
    'How many Linear issues (one GraphQL query) or Sentry issues (one REST call) the sweeper reads at once.',
    '{"type": "integer", "minimum": 1, "maximum": 100}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;
