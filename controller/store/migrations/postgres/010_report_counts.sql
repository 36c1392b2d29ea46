-- The same column as migrations/sqlite/010_report_counts.sql (see there for what it holds).
ALTER TABLE reported_models ADD COLUMN reports BIGINT NOT NULL DEFAULT 0;
