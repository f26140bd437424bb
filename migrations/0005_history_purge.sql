-- The janitor (src/worker/janitor.ts) deletes finished runs' storage after the retention period and marks their
-- history rows; runs that ended without ever setting an alarm are found this way.
ALTER TABLE run_history ADD COLUMN purged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS run_history_unpurged ON run_history (purged, ended_at);
