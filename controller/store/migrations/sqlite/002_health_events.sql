-- Device health (latest report in full, plus a bounded history of samples) and the devices'
-- final update outcomes, stored once per (device, seq).
CREATE TABLE device_health (
  device_id    TEXT PRIMARY KEY REFERENCES devices(id),
  received_at  INTEGER NOT NULL,
  health_json  TEXT NOT NULL
);

-- Pruned to the newest N rows per device in the transaction that inserts.
CREATE TABLE device_health_history (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id    TEXT NOT NULL REFERENCES devices(id),
  received_at  INTEGER NOT NULL,
  sample_json  TEXT NOT NULL
);
CREATE INDEX device_health_history_by_device ON device_health_history(device_id, id);

CREATE TABLE device_events (
  device_id        TEXT NOT NULL REFERENCES devices(id),
  seq              INTEGER NOT NULL,
  model            TEXT NOT NULL,
  version          TEXT NOT NULL,
  outcome          TEXT NOT NULL CHECK (outcome IN ('committed', 'rolled_back', 'failed')),
  reason           TEXT NOT NULL,
  unix_time        INTEGER NOT NULL,
  offline_install  INTEGER NOT NULL,
  received_at      INTEGER NOT NULL,
  PRIMARY KEY (device_id, seq)
);
CREATE INDEX device_events_by_version ON device_events(model, version);
