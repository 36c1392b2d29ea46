-- Each rollout's device rows counted by wave and state (rollout::CountRows), rewritten with
-- every saved step. Listing rollouts (edgectl get rollouts, the dashboard) and the planner's
-- tick read these few rows instead of every device row: at 10,000 devices, each rollout of the
-- whole fleet cost a list or a tick 10,000 rows read and decoded, finished rollouts included.
CREATE TABLE rollout_counts (
  rollout_id  INTEGER NOT NULL REFERENCES rollouts(id),
  wave        INTEGER NOT NULL,
  state       TEXT NOT NULL,
  devices     INTEGER NOT NULL,
  dispatched  INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, wave, state)
);

INSERT INTO rollout_counts(rollout_id, wave, state, devices, dispatched)
  SELECT rollout_id, wave, state, count(*), sum(CASE WHEN dispatches > 0 THEN 1 ELSE 0 END)
  FROM rollout_devices GROUP BY rollout_id, wave, state;
