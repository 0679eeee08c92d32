-- The approvals lists (issue 13), by index: the console's pending list (approvals.pending: undecided and
-- unexpired, oldest first) walks the pending rows in created_at order, and its history (decided or
-- expired, newest resolution first) walks coalesce(resolved_at, expires_at) from the top and stops after
-- a page. Both sit beside the seed's idx_approval_requests_status under names of our own.
CREATE INDEX IF NOT EXISTS approval_requests_pending_page_idx
    ON public.approval_requests (created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS approval_requests_history_page_idx
    ON public.approval_requests ((coalesce(resolved_at, expires_at)) DESC);
