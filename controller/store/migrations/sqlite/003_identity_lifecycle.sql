-- Identity lifecycle (DESIGN §4): operators bound to roles, a deny list of certificate serials,
-- revocable enrollment tokens, trust policies pushed by admins, and indexes for the pruning
-- that keeps device-written tables bounded.
CREATE TABLE operators (
  name         TEXT PRIMARY KEY,
  role         TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
  revoked      INTEGER NOT NULL DEFAULT 0,
  created_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen    INTEGER NOT NULL DEFAULT 0,
  last_serial  TEXT NOT NULL DEFAULT ''
);

-- A serial on this list is refused on every listener, whatever else holds. Rows outlive the
-- device or operator they name (a decommissioned device's certificates stay denied).
CREATE TABLE denied_serials (
  serial     TEXT PRIMARY KEY,
  identity   TEXT NOT NULL,        -- device/<id> or operator/<name>
  reason     TEXT NOT NULL CHECK (reason IN ('revoked', 'renewed', 'decommissioned')),
  denied_at  INTEGER NOT NULL,
  denied_by  TEXT NOT NULL
);
CREATE INDEX denied_serials_by_identity ON denied_serials(identity);

ALTER TABLE enrollment_tokens ADD COLUMN revoked_at INTEGER;
ALTER TABLE enrollment_tokens ADD COLUMN revoked_by TEXT;

CREATE TABLE trust_policies (
  version    INTEGER PRIMARY KEY,
  envelope   BLOB NOT NULL,
  pushed_by  TEXT NOT NULL,
  pushed_at  INTEGER NOT NULL
);

CREATE INDEX audit_by_target ON audit(target, id);
CREATE INDEX audit_by_actor ON audit(actor, id);
CREATE INDEX device_events_by_device_version ON device_events(device_id, model, version, seq);
