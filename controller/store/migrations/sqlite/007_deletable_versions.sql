-- A model version can be deleted (`edgectl delete model`) once nothing needs it, but a finished
-- rollout that named it is history and stays readable. So `rollouts` no longer references
-- model_versions; the store checks instead that no live, reverting or standing rollout uses a
-- version before deleting it. SQLite cannot drop a constraint in place, and with foreign keys on
-- (the store's connections always have them) `rollouts` cannot be dropped while rollout_devices
-- and rollout_events reference it: the three tables are copied aside, dropped children first,
-- recreated with the same columns and indexes and refilled parent first. The AUTOINCREMENT
-- counters are restored so no id is ever handed out twice.
CREATE TEMP TABLE saved_rollouts AS SELECT * FROM rollouts;
CREATE TEMP TABLE saved_rollout_devices AS SELECT * FROM rollout_devices;
CREATE TEMP TABLE saved_rollout_events AS SELECT * FROM rollout_events;
CREATE TEMP TABLE saved_sequence AS SELECT name, seq FROM sqlite_sequence WHERE name IN ('rollouts', 'rollout_events');

DROP TABLE rollout_events;
DROP TABLE rollout_devices;
DROP TABLE rollouts;

CREATE TABLE rollouts (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  model             TEXT NOT NULL,
  version           TEXT NOT NULL,
  security_version  INTEGER NOT NULL,
  target_json       TEXT NOT NULL,
  strategy_json     TEXT NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('running', 'paused', 'completed', 'aborted', 'reverting', 'reverted')),
  wave              INTEGER NOT NULL,
  waves_json        TEXT NOT NULL,
  reason            TEXT NOT NULL,
  override_gate     INTEGER NOT NULL DEFAULT 0,
  created_by        TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX rollouts_by_state ON rollouts(state, model);
CREATE INDEX rollouts_by_version ON rollouts(model, version);

CREATE TABLE rollout_devices (
  rollout_id     INTEGER NOT NULL REFERENCES rollouts(id),
  device_id      TEXT NOT NULL,
  site           TEXT NOT NULL,
  state          TEXT NOT NULL,
  wave           INTEGER NOT NULL,
  from_version   TEXT NOT NULL,
  dispatched_at  INTEGER NOT NULL,
  done_at        INTEGER NOT NULL,
  dispatches     INTEGER NOT NULL,
  baseline_json  TEXT,
  detail         TEXT NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_by_device ON rollout_devices(device_id);

CREATE TABLE rollout_events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  rollout_id  INTEGER NOT NULL REFERENCES rollouts(id),
  at          INTEGER NOT NULL,
  kind        TEXT NOT NULL,
  device_id   TEXT NOT NULL,
  detail      TEXT NOT NULL
);
CREATE INDEX rollout_events_by_rollout ON rollout_events(rollout_id, id);

INSERT INTO rollouts SELECT * FROM saved_rollouts;
INSERT INTO rollout_devices SELECT * FROM saved_rollout_devices;
INSERT INTO rollout_events SELECT * FROM saved_rollout_events;
UPDATE sqlite_sequence SET seq = (SELECT s.seq FROM saved_sequence s WHERE s.name = sqlite_sequence.name)
  WHERE name IN (SELECT name FROM saved_sequence);

DROP TABLE saved_rollouts;
DROP TABLE saved_rollout_devices;
DROP TABLE saved_rollout_events;
DROP TABLE saved_sequence;
