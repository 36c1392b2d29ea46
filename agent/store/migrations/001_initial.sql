-- The agent's durable state. Each model row is written before the action it describes runs.
CREATE TABLE meta (
  key    TEXT PRIMARY KEY,
  value  BLOB NOT NULL
);

CREATE TABLE models (
  model                    TEXT PRIMARY KEY,
  active_version           TEXT NOT NULL DEFAULT '',
  active_digest            TEXT NOT NULL DEFAULT '',
  active_security_version  INTEGER NOT NULL DEFAULT 0,
  floor                    INTEGER NOT NULL DEFAULT 0,
  state                    TEXT NOT NULL DEFAULT 'idle',
  target_version           TEXT NOT NULL DEFAULT '',
  target_digest            TEXT NOT NULL DEFAULT '',
  target_envelope          BLOB NOT NULL DEFAULT '',
  detail                   TEXT NOT NULL DEFAULT '',
  bytes_done               INTEGER NOT NULL DEFAULT 0,
  bytes_total              INTEGER NOT NULL DEFAULT 0,
  updated_at               INTEGER NOT NULL DEFAULT 0
);
