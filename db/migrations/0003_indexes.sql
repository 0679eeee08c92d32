-- Every index of the spec under its name, each shaped for a query this service runs.

-- agent_events: the bus is read by target, by type, by correlation and in time order.
CREATE INDEX IF NOT EXISTS idx_agent_events_correlation ON public.agent_events (correlation_id)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_agent_events_created ON public.agent_events (created_at, id);
CREATE INDEX IF NOT EXISTS idx_agent_events_created_at ON public.agent_events USING brin (created_at);
CREATE INDEX IF NOT EXISTS idx_agent_events_event_type ON public.agent_events (event_type, created_at);
CREATE INDEX IF NOT EXISTS idx_agent_events_source ON public.agent_events (source_agent_id, created_at);
CREATE INDEX IF NOT EXISTS idx_agent_events_source_agent
    ON public.agent_events (source_agent_type, source_agent_id);
CREATE INDEX IF NOT EXISTS idx_agent_events_targets ON public.agent_events USING gin (target_agent_ids);
CREATE INDEX IF NOT EXISTS idx_agent_events_type ON public.agent_events USING hash (event_type);

-- agent_actions: audit by agent over time (rollups), and by incident.
CREATE INDEX IF NOT EXISTS agent_actions_agent_idx ON public.agent_actions (agent_name, created_at);
CREATE INDEX IF NOT EXISTS agent_actions_incident_idx ON public.agent_actions (incident_id)
    WHERE incident_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS agent_metrics_time_idx ON public.agent_metrics (bucket_start, agent_name);

CREATE INDEX IF NOT EXISTS idx_agent_costs_agent ON public.agent_costs (agent_id, created_at);
CREATE INDEX IF NOT EXISTS idx_agent_costs_type ON public.agent_costs (cost_type, created_at);

-- infrastructure_incidents: similar-incident search, service filter, open incidents by status.
CREATE INDEX IF NOT EXISTS infrastructure_incidents_embedding_idx
    ON public.infrastructure_incidents USING hnsw (embedding vector_cosine_ops);
CREATE INDEX IF NOT EXISTS infrastructure_incidents_services_idx
    ON public.infrastructure_incidents USING gin (affected_services);
CREATE INDEX IF NOT EXISTS infrastructure_incidents_status_idx
    ON public.infrastructure_incidents (status, created_at);

CREATE INDEX IF NOT EXISTS runbook_patterns_embedding_idx
    ON public.runbook_patterns USING hnsw (embedding vector_cosine_ops);
CREATE INDEX IF NOT EXISTS runbook_patterns_type_idx ON public.runbook_patterns (pattern_type);

CREATE INDEX IF NOT EXISTS idx_sentry_mappings_error_type ON public.sentry_error_mappings (error_type);
CREATE INDEX IF NOT EXISTS idx_sentry_mappings_linear_issue ON public.sentry_error_mappings (linear_issue_id);
CREATE INDEX IF NOT EXISTS idx_sentry_mappings_status ON public.sentry_error_mappings (status, last_seen_at);
CREATE INDEX IF NOT EXISTS idx_sentry_mappings_team ON public.sentry_error_mappings (team_key);

CREATE INDEX IF NOT EXISTS idx_fix_metrics_detected ON public.fix_metrics (detected_at);
CREATE INDEX IF NOT EXISTS idx_fix_metrics_error_type ON public.fix_metrics (error_type);
CREATE INDEX IF NOT EXISTS idx_fix_metrics_source ON public.fix_metrics (source, detected_at);
CREATE INDEX IF NOT EXISTS idx_fix_metrics_successful ON public.fix_metrics (fix_successful)
    WHERE fix_completed_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_fix_metrics_team ON public.fix_metrics (team_key, detected_at);

CREATE INDEX IF NOT EXISTS idx_automation_analytics_period ON public.automation_analytics (period_start DESC);
CREATE UNIQUE INDEX IF NOT EXISTS idx_automation_analytics_unique_period
    ON public.automation_analytics (period_start, period_days);

-- coding_requests: one row per origin (a repeated Slack submission or Linear delivery is one request).
CREATE UNIQUE INDEX IF NOT EXISTS coding_requests_source_idx ON public.coding_requests (source, source_id);
CREATE INDEX IF NOT EXISTS coding_requests_status_idx ON public.coding_requests (status, created_at);

-- approval_requests: a click finds its row by message; the expiry job scans pending by deadline.
CREATE INDEX IF NOT EXISTS idx_approval_requests_slack
    ON public.approval_requests (slack_channel_id, slack_message_ts);
CREATE INDEX IF NOT EXISTS idx_approval_requests_status ON public.approval_requests (status, expires_at);
