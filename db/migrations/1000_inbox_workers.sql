-- Inbox workers (issue 13): the answer follows the durable store; workers drain webhook_deliveries.
-- order_key: deliveries about one thing (a Sentry issue, a CI key, a Linear issue) are processed in arrival
-- order, one worker at a time; NULL for deliveries that order against nothing (a ping, an installation).
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS order_key text;

-- The workers' claim: received rows by id, and the received rows of one key by id.
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending_idx ON webhook_deliveries (id) WHERE status = 'received';
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending_key_idx ON webhook_deliveries (order_key, id)
    WHERE status = 'received';

-- A stored delivery wakes the workers at once instead of at their next poll (db/listen.py).
CREATE OR REPLACE FUNCTION webhook_deliveries_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('webhook_deliveries', '');
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS webhook_deliveries_notify ON webhook_deliveries;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
    FOR EACH ROW WHEN (NEW.status = 'received') EXECUTE FUNCTION webhook_deliveries_notify();
