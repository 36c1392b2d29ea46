-- Several controllers on one database (docs/operations.md#several-controllers). Written only
-- when the store runs in cluster mode (PostgreSQL); SQLite has the same tables so that a schema
-- version means the same tables on both, and so the cluster logic can be tested on SQLite files.
--
-- controllers: one row per running controller process, its heartbeat renewed every few seconds.
-- A row whose heartbeat is stale belongs to a controller that died: its sessions count as gone.
CREATE TABLE controllers (
  id                 TEXT PRIMARY KEY,
  host               TEXT NOT NULL,
  agent_endpoint     TEXT NOT NULL,
  operator_endpoint  TEXT NOT NULL,
  started_at         INTEGER NOT NULL,
  heartbeat_at       INTEGER NOT NULL
);

-- Which controller holds each connected agent's stream (written with the agent's hello, removed
-- when that stream ends: `stream` tells it from a newer stream of the same device).
CREATE TABLE sessions (
  device_id   TEXT PRIMARY KEY,
  controller  TEXT NOT NULL,
  stream      INTEGER NOT NULL,
  since       INTEGER NOT NULL
);
CREATE INDEX sessions_by_controller ON sessions(controller);

-- The rollout planner runs on one controller at a time: the holder of this lease, renewed with
-- its heartbeat; another controller takes it once it has expired. `epoch` counts takeovers.
CREATE TABLE planner_lease (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  epoch       INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);
INSERT INTO planner_lease(name, holder, epoch, expires_at) VALUES ('rollouts', '', 0, 0);

-- What changed that connected agents (on whichever controller) must hear of: a device's desired
-- state ('desired'), the served trust policy ('trust'), a device revoked or decommissioned
-- ('revoked'), a rollout created or controlled ('rollout'). Each controller reads the entries
-- after its cursor and acts on those another controller (`origin`) wrote. Pruned after an hour.
CREATE TABLE fleet_changes (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,
  kind     TEXT NOT NULL CHECK (kind IN ('desired', 'trust', 'revoked', 'rollout')),
  subject  TEXT NOT NULL,
  origin   TEXT NOT NULL,
  at       INTEGER NOT NULL
);

-- A rollout step is saved only over the revision it was planned from: two controllers that
-- planned or controlled the same rollout at once cannot both write (no double dispatch, no
-- lost pause).
ALTER TABLE rollouts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
