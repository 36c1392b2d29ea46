-- Refused operator calls are audited too, and a row says whether the action happened: `result`
-- is 'ok', or the gRPC code that refused the call, in lower case. A refused row's action is the
-- RPC's name and its target 'rpc/<Name>'. Rows that schema 1-5 wrote for a refused call (action
-- 'denied', target 'rpc/<Name>', only for a missing role) are given that form.
ALTER TABLE audit ADD COLUMN result TEXT NOT NULL DEFAULT 'ok'
  CHECK (result IN ('ok', 'permission_denied', 'invalid_argument', 'not_found', 'failed_precondition',
                    'already_exists'));
UPDATE audit SET result = 'permission_denied', action = substr(target, 5)
  WHERE action = 'denied' AND target LIKE 'rpc/%';
