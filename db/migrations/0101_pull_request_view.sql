-- Every delivered GitHub pull_request event, for analytics (prs_total, prs_merged), like github_workflow_runs.
CREATE OR REPLACE VIEW github_pull_request_events AS
SELECT d.id AS delivery_id,
       d.received_at,
       d.action,
       b.doc -> 'repository' ->> 'full_name' AS repository,
       (b.doc -> 'pull_request' ->> 'number')::integer AS number,
       b.doc -> 'pull_request' ->> 'html_url' AS url,
       COALESCE((b.doc -> 'pull_request' ->> 'merged')::boolean, false) AS merged,
       (b.doc -> 'pull_request' ->> 'created_at')::timestamptz AS created_at,
       (b.doc -> 'pull_request' ->> 'merged_at')::timestamptz AS merged_at
FROM webhook_deliveries d
CROSS JOIN LATERAL (SELECT convert_from(d.body, 'UTF8')::jsonb AS doc) b
WHERE d.source = 'github' AND d.event_type = 'pull_request';
