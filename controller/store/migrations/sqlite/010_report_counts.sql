-- How many reports have been stored for each reported row. The rollout planner caches each
-- device's health between ticks; the row's updated_at is whole seconds, so two reports in one
-- second (a failed self-test or a restart right after a healthy report) left it unchanged and
-- the cache judging the older one. The count changes with every stored report.
ALTER TABLE reported_models ADD COLUMN reports INTEGER NOT NULL DEFAULT 0;
