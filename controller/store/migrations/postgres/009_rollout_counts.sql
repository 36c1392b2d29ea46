-- The same table as migrations/sqlite/009_rollout_counts.sql (see there for what it holds),
-- filled from the rows already stored.
CREATE TABLE rollout_counts (
  rollout_id  BIGINT NOT NULL REFERENCES rollouts(id),
  wave        BIGINT NOT NULL,
  state       TEXT COLLATE "C" NOT NULL,
  devices     BIGINT NOT NULL,
  dispatched  BIGINT NOT NULL,
  PRIMARY KEY (rollout_id, wave, state)
);

INSERT INTO rollout_counts(rollout_id, wave, state, devices, dispatched)
  SELECT rollout_id, wave, state, count(*), sum(CASE WHEN dispatches > 0 THEN 1 ELSE 0 END)
  FROM rollout_devices GROUP BY rollout_id, wave, state;
