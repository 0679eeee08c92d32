-- The bus's offsets without a lock across transactions (issue 13). 0006 held one database-wide advisory
-- lock from an event's insert to its commit, so publishers waited on each other's transactions (and took
-- part in deadlocks). Now an insert only records its event with the inserting transaction's id (`xid`) and
-- no `seq`; a sequencer, agent_events_sequence(), numbers committed rows afterwards, in a short
-- transaction of its own under the advisory lock 'bus.sequencer' (db/locks.py), which only sequencer runs
-- take. A cursor never skips a late commit: a seq is given only to a row that has committed, runs are
-- serialized and each starts after the previous one is visible, so every seq a run gives is above every
-- seq a reader could already have seen; a row that commits late is numbered by a later run, above the
-- cursor. Rows inserted in one transaction keep their insert order (`pending`). A rollback leaves nothing.

ALTER TABLE public.agent_event_offsets ALTER COLUMN seq DROP IDENTITY IF EXISTS;
ALTER TABLE public.agent_event_offsets DROP CONSTRAINT IF EXISTS agent_event_offsets_pkey;
ALTER TABLE public.agent_event_offsets ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE public.agent_event_offsets ADD COLUMN IF NOT EXISTS xid xid8;
ALTER TABLE public.agent_event_offsets ADD COLUMN IF NOT EXISTS pending bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX IF NOT EXISTS agent_event_offsets_seq ON public.agent_event_offsets (seq);
CREATE INDEX IF NOT EXISTS agent_event_offsets_unsequenced
    ON public.agent_event_offsets (xid, pending) WHERE seq IS NULL;

CREATE OR REPLACE FUNCTION public.agent_events_assign_offset() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO agent_event_offsets (event_id, xid) SELECT id, pg_current_xact_id() FROM new_events;
    PERFORM pg_notify('agent_events', '');
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS agent_events_assign_offset ON public.agent_events;
CREATE TRIGGER agent_events_assign_offset AFTER INSERT ON public.agent_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION public.agent_events_assign_offset();

-- Numbers every committed row that has no seq yet and returns the highest seq. Call it outside a
-- transaction (autocommit): the lock is held until the caller's transaction ends, and rows of the
-- caller's own transaction (not committed yet) are left for a later run. Each statement of a volatile
-- function takes a new snapshot, so the UPDATE sees everything committed before the lock was granted.
CREATE OR REPLACE FUNCTION public.agent_events_sequence() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tail bigint;
    numbered bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('bus.sequencer', 0));
    SELECT coalesce(max(seq), 0) INTO tail FROM agent_event_offsets;
    WITH todo AS (
        SELECT event_id, row_number() OVER (ORDER BY xid, pending) AS n
        FROM agent_event_offsets
        WHERE seq IS NULL AND xid IS DISTINCT FROM pg_current_xact_id_if_assigned()
    )
    UPDATE agent_event_offsets o SET seq = tail + todo.n FROM todo WHERE o.event_id = todo.event_id;
    GET DIAGNOSTICS numbered = ROW_COUNT;
    RETURN tail + numbered;
END
$$;
REVOKE ALL ON FUNCTION public.agent_events_sequence() FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON FUNCTION public.agent_events_sequence() FROM anon;
    END IF;
    REVOKE ALL ON FUNCTION public.agent_events_sequence() FROM authenticated, service_role;
END
$$;
