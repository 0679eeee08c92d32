-- Internal relations are the service's own: no API role, and nobody through Supabase's anon key, may touch
-- them (issue 11, defect 3). On Supabase the default privileges of schema public grant ALL on every new
-- table, view, sequence and function to anon, authenticated and service_role; this takes those grants back.
--
-- Internal = every table, view and sequence in public that is not one of the twelve seed tables, and every
-- trigger function. Tables also get row level security with no policies, so a grant
-- added by mistake later still opens nothing. The owner (the service's connection) is not subject to RLS.
--
-- The one exception is agent_event_offsets: the bus is read as the caller (RLS on agent_events decides
-- which events they see), and its cursor is the offset. The roles the seed lets read agent_events may read
-- offsets (numbers and event ids, nothing else); nobody but the owner writes one. The policy checks the
-- claimed role like the seed's, not the event row itself, so the stream's tail (max(seq)) stays an index
-- lookup instead of a scan of the bus.
--
-- It is a function, run here and again by db/migrate.py after every run that applied a migration, so an
-- internal relation a later migration adds is made private too (tests/security/test_data_privileges.py
-- checks every relation there is).

CREATE OR REPLACE FUNCTION public.swarm_make_internal_private() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    seed constant text[] := ARRAY[
        'agent_events', 'agent_actions', 'agent_metrics', 'agent_costs', 'agent_swarm_config',
        'infrastructure_incidents', 'runbook_patterns', 'sentry_error_mappings', 'fix_metrics',
        'automation_analytics', 'coding_requests', 'approval_requests'
    ];
    strangers text := 'PUBLIC, authenticated';  -- and anon, where it exists (Supabase)
    grantees text;
    t text;
    rel record;
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        strangers := strangers || ', anon';
        -- The seed grants anon nothing: its tables are for authenticated and service_role only.
        FOREACH t IN ARRAY seed LOOP
            EXECUTE format('REVOKE ALL ON public.%I FROM anon', t);
        END LOOP;
    END IF;
    grantees := strangers || ', service_role';

    FOR rel IN
        SELECT c.oid, c.relname, c.relkind
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND NOT (c.relname = ANY (seed))
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE ALL ON public.%I FROM %s', rel.relname, grantees);
        IF rel.relkind IN ('r', 'p') THEN
            EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', rel.relname);
        END IF;
    END LOOP;

    -- Sequences: those of internal tables to nobody; the seed's numbers only to service_role (0004).
    FOR rel IN
        SELECT c.oid, c.relname, c.relkind
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S'
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    LOOP
        IF rel.relname IN ('infrastructure_incidents_incident_number_seq', 'coding_requests_request_number_seq') THEN
            EXECUTE format('REVOKE ALL ON SEQUENCE public.%I FROM %s', rel.relname, strangers);
        ELSE
            EXECUTE format('REVOKE ALL ON SEQUENCE public.%I FROM %s', rel.relname, grantees);
        END IF;
    END LOOP;

    -- Trigger functions fire whatever the caller's EXECUTE privilege: nobody needs to call them.
    FOR rel IN
        SELECT p.oid
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prorettype = 'trigger'::regtype
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %s', rel.oid::regprocedure, grantees);
    END LOOP;
    EXECUTE format('REVOKE ALL ON FUNCTION public.swarm_make_internal_private() FROM %s', grantees);
    -- The exception: the bus cursor (see above and the policy below).
    GRANT SELECT ON public.agent_event_offsets TO authenticated, service_role;
END
$$;

SELECT public.swarm_make_internal_private();

DROP POLICY IF EXISTS "Bus readers read offsets" ON public.agent_event_offsets;
CREATE POLICY "Bus readers read offsets" ON public.agent_event_offsets
    AS PERMISSIVE FOR SELECT TO authenticated, service_role
    USING (auth.role() IN ('authenticated', 'service_role'));
