#!/usr/bin/env bash
# Health reports and update events over real mTLS, into a real SQLite store: a report is
# stored, a re-sent event is stored once and acknowledged with the highest stored seq, the
# malformed parts of a report are refused with a log line naming the device, and edgectl shows
# the health, the events and the deployment's outcome.
source "$(dirname "$0")/lib.sh"
probe() { "$LF_BIN/tests/integration/edge-probe" "$@"; }
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

step "controller, one agent, kws:v1 deployed and committed"
lf_pki
lf_start_controller
P="$LF_DIR/pki"
lf_edgectl create site plant-1 2>/dev/null || lf_die "create site"
lf_add_agent gw-1 plant-1
lf_wait_for 30 all_online 1 || lf_die "agent not online"
make_model "$LF_DIR/m.onnx"
lf_edgectl model push "$(lf_bundle kws v1 1 "$LF_DIR/m.onnx")" 2>/dev/null || lf_die "push"
lf_edgectl deploy model kws:v1 --all-at-once --site plant-1 --wait --timeout 60s 2>/dev/null || lf_die "deploy"
# From here the probe speaks for gw-1, with gw-1's own certificate.
lf_kill_agent gw-1
A=(--addr "127.0.0.1:$LF_AGENT_PORT" --ca "$P/fleet-ca.pem" --cert "$LF_DIR/gw-1/identity/cert.pem"
   --key "$LF_DIR/gw-1/identity/key.pem")
ok "ready"

step "a report with health and events is acknowledged; re-sending it stores nothing new"
# The agent itself already reported (health samples and the commit of kws:v1 as event seq 1).
before=$(lf_edgectl describe device gw-1 -o json | json 'len(d["health_history"])')
out=$(probe "${A[@]}" report --times 2) || lf_die "report: $out"
[ "$(grep -c '^ack: 2$' <<<"$out")" -eq 2 ] || lf_die "expected two acks of seq 2: $out"
out=$(probe "${A[@]}" report --times 1) || lf_die "report on a new stream: $out"
expect_contains "ack: 2" "$out"
d=$(lf_edgectl describe device gw-1 -o json) || lf_die "describe -o json"
[ "$(json 'len(d["events"])' <<<"$d")" = 2 ] || lf_die "expected 2 stored events: $d"
[ "$(json '[e["seq"] for e in d["events"]]' <<<"$d")" = "[2, 1]" ] || lf_die "events not newest first: $d"
[ "$(json 'd["events"][0]["offline_install"]' <<<"$d")" = True ] || lf_die "offline install lost"
want=$((before + 3 > 20 ? 20 : before + 3))
[ "$(json 'len(d["health_history"])' <<<"$d")" = "$want" ] || lf_die "expected $want health samples"
[ "$(json '[m["model"] for m in d["health"]["models"]]' <<<"$d")" = "['kws']" ] || lf_die "bad model stored"
[ "$(json 'd["health"]["models"][0]["latency"]["counts"]' <<<"$d")" = "[4000, 300, 20, 1]" ] ||
  lf_die "histogram not stored"
ok "3 reports, 2 events stored once each, seq 3 (unknown outcome) and model 'broken' refused"

step "the refusals are logged with the device and the problem"
grep '"health report refused in part"' "$LF_DIR/controller.log" | grep '"device":"gw-1"' | grep -q "broken" ||
  lf_die "no log line for the malformed model"
grep '"update event refused"' "$LF_DIR/controller.log" | grep '"device":"gw-1"' | grep -q "seq 3" ||
  lf_die "no log line for the malformed event"
ok "logged"

step "edgectl shows health, history and events; the rollout counts the commit"
text=$(lf_edgectl describe device gw-1) || lf_die "describe"
for want in "CPU 12.5%, RSS 48.0 MiB, disk free 20.0 GiB, uptime 2h" "4321" "180us" "870us" \
  "passed 3 cases, max error 0.0" "Health history" "kws 4321/3/870us" "rolled_back (offline install)" \
  "p99 1.9ms over the 1ms budget"; do
  expect_contains "$want" "$text"
done
[ "$(lf_edgectl get rollouts -o json | json 'd[0]["counts"]["updated"]')" = 1 ] || lf_die "the rollout does not count the commit"
ok "describe and get rollouts"
echo "PASS"
