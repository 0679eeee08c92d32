-- Miss nothing the senders say (issue 12): the newest CI result seen per incident key (runs delivered out
-- of order are judged against it) and Sentry installations.

-- The newest run (id, attempt) seen per CI or deployment key; an older one arriving late changes nothing.
CREATE TABLE IF NOT EXISTS ci_run_heads (
    key         text PRIMARY KEY,
    run_order   bigint NOT NULL,
    attempt     integer NOT NULL,
    conclusion  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Sentry integration installations, as Sentry reported them (a deleted one means no more deliveries).
CREATE TABLE IF NOT EXISTS sentry_installations (
    uuid         text PRIMARY KEY,
    organization text,
    app          text,
    status       text NOT NULL CHECK (status IN ('installed', 'deleted')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
