-- A dirty hour whose rollup failed stays dirty, with its error, and is tried again after the others
-- (domain/metrics/rollup.py rolls each hour in its own transaction).
ALTER TABLE agent_metrics_dirty ADD COLUMN IF NOT EXISTS failed_at timestamptz;
ALTER TABLE agent_metrics_dirty ADD COLUMN IF NOT EXISTS last_error text;
