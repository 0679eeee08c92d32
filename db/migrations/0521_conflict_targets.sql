-- Every ON CONFLICT target the service relies on has a unique index on exactly its columns. A database
-- adopted with a NON-unique index under one of the names below (CREATE UNIQUE INDEX IF NOT EXISTS then
-- skipped it) is repaired here; when its rows already break uniqueness, the migration refuses, naming the
-- index and the duplicates to remove, instead of failing at runtime.
CREATE FUNCTION pg_temp.ensure_unique(index_name text, table_name text, columns text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cols text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(columns) AS c);
    dupes bigint;
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indrelid = table_name::regclass AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
          AND i.indexprs IS NULL
          AND (SELECT array_agg(a.attname::text ORDER BY k.n) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) = columns
    ) THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %s GROUP BY %s HAVING count(*) > 1) d', table_name, cols)
        INTO dupes;
    IF dupes > 0 THEN
        RAISE EXCEPTION 'index % on %(%) must be unique (the service upserts on it), but % value(s) occur more than once',
            index_name, table_name, cols, dupes
            USING HINT = format('remove the duplicate rows (SELECT %s, count(*) FROM %s GROUP BY %s HAVING count(*) > 1), '
                                'then start the service again', cols, table_name, cols);
    END IF;
    EXECUTE format('DROP INDEX IF EXISTS %I', index_name);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %s (%s)', index_name, table_name, cols);
    RAISE NOTICE 'index % on % rebuilt as unique', index_name, table_name;
END
$$;

SELECT pg_temp.ensure_unique('idx_automation_analytics_unique_period', 'public.automation_analytics',
                             ARRAY['period_start', 'period_days']);
SELECT pg_temp.ensure_unique('coding_requests_source_idx', 'public.coding_requests', ARRAY['source', 'source_id']);
SELECT pg_temp.ensure_unique('agent_metrics_bucket_start_agent_name_key', 'public.agent_metrics',
                             ARRAY['bucket_start', 'agent_name']);
SELECT pg_temp.ensure_unique('agent_swarm_config_config_key_key', 'public.agent_swarm_config', ARRAY['config_key']);
SELECT pg_temp.ensure_unique('sentry_error_mappings_sentry_issue_id_key', 'public.sentry_error_mappings',
                             ARRAY['sentry_issue_id']);
SELECT pg_temp.ensure_unique('webhook_deliveries_source_delivery_key', 'webhook_deliveries',
                             ARRAY['source', 'delivery_id']);
SELECT pg_temp.ensure_unique('outbox_dedupe_key_key', 'outbox', ARRAY['dedupe_key']);
DROP FUNCTION pg_temp.ensure_unique(text, text, text[]);
