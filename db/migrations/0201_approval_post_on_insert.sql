-- Every approval request gets its Slack message, however it was inserted: through the API, or by an agent
-- writing the seed table directly (as agents on Supabase do). The outbox row is queued in the inserting
-- transaction, once per request (the same dedupe key the service has always used).

CREATE OR REPLACE FUNCTION approval_requests_queue_post() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NEW.status = 'pending' AND NEW.slack_message_ts IS NULL THEN
        INSERT INTO outbox (kind, payload, dedupe_key)
        VALUES ('slack.approval.post', jsonb_build_object('approval_id', NEW.id::text), 'approval:' || NEW.id || ':post')
        ON CONFLICT (dedupe_key) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS approval_requests_queue_post ON public.approval_requests;
CREATE TRIGGER approval_requests_queue_post AFTER INSERT ON public.approval_requests
    FOR EACH ROW EXECUTE FUNCTION approval_requests_queue_post();
