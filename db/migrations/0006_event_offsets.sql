-- A commit-ordered offset for every agent_events row, so readers can resume from a cursor and never
-- miss an event that committed late. The trigger holds a transaction-level advisory lock from the
-- insert to the commit, so offsets are handed out in commit order; a rolled-back publish leaves only a
-- gap. It covers every insert, also one made with plain SQL (e.g. by an agent on Supabase).

CREATE TABLE IF NOT EXISTS agent_event_offsets (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id  uuid NOT NULL UNIQUE REFERENCES public.agent_events (id) ON DELETE CASCADE
);

CREATE OR REPLACE FUNCTION agent_events_assign_offset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    offset_seq bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7406203571);
    INSERT INTO agent_event_offsets (event_id) VALUES (NEW.id) RETURNING seq INTO offset_seq;
    PERFORM pg_notify('agent_events', offset_seq::text);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS agent_events_assign_offset ON public.agent_events;
CREATE TRIGGER agent_events_assign_offset AFTER INSERT ON public.agent_events
    FOR EACH ROW EXECUTE FUNCTION agent_events_assign_offset();

-- Readers page through offsets as themselves; agent_events' RLS still decides which events they see.
GRANT SELECT ON agent_event_offsets TO authenticated, service_role;
