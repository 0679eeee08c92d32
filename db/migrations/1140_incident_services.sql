-- Issue 13, data scale: GET /api/v1/incidents?service= by index for a service of any frequency.
--
-- affected_services @> ARRAY[$1] can use the seed's GIN index only for a role that bypasses row level
-- security: arraycontains is not leakproof, so under RLS it may not run before the policy's qual, and the
-- list walked the created_at index testing every incident (19-26 ms p50 for a service on 0.1% of a million
-- incidents; 2.3 ms with BYPASSRLS). Here every incident's services are copied, by a trigger, into
-- incident_services (service, created_at, incident_number, incident_id): a page of one service is then an
-- index range in the list's order plus one primary-key lookup per incident, whatever the service's share.
--
-- Incidents are visible to the service_role claim only (the seed's policy); the copy is readable by the
-- same role under the same test, and written by the trigger alone (as the owner). It is internal, so
-- swarm_make_internal_private() grants it back after revoking every internal relation.

CREATE TABLE IF NOT EXISTS public.incident_services (
    service         text NOT NULL,
    created_at      timestamptz NOT NULL,
    incident_number integer NOT NULL,
    incident_id     uuid NOT NULL,
    PRIMARY KEY (service, created_at, incident_number)
);

CREATE OR REPLACE FUNCTION public.incident_services_copy() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM incident_services
        WHERE service = ANY (OLD.affected_services) AND created_at = OLD.created_at
          AND incident_number = OLD.incident_number;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO incident_services (service, created_at, incident_number, incident_id)
        SELECT DISTINCT s, NEW.created_at, NEW.incident_number, NEW.id
        FROM unnest(NEW.affected_services) s WHERE s IS NOT NULL
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS incident_services_copy ON public.infrastructure_incidents;
CREATE TRIGGER incident_services_copy
    AFTER INSERT OR DELETE OR UPDATE OF affected_services, created_at, incident_number
    ON public.infrastructure_incidents
    FOR EACH ROW EXECUTE FUNCTION public.incident_services_copy();

INSERT INTO public.incident_services (service, created_at, incident_number, incident_id)
SELECT DISTINCT s, i.created_at, i.incident_number, i.id
FROM public.infrastructure_incidents i, unnest(i.affected_services) s
WHERE s IS NOT NULL
ON CONFLICT DO NOTHING;

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
    -- The exceptions: the bus cursor (0619) and the incidents' services (1140), each with its policy.
    GRANT SELECT ON public.agent_event_offsets TO authenticated, service_role;
    GRANT SELECT ON public.incident_services TO service_role;
END
$$;

SELECT public.swarm_make_internal_private();

DROP POLICY IF EXISTS "Service role reads incident services" ON public.incident_services;
CREATE POLICY "Service role reads incident services" ON public.incident_services
    AS PERMISSIVE FOR SELECT TO service_role
    USING (auth.role() = 'service_role');
