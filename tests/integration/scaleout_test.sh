#!/usr/bin/env bash
# Several stateless controllers on one PostgreSQL (docs/operations.md#several-controllers), on
# the throwaway server of the ctest fixture edge_postgres: three controllers share the database
# and a blob directory; simulated agents (edge-fleetsim) and edgectl are given all three
# addresses. A model pushed through one controller and deployed through another reaches agents
# on all three; the controller running the rollout planner is killed (SIGKILL) mid-rollout: the
# lease passes to a survivor, the rollout finishes with each device dispatched once, and the
# dead controller's agents reconnect to the survivors. A device revoked through one controller
# is cut off by the controller that holds its stream. EDGE_SCALEOUT_DEVICES sets the fleet size,
# EDGE_SCALEOUT_REPORT_INTERVAL the agents' report interval in seconds (default 1); the larger
# runs in docs/benchmarks.md ("Scale-out") are this script with those set.
source "$(dirname "$0")/lib.sh"

pg_dir=${EDGE_TEST_POSTGRES:-}
[ -n "$pg_dir" ] || { echo "EDGE-TEST-SKIPPED: no PostgreSQL test server (ctest starts one)"; exit 0; }
[ ! -f "$pg_dir/unavailable" ] || { echo "EDGE-TEST-SKIPPED: $(cat "$pg_dir/unavailable")"; exit 0; }
pg_bin=${EDGE_PG_BIN:-/usr/lib/postgresql/15/bin}
N="${EDGE_SCALEOUT_DEVICES:-150}"
db="edge_so_$(tr -dc 'a-z0-9' </dev/urandom | head -c 10)"
"$pg_bin/createdb" -h "$pg_dir" -U edge "$db" || lf_die "createdb $db"
url="postgresql:///$db?host=$pg_dir&user=edge"
sql() { "$pg_bin/psql" -X -q -At "$url" -c "$1"; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
field() { json "d[\"$2\"]" <"$1"; }  # SUMMARY KEY

step "three controllers on one PostgreSQL and one blob directory"
# Every simulated device connects from 127.0.0.1: per-source caps raised (see fleetsim_test.sh).
export LF_CONTROLLER_EXTRA="\"store\": {\"backend\": \"postgresql\", \"url\": \"$url\"}, \"blob_dir\": \"$LF_DIR/shared/blobs/sha256\",
  \"connection_limits\": {\"max_connections_per_source\": 6000, \"accepts_per_second_per_source\": 3000, \"accept_burst_per_source\": 3000}"
lf_pki
lf_start_controller
PID=("$LF_CONTROLLER_PID")
AGENT=("127.0.0.1:$LF_AGENT_PORT") ENROLL=("127.0.0.1:$LF_ENROLL_PORT") OPERATOR=("127.0.0.1:$LF_OPERATOR_PORT")
for i in 2 3; do
  python3 - "$LF_DIR/controller.json" "$LF_DIR/c$i.json" "$LF_DIR/c$i" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.update(data_dir=sys.argv[3], agent_listen="127.0.0.1:0", enroll_listen="127.0.0.1:0",
              operator_listen="127.0.0.1:0", ports_file=sys.argv[3] + "-ports.json")
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
  "$LF_BIN/controller/edge-controller" --config "$LF_DIR/c$i.json" 2>>"$LF_DIR/c$i.log" &
  PID+=("$!")
  LF_PIDS+=("$!")
  lf_wait_for 20 test -s "$LF_DIR/c$i-ports.json" || lf_die "controller $i did not start: $(tail -n 3 "$LF_DIR/c$i.log")"
  AGENT+=("127.0.0.1:$(lf_json_field "$LF_DIR/c$i-ports.json" agent)")
  ENROLL+=("127.0.0.1:$(lf_json_field "$LF_DIR/c$i-ports.json" enroll)")
  OPERATOR+=("127.0.0.1:$(lf_json_field "$LF_DIR/c$i-ports.json" operator)")
done
list() { local IFS=,; echo "$*"; }
export EDGECTL_CONTROLLER; EDGECTL_CONTROLLER=$(list "${OPERATOR[@]}")
listed=$(lf_edgectl get controllers) || lf_die "get controllers"
[ "$(grep -c ' alive ' <<<"$listed")" = 3 ] || lf_die "controllers: $listed"
# Which controller runs the planner, as edgectl (through whichever controller answers) lists them.
planner_agent() { lf_edgectl get controllers -o json | json '"".join(c["agent_endpoint"] for c in d if c["planner"] and c["alive"])'; }
first_planner=$(planner_agent)
[ "$first_planner" = "${AGENT[0]}" ] || lf_die "the first controller should hold the planner lease, not '$first_planner'"
ok "3 controllers joined; the first to start runs the planner"

step "$N simulated agents given the three addresses spread over them"
lf_edgectl create site plant-1 >/dev/null 2>&1 || lf_die "create site"
SIM=("$LF_BIN/tests/fleetsim/edge-fleetsim" --agent-endpoint "$(list "${AGENT[@]}")" --enroll-endpoint "$(list "${ENROLL[@]}")"
  --ca "$LF_DIR/pki/fleet-ca.pem" --release-root "$LF_DIR/pki/release-root.pub" --state "$LF_DIR/sim" --devices "$N"
  --site plant-1 --report-interval "${EDGE_SCALEOUT_REPORT_INTERVAL:-1}" --progress-interval 10)
"${SIM[@]}" --until-connected --timeout $((120 * LF_TS)) --summary "$LF_DIR/connect.json" >/dev/null 2>"$LF_DIR/connect.err" ||
  lf_die "not all $N connected: $(tail -n 5 "$LF_DIR/connect.err"; cat "$LF_DIR/connect.json" 2>/dev/null)"
for a in "${AGENT[@]}"; do
  n=$(json "d['connected_by_endpoint'].get('$a', 0)" <"$LF_DIR/connect.json")
  [ "$n" -gt $((N / 6)) ] || lf_die "only $n agents on $a: $(json 'd["connected_by_endpoint"]' <"$LF_DIR/connect.json")"
done
ok "enrolled and connected: $(json 'd["connected_by_endpoint"]' <"$LF_DIR/connect.json")"

step "pushed through one controller, deployed through another; the planner is killed mid-rollout"
lf_edgectl --controller "${OPERATOR[1]}" model push "$(lf_bundle kws v2 2 "$(lf_demo_model)")" >/dev/null 2>&1 || lf_die "push v2"
"${SIM[@]}" --until-converged kws:v2 --timeout $((180 * LF_TS)) --soak-scale 0 --summary "$LF_DIR/v2.json" \
  >/dev/null 2>"$LF_DIR/v2.err" &
sim=$!
online() { [ "$(sql "SELECT count(*) FROM sessions")" = "$N" ]; }
lf_wait_for 60 online || lf_die "the fleet did not come online: $(tail -n 3 "$LF_DIR/v2.err")"
deployed_at=$SECONDS
lf_edgectl --controller "${OPERATOR[2]}" deploy model kws:v2 --site plant-1 --canary 10 --waves 30%,100% --soak 3s \
  --no-health-gates -o json >"$LF_DIR/deploy.json" 2>"$LF_DIR/deploy.txt" || lf_die "deploy: $(cat "$LF_DIR/deploy.txt")"
R=$(json 'd["id"]' <"$LF_DIR/deploy.json")
dispatched() { [ "$(sql "SELECT count(*) FROM rollout_devices WHERE rollout_id = $R AND dispatches > 0")" -ge "$1" ]; }
lf_wait_for 30 dispatched 10 || lf_die "the canary was not dispatched (a deploy through a controller that is not the planner)"
kill -KILL "${PID[0]}"
killed_at=$SECONDS
taken() { p=$(planner_agent); [ -n "$p" ] && [ "$p" != "${AGENT[0]}" ]; }
lf_wait_for 30 taken || lf_die "no survivor took the planner lease: $(sql "SELECT * FROM planner_lease")"
took_over=$((SECONDS - killed_at))
new_planner=$(planner_agent)
wait "$sim" || lf_die "the fleet did not converge on v2: $(tail -n 5 "$LF_DIR/v2.err"; cat "$LF_DIR/v2.json" 2>/dev/null)"
converged_in=$((SECONDS - deployed_at))
[ "$(field "$LF_DIR/v2.json" converged)" = "$N" ] || lf_die "converged: $(cat "$LF_DIR/v2.json")"
[ "$(field "$LF_DIR/v2.json" digest_mismatches)" = 0 ] && [ "$(field "$LF_DIR/v2.json" download_failures)" = 0 ] ||
  lf_die "downloads: $(cat "$LF_DIR/v2.json")"
[ "$(json "d['connected_by_endpoint'].get('${AGENT[0]}', 0)" <"$LF_DIR/v2.json")" = 0 ] ||
  lf_die "agents still on the killed controller: $(json 'd["connected_by_endpoint"]' <"$LF_DIR/v2.json")"
[ "$(field "$LF_DIR/v2.json" connected_at_end)" = "$N" ] || lf_die "not every agent reconnected: $(cat "$LF_DIR/v2.json")"
done_v2() { [ "$(lf_edgectl rollout get "$R" -o json 2>/dev/null | json 'd["state"]')" = completed ]; }
lf_wait_for 30 done_v2 || lf_die "rollout not completed: $(lf_edgectl rollout describe "$R" 2>&1 | head -20)"
r=$(lf_edgectl rollout get "$R" -o json) || lf_die "rollout get through the survivors"
[ "$(json 'len(d["devices"])' <<<"$r")" = "$N" ] || lf_die "rollout rows: $(json 'len(d["devices"])' <<<"$r")"
[ "$(json 'sorted(set(x["dispatches"] for x in d["devices"]))' <<<"$r")" = "[1]" ] || lf_die "a device was dispatched twice or never"
dead() { lf_edgectl get controllers -o json | json '[c["alive"] for c in d if c["agent_endpoint"] == "'"${AGENT[0]}"'"]' | grep -q False; }
lf_wait_for 20 dead || lf_die "the killed controller is not listed dead: $(lf_edgectl get controllers 2>&1)"
ok "$N on v2 ${converged_in} s after the deploy (3 waves, 3 s soaks); the lease passed to $new_planner ${took_over} s after the kill; each device dispatched once; agents on the survivors: $(json 'd["connected_by_endpoint"]' <"$LF_DIR/v2.json")"

step "a device revoked through one controller is cut off by the one that holds its stream"
"${SIM[@]}" --duration $((20 * LF_TS)) --summary "$LF_DIR/revoke.json" >/dev/null 2>"$LF_DIR/revoke.err" &
sim=$!
online_live() { [ "$(sql "SELECT count(*) FROM sessions s JOIN controllers c ON c.id = s.controller WHERE c.agent_endpoint <> '${AGENT[0]}'")" = "$N" ]; }
lf_wait_for 60 online_live || lf_die "the fleet did not come online again: $(tail -n 3 "$LF_DIR/revoke.err")"
read -r victim holder < <(sql "SELECT s.device_id, c.agent_endpoint FROM sessions s JOIN controllers c ON c.id = s.controller ORDER BY s.device_id LIMIT 1" | tr '|' ' ')
other=${OPERATOR[1]}
[ "$holder" != "${AGENT[1]}" ] || other=${OPERATOR[2]}
lf_edgectl --controller "$other" revoke device "$victim" --reason "scale-out test" >/dev/null 2>&1 || lf_die "revoke $victim"
gone() { [ "$(sql "SELECT count(*) FROM sessions WHERE device_id = '$victim'")" = 0 ]; }
lf_wait_for 15 gone || lf_die "$victim's stream on $holder was not ended"
wait "$sim"
[ "$(field "$LF_DIR/revoke.json" refused)" = 1 ] || lf_die "the simulator saw $(field "$LF_DIR/revoke.json" refused) devices refused, not 1"
ok "$victim revoked through $other, cut off by $holder"
