-- Device labels and staged rollouts (DESIGN §9). A rollout's planner state lives here, so a
-- controller restarted mid-rollout continues where it stopped. Rollout rows outlive the devices
-- they name (history); labels go with their device.
CREATE TABLE device_labels (
  device_id  TEXT NOT NULL REFERENCES devices(id),
  key        TEXT NOT NULL,
  value      TEXT NOT NULL,
  PRIMARY KEY (device_id, key)
);

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
  updated_at        INTEGER NOT NULL,
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
);
CREATE INDEX rollouts_by_state ON rollouts(state, model);

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
