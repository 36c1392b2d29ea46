#!/usr/bin/env bash
# Fleet scale at test size: 500 simulated agents (edge-fleetsim: one process, each device with
# its own key, enrollment, mTLS Connect stream, reports and digest-checked downloads) against a
# real controller. They enroll and connect through the hardened listeners; a canary-and-waves
# rollout reaches all of them while 5% drop off mid-rollout and come back, each device
# dispatched once, while an operator's calls keep being answered; a version that fails on every
# device stops at its canary and the rest of the fleet never gets it. Set EDGE_FLEETSIM_DEVICES for another size.
source "$(dirname "$0")/lib.sh"
N="${EDGE_FLEETSIM_DEVICES:-500}"
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
rq() { lf_edgectl rollout get "$1" -o json 2>/dev/null | json "$2"; }
field() { json "d[\"$2\"]" <"$1"; }  # SUMMARY KEY

step "controller; $N simulated agents enroll and connect"
# Every simulated device connects from 127.0.0.1: the per-source caps are raised to what one
# address holding the whole fleet needs (a real fleet comes from many addresses).
export LF_CONTROLLER_EXTRA='"connection_limits": {"max_connections_per_source": 4000, "accepts_per_second_per_source": 2000, "accept_burst_per_source": 2000}'
lf_pki
lf_start_controller
lf_edgectl create site plant-1 >/dev/null 2>&1 || lf_die "create site"
SIM=("$LF_BIN/tests/fleetsim/edge-fleetsim" --agent-endpoint "127.0.0.1:$LF_AGENT_PORT"
  --enroll-endpoint "127.0.0.1:$LF_ENROLL_PORT" --ca "$LF_DIR/pki/fleet-ca.pem"
  --release-root "$LF_DIR/pki/release-root.pub" --state "$LF_DIR/sim" --devices "$N" --site plant-1
  --report-interval 2 --progress-interval 10)
"${SIM[@]}" --until-connected --timeout $((120 * LF_TS)) --summary "$LF_DIR/connect.json" >/dev/null 2>"$LF_DIR/connect.err" ||
  lf_die "not all $N connected: $(tail -n 5 "$LF_DIR/connect.err"; cat "$LF_DIR/connect.json" 2>/dev/null)"
[ "$(field "$LF_DIR/connect.json" enrolled)" = "$N" ] || lf_die "enrolled: $(cat "$LF_DIR/connect.json")"
[ "$(lf_edgectl get devices --site plant-1 -o json | json 'len(d)')" = "$N" ] || lf_die "the controller does not list $N devices"
ok "$N enrolled and connected ($(field "$LF_DIR/connect.json" elapsed_s | cut -c1-5) s; connect p99 $(json 'd["connect"]["p99_ms"]' <"$LF_DIR/connect.json" | cut -c1-6) ms)"

step "a canary-and-waves rollout to $N devices converges while 5% drop off and come back"
MODEL="$(lf_demo_model)"
lf_edgectl model push "$(lf_bundle kws v2 2 "$MODEL")" >/dev/null 2>&1 || lf_die "push v2"
"${SIM[@]}" --until-converged kws:v2 --timeout $((180 * LF_TS)) --offline 0.05:$((3 * LF_TS)):$((5 * LF_TS)) --soak-scale 0 --operator-rate 10 \
  --summary "$LF_DIR/v2.json" >/dev/null 2>"$LF_DIR/v2.err" &
sim=$!
lf_wait_for 60 lf_fleet_online "$N" || lf_die "the fleet did not come online: $(tail -n 3 "$LF_DIR/v2.err")"
listed=$(lf_edgectl get controllers -o json) || lf_die "get controllers"
# (5% of the agents may have begun their scripted outage already.)
[ "$(json '[(c["id"], c["alive"], c["planner"], c["agents"] >= '"$N"' * 0.9) for c in d]' <<<"$listed")" = "[('this controller', True, True, True)]" ] ||
  lf_die "get controllers: $listed"
started=$SECONDS
lf_edgectl deploy model kws:v2 --site plant-1 --canary 10 --waves 50%,100% --soak 2s --no-health-gates \
  -o json >"$LF_DIR/deploy-v2.json" 2>"$LF_DIR/deploy-v2.txt" || lf_die "deploy v2: $(cat "$LF_DIR/deploy-v2.txt")"
V2=$(json 'd["id"]' <"$LF_DIR/deploy-v2.json")
wait "$sim" || lf_die "the fleet did not converge on v2: $(tail -n 5 "$LF_DIR/v2.err"; cat "$LF_DIR/v2.json" 2>/dev/null)"
took=$((SECONDS - started))
[ "$(field "$LF_DIR/v2.json" converged)" = "$N" ] || lf_die "converged: $(cat "$LF_DIR/v2.json")"
[ "$(field "$LF_DIR/v2.json" digest_mismatches)" = 0 ] && [ "$(field "$LF_DIR/v2.json" download_failures)" = 0 ] ||
  lf_die "downloads: $(cat "$LF_DIR/v2.json")"
[ "$(field "$LF_DIR/v2.json" offline_episodes)" = 1 ] || lf_die "no offline episode ran"
# The outage (from 3 s into the run, for 5 s) fell inside the rollout (2 s soaks between waves).
[ "$(field "$LF_DIR/v2.json" disconnects)" -ge $((N / 40)) ] || lf_die "too few disconnects: $(cat "$LF_DIR/v2.json")"
done_v2() { [ "$(rq "$V2" 'd["state"]')" = completed ]; }
lf_wait_for 30 done_v2 || lf_die "rollout v2 not completed: $(lf_edgectl rollout describe "$V2" 2>&1 | head -20)"
r=$(lf_edgectl rollout get "$V2" -o json)
[ "$(json 'sorted(set(x["dispatches"] for x in d["devices"]))' <<<"$r")" = "[1]" ] || lf_die "a device was dispatched twice or never"
[ "$(json 'len(d["devices"])' <<<"$r")" = "$N" ] || lf_die "rollout rows: $(json 'len(d["devices"])' <<<"$r")"
[ "$(field "$LF_DIR/v2.json" operator_errors)" = 0 ] && [ "$(json 'd["operator_calls"]["count"]' <"$LF_DIR/v2.json")" -gt 10 ] ||
  lf_die "operator calls during the rollout: $(cat "$LF_DIR/v2.json")"
ok "$N on v2 in ${took} s (3 waves, each device dispatched once; $(field "$LF_DIR/v2.json" downloads) downloads; converge p99 $(json 'd["converge"]["p99_ms"]' <"$LF_DIR/v2.json" | cut -c1-7) ms; operator calls p99 $(json 'd["operator_calls"]["p99_ms"]' <"$LF_DIR/v2.json" | cut -c1-6) ms)"

step "a version that fails on every device stops at its canary"
lf_edgectl model push "$(lf_bundle kws v3 3 "$MODEL")" >/dev/null 2>&1 || lf_die "push v3"
"${SIM[@]}" --duration $((120 * LF_TS)) --fail 1.0:v3 --soak-scale 0 --summary "$LF_DIR/v3.json" >/dev/null 2>"$LF_DIR/v3.err" &
sim=$!
lf_wait_for 60 lf_fleet_online "$N" || lf_die "the fleet did not come online: $(tail -n 3 "$LF_DIR/v3.err")"
lf_edgectl deploy model kws:v3 --site plant-1 --canary 10 --waves 100% --soak 0s --no-health-gates \
  -o json >"$LF_DIR/deploy-v3.json" 2>"$LF_DIR/deploy-v3.txt" || lf_die "deploy v3: $(cat "$LF_DIR/deploy-v3.txt")"
V3=$(json 'd["id"]' <"$LF_DIR/deploy-v3.json")
stopped() { case "$(rq "$V3" 'd["state"]')" in paused | aborted | reverted) true ;; *) false ;; esac; }
lf_wait_for 60 stopped || lf_die "v3 did not stop: $(lf_edgectl rollout describe "$V3" 2>&1 | head -20)"
sleep 2
r=$(lf_edgectl rollout get "$V3" -o json)
# Only the canary was touched (dispatched v3, and sent back to v2 when the rollout reverted).
[ "$(json 'sum(1 for x in d["devices"] if x["dispatches"] > 0)' <<<"$r")" = 10 ] ||
  lf_die "v3 reached more than its canary: $(json '[(x["id"], x["state"], x["dispatches"]) for x in d["devices"] if x["dispatches"]]' <<<"$r")"
kill -TERM "$sim"
wait "$sim" || true
[ "$(field "$LF_DIR/v3.json" rolled_back)" = 10 ] || lf_die "rolled back: $(cat "$LF_DIR/v3.json")"
[ "$(field "$LF_DIR/v3.json" interrupted)" = True ] || lf_die "the simulator did not end on SIGTERM"
on_v2=$(lf_edgectl get devices --site plant-1 -o json | json 'sum(1 for x in d for m in x.get("models", []) if m.get("version") == "v2")')
ok "v3 $(rq "$V3" 'd["state"]') after its 10-device canary failed; the simulator saw 10 roll back; $on_v2 devices report v2"
