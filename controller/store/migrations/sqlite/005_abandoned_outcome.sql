-- An update's outcome may be 'abandoned': another target replaced it before it ended (the agent
-- reports one outcome for every update). SQLite cannot change a CHECK constraint in place, so
-- device_events is rebuilt with the same rows and indexes.
CREATE TABLE device_events_new (
  device_id        TEXT NOT NULL REFERENCES devices(id),
  seq              INTEGER NOT NULL,
  model            TEXT NOT NULL,
  version          TEXT NOT NULL,
  outcome          TEXT NOT NULL CHECK (outcome IN ('committed', 'rolled_back', 'failed', 'abandoned')),
  reason           TEXT NOT NULL,
  unix_time        INTEGER NOT NULL,
  offline_install  INTEGER NOT NULL,
  received_at      INTEGER NOT NULL,
  PRIMARY KEY (device_id, seq)
);
INSERT INTO device_events_new(device_id, seq, model, version, outcome, reason, unix_time, offline_install, received_at)
  SELECT device_id, seq, model, version, outcome, reason, unix_time, offline_install, received_at FROM device_events;
DROP TABLE device_events;
ALTER TABLE device_events_new RENAME TO device_events;
CREATE INDEX device_events_by_version ON device_events(model, version);
CREATE INDEX device_events_by_device_version ON device_events(device_id, model, version, seq);
