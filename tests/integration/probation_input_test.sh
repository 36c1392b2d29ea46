#!/usr/bin/env bash
# Probation judges the model, not its clients: a local process that sends NaN or Inf inputs to
# a good, signed fp32 model during its probation gets INVALID_ARGUMENT for each request, and the
# version still commits; the health report counts no model error for those requests.
source "$(dirname "$0")/lib.sh"

one_agent_fleet '"probation_min_requests": 5, "probation_max_error_rate": 0.2'
mlp_selftest mlp_anomaly "$LF_DIR/selftest.json"
make_npy "$LF_DIR/nan.npy" "(1, 64)" 64 '\x00\x00\xc0\x7f'  # quiet NaN
make_npy "$LF_DIR/inf.npy" "(1, 64)" 64 '\x00\x00\x80\x7f'  # +Inf

step "v1 (fp32, soak 0) commits and serves"
make_model "$LF_DIR/v1.onnx" mlp_anomaly
b=$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx" --selftest "$LF_DIR/selftest.json")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push v1"
lf_edgectl deploy model mlp:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "v1 did not commit"
ok "v1 committed"

step "NaN and Inf inputs during v2's probation are refused as the client's error"
make_model "$LF_DIR/v2.onnx" mlp_anomaly
b=$(lf_bundle mlp v2 2 "$LF_DIR/v2.onnx" --selftest "$LF_DIR/selftest.json" --soak-seconds $((15 * LF_TS)))
lf_edgectl model push "$b" 2>/dev/null || lf_die "push v2"
lf_edgectl deploy model mlp:v2 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy v2"
lf_wait_for 30 state_is gw-1 probation || lf_die "v2 never reached probation (state: $(device_state gw-1))"
for i in $(seq 1 10); do
  expect_fail 1 "element 0 is NaN; inputs must be finite" \
    lf_edgectl infer mlp --socket "$LF_DIR/gw-1/infer.sock" --input "$LF_DIR/nan.npy" >/dev/null
  expect_fail 1 "element 0 is +Inf" \
    lf_edgectl infer mlp --socket "$LF_DIR/gw-1/infer.sock" --input "$LF_DIR/inf.npy" >/dev/null
done
# A few good requests too, so the error rate is judged (min 5 requests) and is 0.
for i in $(seq 1 6); do
  [ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v2 ] || lf_die "v2 does not answer during probation"
done
state_is gw-1 probation || lf_die "v2 left probation early (state: $(device_state gw-1))"
ok "20 bad requests refused, v2 still in probation"

step "v2 commits after its soak period; its health report counts no model error"
lf_wait_for 40 lf_site_on plant-7 mlp v2 || lf_die "v2 did not commit (state: $(device_state gw-1)): $(lf_edgectl describe device gw-1)"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v2 ] || lf_die "v2 does not answer after commit"
[ "$(readlink "$LF_DIR/gw-1/models/mlp/current")" = v2 ] || lf_die "current is not v2"
sleep 3  # one more health report
health=$(lf_edgectl describe device gw-1 -o json)
errors=$(tr -d ' \n' <<<"$health" | grep -o '"health":{[^]]*"models":\[{[^}]*' | grep -o '"errors":[0-9]*' | head -n 1)
[ "$errors" = '"errors":0' ] || lf_die "expected no model errors in the health report, got '$errors': $health"
ok "v2 committed; health report: $errors"
echo "PASS"
