#!/usr/bin/env bash
# An expired trust policy never bricks a gateway: after the policy it holds expires, a restarted
# agent starts, serves its committed model and connects; it refuses new installs with the reason
# and takes (and acts on) a newer policy the controller hands it. The controller here takes a new
# policy file at restart (it reads `trust_policy` at start); PushTrustPolicy does the same live.
source "$(dirname "$0")/lib.sh"

one_agent_fleet
pki="$LF_DIR/pki"
make_npy "$LF_DIR/ok.npy" "(1, 64)" 64 '\x00\x00\x00\x3f'
serving() { [ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = "$1" ]; }
adopted() { grep -q "\"trust policy adopted\".*\"version\":$1[,}]" "$LF_DIR/gw-1.log"; }
# serve_policy FILE: the controller hands FILE to agents from its next start on.
serve_policy() {
  cp "$1" "$pki/trust-policy.json" || lf_die "copy $1"
  lf_stop_controller
  lf_start_controller
  lf_wait_for 30 all_online 1 || lf_die "agent did not reconnect"
}
# hand_policy FILE: `edgectl trust push` (PushTrustPolicy); against a controller that does not
# implement it yet, the command says so and the file takes the restart path instead.
policy_path=""
hand_policy() {
  local out
  if out=$(lf_edgectl trust push "$1" 2>&1); then
    policy_path=push
    return
  fi
  expect_contains "does not implement it yet" "$out"
  policy_path=file
  serve_policy "$1"
}

step "v1 commits under trust policy v1"
make_model "$LF_DIR/v1.onnx" mlp_anomaly
b=$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push v1"
lf_edgectl deploy model mlp:v1 --all-at-once --site plant-7 --wait --timeout 60s >"$LF_DIR/deploy-v1.txt" 2>&1 ||
  lf_die "v1 did not commit: $(cat "$LF_DIR/deploy-v1.txt")"
ok "v1 committed"

# Long enough for the restart, the adoption and a push on a loaded CI host (scaled under
# emulation); expires_at is taken after the rotation, so it is never before the real expiry.
valid=$((30 * LF_TS))
step "trust policy v2, valid for $valid s, is adopted by the agent"
lf_edgectl trust rotate --policy "$pki/trust-policy.json" --root-key "$pki/release-root.key" \
  --out "$LF_DIR/policy-v2.json" --expires "${valid}s" >"$LF_DIR/rotate-v2.txt" 2>&1 || lf_die "rotate v2: $(cat "$LF_DIR/rotate-v2.txt")"
expires_at=$((SECONDS + valid))
expect_contains "trust policy v1 -> v2" "$(cat "$LF_DIR/rotate-v2.txt")"
serve_policy "$LF_DIR/policy-v2.json"
lf_wait_for 20 adopted 2 || lf_die "agent did not adopt v2"
# Pushed while the controller's policy is valid; deployed after it expired.
make_model "$LF_DIR/v2.onnx" mlp_anomaly
b=$(lf_bundle mlp v2 2 "$LF_DIR/v2.onnx")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push v2"
ok "v2 adopted; mlp:v2 pushed"

step "after expiry, a restarted agent starts, serves its model and connects"
# v2 is deployed while the policy is valid and the agent is down: the agent meets it only after
# the expiry (the controller itself refuses deploys under an expired policy, see below).
lf_kill_agent gw-1
lf_edgectl deploy model mlp:v2 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy v2"
while [ $SECONDS -le $((expires_at + 1)) ]; do sleep 0.5; done
log_mark=$(wc -l <"$LF_DIR/gw-1.log")
lf_start_agent gw-1
lf_wait_for 30 serving v1 || lf_die "agent does not serve v1 after the restart: $(tail -n 5 "$LF_DIR/gw-1.log")"
lf_wait_for 30 all_online 1 || lf_die "agent did not reconnect"
ok "agent up under expired policy v2: serving v1, online"

step "a new install is refused with the reason, said once in the log"
expect_fail 77 "does not verify under the served trust policy v2.*expired" lf_edgectl deploy model mlp:v2 --all-at-once --site plant-7
lf_wait_for 30 state_is gw-1 failed || lf_die "v2 was not refused (state: $(device_state gw-1))"
detail=$(lf_edgectl describe device gw-1)
expect_contains "trust policy v2 expired at .*; waiting for a newer policy" "$detail"
serving v1 || lf_die "v1 stopped serving"
sleep 5  # two more report intervals: the warning must not repeat
n=$(tail -n +"$((log_mark + 1))" "$LF_DIR/gw-1.log" | grep -c '"trust policy expired')
[ "$n" -eq 1 ] || lf_die "expected the expiry warning once since the restart, found $n"
tail -n +"$((log_mark + 1))" "$LF_DIR/gw-1.log" | grep -q '"refused v1' && lf_die "the active version v1 was refused"
ok "refused: $(grep -o 'refused v2: [^"]*' <<<"$detail" | head -n 1)"

step "a new gateway cannot enroll under the expired policy, and its token is not spent"
token=$(lf_edgectl token create --site plant-7 --ttl 10m 2>/dev/null) || lf_die "token create"
sed -e 's/"gw-1"/"gw-2"/' -e "s|$LF_DIR/gw-1|$LF_DIR/gw-2|g" "$LF_DIR/gw-1.json" >"$LF_DIR/gw-2.json"
sed -i "s|\"enrollment_token\": \"[^\"]*\"|\"enrollment_token\": \"$token\"|" "$LF_DIR/gw-2.json"
expect_fail 1 "trust policy v2 has expired" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/gw-2.json"
[ "$(lf_edgectl token list -o json | grep -c '"state": "unused"')" -ge 1 ] || lf_die "the token was spent"

step "a newer policy from the controller is adopted and the refused version installs when deployed again"
lf_edgectl trust rotate --policy "$LF_DIR/policy-v2.json" --root-key "$pki/release-root.key" \
  --out "$LF_DIR/policy-v3.json" --expires never >/dev/null 2>&1 || lf_die "rotate v3 (from an expired v2)"
hand_policy "$LF_DIR/policy-v3.json"
lf_wait_for 20 adopted 3 || lf_die "agent did not adopt v3 (handed over by $policy_path)"
if [ "$policy_path" = push ]; then
  expect_contains "Version:  v3" "$(lf_edgectl trust get 2>&1)"
fi
# The first rollout failed gw-1 (refused) and set it back to v1; a refusal is not a verdict on
# the version, so a new rollout sends it again and the agent retries it.
lf_edgectl deploy model mlp:v2 --site plant-7 --all-at-once --wait --timeout 60s >/dev/null ||
  lf_die "the second deploy of v2 did not converge (state: $(device_state gw-1))"
lf_site_on plant-7 mlp v2 || lf_die "v2 did not install under v3 (state: $(device_state gw-1))"
serving v2 || lf_die "v2 does not answer"
ok "v3 adopted (handed over by $policy_path), v2 committed and serving"

step "a different policy with the same version is refused"
openssl genpkey -algorithm ed25519 -out "$LF_DIR/release-2.key" 2>/dev/null &&
  openssl pkey -in "$LF_DIR/release-2.key" -pubout -out "$LF_DIR/release-2.pub" 2>/dev/null || lf_die "openssl keygen"
lf_edgectl trust rotate --policy "$LF_DIR/policy-v2.json" --root-key "$pki/release-root.key" \
  --out "$LF_DIR/policy-v3-twin.json" --add-key "$LF_DIR/release-2.pub=mlp" --expires never >/dev/null 2>&1 ||
  lf_die "rotate twin v3"
# Through the file: the controller refuses to take an equal version by push, and at start it
# serves its file unless a pushed policy is strictly newer.
serve_policy "$LF_DIR/policy-v3-twin.json"
conflict() { grep -q 'refusing trust policy v3: its content differs' "$LF_DIR/gw-1.log"; }
lf_wait_for 20 conflict || lf_die "agent did not refuse the second v3"
sleep 3
[ "$(grep -c 'its content differs' "$LF_DIR/gw-1.log")" -eq 1 ] || lf_die "the refusal was logged more than once"
lf_site_on plant-7 mlp v2 || lf_die "v2 is no longer committed"
ok "second v3 refused (logged once), v2 keeps serving"

step "an altered stored policy still stops the agent at start"
lf_kill_agent gw-1
# Change the first character of the root's signature: it no longer verifies.
policy=$(sqlite3 "$LF_DIR/gw-1/state.db" "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'trust_policy'")
sig=$(grep -o '"sig":"[^"]*"' <<<"$policy" | head -n 1)
first=${sig:7:1}; [ "$first" = A ] && repl=B || repl=A
tampered=${policy/"$sig"/"\"sig\":\"$repl${sig:8}"}
printf '%s' "$tampered" >"$LF_DIR/tampered.json"
sqlite3 "$LF_DIR/gw-1/state.db" "UPDATE meta SET value = CAST(readfile('$LF_DIR/tampered.json') AS BLOB) WHERE key = 'trust_policy'" ||
  lf_die "sqlite3 update"
lf_start_agent gw-1
agent_dead() { ! kill -0 "${LF_AGENT_PID[gw-1]}" 2>/dev/null; }
lf_wait_for 20 agent_dead || lf_die "agent started with a stored policy whose signature does not verify"
expect_contains "stored trust policy does not verify" "$(tail -n 3 "$LF_DIR/gw-1.log")"
ok "refused to start: $(grep -o 'stored trust policy does not verify[^"]*' "$LF_DIR/gw-1.log" | tail -n 1 | cut -c1-120)"
echo "PASS"
