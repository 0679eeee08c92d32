-- Issue 13, data scale: a page of the bus by event type or correlation id, for a value of any frequency,
-- in one index range. The offsets carry their event's type and correlation id (copied by the offsets
-- trigger, both immutable on an event), indexed with seq: a page is then an index range on (value, seq)
-- and at most `limit` primary-key lookups, where the window scan walked 10,000 offsets by primary key
-- (22-72 ms p50 for a value of 0.8-1% of 10M events).
ALTER TABLE public.agent_event_offsets ADD COLUMN IF NOT EXISTS event_type text;
ALTER TABLE public.agent_event_offsets ADD COLUMN IF NOT EXISTS correlation_id uuid;
UPDATE public.agent_event_offsets o SET event_type = e.event_type, correlation_id = e.correlation_id
FROM public.agent_events e
WHERE e.id = o.event_id AND o.event_type IS NULL;
CREATE INDEX IF NOT EXISTS agent_event_offsets_type_seq
    ON public.agent_event_offsets (event_type, seq) WHERE seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS agent_event_offsets_correlation_seq
    ON public.agent_event_offsets (correlation_id, seq) WHERE seq IS NOT NULL AND correlation_id IS NOT NULL;

CREATE OR REPLACE FUNCTION public.agent_events_assign_offset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO agent_event_offsets (event_id, xid, event_type, correlation_id)
    SELECT id, pg_current_xact_id(), event_type, correlation_id FROM new_events;
    IF current_setting('swarm.notify', true) IS DISTINCT FROM 'after_commit' THEN
        PERFORM pg_notify('agent_events', '');
    END IF;
    RETURN NULL;
END
$$;
