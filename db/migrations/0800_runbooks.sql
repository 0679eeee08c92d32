-- Runbooks that learn (domain/runbooks): settings, the internal tables that record what the runbooks job
-- has done (matches, learnings, outcomes, per-version evidence), and the indexes that keep its scans cheap.

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'runbooks.embedder',
    '"lexical"'::jsonb,
    'Which embedder builds incident and pattern embeddings: "lexical" (offline, deterministic, no download) '
    'or "e5" (multilingual-e5-small 4-bit, needs pip install -e ''.[semantic]''). After a change run '
    '`python app.py reembed`; until then new incidents are embedded with the new one and old rows keep theirs.',
    '{"type": "string", "enum": ["lexical", "e5"]}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'runbooks.match_threshold',
    '{"lexical": 0.88, "e5": 0.99}'::jsonb,
    'Cosine similarity an incident must reach to match a runbook pattern, per embedder (e5 similarities are '
    'compressed: different errors of one service reach 0.98, so its threshold is 0.99). Calibrated on '
    'tests/fixtures/runbooks/labelled.json.',
    '{
        "type": "object",
        "properties": {
            "lexical": {"type": "number", "minimum": 0, "maximum": 1},
            "e5": {"type": "number", "minimum": 0, "maximum": 1}
        },
        "additionalProperties": false
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'runbooks.learn_after',
    '86400'::jsonb,
    'Seconds a resolved incident must stay resolved without regressing before its fix counts as a success '
    'of the runbook pattern it taught (a regression before then counts as a failure).',
    '{"type": "integer", "minimum": 0, "maximum": 2592000}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'runbooks.auto_lower_bound',
    '0.8'::jsonb,
    'Automatic execution needs success_count >= auto_execute_threshold AND the Wilson lower bound (95%) of '
    'the success rate >= this value (3 of 3 gives only 0.44).',
    '{"type": "number", "minimum": 0, "maximum": 1}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'runbooks.executor_agent',
    '"runbook-executor"'::jsonb,
    'The agent that receives runbook.execute events on the bus (auto mode, and approved executions).',
    '{"type": "string", "minLength": 1, "maxLength": 200}'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

INSERT INTO public.agent_swarm_config (config_key, config_value, description, value_schema)
VALUES (
    'runbooks.promotion',
    '{"min_incidents": 10, "min_agreement": 0.9}'::jsonb,
    'When a shadowed or approval-gated version agrees with what people did on at least min_incidents '
    'incidents with a mean agreement >= min_agreement and no regression, the critical-level approvers are '
    'asked to let it run by itself.',
    '{
        "type": "object",
        "required": ["min_incidents", "min_agreement"],
        "properties": {
            "min_incidents": {"type": "integer", "minimum": 1},
            "min_agreement": {"type": "number", "minimum": 0, "maximum": 1}
        },
        "additionalProperties": false
    }'::jsonb
)
ON CONFLICT (config_key) DO NOTHING;

-- Internal tables carry no foreign keys to the seed's tables, so truncating those (tests, operators) is
-- never refused; rows about a deleted incident or pattern are inert.
-- The best match of each incident (one row per incident: it is matched once, when first embedded).
CREATE TABLE IF NOT EXISTS public.runbook_matches (
    incident_id     uuid PRIMARY KEY,
    pattern_id      uuid,
    version         integer,
    score           double precision,
    mode            text CHECK (mode IN ('auto', 'approval', 'shadow', 'suggest')),
    proposed_steps  jsonb NOT NULL DEFAULT '[]'::jsonb,
    approval_id     uuid,
    embedder        text NOT NULL,
    matched_at      timestamptz NOT NULL DEFAULT now()
);

-- Each resolution the job has learned from; counted once the fix held (or failed by a regression).
CREATE TABLE IF NOT EXISTS public.runbook_learnings (
    incident_id     uuid NOT NULL,
    resolved_at     timestamptz NOT NULL,
    pattern_id      uuid,
    how             text NOT NULL,
    learned_at      timestamptz NOT NULL DEFAULT now(),
    counted_at      timestamptz,
    PRIMARY KEY (incident_id, resolved_at)
);
CREATE INDEX IF NOT EXISTS runbook_learnings_uncounted_idx
    ON public.runbook_learnings (resolved_at) WHERE counted_at IS NULL AND pattern_id IS NOT NULL;

-- One outcome per pattern version and incident: reported by the executor, or a fix that held or regressed.
CREATE TABLE IF NOT EXISTS public.runbook_outcomes (
    pattern_id          uuid NOT NULL,
    incident_id         uuid NOT NULL,
    success             boolean NOT NULL,
    resolution_time_ms  integer,
    source              text NOT NULL,
    reported_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pattern_id, incident_id)
);

-- Per version: shadow/approval agreement with what people did, regressions, the promotion request.
CREATE TABLE IF NOT EXISTS public.runbook_evidence (
    pattern_id              uuid PRIMARY KEY,
    compared                integer NOT NULL DEFAULT 0,
    agreement_sum           double precision NOT NULL DEFAULT 0,
    regressions             integer NOT NULL DEFAULT 0,
    timed                   integer NOT NULL DEFAULT 0,
    time_sum_ms             bigint NOT NULL DEFAULT 0,
    promotion_approval_id   uuid,
    promoted_at             timestamptz
);

-- Which embedder made the stored embeddings (one row), so a changed setting is visible until `reembed`.
CREATE TABLE IF NOT EXISTS public.runbook_embedder_state (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    model       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Incidents still to embed and match: the job reads this partial index, not the table.
CREATE INDEX IF NOT EXISTS infrastructure_incidents_unembedded_idx
    ON public.infrastructure_incidents (created_at) WHERE embedding IS NULL;
-- Resolved incidents by resolution time, for the learning scan.
CREATE INDEX IF NOT EXISTS infrastructure_incidents_resolved_idx
    ON public.infrastructure_incidents (resolved_at) WHERE status = 'resolved';
-- A version has at most one successor: two concurrent edits of one version cannot both win.
CREATE UNIQUE INDEX IF NOT EXISTS runbook_patterns_previous_version_key
    ON public.runbook_patterns (previous_version_id) WHERE previous_version_id IS NOT NULL;

-- A changed title, error, type or service list makes the incident's embedding stale: clear it so the
-- runbooks job embeds it again (the incidents code need not know).
CREATE OR REPLACE FUNCTION public.runbooks_stale_embedding() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.title IS DISTINCT FROM OLD.title OR NEW.error_message IS DISTINCT FROM OLD.error_message
       OR NEW.incident_type IS DISTINCT FROM OLD.incident_type
       OR NEW.affected_services IS DISTINCT FROM OLD.affected_services
       OR NEW.error_details -> 'error_type' IS DISTINCT FROM OLD.error_details -> 'error_type' THEN
        NEW.embedding := NULL;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS runbooks_stale_embedding ON public.infrastructure_incidents;
CREATE TRIGGER runbooks_stale_embedding
    BEFORE UPDATE OF title, error_message, incident_type, affected_services, error_details
    ON public.infrastructure_incidents
    FOR EACH ROW EXECUTE FUNCTION public.runbooks_stale_embedding();
