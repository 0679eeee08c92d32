-- Row level security with every policy of the spec, under its name, command and roles.
-- A policy "for {public}" checks the caller's role with auth.role(); none is USING (true).
-- Grants follow the policies: authenticated may SELECT (RLS then decides which rows, none where the
-- spec keeps a table to service_role) and write nothing; service_role may do everything.

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'agent_events', 'agent_actions', 'agent_metrics', 'agent_costs', 'agent_swarm_config',
        'infrastructure_incidents', 'runbook_patterns', 'sentry_error_mappings', 'fix_metrics',
        'automation_analytics', 'coding_requests', 'approval_requests'
    ] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', t);
        EXECUTE format('GRANT SELECT ON public.%I TO authenticated', t);
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.%I FROM authenticated', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO service_role', t);
    END LOOP;
END
$$;

GRANT USAGE, SELECT ON SEQUENCE public.infrastructure_incidents_incident_number_seq TO service_role;
GRANT USAGE, SELECT ON SEQUENCE public.coding_requests_request_number_seq TO service_role;

DROP POLICY IF EXISTS "All authenticated users can read agent events" ON public.agent_events;
CREATE POLICY "All authenticated users can read agent events" ON public.agent_events
    AS PERMISSIVE FOR SELECT TO public
    USING (auth.role() = 'authenticated');

DROP POLICY IF EXISTS "Service role full access to agent events" ON public.agent_events;
CREATE POLICY "Service role full access to agent events" ON public.agent_events
    AS PERMISSIVE FOR ALL TO public
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "Service role full access on agent_actions" ON public.agent_actions;
CREATE POLICY "Service role full access on agent_actions" ON public.agent_actions
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "Service role full access on agent_metrics" ON public.agent_metrics;
CREATE POLICY "Service role full access on agent_metrics" ON public.agent_metrics
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "authenticated_read" ON public.agent_costs;
CREATE POLICY "authenticated_read" ON public.agent_costs
    AS PERMISSIVE FOR SELECT TO public
    USING (auth.role() = 'authenticated');

DROP POLICY IF EXISTS "service_role_all" ON public.agent_costs;
CREATE POLICY "service_role_all" ON public.agent_costs
    AS PERMISSIVE FOR ALL TO public
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "Service role full access on agent_swarm_config" ON public.agent_swarm_config;
CREATE POLICY "Service role full access on agent_swarm_config" ON public.agent_swarm_config
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "Service role full access on infrastructure_incidents" ON public.infrastructure_incidents;
CREATE POLICY "Service role full access on infrastructure_incidents" ON public.infrastructure_incidents
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "Service role full access on runbook_patterns" ON public.runbook_patterns;
CREATE POLICY "Service role full access on runbook_patterns" ON public.runbook_patterns
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "authenticated_read_sentry_mappings" ON public.sentry_error_mappings;
CREATE POLICY "authenticated_read_sentry_mappings" ON public.sentry_error_mappings
    AS PERMISSIVE FOR SELECT TO authenticated
    USING (auth.role() = 'authenticated');

DROP POLICY IF EXISTS "service_role_full_access_sentry_mappings" ON public.sentry_error_mappings;
CREATE POLICY "service_role_full_access_sentry_mappings" ON public.sentry_error_mappings
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "authenticated_read_fix_metrics" ON public.fix_metrics;
CREATE POLICY "authenticated_read_fix_metrics" ON public.fix_metrics
    AS PERMISSIVE FOR SELECT TO authenticated
    USING (auth.role() = 'authenticated');

DROP POLICY IF EXISTS "service_role_full_access_fix_metrics" ON public.fix_metrics;
CREATE POLICY "service_role_full_access_fix_metrics" ON public.fix_metrics
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "authenticated_read_analytics" ON public.automation_analytics;
CREATE POLICY "authenticated_read_analytics" ON public.automation_analytics
    AS PERMISSIVE FOR SELECT TO authenticated
    USING (auth.role() = 'authenticated');

DROP POLICY IF EXISTS "service_role_full_access_analytics" ON public.automation_analytics;
CREATE POLICY "service_role_full_access_analytics" ON public.automation_analytics
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "Service role full access on coding_requests" ON public.coding_requests;
CREATE POLICY "Service role full access on coding_requests" ON public.coding_requests
    AS PERMISSIVE FOR ALL TO service_role
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

DROP POLICY IF EXISTS "Service role full access on approval_requests" ON public.approval_requests;
CREATE POLICY "Service role full access on approval_requests" ON public.approval_requests
    AS PERMISSIVE FOR ALL TO public
    USING (auth.role() = 'service_role')
    WITH CHECK (auth.role() = 'service_role');

-- updated_at is kept by a trigger on every table that has the column.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'agent_swarm_config', 'infrastructure_incidents', 'runbook_patterns', 'sentry_error_mappings',
        'fix_metrics', 'coding_requests', 'approval_requests'
    ] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON public.%I', t || '_set_updated_at', t);
        EXECUTE format(
            'CREATE TRIGGER %I BEFORE UPDATE ON public.%I FOR EACH ROW EXECUTE FUNCTION public.set_updated_at()',
            t || '_set_updated_at', t
        );
    END LOOP;
END
$$;
