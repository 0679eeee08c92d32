-- Publishing an event in one round trip (issue 13, the bus). POST /api/v1/events ran BEGIN, the caller's
-- role and claims, the INSERT and COMMIT: four round trips for one row. agent_events_publish_as() does the
-- same in one statement, run outside a transaction (so it commits by itself): it takes the caller's role
-- and JWT claims for the INSERT, so the seed's row level security still decides, exactly as for any other
-- statement run as the caller. It is SECURITY INVOKER (SET ROLE is refused in a definer function) and the
-- function's own SET clause restores the role and claims when it returns. Only the service's own role may
-- run it: every other role is revoked, like the sequencer's.

CREATE OR REPLACE FUNCTION public.agent_events_publish_as(
    caller_role text,
    caller_claims text,
    event_id uuid,
    source_agent_id text,
    source_agent_type text,
    event_type text,
    payload jsonb,
    target_agent_ids text[],
    correlation_id uuid
) RETURNS void
LANGUAGE plpgsql SECURITY INVOKER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM set_config('role', caller_role, true), set_config('request.jwt.claims', caller_claims, true);
    INSERT INTO agent_events (id, source_agent_id, source_agent_type, event_type, payload, target_agent_ids,
                              correlation_id)
    VALUES (event_id, source_agent_id, source_agent_type, event_type, payload, target_agent_ids, correlation_id);
END
$$;
REVOKE ALL ON FUNCTION public.agent_events_publish_as(text, text, uuid, text, text, text, jsonb, text[], uuid)
    FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON FUNCTION public.agent_events_publish_as(text, text, uuid, text, text, text, jsonb, text[], uuid)
            FROM anon;
    END IF;
    REVOKE ALL ON FUNCTION public.agent_events_publish_as(text, text, uuid, text, text, text, jsonb, text[], uuid)
        FROM authenticated, service_role;
END
$$;
