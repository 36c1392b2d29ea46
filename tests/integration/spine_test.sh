#!/usr/bin/env bash
# The spine: two sites, four agents; a deploy reaches exactly one site; redeploy is a no-op;
# after a controller restart, agents reconnect and converge on what changed meanwhile.
source "$(dirname "$0")/lib.sh"

step "PKI, controller, two sites, four agents"
lf_pki
lf_start_controller
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
lf_edgectl create site plant-9 2>/dev/null || lf_die "create site"
for a in gw-7a:plant-7 gw-7b:plant-7 gw-9a:plant-9 gw-9b:plant-9; do lf_add_agent "${a%%:*}" "${a##*:}"; done
lf_wait_for 30 all_online 4 || lf_die "agents did not all come online"
ok "4 agents enrolled and online"
for a in gw-7a gw-9a; do
  mode=$(stat -c %a "$LF_DIR/$a/identity/key.pem")
  [ "$mode" = 600 ] || lf_die "$a identity key has mode $mode"
done
ok "device keys are 0600"

step "push and deploy v3 to plant-7 only (bare version ref)"
make_model "$LF_DIR/model-v3.onnx"
b3=$(lf_bundle kws v3 3 "$LF_DIR/model-v3.onnx")
lf_edgectl model push "$b3" || lf_die "push v3"
out=$(lf_edgectl deploy model v3 --all-at-once --site plant-7 --wait --timeout 60s 2>&1) || lf_die "deploy: $out"
expect_contains "converged: 2/2" "$out"
lf_site_on plant-7 kws v3 || lf_die "plant-7 not on v3"
json=$(lf_edgectl get devices --site plant-9 -o json)
expect_contains '"models": \[\]' "$json"
[ ! -e "$LF_DIR/gw-9a/models/kws" ] || lf_die "plant-9 agent received kws"
[ "$(readlink "$LF_DIR/gw-7a/models/kws/current")" = v3 ] || lf_die "gw-7a current is not v3"
cmp -s "$LF_DIR/model-v3.onnx" "$LF_DIR/gw-7b/models/kws/v3/model" || lf_die "installed model differs"
ok "plant-7 on v3, plant-9 untouched, installed bytes identical"

step "redeploying the same version is a no-op"
targets_before=$(grep -c '"new target"' "$LF_DIR/gw-7a.log")
out=$(lf_edgectl deploy model kws:v3 --all-at-once --site plant-7 2>&1) || lf_die "redeploy: $out"
expect_contains "0 changed" "$out"
sleep 1
[ "$(grep -c '"new target"' "$LF_DIR/gw-7a.log")" -eq "$targets_before" ] || lf_die "agent restarted work on redeploy"
ok "no desired-state change, agent did nothing"

step "a bare version that two models have is ambiguous"
make_model "$LF_DIR/vib-v3.onnx"
lf_edgectl model push "$(lf_bundle vib v3 3 "$LF_DIR/vib-v3.onnx")" 2>/dev/null || lf_die "push vib:v3"
expect_fail 1 "ambiguous: use one of kws:v3, vib:v3" lf_edgectl deploy model v3 --all-at-once --site plant-9
expect_fail 1 "no model has a version 'v77'" lf_edgectl deploy model v77 --all-at-once --site plant-9
expect_fail 1 "site 'nowhere' does not exist" lf_edgectl deploy model kws:v3 --all-at-once --site nowhere

step "controller restart while an agent is down; both converge on v4"
make_model "$LF_DIR/model-v4.onnx"
b4=$(lf_bundle kws v4 4 "$LF_DIR/model-v4.onnx")
lf_edgectl model push "$b4" || lf_die "push v4"
lf_kill_agent gw-7b KILL
lf_stop_controller TERM
lf_start_controller
lf_edgectl deploy model kws:v4 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy v4"
lf_start_agent gw-7b
lf_wait_for 60 lf_site_on plant-7 kws v4 || lf_die "plant-7 did not converge on v4 after restart"
[ "$(readlink "$LF_DIR/gw-7b/models/kws/previous")" = v3 ] || lf_die "previous is not v3"
lf_wait_for 10 all_online 4 || lf_die "not all agents reconnected"
ok "agents reconnected, converged on v4, previous kept"

step "an unchanged blob is never sent twice"
b5=$(lf_bundle kws v5 5 "$LF_DIR/model-v4.onnx")
out=$(lf_edgectl model push "$b5" 2>&1) || lf_die "push v5: $out"
expect_contains "1 blob(s) already on the controller, not sent again" "$out"
lf_edgectl deploy model kws:v5 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "v5 (reused blob) did not converge"
ok "v5 reuses v4's blob: not uploaded again, still deployable"

step "audit trail names the operator"
audit=$(lf_edgectl get audit)
expect_contains "operator/admin  *ok  *rollout.create" "$audit"
expect_contains "model.push" "$audit"
ok "audit rows present"
echo "PASS"
