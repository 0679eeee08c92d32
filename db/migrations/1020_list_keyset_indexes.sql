-- Keyset pagination for the agents' list endpoints (issue 13): one index per documented filter, each
-- ending in the list's sort key, so a first page and a page deep behind a cursor are both one index range.
-- The seed's indexes keep their names and shapes; these sit beside them under names of our own.
-- The unfiltered incidents list reuses infrastructure_incidents_created_idx (0900); ?service= is served by
-- the seed's GIN index (infrastructure_incidents_services_idx) through affected_services @> ARRAY[...].

CREATE INDEX IF NOT EXISTS infrastructure_incidents_status_page_idx
    ON public.infrastructure_incidents (status, created_at DESC, incident_number DESC);
CREATE INDEX IF NOT EXISTS infrastructure_incidents_severity_page_idx
    ON public.infrastructure_incidents (severity, created_at DESC, incident_number DESC);

CREATE INDEX IF NOT EXISTS agent_actions_page_idx ON public.agent_actions (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS agent_actions_agent_page_idx
    ON public.agent_actions (agent_name, created_at DESC, id DESC);

CREATE INDEX IF NOT EXISTS coding_requests_page_idx ON public.coding_requests (created_at DESC, request_number DESC);
CREATE INDEX IF NOT EXISTS coding_requests_status_page_idx
    ON public.coding_requests (status, created_at DESC, request_number DESC);
