#!/usr/bin/env bash
# Probation: after the switch the agent watches the new version for its soak period. A version
# that starts erroring, or one that crash-loops the agent, is rolled back by the agent itself:
# the old version serves again and the controller shows why.
source "$(dirname "$0")/lib.sh"

one_agent_fleet '"probation_min_requests": 5, "probation_max_error_rate": 0.2, "probation_max_restarts": 2'
mlp_selftest mlp_anomaly "$LF_DIR/selftest.json"
make_npy "$LF_DIR/huge.npy" "(1, 64)" 64 '\xe6\xb1\x61\x7f'  # 3e38: the fp32 MLP overflows to Inf

step "v1 (soak 0) commits at once and serves"
make_model "$LF_DIR/v1.onnx" mlp_anomaly
b=$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx" --selftest "$LF_DIR/selftest.json")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push v1"
lf_edgectl deploy model mlp:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "v1 did not commit"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v1 ] || lf_die "v1 does not answer"
ok "v1 committed and answers"

step "v2 starts erroring during probation and is rolled back"
make_model "$LF_DIR/v2.onnx" mlp_anomaly
b=$(lf_bundle mlp v2 2 "$LF_DIR/v2.onnx" --selftest "$LF_DIR/selftest.json" --soak-seconds 120)
lf_edgectl model push "$b" 2>/dev/null || lf_die "push v2"
lf_edgectl deploy model mlp:v2 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy v2"
lf_wait_for 30 state_is gw-1 probation || lf_die "v2 never reached probation (state: $(device_state gw-1))"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v2 ] || lf_die "v2 does not serve during probation"
# Inputs the model overflows on: every answer is an error (a non-finite output).
for i in $(seq 1 10); do
  lf_edgectl infer mlp --socket "$LF_DIR/gw-1/infer.sock" --input "$LF_DIR/huge.npy" >/dev/null 2>&1 &&
    lf_die "a non-finite output was returned as a success"
done
lf_wait_for 30 state_is gw-1 rolled_back || lf_die "v2 was not rolled back (state: $(device_state gw-1))"
expect_contains "error rate" "$(lf_edgectl describe device gw-1)"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v1 ] || lf_die "v1 does not serve after the rollback"
[ "$(readlink "$LF_DIR/gw-1/models/mlp/current")" = v1 ] || lf_die "current is not v1"
# Its disk is given back: v2's directory and its model blob (unique bytes) are gone, v1's stay.
v2_blob="$LF_DIR/gw-1/blobs/sha256/$(sha256sum "$LF_DIR/v2.onnx" | cut -c1-64)"
v1_blob="$LF_DIR/gw-1/blobs/sha256/$(sha256sum "$LF_DIR/v1.onnx" | cut -c1-64)"
gone() { [ ! -e "$v2_blob" ] && [ ! -e "$LF_DIR/gw-1/models/mlp/v2" ]; }
lf_wait_for 10 gone || lf_die "v2's files stayed after the rollback: $(ls "$LF_DIR/gw-1/models/mlp" "$LF_DIR/gw-1/blobs/sha256")"
[ -e "$v1_blob" ] || lf_die "v1's blob was collected"
ok "v2 rolled back for its error rate; v1 serves again; v2's version directory and blob removed"

step "a rolled-back version is not retried by itself"
lf_stop_controller
lf_start_controller
lf_wait_for 30 all_online 1 || lf_die "agent did not reconnect"
sleep 1
state_is gw-1 rolled_back || lf_die "v2 was retried (state: $(device_state gw-1))"
ok "still rolled back after the controller re-sent the desired state"

step "v3 crash-loops the agent during probation and is rolled back"
lf_kill_agent gw-1
export EDGE_CRASH_AT=probation.watch
lf_start_agent gw-1
lf_wait_for 30 all_online 1 || lf_die "agent not online"
make_model "$LF_DIR/v3.onnx" mlp_anomaly
b=$(lf_bundle mlp v3 3 "$LF_DIR/v3.onnx" --selftest "$LF_DIR/selftest.json" --soak-seconds 120)
lf_edgectl model push "$b" 2>/dev/null || lf_die "push v3"
lf_edgectl deploy model mlp:v3 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy v3"
# A supervisor's job, as systemd's Restart= would: restart the agent each time it dies.
deaths=0
agent_dead() { ! kill -0 "${LF_AGENT_PID[gw-1]}" 2>/dev/null; }
for attempt in $(seq 1 6); do
  lf_wait_for 15 agent_dead || break
  deaths=$((deaths + 1))
  lf_start_agent gw-1
done
unset EDGE_CRASH_AT
[ "$deaths" -eq 3 ] || lf_die "expected 3 crashes before the rollback, saw $deaths"
lf_wait_for 30 state_is gw-1 rolled_back || lf_die "v3 was not rolled back (state: $(device_state gw-1))"
expect_contains "crash loop" "$(lf_edgectl describe device gw-1)"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v1 ] || lf_die "v1 does not serve after the crash loop"
ok "v3 rolled back after $deaths crashes; v1 serves again"

step "targets replaced in flight: each ends with its own outcome, the last one commits"
lf_kill_agent gw-1  # the one started last in the loop above still carries EDGE_CRASH_AT
lf_start_agent gw-1
lf_wait_for 30 all_online 1 || lf_die "agent not online"
for v in 4 5 6 7; do
  make_model "$LF_DIR/v$v.onnx" mlp_anomaly
  b=$(lf_bundle mlp "v$v" "$v" "$LF_DIR/v$v.onnx" --selftest "$LF_DIR/selftest.json" --soak-seconds 2)
  lf_edgectl model push "$b" 2>/dev/null || lf_die "push v$v"
done
for v in 4 5 6 7; do
  lf_edgectl deploy model "mlp:v$v" --all-at-once --site plant-7 >/dev/null 2>&1 || lf_die "deploy v$v"
  sleep 0.2
done
lf_wait_for 60 state_is gw-1 committed || lf_die "v7 did not commit (state: $(device_state gw-1))"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v7 ] || lf_die "v7 does not serve"
events() { lf_edgectl describe device gw-1 2>/dev/null | sed -n '/^Update events/,/^Recent audit/p'; }
all_reported() { [ "$(events | grep -cE ' v[4-6] +abandoned +replaced by v[5-7]')" -ge 1 ] && events | grep -qE ' v7 +committed'; }
lf_wait_for 20 all_reported || lf_die "outcomes of the replaced targets not reported: $(events)"
# Every version deployed here has exactly one outcome (none of v4..v6 is left without one).
for v in 4 5 6 7; do
  [ "$(events | grep -cE " v$v +(committed|abandoned|failed|rolled_back) ")" -eq 1 ] || lf_die "v$v has no single outcome: $(events)"
done
ok "$(events | grep -cE ' abandoned ') target(s) abandoned, v7 committed, one outcome each"
echo "PASS"
