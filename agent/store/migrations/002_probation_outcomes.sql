-- Probation bookkeeping per model, local (offline) installs, and the outbox of update outcomes.
ALTER TABLE models ADD COLUMN probation_started_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN probation_restarts   INTEGER NOT NULL DEFAULT 0;
-- 1 when the target came from `edge-agent install FILE` rather than the controller.
ALTER TABLE models ADD COLUMN target_local         INTEGER NOT NULL DEFAULT 0;
-- Desired states from the controller up to this generation are ignored for the model: a local
-- install wins until an operator deploys again.
ALTER TABLE models ADD COLUMN pinned_generation    INTEGER NOT NULL DEFAULT 0;

-- Each final outcome of an update, written in the same transaction as the state that ends it,
-- and sent until the controller acknowledges its seq (the controller stores each seq once).
CREATE TABLE outcomes (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  model      TEXT NOT NULL,
  version    TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  reason     TEXT NOT NULL DEFAULT '',
  unix_time  INTEGER NOT NULL,
  local      INTEGER NOT NULL DEFAULT 0
);
