-- Internal tables (not in the seed): the webhook inbox and the outbound outbox.
-- Only the service's own (owner) connection touches them; the API roles get no grants.

-- Every verified webhook delivery, stored once per (source, delivery id).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text NOT NULL,
    delivery_id     text NOT NULL,
    event_type      text NOT NULL,
    action          text,
    headers         jsonb NOT NULL DEFAULT '{}'::jsonb,
    body            bytea NOT NULL,
    status          text NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    CONSTRAINT webhook_deliveries_source_delivery_key UNIQUE (source, delivery_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_retry_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'failed';

-- Outbound calls (Slack, Linear, GitHub), written in the transaction of the change that needs them and
-- delivered by jobs/outbox.py. dedupe_key makes "send this once" an INSERT ... ON CONFLICT DO NOTHING.
CREATE TABLE IF NOT EXISTS outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    dedupe_key      text,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text,
    result          jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz,
    CONSTRAINT outbox_dedupe_key_key UNIQUE (dedupe_key)
);
CREATE INDEX IF NOT EXISTS outbox_due_idx ON outbox (next_attempt_at, id) WHERE status = 'pending';

-- A new outbox row wakes the workers at once instead of at their next poll.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', NEW.kind);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_notify();
