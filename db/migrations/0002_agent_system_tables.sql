-- The twelve tables of the Agent System group, exactly as spec/agent-system-tables.txt gives them.
-- IF NOT EXISTS throughout: on a database that already holds the seed, the tables are adopted as they are.

CREATE SEQUENCE IF NOT EXISTS public.infrastructure_incidents_incident_number_seq AS integer;
CREATE SEQUENCE IF NOT EXISTS public.coding_requests_request_number_seq AS integer;

-- Inter-agent communication bus backed by Supabase Realtime
CREATE TABLE IF NOT EXISTS public.agent_events (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    source_agent_id          text NOT NULL,
    source_agent_type        text NOT NULL,
    event_type               text NOT NULL,
    payload                  jsonb NOT NULL DEFAULT '{}'::jsonb,
    target_agent_ids         text[] DEFAULT '{}'::text[],
    correlation_id           uuid,
    created_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_events_pkey PRIMARY KEY (id)
);

-- Complete audit trail of all actions taken by agents in the swarm
CREATE TABLE IF NOT EXISTS public.agent_actions (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    agent_name               text NOT NULL,
    agent_version            text DEFAULT '1.0.0'::text,
    action_type              text NOT NULL,
    action_category          text,
    incident_id              uuid,
    helpdesk_ticket_id       uuid,
    coding_request_id        uuid,
    input_context            jsonb NOT NULL DEFAULT '{}'::jsonb,
    output_result            jsonb NOT NULL DEFAULT '{}'::jsonb,
    success                  boolean NOT NULL,
    error_message            text,
    execution_time_ms        integer,
    workflow_run_id          text,
    workflow_job_id          text,
    requires_approval        boolean DEFAULT false,
    approval_status          text,
    approved_by              text,
    approved_at              timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_actions_pkey PRIMARY KEY (id)
);

-- Performance metrics aggregated by hour for the swarm
CREATE TABLE IF NOT EXISTS public.agent_metrics (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    bucket_start             timestamptz NOT NULL,
    bucket_end               timestamptz NOT NULL,
    agent_name               text NOT NULL,
    actions_total            integer NOT NULL DEFAULT 0,
    actions_successful       integer NOT NULL DEFAULT 0,
    actions_failed           integer NOT NULL DEFAULT 0,
    avg_execution_time_ms    integer,
    p50_execution_time_ms    integer,
    p95_execution_time_ms    integer,
    p99_execution_time_ms    integer,
    incidents_detected       integer DEFAULT 0,
    incidents_auto_resolved  integer DEFAULT 0,
    incidents_escalated      integer DEFAULT 0,
    mttr_ms                  integer,
    created_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_metrics_pkey PRIMARY KEY (id),
    CONSTRAINT agent_metrics_bucket_start_agent_name_key UNIQUE (bucket_start, agent_name)
);

-- agent_costs
CREATE TABLE IF NOT EXISTS public.agent_costs (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    agent_id                 text NOT NULL,
    cost_type                text NOT NULL,
    amount_usd               numeric NOT NULL,
    description              text,
    metadata                 jsonb DEFAULT '{}'::jsonb,
    created_at               timestamptz DEFAULT now(),
    CONSTRAINT agent_costs_pkey PRIMARY KEY (id)
);

-- Runtime configuration for agent behavior
CREATE TABLE IF NOT EXISTS public.agent_swarm_config (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    config_key               text NOT NULL,
    config_value             jsonb NOT NULL,
    description              text,
    value_schema             jsonb,
    updated_by               text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_swarm_config_pkey PRIMARY KEY (id),
    CONSTRAINT agent_swarm_config_config_key_key UNIQUE (config_key)
);

-- Tracks all infrastructure incidents detected and handled by the agent swarm
CREATE TABLE IF NOT EXISTS public.infrastructure_incidents (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    incident_number          integer NOT NULL DEFAULT nextval('infrastructure_incidents_incident_number_seq'::regclass),
    severity                 text NOT NULL,
    status                   text NOT NULL DEFAULT 'detected'::text,
    incident_type            text NOT NULL,
    source                   text NOT NULL,
    source_id                text,
    affected_services        text[] NOT NULL DEFAULT '{}'::text[],
    title                    text NOT NULL,
    error_message            text,
    error_details            jsonb DEFAULT '{}'::jsonb,
    sentry_issue_id          text,
    linear_issue_id          text,
    slack_channel_id         text,
    slack_thread_ts          text,
    github_workflow_run_id   text,
    embedding                vector(384),
    resolution_steps         jsonb DEFAULT '[]'::jsonb,
    resolution_summary       text,
    resolved_by              text,
    resolved_at              timestamptz,
    time_to_detect_ms        integer,
    time_to_mitigate_ms      integer,
    time_to_resolve_ms       integer,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT infrastructure_incidents_pkey PRIMARY KEY (id),
    CONSTRAINT infrastructure_incidents_incident_number_key UNIQUE (incident_number)
);

-- Learned patterns from resolved incidents for future automation
CREATE TABLE IF NOT EXISTS public.runbook_patterns (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    pattern_name             text NOT NULL,
    pattern_type             text NOT NULL,
    trigger_conditions       jsonb NOT NULL DEFAULT '{}'::jsonb,
    automated_steps          jsonb NOT NULL DEFAULT '[]'::jsonb,
    requires_approval        boolean NOT NULL DEFAULT false,
    auto_execute_threshold   integer DEFAULT 3,
    usage_count              integer NOT NULL DEFAULT 0,
    success_count            integer NOT NULL DEFAULT 0,
    failure_count            integer NOT NULL DEFAULT 0,
    avg_resolution_time_ms   integer,
    description              text,
    embedding                vector(384),
    version                  integer NOT NULL DEFAULT 1,
    previous_version_id      uuid,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    last_used_at             timestamptz,
    CONSTRAINT runbook_patterns_pkey PRIMARY KEY (id),
    CONSTRAINT runbook_patterns_pattern_name_key UNIQUE (pattern_name)
);

-- sentry_error_mappings
CREATE TABLE IF NOT EXISTS public.sentry_error_mappings (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    sentry_issue_id          text NOT NULL,
    linear_issue_id          text NOT NULL,
    error_type               text NOT NULL,
    team_key                 text NOT NULL,
    status                   text NOT NULL DEFAULT 'open'::text,
    event_count              integer NOT NULL DEFAULT 1,
    first_seen_at            timestamptz NOT NULL DEFAULT now(),
    last_seen_at             timestamptz NOT NULL DEFAULT now(),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sentry_error_mappings_pkey PRIMARY KEY (id),
    CONSTRAINT sentry_error_mappings_sentry_issue_id_key UNIQUE (sentry_issue_id)
);

-- fix_metrics
CREATE TABLE IF NOT EXISTS public.fix_metrics (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    error_type               text NOT NULL,
    linear_issue_id          text,
    sentry_issue_id          text,
    github_pr_url            text,
    source                   text NOT NULL DEFAULT 'unknown'::text,
    team_key                 text,
    severity                 text,
    detected_at              timestamptz NOT NULL DEFAULT now(),
    acknowledged_at          timestamptz,
    fix_started_at           timestamptz,
    fix_completed_at         timestamptz,
    time_to_acknowledge      interval,
    time_to_fix_start        interval,
    time_to_resolution       interval,
    fix_successful           boolean,
    fix_method               text,
    regression_occurred      boolean DEFAULT false,
    commit_sha               text,
    notes                    text,
    metadata                 jsonb DEFAULT '{}'::jsonb,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fix_metrics_pkey PRIMARY KEY (id)
);

-- automation_analytics
CREATE TABLE IF NOT EXISTS public.automation_analytics (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    period_start             timestamptz NOT NULL,
    period_days              integer NOT NULL DEFAULT 7,
    prs_total                integer NOT NULL DEFAULT 0,
    prs_merged               integer NOT NULL DEFAULT 0,
    claude_reviews           integer NOT NULL DEFAULT 0,
    claude_issues_found      integer NOT NULL DEFAULT 0,
    claude_critical_issues   integer NOT NULL DEFAULT 0,
    ci_runs                  integer NOT NULL DEFAULT 0,
    ci_failures              integer NOT NULL DEFAULT 0,
    linear_issues            integer NOT NULL DEFAULT 0,
    linear_completed         integer NOT NULL DEFAULT 0,
    linear_ci_failure_issues integer NOT NULL DEFAULT 0,
    linear_sentry_issues     integer NOT NULL DEFAULT 0,
    pr_merge_rate            numeric,
    ci_success_rate          numeric,
    review_coverage          numeric,
    created_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT automation_analytics_pkey PRIMARY KEY (id)
);

-- Feature requests and bug fixes from Slack/Linear handled by the coding agent
CREATE TABLE IF NOT EXISTS public.coding_requests (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    request_number           integer NOT NULL DEFAULT nextval('coding_requests_request_number_seq'::regclass),
    source                   text NOT NULL,
    source_id                text NOT NULL,
    source_url               text,
    title                    text NOT NULL,
    description              text,
    request_type             text NOT NULL DEFAULT 'feature'::text,
    priority                 text NOT NULL DEFAULT 'medium'::text,
    estimated_complexity     text,
    status                   text NOT NULL DEFAULT 'pending'::text,
    implementation_plan      jsonb DEFAULT '{}'::jsonb,
    files_to_create          text[] DEFAULT '{}'::text[],
    files_to_modify          text[] DEFAULT '{}'::text[],
    test_files               text[] DEFAULT '{}'::text[],
    branch_name              text,
    pr_number                integer,
    pr_url                   text,
    pr_status                text,
    assigned_agent           text DEFAULT 'coding-agent'::text,
    requested_by_id          text,
    requested_by_name        text,
    requested_by_email       text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    started_at               timestamptz,
    completed_at             timestamptz,
    CONSTRAINT coding_requests_pkey PRIMARY KEY (id),
    CONSTRAINT coding_requests_request_number_key UNIQUE (request_number)
);

-- approval_requests
CREATE TABLE IF NOT EXISTS public.approval_requests (
    id                       uuid NOT NULL DEFAULT gen_random_uuid(),
    agent_name               varchar(100) NOT NULL,
    action_type              varchar(100) NOT NULL,
    action_details           jsonb NOT NULL,
    risk_level               varchar(20) NOT NULL DEFAULT 'medium'::character varying,
    status                   varchar(50) NOT NULL DEFAULT 'pending'::character varying,
    slack_channel_id         varchar(50),
    slack_message_ts         varchar(50),
    slack_thread_ts          varchar(50),
    resolved_by              varchar(255),
    resolved_at              timestamptz,
    rejection_reason         text,
    continuation_event_type  varchar(100),
    continuation_payload     jsonb,
    expires_at               timestamptz NOT NULL DEFAULT (now() + '24:00:00'::interval),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT approval_requests_pkey PRIMARY KEY (id)
);

ALTER SEQUENCE public.infrastructure_incidents_incident_number_seq
    OWNED BY public.infrastructure_incidents.incident_number;
ALTER SEQUENCE public.coding_requests_request_number_seq
    OWNED BY public.coding_requests.request_number;
