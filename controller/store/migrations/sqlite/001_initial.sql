-- Inventory, releases, per-device desired and reported state, deployments, audit.
CREATE TABLE sites (
  name        TEXT PRIMARY KEY,
  created_at  INTEGER NOT NULL
);

CREATE TABLE devices (
  id                  TEXT PRIMARY KEY,
  site                TEXT NOT NULL REFERENCES sites(name),
  cert_serial         TEXT NOT NULL,
  cert_not_after      INTEGER NOT NULL,
  enrolled_at         INTEGER NOT NULL,
  last_seen           INTEGER NOT NULL DEFAULT 0,
  agent_version       TEXT NOT NULL DEFAULT '',
  facts_json          TEXT NOT NULL DEFAULT '{}',
  desired_generation  INTEGER NOT NULL DEFAULT 0,
  revoked             INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX devices_by_site ON devices(site);

-- Only the SHA-256 of a token is stored; the token itself is shown once to the operator.
CREATE TABLE enrollment_tokens (
  token_hash  TEXT PRIMARY KEY,
  site        TEXT NOT NULL REFERENCES sites(name),
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER,
  used_by     TEXT
);

CREATE TABLE models (
  name        TEXT PRIMARY KEY,
  created_at  INTEGER NOT NULL
);

CREATE TABLE model_versions (
  model             TEXT NOT NULL REFERENCES models(name),
  version           TEXT NOT NULL,
  security_version  INTEGER NOT NULL,
  manifest_digest   TEXT NOT NULL,
  envelope          BLOB NOT NULL,
  total_bytes       INTEGER NOT NULL,
  signed_by         TEXT NOT NULL,
  pushed_by         TEXT NOT NULL,
  pushed_at         INTEGER NOT NULL,
  PRIMARY KEY (model, version)
);

CREATE TABLE blobs (
  digest      TEXT PRIMARY KEY,
  size        INTEGER NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE version_blobs (
  model    TEXT NOT NULL,
  version  TEXT NOT NULL,
  digest   TEXT NOT NULL REFERENCES blobs(digest),
  role     TEXT NOT NULL,
  PRIMARY KEY (model, version, digest),
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
);
CREATE INDEX version_blobs_by_digest ON version_blobs(digest);

CREATE TABLE desired_models (
  device_id   TEXT NOT NULL REFERENCES devices(id),
  model       TEXT NOT NULL,
  version     TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (device_id, model),
  FOREIGN KEY (model, version) REFERENCES model_versions(model, version)
);

CREATE TABLE reported_models (
  device_id         TEXT NOT NULL REFERENCES devices(id),
  model             TEXT NOT NULL,
  version           TEXT NOT NULL,
  security_version  INTEGER NOT NULL,
  state             TEXT NOT NULL,
  target_version    TEXT NOT NULL,
  detail            TEXT NOT NULL,
  bytes_done        INTEGER NOT NULL,
  bytes_total       INTEGER NOT NULL,
  security_floor    INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  PRIMARY KEY (device_id, model)
);

CREATE TABLE deployments (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  model         TEXT NOT NULL,
  version       TEXT NOT NULL,
  site          TEXT NOT NULL,
  created_by    TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  device_ids    TEXT NOT NULL,   -- JSON array
  changed       INTEGER NOT NULL
);

CREATE TABLE audit (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT NOT NULL,
  detail  TEXT NOT NULL
);
