-- Issue 13: no NOTIFY per stored delivery. PostgreSQL serialises the commits of all notifying
-- transactions on one lock (held through the WAL flush), which cut 32 concurrent inserts from ~4,000/s
-- to ~800/s here. The process that stores a delivery wakes its own inbox workers (jobs/inbox_worker.py
-- Wakeup); the workers also poll, for what another replica stored and did not process.
DROP TRIGGER IF EXISTS webhook_deliveries_notify ON webhook_deliveries;
DROP FUNCTION IF EXISTS webhook_deliveries_notify();
