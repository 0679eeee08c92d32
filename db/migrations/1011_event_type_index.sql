-- The seed's idx_agent_events_type was a hash index on event_type: with many rows of one type its
-- bucket's overflow chain grows, and so does every insert of that type (534 buffers per insert at 200k
-- rows of one type, 26 without it; issue 13). The name stays, as a deduplicated btree, whose insert
-- cost grows with the log of the table, not with one type's rows.
DROP INDEX IF EXISTS public.idx_agent_events_type;
CREATE INDEX IF NOT EXISTS idx_agent_events_type ON public.agent_events USING btree (event_type);
