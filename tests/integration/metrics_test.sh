#!/usr/bin/env bash
# /metrics on both daemons (docs/operations.md#metrics): a real controller and agent, each with
# metrics_listen on a kernel-chosen loopback port, scraped with curl before and after a deploy
# and a known number of inferences; the values that must move do, by the amounts they must.
# A bad metrics_listen, or one in use, is refused as a bad configuration (exit 78).
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || lf_die "curl is missing (deploy/install-deps.sh installs it)"

export LF_CONTROLLER_EXTRA='"metrics_listen": "127.0.0.1:0"'
one_agent_fleet '"metrics_listen": "127.0.0.1:0"'
CTL_METRICS=$(lf_json_field "$LF_DIR/ports.json" metrics)
[ -n "$CTL_METRICS" ] || lf_die "ports.json has no metrics port: $(cat "$LF_DIR/ports.json")"
AGENT_METRICS=$(grep '"metrics listening"' "$LF_DIR/gw-1.log" | tail -n 1 | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
[ -n "$AGENT_METRICS" ] || lf_die "the agent did not log its metrics port"

scrape() { curl -sf --max-time 5 "http://127.0.0.1:$1/metrics"; }
# metric PORT SERIES: the value of one series, written as scraped (labels in name order), or 0.
metric() { scrape "$1" | awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? 0 : v) + 0 }'; }
# metric_sum PORT NAME: the sum of every series of NAME.
metric_sum() { scrape "$1" | awk -v n="$2" 'index($1, n "{") == 1 || $1 == n { t += $2 } END { print t + 0 }'; }
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

step "both endpoints answer, in Prometheus text format"
ctl=$(scrape "$CTL_METRICS") || lf_die "controller /metrics did not answer on $CTL_METRICS"
expect_contains "# TYPE edgefleet_controller_connected_agents gauge" "$ctl"
expect_contains "# TYPE edgefleet_controller_rpcs_total counter" "$ctl"
agent=$(scrape "$AGENT_METRICS") || lf_die "agent /metrics did not answer on $AGENT_METRICS"
expect_contains "# TYPE edgefleet_agent_download_bytes_total counter" "$agent"
lf_wait_for 10 metric_is "$CTL_METRICS" edgefleet_controller_connected_agents 1 ||
  lf_die "connected agents is $(metric "$CTL_METRICS" edgefleet_controller_connected_agents), not 1"
ok "controller on $CTL_METRICS shows 1 connected agent; agent on $AGENT_METRICS"

rpcs_before=$(metric_sum "$CTL_METRICS" edgefleet_controller_rpcs_total)
served_before=$(metric "$CTL_METRICS" edgefleet_controller_blob_bytes_served_total)
downloaded_before=$(metric "$AGENT_METRICS" edgefleet_agent_download_bytes_total)
[ "$served_before" = 0 ] && [ "$downloaded_before" = 0 ] || lf_die "bytes counted before any deploy"

step "deploy mlp:v1 (with a self-test, so the health gate runs it)"
mlp_selftest mlp_anomaly.qdq "$LF_DIR/st.json"
make_model "$LF_DIR/v1.onnx"
b1=$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx" --selftest "$LF_DIR/st.json")
lf_edgectl model push "$b1" 2>/dev/null || lf_die "push v1"
lf_edgectl deploy model mlp:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "deploy v1"
model_bytes=$(stat -c %s "$LF_DIR/v1.onnx")

rpcs_after=$(metric_sum "$CTL_METRICS" edgefleet_controller_rpcs_total)
gt "$rpcs_after" "$rpcs_before" || lf_die "RPC counter did not grow ($rpcs_before -> $rpcs_after)"
ok_rpcs=$(metric "$CTL_METRICS" 'edgefleet_controller_rpcs_total{code="OK",method="/edge.v1.OperatorService/CreateRollout"}')
[ "$ok_rpcs" = 1 ] || lf_die "CreateRollout OK calls: $ok_rpcs, not 1: $(scrape "$CTL_METRICS" | grep rpcs_total)"
timed=$(metric "$CTL_METRICS" 'edgefleet_controller_rpc_duration_seconds_count{method="/edge.v1.OperatorService/CreateRollout"}')
[ "$timed" = 1 ] || lf_die "CreateRollout timed $timed times, not 1"
gt "$(metric_sum "$CTL_METRICS" edgefleet_controller_store_duration_seconds_count)" 0 || lf_die "no store operation timed"
ok "RPCs $rpcs_before -> $rpcs_after; CreateRollout counted and timed once; store operations timed"

served=$(metric "$CTL_METRICS" edgefleet_controller_blob_bytes_served_total)
downloaded=$(metric "$AGENT_METRICS" edgefleet_agent_download_bytes_total)
gt "$served" 0 && gt "$downloaded" 0 || lf_die "bytes served $served, downloaded $downloaded"
gt "$served" "$((model_bytes - 1))" || lf_die "served $served bytes, the model alone is $model_bytes"
[ "$downloaded" = "$served" ] || lf_die "agent downloaded $downloaded bytes, controller served $served"
ok "controller served $served bytes, agent received the same (model file: $model_bytes)"

gate=$(metric "$AGENT_METRICS" 'edgefleet_agent_health_gate_total{result="passed"}')
[ "$gate" = 1 ] || lf_die "health gate passes counted: $gate, not 1"
[ "$(metric "$AGENT_METRICS" 'edgefleet_agent_health_gate_total{result="failed"}')" = 0 ] || lf_die "a gate failure counted"
lf_wait_for 15 metric_is "$AGENT_METRICS" 'edgefleet_agent_update_state{model="mlp",state="committed"}' 1 ||
  lf_die "agent update state is not committed: $(scrape "$AGENT_METRICS" | grep 'update_state.*} 1')"
[ "$(metric "$AGENT_METRICS" 'edgefleet_agent_update_state{model="mlp",state="probation"}')" = 0 ] || lf_die "probation still 1"
ok "1 health gate pass; update state committed"

lf_wait_for 15 metric_is "$CTL_METRICS" 'edgefleet_controller_rollouts{state="completed"}' 1 ||
  lf_die "rollouts: $(scrape "$CTL_METRICS" | grep '_rollouts{')"
lf_wait_for 15 metric_is "$CTL_METRICS" 'edgefleet_controller_device_models{state="committed"}' 1 ||
  lf_die "device models: $(scrape "$CTL_METRICS" | grep '_device_models{')"
ok "controller: 1 rollout completed, 1 device model committed"

step "a method no service has is counted as unknown, whatever its name"
ENROLL_PORT=$(lf_json_field "$LF_DIR/ports.json" enroll)
for i in 1 2 3; do  # the enrollment listener takes calls without a client certificate
  curl -sk --http2 --max-time 5 -o /dev/null -X POST -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @/dev/null "https://127.0.0.1:$ENROLL_PORT/edge.v1.Invented$i/Method" || true
done
unknown=$(metric "$CTL_METRICS" 'edgefleet_controller_rpcs_total{code="UNIMPLEMENTED",method="unknown"}')
[ "$unknown" = 3 ] || lf_die "unknown methods counted $unknown times: $(scrape "$CTL_METRICS" | grep 'rpcs_total{')"
scrape "$CTL_METRICS" | grep -q Invented && lf_die "a client-chosen method name became a label"
ok "3 invented methods -> 3 calls with method=\"unknown\", no label from the client"

step "inferences are counted per model version, exactly"
series='{model="mlp",version="v1"}'
before=$(metric "$AGENT_METRICS" "edgefleet_agent_inferences_total$series")
for i in 1 2 3 4 5 6 7; do
  lf_edgectl infer mlp --socket "$LF_DIR/gw-1/infer.sock" --input "$LF_DIR/ok.npy" >/dev/null 2>&1 || lf_die "inference $i"
done
after=$(metric "$AGENT_METRICS" "edgefleet_agent_inferences_total$series")
[ "$((after - before))" = 7 ] || lf_die "inferences $before -> $after after 7 requests"
[ "$(metric "$AGENT_METRICS" "edgefleet_agent_inference_errors_total$series")" = 0 ] || lf_die "errors counted"
count=$(metric "$AGENT_METRICS" "edgefleet_agent_inference_duration_seconds_count$series")
[ "$count" = "$after" ] || lf_die "latency histogram has $count samples, inferences $after"
ok "7 requests -> inferences $before -> $after, 0 errors, $count latency samples"

step "a bad metrics_listen, or one in use, is a bad configuration (exit 78)"
sed "s/\"metrics_listen\": \"127.0.0.1:0\"/\"metrics_listen\": \"localhost:9464\"/" "$LF_DIR/controller.json" >"$LF_DIR/bad-controller.json"
grep -q 'localhost:9464' "$LF_DIR/bad-controller.json" || lf_die "test setup: no metrics_listen in controller.json"
expect_fail 78 "metrics_listen" "$LF_BIN/controller/edge-controller" --config "$LF_DIR/bad-controller.json"
sed "s/\"metrics_listen\": \"127.0.0.1:0\"/\"metrics_listen\": \"127.0.0.1:99999\"/" "$LF_DIR/gw-1.json" >"$LF_DIR/bad-agent.json"
expect_fail 78 "metrics_listen" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/bad-agent.json"
sed "s/\"metrics_listen\": \"127.0.0.1:0\"/\"metrics_listen\": \"127.0.0.1:$CTL_METRICS\"/" "$LF_DIR/gw-1.json" >"$LF_DIR/busy-agent.json"
expect_fail 78 "cannot serve metrics" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/busy-agent.json"
echo "PASS"
