-- The inbox workers' claim (jobs/inbox_worker.py) as a function, so that its plan never depends on
-- statistics a burst has made stale. Analyzed with an empty inbox, the planner expects about no received
-- rows, so every plan looks as cheap as another: the claim read EVERY received row twice (bitmap scans and
-- a sort; 3.7 ms per claim of 32 with 5,400 waiting, growing with the backlog), and plans that fetched a key's
-- rows through any of the partial indexes on status = 'received' read millions of index entries.
--
-- So the claim reads only the queue's head: the oldest $2 received rows by id (bitmap and sequential scans
-- are off inside this function only, leaving the ordered walk of the pending index, which stops there).
-- Their keys are tried in the order of their oldest row, each through a materialized step, so that
-- pg_try_advisory_xact_lock is called only until $4 keys are held (it was called for every candidate key,
-- holding keys no row of the batch needed). The batch is the head's rows of the held keys and those that
-- order against nothing, by id, FOR UPDATE SKIP LOCKED. A key's rows in the head are its oldest ones, so
-- taking them (and leaving its later ones to the next claim, after this one commits) keeps its order.
-- Those rows are found by primary key: their status is re-checked (after the lock, too) in a form no partial
-- index on status = 'received' answers, for such an index, believed empty, was walked whole with a filter.

-- Nothing orders received rows by arrival any more (the workers go by id; retries read failed rows).
DROP INDEX IF EXISTS webhook_deliveries_received_idx;
CREATE OR REPLACE FUNCTION inbox_claim(batch integer, candidates integer, key_prefix text, max_keys integer)
RETURNS TABLE (id bigint, source text, delivery_id text, event_type text, action text, body bytea,
               received_at timestamptz, order_key text)
LANGUAGE plpgsql
SET enable_bitmapscan = off
SET enable_seqscan = off
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT w.id, w.order_key FROM webhook_deliveries w WHERE w.status = 'received' ORDER BY w.id LIMIT candidates
    ), ordered AS MATERIALIZED (
        SELECT c.order_key, min(c.id) AS oldest FROM c WHERE c.order_key IS NOT NULL
        GROUP BY c.order_key ORDER BY oldest
    ), keys AS MATERIALIZED (
        SELECT o.order_key FROM ordered o
        WHERE pg_try_advisory_xact_lock(hashtextextended(key_prefix || o.order_key, 0))
        LIMIT max_keys
    )
    SELECT d.id, d.source, d.delivery_id, d.event_type, d.action, d.body, d.received_at, d.order_key
    FROM webhook_deliveries d
    WHERE d.id = ANY (ARRAY(SELECT c.id FROM c WHERE c.order_key IS NULL OR c.order_key IN (SELECT keys.order_key FROM keys)))
      AND (d.status = 'received') IS TRUE
    ORDER BY d.id
    LIMIT batch
    FOR UPDATE OF d SKIP LOCKED;
END
$$;
