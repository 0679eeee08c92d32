-- Issue 13: a transaction may announce its changes after its commit instead of with a NOTIFY inside it
-- (db/listen.py Hub.announce). PostgreSQL serialises the commits of notifying transactions on one lock
-- held through each one's WAL flush, so notifying commits cannot share a flush. A transaction that sets
-- swarm.notify = 'after_commit' (set_config(..., true): its own, until it ends) gets no NOTIFY from these
-- triggers; every other keeps them.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('swarm.notify', true) IS DISTINCT FROM 'after_commit' THEN
        PERFORM pg_notify('outbox', NEW.kind);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION public.agent_events_assign_offset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO agent_event_offsets (event_id, xid) SELECT id, pg_current_xact_id() FROM new_events;
    IF current_setting('swarm.notify', true) IS DISTINCT FROM 'after_commit' THEN
        PERFORM pg_notify('agent_events', '');
    END IF;
    RETURN NULL;
END
$$;
